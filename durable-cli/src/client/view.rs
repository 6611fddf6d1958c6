//! What a person sees: tables, the execution summary and the step timeline,
//! all built from the API's own JSON (`GetDurableExecution`,
//! `GetDurableExecutionHistory`, `ListDurableExecutionsByFunction`), so the
//! same code reads any implementation of the API.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Characters of a payload shown in the timeline and list tables.
pub const PREVIEW_CHARS: usize = 40;
/// Characters of a payload shown in the history table.
const HISTORY_PREVIEW_CHARS: usize = 60;
/// Characters of a result, error or input shown in the execution summary.
const SUMMARY_CHARS: usize = 300;

// ---------------------------------------------------------------- tables

/// A plain-text table: a header row, columns padded to their widest cell,
/// the last column left unpadded.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

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

// ---------------------------------------------------------------- text

/// One line of at most `max` characters: control characters become
/// spaces, JSON is shown compactly, a cut is marked with `…`.
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

/// An `ErrorObject` (`{ErrorType?, ErrorMessage?, ErrorData?, StackTrace?}`)
/// as `Type: message`.
pub fn error_text(error: &Value) -> String {
    let field = |name: &str| {
        error
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (field("ErrorType"), field("ErrorMessage")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (Some(kind), None) => kind.to_owned(),
        (None, Some(message)) => message.to_owned(),
        (None, None) => field("ErrorData").map_or_else(|| "error".to_owned(), str::to_owned),
    }
}

/// An operation id, shortened for a table.
fn short_id(id: &str) -> String {
    if id.chars().count() > 14 {
        let head: String = id.chars().take(12).collect();
        format!("{head}…")
    } else {
        id.to_owned()
    }
}

fn str_field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------- time

/// A timestamp of the API as epoch seconds. The REST API sends epoch
/// seconds as a number; epoch milliseconds (numbers past year 5000 as
/// seconds) and RFC 3339 strings are accepted too.
pub fn timestamp(value: Option<&Value>) -> Option<f64> {
    let seconds = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => return parse_rfc3339(s.trim()),
        },
        _ => return None,
    };
    Some(if seconds.abs() > 1e11 {
        seconds / 1000.0
    } else {
        seconds
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let number =
        |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse::<i64>().ok() };
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut rest = text.get(19..)?;
    let mut fraction = 0.0;
    if let Some(digits) = rest.strip_prefix('.') {
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        fraction = format!("0.{}", &digits[..end]).parse::<f64>().ok()?;
        rest = &digits[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hours = rest.get(1..3)?.parse::<i64>().ok()?;
            let minutes = rest.get(4..6)?.parse::<i64>().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    #[allow(clippy::cast_precision_loss)]
    let seconds = seconds as f64;
    Some(seconds + fraction)
}

/// `2026-11-28 12:10:19.686 UTC`.
pub fn format_utc(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let millis = (seconds * 1000.0).round() as i64;
    let (days, rem) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (rem / 3_600_000, rem / 60_000 % 60);
    let (second, milli) = (rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{milli:03} UTC")
}

/// `850ms`, `2.3s`, `4m05s`, `1h02m`, `3d04h`.
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

/// A time relative to the start of the execution: `+0ms`, `+2.1s`.
fn format_offset(at: Option<f64>, origin: Option<f64>) -> String {
    match (at, origin) {
        (Some(at), Some(origin)) => format!("+{}", format_duration(at - origin)),
        (Some(at), None) => format_utc(at),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------- events

/// What an event type says about its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Execution,
    Invocation,
    /// `Step`, `Wait`, `Callback`, `Context`, `ChainedInvoke`.
    Operation,
}

const SUFFIXES: [(&str, &str); 6] = [
    ("Started", "STARTED"),
    ("Succeeded", "SUCCEEDED"),
    ("Failed", "FAILED"),
    ("TimedOut", "TIMED_OUT"),
    ("Stopped", "STOPPED"),
    ("Cancelled", "CANCELLED"),
];

/// `StepFailed` → (`Step`, `FAILED`).
fn split_event_type(event_type: &str) -> (&str, &'static str) {
    for (suffix, status) in SUFFIXES {
        if let Some(kind) = event_type.strip_suffix(suffix) {
            return (kind, status);
        }
    }
    (event_type, "")
}

fn family(kind: &str) -> Family {
    match kind {
        "Execution" => Family::Execution,
        "Invocation" | "InvocationCompleted" => Family::Invocation,
        _ => Family::Operation,
    }
}

/// The event's `<EventType>Details` object.
fn details<'a>(event: &'a Value, event_type: &str) -> Option<&'a Value> {
    event.get(format!("{event_type}Details"))
}

fn event_type(event: &Value) -> &str {
    str_field(event, "EventType").unwrap_or("")
}

/// `{Payload?, Truncated}` of a result or input, as text.
fn payload_text(holder: Option<&Value>) -> Option<String> {
    let holder = holder?;
    match holder.get("Payload") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => holder
            .get("Truncated")
            .and_then(Value::as_bool)
            .filter(|t| *t)
            .map(|_| "(not included)".to_owned()),
        Some(other) => Some(other.to_string()),
    }
}

/// `{Payload?: ErrorObject, Truncated}` as text.
fn error_payload_text(holder: Option<&Value>) -> Option<String> {
    let holder = holder?;
    match holder.get("Payload") {
        Some(error @ Value::Object(_)) => Some(error_text(error)),
        Some(Value::String(s)) => Some(s.clone()),
        _ => holder
            .get("Truncated")
            .and_then(Value::as_bool)
            .filter(|t| *t)
            .map(|_| "(error not included)".to_owned()),
    }
}

/// The outcome an event carries: its result, or its error.
fn event_outcome(details: Option<&Value>) -> Option<String> {
    let details = details?;
    error_payload_text(details.get("Error")).or_else(|| payload_text(details.get("Result")))
}

/// `RetryDetails.NextAttemptDelaySeconds` when a retry is scheduled.
fn retry_delay(details: Option<&Value>) -> Option<f64> {
    details?
        .get("RetryDetails")?
        .get("NextAttemptDelaySeconds")?
        .as_f64()
        .filter(|d| *d > 0.0)
}

fn current_attempt(details: Option<&Value>) -> Option<u64> {
    details?
        .get("RetryDetails")?
        .get("CurrentAttempt")?
        .as_u64()
}

// ---------------------------------------------------------------- timeline

/// One operation of an execution, folded from its history events.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRow {
    pub id: String,
    pub name: Option<String>,
    pub parent_id: Option<String>,
    /// The event type's operation (`Step`, `Wait`, …), or its `SubType`
    /// when it has one (`Map`, `WaitForCallback`, …).
    pub kind: String,
    /// `STARTED`, `PENDING` (a retry is scheduled), `SUCCEEDED`, `FAILED`,
    /// `TIMED_OUT`, `STOPPED` or `CANCELLED`.
    pub status: String,
    /// Attempts of a step; `None` for other operations.
    pub attempts: Option<u64>,
    pub start: Option<f64>,
    /// The time of the event that closed the operation.
    pub end: Option<f64>,
    /// The result or error, or what the operation waits for.
    pub outcome: String,
    /// The callback id of a callback operation.
    pub callback_id: Option<String>,
    /// Nesting depth under context operations.
    pub depth: usize,
}

