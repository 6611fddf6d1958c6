//! The timeline of an execution for people: one row per operation, folded
//! from the execution's history events (PROTOCOL §12), children nested under
//! their context, with status, attempts, times and a preview of the result
//! or error.
//!
//! The model is built from wire [`Event`]s, which every source of a history
//! has: [`Execution::history`](crate::Execution::history) of the local
//! engine, and `GetDurableExecutionHistory` of any implementation of the API
//! (its JSON is the wire model's, with the REST API's epoch-second
//! timestamps turned into epoch milliseconds). [`Timeline::render`] draws it
//! as a text table; [`Timeline`] is `Serialize` for other renderers.
//!
//! ```text
//! OPERATION        TYPE               STATUS     ATTEMPTS  START   DURATION  RESULT
//! payment          RunInChildContext  SUCCEEDED            +0ms    6.7s      "paid"
//!   charge         Step               SUCCEEDED  3         +100ms  6.5s      {"charged":true}
//! ```

use std::collections::HashMap;
use std::fmt;

use durable_core::wire::{
    ErrorObject, Event, EventError, EventPayload, EventType, OperationStatus, OperationType,
    RetryDetails,
};
use serde::Serialize;
use serde_json::Value;

/// Characters of a result or error kept in a [`TimelineRow`].
pub const RESULT_PREVIEW_CHARS: usize = 200;
/// Characters of a result or error shown in the table of
/// [`Timeline::render`].
pub const PREVIEW_CHARS: usize = 40;

/// The operations of an execution, in the order of its tree: each context
/// is followed by its children, siblings in the order they started.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// When the execution started (epoch ms): its `ExecutionStarted` event,
    /// else the earliest event. `None` for an empty history.
    pub start: Option<i64>,
    /// When the execution ended (epoch ms), when the history says it did.
    pub end: Option<i64>,
    /// The time of the latest event (epoch ms): how far the history goes.
    pub as_of: Option<i64>,
    /// One row per operation (not the execution itself).
    pub operations: Vec<TimelineRow>,
}

/// One operation, folded from its events.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineRow {
    /// The operation id.
    pub id: String,
    /// The operation's name, when it has one.
    pub name: Option<String>,
    /// The id of the context the operation runs in; `None` at the root.
    pub parent_id: Option<String>,
    /// How deep the operation is nested under contexts (0 at the root). A
    /// parent that has no events of its own counts as one level.
    pub depth: usize,
    /// The operation type, from the event types (`StepStarted` → `STEP`).
    pub operation_type: OperationType,
    /// The SDK's subtype (`Step`, `Map`, `WaitForCallback`, …).
    pub sub_type: Option<String>,
    /// The status after the latest event: `STARTED`, `PENDING` (a step whose
    /// next attempt is scheduled), `SUCCEEDED`, `FAILED`, `CANCELLED`,
    /// `TIMED_OUT` or `STOPPED`.
    pub status: OperationStatus,
    /// Attempts of a step so far; `None` for other operations.
    pub attempts: Option<u32>,
    /// When the operation started (epoch ms): its first event.
    pub start: i64,
    /// When it ended (epoch ms); `None` while it is open.
    pub end: Option<i64>,
    /// Seconds until the next attempt of a `PENDING` step.
    pub retry_delay_seconds: Option<i64>,
    /// The duration of a wait, in seconds.
    pub wait_seconds: Option<i64>,
    /// The callback id of a callback.
    pub callback_id: Option<String>,
    /// The function a chained invoke calls.
    pub function_name: Option<String>,
    /// The result, as a one-line preview of at most
    /// [`RESULT_PREVIEW_CHARS`] characters; `(not included)` when the
    /// service left it out.
    pub result: Option<String>,
    /// The error as `Type: message`, previewed the same way; for a
    /// `PENDING` step, the error of the attempt that failed.
    pub error: Option<String>,
}

impl TimelineRow {
    fn new(id: &str, operation_type: OperationType, start: i64) -> Self {
        Self {
            id: id.to_owned(),
            name: None,
            parent_id: None,
            depth: 0,
            operation_type,
            sub_type: None,
            status: OperationStatus::Started,
            attempts: None,
            start,
            end: None,
            retry_delay_seconds: None,
            wait_seconds: None,
            callback_id: None,
            function_name: None,
            result: None,
            error: None,
        }
    }

