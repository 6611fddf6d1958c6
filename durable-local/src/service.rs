//! The durable execution service, in process: starts executions, hands out
//! invocation envelopes, validates and applies checkpoints, fires timers,
//! completes callbacks, runs chained invokes as executions of their own,
//! validates invocation outputs and records the history.
//!
//! [`LocalService`] implements [`durable_core::Backend`], so the replay
//! engine checkpoints into it exactly as it would into Lambda. All state sits
//! behind one mutex; a checkpoint does O(changes) work and no JSON.

use std::cmp::Reverse;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use durable_core::wire::{
    CallbackDetails, CheckpointResponse, ContextDetails, ErrorObject, ExecutionDetails,
    ExecutionState, ExecutionStatus, InvocationInput, InvocationOutput, InvocationStatus,
    Operation, OperationAction, OperationStatus, OperationType, OperationUpdate, WaitDetails,
};
use durable_core::{Backend, BackendError, BoxFuture};
use durable_core::{INVALID_CHECKPOINT_TOKEN, INVALID_PARAMETER_VALUE};
use rustc_hash::FxHashSet;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::{LocalError, RESOURCE_NOT_FOUND};
use crate::events::{EventBody, InvocationRecord, InvokeStart, NO_OPERATION};
use crate::fxhash::FxHashMap;
use crate::store::{
    CallbackTimers, ExecutionStore, InFlight, MemoryStore, StoreError, StoredExecution,
};
use crate::validate::{MAX_ERROR_BYTES, MAX_PAYLOAD_BYTES, validate_batch};

/// The largest invocation output the service accepts (6 MiB).
pub const MAX_OUTPUT_BYTES: usize = 6 * 1024 * 1024;
/// The error type of an invocation that crashed (panic, process exit).
pub const RUNTIME_EXIT_ERROR: &str = "Runtime.ExitError";
/// The error type of a callback that ran past its timeout.
pub const CALLBACK_TIMEOUT_ERROR: &str = "Callback.Timeout";
/// The error type of a callback that went without a heartbeat for longer
/// than its heartbeat timeout.
pub const CALLBACK_HEARTBEAT_ERROR: &str = "Callback.Heartbeat";
/// The largest result `SendDurableExecutionCallbackSuccess` accepts (1 MiB).
pub const MAX_CALLBACK_RESULT_BYTES: usize = MAX_PAYLOAD_BYTES;
/// The number of random bytes in a callback id (192 bits, from a CSPRNG).
const CALLBACK_ID_BYTES: usize = 24;

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
    /// Nothing internal is due: the execution waits on something external
    /// (a callback, or a chained invoke whose execution must be driven).
    Idle,
}

/// One callback of an execution, from [`LocalService::callbacks`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackInfo {
    /// The id external systems complete it with.
    pub callback_id: String,
    /// The CALLBACK operation's id.
    pub operation_id: String,
    /// The CALLBACK operation's name.
    pub name: Option<String>,
    /// Its status: STARTED while open, then SUCCEEDED, FAILED or TIMED_OUT.
    pub status: OperationStatus,
    /// When it was created (epoch ms).
    pub start_timestamp: i64,
}

/// The in-process durable execution service. Cheap to clone (clones share
/// the same state).
#[derive(Clone)]
pub struct LocalService {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    clock: Clock,
    config: ServiceConfig,
    /// Woken when a callback is created or an execution ends (for waiters
    /// such as [`LocalRunner::wait_for_callback`](crate::LocalRunner::wait_for_callback)).
    changed: Notify,
}

/// Everything behind the service's lock.
struct State {
    store: Box<dyn ExecutionStore>,
    /// Callback id → where the callback lives.
    callbacks: FxHashMap<String, CallbackHome>,
    /// The functions a chained invoke may target.
    functions: FxHashSet<String>,
}

