//! Timers: waits that end, retries that come due, callbacks that time
//! out; and what an execution needs next because of them.

use std::cmp::Reverse;

use durable_core::wire::OperationType;

use super::operations::{callback, step, wait};
use super::types::NextStep;
use crate::store::StoredExecution;

/// Whether the timer `(due, op)` still applies to its record (a record's
/// deadline may have moved or gone since the timer was armed).
pub(crate) fn timer_is_live(exec: &StoredExecution, due: i64, op: u32) -> bool {
    let Some(slot) = exec.slots.get(op as usize) else {
        return false;
    };
    match slot.op.operation_type {
        OperationType::Wait => wait::timer_is_live(&slot.op, due),
        OperationType::Step => step::timer_is_live(&slot.op, due),
        OperationType::Callback => callback::timer_is_live(exec, op, due),
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

/// The earliest live timer that is not a callback's deadline (a wait's
/// end, a step's retry), or a callback deadline already due by `now`.
pub(crate) fn next_internal_timer(exec: &StoredExecution, now: i64) -> Option<i64> {
    exec.timers
        .iter()
        .filter(|&&Reverse((due, _, op))| {
            timer_is_live(exec, due, op)
                && (due <= now
                    || exec
                        .slots
                        .get(op as usize)
                        .is_some_and(|slot| slot.op.operation_type != OperationType::Callback))
        })
        .map(|&Reverse((due, _, _))| due)
        .min()
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

/// Fires every live timer of `exec` due by `now`, by the rules of its
/// record's operation type; returns how many fired.
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
        let Some(kind) = exec
            .slots
            .get(index as usize)
            .map(|slot| slot.op.operation_type.clone())
        else {
            continue;
        };
        match kind {
            OperationType::Wait => wait::fire_timer(exec, index, due, now),
            OperationType::Callback => callback::fire_timer(exec, index, due, now),
            _ => step::fire_timer(exec, index),
        }
        fired += 1;
    }
    fired
}
