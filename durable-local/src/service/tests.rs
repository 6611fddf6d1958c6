//! Service-side tests: the Backend methods driven by hand-made updates.

use durable_core::wire::{
    ContextOptions, ErrorObject, Event, EventType, ExecutionStatus, InvocationOutput,
    OperationAction, OperationStatus, OperationType, OperationUpdate, StepOptions, WaitOptions,
};
use durable_core::{Backend, BackendError};

use super::*;
use crate::store::StoredExecution;
use durable_core::limits::{MAX_EXECUTION_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES};
use durable_core::wire::Operation;

const T0: i64 = 1_700_000_000_000;

fn service() -> LocalService {
    LocalService::new(Clock::virtual_at(T0))
}

fn service_with_page(page_size: usize) -> LocalService {
    let config = ServiceConfig {
        page_size,
        ..ServiceConfig::default()
    };
    LocalService::with_store(Box::new(MemoryStore::new()), Clock::virtual_at(T0), config)
}

/// Starts an execution and its first invocation: (arn, token).
fn begin(svc: &LocalService) -> (String, String) {
    let started = svc
        .start_execution("fn", None, r#"{"x":1}"#.to_owned())
        .unwrap();
    let invocation = svc.begin_invocation(&started.arn).unwrap();
    (started.arn, invocation.input.checkpoint_token.unwrap())
}

fn update(
    id: &str,
    operation_type: OperationType,
    sub_type: &str,
    action: OperationAction,
) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, operation_type, action);
    u.sub_type = Some(sub_type.to_owned());
    u.name = Some(format!("{id}-name"));
    u
}

fn step(id: &str, action: OperationAction) -> OperationUpdate {
    update(id, OperationType::Step, "Step", action)
}

fn succeed_step(id: &str, payload: &str) -> OperationUpdate {
    let mut u = step(id, OperationAction::Succeed);
    u.payload = Some(payload.to_owned());
    u
}

fn fail_step(id: &str, message: &str) -> OperationUpdate {
    let mut u = step(id, OperationAction::Fail);
    u.error = Some(ErrorObject::new("ValueError", message));
    u
}

fn retry_step(id: &str, message: &str, delay: i32) -> OperationUpdate {
    let mut u = step(id, OperationAction::Retry);
    u.error = Some(ErrorObject::new("ValueError", message));
    u.step_options = Some(StepOptions {
        next_attempt_delay_seconds: delay,
    });
    u
}

fn wait(id: &str, seconds: i32) -> OperationUpdate {
    let mut u = update(id, OperationType::Wait, "Wait", OperationAction::Start);
    u.wait_options = Some(WaitOptions {
        wait_seconds: seconds,
    });
    u
}

fn context(id: &str, action: OperationAction) -> OperationUpdate {
    update(id, OperationType::Context, "RunInChildContext", action)
}

