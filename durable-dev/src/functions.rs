//! How `durable dev` runs a function's invocations: a process it hosts
//! through the Lambda Runtime API, a Lambda Invoke endpoint, or a handler
//! in this process.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use durable_core::wire::{ErrorObject, InvocationInput, InvocationOutput};
use durable_core::{Backend, BoxFuture, DurableHandler, InvocationConfig, InvocationError};
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Dev, DevError, lock};
use durable_local::{InvocationResult, RUNTIME_EXIT_ERROR};

/// The error type of an invocation cut off at the function timeout.
pub const SANDBOX_TIMEDOUT: &str = "Sandbox.Timedout";

/// One invocation of an in-process handler, its types erased.
type HandlerFn = Arc<
    dyn Fn(
            InvocationInput,
            Arc<dyn Backend>,
            InvocationConfig,
        ) -> BoxFuture<'static, Result<InvocationOutput, InvocationError>>
        + Send
        + Sync,
>;

/// Where a function's invocations run.
#[derive(Clone)]
#[non_exhaustive]
pub enum FunctionTarget {
    /// A Lambda function binary (anything on the Lambda Runtime API, such as
    /// a `durable_lambda::run` program), started and supervised by the
    /// server with `AWS_LAMBDA_RUNTIME_API` pointing at it and
    /// `AWS_ENDPOINT_URL_LAMBDA` at the durable execution API.
    Process {
        /// The program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (they win over the ones the server sets).
        env: Vec<(String, String)>,
    },
    /// A Lambda Invoke endpoint (`http://host:port`): the server POSTs each
    /// invocation to `/2015-03-31/functions/<name>/invocations`, as Lambda
    /// would (`cargo lambda watch`, `sam local start-lambda`).
    Endpoint(String),
    /// A handler in this process, checkpointing straight into the engine.
    Handler(HandlerTarget),
}

/// An in-process handler (see [`FunctionTarget::handler`]).
#[derive(Clone)]
pub struct HandlerTarget(HandlerFn);

impl std::fmt::Debug for FunctionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Process { program, args, .. } => f
                .debug_struct("Process")
                .field("program", program)
                .field("args", args)
                .finish_non_exhaustive(),
            Self::Endpoint(url) => f.debug_tuple("Endpoint").field(url).finish(),
            Self::Handler(_) => f.write_str("Handler(..)"),
        }
    }
}

impl FunctionTarget {
    /// A process target running `program` with no arguments.
    pub fn process(program: impl Into<PathBuf>) -> Self {
        Self::Process {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// An in-process durable handler (the same handlers `LocalRunner` and
    /// `durable_lambda::run` take).
    pub fn handler<H, E, T>(handler: H) -> Self
    where
        H: DurableHandler<E, T>,
        E: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::Handler(HandlerTarget(Arc::new(move |input, backend, config| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                durable_core::run_invocation(&*handler, input, backend, &config).await
            })
        })))
    }
}

/// A function being served.
pub(crate) struct Function {
    name: String,
    kind: Kind,
}

enum Kind {
    Handler(HandlerFn),
    Endpoint {
        url: String,
        client: Box<Client<HttpConnector, Full<Bytes>>>,
    },
    Process(Arc<RuntimeHost>),
}

impl Function {
    pub(crate) async fn start(
        name: &str,
        target: FunctionTarget,
        dev: &Arc<Dev>,
    ) -> Result<Self, DevError> {
        let fail = |message: String| DevError::Function {
            name: name.to_owned(),
            message,
        };
        let kind = match target {
            FunctionTarget::Handler(HandlerTarget(handler)) => Kind::Handler(handler),
            FunctionTarget::Endpoint(url) => {
                if !url.starts_with("http://") {
                    return Err(fail(format!(
                        "the Invoke endpoint {url:?} is not an http:// URL"
                    )));
                }
                Kind::Endpoint {
                    url: url.trim_end_matches('/').to_owned(),
                    client: Box::new(Client::builder(TokioExecutor::new()).build_http()),
                }
            }
            FunctionTarget::Process { program, args, env } => {
                if !program.exists() && program.components().count() > 1 {
                    return Err(fail(format!(
                        "the program {} does not exist (build it first, e.g. `cargo build --bin <name>`)",
                        program.display()
                    )));
                }
                let host = Arc::new(RuntimeHost::new(name, program, args, env, dev));
                host.start();
                Kind::Process(host)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            kind,
        })
    }

