//! Timers: waits that end, retries that come due, callbacks that time
//! out; and what an execution needs next because of them.

use std::cmp::Reverse;

use durable_core::wire::{ErrorObject, OperationStatus, OperationType};

use super::operations::callback::{CallbackEnd, close_callback};
use super::types::{CALLBACK_HEARTBEAT_ERROR, CALLBACK_TIMEOUT_ERROR, NextStep};
use crate::events::EventBody;
use crate::store::StoredExecution;

/// Whether the timer `(due, op)` still applies to its record.
pub(crate) fn timer_is_live(exec: &StoredExecution, due: i64, op: u32) -> bool {
    let Some(slot) = exec.slots.get(op as usize) else {
        return false;
    };
    let record = &slot.op;
    match record.operation_type {
        OperationType::Wait => {
            record.status == OperationStatus::Started
                && record
                    .wait_details
                    .as_ref()
                    .and_then(|d| d.scheduled_end_timestamp)
                    == Some(due)
        }
        OperationType::Step => {
            record.status == OperationStatus::Pending
                && record
                    .step_details
                    .as_ref()
                    .and_then(|d| d.next_attempt_timestamp)
                    == Some(due)
        }
        OperationType::Callback => exec.open_callbacks.get(&op).is_some_and(|timers| {
            timers.timeout_due == Some(due) || timers.heartbeat_due == Some(due)
        }),
        _ => false,
    }
}

/// The earliest live timer, dropping stale ones on the way.
pub(crate) fn next_timer(exec: &mut StoredExecution) -> Option<i64> {
    while let Some(&Reverse((due, _, op))) = exec.timers.peek() {
        if timer_is_live(exec, due, op) {
            return Some(due);
        }
        exec.timers.pop();
    }
    None
}

/// Whether the service still has something to do for the execution: a
/// re-invocation due, a timer, an open callback, a running chained invoke.
pub(crate) fn has_pending_work(exec: &mut StoredExecution) -> bool {
    exec.ready_ops > 0
        || exec.wake
        || !exec.open_callbacks.is_empty()
        || !exec.running_invokes.is_empty()
        || next_timer(exec).is_some()
}

pub(crate) fn pending_step(exec: &mut StoredExecution) -> NextStep {
    if exec.ready_ops > 0 || exec.wake {
        return NextStep::Invoke;
    }
    match next_timer(exec) {
        Some(due) => NextStep::WaitUntil(due),
        None => NextStep::Idle,
    }
}

pub(crate) fn fire_due_timers(exec: &mut StoredExecution, now: i64) -> usize {
    let mut fired = 0;
    while let Some(&Reverse((due, _, index))) = exec.timers.peek() {
        if due > now {
            break;
        }
        exec.timers.pop();
        if !timer_is_live(exec, due, index) {
            continue;
        }
        let Some(slot) = exec.slots.get_mut(index as usize) else {
            continue;
        };
        let op = &mut slot.op;
        match op.operation_type {
            OperationType::Wait => {
                op.status = OperationStatus::Succeeded;
                op.end_timestamp = Some(now);
                let duration = (due - op.start_timestamp.unwrap_or(due)) / 1000;
                exec.wake = true;
                exec.push_event(index, now, EventBody::WaitSucceeded { duration });
            }
            OperationType::Callback => {
                // Live, so one of the two deadlines is `due`.
                let on_timeout = exec
                    .open_callbacks
                    .get(&index)
                    .is_some_and(|timers| timers.timeout_due == Some(due));
                let error = if on_timeout {
                    ErrorObject::new(CALLBACK_TIMEOUT_ERROR, "Callback timed out")
                } else {
                    ErrorObject::new(CALLBACK_HEARTBEAT_ERROR, "Callback timed out on heartbeat")
                };
                close_callback(exec, index, now, CallbackEnd::TimedOut(error));
                fired += 1;
                continue;
            }
            _ => {
                op.status = OperationStatus::Ready;
                exec.ready_ops += 1;
            }
        }
        exec.touch(index);
        exec.service_updated.push(index);
        fired += 1;
    }
    fired
}
