//! Service-side tests of what external systems drive: callbacks (the three
//! callback APIs, timeouts, heartbeats), chained invokes and
//! `StopDurableExecution`, with hand-made updates.

use durable_core::wire::{
    CallbackOptions, ChainedInvokeOptions, ErrorObject, Event, EventType, ExecutionStatus,
    InvocationOutput, OperationAction, OperationStatus, OperationType, OperationUpdate,
    WaitOptions,
};

use super::ids::new_callback_id;
use super::stop::propagate_end;
use super::*;
use crate::store::StoredExecution;
use durable_core::CALLBACK_TIMEOUT_EXCEPTION;
use durable_core::limits::MAX_CALLBACK_RESULT_BYTES;
use durable_core::limits::MAX_ERROR_BYTES;
use durable_core::wire::Operation;

const T0: i64 = 1_700_000_000_000;

fn service() -> LocalService {
    let svc = LocalService::new(Clock::virtual_at(T0));
    svc.register_function("target");
    svc
}

/// Starts an execution and its first invocation: (arn, token).
fn begin(svc: &LocalService) -> (String, String) {
    let started = svc
        .start_execution("fn", None, r#"{"x":1}"#.to_owned())
        .unwrap();
    let invocation = svc.begin_invocation(&started.arn).unwrap();
    (started.arn, invocation.input.checkpoint_token.unwrap())
}

fn callback(id: &str, name: &str, timeout: i32, heartbeat: i32) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::Callback, OperationAction::Start);
    u.sub_type = Some("Callback".to_owned());
    u.name = Some(name.to_owned());
    if timeout != 0 || heartbeat != 0 {
        u.callback_options = Some(CallbackOptions {
            timeout_seconds: timeout,
            heartbeat_timeout_seconds: heartbeat,
        });
    }
    u
}

fn invoke(id: &str, function: &str, payload: Option<&str>) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::ChainedInvoke, OperationAction::Start);
    u.sub_type = Some("ChainedInvoke".to_owned());
    u.name = Some(format!("{id}-name"));
    u.payload = payload.map(str::to_owned);
    u.chained_invoke_options = Some(ChainedInvokeOptions {
        function_name: function.to_owned(),
        tenant_id: None,
    });
    u
}

fn wait(id: &str, seconds: i32) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::Wait, OperationAction::Start);
    u.sub_type = Some("Wait".to_owned());
    u.wait_options = Some(WaitOptions {
        wait_seconds: seconds,
    });
    u
}

fn ok(
    svc: &LocalService,
    arn: &str,
    token: &str,
    updates: Vec<OperationUpdate>,
) -> (String, Vec<Operation>) {
    let response = svc.checkpoint_now(arn, token, updates).unwrap();
    let delta = response.new_execution_state.unwrap().operations;
    (response.checkpoint_token.unwrap(), delta)
}

fn rejected(svc: &LocalService, arn: &str, token: &str, updates: Vec<OperationUpdate>) -> String {
    let err = svc.checkpoint_now(arn, token, updates).unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValueException", "{err}");
    err.message().to_owned()
}

fn history(svc: &LocalService, arn: &str) -> Vec<Event> {
    svc.with_execution(arn, StoredExecution::history).unwrap()
}

