//! [`LocalRunner`]: run a durable handler to completion in process (see the
//! crate docs for an example).
//!
//! Each runner owns its service and its clock. By default the clock is
//! virtual: waits and retry back-offs complete at once, and timestamps still
//! show the waited time.
//!
//! # Callbacks
//!
//! A run returns when the execution has ended or when nothing internal is
//! left to do: then it is RUNNING, waiting on a callback. Complete the
//! callback ([`LocalRunner::callback_success`], by id or by the callback
//! operation's name, see [`CallbackRef`]) and [`resume`](LocalRunner::resume).
//! To have callbacks completed during the run, in virtual-time order with the
//! engine's own timers, schedule what the external system does beforehand
//! with [`LocalRunner::on_callback`].
//!
//! On the real clock, a run that sleeps until a timer (a callback's timeout,
//! a wait) wakes as soon as another task completes a callback through
//! [`LocalService::send_callback_success`] (or fails or heartbeats it), and
//! invokes the execution again at once.
//!
//! # Chained invokes
//!
//! A chained invoke runs a function registered with
//! [`LocalRunner::register_function`] (or the runner's own function) as an
//! execution of its own. Driving the caller drives the invoked executions
//! too, on the same clock; when one ends, the caller is invoked again.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use durable_core::wire::{
    ErrorObject, Event, EventType, ExecutionStatus, InvocationInput, InvocationOutput, Operation,
    OperationStatus, OperationType,
};
use durable_core::{Backend, BoxFuture, DurableHandler, InvocationConfig, InvocationError};
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::driver::{Driver, DriverHost};
use crate::error::{LocalError, RESOURCE_NOT_FOUND};
use crate::events::EventRecord;
use crate::fxhash::FxHashMap;
use crate::service::{
    Invocation, InvocationResult, LocalService, RUNTIME_EXIT_ERROR, ServiceConfig,
};
use crate::store::{ExecutionStore, MemoryStore, StoredExecution};
use crate::timeline::Timeline;

/// The function name executions get unless [`LocalRunner::function_name`] says otherwise.
pub const DEFAULT_FUNCTION_NAME: &str = "local-function";

/// Default bound on invocations per [`LocalRunner::run`].
pub const DEFAULT_MAX_INVOCATIONS: u32 = 10_000;

/// One invocation of a registered function, its types erased.
type InvokeFn = Arc<
    dyn Fn(
            InvocationInput,
            Arc<dyn Backend>,
            InvocationConfig,
        ) -> BoxFuture<'static, Result<InvocationOutput, InvocationError>>
        + Send
        + Sync,
>;

/// Runs a durable handler in process against a [`LocalService`].
pub struct LocalRunner<H, E, T> {
    handler: H,
    service: LocalService,
    backend: Arc<dyn Backend>,
    function_name: String,
    config: InvocationConfig,
    max_invocations: u32,
    retain_finished: bool,
    /// Functions chained invokes may run, by name.
    functions: FxHashMap<String, InvokeFn>,
    /// Scheduled external callback actions.
    rules: Mutex<Rules>,
    /// The executions a run of this runner is driving right now.
    driving: Mutex<Vec<String>>,
    _types: PhantomData<fn(E) -> T>,
}

impl<H, E, T> std::fmt::Debug for LocalRunner<H, E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut functions: Vec<&String> = self.functions.keys().collect();
        functions.sort();
        f.debug_struct("LocalRunner")
            .field("service", &self.service)
            .field("function_name", &self.function_name)
            .field("functions", &functions)
            .field("max_invocations", &self.max_invocations)
            .field("retain_finished", &self.retain_finished)
            .finish_non_exhaustive()
    }
}

