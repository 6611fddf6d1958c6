//! STEP: START, SUCCEED, FAIL and RETRY (with its back-off timer).

use durable_core::wire::{OperationAction, OperationStatus, OperationUpdate};

use super::new_record;
use crate::events::EventBody;
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