impl OperationRow {
    /// The label in the timeline: the name, or a shortened id.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| short_id(&self.id))
    }

    fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "STARTED" | "PENDING")
    }
}

/// Folds history events (any order; sorted by `EventId`) into one row per
/// operation, in the order the operations started.
pub fn timeline(events: &[Value]) -> Vec<OperationRow> {
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| e.get("EventId").and_then(Value::as_u64).unwrap_or(u64::MAX));
    let mut rows: Vec<OperationRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut starts: HashMap<String, u64> = HashMap::new();
    for event in sorted {
        let event_type = event_type(event);
        let (kind, status) = split_event_type(event_type);
        if family(kind) != Family::Operation || status.is_empty() {
            continue;
        }
        let Some(id) = str_field(event, "Id") else {
            continue;
        };
        let at = timestamp(event.get("EventTimestamp"));
        let details = details(event, event_type);
        let position = *index.entry(id.to_owned()).or_insert_with(|| {
            rows.push(OperationRow {
                id: id.to_owned(),
                name: None,
                parent_id: None,
                kind: kind.to_owned(),
                status: String::new(),
                attempts: None,
                start: at,
                end: None,
                outcome: String::new(),
                callback_id: None,
                depth: 0,
            });
            rows.len() - 1
        });
        let row = &mut rows[position];
        if let Some(name) = str_field(event, "Name") {
            row.name = Some(name.to_owned());
        }
        if let Some(parent) = str_field(event, "ParentId") {
            row.parent_id = Some(parent.to_owned());
        }
        if let Some(sub_type) = str_field(event, "SubType") {
            row.kind = sub_type.to_owned();
        }
        if row.start.is_none() {
            row.start = at;
        }
        row.status = status.to_owned();
        row.end = if status == "STARTED" { None } else { at };
        if kind == "Step" {
            let started = starts.entry(id.to_owned()).or_insert(0);
            if status == "STARTED" {
                *started += 1;
            }
            let seen = current_attempt(details).unwrap_or(0).max(*started);
            row.attempts = Some(row.attempts.unwrap_or(0).max(seen).max(1));
        }
        match (kind, status) {
            ("Step", "FAILED") => {
                let error = event_outcome(details).unwrap_or_default();
                if let Some(delay) = retry_delay(details) {
                    row.status = "PENDING".to_owned();
                    row.end = None;
                    row.outcome = format!("retry in {}: {error}", format_duration(delay));
                } else {
                    row.outcome = error;
                }
            }
            ("Step", "STARTED") => {
                // A new attempt: the previous one's error is history.
                row.outcome.clear();
            }
            ("Wait", "STARTED") => {
                let duration = details
                    .and_then(|d| d.get("Duration"))
                    .and_then(Value::as_f64);
                row.outcome =
                    duration.map_or_else(String::new, |d| format!("wait {}", format_duration(d)));
            }
            ("Callback", "STARTED") => {
                let callback_id = details.and_then(|d| str_field(d, "CallbackId"));
                row.callback_id = callback_id.map(str::to_owned);
                row.outcome = callback_id.map_or_else(String::new, |c| format!("callback {c}"));
            }
            ("ChainedInvoke", "STARTED") => {
                row.outcome = details
                    .and_then(|d| str_field(d, "FunctionName"))
                    .map_or_else(String::new, |f| format!("invoke {f}"));
            }
            (_, "STARTED") => {}
            ("Wait", "SUCCEEDED") => {}
            _ => {
                if let Some(outcome) = event_outcome(details) {
                    row.outcome = outcome;
                }
            }
        }
    }
    let parents: HashMap<String, Option<String>> = rows
        .iter()
        .map(|r| (r.id.clone(), r.parent_id.clone()))
        .collect();
    for row in &mut rows {
        let mut depth = 0;
        let mut parent = row.parent_id.clone();
        while let Some(p) = parent {
            depth += 1;
            // A cycle of parent ids must not loop forever.
            if depth > parents.len() {
                break;
            }
            parent = parents.get(&p).cloned().flatten();
        }
        row.depth = depth;
    }
    rows
}

