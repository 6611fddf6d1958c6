//! The durable execution service, in process: starts executions, hands out
//! invocation envelopes, validates and applies checkpoints, fires timers,
//! validates invocation outputs and records the history.
//!
//! [`LocalService`] implements [`durable_core::Backend`], so the replay
//! engine checkpoints into it exactly as it would into Lambda. All state sits
//! behind one mutex; a checkpoint does O(changes) work and no JSON.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use durable_core::wire::{
    CheckpointResponse, ContextDetails, ErrorObject, ExecutionDetails, ExecutionState,
    ExecutionStatus, InvocationInput, InvocationOutput, InvocationStatus, Operation,
    OperationAction, OperationStatus, OperationType, OperationUpdate, StepDetails, WaitDetails,
};
use durable_core::{Backend, BackendError, BoxFuture};
use durable_core::{INVALID_CHECKPOINT_TOKEN, INVALID_PARAMETER_VALUE};

use crate::clock::Clock;
use crate::error::{LocalError, RESOURCE_NOT_FOUND};
use crate::events::{EventBody, InvocationRecord, NO_OPERATION};
use crate::store::{ExecutionStore, InFlight, MemoryStore, StoredExecution};
use crate::validate::validate_batch;

/// The largest invocation output the service accepts (6 MiB).
pub const MAX_OUTPUT_BYTES: usize = 6 * 1024 * 1024;
/// The error type of an invocation that crashed (panic, process exit).
pub const RUNTIME_EXIT_ERROR: &str = "Runtime.ExitError";

/// Settings of a [`LocalService`].
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Records per page of the invocation envelope and of
    /// `GetDurableExecutionState` (default 1000, the service maximum).
    pub page_size: usize,
    /// Consecutive failed invocations after which the execution fails
    /// (default 5, like the emulator).
    pub max_failed_invocations: u32,
    /// The region in minted ARNs.
    pub region: String,
    /// The account id in minted ARNs.
    pub account_id: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            page_size: 1000,
            max_failed_invocations: 5,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
        }
    }
}

/// The result of [`LocalService::start_execution`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedExecution {
    /// The execution ARN.
    pub arn: String,
    /// False when an execution with the same name and input already existed
    /// and was returned instead.
    pub created: bool,
}

/// One invocation handed out by [`LocalService::begin_invocation`].
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The envelope to pass to the handler.
    pub input: InvocationInput,
    /// The invocation's request id (reported in `InvocationCompleted`).
    pub request_id: String,
}

/// How an invocation ended, as the service sees it.
#[derive(Clone, Debug)]
pub enum InvocationResult {
    /// The handler returned an output (validated by the service).
    Output(InvocationOutput),
    /// The invocation failed without an output: an error of the runtime, a
    /// crash (`Runtime.ExitError`) or a timeout. Lambda invokes again.
    Failed(ErrorObject),
}

/// What should happen after an invocation, from
/// [`LocalService::complete_invocation`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The execution ended with this status.
    Finished(ExecutionStatus),
    /// Invoke again now (a failed invocation, or a retry that is due).
    Invoke,
    /// Nothing to do before this time (epoch ms): then fire the timers and invoke.
    WaitUntil(i64),
    /// Waiting on something external (callbacks, chained invokes).
    Idle,
}

/// The in-process durable execution service. Cheap to clone (clones share
/// the same state).
#[derive(Clone)]
pub struct LocalService {
    shared: Arc<Shared>,
}

struct Shared {
    store: Mutex<Box<dyn ExecutionStore>>,
    clock: Clock,
    config: ServiceConfig,
}

impl std::fmt::Debug for LocalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalService")
            .field("clock", &self.shared.clock)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Default for LocalService {
    /// An in-memory service on a virtual clock.
    fn default() -> Self {
        Self::new(Clock::virtual_now())
    }
}

fn invalid(message: impl Into<String>) -> BackendError {
    BackendError::service(INVALID_PARAMETER_VALUE, 400, message)
}