/// A callback, named by its id or by its operation's name.
///
/// `&str` and `&String` convert into [`CallbackRef::Id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackRef<'a> {
    /// The callback id (`CallbackDetails.CallbackId`), as an external system
    /// receives it.
    Id(&'a str),
    /// The CALLBACK operation named `name` in the execution `arn` (`"*"`:
    /// any): the first open one with that name, else the last one created.
    Named {
        /// The execution ARN.
        arn: &'a str,
        /// The callback operation's name.
        name: &'a str,
    },
}

impl<'a> CallbackRef<'a> {
    /// The callback operation named `name` in execution `arn`.
    pub fn named(arn: &'a str, name: &'a str) -> Self {
        Self::Named { arn, name }
    }
}

impl<'a> From<&'a str> for CallbackRef<'a> {
    fn from(id: &'a str) -> Self {
        Self::Id(id)
    }
}

impl<'a> From<&'a String> for CallbackRef<'a> {
    fn from(id: &'a String) -> Self {
        Self::Id(id)
    }
}

/// What an external system does to a callback, scheduled with
/// [`LocalRunner::on_callback`]: succeed, fail or heartbeat it, `after` a
/// delay counted from when the callback started (or from the previous
/// action on the same name, if later).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackAction {
    kind: ActionKind,
    delay: Duration,
}

#[derive(Clone, Debug, PartialEq)]
enum ActionKind {
    Success(Vec<u8>),
    Failure(ErrorObject),
    Heartbeat,
}

impl CallbackAction {
    /// `SendDurableExecutionCallbackSuccess` with `result` as the body (the
    /// conformance files send `json.dumps(value)`: see [`success_json`](Self::success_json)).
    pub fn success(result: impl Into<Vec<u8>>) -> Self {
        Self {
            kind: ActionKind::Success(result.into()),
            delay: Duration::ZERO,
        }
    }

    /// `SendDurableExecutionCallbackSuccess` with `value` serialized as JSON.
    ///
    /// # Errors
    /// `value` does not serialize.
    pub fn success_json(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Self::success)
    }

    /// `SendDurableExecutionCallbackFailure` with `error`.
    pub fn failure(error: ErrorObject) -> Self {
        Self {
            kind: ActionKind::Failure(error),
            delay: Duration::ZERO,
        }
    }

    /// `SendDurableExecutionCallbackHeartbeat`.
    pub fn heartbeat() -> Self {
        Self {
            kind: ActionKind::Heartbeat,
            delay: Duration::ZERO,
        }
    }

    /// Waits `delay` before acting (default: act as soon as the callback starts).
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// The scheduled callback actions of a runner.
#[derive(Debug, Default)]
struct Rules {
    rules: Vec<Rule>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    /// A callback operation name, or `*` for any.
    pattern: String,
    action: CallbackAction,
    state: RuleState,
}

#[derive(Debug)]
enum RuleState {
    /// Not bound to a callback yet.
    Waiting,
    /// Acts on `callback_id` (in `arn`) at `due` (epoch ms).
    Bound {
        arn: String,
        callback_id: String,
        due: i64,
    },
    /// Acted at `at`.
    Done { at: i64 },
}

/// The runner as the [`Driver`]'s host: it runs the handlers, marks what
/// it drives, and performs the scheduled callback actions.
struct RunHost<'r, H, E, T> {
    runner: &'r LocalRunner<H, E, T>,
    guard: Mutex<DrivingGuard<'r>>,
}

impl<H, E, T> DriverHost for RunHost<'_, H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        invocation: Invocation,
    ) -> BoxFuture<'a, InvocationResult> {
        Box::pin(self.runner.invoke(function, invocation.input))
    }

    fn driving(&self, arns: &[String]) {
        {
            let mut guard = lock(&self.guard);
            for arn in arns {
                if !guard.arns.contains(arn) {
                    guard.add(arn);
                }
            }
        }
        self.runner.bind_callback_actions(arns);
    }

    fn next_scheduled(&self, arns: &[String]) -> Option<i64> {
        self.runner.next_callback_action(arns).map(|(due, _)| due)
    }

    fn fire_scheduled(&self, arns: &[String]) {
        if let Some((_, rule)) = self.runner.next_callback_action(arns) {
            self.runner.fire_callback_action(rule);
        }
    }
}

