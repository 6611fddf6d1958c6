//! A step timeline for people: one row per operation, children indented under
//! their context, with status, attempts, duration and a payload preview.

use std::fmt::Write as _;

use durable_core::wire::OperationType;

use crate::runner::{Execution, OperationView};

const PREVIEW_CHARS: usize = 40;

fn preview(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > PREVIEW_CHARS {
        let cut: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

fn duration(op: &OperationView<'_>) -> String {
    match (op.start_timestamp(), op.end_timestamp()) {
        (Some(start), Some(end)) if end >= start => {
            let ms = end - start;
            if ms >= 1000 {
                #[allow(clippy::cast_precision_loss)]
                let secs = ms as f64 / 1000.0;
                format!("{secs:.1}s")
            } else {
                format!("{ms}ms")
            }
        }
        (Some(_), None) => "…".to_owned(),
        _ => String::new(),
    }
}

fn outcome(op: &OperationView<'_>) -> String {
    if let Some(error) = op.error() {
        return preview(&error.to_string());
    }
    op.result_payload().map(preview).unwrap_or_default()
}

impl Execution {
    /// The operations as a table, children indented under their context.
    ///
    /// ```text
    /// OPERATION              KIND   STATUS     ATTEMPTS  DURATION  RESULT
    /// validate_order         Step   SUCCEEDED  1         0ms       {"order_id":"o-1"}
    /// ```
    pub fn timeline(&self) -> String {
        let mut rows: Vec<[String; 6]> = Vec::new();
        self.collect_rows(None, 0, &mut rows);
        let header = [
            "OPERATION",
            "KIND",
            "STATUS",
            "ATTEMPTS",
            "DURATION",
            "RESULT",
        ]
        .map(str::to_owned);
        let mut widths = header.clone().map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = width - cell.chars().count();
                    let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn collect_rows(&self, parent: Option<&str>, depth: usize, rows: &mut Vec<[String; 6]>) {
        for op in self.children(parent) {
            let label = op.name().map_or_else(
                || format!("({})", op.id().chars().take(8).collect::<String>()),
                str::to_owned,
            );
            let attempts = if *op.operation_type() == OperationType::Step {
                op.attempts().to_string()
            } else {
                String::new()
            };
            rows.push([
                format!("{}{label}", "  ".repeat(depth)),
                op.sub_type()
                    .unwrap_or_else(|| op.operation_type().as_str())
                    .to_owned(),
                op.status().to_string(),
                attempts,
                duration(&op),
                outcome(&op),
            ]);
            if *op.operation_type() == OperationType::Context {
                self.collect_rows(Some(op.id()), depth + 1, rows);
            }
        }
    }
}
