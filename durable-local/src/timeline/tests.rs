use durable_core::wire::{
    CallbackStartedDetails, EmptyDetails, ErrorDetails, ResultDetails, StepFailedDetails,
    StepSucceededDetails, WaitStartedDetails, WaitSucceededDetails,
};

use super::*;

/// An event of operation `op` (none for `""`) at `at` ms.
fn event(event_id: u64, at: i64, event_type: EventType, op: &str) -> Event {
    let mut event = Event::new(event_type, event_id, at);
    event.id = (!op.is_empty()).then(|| op.to_owned());
    event
}

fn named(mut event: Event, name: &str, sub_type: &str, parent: Option<&str>) -> Event {
    event.name = Some(name.to_owned());
    event.sub_type = Some(sub_type.to_owned());
    event.parent_id = parent.map(str::to_owned);
    event
}

fn payload(text: &str) -> EventPayload {
    EventPayload {
        payload: Some(text.to_owned()),
        truncated: false,
    }
}

fn flaky() -> EventError {
    EventError {
        payload: Some(ErrorObject::new("Flaky", "try again")),
        truncated: false,
    }
}

fn step_failed(event_id: u64, at: i64, attempt: i32, delay: Option<i32>) -> Event {
    let mut failed = named(
        event(event_id, at, EventType::StepFailed, "s1"),
        "charge",
        "Step",
        Some("ctx"),
    );
    failed.step_failed_details = Some(StepFailedDetails {
        error: flaky(),
        retry_details: Some(RetryDetails {
            current_attempt: attempt,
            next_attempt_delay_seconds: delay,
        }),
    });
    failed
}

fn step_started(event_id: u64, at: i64) -> Event {
    let mut started = named(
        event(event_id, at, EventType::StepStarted, "s1"),
        "charge",
        "Step",
        Some("ctx"),
    );
    started.step_started_details = Some(EmptyDetails {});
    started
}