fn not_found(arn: &str) -> BackendError {
    BackendError::service(
        RESOURCE_NOT_FOUND,
        404,
        format!("Durable execution {arn} not found"),
    )
}

/// A random version-4 UUID in its text form.
pub(crate) fn uuid_v4() -> String {
    let bits: u128 = rand::random();
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    let mut out = String::with_capacity(36);
    for (i, part) in [0..8, 8..12, 12..16, 16..20, 20..32]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        out.push_str(hex.get(part).unwrap_or_default());
    }
    out
}

/// Checks an execution name (1 to 64 of `A-Z a-z 0-9 - _`).
fn check_name(name: &str) -> Result<(), LocalError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LocalError::InvalidName {
            name: name.to_owned(),
        })
    }
}

impl LocalService {
    /// An in-memory service on `clock` with default settings.
    pub fn new(clock: Clock) -> Self {
        Self::with_store(
            Box::new(MemoryStore::new()),
            clock,
            ServiceConfig::default(),
        )
    }

    /// A service over `store`.
    pub fn with_store(store: Box<dyn ExecutionStore>, clock: Clock, config: ServiceConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                clock,
                config,
            }),
        }
    }

    /// The service's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The service's settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn ExecutionStore>> {
        // Nothing panics while holding the lock; should it ever, the state is
        // still consistent per operation, so keep serving.
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

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
        let mut store = self.lock();
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
        let id = uuid_v4();
        let name = name.map_or_else(|| id.clone(), str::to_owned);
        let config = &self.shared.config;
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{function_name}/durable-execution/{name}/{id}",
            config.region, config.account_id
        );
        let mut op = Operation::new(id, OperationType::Execution, OperationStatus::Started);
        op.name = Some(name.clone());
        op.start_timestamp = Some(now);
        op.execution_details = Some(ExecutionDetails {
            input_payload: Some(input.clone()),
        });
        let mut exec =
            StoredExecution::new(arn.clone(), function_name.to_owned(), name, input, op, now);
        exec.push_event(0, now, EventBody::ExecutionStarted);
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
        let mut store = self.lock();
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
    /// [`ServiceConfig::max_failed_invocations`] in a row the execution fails
    /// with the last error.
    pub fn complete_invocation(
        &self,
        arn: &str,
        result: InvocationResult,
    ) -> Result<NextStep, LocalError> {
        let now = self.shared.clock.now_ms();
        let max_failures = self.shared.config.max_failed_invocations.max(1);
        let mut store = self.lock();
        let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        let in_flight = exec
            .invocation
            .take()
            .ok_or_else(|| LocalError::NoInvocation {
                arn: arn.to_owned(),
            })?;
        exec.invocations = exec.invocations.saturating_add(1);

        let next = if exec.end_event_due {
            // An EXECUTION update already ended the execution; the output no
            // longer matters.
            let error = match result {
                InvocationResult::Failed(error) => Some(error),
                InvocationResult::Output(_) => None,
            };
            record_invocation(exec, in_flight, now, error);
            record_execution_end(exec, now);
            NextStep::Finished(exec.status.clone())
        } else {
            match check_output(exec, result) {
                Ok(output) => {
                    exec.consecutive_failures = 0;
                    record_invocation(exec, in_flight, now, None);
                    match output.status {
                        InvocationStatus::Succeeded => {
                            finish(exec, Outcome::Succeeded(output.result), now);
                            record_execution_end(exec, now);
                            NextStep::Finished(ExecutionStatus::Succeeded)
                        }
                        InvocationStatus::Failed => {
                            finish(exec, Outcome::Failed(output.error), now);
                            record_execution_end(exec, now);
                            NextStep::Finished(ExecutionStatus::Failed)
                        }
                        _ => pending_step(exec),
                    }
                }
                Err(error) => {
                    exec.consecutive_failures = exec.consecutive_failures.saturating_add(1);
                    record_invocation(exec, in_flight, now, Some(error.clone()));
                    if exec.consecutive_failures >= max_failures {
                        finish(exec, Outcome::Failed(Some(error)), now);
                        record_execution_end(exec, now);
                        NextStep::Finished(ExecutionStatus::Failed)
                    } else {
                        NextStep::Invoke
                    }
                }
            }
        };
        commit(&mut **store, arn)?;
        Ok(next)
    }

    /// What an execution needs next, without invoking anything: `Invoke`
    /// when it was never invoked or a retry is due, `WaitUntil` the next
    /// timer, `Idle`, or `Finished`.
    pub fn next_step(&self, arn: &str) -> Result<NextStep, LocalError> {
        let mut store = self.lock();
        let exec = store.get_mut(arn).ok_or_else(|| LocalError::NotFound {
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

    /// Fires every timer of `arn` that is due by the clock: a WAIT becomes
    /// SUCCEEDED (`WaitSucceeded`), a STEP waiting to retry becomes READY.
    /// Returns how many records changed.
    pub fn fire_due_timers(&self, arn: &str) -> Result<usize, LocalError> {
        let now = self.shared.clock.now_ms();
        let mut store = self.lock();
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
        let store = self.lock();
        let exec = store.get(arn).ok_or_else(|| LocalError::NotFound {
            arn: arn.to_owned(),
        })?;
        Ok(read(exec))
    }

    /// The ARN of the execution started as `name` for `function_name`.
    pub fn find_by_name(&self, function_name: &str, name: &str) -> Option<String> {
        self.lock()
            .find_by_name(function_name, name)
            .map(str::to_owned)
    }

    /// Removes an execution and returns it (frees its memory; a later start
    /// with its name creates a new one).
    pub fn remove_execution(&self, arn: &str) -> Option<StoredExecution> {
        self.lock().remove(arn)
    }

    /// The ARNs of all executions, in no particular order.
    pub fn execution_arns(&self) -> Vec<String> {
        self.lock().arns()
    }

    /// `CheckpointDurableExecution`, synchronously.
    pub fn checkpoint_now(
        &self,
        arn: &str,
        token: &str,
        updates: Vec<OperationUpdate>,
    ) -> Result<CheckpointResponse, BackendError> {
        let now = self.shared.clock.now_ms();
        let mut store = self.lock();
        let exec = store.get_mut(arn).ok_or_else(|| not_found(arn))?;
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
        for update in updates {
            apply(exec, update, now);
        }
        let operations = exec.take_delta();
        let checkpoint_token = exec.token_live.then(|| exec.issue_token());
        if exec.track_changes {
            store
                .commit(arn)
                .map_err(|e| BackendError::service("ServiceException", 500, e.to_string()))?;
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
        let store = self.lock();
        let exec = store.get(arn).ok_or_else(|| not_found(arn))?;
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

fn commit(store: &mut dyn ExecutionStore, arn: &str) -> Result<(), LocalError> {
    store.commit(arn).map_err(LocalError::Store)
}

// ----- invocation outputs -----

/// How an execution ends.
enum Outcome {
    Succeeded(Option<String>),
    Failed(Option<ErrorObject>),
}

fn invalid_output(message: &str) -> ErrorObject {
    ErrorObject::new(INVALID_PARAMETER_VALUE, message)
}

/// The output if the service accepts it, else the error the failed
/// invocation is recorded with.
fn check_output(
    exec: &mut StoredExecution,
    result: InvocationResult,
) -> Result<InvocationOutput, ErrorObject> {
    let output = match result {
        InvocationResult::Failed(error) => return Err(error),
        InvocationResult::Output(output) => output,
    };
    match output.status {
        InvocationStatus::Succeeded => {
            if output.error.is_some() {
                return Err(invalid_output(
                    "A SUCCEEDED output must not carry an Error.",
                ));
            }
            if output
                .result
                .as_ref()
                .is_some_and(|r| r.len() > MAX_OUTPUT_BYTES)
            {
                return Err(invalid_output(
                    "The SUCCEEDED output's Result exceeds the maximum response size of 6 MiB.",
                ));
            }
        }
        InvocationStatus::Failed => {
            if output.result.is_some() {
                return Err(invalid_output("A FAILED output must not carry a Result."));
            }
        }
        InvocationStatus::Pending => {
            if output.result.is_some() || output.error.is_some() {
                return Err(invalid_output(
                    "A PENDING output must not carry a Result or an Error.",
                ));
            }
            if !has_pending_work(exec) {
                return Err(invalid_output(
                    "Cannot return PENDING status with no pending operations.",
                ));
            }
        }
        _ => {
            return Err(invalid_output(&format!(
                "Unknown invocation status {}.",
                output.status
            )));
        }
    }
    Ok(output)
}

fn record_invocation(
    exec: &mut StoredExecution,
    in_flight: InFlight,
    now: i64,
    error: Option<ErrorObject>,
) {
    exec.push_event(
        NO_OPERATION,
        now,
        EventBody::InvocationCompleted(Box::new(InvocationRecord {
            start: in_flight.start,
            end: now,
            request_id: in_flight.request_id,
            error,
        })),
    );
}

/// Ends the execution (status, result, the EXECUTION record, no more tokens).
/// The `Execution*` event is recorded by [`record_execution_end`].
fn finish(exec: &mut StoredExecution, outcome: Outcome, now: i64) {
    let status = match outcome {
        Outcome::Succeeded(result) => {
            exec.result = result;
            OperationStatus::Succeeded
        }
        Outcome::Failed(error) => {
            exec.error = error;
            OperationStatus::Failed
        }
    };
    exec.status = if status == OperationStatus::Succeeded {
        ExecutionStatus::Succeeded
    } else {
        ExecutionStatus::Failed
    };
    exec.end_timestamp = Some(now);
    exec.token_live = false;
    exec.timers.clear();
    if let Some(slot) = exec.slots.get_mut(0) {
        slot.op.status = status;
        slot.op.end_timestamp = Some(now);
    }
    exec.touch(0);
}

fn record_execution_end(exec: &mut StoredExecution, now: i64) {
    let body = match exec.status {
        ExecutionStatus::Succeeded => EventBody::ExecutionSucceeded(exec.result.clone()),
        _ => EventBody::ExecutionFailed(exec.error.clone().map(Box::new)),
    };
    exec.end_event_due = false;
    exec.push_event(0, now, body);
}

// ----- timers -----

/// Whether the timer `(due, op)` still applies to its record.
fn timer_is_live(exec: &StoredExecution, due: i64, op: u32) -> bool {
    let Some(slot) = exec.slots.get(op as usize) else {
        return false;
    };
    let op = &slot.op;
    match op.operation_type {
        OperationType::Wait => {
            op.status == OperationStatus::Started
                && op
                    .wait_details
                    .as_ref()
                    .and_then(|d| d.scheduled_end_timestamp)
                    == Some(due)
        }
        OperationType::Step => {
            op.status == OperationStatus::Pending
                && op
                    .step_details
                    .as_ref()
                    .and_then(|d| d.next_attempt_timestamp)
                    == Some(due)
        }
        _ => false,
    }
}

/// The earliest live timer, dropping stale ones on the way.
fn next_timer(exec: &mut StoredExecution) -> Option<i64> {
    while let Some(&std::cmp::Reverse((due, _, op))) = exec.timers.peek() {
        if timer_is_live(exec, due, op) {
            return Some(due);
        }
        exec.timers.pop();
    }
    None
}

fn has_pending_work(exec: &mut StoredExecution) -> bool {
    exec.ready_ops > 0 || next_timer(exec).is_some()
}

fn pending_step(exec: &mut StoredExecution) -> NextStep {
    if exec.ready_ops > 0 {
        return NextStep::Invoke;
    }
    match next_timer(exec) {
        Some(due) => NextStep::WaitUntil(due),
        None => NextStep::Idle,
    }
}

fn fire_due_timers(exec: &mut StoredExecution, now: i64) -> usize {
    let mut fired = 0;
    while let Some(&std::cmp::Reverse((due, _, index))) = exec.timers.peek() {
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
        if op.operation_type == OperationType::Wait {
            op.status = OperationStatus::Succeeded;
            op.end_timestamp = Some(now);
            let duration = (due - op.start_timestamp.unwrap_or(due)) / 1000;
            exec.push_event(index, now, EventBody::WaitSucceeded { duration });
        } else {
            op.status = OperationStatus::Ready;
            exec.ready_ops += 1;
        }
        exec.touch(index);
        exec.service_updated.push(index);
        fired += 1;
    }
    fired
}

// ----- applying updates (the batch is already validated) -----

fn apply(exec: &mut StoredExecution, update: OperationUpdate, now: i64) {
    match update.operation_type {
        OperationType::Step => apply_step(exec, update, now),
        OperationType::Context => apply_context(exec, update, now),
        OperationType::Wait => apply_wait(exec, update, now),
        OperationType::Execution => {
            let outcome = if update.action == OperationAction::Succeed {
                Outcome::Succeeded(update.payload)
            } else {
                Outcome::Failed(update.error)
            };
            finish(exec, outcome, now);
            exec.end_event_due = true;
        }
        _ => {}
    }
}

/// A new record from an update.
fn new_record(update: &mut OperationUpdate, status: OperationStatus, now: i64) -> Operation {
    let mut op = Operation::new(
        std::mem::take(&mut update.id),
        update.operation_type.clone(),
        status,
    );
    op.parent_id = update.parent_id.take();
    op.name = update.name.take();
    op.sub_type = update.sub_type.take();
    op.start_timestamp = Some(now);
    op
}

fn apply_step(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
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
                op.step_details = Some(StepDetails::default());
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
    let details = op.step_details.get_or_insert_with(StepDetails::default);
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

fn apply_context(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    let replay_children = update.context_options.as_ref().map(|o| o.replay_children);
    let existing = exec.find(&update.id);
    if update.action == OperationAction::Start {
        let mut op = new_record(&mut update, OperationStatus::Started, now);
        op.context_details = replay_children.map(|replay| ContextDetails {
            replay_children: Some(replay),
            result: None,
            error: None,
        });
        let index = exec.push_operation(op);
        exec.push_event(index, now, EventBody::ContextStarted);
        return;
    }
    let index = match existing {
        Some(index) => index,
        None => {
            let op = new_record(&mut update, OperationStatus::Started, now);
            exec.push_operation(op)
        }
    };
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    op.end_timestamp = Some(now);
    let details = op
        .context_details
        .get_or_insert_with(ContextDetails::default);
    if replay_children.is_some() {
        details.replay_children = replay_children;
    }
    let body = if update.action == OperationAction::Succeed {
        op.status = OperationStatus::Succeeded;
        details.result = update.payload;
        EventBody::ContextSucceeded(details.result.clone())
    } else {
        op.status = OperationStatus::Failed;
        details.error = update.error;
        EventBody::ContextFailed(details.error.clone().map(Box::new))
    };
    exec.touch(index);
    exec.push_event(index, now, body);
}

fn apply_wait(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    if update.action == OperationAction::Start {
        let seconds = update.wait_options.as_ref().map_or(0, |o| o.wait_seconds);
        let due = now.saturating_add(i64::from(seconds) * 1000);
        let mut op = new_record(&mut update, OperationStatus::Started, now);
        op.wait_details = Some(WaitDetails {
            scheduled_end_timestamp: Some(due),
        });
        let index = exec.push_operation(op);
        exec.arm_timer(due, index);
        exec.push_event(
            index,
            now,
            EventBody::WaitStarted {
                duration: i64::from(seconds),
                scheduled_end: due,
            },
        );
        return;
    }
    // CANCEL (validated: the WAIT exists and is STARTED).
    let Some(index) = exec.find(&update.id) else {
        return;
    };
    if let Some(slot) = exec.slots.get_mut(index as usize) {
        slot.op.status = OperationStatus::Cancelled;
        slot.op.end_timestamp = Some(now);
    }
    exec.touch(index);
    exec.push_event(
        index,
        now,
        EventBody::WaitCancelled(update.error.map(Box::new)),
    );
}

#[cfg(test)]
mod tests;