    /// The name, or the id shortened for a table.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| short_id(&self.id))
    }

    /// The subtype, else the operation type as the event types spell it
    /// (`Step`, `Wait`, `Callback`, `Context`, `ChainedInvoke`).
    pub fn kind(&self) -> &str {
        if let Some(sub_type) = self.sub_type.as_deref() {
            return sub_type;
        }
        match &self.operation_type {
            OperationType::Execution => "Execution",
            OperationType::Context => "Context",
            OperationType::Step => "Step",
            OperationType::Wait => "Wait",
            OperationType::Callback => "Callback",
            OperationType::ChainedInvoke => "ChainedInvoke",
            other => other.as_str(),
        }
    }

    /// Whether the operation is still going on (`STARTED` or `PENDING`).
    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            OperationStatus::Started | OperationStatus::Pending
        )
    }

    /// What the operation came to, or what it waits for, in a few words:
    /// `retry in 2.0s: Type: message`, the error, the result, `wait 30.0s`,
    /// `callback <id>` or `invoke <function>`.
    pub fn outcome(&self) -> String {
        if let Some(delay) = self
            .retry_delay_seconds
            .filter(|_| self.status == OperationStatus::Pending)
        {
            return format!(
                "retry in {}: {}",
                format_duration(seconds(delay * 1000)),
                self.error.as_deref().unwrap_or("")
            );
        }
        if let Some(text) = self.error.as_ref().or(self.result.as_ref()) {
            return text.clone();
        }
        if let Some(wait) = self.wait_seconds {
            format!("wait {}", format_duration(seconds(wait * 1000)))
        } else if let Some(callback_id) = &self.callback_id {
            format!("callback {callback_id}")
        } else if let Some(function) = &self.function_name {
            format!("invoke {function}")
        } else {
            String::new()
        }
    }
}

/// The operation type and status an event type reports; `None` for the
/// execution's and invocations' events.
fn operation_event(event_type: &EventType) -> Option<(OperationType, OperationStatus)> {
    use EventType as E;
    use OperationStatus as S;
    use OperationType as T;
    Some(match event_type {
        E::StepStarted => (T::Step, S::Started),
        E::StepSucceeded => (T::Step, S::Succeeded),
        E::StepFailed => (T::Step, S::Failed),
        E::WaitStarted => (T::Wait, S::Started),
        E::WaitSucceeded => (T::Wait, S::Succeeded),
        E::WaitCancelled => (T::Wait, S::Cancelled),
        E::CallbackStarted => (T::Callback, S::Started),
        E::CallbackSucceeded => (T::Callback, S::Succeeded),
        E::CallbackFailed => (T::Callback, S::Failed),
        E::CallbackTimedOut => (T::Callback, S::TimedOut),
        E::ContextStarted => (T::Context, S::Started),
        E::ContextSucceeded => (T::Context, S::Succeeded),
        E::ContextFailed => (T::Context, S::Failed),
        E::ChainedInvokeStarted => (T::ChainedInvoke, S::Started),
        E::ChainedInvokeSucceeded => (T::ChainedInvoke, S::Succeeded),
        E::ChainedInvokeFailed => (T::ChainedInvoke, S::Failed),
        E::ChainedInvokeTimedOut => (T::ChainedInvoke, S::TimedOut),
        E::ChainedInvokeStopped => (T::ChainedInvoke, S::Stopped),
        // An event type of a newer service: `<Operation><Status>`.
        E::Unknown(text) => {
            const SUFFIXES: [(&str, OperationStatus); 6] = [
                ("Started", S::Started),
                ("Succeeded", S::Succeeded),
                ("Failed", S::Failed),
                ("TimedOut", S::TimedOut),
                ("Stopped", S::Stopped),
                ("Cancelled", S::Cancelled),
            ];
            let (kind, status) = SUFFIXES
                .into_iter()
                .find_map(|(suffix, status)| Some((text.strip_suffix(suffix)?, status)))?;
            if kind.is_empty() || kind.starts_with("Execution") || kind.starts_with("Invocation") {
                return None;
            }
            (T::parse(kind), status)
        }
        _ => return None,
    })
}

