//! [`LocalRunner`]: run a durable handler to completion in process (see the
//! crate docs for an example).

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use durable_core::wire::{ErrorObject, InvocationInput, InvocationOutput};
use durable_core::{Backend, BoxFuture, DurableHandler, InvocationConfig, InvocationError};
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::driver::{Driver, DriverHost};
use crate::error::{LocalError, RESOURCE_NOT_FOUND};
use crate::fxhash::FxHashMap;
use crate::service::{
    Invocation, InvocationResult, LocalService, RUNTIME_EXIT_ERROR, ServiceConfig,
};
use crate::store::{ExecutionStore, MemoryStore};

/// The function name executions get unless [`LocalRunner::function_name`] says otherwise.
pub const DEFAULT_FUNCTION_NAME: &str = "local-function";

/// Default bound on invocations per [`LocalRunner::run`].
pub const DEFAULT_MAX_INVOCATIONS: u32 = 10_000;

/// What [`LocalRunner`] builds its service with. The builder methods only
/// record these, so their order does not matter.
#[derive(Default)]
struct Settings {
    clock: Option<Clock>,
    store: Option<Box<dyn ExecutionStore>>,
    config: Option<ServiceConfig>,
    /// The service was given whole, and a setting was set on the runner too.
    conflict: Option<&'static str>,
}

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
///
/// Each runner owns its service and its clock. By default the clock is
/// virtual: waits and retry back-offs complete at once, and timestamps still
/// show the waited time.
///
/// # Callbacks
///
/// A run returns when the execution has ended or when nothing internal is
/// left to do: then it is RUNNING, waiting on a callback. Complete the
/// callback ([`LocalRunner::callback_success`], `_failure`, `_heartbeat`)
/// and [`resume`](LocalRunner::resume):
///
/// ```no_run
/// # use durable_local::{CallbackRef, LocalRunner};
/// # async fn demo(runner: LocalRunner<impl durable_core::DurableHandler<(), String>, (), String>)
/// # -> Result<(), durable_local::LocalError> {
/// // The handler: ctx.wait_for_callback(submit).name("approval").timeout(..).await
/// let exec = runner.run(()).await?;
/// runner.callback_success(CallbackRef::named(exec.arn(), "approval"), r#""yes""#)?;
/// let exec = runner.resume(exec.arn()).await?;
/// # Ok(()) }
/// ```
///
/// A callback is named (in [`CallbackRef::named`], [`LocalRunner::on_callback`],
/// [`LocalRunner::wait_for_callback`]) by `"*"` (any), by the name given to
/// `create_callback`, or by the name given to `wait_for_callback`: the SDKs
/// record `wait_for_callback(..).name("approval")` as a child context
/// `approval` (SubType `WaitForCallback`) around a CALLBACK operation named
/// `"approval create callback id"`, and both names find it. By id, a callback
/// is a [`CallbackId`] (from [`LocalRunner::callback_id`],
/// [`OperationView::callback_id`] or [`CallbackId::new`]), never a plain
/// string, so an execution ARN cannot be passed for one.
///
/// To have callbacks completed during the run, in virtual-time order with the
/// engine's own timers, schedule what the external system does beforehand
/// with [`LocalRunner::on_callback`]. A scheduled action that fails, and a
/// name that matched no callback of the run (the message lists those there
/// were), are reported by [`LocalRunner::callback_action_errors`].
///
/// ## Callback timeouts on the virtual clock
///
/// The virtual clock skips waits and retry back-offs, but by default it
/// does not skip to a callback's timeout or heartbeat timeout: when the
/// only timers left are callback deadlines and no action is scheduled, the
/// run returns with the execution RUNNING and the callback open, as if the
/// external system had not answered yet. The test then completes the
/// callback, or lets time pass with [`LocalRunner::advance_time`] and
/// resumes (a deadline passed then times the callback out). A deadline
/// still fires, in time order, when the clock passes it on the way to a
/// wait, a retry or a scheduled action. (AWS's Python testing library makes
/// the same choice: waits skipped, callback timeouts left to real time.)
/// [`LocalRunner::skip_to_callback_timeouts`]`(true)` lets the clock jump to
/// the deadline instead, so that an unanswered callback times out within
/// the run (the conformance runner does this).
///
/// On the real clock, a run that sleeps until a timer (a callback's timeout,
/// a wait) wakes as soon as another task completes a callback through
/// [`LocalService::send_callback_success`] (or fails or heartbeats it), and
/// invokes the execution again at once.
///
/// # Chained invokes
///
/// A chained invoke runs a function registered with
/// [`LocalRunner::register_function`] (or the runner's own function) as an
/// execution of its own. Driving the caller drives the invoked executions
/// too, on the same clock; when one ends, the caller is invoked again.
pub struct LocalRunner<H, E, T> {
    handler: H,
    /// The service, built at first use from the settings below (or given
    /// to [`with_service`](LocalRunner::with_service)).
    service: OnceLock<LocalService>,
    /// What the service is built with; `None` until the builder sets it.
    settings: Mutex<Settings>,
    backend: OnceLock<Arc<dyn Backend>>,
    function_name: String,
    config: InvocationConfig,
    max_invocations: u32,
    retain_finished: bool,
    /// Whether the virtual clock may jump to a callback's deadline.
    skip_to_callback_timeouts: bool,
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
            .field("service", &self.service.get())
            .field("function_name", &self.function_name)
            .field("functions", &functions)
            .field("max_invocations", &self.max_invocations)
            .field("retain_finished", &self.retain_finished)
            .field("skip_to_callback_timeouts", &self.skip_to_callback_timeouts)
            .finish_non_exhaustive()
    }
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