fn child_step(id: &str, parent: &str, action: OperationAction) -> OperationUpdate {
    let mut u = step(id, action);
    u.parent_id = Some(parent.to_owned());
    u
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

/// Checkpoints and returns the new token.
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

/// Checkpoints a batch that must be rejected; returns the message.
fn rejected(svc: &LocalService, arn: &str, token: &str, updates: Vec<OperationUpdate>) -> String {
    let err = svc.checkpoint_now(arn, token, updates).unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValueException", "{err}");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable(), "validation errors are fatal: {err}");
    err.message().to_owned()
}

fn assert_rejected(updates: Vec<OperationUpdate>, expected: &str) {
    let svc = service();
    let (arn, token) = begin(&svc);
    let message = rejected(&svc, &arn, &token, updates);
    assert!(
        message.contains(expected),
        "{message:?} should contain {expected:?}"
    );
}

fn pending() -> InvocationResult {
    InvocationResult::Output(InvocationOutput::pending())
}

fn succeeded(result: &str) -> InvocationResult {
    InvocationResult::Output(InvocationOutput::succeeded(Some(result.to_owned())))
}

// ----- starting -----

#[test]
fn start_mints_an_arn_and_the_execution_record() {
    let svc = service();
    let started = svc
        .start_execution("orders", Some("order-1"), r#"{"x":1}"#.to_owned())
        .unwrap();
    assert!(started.created);
    let prefix = "arn:aws:lambda:us-east-1:000000000000:function:orders/durable-execution/order-1/";
    assert!(started.arn.starts_with(prefix), "{}", started.arn);
    let id = started.arn.rsplit('/').next().unwrap();
    assert_eq!(id.len(), 36);

    let invocation = svc.begin_invocation(&started.arn).unwrap();
    let input = invocation.input;
    assert_eq!(
        input.durable_execution_arn.as_deref(),
        Some(started.arn.as_str())
    );
    assert_eq!(input.updated_operation_ids, Some(vec![]));
    assert_eq!(input.initial_execution_state.next_marker, None);
    let ops = input.initial_execution_state.operations;
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].id, id);
    assert_eq!(ops[0].operation_type, OperationType::Execution);
    assert_eq!(ops[0].status, OperationStatus::Started);
    assert_eq!(ops[0].name.as_deref(), Some("order-1"));
    assert_eq!(ops[0].start_timestamp, Some(T0));
    assert_eq!(
        ops[0]
            .execution_details
            .as_ref()
            .unwrap()
            .input_payload
            .as_deref(),
        Some(r#"{"x":1}"#)
    );

    let events = history(&svc, &started.arn);
    assert_eq!(types(&events), ["ExecutionStarted"]);
    assert_eq!(events[0].event_id, 1);
    assert_eq!(events[0].event_timestamp, T0);
    let details = events[0].execution_started_details.as_ref().unwrap();
    assert_eq!(details.input.payload.as_deref(), Some(r#"{"x":1}"#));
}

#[test]
fn start_by_name_is_idempotent_for_the_same_input() {
    let svc = service();
    let first = svc
        .start_execution("fn", Some("order-1"), "1".to_owned())
        .unwrap();
    let again = svc
        .start_execution("fn", Some("order-1"), "1".to_owned())
        .unwrap();
    assert_eq!(
        again,
        StartedExecution {
            arn: first.arn.clone(),
            created: false
        }
    );
    match svc.start_execution("fn", Some("order-1"), "2".to_owned()) {
        Err(err @ LocalError::AlreadyStarted { .. }) => {
            assert!(
                err.to_string()
                    .contains("DurableExecutionAlreadyStartedException")
            );
            assert_eq!(
                err.to_backend_error().code(),
                "DurableExecutionAlreadyStartedException"
            );
        }
        other => panic!("expected AlreadyStarted, got {other:?}"),
    }
    // Names are per function; unnamed executions never collide.
    assert!(
        svc.start_execution("other-fn", Some("order-1"), "2".to_owned())
            .unwrap()
            .created
    );
    let a = svc.start_execution("fn", None, "1".to_owned()).unwrap();
    let b = svc.start_execution("fn", None, "1".to_owned()).unwrap();
    assert_ne!(a.arn, b.arn);
    assert_eq!(svc.find_by_name("fn", "order-1"), Some(first.arn));
}

#[test]
fn bad_execution_names_are_rejected() {
    let svc = service();
    for name in ["", "has/slash", "has space", &"x".repeat(65)] {
        assert!(
            matches!(
                svc.start_execution("fn", Some(name), "1".to_owned()),
                Err(LocalError::InvalidName { .. })
            ),
            "{name:?}"
        );
    }
}

#[test]
fn unknown_executions_are_not_found() {
    let svc = service();
    let err = svc.checkpoint_now("arn:nope", "t", vec![]).unwrap_err();
    assert_eq!(err.code(), "ResourceNotFoundException");
    assert!(matches!(
        svc.begin_invocation("arn:nope"),
        Err(LocalError::NotFound { .. })
    ));
}

// ----- token chaining (§4.2) -----

#[test]
fn tokens_chain_and_stale_tokens_are_rejected() {
    let svc = service();
    let (arn, t1) = begin(&svc);
    let (t2, delta) = ok(&svc, &arn, &t1, vec![]);
    assert_ne!(t1, t2);
    assert!(delta.is_empty());

    let stale = svc.checkpoint_now(&arn, &t1, vec![]).unwrap_err();
    assert_eq!(stale.code(), "InvalidParameterValueException");
    assert_eq!(stale.status(), Some(400));
    assert!(
        stale.message().starts_with("Invalid Checkpoint Token"),
        "{stale}"
    );
    assert!(stale.is_retryable());

    let (t3, _) = ok(&svc, &arn, &t2, vec![]);
    // A new invocation gets a fresh token; the previous chain is dead.
    let t4 = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    assert_ne!(t3, t4);
    assert!(svc.checkpoint_now(&arn, &t3, vec![]).is_err());
    assert!(svc.get_state_now(&arn, &t3, "").is_err());
    ok(&svc, &arn, &t4, vec![]);
}

#[test]
fn the_backend_trait_reaches_the_same_service() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let backend: std::sync::Arc<dyn Backend> = std::sync::Arc::new(svc.clone());
    let response = futures::executor::block_on(backend.checkpoint(
        &arn,
        &token,
        vec![step("s1", OperationAction::Start), succeed_step("s1", "1")],
    ))
    .unwrap();
    let next = response.checkpoint_token.unwrap();
    let page = futures::executor::block_on(backend.get_state(&arn, &next, "")).unwrap();
    assert_eq!(page.operations.len(), 2);
    assert_eq!(page.operations[1].status, OperationStatus::Succeeded);
    let err: BackendError =
        futures::executor::block_on(backend.get_state(&arn, &token, "")).unwrap_err();
    assert!(err.message().starts_with("Invalid Checkpoint Token"));
}

// ----- applying updates and events -----

#[test]
fn step_start_and_succeed_in_one_batch() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![
            step("s1", OperationAction::Start),
            succeed_step("s1", "\"hi\""),
        ],
    );
    assert_eq!(delta.len(), 1);
    let op = &delta[0];
    assert_eq!(op.id, "s1");
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.sub_type.as_deref(), Some("Step"));
    assert_eq!(op.name.as_deref(), Some("s1-name"));
    assert_eq!(op.start_timestamp, Some(T0));
    assert_eq!(op.end_timestamp, Some(T0));
    let details = op.step_details.as_ref().unwrap();
    assert_eq!(details.attempt, 1);
    assert_eq!(details.result.as_deref(), Some("\"hi\""));

    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        ["ExecutionStarted", "StepStarted", "StepSucceeded"]
    );
    let started = &events[1];
    assert_eq!(
        (
            started.event_id,
            started.id.as_deref(),
            started.sub_type.as_deref(),
            started.name.as_deref()
        ),
        (2, Some("s1"), Some("Step"), Some("s1-name"))
    );
    assert!(started.step_started_details.is_some());
    let done = events[2].step_succeeded_details.as_ref().unwrap();
    assert_eq!(done.result.payload.as_deref(), Some("\"hi\""));
    assert!(!done.result.truncated);
    let retry = done.retry_details.as_ref().unwrap();
    assert_eq!(
        (retry.current_attempt, retry.next_attempt_delay_seconds),
        (1, None)
    );
    // The wire form matches the conformance shape.
    let json = serde_json::to_value(&events[2]).unwrap();
    assert_eq!(
        json["StepSucceededDetails"],
        serde_json::json!({"Result":{"Payload":"\"hi\"","Truncated":false},"RetryDetails":{"CurrentAttempt":1}})
    );
}

#[test]
fn step_fail_records_the_error() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![step("s1", OperationAction::Start)]);
    let (_, delta) = ok(&svc, &arn, &token, vec![fail_step("s1", "boom")]);
    assert_eq!(delta[0].status, OperationStatus::Failed);
    assert_eq!(delta[0].step_details.as_ref().unwrap().attempt, 1);
    let events = history(&svc, &arn);
    let failed = events[2].step_failed_details.as_ref().unwrap();
    assert_eq!(
        failed
            .error
            .payload
            .as_ref()
            .unwrap()
            .error_message
            .as_deref(),
        Some("boom")
    );
    assert_eq!(failed.retry_details.as_ref().unwrap().current_attempt, 1);
    assert_eq!(
        failed
            .retry_details
            .as_ref()
            .unwrap()
            .next_attempt_delay_seconds,
        None
    );
}