/// Marks executions as driven by a run; unmarks them (and wakes
/// [`LocalRunner::wait_for_callback`]) when the run ends, however it ends.
struct DrivingGuard<'r> {
    driving: &'r Mutex<Vec<String>>,
    service: &'r LocalService,
    arns: Vec<String>,
}

impl DrivingGuard<'_> {
    fn add(&mut self, arn: &str) {
        lock(self.driving).push(arn.to_owned());
        self.arns.push(arn.to_owned());
    }
}

impl Drop for DrivingGuard<'_> {
    fn drop(&mut self) {
        let mut driving = lock(self.driving);
        for arn in &self.arns {
            if let Some(at) = driving.iter().position(|a| a == arn) {
                driving.swap_remove(at);
            }
        }
        drop(driving);
        self.service.changed().notify_waiters();
    }
}

/// Locks a runner mutex (nothing panics while one is held; keep going if
/// something ever did).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn duration_ms(delay: Duration) -> i64 {
    i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)
}

impl<H, E, T> LocalRunner<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    /// A runner for `handler` with its own in-memory service on a virtual clock.
    pub fn new(handler: H) -> Self {
        Self::with_service(handler, LocalService::new(Clock::virtual_now()))
    }

    /// A runner for `handler` over an existing service (its store, clock and settings).
    pub fn with_service(handler: H, service: LocalService) -> Self {
        let backend: Arc<dyn Backend> = Arc::new(service.clone());
        service.register_function(DEFAULT_FUNCTION_NAME);
        Self {
            handler,
            service,
            backend,
            function_name: DEFAULT_FUNCTION_NAME.to_owned(),
            config: InvocationConfig::default(),
            max_invocations: DEFAULT_MAX_INVOCATIONS,
            retain_finished: true,
            functions: FxHashMap::default(),
            rules: Mutex::default(),
            driving: Mutex::default(),
            _types: PhantomData,
        }
    }

    /// Uses `clock` instead of the default virtual clock. Replaces the
    /// service: call it before starting executions.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        let config = self.service.config().clone();
        let service = LocalService::with_store(Box::new(MemoryStore::new()), clock, config);
        self.replace_service(service)
    }

    /// Uses the real clock: waits and retry back-offs really take their time.
    /// Replaces the service: call it before starting executions.
    #[must_use]
    pub fn with_real_time(self) -> Self {
        self.with_clock(Clock::real())
    }

    /// Uses `store` and `config` (page size, failed-invocation budget, ARN
    /// parts) on the runner's clock. Replaces the service: call it before
    /// starting executions.
    #[must_use]
    pub fn with_store(self, store: Box<dyn ExecutionStore>, config: ServiceConfig) -> Self {
        let clock = self.service.clock().clone();
        self.replace_service(LocalService::with_store(store, clock, config))
    }

    fn replace_service(mut self, service: LocalService) -> Self {
        service.register_function(self.function_name.clone());
        for name in self.functions.keys() {
            service.register_function(name.clone());
        }
        self.backend = Arc::new(service.clone());
        self.service = service;
        self
    }

    /// The function name used in execution ARNs (default `local-function`);
    /// chained invokes of this name run the runner's own handler.
    #[must_use]
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self.service.register_function(self.function_name.clone());
        self
    }

    /// Registers `handler` as the function `name`, for chained invokes
    /// (`ctx.invoke("name", input)`): each invoke starts an execution of its
    /// own (its own ARN and history) that the runner drives together with
    /// the caller. The handler may have other input and output types than
    /// the runner's. A chained invoke of a name that is not registered fails
    /// with `ResourceNotFoundException`.
    #[must_use]
    pub fn register_function<F, FE, FT>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: DurableHandler<FE, FT>,
        FE: DeserializeOwned + Send + 'static,
        FT: Serialize + Send + 'static,
    {
        let name = name.into();
        let handler = Arc::new(handler);
        let invoke: InvokeFn = Arc::new(move |input, backend, config| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                durable_core::run_invocation(&*handler, input, backend, &config).await
            })
        });
        self.service.register_function(name.clone());
        self.functions.insert(name, invoke);
        self
    }

    /// The configuration passed to every invocation.
    #[must_use]
    pub fn invocation_config(mut self, config: InvocationConfig) -> Self {
        self.config = config;
        self
    }

    /// The most invocations one [`run`](Self::run) may make before it gives
    /// up with [`LocalError::InvocationLimit`] (default 10 000).
    #[must_use]
    pub fn max_invocations(mut self, max: u32) -> Self {
        self.max_invocations = max.max(1);
        self
    }

    /// Whether finished executions stay in the service (default true, which
    /// idempotent start by name needs). With false, a finished execution is
    /// moved out of the service into the returned [`Execution`], which keeps
    /// memory flat in long benchmarks.
    #[must_use]
    pub fn retain_finished(mut self, retain: bool) -> Self {
        self.retain_finished = retain;
        self
    }

    /// The runner's service.
    pub fn service(&self) -> &LocalService {
        &self.service
    }

    /// The runner's clock.
    pub fn clock(&self) -> &Clock {
        self.service.clock()
    }

    /// Starts an execution with `input` and runs invocations until it ends or
    /// waits on something external (then its status is RUNNING).
    pub async fn run(&self, input: impl Serialize) -> Result<Execution, LocalError> {
        let input = serde_json::to_string(&input).map_err(LocalError::Input)?;
        self.start_and_drive(input, None).await
    }

    /// Like [`run`](Self::run), with options: `runner.start(input).name("order-1").await`.
    pub fn start(&self, input: impl Serialize) -> Start<'_, H, E, T> {
        Start {
            runner: self,
            input: serde_json::to_string(&input),
            name: None,
        }
    }

    /// Runs invocations of an existing execution until it ends or waits on
    /// something external (for example after a callback was completed).
    pub async fn resume(&self, arn: &str) -> Result<Execution, LocalError> {
        self.drive(arn).await
    }

    /// A snapshot of an execution.
    pub fn execution(&self, arn: &str) -> Result<Execution, LocalError> {
        self.service.with_execution(arn, Execution::from_stored)
    }

    async fn start_and_drive(
        &self,
        input: String,
        name: Option<String>,
    ) -> Result<Execution, LocalError> {
        let started = self
            .service
            .start_execution(&self.function_name, name.as_deref(), input)?;
        self.drive(&started.arn).await
    }

    /// Drives `root` and the executions of its running chained invokes, in
    /// time order on the shared clock, until `root` ends or nothing internal
    /// or scheduled is left.
    async fn drive(&self, root: &str) -> Result<Execution, LocalError> {
        let host = RunHost {
            runner: self,
            guard: Mutex::new(DrivingGuard {
                driving: &self.driving,
                service: &self.service,
                arns: Vec::new(),
            }),
        };
        let report = Driver::new(&self.service, &host)
            .max_invocations(self.max_invocations)
            .drive(root)
            .await?;
        drop(host);
        if !self.retain_finished && report.finished {
            for callee in report.executions.iter().skip(1) {
                let ended = self
                    .service
                    .with_execution(callee, |exec| exec.status().is_terminal());
                if ended.unwrap_or(false) {
                    self.service.remove_execution(callee);
                }
            }
            if let Some(exec) = self.service.remove_execution(root) {
                return Ok(Execution::from_owned(exec));
            }
        }
        self.execution(root)
    }

    /// One invocation of `function`; a panic is a crash (`Runtime.ExitError`).
    async fn invoke(&self, function: &str, input: InvocationInput) -> InvocationResult {
        let backend = Arc::clone(&self.backend);
        let outcome = if function == self.function_name {
            let invocation =
                durable_core::run_invocation(&self.handler, input, backend, &self.config);
            AssertUnwindSafe(invocation).catch_unwind().await
        } else if let Some(registered) = self.functions.get(function) {
            AssertUnwindSafe(registered(input, backend, self.config.clone()))
                .catch_unwind()
                .await
        } else {
            return InvocationResult::Failed(ErrorObject::new(
                RESOURCE_NOT_FOUND,
                format!(
                    "Function not found: {function}. Register a handler for it with \
                     LocalRunner::register_function."
                ),
            ));
        };
        match outcome {
            Ok(Ok(output)) => InvocationResult::Output(output),
            Ok(Err(error)) => {
                InvocationResult::Failed(ErrorObject::new(error.error_type(), error.message()))
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic payload".to_owned());
                InvocationResult::Failed(ErrorObject::new(
                    RUNTIME_EXIT_ERROR,
                    format!("the handler panicked: {message}"),
                ))
            }
        }
    }

    // ----- callbacks -----

    /// The id of `callback`.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] for an unknown execution,
    /// [`LocalError::CallbackNameNotFound`] when it has no callback of that name.
    pub fn callback_id<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
    ) -> Result<String, LocalError> {
        match callback.into() {
            CallbackRef::Id(id) => Ok(id.to_owned()),
            CallbackRef::Named { arn, name } => {
                self.service.find_callback(arn, name)?.ok_or_else(|| {
                    LocalError::CallbackNameNotFound {
                        arn: arn.to_owned(),
                        name: name.to_owned(),
                    }
                })
            }
        }
    }

    /// Completes `callback` with `result` (see
    /// [`LocalService::send_callback_success`]); [`resume`](Self::resume)
    /// the execution to let it go on.
    ///
    /// # Errors
    /// As [`callback_id`](Self::callback_id) and
    /// [`LocalService::send_callback_success`] (unknown id, callback already
    /// closed, result over 1 MiB).
    pub fn callback_success<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
        result: impl AsRef<[u8]>,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service.send_callback_success(&id, result.as_ref())
    }

    /// Fails `callback` with `error` (see [`LocalService::send_callback_failure`]);
    /// [`resume`](Self::resume) the execution to let it go on.
    ///
    /// # Errors
    /// As [`callback_success`](Self::callback_success).
    pub fn callback_failure<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
        error: ErrorObject,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service.send_callback_failure(&id, error)
    }

    /// Sends a heartbeat for `callback` (see [`LocalService::send_callback_heartbeat`]).
    ///
    /// # Errors
    /// As [`callback_success`](Self::callback_success).
    pub fn callback_heartbeat<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service.send_callback_heartbeat(&id)
    }

    /// Waits until execution `arn` has a callback operation named `name`
    /// (`"*"`: any) and returns its id.
    ///
    /// On the real clock, or while a run of this runner is driving the
    /// execution (for example one spawned on another task), this waits for
    /// the callback to be created. Otherwise (virtual clock, nothing driving)
    /// nothing can create it, so it answers at once.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] for an unknown execution;
    /// [`LocalError::CallbackNameNotFound`] when the callback does not exist
    /// and cannot appear (the execution has ended, or nothing drives it on a
    /// virtual clock).
    pub async fn wait_for_callback(&self, arn: &str, name: &str) -> Result<String, LocalError> {
        let changed = self.service.changed();
        loop {
            let notified = changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(id) = self.service.find_callback(arn, name)? {
                return Ok(id);
            }
            let ended = self
                .service
                .with_execution(arn, |exec| exec.status().is_terminal())?;
            let driven = lock(&self.driving).iter().any(|a| a == arn);
            if ended || (self.clock().is_virtual() && !driven) {
                return Err(LocalError::CallbackNameNotFound {
                    arn: arn.to_owned(),
                    name: name.to_owned(),
                });
            }
            notified.await;
        }
    }

    /// Schedules what an external system does to a callback: when a
    /// callback operation named `name` (`"*"`: any) is open in an execution
    /// this runner drives, `action` happens after its delay, in time order
    /// with the engine's own timers (on the virtual clock too).
    ///
    /// Each scheduled action acts once. Actions for the same `name` act in
    /// the order they were scheduled: the first binds to the first open
    /// matching callback; the next binds once the first has acted (to the
    /// same callback if it is still open, as after a heartbeat, else to the
    /// next one to start), its delay counted from then. Actions for different
    /// names are independent. A failed action (say, the callback had already
    /// timed out) is reported by [`callback_action_errors`](Self::callback_action_errors).
    pub fn on_callback(&self, name: impl Into<String>, action: CallbackAction) -> &Self {
        lock(&self.rules).rules.push(Rule {
            pattern: name.into(),
            action,
            state: RuleState::Waiting,
        });
        self
    }

    /// The scheduled callback actions that failed, as messages.
    pub fn callback_action_errors(&self) -> Vec<String> {
        lock(&self.rules).errors.clone()
    }

    /// Binds every waiting action that may act now to an open callback of
    /// the tree.
    fn bind_callback_actions(&self, tree: &[String]) {
        let mut rules = lock(&self.rules);
        if !rules
            .rules
            .iter()
            .any(|r| matches!(r.state, RuleState::Waiting))
        {
            return;
        }
        let mut open = Vec::new();
        for arn in tree {
            if let Ok(callbacks) = self.service.open_callbacks(arn) {
                open.extend(callbacks.into_iter().map(|c| (arn.clone(), c)));
            }
        }
        if open.is_empty() {
            return;
        }
        open.sort_by_key(|(_, c)| c.start_timestamp);
        for at in 0..rules.rules.len() {
            let (earlier, rest) = rules.rules.split_at_mut(at);
            let Some(rule) = rest.first_mut() else {
                break;
            };
            if !matches!(rule.state, RuleState::Waiting) {
                continue;
            }
            let mut same_name = earlier.iter().filter(|r| r.pattern == rule.pattern);
            if same_name
                .clone()
                .any(|r| !matches!(r.state, RuleState::Done { .. }))
            {
                continue;
            }
            let previous = same_name.next_back().and_then(|r| match r.state {
                RuleState::Done { at } => Some(at),
                _ => None,
            });
            let found = open.iter().find(|(_, c)| {
                rule.pattern == "*" || c.name.as_deref() == Some(rule.pattern.as_str())
            });
            if let Some((arn, callback)) = found {
                let base = callback.start_timestamp.max(previous.unwrap_or(i64::MIN));
                rule.state = RuleState::Bound {
                    arn: arn.clone(),
                    callback_id: callback.callback_id.clone(),
                    due: base.saturating_add(duration_ms(rule.action.delay)),
                };
            }
        }
    }

    /// The earliest bound action on a callback of the tree: (due, rule index).
    fn next_callback_action(&self, tree: &[String]) -> Option<(i64, usize)> {
        let rules = lock(&self.rules);
        rules
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| match &rule.state {
                RuleState::Bound { arn, due, .. } if tree.contains(arn) => Some((*due, i)),
                _ => None,
            })
            .min()
    }

    /// Performs the bound action `index`.
    fn fire_callback_action(&self, index: usize) {
        let now = self.clock().now_ms();
        let (callback_id, kind) = {
            let mut rules = lock(&self.rules);
            let Some(rule) = rules.rules.get_mut(index) else {
                return;
            };
            let state = std::mem::replace(&mut rule.state, RuleState::Done { at: now });
            let RuleState::Bound { callback_id, .. } = state else {
                rule.state = state;
                return;
            };
            (callback_id, rule.action.kind.clone())
        };
        let (what, result) = match kind {
            ActionKind::Success(result) => (
                "success",
                self.service.send_callback_success(&callback_id, &result),
            ),
            ActionKind::Failure(error) => (
                "failure",
                self.service.send_callback_failure(&callback_id, error),
            ),
            ActionKind::Heartbeat => (
                "heartbeat",
                self.service.send_callback_heartbeat(&callback_id),
            ),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "scheduled callback {what} failed");
            lock(&self.rules)
                .errors
                .push(format!("scheduled callback {what}: {error}"));
        }
    }
}