fn types(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn record(svc: &LocalService, arn: &str, id: &str) -> Operation {
    svc.with_execution(arn, |e| e.operation(id).cloned())
        .unwrap()
        .unwrap()
}

fn callback_id(op: &Operation) -> String {
    op.callback_details
        .as_ref()
        .and_then(|d| d.callback_id.clone())
        .unwrap()
}

fn pending() -> InvocationResult {
    InvocationResult::Output(InvocationOutput::pending())
}

fn succeeded(result: &str) -> InvocationResult {
    InvocationResult::Output(InvocationOutput::succeeded(Some(result.to_owned())))
}

fn failed(error: ErrorObject) -> InvocationResult {
    InvocationResult::Output(InvocationOutput::failed(error))
}

/// An execution with one open callback whose invocation has ended:
/// (arn, callback id).
fn open_callback(svc: &LocalService, timeout: i32, heartbeat: i32) -> (String, String) {
    let (arn, token) = begin(svc);
    let (_, delta) = ok(
        svc,
        &arn,
        &token,
        vec![callback("cb", "approve", timeout, heartbeat)],
    );
    let id = callback_id(&delta[0]);
    let earliest = [timeout, heartbeat].into_iter().filter(|s| *s > 0).min();
    let expected = earliest.map_or(NextStep::Idle, |s| {
        NextStep::WaitUntil(T0 + 1000 * i64::from(s))
    });
    assert_eq!(svc.complete_invocation(&arn, pending()).unwrap(), expected);
    (arn, id)
}

fn code(error: &LocalError) -> String {
    error.to_backend_error().code().to_owned()
}

// ----- callback ids -----

#[test]
fn callback_ids_are_192_random_bits_url_safe_and_distinct() {
    let taken = FxHashMap::default();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2000 {
        let id = new_callback_id(&taken);
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert!(seen.insert(id));
    }
    // Every character position varies (no fixed prefix or counter).
    let ids: Vec<Vec<u8>> = seen.iter().map(|id| id.clone().into_bytes()).collect();
    for position in 0..32 {
        let first = ids[0][position];
        assert!(ids.iter().any(|id| id[position] != first), "{position}");
    }
}

// ----- callbacks -----

#[test]
fn callback_start_records_the_id_and_both_timeouts() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![
            callback("cb", "approve", 300, 60),
            callback("cb2", "plain", 0, 0),
        ],
    );
    assert_eq!(delta.len(), 2);
    assert_eq!(delta[0].status, OperationStatus::Started);
    let id = callback_id(&delta[0]);
    let id2 = callback_id(&delta[1]);
    assert_ne!(id, id2);
    assert_eq!(
        record(&svc, &arn, "cb").callback_details,
        delta[0].callback_details
    );

    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        ["ExecutionStarted", "CallbackStarted", "CallbackStarted"]
    );
    let started = events[1].callback_started_details.as_ref().unwrap();
    assert_eq!(started.callback_id, id);
    assert_eq!(started.timeout, Some(300));
    assert_eq!(started.heartbeat_timeout, Some(60));
    assert_eq!(events[1].name.as_deref(), Some("approve"));
    assert_eq!(events[1].sub_type.as_deref(), Some("Callback"));
    let json = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(json["CallbackStartedDetails"]["Timeout"], 300);
    assert_eq!(json["CallbackStartedDetails"]["HeartbeatTimeout"], 60);
    let plain = events[2].callback_started_details.as_ref().unwrap();
    assert_eq!((plain.timeout, plain.heartbeat_timeout), (None, None));

    // The records are in the envelope of the next invocation too.
    let info = svc.open_callbacks(&arn).unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(info[0].callback_id, id);
    assert_eq!(info[0].name.as_deref(), Some("approve"));
    assert_eq!(info[0].start_timestamp, T0);
    drop(token);
}

#[test]
fn a_pending_output_with_an_open_callback_is_accepted() {
    let svc = service();
    let (arn, _) = open_callback(&svc, 0, 0);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Idle);
    svc.with_execution(&arn, |e| assert_eq!(e.invocations(), 1))
        .unwrap();
    assert_eq!(
        types(&history(&svc, &arn)).last().copied(),
        Some("InvocationCompleted")
    );
    let error = history(&svc, &arn)
        .last()
        .unwrap()
        .invocation_completed_details
        .clone()
        .unwrap()
        .error;
    assert!(error.is_none(), "{error:?}");
}

#[test]
fn callback_success_stores_the_body_and_wakes_the_execution() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 300, 0);
    svc.send_callback_success(&id, br#""ok""#).unwrap();

    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.end_timestamp, Some(T0));
    let details = op.callback_details.unwrap();
    assert_eq!(details.result.as_deref(), Some(r#""ok""#));
    assert_eq!(details.callback_id.as_deref(), Some(id.as_str()));

    let events = history(&svc, &arn);
    let last = events.last().unwrap();
    assert_eq!(last.event_type, EventType::CallbackSucceeded);
    assert_eq!(last.id.as_deref(), Some("cb"));
    assert_eq!(last.name.as_deref(), Some("approve"));
    assert_eq!(
        last.callback_succeeded_details
            .as_ref()
            .unwrap()
            .result
            .payload
            .as_deref(),
        Some(r#""ok""#)
    );

    // Ready to invoke; the timeout no longer applies.
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    let invocation = svc.begin_invocation(&arn).unwrap();
    assert_eq!(
        invocation.input.updated_operation_ids.as_deref(),
        Some(&["cb".to_owned()][..])
    );
    let envelope = &invocation.input.initial_execution_state.operations;
    assert_eq!(envelope[1].status, OperationStatus::Succeeded);
    svc.complete_invocation(&arn, succeeded(r#""ok""#)).unwrap();
    svc.clock().advance_to(T0 + 400_000);
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::Finished(ExecutionStatus::Succeeded)
    );
}

#[test]
fn an_empty_success_body_is_no_result() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    svc.send_callback_success(&id, b"").unwrap();
    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.callback_details.unwrap().result, None);
}

#[test]
fn callback_failure_stores_the_error() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    let error = ErrorObject::new("RejectedError", "not approved");
    svc.send_callback_failure(&id, error.clone()).unwrap();
    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::Failed);
    assert_eq!(op.callback_details.unwrap().error, Some(error.clone()));
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::CallbackFailed);
    assert_eq!(
        last.callback_failed_details.unwrap().error.payload,
        Some(error)
    );
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
}

