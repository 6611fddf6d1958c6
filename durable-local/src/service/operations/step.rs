//! STEP: START, SUCCEED, FAIL and RETRY (with its back-off timer).

use crate::events::{error, payload};
use durable_core::wire::{
    EmptyDetails, Event, RetryDetails, StepFailedDetails, StepSucceededDetails,
};
use durable_core::wire::{Operation, OperationAction, OperationStatus, OperationUpdate};

use super::new_record;
use crate::events::EventBody;
use crate::service::validate::Status;
use crate::store::StoredExecution;

pub(crate) fn apply(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    let existing = exec.find(&update.id);
    if update.action == OperationAction::Start {
        let index = match existing {
            Some(index) => {
                if let Some(slot) = exec.slots.get_mut(index as usize) {
                    if slot.op.status == OperationStatus::Ready {
                        exec.ready_ops = exec.ready_ops.saturating_sub(1);
                    }
                    slot.op.status = OperationStatus::Started;
                    if let Some(details) = slot.op.step_details.as_mut() {
                        details.next_attempt_timestamp = None;
                    }
                }
                exec.touch(index);
                index
            }
            None => {
                let mut op = new_record(&mut update, OperationStatus::Started, now);
                op.step_details = Some(Box::default());
                exec.push_operation(op)
            }
        };
        exec.push_event(index, now, EventBody::StepStarted);
        return;
    }
    let Some(index) = existing else {
        return;
    };
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    if op.status == OperationStatus::Ready {
        exec.ready_ops = exec.ready_ops.saturating_sub(1);
    }
    let details = op.step_details.get_or_insert_with(Box::default);
    details.attempt += 1;
    let attempt = details.attempt;
    details.result = update.payload;
    details.error = update.error;
    let body = match update.action {
        OperationAction::Succeed => {
            op.status = OperationStatus::Succeeded;
            op.end_timestamp = Some(now);
            details.next_attempt_timestamp = None;
            EventBody::StepSucceeded {
                result: details.result.clone(),
                attempt,
                delay: None,
            }
        }
        OperationAction::Fail => {
            op.status = OperationStatus::Failed;
            op.end_timestamp = Some(now);
            details.next_attempt_timestamp = None;
            EventBody::StepFailed {
                error: details.error.clone().map(Box::new),
                attempt,
                delay: None,
            }
        }
        _ => {
            let delay = update
                .step_options
                .map_or(0, |o| o.next_attempt_delay_seconds);
            let due = now.saturating_add(i64::from(delay) * 1000);
            op.status = OperationStatus::Pending;
            details.next_attempt_timestamp = Some(due);
            let body = if details.result.is_some() {
                EventBody::StepSucceeded {
                    result: details.result.clone(),
                    attempt,
                    delay: Some(delay),
                }
            } else {
                EventBody::StepFailed {
                    error: details.error.clone().map(Box::new),
                    attempt,
                    delay: Some(delay),
                }
            };
            exec.arm_timer(due, index);
            body
        }
    };
    exec.touch(index);
    exec.push_event(index, now, body);
}

/// The actions a STEP update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[
    OperationAction::Start,
    OperationAction::Succeed,
    OperationAction::Fail,
    OperationAction::Retry,
];

/// A RETRY carries StepOptions with a delay that is not negative, and exactly one of Payload and Error.
pub(crate) fn check_fields(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    if update.action != OperationAction::Retry {
        return Ok(());
    }
    let Some(options) = &update.step_options else {
        return Err(format!(
            "StepOptions are required to RETRY a STEP (operation {id})"
        ));
    };
    if options.next_attempt_delay_seconds < 0 {
        return Err(format!(
            "StepOptions.NextAttemptDelaySeconds must not be negative, got {} (operation {id})",
            options.next_attempt_delay_seconds
        ));
    }
    if update.payload.is_some() == update.error.is_some() {
        return Err(format!(
            "A RETRY must carry exactly one of Payload and Error (operation {id})"
        ));
    }
    Ok(())
}

/// The status a STEP update leads to from `current` (`state` names the
/// current status for messages), or why it may not happen.
pub(crate) fn transition(
    update: &OperationUpdate,
    current: Option<Status>,
    state: &str,
) -> Result<Status, String> {
    use OperationAction as A;
    use Status as S;
    let id = &update.id;
    match (&update.action, current) {
        (A::Start, None | Some(S::Ready)) => Ok(S::Started),
        (A::Start, _) => Err(format!(
            "Invalid current STEP state to start: operation {id} is {state}"
        )),
        (A::Succeed, Some(S::Started | S::Ready)) => Ok(S::Succeeded),
        (A::Fail, Some(S::Started | S::Ready)) => Ok(S::Failed),
        (A::Succeed | A::Fail, _) => Err(format!(
            "Invalid current STEP state to close: operation {id} is {state}"
        )),
        (A::Retry, Some(S::Started | S::Ready)) => Ok(S::Pending),
        _ => Err(format!(
            "Invalid current STEP state to re-attempt: operation {id} is {state}"
        )),
    }
}

/// Whether `due` is still the next attempt of the STEP `record` (PENDING,
/// waiting for its retry).
pub(crate) fn timer_is_live(record: &Operation, due: i64) -> bool {
    record.status == OperationStatus::Pending
        && record
            .step_details
            .as_ref()
            .and_then(|d| d.next_attempt_timestamp)
            == Some(due)
}

/// The retry of the step at `index` is due: READY, to be attempted by the
/// next invocation.
pub(crate) fn fire_timer(exec: &mut StoredExecution, index: u32) {
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    slot.op.status = OperationStatus::Ready;
    exec.ready_ops += 1;
    exec.touch(index);
    exec.service_updated.push(index);
}

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, event: &mut Event) {
    match body {
        EventBody::StepStarted => event.step_started_details = Some(EmptyDetails {}),
        EventBody::StepSucceeded {
            result,
            attempt,
            delay,
        } => {
            event.step_succeeded_details = Some(StepSucceededDetails {
                result: payload(result.as_ref()),
                retry_details: Some(RetryDetails {
                    current_attempt: *attempt,
                    next_attempt_delay_seconds: *delay,
                }),
            });
        }
        EventBody::StepFailed {
            error: err,
            attempt,
            delay,
        } => {
            event.step_failed_details = Some(StepFailedDetails {
                error: error(err.as_deref()),
                retry_details: Some(RetryDetails {
                    current_attempt: *attempt,
                    next_attempt_delay_seconds: *delay,
                }),
            });
        }
        _ => {}
    }
}