/// An execution start with options; await it to run the execution
/// (see [`LocalRunner::start`]).
#[must_use = "a Start does nothing until awaited"]
pub struct Start<'r, H, E, T> {
    runner: &'r LocalRunner<H, E, T>,
    input: Result<String, serde_json::Error>,
    name: Option<String>,
}

impl<H, E, T> Start<'_, H, E, T> {
    /// The execution name. A second start with the same name and input
    /// returns the existing execution; with another input it fails with
    /// [`LocalError::AlreadyStarted`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<'r, H, E, T> IntoFuture for Start<'r, H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    type Output = Result<Execution, LocalError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'r>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let input = self.input.map_err(LocalError::Input)?;
            self.runner.start_and_drive(input, self.name).await
        })
    }
}

/// A snapshot of an execution: status, result, operation records and history.
///
/// The history is kept in the engine's compact form and turned into wire
/// [`Event`]s when [`history`](Self::history) is called.
#[derive(Clone, Debug)]
pub struct Execution {
    arn: String,
    name: String,
    status: ExecutionStatus,
    input: String,
    result: Option<String>,
    error: Option<ErrorObject>,
    start_timestamp: i64,
    end_timestamp: Option<i64>,
    /// Every record in creation order; index 0 is the EXECUTION record.
    records: Vec<Operation>,
    events: Vec<EventRecord>,
    invocations: u32,
}