#[test]
fn completing_an_unknown_callback_is_resource_not_found() {
    let svc = service();
    let (_, _) = open_callback(&svc, 0, 0);
    for result in [
        svc.send_callback_success("no-such-id", b"1"),
        svc.send_callback_failure("no-such-id", ErrorObject::new("E", "m")),
        svc.send_callback_heartbeat("no-such-id"),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, LocalError::CallbackNotFound { callback_id } if callback_id == "no-such-id")
        );
        let backend = err.to_backend_error();
        assert_eq!(backend.code(), RESOURCE_NOT_FOUND);
        assert_eq!(backend.status(), Some(404));
        assert!(backend.message().contains("no-such-id"), "{backend}");
    }
}

#[test]
fn completing_a_callback_twice_is_callback_timeout_exception() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    svc.send_callback_success(&id, b"1").unwrap();
    let events = history(&svc, &arn).len();
    for result in [
        svc.send_callback_success(&id, b"2"),
        svc.send_callback_failure(&id, ErrorObject::new("E", "m")),
        svc.send_callback_heartbeat(&id),
    ] {
        let err = result.unwrap_err();
        assert_eq!(code(&err), CALLBACK_TIMEOUT_EXCEPTION);
        let message = err.to_string();
        assert!(message.contains(&id), "{message}");
        assert!(message.contains("already closed (SUCCEEDED)"), "{message}");
    }
    // Nothing changed.
    assert_eq!(history(&svc, &arn).len(), events);
    let op = record(&svc, &arn, "cb");
    assert_eq!(op.callback_details.unwrap().result.as_deref(), Some("1"));
}

#[test]
fn an_oversized_or_malformed_request_is_invalid_and_leaves_the_callback_open() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    let big = vec![b'x'; MAX_CALLBACK_RESULT_BYTES + 1];
    let err = svc.send_callback_success(&id, &big).unwrap_err();
    assert!(matches!(err, LocalError::CallbackPayloadTooLarge { .. }));
    assert_eq!(code(&err), INVALID_PARAMETER_VALUE);
    let message = err.to_string();
    assert!(message.contains(&id), "{message}");
    assert!(
        message.contains(&format!("{}", MAX_CALLBACK_RESULT_BYTES + 1)),
        "{message}"
    );

    let err = svc.send_callback_success(&id, &[0xff, 0xfe]).unwrap_err();
    assert_eq!(code(&err), INVALID_PARAMETER_VALUE);
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");

    let huge = ErrorObject::new("E", "x".repeat(MAX_ERROR_BYTES + 1));
    let err = svc.send_callback_failure(&id, huge).unwrap_err();
    assert_eq!(code(&err), INVALID_PARAMETER_VALUE);
    assert!(err.to_string().contains(&id), "{err}");

    assert_eq!(record(&svc, &arn, "cb").status, OperationStatus::Started);
    // Exactly the limit is fine.
    let max = vec![b'x'; durable_core::limits::MAX_CALLBACK_RESULT_BYTES];
    svc.send_callback_success(&id, &max).unwrap();
    assert_eq!(record(&svc, &arn, "cb").status, OperationStatus::Succeeded);
}

#[test]
fn a_callback_times_out_with_callback_timeout() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 3, 0);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::WaitUntil(T0 + 3000));
    svc.clock().advance_to(T0 + 3000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);

    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::TimedOut);
    assert_eq!(op.end_timestamp, Some(T0 + 3000));
    let error = op.callback_details.unwrap().error.unwrap();
    assert_eq!(
        error.error_type.as_deref(),
        Some(durable_core::CALLBACK_TIMEOUT)
    );
    assert_eq!(error.error_message.as_deref(), Some("Callback timed out"));
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::CallbackTimedOut);
    assert_eq!(last.event_timestamp, T0 + 3000);
    assert_eq!(
        last.callback_timed_out_details.unwrap().error.payload,
        Some(error)
    );
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);

    let err = svc.send_callback_success(&id, b"1").unwrap_err();
    assert_eq!(code(&err), CALLBACK_TIMEOUT_EXCEPTION);
    assert!(err.to_string().contains("TIMED_OUT"), "{err}");
}

#[test]
fn a_callback_past_its_deadline_times_out_before_a_late_completion() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 3, 0);
    // The clock passed the deadline but nobody fired the timer yet.
    svc.clock().advance_to(T0 + 5000);
    let err = svc.send_callback_success(&id, b"1").unwrap_err();
    assert_eq!(code(&err), CALLBACK_TIMEOUT_EXCEPTION);
    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::TimedOut);
    assert_eq!(op.end_timestamp, Some(T0 + 5000));
}

