//! `durable-dev`: the local durable execution service as a server, the
//! library behind `durable dev`. [`DevServer`] speaks Lambda's
//! durable-execution REST API on loopback (the paths and JSON that
//! aws-sdk-lambda, boto3 and the aws CLI use with an endpoint override),
//! starts executions through Lambda's Invoke API, runs their invocations on
//! functions it hosts, and reports status changes to event sinks. The
//! engine underneath is [`durable_local::LocalService`]; this crate adds
//! the transport and holds no service rules of its own.
//!
//! Which crate to depend on:
//!
//! * to test a handler in `cargo test`, `durable-local` in
//!   `[dev-dependencies]` (its `LocalRunner` needs no server);
//! * to run the server as a program, install the `durable` command
//!   (`cargo install durable-cli`) and run `durable dev`;
//! * to embed the server in your own program or integration test (as the
//!   examples do), this crate in `[dependencies]` or `[dev-dependencies]`.
//!
//! A function is served in one of three ways ([`FunctionTarget`]):
//!
//! * a **process** the server starts itself, speaking the Lambda Runtime
//!   API to it through `AWS_LAMBDA_RUNTIME_API` (any `lambda_runtime`
//!   binary, such as one built with `durable_lambda::run`); a process that
//!   crashes is started again and its invocation counts as failed;
//! * a Lambda **Invoke endpoint** such as `cargo lambda watch` or
//!   `sam local start-lambda`;
//! * an in-process **handler**, for examples and tests.
//!
//! Executions resume where they were when the server starts over a store
//! that holds them ([`SqliteStore`](durable_local::SqliteStore)): every RUNNING
//! execution is driven again (its timers fire, a retry that is due runs,
//! an invocation cut off by the restart is invoked again).

mod api;
mod events;
mod functions;
mod json;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use durable_core::wire::ExecutionStatus;
use tokio::sync::{broadcast, oneshot};
use tokio::task::{AbortHandle, JoinHandle};

use durable_core::BoxFuture;
use durable_core::wire::ErrorObject;
use durable_local::LocalError;
use durable_local::{
    Driver, DriverHost, Invocation, InvocationResult, LocalService, StartedExecution,
    unqualified_function_name,
};

pub use events::{EventSink, StatusEvent};
pub use functions::FunctionTarget;

/// The port `durable dev` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9014;

/// The largest request body the server reads unless told otherwise (a
/// synchronous Invoke payload may be 6 MiB; anything larger is refused
/// with `RequestEntityTooLargeException`).
pub const DEFAULT_MAX_BODY_BYTES: usize =
    durable_core::limits::MAX_INVOCATION_PAYLOAD_BYTES + 64 * 1024;

/// Settings of a [`DevServer`].
#[derive(Clone, Debug)]
pub struct DevConfig {
    /// Where the API listens (default `127.0.0.1:9014`).
    pub bind: SocketAddr,
    /// Whether an address other than loopback may be bound. The API has no
    /// authentication: anyone who can reach it can complete callbacks and
    /// stop executions.
    pub allow_non_loopback: bool,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// How long one invocation may run before it is cut off
    /// (`Sandbox.Timedout`) and its process restarted (default 900 s, the
    /// Lambda maximum).
    pub function_timeout: Duration,
    /// How long a synchronous Invoke (`RequestResponse`) waits for the
    /// execution to end (default 900 s).
    pub sync_invoke_timeout: Duration,
    /// Where status-change events go, besides [`DevServer::subscribe`].
    pub events: Vec<EventSink>,
}

impl Default for DevConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            allow_non_loopback: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            function_timeout: durable_core::limits::MAX_INVOCATION_DURATION,
            sync_invoke_timeout: durable_core::limits::MAX_INVOCATION_DURATION,
            events: Vec::new(),
        }
    }
}