/// The timeline table. `origin` is the execution's start; `now` the
/// current time, for operations still going on.
pub fn render_timeline(rows: &[OperationRow], origin: Option<f64>, now: f64) -> String {
    let mut table = Table::new(&[
        "OPERATION",
        "TYPE",
        "STATUS",
        "ATTEMPTS",
        "START",
        "DURATION",
        "RESULT",
    ]);
    for row in rows {
        let duration = match (row.start, row.end) {
            (Some(start), Some(end)) => format_duration(end - start),
            (Some(start), None) if row.is_open() => {
                format!("{}…", format_duration(now - start))
            }
            _ => String::new(),
        };
        table.push(vec![
            format!("{}{}", "  ".repeat(row.depth), row.label()),
            row.kind.clone(),
            row.status.clone(),
            row.attempts.map_or_else(String::new, |a| a.to_string()),
            format_offset(row.start, origin.or(row.start)),
            duration,
            preview(&row.outcome, PREVIEW_CHARS),
        ]);
    }
    table.render()
}

/// Callbacks still waiting for `durable callback succeed|fail`.
pub fn open_callbacks(rows: &[OperationRow]) -> Vec<(String, String)> {
    rows.iter()
        .filter(|r| r.status == "STARTED")
        .filter_map(|r| Some((r.label(), r.callback_id.clone()?)))
        .collect()
}

// ---------------------------------------------------------------- history