#[test]
fn heartbeats_push_the_heartbeat_timeout_back() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 5);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::WaitUntil(T0 + 5000));
    svc.clock().advance_to(T0 + 4000);
    svc.send_callback_heartbeat(&id).unwrap();
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::WaitUntil(T0 + 9000));
    // The old deadline is stale.
    svc.clock().advance_to(T0 + 5000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 0);
    assert_eq!(record(&svc, &arn, "cb").status, OperationStatus::Started);
    // No event for a heartbeat.
    assert_eq!(
        types(&history(&svc, &arn)),
        ["ExecutionStarted", "CallbackStarted", "InvocationCompleted"]
    );

    svc.clock().advance_to(T0 + 9000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);
    let op = record(&svc, &arn, "cb");
    assert_eq!(op.status, OperationStatus::TimedOut);
    let error = op.callback_details.unwrap().error.unwrap();
    assert_eq!(
        error.error_type.as_deref(),
        Some(durable_core::CALLBACK_HEARTBEAT)
    );
    assert_eq!(
        error.error_message.as_deref(),
        Some("Callback timed out on heartbeat")
    );
}

#[test]
fn the_earlier_of_timeout_and_heartbeat_timeout_wins() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 4, 3);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::WaitUntil(T0 + 3000));
    svc.clock().advance_to(T0 + 2000);
    svc.send_callback_heartbeat(&id).unwrap(); // heartbeat deadline now T0+5s
    svc.clock().advance_to(T0 + 4000);
    svc.fire_due_timers(&arn).unwrap();
    let error = record(&svc, &arn, "cb")
        .callback_details
        .unwrap()
        .error
        .unwrap();
    assert_eq!(
        error.error_type.as_deref(),
        Some(durable_core::CALLBACK_TIMEOUT)
    );
}

#[test]
fn a_heartbeat_without_a_heartbeat_timeout_is_accepted() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    svc.send_callback_heartbeat(&id).unwrap();
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Idle);
}

#[test]
fn a_callback_completed_during_an_invocation_reaches_the_next_delta_and_re_invokes() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, delta) = ok(&svc, &arn, &token, vec![callback("cb", "c", 0, 0)]);
    let id = callback_id(&delta[0]);
    svc.send_callback_success(&id, b"7").unwrap();
    let (_, delta) = ok(&svc, &arn, &token, vec![]);
    assert_eq!(delta.len(), 1);
    assert_eq!(delta[0].status, OperationStatus::Succeeded);
    // Whatever the handler did with it, the service invokes again.
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::Invoke
    );
}

#[test]
fn callbacks_of_an_ended_execution_are_closed() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(&svc, &arn, &token, vec![callback("cb", "c", 60, 0)]);
    let id = callback_id(&delta[0]);
    svc.complete_invocation(&arn, succeeded("1")).unwrap();
    let err = svc.send_callback_success(&id, b"1").unwrap_err();
    assert_eq!(code(&err), CALLBACK_TIMEOUT_EXCEPTION);
    assert!(
        err.to_string()
            .contains("its execution has ended: SUCCEEDED"),
        "{err}"
    );
    // No timer outlives the execution.
    svc.clock().advance_to(T0 + 120_000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 0);
}

#[test]
fn removing_an_execution_forgets_its_callbacks() {
    let svc = service();
    let (arn, id) = open_callback(&svc, 0, 0);
    svc.remove_execution(&arn).unwrap();
    let err = svc.send_callback_success(&id, b"1").unwrap_err();
    assert!(matches!(err, LocalError::CallbackNotFound { .. }));
}

#[test]
fn callbacks_are_found_by_name() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![callback("a", "first", 0, 0), callback("b", "second", 0, 0)],
    );
    let (a, b) = (callback_id(&delta[0]), callback_id(&delta[1]));
    assert_eq!(svc.find_callback(&arn, "second").unwrap(), Some(b.clone()));
    assert_eq!(svc.find_callback(&arn, "*").unwrap(), Some(a.clone()));
    assert_eq!(svc.find_callback(&arn, "third").unwrap(), None);
    svc.send_callback_success(&a, b"1").unwrap();
    // Open ones first; a closed one is still found.
    assert_eq!(svc.find_callback(&arn, "*").unwrap(), Some(b.clone()));
    assert_eq!(svc.find_callback(&arn, "first").unwrap(), Some(a.clone()));
    let all = svc.callbacks(&arn).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, OperationStatus::Succeeded);
    assert_eq!(all[1].status, OperationStatus::Started);
    assert_eq!(svc.open_callbacks(&arn).unwrap().len(), 1);
    assert!(matches!(
        svc.find_callback("arn:nope", "x"),
        Err(LocalError::NotFound { .. })
    ));
}

