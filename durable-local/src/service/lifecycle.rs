//! An execution's life as its hosts see it: start (idempotent by name),
//! invocations begun and completed, what it needs next, and reading,
//! finding and removing executions.

use durable_core::wire::{ExecutionState, ExecutionStatus, InvocationInput};

use super::ids::{check_name, new_execution, uuid_v4};
use super::settle::settle_invocation;
use super::stop::propagate_end;
use super::timers::{fire_due_timers, next_internal_timer, pending_step};
use super::types::{Invocation, InvocationResult, NextStep, StartedExecution};
use super::{LocalService, commit};
use crate::error::LocalError;
use crate::store::{InFlight, StoredExecution};

impl LocalService {
    /// Starts an execution of `function_name` with `input` (JSON text).
    ///
    /// With a `name`, the start is idempotent: the same name and the same
    /// input return the existing execution (`created: false`); the same name
    /// with another input fails with
    /// [`LocalError::AlreadyStarted`] (`DurableExecutionAlreadyStartedException`).
    /// Without one, the name is a fresh UUID.
    pub fn start_execution(
        &self,
        function_name: &str,
        name: Option<&str>,
        input: String,
    ) -> Result<StartedExecution, LocalError> {
        if let Some(name) = name {
            check_name(name)?;
        }
        let mut state = self.lock();
        let store = &mut state.store;
        if let Some(name) = name
            && let Some(arn) = store.find_by_name(function_name, name)
        {
            let arn = arn.to_owned();
            let same = store.get(&arn).is_some_and(|exec| exec.input() == input);
            return if same {
                Ok(StartedExecution {
                    arn,
                    created: false,
                })
            } else {
                Err(LocalError::AlreadyStarted {
                    name: name.to_owned(),
                    arn,
                })
            };
        }
        let now = self.shared.clock.now_ms();
        let exec = new_execution(&self.shared.config, function_name, name, input, now);
        let arn = exec.arn.clone();
        store.insert(exec)?;
        store.commit(&arn)?;
        Ok(StartedExecution { arn, created: true })
    }

    /// Begins an invocation of a RUNNING execution: fires due timers, issues
    /// a fresh checkpoint token (older ones become stale) and builds the
    /// envelope (first page of records, `NextMarker`, the ids the service
    /// changed since the previous invocation).
    pub fn begin_invocation(&self, arn: &str) -> Result<Invocation, LocalError> {
        let now = self.shared.clock.now_ms();
        let page_size = self.shared.config.page_size.max(1);
        let mut state = self.lock();
        let store = &mut state.store;
        let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        if exec.status != ExecutionStatus::Running {
            return Err(LocalError::Ended {
                arn: arn.to_owned(),
                status: exec.status.clone(),
            });
        }
        fire_due_timers(exec, now);
        // This invocation sees every change so far.
        exec.wake = false;
        exec.clear_delta();
        let token = exec.issue_token();
        let request_id = uuid_v4();
        exec.invocation = Some(InFlight {
            start: now,
            request_id: request_id.clone(),
        });
        let end = exec.slots.len().min(page_size);
        let operations = exec
            .slots
            .iter()
            .take(end)
            .map(|slot| slot.op.clone())
            .collect();
        let next_marker = (end < exec.slots.len()).then(|| end.to_string());
        let mut updated: Vec<String> = Vec::with_capacity(exec.service_updated.len());
        for index in exec.service_updated.drain(..) {
            if let Some(slot) = exec.slots.get(index as usize)
                && !updated.contains(&slot.op.id)
            {
                updated.push(slot.op.id.clone());
            }
        }
        let input = InvocationInput {
            durable_execution_arn: Some(arn.to_owned()),
            checkpoint_token: Some(token),
            initial_execution_state: ExecutionState {
                operations,
                next_marker,
            },
            updated_operation_ids: Some(updated),
        };
        commit(&mut **store, arn)?;
        Ok(Invocation { input, request_id })
    }