/// Where a callback lives.
#[derive(Clone, Debug)]
struct CallbackHome {
    arn: String,
    /// The CALLBACK record's index in the execution.
    op: u32,
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

/// A random version-4 UUID in its text form (request ids, execution ids).
pub(crate) fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh callback id: 192 bits from the thread's CSPRNG (ChaCha, seeded
/// from the OS), URL-safe base64 (32 characters). Unguessable, so knowing
/// the id is what authorizes completing the callback.
fn new_callback_id(taken: &FxHashMap<String, CallbackHome>) -> String {
    loop {
        let mut bytes = [0_u8; CALLBACK_ID_BYTES];
        rand::fill(&mut bytes[..]);
        let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

/// The registered function a chained invoke's `FunctionName` names: the
/// name itself, or the function part of an ARN or of `name:qualifier`.
fn resolve_function(functions: &FxHashSet<String>, name: &str) -> Option<String> {
    if functions.contains(name) {
        return Some(name.to_owned());
    }
    let bare = unqualified_function_name(name);
    functions.contains(bare).then(|| bare.to_owned())
}

/// The function name in a function name, a `name:qualifier` (version or
/// alias), or a function ARN (`arn:aws:lambda:…:function:name[:qualifier]`):
/// how Lambda's APIs accept a function, reduced to the name the local
/// service keys functions and executions by.
pub fn unqualified_function_name(name: &str) -> &str {
    let bare = name.rsplit(":function:").next().unwrap_or(name);
    bare.split(':').next().unwrap_or(bare)
}

/// A new, RUNNING execution of `function_name` with its `ExecutionStarted`
/// event (not yet in any store).
fn new_execution(
    config: &ServiceConfig,
    function_name: &str,
    name: Option<&str>,
    input: String,
    now: i64,
) -> StoredExecution {
    let id = uuid_v4();
    let name = name.map_or_else(|| id.clone(), str::to_owned);
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{function_name}/durable-execution/{name}/{id}",
        config.region, config.account_id
    );
    let mut op = Operation::new(id, OperationType::Execution, OperationStatus::Started);
    op.name = Some(name.clone());
    op.start_timestamp = Some(now);
    op.execution_details = Some(Box::new(ExecutionDetails {
        input_payload: Some(input.clone()),
    }));
    let mut exec = StoredExecution::new(arn, function_name.to_owned(), name, input, op, now);
    exec.push_event(0, now, EventBody::ExecutionStarted);
    exec
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
    ///
    /// A store that already holds executions (a durable store reopened after
    /// the process ended) is brought back into service first:
    ///
    /// - the callback ids become known again;
    /// - an invocation that was running when the process ended counts as a
    ///   failed invocation ([`RUNTIME_EXIT_ERROR`], as Lambda counts a
    ///   crashed one), so the execution is invoked again, or fails once
    ///   [`ServiceConfig::max_failed_invocations`] are used up;
    /// - chained invokes whose two executions the crash left out of step
    ///   are reconciled;
    /// - a virtual clock is moved forward to the store's latest timestamp,
    ///   so that time never runs backwards for an execution.
    ///
    /// Timers are armed by the store. The caller drives the RUNNING
    /// executions ([`execution_arns`](Self::execution_arns),
    /// [`next_step`](Self::next_step)).
    pub fn with_store(store: Box<dyn ExecutionStore>, clock: Clock, config: ServiceConfig) -> Self {
        let mut state = State {
            store,
            callbacks: FxHashMap::default(),
            functions: FxHashSet::default(),
        };
        if clock.is_virtual()
            && let Some(latest) = latest_timestamp(&*state.store)
        {
            clock.advance_to(latest);
        }
        recover(&mut state, clock.now_ms(), &config);
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                clock,
                config,
                changed: Notify::new(),
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; should it ever, the state is
        // still consistent per operation, so keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Woken whenever a callback is created or an execution ends.
    pub fn changed(&self) -> &Notify {
        &self.shared.changed
    }

    /// Lets chained invokes target `function_name` (by that name, by an ARN
    /// naming it, or by `name:qualifier`). A chained invoke of a function
    /// that is not registered fails at once with `ResourceNotFoundException`.
    /// [`LocalRunner`](crate::LocalRunner) registers its own function and
    /// every [`register_function`](crate::LocalRunner::register_function).
    pub fn register_function(&self, function_name: impl Into<String>) {
        self.lock().functions.insert(function_name.into());
    }

    /// Whether chained invokes may target `function_name`.
    pub fn is_function_registered(&self, function_name: &str) -> bool {
        resolve_function(&self.lock().functions, function_name).is_some()
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
    /// [`ServiceConfig::max_failed_invocations`] in a row the execution fails
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

    // ----- callbacks (the external system's API) -----

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
    fn with_open_callback(
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
                .filter_map(|slot| callback_info(&slot.op))
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
                .filter_map(|slot| callback_info(&slot.op))
                .collect()
        })
    }

    /// The id of the callback named `name` in `arn` (`"*"`: any callback):
    /// the first open one with that name, else the last one created.
    pub fn find_callback(&self, arn: &str, name: &str) -> Result<Option<String>, LocalError> {
        let matches = |info: &CallbackInfo| name == "*" || info.name.as_deref() == Some(name);
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

    /// The ARNs of the executions that the running chained invokes of `arn`
    /// started.
    pub fn running_chained_invokes(&self, arn: &str) -> Result<Vec<String>, LocalError> {
        self.with_execution(arn, |exec| {
            exec.running_chained_invokes().map(str::to_owned).collect()
        })
    }

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

fn commit(store: &mut dyn ExecutionStore, arn: &str) -> Result<(), LocalError> {
    store.commit(arn).map_err(LocalError::Store)
}

/// The error an invocation that was running when the service's process
/// ended is recorded with when the service starts again.
fn interrupted_error() -> ErrorObject {
    ErrorObject::new(
        RUNTIME_EXIT_ERROR,
        "The invocation was lost: the service stopped while it ran (it counts as a failed \
         invocation)",
    )
}

/// The error an orphaned chained-invoke execution is stopped with.
fn orphan_error(parent_arn: &str) -> ErrorObject {
    ErrorObject {
        error_message: Some(format!(
            "Stopped because the checkpoint of {parent_arn} that started it was never \
             acknowledged (the service stopped first)"
        )),
        ..ErrorObject::default()
    }
}

/// The latest timestamp any execution of `store` recorded.
fn latest_timestamp(store: &dyn ExecutionStore) -> Option<i64> {
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
///    again) or, past [`ServiceConfig::max_failed_invocations`], the
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
fn recover(state: &mut State, now: i64, config: &ServiceConfig) {
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

/// Ends the invocation `in_flight` of `exec` with `result` (see
/// [`LocalService::complete_invocation`]): the invocation is counted and
/// recorded, the output applied or the failure counted. Returns what comes
/// next and whether the execution ended with this invocation (an execution
/// stopped while the invocation ran had already ended). Commits nothing.
fn settle_invocation(
    exec: &mut StoredExecution,
    in_flight: InFlight,
    result: InvocationResult,
    now: i64,
    max_failures: u32,
) -> (NextStep, bool) {
    exec.invocations = exec.invocations.saturating_add(1);
    if exec.end_event_due {
        // An EXECUTION update already ended the execution; the output no
        // longer matters.
        let error = match result {
            InvocationResult::Failed(error) => Some(error),
            InvocationResult::Output(_) => None,
        };
        record_invocation(exec, in_flight, now, error);
        record_execution_end(exec, now);
        return (NextStep::Finished(exec.status.clone()), true);
    }
    if exec.status.is_terminal() {
        // Stopped while the invocation ran: its output no longer matters.
        let error = match result {
            InvocationResult::Failed(error) => Some(error),
            InvocationResult::Output(_) => None,
        };
        record_invocation(exec, in_flight, now, error);
        return (NextStep::Finished(exec.status.clone()), false);
    }
    match check_output(exec, result) {
        Ok(output) => {
            exec.consecutive_failures = 0;
            record_invocation(exec, in_flight, now, None);
            match output.status {
                InvocationStatus::Succeeded => {
                    finish(exec, Outcome::Succeeded(output.result), now);
                    record_execution_end(exec, now);
                    (NextStep::Finished(ExecutionStatus::Succeeded), true)
                }
                InvocationStatus::Failed => {
                    finish(exec, Outcome::Failed(output.error), now);
                    record_execution_end(exec, now);
                    (NextStep::Finished(ExecutionStatus::Failed), true)
                }
                _ => (pending_step(exec), false),
            }
        }
        Err(error) => {
            exec.consecutive_failures = exec.consecutive_failures.saturating_add(1);
            record_invocation(exec, in_flight, now, Some(error.clone()));
            if exec.consecutive_failures >= max_failures {
                finish(exec, Outcome::Failed(Some(error)), now);
                record_execution_end(exec, now);
                (NextStep::Finished(ExecutionStatus::Failed), true)
            } else {
                exec.wake = true;
                (NextStep::Invoke, false)
            }
        }
    }
}

// ----- invocation outputs -----

/// How an execution ends.
enum Outcome {
    Succeeded(Option<String>),
    Failed(Option<ErrorObject>),
    Stopped(ErrorObject),
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
    let (status, execution_status) = match outcome {
        Outcome::Succeeded(result) => {
            exec.result = result;
            (OperationStatus::Succeeded, ExecutionStatus::Succeeded)
        }
        Outcome::Failed(error) => {
            exec.error = error;
            (OperationStatus::Failed, ExecutionStatus::Failed)
        }
        Outcome::Stopped(error) => {
            exec.error = Some(error);
            (OperationStatus::Stopped, ExecutionStatus::Stopped)
        }
    };
    exec.status = execution_status;
    exec.end_timestamp = Some(now);
    exec.token_live = false;
    exec.timers.clear();
    exec.open_callbacks.clear();
    exec.wake = false;
    if let Some(slot) = exec.slots.get_mut(0) {
        slot.op.status = status;
        slot.op.end_timestamp = Some(now);
    }
    exec.touch(0);
}

fn record_execution_end(exec: &mut StoredExecution, now: i64) {
    let error = || exec.error.clone().map(Box::new);
    let body = match exec.status {
        ExecutionStatus::Succeeded => EventBody::ExecutionSucceeded(exec.result.clone()),
        ExecutionStatus::Stopped => EventBody::ExecutionStopped(error()),
        ExecutionStatus::TimedOut => EventBody::ExecutionTimedOut(error()),
        _ => EventBody::ExecutionFailed(error()),
    };
    exec.end_event_due = false;
    exec.push_event(0, now, body);
}

/// Stops a RUNNING execution (see [`LocalService::stop_execution`]); returns
/// the stop time, or the end time of an execution that already ended.
fn stop(
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
fn cancelled_error(parent_arn: &str) -> ErrorObject {
    ErrorObject {
        error_message: Some(format!(
            "Stopped because the chained invoke that started it was cancelled by {parent_arn}"
        )),
        ..ErrorObject::default()
    }
}

/// How a chained invoke ends.
enum InvokeEnd {
    Succeeded(Option<String>),
    Failed(Option<ErrorObject>),
    TimedOut(Option<ErrorObject>),
    Stopped(Option<ErrorObject>),
}

/// When the execution `child_arn` has ended and a chained invoke started it,
/// ends that CHAINED_INVOKE in the parent the same way (its record, a
/// `ChainedInvoke*` event) and makes the parent ready to be invoked again.
fn propagate_end(
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

/// Ends the STARTED chained invoke at `index`: status, result or error,
/// the event; the execution is to be invoked again. False if the record
/// was not a STARTED chained invoke.
fn end_chained_invoke(exec: &mut StoredExecution, index: u32, now: i64, end: InvokeEnd) -> bool {
    exec.running_invokes.retain(|(i, _)| *i != index);
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return false;
    };
    let op = &mut slot.op;
    if op.operation_type != OperationType::ChainedInvoke || op.status != OperationStatus::Started {
        return false;
    }
    op.end_timestamp = Some(now);
    let details = op.chained_invoke_details.get_or_insert_with(Box::default);
    let boxed = |error: &Option<ErrorObject>| error.clone().map(Box::new);
    let body = match end {
        InvokeEnd::Succeeded(result) => {
            op.status = OperationStatus::Succeeded;
            details.result = result;
            EventBody::ChainedInvokeSucceeded(details.result.clone())
        }
        InvokeEnd::Failed(error) => {
            op.status = OperationStatus::Failed;
            details.error = error;
            EventBody::ChainedInvokeFailed(boxed(&details.error))
        }
        InvokeEnd::TimedOut(error) => {
            op.status = OperationStatus::TimedOut;
            details.error = error;
            EventBody::ChainedInvokeTimedOut(boxed(&details.error))
        }
        InvokeEnd::Stopped(error) => {
            op.status = OperationStatus::Stopped;
            details.error = error;
            EventBody::ChainedInvokeStopped(boxed(&details.error))
        }
    };
    exec.touch(index);
    exec.service_updated.push(index);
    exec.wake = true;
    exec.push_event(index, now, body);
    true
}

/// How a callback closes.
enum CallbackEnd {
    Succeeded(Option<String>),
    Failed(ErrorObject),
    TimedOut(ErrorObject),
}

/// Closes the open callback at `index`: status, result or error, the event;
/// the execution is to be invoked again.
fn close_callback(exec: &mut StoredExecution, index: u32, now: i64, end: CallbackEnd) {
    exec.open_callbacks.remove(&index);
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    op.end_timestamp = Some(now);
    let details = op.callback_details.get_or_insert_with(Box::default);
    let body = match end {
        CallbackEnd::Succeeded(result) => {
            op.status = OperationStatus::Succeeded;
            details.result = result;
            EventBody::CallbackSucceeded(details.result.clone())
        }
        CallbackEnd::Failed(error) => {
            op.status = OperationStatus::Failed;
            let event = Box::new(error.clone());
            details.error = Some(error);
            EventBody::CallbackFailed(Some(event))
        }
        CallbackEnd::TimedOut(error) => {
            op.status = OperationStatus::TimedOut;
            let event = Box::new(error.clone());
            details.error = Some(error);
            EventBody::CallbackTimedOut(Some(event))
        }
    };
    exec.touch(index);
    exec.service_updated.push(index);
    exec.wake = true;
    exec.push_event(index, now, body);
}

/// A callback record as a [`CallbackInfo`] (`None` for other records).
fn callback_info(op: &Operation) -> Option<CallbackInfo> {
    if op.operation_type != OperationType::Callback {
        return None;
    }
    Some(CallbackInfo {
        callback_id: op.callback_details.as_ref()?.callback_id.clone()?,
        operation_id: op.id.clone(),
        name: op.name.clone(),
        status: op.status.clone(),
        start_timestamp: op.start_timestamp.unwrap_or_default(),
    })
}

// ----- timers -----

/// Whether the timer `(due, op)` still applies to its record.
fn timer_is_live(exec: &StoredExecution, due: i64, op: u32) -> bool {
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
fn next_timer(exec: &mut StoredExecution) -> Option<i64> {
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
fn has_pending_work(exec: &mut StoredExecution) -> bool {
    exec.ready_ops > 0
        || exec.wake
        || !exec.open_callbacks.is_empty()
        || !exec.running_invokes.is_empty()
        || next_timer(exec).is_some()
}

fn pending_step(exec: &mut StoredExecution) -> NextStep {
    if exec.ready_ops > 0 || exec.wake {
        return NextStep::Invoke;
    }
    match next_timer(exec) {
        Some(due) => NextStep::WaitUntil(due),
        None => NextStep::Idle,
    }
}

fn fire_due_timers(exec: &mut StoredExecution, now: i64) -> usize {
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

// ----- applying updates (the batch is already validated) -----

/// What applying a batch needs beyond the execution itself.
struct ApplyCx<'a> {
    arn: &'a str,
    config: &'a ServiceConfig,
    functions: &'a FxHashSet<String>,
    callbacks: &'a mut FxHashMap<String, CallbackHome>,
    effects: &'a mut Effects,
}

/// What a batch asks of other executions, done once it is applied.
#[derive(Default)]
struct Effects {
    /// Executions to create for chained invokes.
    children: Vec<StoredExecution>,
    /// Executions to stop (their chained invoke was cancelled).
    stopped_children: Vec<String>,
    /// Wake waiters (a callback was created).
    notify: bool,
}

fn apply(exec: &mut StoredExecution, update: OperationUpdate, now: i64, cx: &mut ApplyCx<'_>) {
    match update.operation_type {
        OperationType::Step => apply_step(exec, update, now),
        OperationType::Context => apply_context(exec, update, now),
        OperationType::Wait => apply_wait(exec, update, now),
        OperationType::Callback => apply_callback(exec, update, now, cx),
        OperationType::ChainedInvoke => apply_chained_invoke(exec, update, now, cx),
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

fn apply_context(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    let replay_children = update.context_options.as_ref().map(|o| o.replay_children);
    let existing = exec.find(&update.id);
    if update.action == OperationAction::Start {
        let mut op = new_record(&mut update, OperationStatus::Started, now);
        op.context_details = replay_children.map(|replay| {
            Box::new(ContextDetails {
                replay_children: Some(replay),
                result: None,
                error: None,
            })
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
    let details = op.context_details.get_or_insert_with(Box::default);
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
        op.wait_details = Some(Box::new(WaitDetails {
            scheduled_end_timestamp: Some(due),
        }));
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

/// CALLBACK START (the only action): a STARTED record with a fresh
/// `CallbackId`, registered for the callback API, with its timers armed.
fn apply_callback(
    exec: &mut StoredExecution,
    mut update: OperationUpdate,
    now: i64,
    cx: &mut ApplyCx<'_>,
) {
    let options = update.callback_options.take().unwrap_or_default();
    let callback_id = new_callback_id(cx.callbacks);
    let mut op = new_record(&mut update, OperationStatus::Started, now);
    op.callback_details = Some(Box::new(CallbackDetails {
        callback_id: Some(callback_id.clone()),
        result: None,
        error: None,
    }));
    let index = exec.push_operation(op);
    let seconds = |s: i32| (s > 0).then_some(s);
    let (timeout, heartbeat) = (
        seconds(options.timeout_seconds),
        seconds(options.heartbeat_timeout_seconds),
    );
    let deadline = |s: i32| now.saturating_add(i64::from(s) * 1000);
    let timers = CallbackTimers {
        timeout_due: timeout.map(deadline),
        heartbeat_seconds: heartbeat.unwrap_or(0),
        heartbeat_due: heartbeat.map(deadline),
    };
    for due in [timers.timeout_due, timers.heartbeat_due]
        .into_iter()
        .flatten()
    {
        exec.arm_timer(due, index);
    }
    exec.open_callbacks.insert(index, timers);
    exec.callbacks_created = exec.callbacks_created.saturating_add(1);
    cx.callbacks.insert(
        callback_id,
        CallbackHome {
            arn: cx.arn.to_owned(),
            op: index,
        },
    );
    cx.effects.notify = true;
    exec.push_event(
        index,
        now,
        EventBody::CallbackStarted {
            timeout,
            heartbeat_timeout: heartbeat,
        },
    );
}

/// CHAINED_INVOKE START: a STARTED record and a new execution of the target
/// (created once the batch is applied), or, for a function that is not
/// registered, a record that FAILED at once with `ResourceNotFoundException`.
/// CANCEL: the record is CANCELLED (`ChainedInvokeStopped`) and the target's
/// execution is stopped.
fn apply_chained_invoke(
    exec: &mut StoredExecution,
    mut update: OperationUpdate,
    now: i64,
    cx: &mut ApplyCx<'_>,
) {
    if update.action == OperationAction::Cancel {
        // Validated: the record exists and is STARTED.
        let Some(index) = exec.find(&update.id) else {
            return;
        };
        let child = exec
            .running_invokes
            .iter()
            .position(|(i, _)| *i == index)
            .map(|at| exec.running_invokes.swap_remove(at).1);
        if let Some(slot) = exec.slots.get_mut(index as usize) {
            slot.op.status = OperationStatus::Cancelled;
            slot.op.end_timestamp = Some(now);
        }
        let error = update.error.unwrap_or_else(|| ErrorObject {
            error_message: Some("The chained invoke was cancelled".to_owned()),
            ..ErrorObject::default()
        });
        if let Some(slot) = exec.slots.get_mut(index as usize) {
            slot.op
                .chained_invoke_details
                .get_or_insert_with(Box::default)
                .error = Some(error.clone());
        }
        exec.touch(index);
        exec.push_event(
            index,
            now,
            EventBody::ChainedInvokeStopped(Some(Box::new(error))),
        );
        cx.effects.stopped_children.extend(child);
        return;
    }
    let options = update.chained_invoke_options.take().unwrap_or_default();
    let input = update.payload.take();
    let mut op = new_record(&mut update, OperationStatus::Started, now);
    op.chained_invoke_details = Some(Box::default());
    let index = exec.push_operation(op);
    let mut start = InvokeStart {
        function_name: options.function_name,
        tenant_id: options.tenant_id,
        input,
        execution_arn: None,
    };
    let Some(function) = resolve_function(cx.functions, &start.function_name) else {
        let error = ErrorObject::new(
            RESOURCE_NOT_FOUND,
            format!(
                "Function not found: {}. The local service invokes only functions registered \
                 with it (LocalRunner::register_function, LocalService::register_function).",
                start.function_name
            ),
        );
        exec.push_event(index, now, EventBody::ChainedInvokeStarted(Box::new(start)));
        // The caller learns it from this checkpoint's delta: no re-invocation.
        let wake = exec.wake;
        end_chained_invoke(exec, index, now, InvokeEnd::Failed(Some(error)));
        exec.wake = wake;
        exec.service_updated.pop();
        return;
    };
    // Lambda hands a function invoked without a payload an empty object.
    let child_input = start.input.clone().unwrap_or_else(|| "{}".to_owned());
    let mut child = new_execution(cx.config, &function, None, child_input, now);
    child.parent = Some((cx.arn.to_owned(), index));
    start.execution_arn = Some(child.arn.clone());
    exec.running_invokes.push((index, child.arn.clone()));
    cx.effects.children.push(child);
    exec.push_event(index, now, EventBody::ChainedInvokeStarted(Box::new(start)));
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod external_tests;

#[cfg(test)]
mod recovery_tests;