#[test]
fn callback_and_chained_invoke_updates_are_validated() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![callback("cb", "c", 0, 0)]);
    let message = rejected(&svc, &arn, &token, vec![callback("cb", "c", 0, 0)]);
    assert!(
        message.contains("Cannot start a CALLBACK that already exists (operation cb is STARTED)"),
        "{message}"
    );
    let message = rejected(&svc, &arn, &token, vec![callback("n", "c", -1, 0)]);
    assert!(
        message.contains("CallbackOptions.TimeoutSeconds must not be negative"),
        "{message}"
    );
    let message = rejected(&svc, &arn, &token, vec![callback("n", "c", 0, -5)]);
    assert!(
        message.contains("CallbackOptions.HeartbeatTimeoutSeconds must not be negative"),
        "{message}"
    );

    let mut no_options = invoke("i", "target", None);
    no_options.chained_invoke_options = None;
    let message = rejected(&svc, &arn, &token, vec![no_options]);
    assert!(
        message.contains("ChainedInvokeOptions with a FunctionName are required"),
        "{message}"
    );
    let message = rejected(&svc, &arn, &token, vec![invoke("i", " ", None)]);
    assert!(message.contains("FunctionName are required"), "{message}");

    let cancel = OperationUpdate::new(
        "ghost",
        OperationType::ChainedInvoke,
        OperationAction::Cancel,
    );
    let message = rejected(&svc, &arn, &token, vec![cancel]);
    assert!(
        message.contains("Cannot cancel a CHAINED_INVOKE that does not exist or has already completed (operation ghost is absent)"),
        "{message}"
    );
    let (token, _) = ok(&svc, &arn, &token, vec![invoke("i", "target", None)]);
    let message = rejected(&svc, &arn, &token, vec![invoke("i", "target", None)]);
    assert!(
        message.contains("Cannot start a CHAINED_INVOKE that already exists"),
        "{message}"
    );
    // A rejected batch created nothing.
    assert_eq!(svc.running_chained_invokes(&arn).unwrap().len(), 1);
}

// ----- chained invokes -----

/// An execution whose invocation started a chained invoke of `target`:
/// (parent arn, child arn).
fn started_invoke(svc: &LocalService, update: OperationUpdate) -> (String, String) {
    let (arn, token) = begin(svc);
    let (_, delta) = ok(svc, &arn, &token, vec![update]);
    assert_eq!(delta[0].status, OperationStatus::Started);
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::Idle
    );
    let children = svc.running_chained_invokes(&arn).unwrap();
    assert_eq!(children.len(), 1);
    (arn, children[0].clone())
}

