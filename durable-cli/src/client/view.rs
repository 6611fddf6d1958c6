//! What a person sees: tables, the execution summary and the step timeline,
//! all built from the API's own JSON (`GetDurableExecution`,
//! `GetDurableExecutionHistory`, `ListDurableExecutionsByFunction`), so the
//! same code reads any implementation of the API. The history's events are
//! read as durable-core's wire events, and the timeline is durable-local's
//! [`Timeline`], the one the local runner prints.

use std::fmt::Write as _;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use durable_core::wire::{ErrorObject, Event, EventType};
use durable_local::Timeline;
use durable_local::timeline::{
    Table, error_payload_text, event_outcome, event_retry, format_duration, payload_text, preview,
    short_id,
};
use serde_json::Value;

/// Characters of a payload shown in the history table.
const HISTORY_PREVIEW_CHARS: usize = 60;
/// Characters of a result, error or input shown in the execution summary.
const SUMMARY_CHARS: usize = 300;

// ---------------------------------------------------------------- text

/// An `ErrorObject` (`{ErrorType?, ErrorMessage?, ErrorData?, StackTrace?}`)
/// as `Type: message`.
pub fn error_text(error: &Value) -> String {
    let error = serde_json::from_value::<ErrorObject>(error.clone()).unwrap_or_default();
    durable_local::timeline::error_text(&error)
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

/// An RFC 3339 date-time (`2026-11-28T23:30:19.5Z`, or with an offset such
/// as `+01:00`) as epoch seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    // RFC 3339 lets a space stand for the `T`; Smithy's parser does not.
    let text = match (text.get(..10), text.get(10..11), text.get(11..)) {
        (Some(date), Some(" "), Some(time)) => format!("{date}T{time}"),
        _ => text.to_owned(),
    };
    DateTime::from_str(&text, Format::DateTimeWithOffset)
        .ok()
        .map(|time| time.as_secs_f64())
}

/// `2026-11-28 12:10:19.686 UTC` (to the millisecond).
pub fn format_utc(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let millis = (seconds * 1000.0).round() as i64;
    // `YYYY-MM-DDTHH:MM:SS[.fff]Z`, the fraction without trailing zeros.
    let Ok(text) = DateTime::from_millis(millis).fmt(Format::DateTime) else {
        return format!("{seconds}s after 1970-01-01 UTC");
    };
    let text = text.trim_end_matches('Z');
    let (date_time, fraction) = text.split_once('.').unwrap_or((text, ""));
    let (date, time) = date_time.split_once('T').unwrap_or((date_time, ""));
    format!("{date} {time}.{fraction:0<3} UTC")
}

/// Epoch milliseconds as epoch seconds.
fn seconds(ms: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = ms as f64;
    ms / 1000.0
}

/// A time relative to the start of the execution: `+0ms`, `+2.1s`.
fn format_offset(at: f64, origin: f64) -> String {
    format!("+{}", format_duration(at - origin))
}

// ---------------------------------------------------------------- events

/// The API's history events as wire events. The wire model's timestamps
/// are epoch milliseconds, so every `…Timestamp` field (epoch seconds in
/// the REST API; see [`timestamp`] for the other shapes accepted) is
/// turned into milliseconds first. An event whose details the model cannot
/// read is kept without them; one it cannot read at all is left out.
pub fn wire_events(events: &[Value]) -> Vec<Event> {
    events
        .iter()
        .filter_map(|event| {
            let mut event = event.clone();
            to_millis(&mut event);
            serde_json::from_value::<Event>(event.clone())
                .or_else(|error| {
                    tracing::debug!(%error, "reading a history event without its details");
                    if let Value::Object(fields) = &mut event {
                        fields.retain(|name, _| !name.ends_with("Details"));
                    }
                    serde_json::from_value::<Event>(event)
                })
                .map_err(|error| tracing::debug!(%error, "leaving out a history event"))
                .ok()
        })
        .collect()
}

/// Every `…Timestamp` field, at any depth, as integer epoch milliseconds.
fn to_millis(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if name.ends_with("Timestamp") {
                    if let Some(seconds) = timestamp(Some(field)) {
                        #[allow(clippy::cast_possible_truncation)]
                        let ms = (seconds * 1000.0).round() as i64;
                        *field = Value::from(ms);
                    }
                } else {
                    to_millis(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_millis),
        _ => {}
    }
}

// ---------------------------------------------------------------- timeline

/// The timeline of the API's history events.
pub fn timeline(events: &[Value]) -> Timeline {
    Timeline::from_events(&wire_events(events))
}

// ---------------------------------------------------------------- history