#[test]
fn a_step_retry_cycle_records_the_conformance_sequence() {
    // CT step/1-11: StepStarted, StepFailed{1, delay}, InvocationCompleted,
    // StepStarted, StepSucceeded{2}, InvocationCompleted, ExecutionSucceeded.
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![
            step("s1", OperationAction::Start),
            retry_step("s1", "flaky", 3),
        ],
    );
    let op = &delta[0];
    assert_eq!(op.status, OperationStatus::Pending);
    let details = op.step_details.as_ref().unwrap();
    assert_eq!(details.attempt, 1);
    assert_eq!(details.next_attempt_timestamp, Some(T0 + 3_000));
    assert_eq!(
        details.error.as_ref().unwrap().error_message.as_deref(),
        Some("flaky")
    );

    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::WaitUntil(T0 + 3_000)
    );
    // Not due yet: nothing fires.
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 0);
    svc.clock().advance_to(T0 + 3_000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);
    assert_eq!(record(&svc, &arn, "s1").status, OperationStatus::Ready);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);

    let invocation = svc.begin_invocation(&arn).unwrap();
    assert_eq!(
        invocation.input.updated_operation_ids,
        Some(vec!["s1".to_owned()])
    );
    let ready = &invocation.input.initial_execution_state.operations[1];
    assert_eq!(ready.status, OperationStatus::Ready);
    let token = invocation.input.checkpoint_token.unwrap();
    let (token, delta) = ok(&svc, &arn, &token, vec![step("s1", OperationAction::Start)]);
    assert_eq!(delta[0].status, OperationStatus::Started);
    assert_eq!(delta[0].step_details.as_ref().unwrap().attempt, 1);
    let (_, delta) = ok(&svc, &arn, &token, vec![succeed_step("s1", "\"ok\"")]);
    assert_eq!(delta[0].step_details.as_ref().unwrap().attempt, 2);
    assert_eq!(delta[0].step_details.as_ref().unwrap().error, None);
    assert_eq!(
        svc.complete_invocation(&arn, succeeded("\"done\""))
            .unwrap(),
        NextStep::Finished(ExecutionStatus::Succeeded)
    );

    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "StepStarted",
            "StepFailed",
            "InvocationCompleted",
            "StepStarted",
            "StepSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8]);
    let retry = events[2].step_failed_details.as_ref().unwrap();
    assert_eq!(
        retry.error.payload.as_ref().unwrap().error_type.as_deref(),
        Some("ValueError")
    );
    let retry = retry.retry_details.as_ref().unwrap();
    assert_eq!(
        (retry.current_attempt, retry.next_attempt_delay_seconds),
        (1, Some(3))
    );
    let done = events[5].step_succeeded_details.as_ref().unwrap();
    assert_eq!(done.retry_details.as_ref().unwrap().current_attempt, 2);
    assert_eq!(
        done.retry_details
            .as_ref()
            .unwrap()
            .next_attempt_delay_seconds,
        None
    );
    assert_eq!(events[4].event_timestamp, T0 + 3_000);
    let inv = events[3].invocation_completed_details.as_ref().unwrap();
    assert_eq!(
        (inv.start_timestamp, inv.end_timestamp, inv.error.as_ref()),
        (T0, T0, None)
    );
    assert_eq!(events[3].id, None);
    let end = events[7].execution_succeeded_details.as_ref().unwrap();
    assert_eq!(end.result.payload.as_deref(), Some("\"done\""));
}

#[test]
fn a_retry_with_payload_is_a_step_succeeded_event() {
    // wait_for_condition: RETRY carries the state as Payload.
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut retry = update(
        "c1",
        OperationType::Step,
        "WaitForCondition",
        OperationAction::Retry,
    );
    retry.payload = Some("{\"n\":1}".to_owned());
    retry.step_options = Some(StepOptions {
        next_attempt_delay_seconds: 5,
    });
    let start = update(
        "c1",
        OperationType::Step,
        "WaitForCondition",
        OperationAction::Start,
    );
    let (_, delta) = ok(&svc, &arn, &token, vec![start, retry]);
    assert_eq!(
        delta[0].step_details.as_ref().unwrap().result.as_deref(),
        Some("{\"n\":1}")
    );
    let events = history(&svc, &arn);
    assert_eq!(events[2].event_type, EventType::StepSucceeded);
    assert_eq!(events[2].sub_type.as_deref(), Some("WaitForCondition"));
    let details = events[2].step_succeeded_details.as_ref().unwrap();
    assert_eq!(details.result.payload.as_deref(), Some("{\"n\":1}"));
    assert_eq!(
        details
            .retry_details
            .as_ref()
            .unwrap()
            .next_attempt_delay_seconds,
        Some(5)
    );
}

#[test]
fn wait_timer_fires_at_its_scheduled_end() {
    // CT wait/2-3: WaitStarted, InvocationCompleted, WaitSucceeded, ...
    let svc = service();
    let (arn, token) = begin(&svc);
    let (_, delta) = ok(&svc, &arn, &token, vec![wait("w1", 10)]);
    assert_eq!(delta[0].status, OperationStatus::Started);
    assert_eq!(
        delta[0]
            .wait_details
            .as_ref()
            .unwrap()
            .scheduled_end_timestamp,
        Some(T0 + 10_000)
    );
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::WaitUntil(T0 + 10_000)
    );
    svc.clock().advance_to(T0 + 9_999);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 0);
    svc.clock().advance_to(T0 + 10_000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);
    let op = record(&svc, &arn, "w1");
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.end_timestamp, Some(T0 + 10_000));

    let invocation = svc.begin_invocation(&arn).unwrap();
    assert_eq!(
        invocation.input.updated_operation_ids,
        Some(vec!["w1".to_owned()])
    );
    svc.complete_invocation(&arn, succeeded("null")).unwrap();
    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "WaitStarted",
            "InvocationCompleted",
            "WaitSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let started = events[1].wait_started_details.as_ref().unwrap();
    assert_eq!(
        (started.duration, started.scheduled_end_timestamp),
        (10, T0 + 10_000)
    );
    assert_eq!(
        events[3].wait_succeeded_details.as_ref().unwrap().duration,
        10
    );
    assert_eq!(events[3].id.as_deref(), Some("w1"));
    assert_eq!(events[3].name.as_deref(), Some("w1-name"));
    assert_eq!(events[3].sub_type.as_deref(), Some("Wait"));
    assert_eq!(events[3].event_timestamp, T0 + 10_000);
}