#[test]
fn a_chained_invoke_starts_an_execution_of_its_own() {
    let svc = service();
    let mut update = invoke("ci", "target", Some(r#""hi""#));
    update.chained_invoke_options.as_mut().unwrap().tenant_id = Some("tenant-1".to_owned());
    let (arn, child) = started_invoke(&svc, update);
    assert_ne!(arn, child);
    assert!(
        child.starts_with(
            "arn:aws:lambda:us-east-1:000000000000:function:target/durable-execution/"
        ),
        "{child}"
    );

    let events = history(&svc, &arn);
    let started = &events[1];
    assert_eq!(started.event_type, EventType::ChainedInvokeStarted);
    assert_eq!(started.name.as_deref(), Some("ci-name"));
    assert_eq!(started.sub_type.as_deref(), Some("ChainedInvoke"));
    let details = started.chained_invoke_started_details.as_ref().unwrap();
    assert_eq!(details.function_name, "target");
    assert_eq!(details.tenant_id.as_deref(), Some("tenant-1"));
    assert_eq!(details.input.payload.as_deref(), Some(r#""hi""#));
    assert_eq!(details.executed_version.as_deref(), Some("$LATEST"));
    assert_eq!(
        details.durable_execution_arn.as_deref(),
        Some(child.as_str())
    );
    let json = serde_json::to_value(started).unwrap();
    assert_eq!(
        json["ChainedInvokeStartedDetails"]["ExecutedVersion"],
        "$LATEST"
    );

    svc.with_execution(&child, |c| {
        assert_eq!(c.function_name(), "target");
        assert_eq!(c.input(), r#""hi""#);
        assert_eq!(c.parent_arn(), Some(arn.as_str()));
        assert_eq!(c.status(), &ExecutionStatus::Running);
        assert_eq!(c.history()[0].event_type, EventType::ExecutionStarted);
    })
    .unwrap();
    assert_eq!(svc.next_step(&child).unwrap(), NextStep::Invoke);
    // The caller waits on the child: PENDING was accepted, nothing is due.
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Idle);
}

#[test]
fn a_chained_invoke_without_payload_gives_the_target_an_empty_object() {
    let svc = service();
    let (_, child) = started_invoke(&svc, invoke("ci", "target", None));
    assert_eq!(
        svc.with_execution(&child, |c| c.input().to_owned())
            .unwrap(),
        "{}"
    );
}

#[test]
fn a_succeeded_child_succeeds_the_chained_invoke_and_wakes_the_caller() {
    let svc = service();
    let (arn, child) = started_invoke(&svc, invoke("ci", "target", Some("1")));
    svc.clock().advance_to(T0 + 10);
    svc.begin_invocation(&child).unwrap();
    assert_eq!(
        svc.complete_invocation(&child, succeeded(r#"{"doubled":2}"#))
            .unwrap(),
        NextStep::Finished(ExecutionStatus::Succeeded)
    );
    let op = record(&svc, &arn, "ci");
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.end_timestamp, Some(T0 + 10));
    assert_eq!(
        op.chained_invoke_details.unwrap().result.as_deref(),
        Some(r#"{"doubled":2}"#)
    );
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::ChainedInvokeSucceeded);
    assert_eq!(
        last.chained_invoke_succeeded_details
            .unwrap()
            .result
            .payload
            .as_deref(),
        Some(r#"{"doubled":2}"#)
    );
    assert!(svc.running_chained_invokes(&arn).unwrap().is_empty());
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    let invocation = svc.begin_invocation(&arn).unwrap();
    assert_eq!(
        invocation.input.updated_operation_ids.as_deref(),
        Some(&["ci".to_owned()][..])
    );
}

#[test]
fn a_failed_child_fails_the_chained_invoke_with_its_error() {
    let svc = service();
    let (arn, child) = started_invoke(&svc, invoke("ci", "target", Some("1")));
    svc.begin_invocation(&child).unwrap();
    let error = ErrorObject::new("ValueError", "bad input");
    svc.complete_invocation(&child, failed(error.clone()))
        .unwrap();
    let op = record(&svc, &arn, "ci");
    assert_eq!(op.status, OperationStatus::Failed);
    assert_eq!(
        op.chained_invoke_details.unwrap().error,
        Some(error.clone())
    );
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::ChainedInvokeFailed);
    assert_eq!(
        last.chained_invoke_failed_details.unwrap().error.payload,
        Some(error)
    );
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
}

#[test]
fn a_stopped_child_stops_the_chained_invoke() {
    let svc = service();
    let (arn, child) = started_invoke(&svc, invoke("ci", "target", Some("1")));
    let error = ErrorObject::new("Operator", "enough");
    assert_eq!(svc.stop_execution(&child, Some(error.clone())).unwrap(), T0);
    assert_eq!(
        svc.next_step(&child).unwrap(),
        NextStep::Finished(ExecutionStatus::Stopped)
    );
    let child_events = history(&svc, &child);
    assert_eq!(
        types(&child_events),
        ["ExecutionStarted", "ExecutionStopped"]
    );
    assert_eq!(
        child_events[1]
            .execution_stopped_details
            .clone()
            .unwrap()
            .error
            .payload,
        Some(error.clone())
    );
    let op = record(&svc, &arn, "ci");
    assert_eq!(op.status, OperationStatus::Stopped);
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::ChainedInvokeStopped);
    assert_eq!(
        last.chained_invoke_stopped_details.unwrap().error.payload,
        Some(error)
    );
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
}

#[test]
fn a_timed_out_child_times_out_the_chained_invoke() {
    // Execution timeouts are not modelled; end the child by hand.
    let svc = service();
    let (arn, child) = started_invoke(&svc, invoke("ci", "target", Some("1")));
    let error = ErrorObject::new("TimeoutError", "too slow");
    {
        let mut state = svc.lock();
        let exec = state.store.get_mut(&child).unwrap();
        exec.status = ExecutionStatus::TimedOut;
        exec.error = Some(error.clone());
        propagate_end(&mut *state.store, &child, T0).unwrap();
    }
    let op = record(&svc, &arn, "ci");
    assert_eq!(op.status, OperationStatus::TimedOut);
    let last = history(&svc, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::ChainedInvokeTimedOut);
    assert_eq!(
        last.chained_invoke_timed_out_details.unwrap().error.payload,
        Some(error)
    );
}

/// The error names how the host makes a function known: a `durable dev`
/// user is told about `--function`, not about `LocalRunner`.
#[test]
fn the_unknown_function_error_names_the_hosts_fix() {
    let config = ServiceConfig {
        unknown_function_hint: "serve it with durable dev --function NAME=PROGRAM|URL".to_owned(),
        ..ServiceConfig::default()
    };
    let svc = LocalService::with_store(
        Box::new(crate::MemoryStore::new()),
        Clock::virtual_at(T0),
        config,
    );
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(&svc, &arn, &token, vec![invoke("ci", "payments", None)]);
    let message = delta[0]
        .chained_invoke_details
        .clone()
        .and_then(|d| d.error)
        .and_then(|e| e.error_message)
        .unwrap();
    assert!(
        message.contains("Function not found: payments"),
        "{message}"
    );
    assert!(
        message.contains("durable dev --function NAME="),
        "{message}"
    );
    assert!(!message.contains("LocalRunner"), "{message}");
}

#[test]
fn invoking_an_unregistered_function_fails_the_operation_at_once() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(&svc, &arn, &token, vec![invoke("ci", "nobody", Some("1"))]);
    // The START's own delta already carries the failure.
    assert_eq!(delta.len(), 1);
    assert_eq!(delta[0].status, OperationStatus::Failed);
    let error = delta[0]
        .chained_invoke_details
        .clone()
        .unwrap()
        .error
        .unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RESOURCE_NOT_FOUND));
    let message = error.error_message.unwrap();
    assert!(message.contains("Function not found: nobody"), "{message}");
    assert!(message.contains("register_function"), "{message}");

    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "ChainedInvokeStarted",
            "ChainedInvokeFailed"
        ]
    );
    let started = events[1].chained_invoke_started_details.as_ref().unwrap();
    assert_eq!(started.function_name, "nobody");
    assert_eq!(started.durable_execution_arn, None);
    assert!(svc.running_chained_invokes(&arn).unwrap().is_empty());
    assert_eq!(svc.execution_arns().len(), 1);
    // Nothing to re-invoke for: the caller saw it in the delta.
    assert!(!svc.is_function_registered("nobody"));
    let err = svc.complete_invocation(&arn, pending());
    assert!(matches!(err, Ok(NextStep::Invoke)), "{err:?}");
    let completed = history(&svc, &arn).pop().unwrap();
    let error = completed
        .invocation_completed_details
        .unwrap()
        .error
        .unwrap();
    assert!(
        error
            .payload
            .unwrap()
            .error_message
            .unwrap()
            .contains("no pending operations"),
        "a PENDING output with nothing pending is a failed invocation"
    );
}