/// What an event says, in a few words.
fn event_summary(event: &Value) -> String {
    let event_type = event_type(event);
    let details = details(event, event_type);
    let text = |s: Option<String>| s.map(|s| preview(&s, HISTORY_PREVIEW_CHARS));
    let retry = || {
        let mut parts = Vec::new();
        if let Some(attempt) = current_attempt(details) {
            parts.push(format!("attempt {attempt}"));
        }
        if let Some(delay) = retry_delay(details) {
            parts.push(format!("retry in {}", format_duration(delay)));
        }
        parts
    };
    let mut parts: Vec<String> = Vec::new();
    match event_type {
        "ExecutionStarted" => {
            if let Some(input) = text(payload_text(details.and_then(|d| d.get("Input")))) {
                parts.push(format!("input {input}"));
            }
            if let Some(timeout) = details
                .and_then(|d| d.get("ExecutionTimeout"))
                .and_then(Value::as_f64)
            {
                parts.push(format!("timeout {}", format_duration(timeout)));
            }
        }
        "InvocationCompleted" => {
            let start = timestamp(details.and_then(|d| d.get("StartTimestamp")));
            let end = timestamp(details.and_then(|d| d.get("EndTimestamp")));
            if let (Some(start), Some(end)) = (start, end) {
                parts.push(format!("took {}", format_duration(end - start)));
            }
            if let Some(request) = details.and_then(|d| str_field(d, "RequestId")) {
                parts.push(format!("request {request}"));
            }
            if let Some(error) = text(error_payload_text(details.and_then(|d| d.get("Error")))) {
                parts.push(error);
            }
        }
        "WaitStarted" | "WaitSucceeded" => {
            if let Some(duration) = details
                .and_then(|d| d.get("Duration"))
                .and_then(Value::as_f64)
            {
                parts.push(format_duration(duration));
            }
            if let Some(end) = timestamp(details.and_then(|d| d.get("ScheduledEndTimestamp"))) {
                parts.push(format!("until {}", format_utc(end)));
            }
        }
        "CallbackStarted" => {
            if let Some(id) = details.and_then(|d| str_field(d, "CallbackId")) {
                parts.push(format!("callback {id}"));
            }
            for (field, label) in [("Timeout", "timeout"), ("HeartbeatTimeout", "heartbeat")] {
                if let Some(seconds) = details
                    .and_then(|d| d.get(field))
                    .and_then(Value::as_f64)
                    .filter(|s| *s > 0.0)
                {
                    parts.push(format!("{label} {}", format_duration(seconds)));
                }
            }
        }
        "ChainedInvokeStarted" => {
            if let Some(function) = details.and_then(|d| str_field(d, "FunctionName")) {
                parts.push(format!("function {function}"));
            }
            if let Some(input) = text(payload_text(details.and_then(|d| d.get("Input")))) {
                parts.push(format!("input {input}"));
            }
        }
        _ => {
            parts.extend(retry());
            if let Some(outcome) = text(event_outcome(details)) {
                parts.push(outcome);
            }
        }
    }
    parts.join(", ")
}

/// The history as a table, one row per event.
pub fn render_history(events: &[Value]) -> String {
    let origin = events
        .iter()
        .filter_map(|e| timestamp(e.get("EventTimestamp")))
        .reduce(f64::min);
    let mut table = Table::new(&["#", "TIME", "EVENT", "OPERATION", "DETAILS"]);
    for event in events {
        let operation = str_field(event, "Name")
            .map(str::to_owned)
            .or_else(|| str_field(event, "Id").map(short_id))
            .unwrap_or_default();
        table.push(vec![
            event
                .get("EventId")
                .map(|id| {
                    id.as_u64()
                        .map_or_else(|| id.to_string(), |n| n.to_string())
                })
                .unwrap_or_default(),
            format_offset(timestamp(event.get("EventTimestamp")), origin),
            event_type(event).to_owned(),
            operation,
            event_summary(event),
        ]);
    }
    let mut out = String::new();
    if let Some(origin) = origin {
        let _ = writeln!(out, "Times are relative to {}.", format_utc(origin));
    }
    out.push_str(&table.render());
    out
}

// ---------------------------------------------------------------- executions

/// How long an execution ran, or has been running.
fn execution_duration(execution: &Value, now: f64) -> String {
    let start = timestamp(execution.get("StartTimestamp"));
    let end = timestamp(execution.get("EndTimestamp"));
    match (start, end) {
        (Some(start), Some(end)) => format_duration(end - start),
        (Some(start), None) => format!("{}…", format_duration(now - start)),
        _ => String::new(),
    }
}

/// `ListDurableExecutionsByFunction`'s executions as a table.
pub fn render_list(executions: &[Value], now: f64) -> String {
    let mut table = Table::new(&["NAME", "STATUS", "STARTED", "DURATION", "ARN"]);
    for execution in executions {
        table.push(vec![
            str_field(execution, "DurableExecutionName")
                .unwrap_or("")
                .to_owned(),
            str_field(execution, "Status").unwrap_or("").to_owned(),
            timestamp(execution.get("StartTimestamp")).map_or_else(String::new, format_utc),
            execution_duration(execution, now),
            str_field(execution, "DurableExecutionArn")
                .unwrap_or("")
                .to_owned(),
        ]);
    }
    table.render()
}