#[test]
fn timer_changes_reach_the_next_checkpoint_delta() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![wait("w1", 1)]);
    // Time passes while the invocation keeps running (a real clock would).
    svc.clock().advance_to(T0 + 1_000);
    let (_, delta) = ok(&svc, &arn, &token, vec![]);
    assert_eq!(delta.len(), 1);
    assert_eq!(delta[0].id, "w1");
    assert_eq!(delta[0].status, OperationStatus::Succeeded);
}

#[test]
fn wait_cancel_cancels_and_disarms_the_timer() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(&svc, &arn, &token, vec![wait("w1", 5)]);
    let cancel = update("w1", OperationType::Wait, "Wait", OperationAction::Cancel);
    let (_, delta) = ok(&svc, &arn, &token, vec![cancel]);
    assert_eq!(delta[0].status, OperationStatus::Cancelled);
    assert_eq!(history(&svc, &arn)[2].event_type, EventType::WaitCancelled);
    // Nothing is pending any more: PENDING is not a valid answer.
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::Invoke
    );
}

#[test]
fn child_contexts_record_parents_and_replay_children() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut succeed = context("c1", OperationAction::Succeed);
    succeed.payload = Some(String::new());
    succeed.context_options = Some(ContextOptions {
        replay_children: true,
    });
    let (_, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![
            context("c1", OperationAction::Start),
            child_step("s1", "c1", OperationAction::Start),
            {
                let mut u = child_step("s1", "c1", OperationAction::Succeed);
                u.payload = Some("1".to_owned());
                u
            },
            succeed,
        ],
    );
    assert_eq!(delta.len(), 2);
    let ctx = delta.iter().find(|op| op.id == "c1").unwrap();
    assert_eq!(ctx.status, OperationStatus::Succeeded);
    let details = ctx.context_details.as_ref().unwrap();
    assert_eq!(details.replay_children, Some(true));
    assert_eq!(details.result.as_deref(), Some(""));
    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "ContextStarted",
            "StepStarted",
            "StepSucceeded",
            "ContextSucceeded"
        ]
    );
    assert_eq!(events[2].parent_id.as_deref(), Some("c1"));
    assert_eq!(events[1].parent_id, None);
    assert_eq!(events[1].sub_type.as_deref(), Some("RunInChildContext"));
    assert!(events[1].context_started_details.is_some());
    let result = &events[4].context_succeeded_details.as_ref().unwrap().result;
    assert_eq!(result.payload.as_deref(), Some(""));
}

#[test]
fn context_fail_records_the_error() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut fail = context("c1", OperationAction::Fail);
    fail.error = Some(ErrorObject::new("ChildContextError", "inner"));
    let (_, delta) = ok(
        &svc,
        &arn,
        &token,
        vec![context("c1", OperationAction::Start), fail],
    );
    assert_eq!(delta[0].status, OperationStatus::Failed);
    let events = history(&svc, &arn);
    let failed = events[2].context_failed_details.as_ref().unwrap();
    assert_eq!(
        failed.error.payload.as_ref().unwrap().error_type.as_deref(),
        Some("ChildContextError")
    );
}

// ----- validation (§3.4) -----

#[test]
fn a_rejected_batch_changes_nothing() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let message = rejected(
        &svc,
        &arn,
        &token,
        vec![step("s1", OperationAction::Start), wait("w1", 0)],
    );
    assert!(message.contains("w1"), "{message}");
    assert_eq!(types(&history(&svc, &arn)), ["ExecutionStarted"]);
    assert!(
        svc.with_execution(&arn, |e| e.operation("s1").is_none())
            .unwrap()
    );
    // The token is still good.
    ok(&svc, &arn, &token, vec![]);
}

#[test]
fn unknown_and_unsupported_types_and_actions_are_rejected() {
    assert_rejected(
        vec![OperationUpdate::new(
            "x",
            OperationType::parse("TELEPORT"),
            OperationAction::Start,
        )],
        "Unknown operation type TELEPORT (operation x)",
    );
    assert_rejected(
        vec![OperationUpdate::new(
            "x",
            OperationType::Step,
            OperationAction::parse("JUMP"),
        )],
        "Unknown operation action JUMP (operation x)",
    );
    assert_rejected(
        vec![OperationUpdate::new(
            "cb",
            OperationType::Callback,
            OperationAction::Succeed,
        )],
        "Invalid action SUCCEED for a CALLBACK operation (operation cb)",
    );
    assert_rejected(
        vec![OperationUpdate::new(
            "cb",
            OperationType::Callback,
            OperationAction::Cancel,
        )],
        "Invalid action CANCEL for a CALLBACK operation (operation cb)",
    );
    assert_rejected(
        vec![OperationUpdate::new(
            "ci",
            OperationType::ChainedInvoke,
            OperationAction::Succeed,
        )],
        "Invalid action SUCCEED for a CHAINED_INVOKE operation (operation ci)",
    );
    assert_rejected(
        vec![update(
            "w",
            OperationType::Wait,
            "Wait",
            OperationAction::Succeed,
        )],
        "Invalid action SUCCEED for a WAIT operation (operation w)",
    );
    assert_rejected(
        vec![step("s", OperationAction::Cancel)],
        "Invalid action CANCEL for a STEP",
    );
    assert_rejected(
        vec![context("c", OperationAction::Retry)],
        "Invalid action RETRY for a CONTEXT",
    );
    assert_rejected(
        vec![OperationUpdate::new(
            "e",
            OperationType::Execution,
            OperationAction::Start,
        )],
        "Invalid action START for a EXECUTION",
    );
    assert_rejected(
        vec![step("", OperationAction::Start)],
        "Operation Id must not be empty",
    );
}