/// What an event says, in a few words.
fn event_summary(event: &Event) -> String {
    let text = |s: Option<String>| s.map(|s| preview(&s, HISTORY_PREVIEW_CHARS));
    let whole_seconds = |s: i64| seconds(s.saturating_mul(1000));
    let mut parts: Vec<String> = Vec::new();
    match &event.event_type {
        EventType::ExecutionStarted => {
            if let Some(details) = &event.execution_started_details {
                if let Some(input) = text(payload_text(&details.input)) {
                    parts.push(format!("input {input}"));
                }
                if let Some(timeout) = details.execution_timeout {
                    parts.push(format!(
                        "timeout {}",
                        format_duration(whole_seconds(timeout))
                    ));
                }
            }
        }
        EventType::InvocationCompleted => {
            if let Some(details) = &event.invocation_completed_details {
                let took = details.end_timestamp - details.start_timestamp;
                parts.push(format!("took {}", format_duration(seconds(took))));
                if !details.request_id.is_empty() {
                    parts.push(format!("request {}", details.request_id));
                }
                if let Some(error) = text(details.error.as_ref().and_then(error_payload_text)) {
                    parts.push(error);
                }
            }
        }
        EventType::WaitStarted => {
            if let Some(details) = &event.wait_started_details {
                parts.push(format_duration(whole_seconds(details.duration)));
                let until = seconds(details.scheduled_end_timestamp);
                parts.push(format!("until {}", format_utc(until)));
            }
        }
        EventType::WaitSucceeded => {
            if let Some(details) = &event.wait_succeeded_details {
                parts.push(format_duration(whole_seconds(details.duration)));
            }
        }
        EventType::CallbackStarted => {
            if let Some(details) = &event.callback_started_details {
                if !details.callback_id.is_empty() {
                    parts.push(format!("callback {}", details.callback_id));
                }
                for (timeout, label) in [
                    (details.timeout, "timeout"),
                    (details.heartbeat_timeout, "heartbeat"),
                ] {
                    if let Some(timeout) = timeout.filter(|s| *s > 0) {
                        parts.push(format!(
                            "{label} {}",
                            format_duration(whole_seconds(timeout))
                        ));
                    }
                }
            }
        }
        EventType::ChainedInvokeStarted => {
            if let Some(details) = &event.chained_invoke_started_details {
                if !details.function_name.is_empty() {
                    parts.push(format!("function {}", details.function_name));
                }
                if let Some(input) = text(payload_text(&details.input)) {
                    parts.push(format!("input {input}"));
                }
            }
        }
        _ => {
            if let Some(retry) = event_retry(event) {
                parts.push(format!("attempt {}", retry.current_attempt));
                if let Some(delay) = retry.next_attempt_delay_seconds.filter(|d| *d > 0) {
                    let delay = whole_seconds(i64::from(delay));
                    parts.push(format!("retry in {}", format_duration(delay)));
                }
            }
            if let Some(outcome) = text(event_outcome(event)) {
                parts.push(outcome);
            }
        }
    }
    parts.join(", ")
}