impl<H, E, T> LocalRunner<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    /// A runner for `handler`. Its service is built when it is first
    /// needed: in memory and on a virtual clock, unless the builder says
    /// otherwise ([`clock`](Self::clock), [`real_time`](Self::real_time),
    /// [`store`](Self::store), [`service_config`](Self::service_config), in
    /// any order).
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            service: OnceLock::new(),
            settings: Mutex::default(),
            backend: OnceLock::new(),
            function_name: DEFAULT_FUNCTION_NAME.to_owned(),
            config: InvocationConfig::default(),
            max_invocations: DEFAULT_MAX_INVOCATIONS,
            retain_finished: true,
            skip_to_callback_timeouts: false,
            functions: FxHashMap::default(),
            rules: Mutex::default(),
            driving: Mutex::default(),
            _types: PhantomData,
        }
    }

    /// A runner for `handler` over an existing service, with the store,
    /// clock and settings that service was built with (to look at its
    /// executions, or to share it between runners). The runner's
    /// [`clock`](Self::clock), [`real_time`](Self::real_time),
    /// [`store`](Self::store) and [`service_config`](Self::service_config)
    /// cannot change a service that is already built: set after this, they
    /// make every run fail with [`LocalError::Config`].
    pub fn with_service(handler: H, service: LocalService) -> Self {
        let runner = Self::new(handler);
        service.register_function(DEFAULT_FUNCTION_NAME);
        let _ = runner.service.set(service);
        runner
    }

    /// Runs on `clock` instead of a fresh virtual clock.
    #[must_use]
    pub fn clock(self, clock: Clock) -> Self {
        self.set(|settings| settings.clock = Some(clock), "clock")
    }

    /// Runs on the real clock: waits and retry back-offs really take their
    /// time. Short for `.clock(Clock::real())`.
    #[must_use]
    pub fn real_time(self) -> Self {
        self.clock(Clock::real())
    }

    /// Keeps executions in `store` (for example a `SqliteStore`) instead of
    /// memory.
    #[must_use]
    pub fn store(self, store: Box<dyn ExecutionStore>) -> Self {
        self.set(|settings| settings.store = Some(store), "store")
    }

    /// The service's settings: page size, failed-invocation budget, ARN
    /// parts (default [`ServiceConfig::default`]).
    #[must_use]
    pub fn service_config(self, config: ServiceConfig) -> Self {
        self.set(|settings| settings.config = Some(config), "service_config")
    }

    /// Records a setting of the service to build.
    fn set(self, change: impl FnOnce(&mut Settings), what: &'static str) -> Self {
        {
            let mut settings = lock(&self.settings);
            change(&mut settings);
            if self.service.get().is_some() {
                settings.conflict.get_or_insert(what);
            }
        }
        self
    }

    /// The runner's service, built from the settings at first use.
    pub fn service(&self) -> &LocalService {
        self.service.get_or_init(|| {
            let mut settings = lock(&self.settings);
            let store = settings
                .store
                .take()
                .unwrap_or_else(|| Box::new(MemoryStore::new()));
            let clock = settings.clock.clone().unwrap_or_else(Clock::virtual_now);
            let config = settings.config.clone().unwrap_or_default();
            let service = LocalService::with_store(store, clock, config);
            service.register_function(self.function_name.clone());
            for name in self.functions.keys() {
                service.register_function(name.clone());
            }
            service
        })
    }

    /// The service as the handler's backend.
    fn backend(&self) -> Arc<dyn Backend> {
        Arc::clone(
            self.backend
                .get_or_init(|| Arc::new(self.service().clone())),
        )
    }

    /// Fails when the settings conflict (see [`with_service`](Self::with_service)).
    fn check_settings(&self) -> Result<(), LocalError> {
        match lock(&self.settings).conflict {
            Some(setting) => Err(LocalError::Config(format!(
                "LocalRunner::{setting} was set on a runner made with LocalRunner::with_service; \
                 a service that is already built keeps its clock, store and config \
                 (give them to LocalService::with_store instead, or use LocalRunner::new)"
            ))),
            None => Ok(()),
        }
    }

    /// The function name used in execution ARNs (default `local-function`);
    /// chained invokes of this name run the runner's own handler.
    #[must_use]
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        if let Some(service) = self.service.get() {
            service.register_function(self.function_name.clone());
        }
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
        if let Some(service) = self.service.get() {
            service.register_function(name.clone());
        }
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

    /// On the virtual clock, whether a run may skip ahead to a callback's
    /// timeout or heartbeat deadline when nothing else is due (default
    /// false). With false, a run whose execution waits only on open
    /// callbacks returns it RUNNING, as if no time had passed, so the test
    /// can complete a callback ([`callback_success`](Self::callback_success))
    /// or let time pass ([`advance_time`](Self::advance_time)) and
    /// [`resume`](Self::resume). With true, the clock jumps to the earliest
    /// deadline and the callback times out at once, as if no external
    /// system ever answered (the conformance runner does this). Either way a
    /// deadline fires when the clock passes it on the way to a wait, a
    /// retry or a scheduled callback action. See [the
    /// runner's docs](LocalRunner#callbacks).
    #[must_use]
    pub fn skip_to_callback_timeouts(mut self, skip: bool) -> Self {
        self.skip_to_callback_timeouts = skip;
        self
    }

    /// Moves the virtual clock forward by `by` (does nothing on the real
    /// clock). Timers that came due (a callback's timeout, a wait) fire on
    /// the next [`resume`](Self::resume).
    pub fn advance_time(&self, by: std::time::Duration) {
        self.service().clock().advance(by);
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
        self.service().with_execution(arn, Execution::from_stored)
    }

    async fn start_and_drive(
        &self,
        input: String,
        name: Option<String>,
    ) -> Result<Execution, LocalError> {
        self.check_settings()?;
        let started =
            self.service()
                .start_execution(&self.function_name, name.as_deref(), input)?;
        self.drive(&started.arn).await
    }

    /// Drives `root` and the executions of its running chained invokes, in
    /// time order on the shared clock, until `root` ends or nothing internal
    /// or scheduled is left.
    async fn drive(&self, root: &str) -> Result<Execution, LocalError> {
        self.check_settings()?;
        let host = RunHost {
            runner: self,
            guard: Mutex::new(DrivingGuard {
                driving: &self.driving,
                service: self.service(),
                arns: Vec::new(),
            }),
        };
        let report = Driver::new(self.service(), &host)
            .max_invocations(self.max_invocations)
            .hold_callback_deadlines(!self.skip_to_callback_timeouts)
            .drive(root)
            .await?;
        drop(host);
        self.check_unmatched_callback_actions(&report.executions);
        if !self.retain_finished && report.finished {
            for callee in report.executions.iter().skip(1) {
                let ended = self
                    .service()
                    .with_execution(callee, |exec| exec.status().is_terminal());
                if ended.unwrap_or(false) {
                    self.service().remove_execution(callee);
                }
            }
            if let Some(exec) = self.service().remove_execution(root) {
                return Ok(Execution::from_owned(exec));
            }
        }
        self.execution(root)
    }

    /// One invocation of `function`; a panic is a crash (`Runtime.ExitError`).
    async fn invoke(&self, function: &str, input: InvocationInput) -> InvocationResult {
        let backend = self.backend();
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

mod callbacks;
mod execution;

use callbacks::Rules;
pub use callbacks::{CallbackAction, CallbackId, CallbackRef};
pub use execution::{Execution, OperationView};

#[cfg(test)]
mod tests;