impl Execution {
    fn from_stored(exec: &StoredExecution) -> Self {
        Self {
            arn: exec.arn.clone(),
            name: exec.name.clone(),
            status: exec.status.clone(),
            input: exec.input.clone(),
            result: exec.result.clone(),
            error: exec.error.clone(),
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.iter().map(|slot| slot.op.clone()).collect(),
            events: exec.events.clone(),
            invocations: exec.invocations,
        }
    }

    fn from_owned(exec: StoredExecution) -> Self {
        Self {
            arn: exec.arn,
            name: exec.name,
            status: exec.status,
            input: exec.input,
            result: exec.result,
            error: exec.error,
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.into_iter().map(|slot| slot.op).collect(),
            events: exec.events,
            invocations: exec.invocations,
        }
    }

    /// The records of the user's operations (all but the EXECUTION record).
    fn user_records(&self) -> impl Iterator<Item = &Operation> + '_ {
        self.records
            .iter()
            .filter(|op| op.operation_type != OperationType::Execution)
    }

    /// The execution ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The execution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// RUNNING (waiting on something external), SUCCEEDED or FAILED.
    pub fn status(&self) -> ExecutionStatus {
        self.status.clone()
    }

    /// The input as JSON text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The result deserialized as `R`: `Ok(None)` unless the execution
    /// SUCCEEDED with a result.
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        match self.result.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some),
        }
    }

    /// The result as the JSON text the handler returned.
    pub fn result_payload(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// The error of a FAILED execution.
    pub fn error(&self) -> Option<&ErrorObject> {
        self.error.as_ref()
    }

    /// When the execution started (epoch ms).
    pub fn start_timestamp(&self) -> i64 {
        self.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.end_timestamp
    }

    /// The operations in creation order (not the EXECUTION record).
    pub fn operations(&self) -> Vec<OperationView<'_>> {
        self.user_records().map(|op| OperationView { op }).collect()
    }

    /// The first operation named `name`.
    pub fn operation(&self, name: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.name.as_deref() == Some(name))
            .map(|op| OperationView { op })
    }

    /// The operation with this id.
    pub fn operation_by_id(&self, id: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.id == id)
            .map(|op| OperationView { op })
    }

    /// The operations whose parent is `parent_id` (`None`: the root ones).
    pub fn children(&self, parent_id: Option<&str>) -> Vec<OperationView<'_>> {
        self.user_records()
            .filter(|op| op.parent_id.as_deref() == parent_id)
            .map(|op| OperationView { op })
            .collect()
    }

    /// The EXECUTION record (its id is the last segment of the ARN).
    pub fn execution_record(&self) -> Option<&Operation> {
        self.records.first()
    }

    /// The history as wire events, EventId 1 first.
    pub fn history(&self) -> Vec<Event> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, record)| {
                record.to_wire(
                    i as u64 + 1,
                    self.records.get(record.op as usize),
                    &self.input,
                )
            })
            .collect()
    }

    /// The operations as a [`Timeline`], folded from the
    /// [`history`](Self::history); print it for a table:
    ///
    /// ```text
    /// OPERATION       TYPE  STATUS     ATTEMPTS  START  DURATION  RESULT
    /// validate_order  Step  SUCCEEDED  1         +0ms   0ms       {"order_id":"o-1"}
    /// ```
    pub fn timeline(&self) -> Timeline {
        Timeline::from_events(&self.history())
    }

    /// The history's event types in order (handy in assertions).
    pub fn event_types(&self) -> Vec<EventType> {
        self.events.iter().map(EventRecord::event_type).collect()
    }

    /// How many invocations ran.
    pub fn invocations(&self) -> u32 {
        self.invocations
    }
}

