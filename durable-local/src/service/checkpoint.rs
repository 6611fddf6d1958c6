//! `CheckpointDurableExecution` and `GetDurableExecutionState`: token
//! checks, batch validation, and applying each update by the rules of its
//! operation type (`operations/`).

use durable_core::wire::{
    CheckpointResponse, ErrorObject, ExecutionState, OperationType, OperationUpdate,
};
use durable_core::{Backend, BackendError, BoxFuture, INVALID_CHECKPOINT_TOKEN};
use rustc_hash::FxHashSet;

use super::operations::chained_invoke::{InvokeEnd, end_chained_invoke};
use super::operations::{callback, chained_invoke, context, execution, step, wait};
use super::stop::{cancelled_error, stop};
use super::timers::fire_due_timers;
use super::types::ServiceConfig;
use super::{CallbackHome, LocalService, invalid, not_found};
use crate::fxhash::FxHashMap;
use crate::service::validate::validate_batch;
use crate::store::{StoreError, StoredExecution};

impl LocalService {
    /// `CheckpointDurableExecution`, synchronously.
    pub fn checkpoint_now(
        &self,
        arn: &str,
        token: &str,
        updates: Vec<OperationUpdate>,
    ) -> Result<CheckpointResponse, BackendError> {
        let now = self.shared.clock.now_ms();
        let mut guard = self.lock();
        let state = &mut *guard;
        let exec = state.store.get_mut(arn).ok_or_else(|| not_found(arn))?;
        if !exec.token_live {
            return Err(invalid(format!(
                "{INVALID_CHECKPOINT_TOKEN}: execution {arn} has ended ({})",
                exec.status
            )));
        }
        if !exec.is_current_token(token) {
            return Err(invalid(format!(
                "{INVALID_CHECKPOINT_TOKEN}: the token is stale or belongs to another invocation"
            )));
        }
        fire_due_timers(exec, now);
        validate_batch(exec, &updates).map_err(invalid)?;
        let mut effects = Effects::default();
        {
            let mut cx = ApplyCx {
                arn,
                config: &self.shared.config,
                functions: &state.functions,
                callbacks: &mut state.callbacks,
                effects: &mut effects,
            };
            for update in updates {
                apply(exec, update, now, &mut cx);
            }
        }
        let mut operations = exec.take_delta();
        let checkpoint_token = exec.token_live.then(|| exec.issue_token());
        let track_changes = exec.track_changes;
        let service_error =
            |e: StoreError| BackendError::service("ServiceException", 500, e.to_string());
        let store = &mut *state.store;
        for child in effects.children {
            let (child_arn, index) = (child.arn.clone(), child.parent.as_ref().map(|p| p.1));
            if let Err(e) = store.insert(child) {
                // Only a clash of random ARNs gets here: fail the invoke.
                if let (Some(index), Some(exec)) = (index, store.get_mut(arn)) {
                    let error = ErrorObject::new("ServiceException", e.to_string());
                    end_chained_invoke(exec, index, now, InvokeEnd::Failed(Some(error)));
                    operations.extend(exec.take_delta());
                }
                continue;
            }
            store.commit(&child_arn).map_err(service_error)?;
        }
        for child_arn in &effects.stopped_children {
            stop(store, child_arn, cancelled_error(arn), now).map_err(|e| e.to_backend_error())?;
        }
        if track_changes {
            store.commit(arn).map_err(service_error)?;
        }
        drop(guard);
        if effects.notify {
            self.shared.changed.notify_waiters();
        }
        Ok(CheckpointResponse {
            checkpoint_token,
            new_execution_state: Some(ExecutionState {
                operations,
                next_marker: None,
            }),
        })
    }

    /// `GetDurableExecutionState`, synchronously: one page of records in
    /// creation order from `marker` (empty = the start).
    pub fn get_state_now(
        &self,
        arn: &str,
        token: &str,
        marker: &str,
    ) -> Result<ExecutionState, BackendError> {
        let page_size = self.shared.config.page_size.max(1);
        let state = self.lock();
        let exec = state.store.get(arn).ok_or_else(|| not_found(arn))?;
        if !exec.is_current_token(token) {
            return Err(invalid(format!(
                "{INVALID_CHECKPOINT_TOKEN}: the token is stale or belongs to another invocation"
            )));
        }
        let start = if marker.is_empty() {
            0
        } else {
            marker
                .parse::<usize>()
                .ok()
                .filter(|start| *start <= exec.slots.len())
                .ok_or_else(|| invalid(format!("Invalid marker: {marker}")))?
        };
        let end = exec.slots.len().min(start.saturating_add(page_size));
        let operations = exec
            .slots
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|slot| slot.op.clone())
            .collect();
        let next_marker = (end < exec.slots.len()).then(|| end.to_string());
        Ok(ExecutionState {
            operations,
            next_marker,
        })
    }
}

impl Backend for LocalService {
    fn checkpoint<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
        Box::pin(async move { self.checkpoint_now(execution_arn, token, updates) })
    }

    fn get_state<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
        Box::pin(async move { self.get_state_now(execution_arn, token, marker) })
    }
}

/// What applying a batch needs beyond the execution itself.
pub(crate) struct ApplyCx<'a> {
    pub(crate) arn: &'a str,
    pub(crate) config: &'a ServiceConfig,
    pub(crate) functions: &'a FxHashSet<String>,
    pub(crate) callbacks: &'a mut FxHashMap<String, CallbackHome>,
    pub(crate) effects: &'a mut Effects,
}

/// What a batch asks of other executions, done once it is applied.
#[derive(Default)]
pub(crate) struct Effects {
    /// Executions to create for chained invokes.
    pub(crate) children: Vec<StoredExecution>,
    /// Executions to stop (their chained invoke was cancelled).
    pub(crate) stopped_children: Vec<String>,
    /// Wake waiters (a callback was created).
    pub(crate) notify: bool,
}

pub(crate) fn apply(
    exec: &mut StoredExecution,
    update: OperationUpdate,
    now: i64,
    cx: &mut ApplyCx<'_>,
) {
    match update.operation_type {
        OperationType::Step => step::apply(exec, update, now),
        OperationType::Context => context::apply(exec, update, now),
        OperationType::Wait => wait::apply(exec, update, now),
        OperationType::Callback => callback::apply(exec, update, now, cx),
        OperationType::ChainedInvoke => chained_invoke::apply(exec, update, now, cx),
        OperationType::Execution => execution::apply(exec, update, now),
        _ => {}
    }
}