/// The history as a table, one row per event.
pub fn render_history(events: &[Value]) -> String {
    let events = wire_events(events);
    let origin = events.iter().map(|e| e.event_timestamp).min();
    let mut table = Table::new(&["#", "TIME", "EVENT", "OPERATION", "DETAILS"]);
    for event in &events {
        let operation = event
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| event.id.as_deref().map(short_id))
            .unwrap_or_default();
        table.push(vec![
            event.event_id.to_string(),
            format_offset(
                seconds(event.event_timestamp),
                seconds(origin.unwrap_or(event.event_timestamp)),
            ),
            event.event_type.as_str().to_owned(),
            operation,
            event_summary(event),
        ]);
    }
    let mut out = String::new();
    if let Some(origin) = origin {
        let _ = writeln!(
            out,
            "Times are relative to {}.",
            format_utc(seconds(origin))
        );
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
    let timeline = timeline(events);
    out.push('\n');
    if timeline.operations.is_empty() {
        out.push_str("No operations yet.\n");
    } else {
        // Operations left open by an execution that ended were open until
        // its end, not until now.
        let until = timestamp(execution.get("EndTimestamp")).unwrap_or(now);
        #[allow(clippy::cast_possible_truncation)]
        let until = (until * 1000.0).round() as i64;
        out.push_str(&timeline.render(until));
    }
    let running = str_field(execution, "Status") == Some("RUNNING");
    let callbacks = timeline.open_callbacks();
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
        let timeline = timeline(&demo_history());
        let rows = &timeline.operations;
        let summary: Vec<(String, &str, &str, Option<u32>, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.label(),
                    r.kind(),
                    r.status.as_str(),
                    r.attempts,
                    r.outcome(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "double".to_owned(),
                    "Step",
                    "SUCCEEDED",
                    Some(1),
                    "42".into()
                ),
                (
                    "short-wait".to_owned(),
                    "Wait",
                    "SUCCEEDED",
                    None,
                    "wait 2.0s".into()
                ),
                (
                    "approval".to_owned(),
                    "Callback",
                    "STARTED",
                    None,
                    "callback eyJhcm4iOiJl".into()
                ),
            ]
        );
        let wait = &rows[1];
        assert_eq!(wait.end.unwrap() - wait.start, 2003);
        assert_eq!(
            timeline.open_callbacks(),
            vec![("approval".to_owned(), "eyJhcm4iOiJl".to_owned())]
        );
    }

    #[test]
    fn timeline_counts_retries_and_nests_children() {
        let timeline = timeline(&retry_history());
        let rows = &timeline.operations;
        assert_eq!(rows.len(), 2);
        let (context, step) = (&rows[0], &rows[1]);
        assert_eq!((context.depth, step.depth), (0, 1));
        assert_eq!(context.kind(), "RunInChildContext");
        assert_eq!(step.status.as_str(), "SUCCEEDED");
        assert_eq!(step.attempts, Some(3));
        assert_eq!(step.end.unwrap() - step.start, 6500);
        let text = timeline.render(200_000);
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
        let timeline = timeline(&events);
        let step = &timeline.operations[1];
        assert_eq!(step.status.as_str(), "PENDING");
        assert_eq!(step.attempts, Some(1));
        assert_eq!(step.end, None);
        assert_eq!(step.outcome(), "retry in 2.0s: Flaky: try again");
        let text = timeline.render(101_100);
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
        let rows = timeline(&events).operations;
        assert_eq!(rows[0].status.as_str(), "FAILED");
        assert_eq!(rows[0].attempts, Some(4));
        assert_eq!(rows[0].outcome(), "boom");
        assert_eq!(rows[0].label(), "s");
        assert_eq!(rows[0].kind(), "Step");
    }

    #[test]
    fn events_out_of_order_are_sorted_by_event_id() {
        let mut events = demo_history();
        events.reverse();
        assert_eq!(timeline(&events), timeline(&demo_history()));
    }

    #[test]
    fn the_api_history_reads_as_wire_events() {
        let events = wire_events(&demo_history());
        assert_eq!(events.len(), 8);
        let started = &events[0];
        assert_eq!(started.event_type, EventType::ExecutionStarted);
        assert_eq!(started.event_timestamp, 1_795_841_419_687);
        let input = &started.execution_started_details.as_ref().unwrap().input;
        assert_eq!(input.payload.as_deref(), Some("{\"x\": 21}"));
        let wait = events[3].wait_started_details.as_ref().unwrap();
        assert_eq!(
            (wait.duration, wait.scheduled_end_timestamp),
            (2, 1_795_841_422_046)
        );
        let retry = wire_events(&retry_history());
        let failed = retry[3].step_failed_details.as_ref().unwrap();
        assert_eq!(failed.retry_details.as_ref().unwrap().current_attempt, 1);
        assert_eq!(
            failed.error.payload.as_ref().unwrap().error_type.as_deref(),
            Some("Flaky")
        );
        // RFC 3339 and epoch-millisecond timestamps; details of another
        // shape are dropped, an event without a timestamp is left out.
        let odd = wire_events(&[
            json!({"EventType":"StepStarted","EventId":1,"Id":"s","EventTimestamp":"1970-01-01T00:00:01.5Z"}),
            json!({"EventType":"StepFailed","EventId":2,"Id":"s","EventTimestamp":2500,
                   "StepFailedDetails":{"Error":"not an object"}}),
            json!({"EventType":"StepStarted","EventId":3,"Id":"s"}),
            json!({"EventType":"ChainedInvokeStarted","EventId":4,"Id":"c","EventTimestamp":1795841419500_i64,
                   "ChainedInvokeStartedDetails":{"FunctionName":"f","Input":{"Payload":"1"},"Future":true}}),
        ]);
        let summary: Vec<(u64, i64, bool)> = odd
            .iter()
            .map(|e| {
                let details =
                    e.step_failed_details.is_some() || e.chained_invoke_started_details.is_some();
                (e.event_id, e.event_timestamp, details)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, 1500, false),
                (2, 2_500_000, false),
                (4, 1_795_841_419_500, true)
            ]
        );
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
        assert_eq!(
            timestamp(Some(&json!("2026-11-28 23:30:19.25z"))),
            Some(1795908619.25)
        );
        assert_eq!(timestamp(Some(&json!("2026-11-28T23:30:19"))), None);
        assert_eq!(format_utc(1795908619.5), "2026-11-28 23:30:19.500 UTC");
        assert_eq!(format_utc(951_782_400.0), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(format_utc(1795908619.6866), "2026-11-28 23:30:19.687 UTC");
        assert_eq!(format_utc(1795908619.0), "2026-11-28 23:30:19.000 UTC");
        assert_eq!(format_utc(-0.001), "1969-12-31 23:59:59.999 UTC");
        assert_eq!(format_utc(4e11), "400000000000s after 1970-01-01 UTC");
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
        let rows = timeline(&events).operations;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.depth == 3));
    }

    #[test]
    fn payloads_left_out_by_the_service_say_so() {
        let events = vec![
            json!({"EventType":"StepSucceeded","EventTimestamp":1.0,"EventId":2,"Id":"s",
                   "StepSucceededDetails":{"Result":{"Truncated":true}}}),
        ];
        assert_eq!(timeline(&events).operations[0].outcome(), "(not included)");
    }
}