#[test]
fn an_id_appears_once_per_batch_except_start_then_close() {
    assert_rejected(
        vec![
            step("s", OperationAction::Start),
            step("s", OperationAction::Start),
        ],
        "Cannot update the same operation twice in a single request (operation s)",
    );
    assert_rejected(
        vec![
            step("s", OperationAction::Start),
            succeed_step("s", "1"),
            succeed_step("s", "2"),
        ],
        "same operation twice",
    );
    assert_rejected(vec![wait("w", 1), wait("w", 1)], "same operation twice");
    assert_rejected(
        vec![
            wait("w", 1),
            update("w", OperationType::Wait, "Wait", OperationAction::Cancel),
        ],
        "same operation twice",
    );
    // START then one closing action is fine, for STEP and CONTEXT.
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![step("a", OperationAction::Start), retry_step("a", "x", 1)],
    );
    ok(
        &svc,
        &arn,
        &token,
        vec![
            context("c", OperationAction::Start),
            context("c", OperationAction::Succeed),
        ],
    );
}

#[test]
fn operation_metadata_is_immutable() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![
            context("c", OperationAction::Start),
            step("s", OperationAction::Start),
        ],
    );
    let mut other_type = update(
        "s",
        OperationType::Context,
        "Step",
        OperationAction::Succeed,
    );
    other_type.name = Some("s-name".to_owned());
    let msg = rejected(&svc, &arn, &token, vec![other_type]);
    assert!(
        msg.contains("Inconsistent operation type for operation s"),
        "{msg}"
    );

    let mut other_sub_type = succeed_step("s", "1");
    other_sub_type.sub_type = Some("WaitForCondition".to_owned());
    let msg = rejected(&svc, &arn, &token, vec![other_sub_type]);
    assert!(
        msg.contains("Inconsistent operation subtype for operation s"),
        "{msg}"
    );

    let mut other_name = succeed_step("s", "1");
    other_name.name = Some("renamed".to_owned());
    let msg = rejected(&svc, &arn, &token, vec![other_name]);
    assert!(
        msg.contains("Inconsistent operation name for operation s"),
        "{msg}"
    );

    let mut no_name = succeed_step("s", "1");
    no_name.name = None;
    let msg = rejected(&svc, &arn, &token, vec![no_name]);
    assert!(msg.contains("Inconsistent operation name"), "{msg}");

    let mut other_parent = succeed_step("s", "1");
    other_parent.parent_id = Some("c".to_owned());
    let msg = rejected(&svc, &arn, &token, vec![other_parent]);
    assert!(
        msg.contains("Inconsistent operation parent id for operation s"),
        "{msg}"
    );

    // Within one batch, the close must match its START too.
    let mut renamed = succeed_step("t", "1");
    renamed.name = Some("other".to_owned());
    let msg = rejected(
        &svc,
        &arn,
        &token,
        vec![step("t", OperationAction::Start), renamed],
    );
    assert!(
        msg.contains("Inconsistent operation name for operation t"),
        "{msg}"
    );
}

#[test]
fn parents_must_be_existing_contexts() {
    assert_rejected(
        vec![child_step("s", "nope", OperationAction::Start)],
        "Invalid parent operation id nope for operation s",
    );
    // A STEP is not a parent.
    assert_rejected(
        vec![
            step("p", OperationAction::Start),
            child_step("s", "p", OperationAction::Start),
        ],
        "Invalid parent operation id p",
    );
    // A child before its parent's START in the same batch.
    assert_rejected(
        vec![
            child_step("s", "c", OperationAction::Start),
            context("c", OperationAction::Start),
        ],
        "Invalid parent operation id c",
    );
    // A stored CONTEXT is a parent.
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![context("c", OperationAction::Start)],
    );
    ok(
        &svc,
        &arn,
        &token,
        vec![child_step("s", "c", OperationAction::Start)],
    );
}

#[test]
fn retry_needs_step_options_and_exactly_one_of_payload_and_error() {
    let mut no_options = retry_step("s", "x", 1);
    no_options.step_options = None;
    assert_rejected(
        vec![step("s", OperationAction::Start), no_options],
        "StepOptions are required to RETRY a STEP (operation s)",
    );
    let mut both = retry_step("s", "x", 1);
    both.payload = Some("1".to_owned());
    assert_rejected(
        vec![step("s", OperationAction::Start), both],
        "exactly one of Payload and Error (operation s)",
    );
    let mut neither = retry_step("s", "x", 1);
    neither.error = None;
    assert_rejected(
        vec![step("s", OperationAction::Start), neither],
        "exactly one of Payload and Error",
    );
    assert_rejected(
        vec![step("s", OperationAction::Start), retry_step("s", "x", -1)],
        "must not be negative",
    );
}

#[test]
fn wait_seconds_must_be_in_range() {
    let mut no_options = wait("w", 1);
    no_options.wait_options = None;
    assert_rejected(
        vec![no_options],
        "WaitOptions are required to START a WAIT (operation w)",
    );
    assert_rejected(
        vec![wait("w", 0)],
        "between 1 and 31622400, got 0 (operation w)",
    );
    assert_rejected(vec![wait("w", 31_622_401)], "got 31622401");
    let svc = service();
    let (arn, token) = begin(&svc);
    ok(&svc, &arn, &token, vec![wait("w", 31_622_400)]);
}

#[test]
fn succeed_has_no_error_and_fail_no_payload() {
    let mut with_error = succeed_step("s", "1");
    with_error.error = Some(ErrorObject::new("E", "m"));
    assert_rejected(
        vec![step("s", OperationAction::Start), with_error],
        "Cannot provide an Error for a SUCCEED action (operation s)",
    );
    let mut with_payload = fail_step("s", "m");
    with_payload.payload = Some("1".to_owned());
    assert_rejected(
        vec![step("s", OperationAction::Start), with_payload],
        "Cannot provide a Payload for a FAIL action (operation s)",
    );
    let mut ctx = context("c", OperationAction::Fail);
    ctx.payload = Some("1".to_owned());
    assert_rejected(
        vec![ctx],
        "Cannot provide a Payload for a FAIL action (operation c)",
    );
    let mut exec = OperationUpdate::new("e", OperationType::Execution, OperationAction::Succeed);
    exec.error = Some(ErrorObject::new("E", "m"));
    assert_rejected(
        vec![exec],
        "Cannot provide an Error for a SUCCEED action (operation e)",
    );
}

