//! The callback API of external systems: `SendDurableExecutionCallback*`,
//! and looking callbacks up.

use durable_core::wire::{ErrorObject, ExecutionStatus, OperationStatus};

use super::operations::callback::{CallbackEnd, callback_info, close_callback};
use super::timers::fire_due_timers;
use super::types::CallbackInfo;
use super::{LocalService, commit};
use crate::error::LocalError;
use crate::store::StoredExecution;
use durable_core::limits::MAX_CALLBACK_RESULT_BYTES;
use durable_core::limits::MAX_ERROR_BYTES;

impl LocalService {
    /// `SendDurableExecutionCallbackSuccess`: the callback SUCCEEDS with
    /// `result` (the request body: UTF-8, at most 1 MiB; empty means no
    /// result) as `CallbackDetails.Result`, `CallbackSucceeded` is recorded
    /// and the execution is ready to be invoked again.
    ///
    /// # Errors
    /// [`LocalError::CallbackNotFound`] (`ResourceNotFoundException`) for an
    /// unknown id, [`LocalError::CallbackClosed`] (`CallbackTimeoutException`)
    /// when the callback already succeeded, failed or timed out or its
    /// execution has ended, [`LocalError::CallbackPayloadTooLarge`] and
    /// [`LocalError::InvalidCallbackRequest`] (`InvalidParameterValueException`)
    /// for a result over 1 MiB or not UTF-8.
    pub fn send_callback_success(
        &self,
        callback_id: &str,
        result: &[u8],
    ) -> Result<(), LocalError> {
        if result.len() > MAX_CALLBACK_RESULT_BYTES {
            return Err(LocalError::CallbackPayloadTooLarge {
                callback_id: callback_id.to_owned(),
                size: result.len(),
                max: MAX_CALLBACK_RESULT_BYTES,
            });
        }
        let text = std::str::from_utf8(result).map_err(|e| LocalError::InvalidCallbackRequest {
            callback_id: callback_id.to_owned(),
            message: format!("the result is not valid UTF-8: {e}"),
        })?;
        let result = (!text.is_empty()).then(|| text.to_owned());
        self.with_open_callback(callback_id, |exec, index, now| {
            close_callback(exec, index, now, CallbackEnd::Succeeded(result));
        })
    }

    /// `SendDurableExecutionCallbackFailure`: the callback FAILS with `error`,
    /// `CallbackFailed` is recorded and the execution is ready to be invoked
    /// again.
    ///
    /// # Errors
    /// As [`send_callback_success`](Self::send_callback_success); an error
    /// object over 1 MiB is an [`LocalError::InvalidCallbackRequest`].
    pub fn send_callback_failure(
        &self,
        callback_id: &str,
        error: ErrorObject,
    ) -> Result<(), LocalError> {
        let len = error.encoded_len();
        if len > MAX_ERROR_BYTES {
            return Err(LocalError::InvalidCallbackRequest {
                callback_id: callback_id.to_owned(),
                message: format!(
                    "the error is {len} bytes, over the maximum of {MAX_ERROR_BYTES} bytes"
                ),
            });
        }
        self.with_open_callback(callback_id, |exec, index, now| {
            close_callback(exec, index, now, CallbackEnd::Failed(error));
        })
    }

    /// `SendDurableExecutionCallbackHeartbeat`: restarts the callback's
    /// heartbeat timeout (a callback without one accepts heartbeats and
    /// ignores them). Records no event.
    ///
    /// # Errors
    /// [`LocalError::CallbackNotFound`] and [`LocalError::CallbackClosed`] as
    /// for [`send_callback_success`](Self::send_callback_success).
    pub fn send_callback_heartbeat(&self, callback_id: &str) -> Result<(), LocalError> {
        self.with_open_callback(callback_id, |exec, index, now| {
            let due = exec.open_callbacks.get_mut(&index).and_then(|timers| {
                (timers.heartbeat_seconds > 0).then(|| {
                    let due = now.saturating_add(i64::from(timers.heartbeat_seconds) * 1000);
                    timers.heartbeat_due = Some(due);
                    due
                })
            });
            if let Some(due) = due {
                exec.arm_timer(due, index);
            }
        })
    }

    /// Runs `change` on the open callback `callback_id` (after firing the
    /// timers of its execution that are due, so a callback past its deadline
    /// is timed out rather than completed) and commits.
    pub fn with_open_callback(
        &self,
        callback_id: &str,
        change: impl FnOnce(&mut StoredExecution, u32, i64),
    ) -> Result<(), LocalError> {
        let now = self.shared.clock.now_ms();
        let mut guard = self.lock();
        let state = &mut *guard;
        let not_found = || LocalError::CallbackNotFound {
            callback_id: callback_id.to_owned(),
        };
        let home = state.callbacks.get(callback_id).ok_or_else(not_found)?;
        let exec = state.store.get_mut(&home.arn).ok_or_else(not_found)?;
        let index = home.op;
        fire_due_timers(exec, now);
        let closed = |state: String| LocalError::CallbackClosed {
            callback_id: callback_id.to_owned(),
            state,
        };
        if exec.status != ExecutionStatus::Running {
            return Err(closed(format!("its execution has ended: {}", exec.status)));
        }
        let status = exec
            .slots
            .get(index as usize)
            .map(|slot| slot.op.status.clone())
            .ok_or_else(not_found)?;
        if status != OperationStatus::Started {
            return Err(closed(status.to_string()));
        }
        change(exec, index, now);
        let arn = home.arn.clone();
        commit(&mut *state.store, &arn)?;
        drop(guard);
        // Wakes a run sleeping until its next timer on the real clock: the
        // execution may have become ready to be invoked.
        self.shared.changed.notify_waiters();
        Ok(())
    }

    /// The callbacks of `arn` in creation order.
    pub fn callbacks(&self, arn: &str) -> Result<Vec<CallbackInfo>, LocalError> {
        self.with_execution(arn, |exec| {
            if exec.callbacks_created == 0 {
                return Vec::new();
            }
            exec.slots
                .iter()
                .filter_map(|slot| callback_info(exec, &slot.op))
                .collect()
        })
    }

    /// The open (STARTED) callbacks of `arn` in creation order.
    pub fn open_callbacks(&self, arn: &str) -> Result<Vec<CallbackInfo>, LocalError> {
        self.with_execution(arn, |exec| {
            let mut open: Vec<u32> = exec.open_callbacks.keys().copied().collect();
            open.sort_unstable();
            open.into_iter()
                .filter_map(|i| exec.slots.get(i as usize))
                .filter_map(|slot| callback_info(exec, &slot.op))
                .collect()
        })
    }

    /// The id of the callback named `name` in `arn` (`"*"`: any callback;
    /// a callback is also named by its `wait_for_callback`'s name, see
    /// [`CallbackInfo::is_named`]): the first open one with that name, else
    /// the last one created.
    pub fn find_callback(&self, arn: &str, name: &str) -> Result<Option<String>, LocalError> {
        let matches = |info: &CallbackInfo| info.is_named(name);
        if let Some(open) = self.open_callbacks(arn)?.into_iter().find(matches) {
            return Ok(Some(open.callback_id));
        }
        Ok(self
            .callbacks(arn)?
            .into_iter()
            .rev()
            .find(matches)
            .map(|info| info.callback_id))
    }
}