#[test]
fn functions_are_found_by_arn_and_qualifier_too() {
    let svc = service();
    assert!(svc.is_function_registered("target"));
    assert!(svc.is_function_registered("target:$LATEST"));
    assert!(svc.is_function_registered("arn:aws:lambda:us-east-1:123456789012:function:target"));
    assert!(svc.is_function_registered("arn:aws:lambda:us-east-1:123456789012:function:target:7"));
    assert!(!svc.is_function_registered("targets"));
    let (arn, child) = started_invoke(
        &svc,
        invoke(
            "ci",
            "arn:aws:lambda:us-east-1:123456789012:function:target:prod",
            None,
        ),
    );
    assert_eq!(
        svc.with_execution(&child, |c| c.function_name().to_owned())
            .unwrap(),
        "target"
    );
    let started = history(&svc, &arn)[1]
        .chained_invoke_started_details
        .clone()
        .unwrap();
    assert_eq!(
        started.function_name,
        "arn:aws:lambda:us-east-1:123456789012:function:target:prod"
    );
}

#[test]
fn cancelling_a_chained_invoke_stops_its_execution() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![invoke("ci", "target", Some("1"))]);
    let child = svc.running_chained_invokes(&arn).unwrap()[0].clone();
    let mut cancel =
        OperationUpdate::new("ci", OperationType::ChainedInvoke, OperationAction::Cancel);
    cancel.sub_type = Some("ChainedInvoke".to_owned());
    cancel.name = Some("ci-name".to_owned());
    let (_, delta) = ok(&svc, &arn, &token, vec![cancel]);
    assert_eq!(delta[0].status, OperationStatus::Cancelled);
    assert_eq!(
        types(&history(&svc, &arn))[1..],
        ["ChainedInvokeStarted", "ChainedInvokeStopped"]
    );
    assert!(svc.running_chained_invokes(&arn).unwrap().is_empty());
    assert_eq!(
        svc.next_step(&child).unwrap(),
        NextStep::Finished(ExecutionStatus::Stopped)
    );
    let stopped = history(&svc, &child).pop().unwrap();
    assert_eq!(stopped.event_type, EventType::ExecutionStopped);
    let message = stopped
        .execution_stopped_details
        .unwrap()
        .error
        .payload
        .unwrap()
        .error_message
        .unwrap();
    assert!(message.contains("cancelled"), "{message}");
    // The caller is not woken by its own cancel.
    assert!(!svc.with_execution(&arn, |e| e.wake).unwrap());
}

// ----- stop -----