#[test]
fn the_execution_update_is_last_and_unique() {
    let exec = || {
        OperationUpdate::new(
            "execution-result-1",
            OperationType::Execution,
            OperationAction::Succeed,
        )
    };
    assert_rejected(
        vec![exec(), step("s", OperationAction::Start)],
        "The EXECUTION update must be the last update",
    );
    assert_rejected(
        vec![exec(), exec()],
        "Cannot checkpoint multiple EXECUTION updates",
    );
}

#[test]
fn payload_and_error_sizes_are_limited() {
    let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
    assert_rejected(
        vec![step("s", OperationAction::Start), succeed_step("s", &big)],
        "Payload size 1048577 exceeds the maximum allowed size of 1048576 bytes (operation s)",
    );
    let mut error = fail_step("s", "");
    error.error = Some(ErrorObject::new("E", big.clone()));
    assert_rejected(vec![step("s", OperationAction::Start), error], "Error size");
    // An EXECUTION update may carry up to 6 MiB.
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut exec = OperationUpdate::new(
        "execution-result-1",
        OperationType::Execution,
        OperationAction::Succeed,
    );
    exec.payload = Some("y".repeat(MAX_EXECUTION_PAYLOAD_BYTES + 1));
    let msg = rejected(&svc, &arn, &token, vec![exec.clone()]);
    assert!(
        msg.contains("exceeds the maximum allowed size of 6291456"),
        "{msg}"
    );
    exec.payload = Some(big);
    svc.checkpoint_now(&arn, &token, vec![exec]).unwrap();
}

#[test]
fn transitions_follow_the_status() {
    // STEP: close needs STARTED/READY; START needs new/READY.
    assert_rejected(
        vec![succeed_step("s", "1")],
        "Invalid current STEP state to close: operation s is absent",
    );
    assert_rejected(
        vec![retry_step("s", "x", 1)],
        "Invalid current STEP state to re-attempt",
    );
    let svc = service();
    let (arn, token) = begin(&svc);
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![step("s", OperationAction::Start), succeed_step("s", "1")],
    );
    let msg = rejected(&svc, &arn, &token, vec![step("s", OperationAction::Start)]);
    assert!(
        msg.contains("Invalid current STEP state to start: operation s is SUCCEEDED"),
        "{msg}"
    );
    let msg = rejected(&svc, &arn, &token, vec![fail_step("s", "late")]);
    assert!(msg.contains("Invalid current STEP state to close"), "{msg}");
    // A PENDING step cannot start before its timer fires.
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![step("r", OperationAction::Start), retry_step("r", "x", 5)],
    );
    let msg = rejected(&svc, &arn, &token, vec![step("r", OperationAction::Start)]);
    assert!(msg.contains("operation r is PENDING"), "{msg}");
    // CONTEXT: START only once; closing a closed one fails; closing an unknown one works.
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![
            context("c", OperationAction::Start),
            context("c", OperationAction::Succeed),
        ],
    );
    let msg = rejected(
        &svc,
        &arn,
        &token,
        vec![context("c", OperationAction::Start)],
    );
    assert!(
        msg.contains("Cannot start a CONTEXT that already exists"),
        "{msg}"
    );
    let msg = rejected(
        &svc,
        &arn,
        &token,
        vec![context("c", OperationAction::Fail)],
    );
    assert!(
        msg.contains("Invalid current CONTEXT state to close"),
        "{msg}"
    );
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![context("d", OperationAction::Succeed)],
    );
    // WAIT: START once, CANCEL only while STARTED.
    let (token, _) = ok(&svc, &arn, &token, vec![wait("w", 1)]);
    let msg = rejected(&svc, &arn, &token, vec![wait("w", 1)]);
    assert!(
        msg.contains("Cannot start a WAIT that already exists"),
        "{msg}"
    );
    let cancel = update("nope", OperationType::Wait, "Wait", OperationAction::Cancel);
    let msg = rejected(&svc, &arn, &token, vec![cancel]);
    assert!(
        msg.contains("Cannot cancel a WAIT that does not exist"),
        "{msg}"
    );
}

// ----- pagination -----

#[test]
fn state_is_paginated_in_creation_order() {
    let svc = service_with_page(2);
    let (arn, token) = begin(&svc);
    let updates = (1..=4)
        .map(|i| step(&format!("s{i}"), OperationAction::Start))
        .collect();
    ok(&svc, &arn, &token, updates);
    let invocation = svc.begin_invocation(&arn).unwrap();
    let token = invocation.input.checkpoint_token.unwrap();
    let first = invocation.input.initial_execution_state;
    assert_eq!(first.operations.len(), 2);
    assert_eq!(first.operations[0].operation_type, OperationType::Execution);
    assert_eq!(first.operations[1].id, "s1");
    assert_eq!(first.next_marker.as_deref(), Some("2"));
    let second = svc.get_state_now(&arn, &token, "2").unwrap();
    let ids: Vec<&str> = second.operations.iter().map(|op| op.id.as_str()).collect();
    assert_eq!(ids, ["s2", "s3"]);
    assert_eq!(second.next_marker.as_deref(), Some("4"));
    let last = svc.get_state_now(&arn, &token, "4").unwrap();
    assert_eq!(last.operations.len(), 1);
    assert_eq!(last.operations[0].id, "s4");
    assert_eq!(last.next_marker, None);
    // From the start, and bad markers.
    assert_eq!(
        svc.get_state_now(&arn, &token, "")
            .unwrap()
            .operations
            .len(),
        2
    );
    for marker in ["x", "99", "-1"] {
        let err = svc.get_state_now(&arn, &token, marker).unwrap_err();
        assert!(err.message().contains("Invalid marker"), "{err}");
    }
}

// ----- invocation outputs (§2.2) and failed invocations -----