    /// Ends the running invocation of `arn` with `result`: validates the
    /// output like the service (PROTOCOL §2.2), records `InvocationCompleted`
    /// and, when the execution ends, `ExecutionSucceeded` / `ExecutionFailed`.
    ///
    /// A failed invocation (or an invalid output) is retried; after
    /// [`ServiceConfig::max_failed_invocations`](crate::ServiceConfig::max_failed_invocations) in a row the execution fails
    /// with the last error.
    pub fn complete_invocation(
        &self,
        arn: &str,
        result: InvocationResult,
    ) -> Result<NextStep, LocalError> {
        let now = self.shared.clock.now_ms();
        let max_failures = self.shared.config.max_failed_invocations.max(1);
        let mut state = self.lock();
        let store = &mut state.store;
        let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        let in_flight = exec
            .invocation
            .take()
            .ok_or_else(|| LocalError::NoInvocation {
                arn: arn.to_owned(),
            })?;
        let (next, ended) = settle_invocation(exec, in_flight, result, now, max_failures);
        if next != NextStep::Invoke {
            // Suspended or ended: it sits idle until something external or a
            // timer, so it keeps no spare capacity.
            exec.shrink();
        }
        commit(&mut **store, arn)?;
        if ended {
            propagate_end(&mut **store, arn, now)?;
            drop(state);
            self.shared.changed.notify_waiters();
        }
        Ok(next)
    }

    /// What an execution needs next, without invoking anything: `Invoke`
    /// when it was never invoked or a retry is due, `WaitUntil` the next
    /// timer, `Idle`, or `Finished`.
    pub fn next_step(&self, arn: &str) -> Result<NextStep, LocalError> {
        let mut state = self.lock();
        let exec = state
            .store
            .get_mut(arn)
            .ok_or_else(|| LocalError::NotFound {
                arn: arn.to_owned(),
            })?;
        if exec.status != ExecutionStatus::Running {
            return Ok(NextStep::Finished(exec.status.clone()));
        }
        if exec.invocations == 0 && exec.invocation.is_none() {
            return Ok(NextStep::Invoke);
        }
        Ok(pending_step(exec))
    }

    /// The earliest timer of `arn` that is not a callback's timeout or
    /// heartbeat deadline (a wait's end, a step's retry), or a callback
    /// deadline the clock has already reached; `None` when there is none.
    /// A driver on a virtual clock that does not skip ahead to callback
    /// deadlines asks this (see [`Driver::hold_callback_deadlines`](crate::Driver::hold_callback_deadlines)).
    pub fn next_internal_timer(&self, arn: &str) -> Result<Option<i64>, LocalError> {
        let now = self.shared.clock.now_ms();
        let state = self.lock();
        let exec = state.store.get(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        if exec.status != ExecutionStatus::Running {
            return Ok(None);
        }
        Ok(next_internal_timer(exec, now))
    }

    /// Fires every timer of `arn` that is due by the clock: a WAIT becomes
    /// SUCCEEDED (`WaitSucceeded`), a STEP waiting to retry becomes READY, a
    /// callback past its timeout or heartbeat timeout becomes TIMED_OUT
    /// (`CallbackTimedOut`). Returns how many records changed.
    pub fn fire_due_timers(&self, arn: &str) -> Result<usize, LocalError> {
        let now = self.shared.clock.now_ms();
        let mut state = self.lock();
        let store = &mut state.store;
        let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        let fired = fire_due_timers(exec, now);
        commit(&mut **store, arn)?;
        Ok(fired)
    }

    /// Runs `read` on the stored execution (for snapshots and inspection).
    pub fn with_execution<R>(
        &self,
        arn: &str,
        read: impl FnOnce(&StoredExecution) -> R,
    ) -> Result<R, LocalError> {
        let state = self.lock();
        let exec = state.store.get(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        Ok(read(exec))
    }

    /// The ARN of the execution started as `name` for `function_name`.
    pub fn find_by_name(&self, function_name: &str, name: &str) -> Option<String> {
        self.lock()
            .store
            .find_by_name(function_name, name)
            .map(str::to_owned)
    }

    /// Removes an execution and returns it (frees its memory; a later start
    /// with its name creates a new one; its callback ids become unknown).
    pub fn remove_execution(&self, arn: &str) -> Option<StoredExecution> {
        let mut state = self.lock();
        let exec = state.store.remove(arn)?;
        if exec.callbacks_created > 0 {
            for slot in &exec.slots {
                if let Some(id) = slot
                    .op
                    .callback_details
                    .as_ref()
                    .and_then(|d| d.callback_id.as_ref())
                {
                    state.callbacks.remove(id);
                }
            }
        }
        Some(exec)
    }

    /// The ARNs of all executions, in no particular order.
    pub fn execution_arns(&self) -> Vec<String> {
        self.lock().store.arns()
    }

    /// The ARNs of the executions that the running chained invokes of `arn`
    /// started.
    pub fn running_chained_invokes(&self, arn: &str) -> Result<Vec<String>, LocalError> {
        self.with_execution(arn, |exec| {
            exec.running_chained_invokes().map(str::to_owned).collect()
        })
    }
}
