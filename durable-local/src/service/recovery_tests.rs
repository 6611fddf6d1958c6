//! Bringing a store back into service after the process ended
//! ([`recover`]): states a crash between two commits leaves behind, made by
//! hand from a service's store.

use durable_core::wire::{
    ChainedInvokeOptions, EventType, ExecutionStatus, InvocationOutput, OperationAction,
    OperationStatus, OperationType, OperationUpdate,
};

use super::ids::new_execution;
use super::operations::execution::{Outcome, finish, record_execution_end};
use super::*;

const T0: i64 = 1_700_000_000_000;

fn service() -> LocalService {
    let svc = LocalService::new(Clock::virtual_at(T0));
    svc.register_function("target");
    svc
}

/// Takes the store out of `svc`, as if its process had died.
fn crash(svc: LocalService) -> Box<dyn ExecutionStore> {
    let mut state = svc.lock();
    std::mem::replace(&mut state.store, Box::new(MemoryStore::new()))
}

fn restart(store: Box<dyn ExecutionStore>, at: i64) -> LocalService {
    let svc = LocalService::with_store(store, Clock::virtual_at(at), ServiceConfig::default());
    svc.register_function("target");
    svc
}

fn event_types(svc: &LocalService, arn: &str) -> Vec<EventType> {
    svc.with_execution(arn, |e| {
        e.history().into_iter().map(|e| e.event_type).collect()
    })
    .unwrap()
}

/// A parent whose invocation started a chained invoke of `target` and
/// ended PENDING: (parent arn, child arn).
fn parent_and_child(svc: &LocalService) -> (String, String) {
    let arn = svc
        .start_execution("fn", None, "{}".to_owned())
        .unwrap()
        .arn;
    let token = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    let mut u = OperationUpdate::new("ci", OperationType::ChainedInvoke, OperationAction::Start);
    u.sub_type = Some("ChainedInvoke".to_owned());
    u.chained_invoke_options = Some(ChainedInvokeOptions {
        function_name: "target".to_owned(),
        tenant_id: None,
    });
    svc.checkpoint_now(&arn, &token, vec![u]).unwrap();
    svc.complete_invocation(&arn, InvocationResult::Output(InvocationOutput::pending()))
        .unwrap();
    let child = svc.running_chained_invokes(&arn).unwrap().remove(0);
    (arn, child)
}

#[test]
fn an_empty_store_needs_nothing() {
    let svc = restart(Box::new(MemoryStore::new()), T0);
    assert!(svc.execution_arns().is_empty());
    assert_eq!(svc.clock().now_ms(), T0);
}

#[test]
fn a_child_whose_end_the_parent_never_heard_of_ends_the_invoke() {
    let svc = service();
    let (parent, child) = parent_and_child(&svc);
    let mut store = crash(svc);
    // The child's end was committed, the parent's commit was lost.
    let exec = store.get_mut(&child).unwrap();
    finish(
        exec,
        Outcome::Succeeded(Some("\"done\"".to_owned())),
        T0 + 5,
    );
    record_execution_end(exec, T0 + 5);

    let svc = restart(store, T0 + 10);
    assert_eq!(svc.next_step(&parent).unwrap(), NextStep::Invoke);
    assert!(svc.running_chained_invokes(&parent).unwrap().is_empty());
    let op = svc
        .with_execution(&parent, |e| e.operation("ci").cloned())
        .unwrap()
        .unwrap();
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(
        op.chained_invoke_details.unwrap().result.as_deref(),
        Some("\"done\"")
    );
    assert_eq!(
        event_types(&svc, &parent).last(),
        Some(&EventType::ChainedInvokeSucceeded)
    );
}

#[test]
fn a_child_its_running_parent_does_not_know_is_stopped_and_detached() {
    let svc = service();
    let (parent, _) = parent_and_child(&svc);
    let mut store = crash(svc);
    // A child committed by a checkpoint of `parent` that was never
    // acknowledged: the parent has no record of it.
    let mut orphan = new_execution(
        &ServiceConfig::default(),
        "target",
        None,
        "{}".to_owned(),
        T0 + 1,
    );
    orphan.parent = Some((parent.clone(), 1));
    let orphan_arn = orphan.arn.clone();
    store.insert(orphan).unwrap();

    let svc = restart(store, T0 + 10);
    let (status, has_parent) = svc
        .with_execution(&orphan_arn, |e| {
            (e.status().clone(), e.parent_arn().is_some())
        })
        .unwrap();
    assert_eq!(status, ExecutionStatus::Stopped);
    assert!(!has_parent);
    assert_eq!(
        event_types(&svc, &orphan_arn),
        [EventType::ExecutionStarted, EventType::ExecutionStopped]
    );
    // The parent's own chained invoke is untouched.
    assert_eq!(svc.running_chained_invokes(&parent).unwrap().len(), 1);
    assert_eq!(svc.next_step(&parent).unwrap(), NextStep::Idle);
}

#[test]
fn an_execution_ended_by_an_update_gets_its_end_event_when_its_invocation_is_lost() {
    let svc = service();
    let (parent, child) = parent_and_child(&svc);
    let token = svc
        .begin_invocation(&child)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    let mut end = OperationUpdate::new(
        svc.with_execution(&child, |e| e.operations().next().unwrap().id.clone())
            .unwrap(),
        OperationType::Execution,
        OperationAction::Succeed,
    );
    end.payload = Some("7".to_owned());
    svc.checkpoint_now(&child, &token, vec![end]).unwrap();
    let store = crash(svc); // before the invocation completed

    let svc = restart(store, T0 + 10);
    assert_eq!(
        svc.next_step(&child).unwrap(),
        NextStep::Finished(ExecutionStatus::Succeeded)
    );
    assert_eq!(
        event_types(&svc, &child),
        [
            EventType::ExecutionStarted,
            EventType::InvocationCompleted,
            EventType::ExecutionSucceeded
        ]
    );
    // And the parent heard of it.
    assert_eq!(svc.next_step(&parent).unwrap(), NextStep::Invoke);
    assert_eq!(
        event_types(&svc, &parent).last(),
        Some(&EventType::ChainedInvokeSucceeded)
    );
}

#[test]
fn a_virtual_clock_is_moved_to_the_store_latest_timestamp() {
    let svc = service();
    let arn = svc
        .start_execution("fn", None, "{}".to_owned())
        .unwrap()
        .arn;
    svc.clock().advance_to(T0 + 60_000);
    svc.stop_execution(&arn, None).unwrap();
    let store = crash(svc);
    let svc = restart(store, T0);
    assert_eq!(svc.clock().now_ms(), T0 + 60_000);
}
