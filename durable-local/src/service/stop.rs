//! `StopDurableExecution`, and how an execution's end reaches the chained
//! invoke that started it.

use durable_core::wire::{ErrorObject, ExecutionStatus};

use super::operations::chained_invoke::{InvokeEnd, end_chained_invoke};
use super::operations::execution::{Outcome, finish, record_execution_end};
use super::{LocalService, commit};
use crate::error::LocalError;
use crate::store::ExecutionStore;

impl LocalService {
    /// `StopDurableExecution`: ends a RUNNING execution as STOPPED with
    /// `error` (default: "Execution stopped by user request") and records
    /// `ExecutionStopped`. A chained invoke waiting on it ends as STOPPED
    /// (`ChainedInvokeStopped`) and its parent is re-invoked. An invocation
    /// in progress may finish, but its output is ignored. Returns the stop
    /// time (epoch ms); stopping an execution that has already ended changes
    /// nothing and returns its end time.
    pub fn stop_execution(&self, arn: &str, error: Option<ErrorObject>) -> Result<i64, LocalError> {
        let now = self.shared.clock.now_ms();
        let error = error.unwrap_or_else(|| ErrorObject {
            error_message: Some("Execution stopped by user request".to_owned()),
            ..ErrorObject::default()
        });
        let mut state = self.lock();
        let stopped = stop(&mut *state.store, arn, error, now)?;
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(stopped)
    }
}

/// Stops a RUNNING execution (see [`LocalService::stop_execution`]); returns
/// the stop time, or the end time of an execution that already ended.
pub(super) fn stop(
    store: &mut dyn ExecutionStore,
    arn: &str,
    error: ErrorObject,
    now: i64,
) -> Result<i64, LocalError> {
    let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
        arn: arn.to_owned(),
    })?;
    if exec.status.is_terminal() {
        return Ok(exec.end_timestamp.unwrap_or(now));
    }
    finish(exec, Outcome::Stopped(error), now);
    exec.end_event_due = false;
    record_execution_end(exec, now);
    commit(store, arn)?;
    propagate_end(store, arn, now)?;
    Ok(now)
}

/// The error a chained invoke's execution is stopped with when the caller
/// cancels the invoke.
pub(super) fn cancelled_error(parent_arn: &str) -> ErrorObject {
    ErrorObject {
        error_message: Some(format!(
            "Stopped because the chained invoke that started it was cancelled by {parent_arn}"
        )),
        ..ErrorObject::default()
    }
}

/// When the execution `child_arn` has ended and a chained invoke started it,
/// ends that CHAINED_INVOKE in the parent the same way (its record, a
/// `ChainedInvoke*` event) and makes the parent ready to be invoked again.
pub(super) fn propagate_end(
    store: &mut dyn ExecutionStore,
    child_arn: &str,
    now: i64,
) -> Result<(), LocalError> {
    let Some(child) = store.get(child_arn) else {
        return Ok(());
    };
    let Some((parent_arn, index)) = child.parent.clone() else {
        return Ok(());
    };
    let end = match child.status {
        ExecutionStatus::Succeeded => InvokeEnd::Succeeded(child.result.clone()),
        ExecutionStatus::Failed => InvokeEnd::Failed(child.error.clone()),
        ExecutionStatus::TimedOut => InvokeEnd::TimedOut(child.error.clone()),
        ExecutionStatus::Stopped => InvokeEnd::Stopped(child.error.clone()),
        _ => return Ok(()),
    };
    let Some(parent) = store.get_mut(&parent_arn) else {
        return Ok(());
    };
    if parent.status != ExecutionStatus::Running {
        parent.running_invokes.retain(|(i, _)| *i != index);
        return Ok(());
    }
    if end_chained_invoke(parent, index, now, end) {
        commit(store, &parent_arn)?;
    }
    Ok(())
}