/// `GetDurableExecution` for a person: the summary lines.
pub fn render_execution(execution: &Value, now: f64) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    let mut field = |label: &'static str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            lines.push((label, value));
        }
    };
    field(
        "Execution",
        str_field(execution, "DurableExecutionName").map(str::to_owned),
    );
    field(
        "ARN",
        str_field(execution, "DurableExecutionArn").map(str::to_owned),
    );
    field(
        "Function",
        str_field(execution, "FunctionArn").map(str::to_owned),
    );
    field(
        "Version",
        str_field(execution, "Version").map(str::to_owned),
    );
    field("Status", str_field(execution, "Status").map(str::to_owned));
    field(
        "Started",
        timestamp(execution.get("StartTimestamp")).map(format_utc),
    );
    field(
        "Ended",
        timestamp(execution.get("EndTimestamp")).map(format_utc),
    );
    field("Duration", Some(execution_duration(execution, now)));
    field(
        "Input",
        str_field(execution, "InputPayload").map(|p| preview(p, SUMMARY_CHARS)),
    );
    field(
        "Result",
        str_field(execution, "Result").map(|p| preview(p, SUMMARY_CHARS)),
    );
    field(
        "Error",
        execution
            .get("Error")
            .filter(|e| e.is_object())
            .map(|e| preview(&error_text(e), SUMMARY_CHARS)),
    );
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in lines {
        let _ = writeln!(out, "{label:<width$}  {value}");
    }
    out
}