#[test]
fn stop_execution_ends_a_running_execution() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![wait("w", 60)]);
    svc.clock().advance_to(T0 + 5);
    assert_eq!(svc.stop_execution(&arn, None).unwrap(), T0 + 5);

    svc.with_execution(&arn, |e| {
        assert_eq!(e.status(), &ExecutionStatus::Stopped);
        assert_eq!(e.end_timestamp(), Some(T0 + 5));
        let record = e.operations().next().unwrap();
        assert_eq!(record.status, OperationStatus::Stopped);
        assert_eq!(
            e.error().unwrap().error_message.as_deref(),
            Some("Execution stopped by user request")
        );
    })
    .unwrap();
    // The invocation in progress can no longer checkpoint…
    let err = svc.checkpoint_now(&arn, &token, vec![]).unwrap_err();
    assert!(
        err.message().starts_with("Invalid Checkpoint Token"),
        "{err}"
    );
    // …and its output no longer matters.
    assert_eq!(
        svc.complete_invocation(&arn, succeeded("1")).unwrap(),
        NextStep::Finished(ExecutionStatus::Stopped)
    );
    assert_eq!(
        types(&history(&svc, &arn)),
        [
            "ExecutionStarted",
            "WaitStarted",
            "ExecutionStopped",
            "InvocationCompleted"
        ]
    );
    // The wait timer died with it; stopping again changes nothing.
    svc.clock().advance_to(T0 + 120_000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 0);
    assert_eq!(svc.stop_execution(&arn, None).unwrap(), T0 + 5);
    assert_eq!(history(&svc, &arn).len(), 4);
    assert!(matches!(
        svc.begin_invocation(&arn),
        Err(LocalError::Ended { .. })
    ));
    assert!(matches!(
        svc.stop_execution("arn:nope", None),
        Err(LocalError::NotFound { .. })
    ));
}

// ----- wait_for_condition state -----

#[test]
fn a_wait_for_condition_retry_records_its_state_as_step_succeeded() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let wfc = |action: OperationAction| {
        let mut u = OperationUpdate::new("poll", OperationType::Step, action);
        u.sub_type = Some("WaitForCondition".to_owned());
        u.name = Some("poll-status".to_owned());
        u
    };
    let mut retry = wfc(OperationAction::Retry);
    retry.payload = Some("1".to_owned());
    retry.step_options = Some(durable_core::wire::StepOptions {
        next_attempt_delay_seconds: 2,
    });
    let (_, delta) = ok(&svc, &arn, &token, vec![wfc(OperationAction::Start), retry]);
    // The record carries the state for the next attempt.
    let details = delta[0].step_details.clone().unwrap();
    assert_eq!(delta[0].status, OperationStatus::Pending);
    assert_eq!(details.result.as_deref(), Some("1"));
    assert_eq!(details.attempt, 1);
    assert_eq!(details.next_attempt_timestamp, Some(T0 + 2000));

    let events = history(&svc, &arn);
    let retried = events.last().unwrap();
    assert_eq!(retried.event_type, EventType::StepSucceeded);
    assert_eq!(retried.sub_type.as_deref(), Some("WaitForCondition"));
    assert_eq!(retried.name.as_deref(), Some("poll-status"));
    let json = serde_json::to_value(retried).unwrap();
    assert_eq!(json["StepSucceededDetails"]["Result"]["Payload"], "1");
    assert_eq!(
        json["StepSucceededDetails"]["RetryDetails"],
        serde_json::json!({"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2})
    );

    // The next attempt starts from READY and still sees the state.
    svc.complete_invocation(&arn, pending()).unwrap();
    svc.clock().advance_to(T0 + 2000);
    let invocation = svc.begin_invocation(&arn).unwrap();
    let record = &invocation.input.initial_execution_state.operations[1];
    assert_eq!(record.status, OperationStatus::Ready);
    assert_eq!(
        record.step_details.as_ref().unwrap().result.as_deref(),
        Some("1")
    );
}

#[test]
fn callback_started_omits_only_the_timeouts_that_are_not_set() {
    let svc = service();
    let (arn, token) = begin(&svc);
    ok(
        &svc,
        &arn,
        &token,
        vec![callback("t", "t", 3, 0), callback("h", "h", 0, 5)],
    );
    let events = history(&svc, &arn);
    let details =
        |i: usize| serde_json::to_value(&events[i]).unwrap()["CallbackStartedDetails"].clone();
    let timeout_only = details(1);
    assert_eq!(timeout_only["Timeout"], 3);
    assert!(
        timeout_only.get("HeartbeatTimeout").is_none(),
        "{timeout_only}"
    );
    let heartbeat_only = details(2);
    assert_eq!(heartbeat_only["HeartbeatTimeout"], 5);
    assert!(heartbeat_only.get("Timeout").is_none(), "{heartbeat_only}");
    assert!(
        heartbeat_only["CallbackId"]
            .as_str()
            .is_some_and(|id| id.len() == 32)
    );
}