/// Why the server could not start or a function could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The bind address is not loopback and that was not allowed.
    #[error(
        "refusing to listen on {addr}: the durable execution API has no authentication, so it \
         binds loopback only; pass --allow-non-loopback (DevConfig::allow_non_loopback) if you \
         really mean to expose it"
    )]
    NonLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A function could not be set up.
    #[error("function {name}: {message}")]
    Function {
        /// The function name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The engine refused.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// A running dev server. Dropping it without [`shutdown`](Self::shutdown)
/// aborts its tasks; the processes it started are killed either way.
pub struct DevServer {
    dev: Arc<Dev>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DevServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// What the server's tasks share.
pub(crate) struct Dev {
    pub(crate) service: LocalService,
    pub(crate) config: DevConfig,
    /// `http://<addr>`: the API, as functions reach it.
    pub(crate) endpoint: String,
    functions: Mutex<HashMap<String, Arc<functions::Function>>>,
    /// Executions a driver task is running for, and how to stop it.
    driving: Mutex<HashMap<String, AbortHandle>>,
    /// Executions left alone because their function is not served (warned once).
    unserved: Mutex<HashSet<String>>,
    pub(crate) events: events::Emitter,
    /// The status last emitted for each execution: an event is emitted once
    /// per status, whichever task notices the change first.
    emitted: Mutex<HashMap<String, ExecutionStatus>>,
    /// Woken when a function is added (the scheduler looks again).
    rescan: tokio::sync::Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DevServer {
    /// Binds the API and starts serving `service` (which should run on the
    /// real clock). Every RUNNING execution in its store is driven again as
    /// soon as its function is added.
    ///
    /// # Errors
    /// [`DevError::NonLoopback`] for a non-loopback address that was not
    /// allowed, [`DevError::Bind`] when the address is taken.
    pub async fn start(service: LocalService, config: DevConfig) -> Result<Self, DevError> {
        let addr = config.bind;
        if !addr.ip().is_loopback() && !config.allow_non_loopback {
            return Err(DevError::NonLoopback { addr });
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DevError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DevError::Bind { addr, source })?;
        let events = events::Emitter::new(config.events.clone());
        let dev = Arc::new(Dev {
            service,
            endpoint: format!("http://{addr}"),
            config,
            functions: Mutex::new(HashMap::new()),
            driving: Mutex::new(HashMap::new()),
            unserved: Mutex::new(HashSet::new()),
            events,
            emitted: Mutex::new(HashMap::new()),
            rescan: tokio::sync::Notify::new(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = api::router(Arc::clone(&dev));
        let serve = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "the durable dev API stopped");
            }
        });
        let scheduler = tokio::spawn(scheduler(Arc::clone(&dev)));
        tracing::info!(endpoint = %dev.endpoint, "durable dev is listening");
        Ok(Self {
            dev,
            addr,
            stop: Some(stop),
            tasks: vec![serve, scheduler],
        })
    }

    /// Serves `name` with `target`: executions of `name` (and chained
    /// invokes of it) run there. A process target is started now.
    ///
    /// # Errors
    /// [`DevError::Function`] when the target cannot be set up (a process
    /// that cannot be started, an endpoint that is not an `http://` URL).
    pub async fn add_function(
        &self,
        name: impl Into<String>,
        target: FunctionTarget,
    ) -> Result<(), DevError> {
        let name = name.into();
        let function = functions::Function::start(&name, target, &self.dev).await?;
        self.dev.service.register_function(name.clone());
        lock(&self.dev.functions).insert(name, Arc::new(function));
        lock(&self.dev.unserved).clear();
        self.dev.rescan.notify_one();
        Ok(())
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's URL (`http://127.0.0.1:<port>`), for `--endpoint-url`
    /// and `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint(&self) -> &str {
        &self.dev.endpoint
    }

    /// The engine behind the API.
    pub fn service(&self) -> &LocalService {
        &self.dev.service
    }

    /// Status-change events as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.dev.events.subscribe()
    }

    /// Starts (or, by name, finds) an execution of `function` with `input`
    /// (JSON text) and drives it, like an Invoke of type `Event`.
    ///
    /// # Errors
    /// As [`LocalService::start_execution`].
    pub fn start_execution(
        &self,
        function: &str,
        name: Option<&str>,
        input: String,
    ) -> Result<StartedExecution, LocalError> {
        self.dev.start_execution(function, name, input)
    }

    /// Waits until the execution `arn` has ended and returns its status.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] for an unknown ARN.
    pub async fn wait_for_end(&self, arn: &str) -> Result<ExecutionStatus, LocalError> {
        self.dev.wait_for_end(arn, None).await.map(|status| {
            // Without a limit the wait only returns once ended.
            status.unwrap_or(ExecutionStatus::Running)
        })
    }

    /// Stops serving: the API closes, drivers stop, hosted processes are
    /// killed. Executions stay in the store as they are.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        if let Some(serve) = tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        }
        for task in &tasks {
            task.abort();
        }
        self.dev.stop_drivers();
        self.dev.stop_functions().await;
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for function in lock(&self.dev.functions).values() {
            function.kill();
        }
        self.dev.stop_drivers();
    }
}