/// A read-only view of one operation record.
#[derive(Clone, Copy, Debug)]
pub struct OperationView<'a> {
    op: &'a Operation,
}

impl<'a> OperationView<'a> {
    /// The operation id.
    pub fn id(&self) -> &'a str {
        &self.op.id
    }

    /// STEP, WAIT, CONTEXT, ...
    pub fn operation_type(&self) -> &'a OperationType {
        &self.op.operation_type
    }

    /// `Step`, `Wait`, `RunInChildContext`, ...
    pub fn sub_type(&self) -> Option<&'a str> {
        self.op.sub_type.as_deref()
    }

    /// The name given in code.
    pub fn name(&self) -> Option<&'a str> {
        self.op.name.as_deref()
    }

    /// The enclosing CONTEXT operation's id.
    pub fn parent_id(&self) -> Option<&'a str> {
        self.op.parent_id.as_deref()
    }

    /// The record's status.
    pub fn status(&self) -> &'a OperationStatus {
        &self.op.status
    }

    /// Finished attempts of a STEP (0 for other operations).
    pub fn attempts(&self) -> u32 {
        self.op
            .step_details
            .as_ref()
            .map_or(0, |d| u32::try_from(d.attempt).unwrap_or(0))
    }

    /// When it started (epoch ms).
    pub fn start_timestamp(&self) -> Option<i64> {
        self.op.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.op.end_timestamp
    }

    /// The stored result (JSON text) of a STEP, CONTEXT, CALLBACK or CHAINED_INVOKE.
    pub fn result_payload(&self) -> Option<&'a str> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.result.as_deref())
            .or_else(|| {
                op.context_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.callback_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
    }

    /// The stored result deserialized as `R` (`Ok(None)` when there is none).
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        self.result_payload().map(serde_json::from_str).transpose()
    }

    /// The stored error.
    pub fn error(&self) -> Option<&'a ErrorObject> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.error.as_ref())
            .or_else(|| op.context_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| op.callback_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.error.as_ref())
            })
    }

    /// The callback id of a CALLBACK operation.
    pub fn callback_id(&self) -> Option<&'a str> {
        self.op
            .callback_details
            .as_ref()
            .and_then(|d| d.callback_id.as_deref())
    }

    /// The whole wire record.
    pub fn record(&self) -> &'a Operation {
        self.op
    }
}

#[cfg(test)]
mod tests;