#[test]
fn pending_with_nothing_pending_is_a_failed_invocation() {
    let svc = service();
    let (arn, _) = begin(&svc);
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::Invoke
    );
    let events = history(&svc, &arn);
    let error = events[1]
        .invocation_completed_details
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .payload
        .as_ref()
        .unwrap();
    assert_eq!(
        error.error_type.as_deref(),
        Some("InvalidParameterValueException")
    );
    assert_eq!(
        error.error_message.as_deref(),
        Some("Cannot return PENDING status with no pending operations.")
    );
}

#[test]
fn malformed_outputs_are_failed_invocations() {
    let svc = service();
    let (arn, _) = begin(&svc);
    let mut bad = InvocationOutput::succeeded(Some("1".to_owned()));
    bad.error = Some(ErrorObject::new("E", "m"));
    assert_eq!(
        svc.complete_invocation(&arn, InvocationResult::Output(bad))
            .unwrap(),
        NextStep::Invoke
    );
    svc.begin_invocation(&arn).unwrap();
    let mut bad = InvocationOutput::failed(ErrorObject::new("E", "m"));
    bad.result = Some("1".to_owned());
    assert_eq!(
        svc.complete_invocation(&arn, InvocationResult::Output(bad))
            .unwrap(),
        NextStep::Invoke
    );
    svc.begin_invocation(&arn).unwrap();
    let too_big = InvocationOutput::succeeded(Some(
        "z".repeat(durable_core::limits::MAX_INVOCATION_PAYLOAD_BYTES + 1),
    ));
    assert_eq!(
        svc.complete_invocation(&arn, InvocationResult::Output(too_big))
            .unwrap(),
        NextStep::Invoke
    );
    let messages: Vec<String> = history(&svc, &arn)
        .iter()
        .filter_map(|e| e.invocation_completed_details.as_ref())
        .map(|d| {
            d.error
                .as_ref()
                .unwrap()
                .payload
                .as_ref()
                .unwrap()
                .error_message
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(
        messages,
        [
            "A SUCCEEDED output must not carry an Error.",
            "A FAILED output must not carry a Result.",
            "The SUCCEEDED output's Result exceeds the maximum response size of 6 MiB."
        ]
    );
}

#[test]
fn five_failed_invocations_in_a_row_fail_the_execution() {
    let svc = service();
    let (arn, _) = begin(&svc);
    let crash = |i: u32| {
        InvocationResult::Failed(ErrorObject::new(RUNTIME_EXIT_ERROR, format!("crash {i}")))
    };
    for i in 1..5 {
        assert_eq!(
            svc.complete_invocation(&arn, crash(i)).unwrap(),
            NextStep::Invoke
        );
        svc.begin_invocation(&arn).unwrap();
    }
    assert_eq!(
        svc.complete_invocation(&arn, crash(5)).unwrap(),
        NextStep::Finished(ExecutionStatus::Failed)
    );
    let events = history(&svc, &arn);
    assert_eq!(events.len(), 7);
    assert!(
        events[1..6]
            .iter()
            .all(|e| e.event_type == EventType::InvocationCompleted)
    );
    let last = events[6].execution_failed_details.as_ref().unwrap();
    assert_eq!(
        last.error
            .payload
            .as_ref()
            .unwrap()
            .error_message
            .as_deref(),
        Some("crash 5")
    );
    let (status, error) = svc
        .with_execution(&arn, |e| (e.status().clone(), e.error().cloned()))
        .unwrap();
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(
        error.unwrap().error_type.as_deref(),
        Some(RUNTIME_EXIT_ERROR)
    );
    assert!(matches!(
        svc.begin_invocation(&arn),
        Err(LocalError::Ended { .. })
    ));
}

#[test]
fn a_good_invocation_resets_the_failure_count() {
    let svc = service();
    let (arn, token) = begin(&svc);
    ok(&svc, &arn, &token, vec![wait("w", 1)]);
    let crash = || InvocationResult::Failed(ErrorObject::new(RUNTIME_EXIT_ERROR, "crash"));
    for _ in 0..4 {
        assert_eq!(
            svc.complete_invocation(&arn, crash()).unwrap(),
            NextStep::Invoke
        );
        svc.begin_invocation(&arn).unwrap();
    }
    assert_eq!(
        svc.complete_invocation(&arn, pending()).unwrap(),
        NextStep::WaitUntil(T0 + 1_000)
    );
    for _ in 0..4 {
        svc.begin_invocation(&arn).unwrap();
        assert_eq!(
            svc.complete_invocation(&arn, crash()).unwrap(),
            NextStep::Invoke
        );
    }
    assert_eq!(
        svc.with_execution(&arn, |e| e.status().clone()).unwrap(),
        ExecutionStatus::Running
    );
}

#[test]
fn failed_output_ends_the_execution() {
    let svc = service();
    let (arn, _) = begin(&svc);
    let output = InvocationOutput::failed(ErrorObject::new("StepError", "boom"));
    assert_eq!(
        svc.complete_invocation(&arn, InvocationResult::Output(output))
            .unwrap(),
        NextStep::Finished(ExecutionStatus::Failed)
    );
    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        ["ExecutionStarted", "InvocationCompleted", "ExecutionFailed"]
    );
    assert!(
        events[1]
            .invocation_completed_details
            .as_ref()
            .unwrap()
            .error
            .is_none()
    );
    let exec_record = svc
        .with_execution(&arn, |e| e.operations().next().cloned())
        .unwrap()
        .unwrap();
    assert_eq!(exec_record.status, OperationStatus::Failed);
}

#[test]
fn a_checkpointed_execution_result_ends_the_execution() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut result = OperationUpdate::new(
        "execution-result-1",
        OperationType::Execution,
        OperationAction::Succeed,
    );
    result.payload = Some("\"large\"".to_owned());
    let response = svc
        .checkpoint_now(
            &arn,
            &token,
            vec![
                step("s", OperationAction::Start),
                succeed_step("s", "1"),
                result,
            ],
        )
        .unwrap();
    assert_eq!(response.checkpoint_token, None);
    let err = svc.checkpoint_now(&arn, &token, vec![]).unwrap_err();
    assert!(
        err.message().starts_with("Invalid Checkpoint Token"),
        "{err}"
    );
    assert_eq!(
        svc.complete_invocation(&arn, succeeded("")).unwrap(),
        NextStep::Finished(ExecutionStatus::Succeeded)
    );
    let events = history(&svc, &arn);
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let end = events[4].execution_succeeded_details.as_ref().unwrap();
    assert_eq!(end.result.payload.as_deref(), Some("\"large\""));
    assert_eq!(
        svc.with_execution(&arn, |e| e.result().map(str::to_owned))
            .unwrap()
            .as_deref(),
        Some("\"large\"")
    );
}