/// A step in a child context that fails twice, is retried, and succeeds.
fn retry_history() -> Vec<Event> {
    let mut context = named(
        event(2, 100_000, EventType::ContextStarted, "ctx"),
        "payment",
        "RunInChildContext",
        None,
    );
    context.context_started_details = Some(EmptyDetails {});
    let mut succeeded = named(
        event(9, 106_600, EventType::StepSucceeded, "s1"),
        "charge",
        "Step",
        Some("ctx"),
    );
    succeeded.step_succeeded_details = Some(StepSucceededDetails {
        result: payload(r#"{"charged": true, "amount": 1250, "currency": "EUR", "card": "visa"}"#),
        retry_details: Some(RetryDetails {
            current_attempt: 3,
            next_attempt_delay_seconds: None,
        }),
    });
    let mut context_done = named(
        event(10, 106_700, EventType::ContextSucceeded, "ctx"),
        "payment",
        "RunInChildContext",
        None,
    );
    context_done.context_succeeded_details = Some(ResultDetails {
        result: payload("\"paid\""),
    });
    vec![
        event(1, 100_000, EventType::ExecutionStarted, "exec"),
        context,
        step_started(3, 100_100),
        step_failed(4, 100_200, 1, Some(2)),
        event(5, 100_300, EventType::InvocationCompleted, ""),
        step_started(6, 102_300),
        step_failed(7, 102_400, 2, Some(4)),
        step_started(8, 106_500),
        succeeded,
        context_done,
        event(11, 106_800, EventType::ExecutionSucceeded, "exec"),
    ]
}

#[test]
fn retries_are_counted_and_children_nested() {
    let timeline = Timeline::from_events(&retry_history());
    assert_eq!(
        (timeline.start, timeline.end, timeline.as_of),
        (Some(100_000), Some(106_800), Some(106_800))
    );
    let [context, step] = timeline.operations.as_slice() else {
        panic!("{timeline:?}")
    };
    assert_eq!((context.depth, step.depth), (0, 1));
    assert_eq!(context.operation_type, OperationType::Context);
    assert_eq!(context.kind(), "RunInChildContext");
    assert_eq!(context.result.as_deref(), Some("\"paid\""));
    assert_eq!(step.status, OperationStatus::Succeeded);
    assert_eq!(step.attempts, Some(3));
    assert_eq!((step.start, step.end), (100_100, Some(106_600)));
    assert_eq!(step.error, None);
    assert_eq!(step.retry_delay_seconds, None);
    assert_eq!(
        step.result.as_deref(),
        Some(r#"{"charged":true,"amount":1250,"currency":"EUR","card":"visa"}"#)
    );
    assert_eq!(
        timeline.to_string(),
        "\
OPERATION  TYPE               STATUS     ATTEMPTS  START   DURATION  RESULT
payment    RunInChildContext  SUCCEEDED            +0ms    6.7s      \"paid\"
  charge   Step               SUCCEEDED  3         +100ms  6.5s      {\"charged\":true,\"amount\":1250,\"currency…
"
    );
}

#[test]
fn a_step_waiting_for_its_retry_is_pending_until_now() {
    let events: Vec<Event> = retry_history().into_iter().take(5).collect();
    let timeline = Timeline::from_events(&events);
    let step = &timeline.operations[1];
    assert_eq!(step.status, OperationStatus::Pending);
    assert_eq!(step.attempts, Some(1));
    assert_eq!(step.end, None);
    assert_eq!(step.retry_delay_seconds, Some(2));
    assert_eq!(step.error.as_deref(), Some("Flaky: try again"));
    assert_eq!(step.outcome(), "retry in 2.0s: Flaky: try again");
    assert!(step.is_open());
    let text = timeline.render(101_100);
    assert!(
        text.contains("  charge   Step               PENDING  1         +100ms  1.0s…     retry in 2.0s: Flaky: try again"),
        "{text}"
    );
}

#[test]
fn operations_left_open_end_with_the_execution() {
    let mut callback = named(
        event(2, 1_000, EventType::CallbackStarted, "cb"),
        "approval",
        "Callback",
        None,
    );
    callback.callback_started_details = Some(CallbackStartedDetails {
        callback_id: "eyJh".into(),
        timeout: None,
        heartbeat_timeout: None,
    });
    let mut events = vec![
        event(1, 1_000, EventType::ExecutionStarted, "exec"),
        callback,
    ];
    let running = Timeline::from_events(&events);
    assert_eq!(
        running.open_callbacks(),
        vec![("approval".to_owned(), "eyJh".to_owned())]
    );
    assert!(running.render(4_000).contains("3.0s…     callback eyJh"));
    events.push(event(3, 2_500, EventType::ExecutionStopped, "exec"));
    let stopped = Timeline::from_events(&events);
    assert!(stopped.render(4_000).contains("1.5s…     callback eyJh"));
}

#[test]
fn branches_are_listed_under_their_context_in_start_order() {
    // Two parallel branches whose steps interleave in the history.
    let mut events = vec![event(1, 0, EventType::ExecutionStarted, "exec")];
    let mut id = 1;
    let mut push = |op: &str, event_type: EventType, parent: Option<&str>| {
        id += 1;
        let sub_type = if parent.is_none() { "Parallel" } else { "Step" };
        let name = format!("{op}-name");
        events.push(named(event(id, 0, event_type, op), &name, sub_type, parent));
    };
    push("par", EventType::ContextStarted, None);
    push("a", EventType::ContextStarted, Some("par"));
    push("b", EventType::ContextStarted, Some("par"));
    push("a1", EventType::StepStarted, Some("a"));
    push("b1", EventType::StepStarted, Some("b"));
    push("a2", EventType::StepStarted, Some("a"));
    push("orphan", EventType::StepStarted, Some("gone"));
    let timeline = Timeline::from_events(&events);
    let order: Vec<(&str, usize)> = timeline
        .operations
        .iter()
        .map(|r| (r.id.as_str(), r.depth))
        .collect();
    assert_eq!(
        order,
        [
            ("par", 0),
            ("a", 1),
            ("a1", 2),
            ("a2", 2),
            ("b", 1),
            ("b1", 2),
            ("orphan", 1)
        ]
    );
}

#[test]
fn a_cycle_of_parents_ends() {
    let mut a = event(2, 1, EventType::ContextStarted, "a");
    a.parent_id = Some("b".into());
    let mut b = event(3, 1, EventType::ContextStarted, "b");
    b.parent_id = Some("a".into());
    let timeline = Timeline::from_events(&[a, b]);
    assert_eq!(timeline.operations.len(), 2);
    assert!(timeline.operations.iter().all(|r| r.depth == 3));
}

#[test]
fn waits_show_their_duration_and_unknown_event_types_are_read() {
    let mut started = named(
        event(2, 0, EventType::WaitStarted, "w"),
        "pause",
        "Wait",
        None,
    );
    started.wait_started_details = Some(WaitStartedDetails {
        duration: 180,
        scheduled_end_timestamp: 180_000,
    });
    let mut done = event(3, 180_000, EventType::WaitSucceeded, "w");
    done.wait_succeeded_details = Some(WaitSucceededDetails { duration: 180 });
    let teleport = event(4, 180_000, EventType::parse("TeleportFailed"), "t");
    let invocation = event(5, 180_000, EventType::parse("InvocationRetried"), "");
    let mut cancelled = event(6, 180_000, EventType::WaitCancelled, "w2");
    cancelled.wait_cancelled_details = Some(ErrorDetails {
        error: EventError {
            payload: None,
            truncated: true,
        },
    });
    let timeline = Timeline::from_events(&[started, done, teleport, invocation, cancelled]);
    let rows = &timeline.operations;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].outcome(), "wait 3m00s");
    assert_eq!(rows[0].end, Some(180_000));
    assert_eq!(rows[1].kind(), "Teleport");
    assert_eq!(rows[1].status, OperationStatus::Failed);
    assert_eq!(rows[1].label(), "t");
    assert_eq!(rows[2].status, OperationStatus::Cancelled);
    assert_eq!(rows[2].outcome(), "(error not included)");
}

#[test]
fn the_model_serializes_for_other_renderers() {
    let timeline = Timeline::from_events(&retry_history());
    let json = serde_json::to_value(&timeline).unwrap();
    assert_eq!(json["start"], 100_000);
    assert_eq!(json["end"], 106_800);
    let step = &json["operations"][1];
    assert_eq!(step["id"], "s1");
    assert_eq!(step["parentId"], "ctx");
    assert_eq!(step["operationType"], "STEP");
    assert_eq!(step["subType"], "Step");
    assert_eq!(step["status"], "SUCCEEDED");
    assert_eq!(step["attempts"], 3);
    assert_eq!(step["depth"], 1);
    assert_eq!(step["callbackId"], Value::Null);
}

#[test]
fn results_are_kept_as_previews() {
    let mut done = event(2, 0, EventType::StepSucceeded, "s");
    done.step_succeeded_details = Some(StepSucceededDetails {
        result: payload(&format!("\"{}\"", "x".repeat(500))),
        retry_details: None,
    });
    let row = &Timeline::from_events(&[done]).operations[0];
    let result = row.result.as_deref().unwrap();
    assert_eq!(result.chars().count(), RESULT_PREVIEW_CHARS);
    assert!(result.ends_with('…'));
    assert_eq!(row.attempts, Some(1));
    assert_eq!(Timeline::from_events(&[]), Timeline::default());
    assert_eq!(
        Timeline::default().to_string(),
        "OPERATION  TYPE  STATUS  ATTEMPTS  START  DURATION  RESULT\n"
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
    let error = |t: Option<&str>, m: Option<&str>, d: Option<&str>| ErrorObject {
        error_type: t.map(str::to_owned),
        error_message: m.map(str::to_owned),
        error_data: d.map(str::to_owned),
        stack_trace: None,
    };
    assert_eq!(error_text(&error(Some("T"), Some("m"), None)), "T: m");
    assert_eq!(error_text(&error(Some("T"), Some(""), None)), "T");
    assert_eq!(error_text(&error(None, Some("m"), None)), "m");
    assert_eq!(error_text(&error(None, None, Some("d"))), "d");
    assert_eq!(error_text(&error(None, None, None)), "error");
}