    /// Runs one invocation to its end, within the function timeout.
    pub(crate) async fn invoke(
        &self,
        input: InvocationInput,
        request_id: &str,
        dev: &Dev,
    ) -> InvocationResult {
        let timeout = dev.config.function_timeout;
        match &self.kind {
            Kind::Handler(handler) => {
                let backend: Arc<dyn Backend> = Arc::new(dev.service.clone());
                let deadline = dev
                    .service
                    .clock()
                    .now_ms()
                    .saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
                let config = InvocationConfig::default().deadline(deadline);
                let run = AssertUnwindSafe(handler(input, backend, config)).catch_unwind();
                match tokio::time::timeout(timeout, run).await {
                    Err(_) => timed_out(timeout),
                    Ok(Ok(Ok(output))) => InvocationResult::Output(output),
                    Ok(Ok(Err(error))) => InvocationResult::Failed(ErrorObject::new(
                        error.error_type(),
                        error.message(),
                    )),
                    Ok(Err(panic)) => {
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
            Kind::Endpoint { url, client } => {
                let target = format!(
                    "{url}/2015-03-31/functions/{}/invocations",
                    percent_encode(&self.name)
                );
                let call = invoke_endpoint(client, &target, &input, request_id);
                match tokio::time::timeout(timeout, call).await {
                    Ok(result) => result,
                    Err(_) => timed_out(timeout),
                }
            }
            Kind::Process(host) => host.invoke(&input, request_id, timeout).await,
        }
    }

    /// Stops a hosted process (and waits for it to exit).
    pub(crate) async fn stop(&self) {
        if let Kind::Process(host) = &self.kind {
            host.stop().await;
        }
    }

    /// Kills a hosted process without waiting.
    pub(crate) fn kill(&self) {
        if let Kind::Process(host) = &self.kind {
            host.kill();
        }
    }
}

fn timed_out(timeout: Duration) -> InvocationResult {
    InvocationResult::Failed(ErrorObject::new(
        SANDBOX_TIMEDOUT,
        format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
    ))
}

/// Keeps a function name usable in a URL path.
fn percent_encode(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// What a function answered: an output, or an error the runtime reported.
fn parse_output(body: &[u8]) -> InvocationResult {
    match serde_json::from_slice::<InvocationOutput>(body) {
        Ok(output) => InvocationResult::Output(output),
        Err(error) => InvocationResult::Failed(ErrorObject::new(
            "Runtime.InvalidResponse",
            format!(
                "the function returned something that is not a durable invocation output \
                 ({error}); is it built with durable_lambda::run? Body starts: {}",
                String::from_utf8_lossy(body.get(..200).unwrap_or(body))
            ),
        )),
    }
}

/// The error a runtime reported (`{"errorType", "errorMessage"}`).
fn parse_runtime_error(body: &[u8], fallback: &str) -> ErrorObject {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    ErrorObject::new(
        text("errorType").unwrap_or_else(|| fallback.to_owned()),
        text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}

async fn invoke_endpoint(
    client: &Client<HttpConnector, Full<Bytes>>,
    target: &str,
    input: &InvocationInput,
    request_id: &str,
) -> InvocationResult {
    let body = match serde_json::to_vec(input) {
        Ok(body) => body,
        Err(e) => {
            return InvocationResult::Failed(ErrorObject::new(
                "ServiceException",
                format!("could not encode the invocation: {e}"),
            ));
        }
    };
    let request = match hyper::Request::post(target)
        .header("content-type", "application/json")
        .header("x-amz-invocation-type", "RequestResponse")
        .header("x-amzn-requestid", request_id)
        .body(Full::new(Bytes::from(body)))
    {
        Ok(request) => request,
        Err(e) => {
            return InvocationResult::Failed(ErrorObject::new(
                "ServiceException",
                format!("bad Invoke request to {target}: {e}"),
            ));
        }
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => {
            return InvocationResult::Failed(ErrorObject::new(
                "Runtime.Unavailable",
                format!("could not reach the Invoke endpoint {target}: {e}"),
            ));
        }
    };
    let status = response.status();
    let function_error = response.headers().contains_key("x-amz-function-error");
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return InvocationResult::Failed(ErrorObject::new(
                "Runtime.Unavailable",
                format!("the Invoke endpoint {target} broke off its answer: {e}"),
            ));
        }
    };
    if !status.is_success() {
        return InvocationResult::Failed(ErrorObject::new(
            "ServiceException",
            format!(
                "the Invoke endpoint {target} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ),
        ));
    }
    if function_error {
        return InvocationResult::Failed(parse_runtime_error(&body, "Runtime.Unknown"));
    }
    parse_output(&body)
}

// ----- the Lambda Runtime API, for processes the server starts -----

/// One invocation waiting for the process.
struct Job {
    request_id: String,
    body: Vec<u8>,
    deadline_ms: i64,
    reply: oneshot::Sender<InvocationResult>,
}

/// Hosts one function process: serves it the Runtime API on a port of its
/// own, restarts it when it exits, fails the invocation it was running.
struct RuntimeHost {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The durable execution API (for `AWS_ENDPOINT_URL_LAMBDA`).
    api: String,
    region: String,
    account: String,
    jobs: mpsc::UnboundedSender<Job>,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    /// Request id → where its answer goes, for the job the process holds.
    inflight: Arc<Mutex<HashMap<String, oneshot::Sender<InvocationResult>>>>,
    /// Kills the current process (a timed-out invocation, a stop).
    kill_now: Notify,
    stopping: AtomicBool,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Clone)]
struct RuntimeState {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    inflight: Arc<Mutex<HashMap<String, oneshot::Sender<InvocationResult>>>>,
    function_arn: String,
}

impl RuntimeHost {
    fn new(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        dev: &Dev,
    ) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let config = dev.service.config();
        Self {
            name: name.to_owned(),
            program,
            args,
            env,
            api: dev.endpoint.clone(),
            region: config.region.clone(),
            account: config.account_id.clone(),
            jobs,
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            inflight: Arc::new(Mutex::new(HashMap::new())),
            kill_now: Notify::new(),
            stopping: AtomicBool::new(false),
            supervisor: Mutex::new(None),
        }
    }

    fn start(self: &Arc<Self>) {
        let host = Arc::clone(self);
        let task = tokio::spawn(async move { host.supervise().await });
        *lock(&self.supervisor) = Some(task);
    }

    async fn invoke(
        &self,
        input: &InvocationInput,
        request_id: &str,
        timeout: Duration,
    ) -> InvocationResult {
        let body = match serde_json::to_vec(input) {
            Ok(body) => body,
            Err(e) => {
                return InvocationResult::Failed(ErrorObject::new(
                    "ServiceException",
                    format!("could not encode the invocation: {e}"),
                ));
            }
        };
        let deadline_ms = durable_local::Clock::real()
            .now_ms()
            .saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request_id: request_id.to_owned(),
            body,
            deadline_ms,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return InvocationResult::Failed(ErrorObject::new(
                RUNTIME_EXIT_ERROR,
                format!("the function {} is not running", self.name),
            ));
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => InvocationResult::Failed(ErrorObject::new(
                RUNTIME_EXIT_ERROR,
                format!("the function {} stopped", self.name),
            )),
            Err(_) => {
                // Cut the invocation off: the process is restarted.
                if lock(&self.inflight).remove(request_id).is_some() {
                    self.kill_now.notify_one();
                }
                timed_out(timeout)
            }
        }
    }

    async fn supervise(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        while !self.stopping.load(Ordering::Acquire) {
            let started = Instant::now();
            if let Err(error) = self.run_once().await {
                tracing::error!(function = %self.name, %error, "could not run the function");
            }
            // Whatever the process held is lost: as on Lambda, the
            // invocation failed and the execution is invoked again.
            let lost: Vec<_> = lock(&self.inflight).drain().collect();
            for (request_id, reply) in lost {
                tracing::warn!(function = %self.name, %request_id, "the function process exited during an invocation");
                let _ = reply.send(InvocationResult::Failed(ErrorObject::new(
                    RUNTIME_EXIT_ERROR,
                    format!(
                        "RequestId: {request_id} Error: the function process of {} exited",
                        self.name
                    ),
                )));
            }
            if self.stopping.load(Ordering::Acquire) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Serves the Runtime API on a fresh port and runs the process until it
    /// exits or is killed. A fresh port per process means a request left
    /// over from a dead process can never take a job.
    async fn run_once(&self) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen for the Runtime API: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = RuntimeState {
            queue: Arc::clone(&self.queue),
            inflight: Arc::clone(&self.inflight),
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                self.region, self.account, self.name
            ),
        };
        let api = runtime_router(state);
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, api).await;
        });
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "durable-dev")
            .env("AWS_ENDPOINT_URL_LAMBDA", &self.api)
            .env("AWS_REGION", &self.region)
            .env("AWS_DEFAULT_REGION", &self.region);
        for (key, fallback) in [
            ("AWS_ACCESS_KEY_ID", "durable-dev"),
            ("AWS_SECRET_ACCESS_KEY", "durable-dev"),
        ] {
            if std::env::var_os(key).is_none() {
                command.env(key, fallback);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                serve.abort();
                return Err(format!("cannot start {}: {e}", self.program.display()));
            }
        };
        tracing::info!(function = %self.name, pid = child.id().unwrap_or_default(), runtime_api = %addr, "function process started");
        tokio::select! {
            status = child.wait() => {
                match status {
                    Ok(status) => tracing::warn!(function = %self.name, %status, "the function process exited"),
                    Err(e) => tracing::warn!(function = %self.name, error = %e, "lost the function process"),
                }
            }
            () = self.kill_now.notified() => {
                let _ = child.kill().await;
            }
        }
        serve.abort();
        Ok(())
    }

    async fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.kill_now.notify_one();
        let task = lock(&self.supervisor).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    fn kill(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(task) = lock(&self.supervisor).take() {
            // Dropping the task's future drops the child, which kills it.
            task.abort();
        }
    }
}