#[test]
fn a_checkpointed_execution_failure_ends_the_execution() {
    let svc = service();
    let (arn, token) = begin(&svc);
    let mut fail = OperationUpdate::new(
        "execution-result-1",
        OperationType::Execution,
        OperationAction::Fail,
    );
    fail.error = Some(ErrorObject::new("Big", "error"));
    svc.checkpoint_now(&arn, &token, vec![fail]).unwrap();
    let output = InvocationOutput {
        status: durable_core::wire::InvocationStatus::Failed,
        result: None,
        error: None,
    };
    assert_eq!(
        svc.complete_invocation(&arn, InvocationResult::Output(output))
            .unwrap(),
        NextStep::Finished(ExecutionStatus::Failed)
    );
    let events = history(&svc, &arn);
    let end = events
        .last()
        .unwrap()
        .execution_failed_details
        .as_ref()
        .unwrap();
    assert_eq!(
        end.error.payload.as_ref().unwrap().error_type.as_deref(),
        Some("Big")
    );
}

#[test]
fn a_crash_is_recorded_on_invocation_completed() {
    let svc = service();
    let (arn, token) = begin(&svc);
    ok(&svc, &arn, &token, vec![step("s", OperationAction::Start)]);
    let crash = InvocationResult::Failed(ErrorObject::new(RUNTIME_EXIT_ERROR, "exit status 1"));
    assert_eq!(
        svc.complete_invocation(&arn, crash).unwrap(),
        NextStep::Invoke
    );
    let events = history(&svc, &arn);
    let json = serde_json::to_value(&events[2]).unwrap();
    assert_eq!(json["EventType"], "InvocationCompleted");
    assert_eq!(
        json["InvocationCompletedDetails"]["Error"],
        serde_json::json!({"Payload":{"ErrorType":"Runtime.ExitError","ErrorMessage":"exit status 1"},"Truncated":false})
    );
    assert!(json.get("Id").is_none());
    // The crashed step stays STARTED for the next invocation to see.
    assert_eq!(record(&svc, &arn, "s").status, OperationStatus::Started);
    assert!(matches!(
        svc.complete_invocation(&arn, pending()),
        Err(LocalError::NoInvocation { .. })
    ));
}

#[test]
fn remove_execution_frees_the_name() {
    let svc = service();
    let first = svc
        .start_execution("fn", Some("n"), "1".to_owned())
        .unwrap();
    assert_eq!(svc.execution_arns(), std::slice::from_ref(&first.arn));
    let removed = svc.remove_execution(&first.arn).unwrap();
    assert_eq!(removed.name(), "n");
    assert!(svc.execution_arns().is_empty());
    assert!(
        svc.start_execution("fn", Some("n"), "2".to_owned())
            .unwrap()
            .created
    );
}

/// Per commit: the ids of the changed records and the number of new events.
type CommitLog = std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, usize)>>>;

/// A store that records what each commit had to persist.
#[derive(Default)]
struct RecordingStore {
    executions: std::collections::HashMap<String, StoredExecution>,
    commits: CommitLog,
}

impl ExecutionStore for RecordingStore {
    fn insert(&mut self, execution: StoredExecution) -> Result<(), crate::StoreError> {
        self.executions
            .insert(execution.arn().to_owned(), execution);
        Ok(())
    }
    fn get(&self, arn: &str) -> Option<&StoredExecution> {
        self.executions.get(arn)
    }
    fn get_mut(&mut self, arn: &str) -> Option<&mut StoredExecution> {
        self.executions.get_mut(arn)
    }
    fn find_by_name(&self, _: &str, _: &str) -> Option<&str> {
        None
    }
    fn commit(&mut self, arn: &str) -> Result<(), crate::StoreError> {
        let exec = self.executions.get_mut(arn).unwrap();
        let ops = exec
            .uncommitted_operations()
            .map(|op| op.id.clone())
            .collect();
        let events = exec.uncommitted_events().len();
        self.commits.lock().unwrap().push((ops, events));
        exec.mark_committed();
        Ok(())
    }
    fn remove(&mut self, arn: &str) -> Option<StoredExecution> {
        self.executions.remove(arn)
    }
    fn arns(&self) -> Vec<String> {
        self.executions.keys().cloned().collect()
    }
}

#[test]
fn commits_see_only_what_changed() {
    let store = RecordingStore::default();
    let commits = std::sync::Arc::clone(&store.commits);
    let svc = LocalService::with_store(
        Box::new(store),
        Clock::virtual_at(T0),
        ServiceConfig::default(),
    );
    let (arn, token) = begin(&svc);
    let (token, _) = ok(
        &svc,
        &arn,
        &token,
        vec![step("a", OperationAction::Start), succeed_step("a", "1")],
    );
    ok(&svc, &arn, &token, vec![wait("w", 1)]);
    svc.complete_invocation(&arn, pending()).unwrap();
    svc.clock().advance_to(T0 + 1_000);
    svc.fire_due_timers(&arn).unwrap();
    let commits = commits.lock().unwrap().clone();
    let execution_id = arn.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        commits,
        [
            (vec![execution_id], 1),   // start: the EXECUTION record, ExecutionStarted
            (vec![], 0),               // begin_invocation: nothing
            (vec!["a".to_owned()], 2), // StepStarted, StepSucceeded
            (vec!["w".to_owned()], 1), // WaitStarted
            (vec![], 1),               // InvocationCompleted
            (vec!["w".to_owned()], 1), // WaitSucceeded
        ]
    );
}
