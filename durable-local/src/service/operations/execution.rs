//! EXECUTION: how an execution ends (SUCCEED or FAIL from the handler's
//! checkpoint, a stop, or the output of its last invocation), and the
//! `Execution*` event.

use crate::events::{error, error_details, result_details};
use durable_core::wire::{ErrorObject, ExecutionStatus, OperationStatus};
use durable_core::wire::{
    Event, EventPayload, ExecutionStartedDetails, InvocationCompletedDetails,
};

use durable_core::wire::{OperationAction, OperationUpdate};

use crate::events::EventBody;
use crate::store::StoredExecution;

/// Ends the execution (status, result, the EXECUTION record, no more tokens).
/// The `Execution*` event is recorded by [`record_execution_end`].
/// How an execution ends.
pub(crate) enum Outcome {
    Succeeded(Option<String>),
    Failed(Option<ErrorObject>),
    Stopped(ErrorObject),
}

/// EXECUTION SUCCEED or FAIL from the handler's checkpoint: the execution
/// ends now; its `Execution*` event is recorded when the invocation that
/// sent the update completes.
pub(crate) fn apply(exec: &mut StoredExecution, update: OperationUpdate, now: i64) {
    let outcome = if update.action == OperationAction::Succeed {
        Outcome::Succeeded(update.payload)
    } else {
        Outcome::Failed(update.error)
    };
    finish(exec, outcome, now);
    exec.end_event_due = true;
}

pub(crate) fn finish(exec: &mut StoredExecution, outcome: Outcome, now: i64) {
    let (status, execution_status) = match outcome {
        Outcome::Succeeded(result) => {
            exec.result = result;
            (OperationStatus::Succeeded, ExecutionStatus::Succeeded)
        }
        Outcome::Failed(error) => {
            exec.error = error;
            (OperationStatus::Failed, ExecutionStatus::Failed)
        }
        Outcome::Stopped(error) => {
            exec.error = Some(error);
            (OperationStatus::Stopped, ExecutionStatus::Stopped)
        }
    };
    exec.status = execution_status;
    exec.end_timestamp = Some(now);
    exec.token_live = false;
    exec.timers.clear();
    exec.open_callbacks.clear();
    exec.wake = false;
    if let Some(slot) = exec.slots.get_mut(0) {
        slot.op.status = status;
        slot.op.end_timestamp = Some(now);
    }
    exec.touch(0);
}

pub(crate) fn record_execution_end(exec: &mut StoredExecution, now: i64) {
    let error = || exec.error.clone().map(Box::new);
    let body = match exec.status {
        ExecutionStatus::Succeeded => EventBody::ExecutionSucceeded(exec.result.clone()),
        ExecutionStatus::Stopped => EventBody::ExecutionStopped(error()),
        ExecutionStatus::TimedOut => EventBody::ExecutionTimedOut(error()),
        _ => EventBody::ExecutionFailed(error()),
    };
    exec.end_event_due = false;
    exec.push_event(0, now, body);
}

/// The actions a EXECUTION update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[OperationAction::Succeed, OperationAction::Fail];

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, input: &str, event: &mut Event) {
    match body {
        EventBody::ExecutionStarted => {
            event.execution_started_details = Some(ExecutionStartedDetails {
                input: EventPayload {
                    payload: Some(input.to_owned()),
                    truncated: false,
                },
                execution_timeout: None,
            });
        }
        EventBody::ExecutionSucceeded(result) => {
            event.execution_succeeded_details = result_details(result.as_ref());
        }
        EventBody::ExecutionFailed(err) => {
            event.execution_failed_details = error_details(err.as_deref())
        }
        EventBody::ExecutionTimedOut(err) => {
            event.execution_timed_out_details = error_details(err.as_deref())
        }
        EventBody::ExecutionStopped(err) => {
            event.execution_stopped_details = error_details(err.as_deref())
        }
        EventBody::InvocationCompleted(inv) => {
            event.invocation_completed_details = Some(InvocationCompletedDetails {
                start_timestamp: inv.start,
                end_timestamp: inv.end,
                request_id: inv.request_id.clone(),
                error: inv.error.as_ref().map(|e| error(Some(e))),
            });
        }
        _ => {}
    }
}