/// The summary, the timeline and the callbacks waiting to be completed.
pub fn render_execution_with_timeline(execution: &Value, events: &[Value], now: f64) -> String {
    let mut out = render_execution(execution, now);
    let rows = timeline(events);
    out.push('\n');
    if rows.is_empty() {
        out.push_str("No operations yet.\n");
    } else {
        // Operations left open by an execution that ended were open until
        // its end, not until now.
        let until = timestamp(execution.get("EndTimestamp")).unwrap_or(now);
        out.push_str(&render_timeline(
            &rows,
            timestamp(execution.get("StartTimestamp")),
            until,
        ));
    }
    let running = str_field(execution, "Status") == Some("RUNNING");
    let callbacks = open_callbacks(&rows);
    if running && !callbacks.is_empty() {
        out.push_str("\nWaiting for callbacks:\n");
        for (label, id) in callbacks {
            let _ = writeln!(
                out,
                "  {label}: durable callback succeed {id} '<result json>'"
            );
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The Python SDK demo workflow on dex-local-runner (step, 2 s wait,
    /// callback), as that server answered, with the callback completed.
    fn demo_history() -> Vec<Value> {
        let history = json!({"Events":[
            {"EventType":"ExecutionStarted","EventTimestamp":1795841419.68693,"EventId":1,"Id":"23f9","Name":"demo-2",
             "ExecutionStartedDetails":{"Input":{"Truncated":false,"Payload":"{\"x\": 21}"},"ExecutionTimeout":300}},
            {"EventType":"StepStarted","EventTimestamp":1795841420.006219,"EventId":2,"SubType":"Step","Id":"1ced8f5be2db23a6513e","Name":"double","StepStartedDetails":{}},
            {"EventType":"StepSucceeded","EventTimestamp":1795841420.006219,"EventId":3,"SubType":"Step","Id":"1ced8f5be2db23a6513e","Name":"double",
             "StepSucceededDetails":{"Result":{"Truncated":false,"Payload":"42"}}},
            {"EventType":"WaitStarted","EventTimestamp":1795841420.046315,"EventId":4,"SubType":"Wait","Id":"c5fa","Name":"short-wait",
             "WaitStartedDetails":{"Duration":2,"ScheduledEndTimestamp":1795841422.046315}},
            {"EventType":"InvocationCompleted","EventTimestamp":1795841420.161597,"EventId":5},
            {"EventType":"WaitSucceeded","EventTimestamp":1795841422.049487,"EventId":6,"SubType":"Wait","Id":"c5fa","Name":"short-wait",
             "WaitSucceededDetails":{"Duration":2}},
            {"EventType":"CallbackStarted","EventTimestamp":1795841422.07111,"EventId":7,"SubType":"Callback","Id":"6f76","Name":"approval",
             "CallbackStartedDetails":{"CallbackId":"eyJhcm4iOiJl"}},
            {"EventType":"InvocationCompleted","EventTimestamp":1795841422.183997,"EventId":8}
        ]});
        history["Events"].as_array().unwrap().clone()
    }

    /// A step that failed twice with retries and then succeeded, inside a
    /// child context (CT step/1-12 shapes, epoch seconds).
    fn retry_history() -> Vec<Value> {
        let error =
            json!({"Payload":{"ErrorType":"Flaky","ErrorMessage":"try again"},"Truncated":false});
        vec![
            json!({"EventType":"ExecutionStarted","EventTimestamp":100.0,"EventId":1,"Id":"exec"}),
            json!({"EventType":"ContextStarted","EventTimestamp":100.0,"EventId":2,"Id":"ctx","Name":"payment","SubType":"RunInChildContext","ContextStartedDetails":{}}),
            json!({"EventType":"StepStarted","EventTimestamp":100.1,"EventId":3,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step","StepStartedDetails":{}}),
            json!({"EventType":"StepFailed","EventTimestamp":100.2,"EventId":4,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step",
                   "StepFailedDetails":{"Error":error,"RetryDetails":{"CurrentAttempt":1,"NextAttemptDelaySeconds":2}}}),
            json!({"EventType":"InvocationCompleted","EventTimestamp":100.3,"EventId":5}),
            json!({"EventType":"StepStarted","EventTimestamp":102.3,"EventId":6,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step","StepStartedDetails":{}}),
            json!({"EventType":"StepFailed","EventTimestamp":102.4,"EventId":7,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step",
                   "StepFailedDetails":{"Error":error,"RetryDetails":{"CurrentAttempt":2,"NextAttemptDelaySeconds":4}}}),
            json!({"EventType":"StepStarted","EventTimestamp":106.5,"EventId":8,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step","StepStartedDetails":{}}),
            json!({"EventType":"StepSucceeded","EventTimestamp":106.6,"EventId":9,"Id":"s1","ParentId":"ctx","Name":"charge","SubType":"Step",
                   "StepSucceededDetails":{"Result":{"Payload":"{\"charged\": true, \"amount\": 1250, \"currency\": \"EUR\", \"card\": \"visa\"}","Truncated":false},
                                           "RetryDetails":{"CurrentAttempt":3}}}),
            json!({"EventType":"ContextSucceeded","EventTimestamp":106.7,"EventId":10,"Id":"ctx","Name":"payment","SubType":"RunInChildContext",
                   "ContextSucceededDetails":{"Result":{"Payload":"\"paid\"","Truncated":false}}}),
            json!({"EventType":"ExecutionSucceeded","EventTimestamp":106.8,"EventId":11,"Id":"exec",
                   "ExecutionSucceededDetails":{"Result":{"Payload":"\"paid\"","Truncated":false}}}),
        ]
    }

    #[test]
    fn timeline_of_the_demo_workflow() {
        let rows = timeline(&demo_history());
        let summary: Vec<(String, &str, &str, Option<u64>, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.label(),
                    r.kind.as_str(),
                    r.status.as_str(),
                    r.attempts,
                    r.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("double".to_owned(), "Step", "SUCCEEDED", Some(1), "42"),
                (
                    "short-wait".to_owned(),
                    "Wait",
                    "SUCCEEDED",
                    None,
                    "wait 2.0s"
                ),
                (
                    "approval".to_owned(),
                    "Callback",
                    "STARTED",
                    None,
                    "callback eyJhcm4iOiJl"
                ),
            ]
        );
        let wait = &rows[1];
        assert!((wait.end.unwrap() - wait.start.unwrap() - 2.003).abs() < 0.001);
        assert_eq!(
            open_callbacks(&rows),
            vec![("approval".to_owned(), "eyJhcm4iOiJl".to_owned())]
        );
    }

    #[test]
    fn timeline_counts_retries_and_nests_children() {
        let rows = timeline(&retry_history());
        assert_eq!(rows.len(), 2);
        let (context, step) = (&rows[0], &rows[1]);
        assert_eq!((context.depth, step.depth), (0, 1));
        assert_eq!(context.kind, "RunInChildContext");
        assert_eq!(step.status, "SUCCEEDED");
        assert_eq!(step.attempts, Some(3));
        assert!((step.end.unwrap() - step.start.unwrap() - 6.5).abs() < 1e-9);
        let text = render_timeline(&rows, Some(100.0), 200.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "OPERATION  TYPE               STATUS     ATTEMPTS  START   DURATION  RESULT",
                "payment    RunInChildContext  SUCCEEDED            +0ms    6.7s      \"paid\"",
                "  charge   Step               SUCCEEDED  3         +100ms  6.5s      {\"charged\":true,\"amount\":1250,\"currency…",
            ]
        );
    }

    #[test]
    fn a_step_waiting_for_its_retry_is_pending() {
        let events: Vec<Value> = retry_history().into_iter().take(5).collect();
        let rows = timeline(&events);
        let step = &rows[1];
        assert_eq!(step.status, "PENDING");
        assert_eq!(step.attempts, Some(1));
        assert_eq!(step.end, None);
        assert_eq!(step.outcome, "retry in 2.0s: Flaky: try again");
        let text = render_timeline(&rows, Some(100.0), 101.1);
        assert!(
            text.contains("  charge   Step               PENDING  1         +100ms  1.0s…     retry in 2.0s: Flaky: try again"),
            "{text}"
        );
    }

    #[test]
    fn a_final_failure_is_failed_with_attempts_from_retry_details() {
        // dex-local-runner sends NextAttemptDelaySeconds 0 on the last failure.
        let events = vec![
            json!({"EventType":"StepStarted","EventTimestamp":1.0,"EventId":2,"Id":"s","StepStartedDetails":{}}),
            json!({"EventType":"StepFailed","EventTimestamp":1.5,"EventId":3,"Id":"s",
                   "StepFailedDetails":{"Error":{"Payload":{"ErrorMessage":"boom"}},"RetryDetails":{"CurrentAttempt":4,"NextAttemptDelaySeconds":0}}}),
        ];
        let rows = timeline(&events);
        assert_eq!(rows[0].status, "FAILED");
        assert_eq!(rows[0].attempts, Some(4));
        assert_eq!(rows[0].outcome, "boom");
        assert_eq!(rows[0].label(), "s");
        assert_eq!(rows[0].kind, "Step");
    }

    #[test]
    fn events_out_of_order_are_sorted_by_event_id() {
        let mut events = demo_history();
        events.reverse();
        assert_eq!(timeline(&events), timeline(&demo_history()));
    }

    #[test]
    fn history_table() {
        let text = render_history(&demo_history());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Times are relative to 2026-11-28 04:50:19.687 UTC."
        );
        assert_eq!(
            lines[1],
            "#  TIME    EVENT                OPERATION   DETAILS"
        );
        assert_eq!(
            lines[2],
            "1  +0ms    ExecutionStarted     demo-2      input {\"x\":21}, timeout 5m00s"
        );
        assert_eq!(lines[4], "3  +319ms  StepSucceeded        double      42");
        assert_eq!(
            lines[5],
            "4  +359ms  WaitStarted          short-wait  2.0s, until 2026-11-28 04:50:22.046 UTC"
        );
        assert_eq!(lines[6], "5  +475ms  InvocationCompleted");
        assert_eq!(
            lines[8],
            "7  +2.4s   CallbackStarted      approval    callback eyJhcm4iOiJl"
        );
        let retry = render_history(&retry_history());
        assert!(
            retry.contains(
                "StepFailed           charge     attempt 2, retry in 4.0s, Flaky: try again"
            ),
            "{retry}"
        );
    }

    #[test]
    fn execution_summary_and_timeline() {
        let execution = json!({
            "DurableExecutionArn":"arn:1","DurableExecutionName":"demo-2",
            "FunctionArn":"arn:aws:lambda:us-west-2:123456789012:function:Demo:$LATEST",
            "Status":"RUNNING","StartTimestamp":1795841419.68693,"InputPayload":"{\"x\": 21}","Version":"$LATEST"
        });
        let text = render_execution_with_timeline(&execution, &demo_history(), 1795841430.0);
        let expected = "\
Execution  demo-2
ARN        arn:1
Function   arn:aws:lambda:us-west-2:123456789012:function:Demo:$LATEST
Version    $LATEST
Status     RUNNING
Started    2026-11-28 04:50:19.687 UTC
Duration   10.3s…
Input      {\"x\":21}

OPERATION   TYPE      STATUS     ATTEMPTS  START   DURATION  RESULT
double      Step      SUCCEEDED  1         +319ms  0ms       42
short-wait  Wait      SUCCEEDED            +359ms  2.0s      wait 2.0s
approval    Callback  STARTED              +2.4s   7.9s…     callback eyJhcm4iOiJl

Waiting for callbacks:
  approval: durable callback succeed eyJhcm4iOiJl '<result json>'
";
        assert_eq!(text, expected);
    }

    #[test]
    fn failed_execution_summary_shows_the_error_and_end() {
        let execution = json!({
            "DurableExecutionName":"n","Status":"FAILED","StartTimestamp":10.0,"EndTimestamp":12.5,
            "Error":{"ErrorType":"Flaky","ErrorMessage":"line one\nline two"}
        });
        let text = render_execution(&execution, 99.0);
        assert!(text.contains("Status     FAILED\n"), "{text}");
        assert!(
            text.contains("Ended      1970-01-01 00:00:12.500 UTC\n"),
            "{text}"
        );
        assert!(text.contains("Duration   2.5s\n"), "{text}");
        assert!(
            text.contains("Error      Flaky: line one line two\n"),
            "{text}"
        );
    }

    #[test]
    fn list_table() {
        let executions = vec![
            json!({"DurableExecutionArn":"a/1","DurableExecutionName":"first","Status":"SUCCEEDED",
                   "StartTimestamp":0.0,"EndTimestamp":65.0,"FunctionArn":"f"}),
            json!({"DurableExecutionArn":"a/2","DurableExecutionName":"second","Status":"RUNNING","StartTimestamp":60.0}),
        ];
        assert_eq!(
            render_list(&executions, 90.0),
            "\
NAME    STATUS     STARTED                      DURATION  ARN
first   SUCCEEDED  1970-01-01 00:00:00.000 UTC  1m05s     a/1
second  RUNNING    1970-01-01 00:01:00.000 UTC  30.0s…    a/2
"
        );
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let mut table = Table::new(&["A", "LONG HEADER", "C"]);
        table.push(vec!["wide cell".into(), "x".into(), String::new()]);
        table.push(vec!["é".into()]);
        assert_eq!(
            table.render(),
            "A          LONG HEADER  C\nwide cell  x\né\n"
        );
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("{\"a\": [1, 2]}", 40), "{\"a\":[1,2]}");
        assert_eq!(preview("line\nbreak", 40), "line break");
        assert_eq!(preview(&"x".repeat(50), 10), "xxxxxxxxx…");
        assert_eq!(preview("\"a string\"", 40), "\"a string\"");
        assert_eq!(preview("ééééé", 3), "éé…");
        assert_eq!(
            preview(r#"{ "z": "a \" b", "a" : [1, {"k":"v w"}] }"#, 60),
            r#"{"z":"a \" b","a":[1,{"k":"v w"}]}"#
        );
    }

    #[test]
    fn timestamps_in_every_shape() {
        assert_eq!(timestamp(Some(&json!(1795841419.5))), Some(1795841419.5));
        assert_eq!(
            timestamp(Some(&json!(1795841419500_i64))),
            Some(1795841419.5)
        );
        assert_eq!(timestamp(Some(&json!("12.25"))), Some(12.25));
        assert_eq!(
            timestamp(Some(&json!("2026-11-28T23:30:19.5Z"))),
            Some(1795908619.5)
        );
        assert_eq!(
            timestamp(Some(&json!("2026-11-28T23:30:19+01:00"))),
            Some(1795908619.0 - 3600.0)
        );
        assert_eq!(timestamp(Some(&json!("yesterday"))), None);
        assert_eq!(timestamp(Some(&json!(null))), None);
        assert_eq!(timestamp(None), None);
        assert_eq!(format_utc(1795908619.5), "2026-11-28 23:30:19.500 UTC");
        assert_eq!(format_utc(951_782_400.0), "2000-02-29 00:00:00.000 UTC");
        for days in [-800_000, -1, 0, 59, 60, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0.0004), "0ms");
        assert_eq!(format_duration(0.25), "250ms");
        assert_eq!(format_duration(2.349), "2.3s");
        assert_eq!(format_duration(245.0), "4m05s");
        assert_eq!(format_duration(3720.0), "1h02m");
        assert_eq!(format_duration(2.0 * 86_400.0 + 7200.0), "2d02h");
        assert_eq!(format_duration(-3.0), "0ms");
    }

    #[test]
    fn errors_as_text() {
        assert_eq!(
            error_text(&json!({"ErrorType":"T","ErrorMessage":"m"})),
            "T: m"
        );
        assert_eq!(error_text(&json!({"ErrorType":"T"})), "T");
        assert_eq!(error_text(&json!({"ErrorMessage":"m"})), "m");
        assert_eq!(error_text(&json!({"ErrorData":"d"})), "d");
        assert_eq!(error_text(&json!({})), "error");
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        let events = vec![
            json!({"EventType":"ContextStarted","EventTimestamp":1.0,"EventId":2,"Id":"a","ParentId":"b"}),
            json!({"EventType":"ContextStarted","EventTimestamp":1.0,"EventId":3,"Id":"b","ParentId":"a"}),
        ];
        let rows = timeline(&events);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.depth == 3));
    }

    #[test]
    fn payloads_left_out_by_the_service_say_so() {
        let events = vec![
            json!({"EventType":"StepSucceeded","EventTimestamp":1.0,"EventId":2,"Id":"s",
                   "StepSucceededDetails":{"Result":{"Truncated":true}}}),
        ];
        assert_eq!(timeline(&events)[0].outcome, "(not included)");
    }
}
