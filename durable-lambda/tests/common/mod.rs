//! A fake of the two Lambda APIs a durable function calls
//! (`CheckpointDurableExecution`, `GetDurableExecutionState`), served by axum
//! on 127.0.0.1, and the pieces to drive `DurableService` against it: an
//! `aws-sdk-lambda` client pointed at it, an envelope, a Lambda `Context`
//! with a chosen deadline, and a log capture.
//!
//! Replies are scripted per API: each request takes the next scripted reply,
//! or the default one (a checkpoint answers with the next token, or with no
//! token once an EXECUTION update ended the execution, PROTOCOL §4.2; a state
//! page is empty).

#![allow(dead_code)] // each test binary uses part of this module

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use durable_lambda::LambdaBackend;
use serde_json::{Value, json};

/// The execution the envelopes describe; its id is the last `/` segment.
pub const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/order-7/0d3e5a9c";
/// The EXECUTION record's id.
pub const EXECUTION_ID: &str = "0d3e5a9c";
/// The envelope's checkpoint token.
pub const FIRST_TOKEN: &str = "token-0";

/// Which API a request called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST /2025-12-01/durable-executions/{Arn}/checkpoint`
    Checkpoint,
    /// `GET /2025-12-01/durable-executions/{Arn}/state`
    State,
    /// Anything else (the adapter should never send it).
    Other,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Request {
    /// The API it called.
    pub api: Api,
    /// The method and raw path, for messages.
    pub line: String,
    /// The `{DurableExecutionArn}` label, percent-decoded.
    pub arn: String,
    /// The query parameters, percent-decoded.
    pub query: Vec<(String, String)>,
    /// The JSON body (`Null` when empty).
    pub body: Value,
}

impl Request {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `Updates` of a checkpoint request.
    pub fn updates(&self) -> Vec<Value> {
        self.body["Updates"].as_array().cloned().unwrap_or_default()
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    error_type: Option<String>,
    body: Value,
}

impl Reply {
    /// A 200 with this body.
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            error_type: None,
            body,
        }
    }

    /// An error the way Lambda sends it: the status, the exception name in
    /// `X-Amzn-ErrorType` and a `{"Type", "message"}` body.
    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self {
            status,
            error_type: Some(error_type.to_owned()),
            body: json!({ "Type": "User", "message": message }),
        }
    }

    /// An error with no exception name anywhere (a load balancer's 5xx).
    pub fn bare(status: u16) -> Self {
        Self {
            status,
            error_type: None,
            body: Value::Null,
        }
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    checkpoint_replies: VecDeque<Reply>,
    state_replies: VecDeque<Reply>,
    tokens_issued: usize,
}

/// The fake service; [`Fake::start`] serves it until the test ends.
#[derive(Clone, Default)]
pub struct Fake {
    inner: Arc<Mutex<Inner>>,
    endpoint: String,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Fake {
    /// Binds 127.0.0.1 on a free port and serves the fake there.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let fake = Self {
            inner: Arc::default(),
            endpoint: format!("http://{address}"),
        };
        let app = Router::new()
            .fallback(handle)
            // A large result arrives as one checkpoint of more than 6 MiB.
            .layer(DefaultBodyLimit::disable())
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next checkpoint requests get these replies, in order.
    pub fn script_checkpoints(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.inner).checkpoint_replies.extend(replies);
    }

    /// The next state requests get these replies, in order.
    pub fn script_states(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.inner).state_replies.extend(replies);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.inner).requests.clone()
    }

    /// The checkpoint requests so far.
    pub fn checkpoints(&self) -> Vec<Request> {
        self.of(Api::Checkpoint)
    }

    /// The requests so far to one API.
    pub fn of(&self, api: Api) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.api == api)
            .collect()
    }

    /// A backend whose client reaches this fake, configured as
    /// `LambdaBackend::from_env` configures it (aws-config's defaults,
    /// standard retry mode with 3 attempts) except for the endpoint, a region,
    /// dummy credentials and, when given, the retry configuration.
    pub async fn backend(&self, retry: Option<RetryConfig>) -> LambdaBackend {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDFAKE",
                "fake-secret",
                None,
                None,
                "fake",
            ));
        if let Some(retry) = retry {
            loader = loader.retry_config(retry);
        }
        let config = loader.load().await;
        LambdaBackend::new(aws_sdk_lambda::Client::new(&config))
    }

    /// The standard retry mode (3 attempts) with 10 ms backoffs instead of
    /// 1 s, so a test does not sleep.
    pub async fn fast_retry_backend(&self) -> LambdaBackend {
        self.backend(Some(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        ))
        .await
    }
}

async fn handle(State(fake): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (api, arn) = match (&method, segments.as_slice()) {
        (&Method::POST, ["2025-12-01", "durable-executions", arn, "checkpoint"]) => {
            (Api::Checkpoint, decode(arn))
        }
        (&Method::GET, ["2025-12-01", "durable-executions", arn, "state"]) => {
            (Api::State, decode(arn))
        }
        _ => (Api::Other, String::new()),
    };
    let query = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = Request {
        api,
        line: format!("{method} {path}"),
        arn,
        query,
        body,
    };

    let mut inner = lock(&fake.inner);
    let scripted = match api {
        Api::Checkpoint => inner.checkpoint_replies.pop_front(),
        Api::State => inner.state_replies.pop_front(),
        Api::Other => Some(Reply::error(
            404,
            "UnknownOperationException",
            "not an API of this fake",
        )),
    };
    let reply = scripted.unwrap_or_else(|| match api {
        Api::Checkpoint => {
            let ends_execution = request
                .updates()
                .iter()
                .any(|update| update["Type"] == "EXECUTION");
            if ends_execution {
                Reply::ok(json!({}))
            } else {
                inner.tokens_issued += 1;
                Reply::ok(json!({ "CheckpointToken": format!("token-{}", inner.tokens_issued) }))
            }
        }
        _ => Reply::ok(json!({ "Operations": [] })),
    });
    inner.requests.push(request);
    drop(inner);

    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if reply.body.is_null() {
        (status, "<html>Service Unavailable</html>").into_response()
    } else {
        (status, reply.body.to_string()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(error_type) = reply.error_type {
        if let Ok(value) = HeaderValue::from_str(&error_type) {
            headers.insert("x-amzn-errortype", value);
        }
    }
    response
}

/// Percent-decodes a URI component.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The invocation event the service sends for a new execution of `input`.
pub fn envelope(input: &Value) -> Value {
    envelope_with(
        vec![json!({
            "Id": EXECUTION_ID,
            "Type": "EXECUTION",
            "Status": "STARTED",
            "StartTimestamp": now_ms(),
            "ExecutionDetails": { "InputPayload": input.to_string() }
        })],
        None,
    )
}

/// An envelope with these records on its first page and, when given, a
/// marker for more pages.
pub fn envelope_with(operations: Vec<Value>, next_marker: Option<&str>) -> Value {
    json!({
        "DurableExecutionArn": ARN,
        "CheckpointToken": FIRST_TOKEN,
        "InitialExecutionState": {
            "Operations": operations,
            "NextMarker": next_marker.unwrap_or_default()
        }
    })
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A Lambda context; with `time_left`, its deadline is that far from now.
pub fn context(time_left: Option<Duration>) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned();
    if let Some(left) = time_left {
        context.deadline = now_ms() + u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
    }
    context
}

/// The lines a `tracing` subscriber wrote, shared with the test.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Installs a subscriber writing here for the current thread (a
    /// `#[tokio::test]` runs the test's tasks on that thread) until the guard
    /// drops.
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