impl Dev {
    pub(crate) fn function(&self, name: &str) -> Option<Arc<functions::Function>> {
        let functions = lock(&self.functions);
        functions
            .get(name)
            .or_else(|| functions.get(unqualified_function_name(name)))
            .cloned()
    }

    pub(crate) fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.functions).keys().cloned().collect();
        names.sort();
        names
    }

    /// Aborts every driver task (they hold the service, and so the store).
    fn stop_drivers(&self) {
        for (_, driver) in lock(&self.driving).drain() {
            driver.abort();
        }
    }

    async fn stop_functions(&self) {
        let all: Vec<Arc<functions::Function>> = lock(&self.functions).values().cloned().collect();
        for function in all {
            function.stop().await;
        }
    }

    pub(crate) fn start_execution(
        self: &Arc<Self>,
        function: &str,
        name: Option<&str>,
        input: String,
    ) -> Result<StartedExecution, LocalError> {
        let function = unqualified_function_name(function);
        let started = self.service.start_execution(function, name, input)?;
        // RUNNING, unless a driver that the scheduler started meanwhile has
        // emitted it (or already the end): `emit` reads the status and sends
        // under one lock, once per status. The driver emits it too, for
        // executions started by other means.
        if started.created {
            self.emit(&started.arn);
        }
        self.drive(&started.arn);
        Ok(started)
    }

    /// Spawns a driver for `arn` unless one runs.
    fn drive(self: &Arc<Self>, arn: &str) {
        let mut driving = lock(&self.driving);
        if driving.contains_key(arn) {
            return;
        }
        // The driver holds only a weak reference: a server that is shut
        // down (or dropped) releases the service and its store at once.
        let dev = Arc::downgrade(self);
        let owned = arn.to_owned();
        let task = tokio::spawn(async move {
            let Some(dev) = dev.upgrade() else { return };
            let outcome = dev.run_driver(&owned).await;
            lock(&dev.driving).remove(&owned);
            if let Err(error) = outcome {
                tracing::warn!(arn = %owned, %error, "stopped driving the execution");
            }
        });
        driving.insert(arn.to_owned(), task.abort_handle());
    }

    /// Invokes `arn` whenever it must be, until it ends or its function is
    /// not served: the engine's driver loop, with this server as its host.
    async fn run_driver(self: &Arc<Self>, arn: &str) -> Result<(), LocalError> {
        let host = DevHost { dev: self };
        Driver::new(&self.service, &host)
            .adopt_chained_invokes(false)
            .wait_when_idle(Duration::from_secs(5))
            .drive(arn)
            .await?;
        Ok(())
    }

    /// Emits the status-change event of `arn`'s current status, unless it
    /// was emitted already.
    fn emit(&self, arn: &str) {
        let mut emitted = lock(&self.emitted);
        let Ok((status, event)) = self.service.with_execution(arn, |exec| {
            let event = StatusEvent::of(
                exec,
                &self.service.config().region,
                &self.service.config().account_id,
            );
            (exec.status().clone(), event)
        }) else {
            return;
        };
        if emitted.get(arn) == Some(&status) {
            return;
        }
        emitted.insert(arn.to_owned(), status);
        // Under the lock, so that the events of one execution keep their order.
        self.events.emit(event);
    }

    /// Waits until `arn` has ended, or `limit` passes (then `None`).
    pub(crate) async fn wait_for_end(
        &self,
        arn: &str,
        limit: Option<Duration>,
    ) -> Result<Option<ExecutionStatus>, LocalError> {
        let wait = async {
            let changed = self.service.changed();
            loop {
                let notified = changed.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                let status = self
                    .service
                    .with_execution(arn, |exec| exec.status().clone())?;
                if status.is_terminal() {
                    return Ok(status);
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
            }
        };
        match limit {
            None => wait.await.map(Some),
            Some(limit) => match tokio::time::timeout(limit, wait).await {
                Ok(status) => status.map(Some),
                Err(_) => Ok(None),
            },
        }
    }
}