/// Whether the event ends the execution.
fn ends_execution(event_type: &EventType) -> bool {
    matches!(
        event_type,
        EventType::ExecutionSucceeded
            | EventType::ExecutionFailed
            | EventType::ExecutionTimedOut
            | EventType::ExecutionStopped
    )
}

fn non_empty(text: Option<&String>) -> Option<&str> {
    text.map(String::as_str).filter(|s| !s.is_empty())
}

/// The result an event carries, if any.
pub fn event_result(event: &Event) -> Option<&EventPayload> {
    event
        .step_succeeded_details
        .as_ref()
        .map(|d| &d.result)
        .or_else(|| event.context_succeeded_details.as_ref().map(|d| &d.result))
        .or_else(|| event.callback_succeeded_details.as_ref().map(|d| &d.result))
        .or_else(|| {
            event
                .chained_invoke_succeeded_details
                .as_ref()
                .map(|d| &d.result)
        })
        .or_else(|| {
            event
                .execution_succeeded_details
                .as_ref()
                .map(|d| &d.result)
        })
}

/// The error an event carries, if any.
pub fn event_error(event: &Event) -> Option<&EventError> {
    event
        .step_failed_details
        .as_ref()
        .map(|d| &d.error)
        .or_else(|| {
            [
                &event.wait_cancelled_details,
                &event.callback_failed_details,
                &event.callback_timed_out_details,
                &event.context_failed_details,
                &event.chained_invoke_failed_details,
                &event.chained_invoke_timed_out_details,
                &event.chained_invoke_stopped_details,
                &event.execution_failed_details,
                &event.execution_timed_out_details,
                &event.execution_stopped_details,
            ]
            .into_iter()
            .find_map(|details| details.as_ref().map(|d| &d.error))
        })
        .or_else(|| {
            event
                .invocation_completed_details
                .as_ref()
                .and_then(|d| d.error.as_ref())
        })
}

/// The attempt of a step event, and the delay when another follows.
pub fn event_retry(event: &Event) -> Option<&RetryDetails> {
    event
        .step_failed_details
        .as_ref()
        .and_then(|d| d.retry_details.as_ref())
        .or_else(|| {
            event
                .step_succeeded_details
                .as_ref()
                .and_then(|d| d.retry_details.as_ref())
        })
}

/// A payload of an event as text: `(not included)` when the service left it
/// out.
pub fn payload_text(payload: &EventPayload) -> Option<String> {
    match &payload.payload {
        Some(text) => Some(text.clone()),
        None => payload.truncated.then(|| "(not included)".to_owned()),
    }
}

/// An error of an event as text (see [`error_text`]): `(error not
/// included)` when the service left it out.
pub fn error_payload_text(error: &EventError) -> Option<String> {
    match &error.payload {
        Some(error) => Some(error_text(error)),
        None => error.truncated.then(|| "(error not included)".to_owned()),
    }
}

/// What an event came to, in text: its error, else its result.
pub fn event_outcome(event: &Event) -> Option<String> {
    event_error(event)
        .and_then(error_payload_text)
        .or_else(|| event_result(event).and_then(payload_text))
}

/// The seconds until the next attempt, when a step event schedules one.
fn retry_delay(event: &Event) -> Option<i64> {
    event_retry(event)
        .and_then(|r| r.next_attempt_delay_seconds)
        .map(i64::from)
        .filter(|d| *d > 0)
}