fn runtime_router(state: RuntimeState) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state)
}

async fn next_invocation(State(state): State<RuntimeState>) -> Response {
    let mut queue = state.queue.lock().await;
    loop {
        let Some(job) = queue.recv().await else {
            return StatusCode::GONE.into_response();
        };
        if job.reply.is_closed() {
            // Its invoker gave up (a timeout) before the process asked.
            continue;
        }
        lock(&state.inflight).insert(job.request_id.clone(), job.reply);
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        set("lambda-runtime-aws-request-id", &job.request_id);
        set("lambda-runtime-deadline-ms", &job.deadline_ms.to_string());
        set("lambda-runtime-invoked-function-arn", &state.function_arn);
        set(
            "lambda-runtime-trace-id",
            &format!(
                "Root=1-00000000-{}",
                job.request_id.replace('-', "").get(..24).unwrap_or("0")
            ),
        );
        set("content-type", "application/json");
        return (StatusCode::OK, headers, job.body).into_response();
    }
}

async fn invocation_response(
    State(state): State<RuntimeState>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(reply) = lock(&state.inflight).remove(&request_id) else {
        return unknown_request(&request_id);
    };
    let _ = reply.send(parse_output(&body));
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn invocation_error(
    State(state): State<RuntimeState>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(reply) = lock(&state.inflight).remove(&request_id) else {
        return unknown_request(&request_id);
    };
    let fallback = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown");
    let _ = reply.send(InvocationResult::Failed(parse_runtime_error(
        &body, fallback,
    )));
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn init_error(body: Bytes) -> Response {
    let error = parse_runtime_error(&body, "Runtime.InitError");
    tracing::error!(
        error_type = error.error_type.as_deref().unwrap_or_default(),
        message = error.error_message.as_deref().unwrap_or_default(),
        "the function failed to initialise"
    );
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

fn unknown_request(request_id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("no invocation {request_id} is in progress (it may have timed out)"),
        })),
    )
        .into_response()
}
