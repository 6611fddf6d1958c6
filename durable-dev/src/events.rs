//! Status-change events, shaped like the EventBridge events Lambda emits
//! for durable executions (detail-type "Durable Execution Status Change"):
//! one when an execution starts and one when it ends.

use std::io::Write;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use durable_local::StoredExecution;

/// Where status-change events go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventSink {
    /// One JSON object per line on standard output.
    Stdout,
    /// One JSON line per event appended to this file.
    File(std::path::PathBuf),
    /// POSTed as JSON to this `http://` URL (failures are logged, not retried).
    Webhook(String),
}

/// One status change of an execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusEvent {
    /// `"0"`, as in EventBridge envelopes.
    pub version: &'static str,
    /// A fresh UUID.
    pub id: String,
    /// `"Durable Execution Status Change"`.
    #[serde(rename = "detail-type")]
    pub detail_type: &'static str,
    /// `"aws.lambda"`.
    pub source: &'static str,
    /// The account in the server's ARNs.
    pub account: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// The region in the server's ARNs.
    pub region: String,
    /// The execution ARN.
    pub resources: Vec<String>,
    /// What changed.
    pub detail: Value,
}

impl StatusEvent {
    pub(crate) fn of(exec: &StoredExecution, region: &str, account: &str) -> Self {
        let now = aws_smithy_types::DateTime::from_millis(
            exec.end_timestamp()
                .unwrap_or_else(|| exec.start_timestamp()),
        );
        let time = now
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        let function_arn = format!(
            "arn:aws:lambda:{region}:{account}:function:{}",
            exec.function_name()
        );
        let mut detail = json!({
            "durableExecutionArn": exec.arn(),
            "durableExecutionName": exec.name(),
            "functionArn": function_arn,
            "status": exec.status().as_str(),
            "startTimestamp": exec.start_timestamp(),
        });
        if let Some(object) = detail.as_object_mut() {
            if let Some(end) = exec.end_timestamp() {
                object.insert("endTimestamp".into(), json!(end));
            }
            if let Some(error) = exec.error() {
                object.insert(
                    "error".into(),
                    json!({
                        "errorType": error.error_type,
                        "errorMessage": error.error_message,
                    }),
                );
            }
        }
        Self {
            version: "0",
            id: uuid::Uuid::new_v4().to_string(),
            detail_type: "Durable Execution Status Change",
            source: "aws.lambda",
            account: account.to_owned(),
            time,
            region: region.to_owned(),
            resources: vec![exec.arn().to_owned()],
            detail,
        }
    }

    /// The execution's status in this event.
    pub fn status(&self) -> &str {
        self.detail
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The execution ARN.
    pub fn arn(&self) -> &str {
        self.resources.first().map_or("", String::as_str)
    }
}

/// Fans events out to the sinks (in a task of its own, so a slow webhook
/// never holds up an execution) and to in-process subscribers.
pub(crate) struct Emitter {
    queue: Option<mpsc::UnboundedSender<StatusEvent>>,
    subscribers: broadcast::Sender<StatusEvent>,
}

impl Emitter {
    pub(crate) fn new(sinks: Vec<EventSink>) -> Self {
        let (subscribers, _) = broadcast::channel(1024);
        let queue = (!sinks.is_empty()).then(|| {
            let (queue, events) = mpsc::unbounded_channel();
            tokio::spawn(deliver(sinks, events));
            queue
        });
        Self { queue, subscribers }
    }

    pub(crate) fn emit(&self, event: StatusEvent) {
        let _ = self.subscribers.send(event.clone());
        if let Some(queue) = &self.queue {
            let _ = queue.send(event);
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.subscribers.subscribe()
    }
}

async fn deliver(sinks: Vec<EventSink>, mut events: mpsc::UnboundedReceiver<StatusEvent>) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    while let Some(event) = events.recv().await {
        let line = match serde_json::to_string(&event) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "could not encode a status event");
                continue;
            }
        };
        for sink in &sinks {
            match sink {
                EventSink::Stdout => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
                EventSink::File(path) => {
                    let written = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .and_then(|mut file| writeln!(file, "{line}"));
                    if let Err(error) = written {
                        tracing::warn!(path = %path.display(), %error, "could not write a status event");
                    }
                }
                EventSink::Webhook(url) => {
                    let request = hyper::Request::post(url.as_str())
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(line.clone())));
                    let sent = match request {
                        Ok(request) => client
                            .request(request)
                            .await
                            .map(|response| response.status())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match sent {
                        Ok(status) if status.is_success() => {}
                        Ok(status) => {
                            tracing::warn!(%url, %status, "the webhook refused a status event")
                        }
                        Err(error) => tracing::warn!(%url, %error, "could not POST a status event"),
                    }
                }
            }
        }
    }
}