/// Drives every RUNNING execution that has no driver: at start (executions
/// left over in the store), when a function is added, and every few
/// seconds (chained invokes, anything missed).
async fn scheduler(dev: Arc<Dev>) {
    // Let the functions the caller adds right after start be added before
    // the executions left in the store are looked at.
    let _ = tokio::time::timeout(Duration::from_millis(300), dev.rescan.notified()).await;
    loop {
        let rescan = dev.rescan.notified();
        let mut rescan = std::pin::pin!(rescan);
        rescan.as_mut().enable();
        for arn in dev.service.execution_arns() {
            let running = dev
                .service
                .with_execution(&arn, |exec| !exec.status().is_terminal())
                .unwrap_or(false);
            let skip = lock(&dev.driving).contains_key(&arn) || lock(&dev.unserved).contains(&arn);
            if running && !skip {
                dev.drive(&arn);
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), rescan).await;
    }
}

/// The server as the host of an execution's [`Driver`]: one driver task per
/// execution; chained invokes get drivers of their own.
struct DevHost<'a> {
    dev: &'a Arc<Dev>,
}

impl DriverHost for DevHost<'_> {
    fn serves(&self, arn: &str, function: &str) -> bool {
        let dev = self.dev;
        if dev.function(function).is_some() {
            return true;
        }
        // Remembered first, then looked at again: add_function adds the
        // function, then clears `unserved`, so an execution parked just
        // after that clear is not left undriven.
        let first = lock(&dev.unserved).insert(arn.to_owned());
        if dev.function(function).is_some() {
            lock(&dev.unserved).remove(arn);
            return true;
        }
        if first {
            tracing::warn!(
                %arn,
                function = %function,
                "an execution needs an invocation but its function is not served; \
                 add it (durable dev --function {function}=...) to resume it"
            );
        }
        false
    }

    fn invoke<'b>(
        &'b self,
        function: &'b str,
        invocation: Invocation,
    ) -> BoxFuture<'b, InvocationResult> {
        Box::pin(async move {
            let Some(target) = self.dev.function(function) else {
                return InvocationResult::Failed(ErrorObject::new(
                    "ResourceNotFoundException",
                    format!("Function not found: {function}"),
                ));
            };
            let arn = invocation
                .input
                .durable_execution_arn
                .clone()
                .unwrap_or_default();
            let result = target
                .invoke(invocation.input, &invocation.request_id, self.dev)
                .await;
            if let InvocationResult::Failed(error) = &result {
                tracing::warn!(
                    %arn,
                    error_type = error.error_type.as_deref().unwrap_or_default(),
                    message = error.error_message.as_deref().unwrap_or_default(),
                    "invocation failed"
                );
            }
            result
        })
    }

    fn status_changed(&self, arn: &str) {
        self.dev.emit(arn);
    }

    fn chained_invoke_running(&self, arn: &str) {
        self.dev.drive(arn);
    }
}
