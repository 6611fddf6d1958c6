//! Crash recovery: a store reopened after the process ended is brought back
//! into service.

use durable_core::wire::{ErrorObject, ExecutionStatus, OperationType};

use super::settle::settle_invocation;
use super::stop::{propagate_end, stop};
use super::types::{InvocationResult, RUNTIME_EXIT_ERROR, ServiceConfig};
use super::{CallbackHome, State, commit};
use crate::error::LocalError;
use crate::store::ExecutionStore;

/// The error an invocation that was running when the service's process
/// ended is recorded with when the service starts again.
pub(super) fn interrupted_error() -> ErrorObject {
    ErrorObject::new(
        RUNTIME_EXIT_ERROR,
        "The invocation was lost: the service stopped while it ran (it counts as a failed \
         invocation)",
    )
}

/// The error an orphaned chained-invoke execution is stopped with.
pub(super) fn orphan_error(parent_arn: &str) -> ErrorObject {
    ErrorObject {
        error_message: Some(format!(
            "Stopped because the checkpoint of {parent_arn} that started it was never \
             acknowledged (the service stopped first)"
        )),
        ..ErrorObject::default()
    }
}

/// The latest timestamp any execution of `store` recorded.
pub(super) fn latest_timestamp(store: &dyn ExecutionStore) -> Option<i64> {
    store
        .arns()
        .iter()
        .filter_map(|arn| store.get(arn))
        .filter_map(|exec| {
            let last_event = exec.events.last().map(|event| event.timestamp);
            last_event
                .max(exec.end_timestamp)
                .max(Some(exec.start_timestamp))
        })
        .max()
}

/// Brings the executions of a store opened after a restart back into
/// service (nothing to do for an empty store):
///
/// 1. Every CALLBACK record's id is indexed again (open and closed ones, so
///    that completing a closed callback is still `CallbackTimeoutException`,
///    not `ResourceNotFoundException`).
/// 2. An invocation that was in flight is ended as a failed invocation
///    ([`interrupted_error`]), exactly as [`LocalService::complete_invocation`]
///    ends one with [`InvocationResult::Failed`]: `InvocationCompleted` with
///    the error, one more consecutive failure, and either `wake` (invoke
///    again) or, past [`ServiceConfig::max_failed_invocations`](crate::ServiceConfig::max_failed_invocations), the
///    execution fails. An execution an EXECUTION update had already ended
///    gets its `Execution*` event. Its last token stays current until the
///    next invocation begins, as after any failed invocation.
/// 3. A crash between committing a chained invoke's new execution and the
///    caller's checkpoint leaves a RUNNING execution that its RUNNING parent
///    does not know (the caller's checkpoint was never acknowledged, and the
///    replayed caller starts a new one): it is detached and stopped.
/// 4. A crash between ending a chained invoke's execution and committing
///    the caller leaves the caller's CHAINED_INVOKE STARTED: it is ended now.
///
/// Store failures are logged; the changes stay uncommitted in the store
/// and are written by the execution's next commit.
pub(super) fn recover(state: &mut State, now: i64, config: &ServiceConfig) {
    let store = &mut *state.store;
    let mut arns = store.arns();
    if arns.is_empty() {
        return;
    }
    arns.sort_unstable();
    let max_failures = config.max_failed_invocations.max(1);
    let warn = |arn: &str, error: LocalError| {
        tracing::warn!(%arn, %error, "recovering an execution after a restart");
    };
    for arn in &arns {
        let Some(exec) = store.get_mut(arn) else {
            continue;
        };
        if exec.callbacks_created > 0 {
            for (index, slot) in exec.slots.iter().enumerate() {
                if slot.op.operation_type != OperationType::Callback {
                    continue;
                }
                if let Some(id) = slot
                    .op
                    .callback_details
                    .as_ref()
                    .and_then(|d| d.callback_id.as_ref())
                {
                    let home = CallbackHome {
                        arn: arn.clone(),
                        op: u32::try_from(index).unwrap_or(u32::MAX),
                    };
                    state.callbacks.insert(id.clone(), home);
                }
            }
        }
        let Some(in_flight) = exec.invocation.take() else {
            continue;
        };
        let failed = InvocationResult::Failed(interrupted_error());
        let (_, ended) = settle_invocation(exec, in_flight, failed, now, max_failures);
        let result = commit(store, arn).and_then(|()| {
            if ended {
                propagate_end(store, arn, now)
            } else {
                Ok(())
            }
        });
        if let Err(error) = result {
            warn(arn, error);
        }
    }
    for arn in &arns {
        let Some(exec) = store.get(arn) else {
            continue;
        };
        let Some((parent_arn, index)) = exec.parent.clone() else {
            continue;
        };
        let running = exec.status == ExecutionStatus::Running;
        let Some(parent) = store.get(&parent_arn) else {
            continue;
        };
        if parent.status != ExecutionStatus::Running {
            continue;
        }
        let known = parent
            .running_invokes
            .iter()
            .any(|(i, child)| *i == index && child == arn);
        let result = match (running, known) {
            (true, false) => match store.get_mut(arn) {
                Some(exec) => {
                    // Detached first, so that stopping it touches no parent.
                    exec.parent = None;
                    stop(store, arn, orphan_error(&parent_arn), now).map(|_| ())
                }
                None => Ok(()),
            },
            (false, true) => propagate_end(store, arn, now),
            _ => Ok(()),
        };
        if let Err(error) = result {
            warn(arn, error);
        }
    }
}