impl Timeline {
    /// Folds history events (in any order: they are sorted by `EventId`)
    /// into one row per operation.
    pub fn from_events(events: &[Event]) -> Self {
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by_key(|e| e.event_id);
        let mut timeline = Self::default();
        let mut rows: Vec<TimelineRow> = Vec::new();
        // Per row: how many of its `StepStarted` events were seen.
        let mut step_starts: Vec<u32> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut execution_started: Option<i64> = None;
        for event in sorted {
            let at = event.event_timestamp;
            timeline.start = Some(timeline.start.map_or(at, |s| s.min(at)));
            timeline.as_of = Some(timeline.as_of.map_or(at, |t| t.max(at)));
            if event.event_type == EventType::ExecutionStarted {
                execution_started.get_or_insert(at);
            }
            if ends_execution(&event.event_type) {
                timeline.end = Some(at);
            }
            let Some((operation_type, status)) = operation_event(&event.event_type) else {
                continue;
            };
            let Some(id) = non_empty(event.id.as_ref()) else {
                continue;
            };
            let position = *index.entry(id).or_insert_with(|| {
                rows.push(TimelineRow::new(id, operation_type.clone(), at));
                step_starts.push(0);
                rows.len() - 1
            });
            let (row, started) = (&mut rows[position], &mut step_starts[position]);
            if let Some(name) = non_empty(event.name.as_ref()) {
                row.name = Some(name.to_owned());
            }
            if let Some(parent) = non_empty(event.parent_id.as_ref()) {
                row.parent_id = Some(parent.to_owned());
            }
            if let Some(sub_type) = non_empty(event.sub_type.as_ref()) {
                row.sub_type = Some(sub_type.to_owned());
            }
            row.end = (status != OperationStatus::Started).then_some(at);
            row.status = status;
            if operation_type == OperationType::Step {
                if row.status == OperationStatus::Started {
                    *started += 1;
                }
                let reported = event_retry(event)
                    .and_then(|r| u32::try_from(r.current_attempt).ok())
                    .unwrap_or(0);
                let seen = reported.max(*started);
                row.attempts = Some(row.attempts.unwrap_or(0).max(seen).max(1));
            }
            fold_details(row, &operation_type, event);
        }
        timeline.start = execution_started.or(timeline.start);
        timeline.operations = tree_order(rows);
        timeline
    }

    /// The operations still waiting for a callback: `(label, callback id)`.
    pub fn open_callbacks(&self) -> Vec<(String, String)> {
        self.operations
            .iter()
            .filter(|r| r.status == OperationStatus::Started)
            .filter_map(|r| Some((r.label(), r.callback_id.clone()?)))
            .collect()
    }

    /// The timeline as a table, children indented under their context:
    /// when each operation started (relative to the execution's start), how
    /// long it took and a preview of its outcome. `now` (epoch ms) is how
    /// long operations still open are measured to, unless the execution
    /// ended: then they were open until its end.
    pub fn render(&self, now: i64) -> String {
        let until = self.end.unwrap_or(now);
        let mut table = Table::new(&[
            "OPERATION",
            "TYPE",
            "STATUS",
            "ATTEMPTS",
            "START",
            "DURATION",
            "RESULT",
        ]);
        for row in &self.operations {
            let duration = match row.end {
                Some(end) => format_duration(seconds(end - row.start)),
                None if row.is_open() => {
                    format!("{}…", format_duration(seconds(until - row.start)))
                }
                None => String::new(),
            };
            let origin = self.start.unwrap_or(row.start);
            table.push(vec![
                format!("{}{}", "  ".repeat(row.depth), row.label()),
                row.kind().to_owned(),
                row.status.to_string(),
                row.attempts.map_or_else(String::new, |a| a.to_string()),
                format!("+{}", format_duration(seconds(row.start - origin))),
                duration,
                preview(&row.outcome(), PREVIEW_CHARS),
            ]);
        }
        table.render()
    }
}

/// The table of [`Timeline::render`], with operations still open measured
/// to the latest event.
impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.as_of.unwrap_or_default()))
    }
}

/// What the event says about the operation's outcome, and what it waits for.
fn fold_details(row: &mut TimelineRow, operation_type: &OperationType, event: &Event) {
    let outcome_preview = |text: String| preview(&text, RESULT_PREVIEW_CHARS);
    match (operation_type, &row.status) {
        (OperationType::Step, OperationStatus::Started) => {
            // A new attempt: the previous one's error is history.
            row.error = None;
            row.result = None;
            row.retry_delay_seconds = None;
        }
        (OperationType::Step, OperationStatus::Failed) => {
            row.error = event_error(event)
                .and_then(error_payload_text)
                .map(outcome_preview);
            row.result = None;
            row.retry_delay_seconds = retry_delay(event);
            if row.retry_delay_seconds.is_some() {
                row.status = OperationStatus::Pending;
                row.end = None;
            }
        }
        (_, OperationStatus::Started) => {
            if let Some(details) = &event.wait_started_details {
                row.wait_seconds = Some(details.duration);
            }
            if let Some(details) = &event.callback_started_details {
                row.callback_id = non_empty(Some(&details.callback_id)).map(str::to_owned);
            }
            if let Some(details) = &event.chained_invoke_started_details {
                row.function_name = non_empty(Some(&details.function_name)).map(str::to_owned);
            }
        }
        _ => {
            if let Some(details) = &event.wait_succeeded_details {
                row.wait_seconds.get_or_insert(details.duration);
            }
            if let Some(error) = event_error(event).and_then(error_payload_text) {
                row.error = Some(outcome_preview(error));
            } else if let Some(result) = event_result(event).and_then(payload_text) {
                row.result = Some(outcome_preview(result));
                row.error = None;
            }
        }
    }
    if row.status != OperationStatus::Pending {
        row.retry_delay_seconds = None;
    }
}

/// The rows in tree order (a context, then its children, siblings in the
/// order they started), with their depth. Rows caught in a cycle of parent
/// ids come last, in the order they started.
fn tree_order(mut rows: Vec<TimelineRow>) -> Vec<TimelineRow> {
    let index: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| (row.id.as_str(), i))
        .collect();
    let mut roots: Vec<usize> = Vec::new();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for (i, row) in rows.iter().enumerate() {
        match row.parent_id.as_deref().and_then(|p| index.get(p)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let depths: Vec<usize> = rows
        .iter()
        .map(|row| {
            let mut depth = 0;
            let mut parent = row.parent_id.as_deref();
            while let Some(id) = parent {
                depth += 1;
                // A cycle of parent ids must not loop forever.
                if depth > rows.len() {
                    break;
                }
                parent = index.get(id).and_then(|&p| rows[p].parent_id.as_deref());
            }
            depth
        })
        .collect();
    let mut order: Vec<usize> = Vec::with_capacity(rows.len());
    let mut seen = vec![false; rows.len()];
    let mut stack: Vec<usize> = roots.into_iter().rev().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push(i);
        stack.extend(children[i].iter().rev());
    }
    order.extend((0..rows.len()).filter(|&i| !seen[i]));
    for (row, depth) in rows.iter_mut().zip(depths) {
        row.depth = depth;
    }
    let mut slots: Vec<Option<TimelineRow>> = rows.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

// ---------------------------------------------------------------- text

/// Epoch milliseconds (or a difference of them) as seconds.
fn seconds(ms: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = ms as f64;
    ms / 1000.0
}

/// An operation id, shortened for a table: ids longer than 14 characters
/// keep their first 12 and end with `…`.
pub fn short_id(id: &str) -> String {
    if id.chars().count() > 14 {
        let head: String = id.chars().take(12).collect();
        format!("{head}…")
    } else {
        id.to_owned()
    }
}

/// An error as one phrase: `Type: message`, the type or the message alone,
/// else its data, else `error`.
pub fn error_text(error: &ErrorObject) -> String {
    let field = |value: &Option<String>| value.clone().filter(|s| !s.is_empty());
    match (field(&error.error_type), field(&error.error_message)) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (Some(kind), None) => kind,
        (None, Some(message)) => message,
        (None, None) => field(&error.error_data).unwrap_or_else(|| "error".to_owned()),
    }
}

/// One line of at most `max` characters: control characters become
/// spaces, JSON objects and arrays are shown compactly, a cut is marked
/// with `…`.
pub fn preview(text: &str, max: usize) -> String {
    let compact = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
        .map(|_| minify_json(text));
    let text = compact.as_deref().unwrap_or(text);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// Valid JSON text without the whitespace between its tokens, keys in
/// their order.
fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A duration in seconds, for people: `850ms`, `2.3s`, `4m05s`, `1h02m`,
/// `3d04h`. Negative durations are `0ms`.
pub fn format_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 1.0 {
        #[allow(clippy::cast_possible_truncation)]
        let millis = (seconds * 1000.0).round() as i64;
        return format!("{millis}ms");
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    #[allow(clippy::cast_possible_truncation)]
    let whole = seconds.round() as i64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else if whole < 86_400 {
        format!("{}h{:02}m", whole / 3600, whole / 60 % 60)
    } else {
        format!("{}d{:02}h", whole / 86_400, whole / 3600 % 24)
    }
}

/// A plain-text table: a header row, columns padded to their widest cell
/// (in characters), the last column left unpadded, trailing spaces trimmed.
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and no rows.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table, one line per row, each ending with `\n`.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                line.push_str(cell);
                if i + 1 < columns {
                    let pad = width.saturating_sub(cell.chars().count()) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests;
