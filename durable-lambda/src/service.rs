//! The Lambda side: a `tower::Service` over `LambdaEvent`s that runs a
//! durable handler for each invocation, and [`run`], which serves it on the
//! `lambda_runtime` event loop.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use durable_core::wire::{InvocationInput, InvocationOutput};
use durable_core::{Backend, DurableHandler, InvocationConfig, InvocationError, run_invocation};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::LambdaBackend;
use crate::deadline::{ANSWER_MARGIN, Bounded};

/// The error [`run`] returns when the runtime cannot start or reach the
/// Lambda Runtime API.
pub type Error = lambda_runtime::Error;

/// The error type of an envelope that is not a durable execution invocation.
const INVALID_ENVELOPE: &str = durable_core::kinds::INVALID_ENVELOPE;

/// What a failed invocation reports to Lambda (`errorType`, `errorMessage`),
/// which records it and invokes the function again: the engine's error type
/// (`InvalidEnvelope`, `CheckpointError`...) and message.
fn diagnostic(error: &InvocationError) -> Diagnostic {
    Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.message().to_owned(),
    }
}

/// A `tower::Service` that runs one invocation of a durable handler per
/// Lambda event: it parses the envelope, replays the handler against the
/// recorded state through `backend`, and answers with the invocation output
/// (SUCCEEDED, FAILED or PENDING).
///
/// Add your own tower layers around it, then serve it with
/// `lambda_runtime::run`; [`run`] does both steps with no layers.
pub struct DurableService<H, E, T> {
    handler: Arc<H>,
    backend: Arc<dyn Backend>,
    config: InvocationConfig,
    _types: PhantomData<fn(E) -> T>,
}

impl<H, E, T> Clone for DurableService<H, E, T> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            backend: self.backend.clone(),
            config: self.config.clone(),
            _types: PhantomData,
        }
    }
}

impl<H, E, T> std::fmt::Debug for DurableService<H, E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableService").finish_non_exhaustive()
    }
}

impl<H, E, T> DurableService<H, E, T>
where
    H: DurableHandler<E, T>,
{
    /// A service running `handler`, checkpointing through `backend`.
    pub fn new(handler: H, backend: Arc<dyn Backend>) -> Self {
        Self {
            handler: Arc::new(handler),
            backend,
            config: InvocationConfig::default(),
            _types: PhantomData,
        }
    }

    /// Options for every invocation. Each invocation's deadline is Lambda's
    /// (`Context::deadline`); set the margin before it here.
    #[must_use]
    pub fn with_config(mut self, config: InvocationConfig) -> Self {
        self.config = config;
        self
    }
}

/// Turns an invocation event into the envelope, with a clear message when
/// the event is not a durable execution envelope (a plain event: durable
/// execution is not enabled on the function, or the function was invoked
/// directly).
///
/// # Errors
/// `InvalidEnvelope` when the event is not a JSON object, has no
/// `DurableExecutionArn` or `CheckpointToken`, or does not have the
/// envelope's shape.
pub fn parse_event(payload: serde_json::Value) -> Result<InvocationInput, Diagnostic> {
    let not_durable = |what: &str| Diagnostic {
        error_type: INVALID_ENVELOPE.to_owned(),
        error_message: format!(
            "unexpected payload: {what}, so it is not a durable execution invocation; \
             confirm that durable execution is enabled for this function \
             (DurableConfig) and that it is invoked through the service"
        ),
    };
    let Some(object) = payload.as_object() else {
        return Err(not_durable("the event is not a JSON object"));
    };
    for field in ["DurableExecutionArn", "CheckpointToken"] {
        let value = object.get(field).and_then(serde_json::Value::as_str);
        if value.is_none_or(str::is_empty) {
            return Err(not_durable(&format!("the event has no {field}")));
        }
    }
    InvocationInput::from_value(payload).map_err(|e| diagnostic(&e))
}

impl<H, E, T> tower::Service<LambdaEvent<serde_json::Value>> for DurableService<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    type Response = InvocationOutput;
    type Error = Diagnostic;
    type Future = Pin<Box<dyn Future<Output = Result<InvocationOutput, Diagnostic>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<serde_json::Value>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move {
            let input = parse_event(event.payload)?;
            let (config, backend) = match invocation_deadline(event.context.deadline, now_ms()) {
                Some(deadline) => (
                    service.config.clone().deadline(deadline),
                    bounded(service.backend.clone(), deadline, now_ms()),
                ),
                None => {
                    if event.context.deadline > 0 {
                        tracing::debug!(
                            target: "durable",
                            deadline = event.context.deadline,
                            "the invocation's deadline is already past when it starts; running without one"
                        );
                    }
                    (service.config.clone(), service.backend.clone())
                }
            };
            run_invocation(&*service.handler, input, backend, &config)
                .await
                .map_err(|e| diagnostic(&e))
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The invocation's backend: `backend` with its calls retried until
/// [`ANSWER_MARGIN`] before Lambda's deadline (`deadline_ms`, epoch
/// milliseconds).
fn bounded(backend: Arc<dyn Backend>, deadline_ms: i64, now_ms: i64) -> Arc<dyn Backend> {
    let left = u64::try_from(deadline_ms.saturating_sub(now_ms)).unwrap_or(0);
    let until =
        tokio::time::Instant::now() + Duration::from_millis(left).saturating_sub(ANSWER_MARGIN);
    Arc::new(Bounded::new(backend, until))
}

/// Lambda's deadline for an invocation starting at `now_ms`: the context's
/// `deadline` (epoch milliseconds) when it lies ahead. None for `0` (a
/// hand-made `Context`) or a time already past: `cargo lambda watch` 1.9 sends
/// its ten-minute timeout, `600000`, in `Lambda-Runtime-Deadline-Ms` where
/// Lambda sends a time, and read as a time it would stop every invocation at
/// once.
fn invocation_deadline(deadline_ms: u64, now_ms: i64) -> Option<i64> {
    i64::try_from(deadline_ms)
        .ok()
        .filter(|&deadline| deadline > now_ms)
}

/// Runs a durable handler on AWS Lambda: builds the `aws-sdk-lambda` client
/// once from the environment (region, credentials, `AWS_ENDPOINT_URL_LAMBDA`)
/// and serves [`DurableService`] on the `lambda_runtime` event loop.
///
/// ```no_run
/// use durable_lambda::prelude::*;
///
/// async fn handler(name: String, ctx: DurableContext) -> Result<String, DurableError> {
///     Ok(ctx.step(|_| async move { Ok::<_, StepError>(format!("Hello, {name}")) }).await?)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), durable_lambda::Error> {
///     durable_lambda::run(handler).await
/// }
/// ```
///
/// # Errors
/// The runtime could not start or reach the Lambda Runtime API.
pub async fn run<H, E, T>(handler: H) -> Result<(), Error>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    let backend: Arc<dyn Backend> = Arc::new(LambdaBackend::from_env().await);
    lambda_runtime::run(DurableService::new(handler, backend)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_core::wire::{
        CheckpointResponse, ExecutionState, InvocationStatus, OperationUpdate,
    };
    use durable_core::{BackendError, BoxFuture, DurableContext, DurableError};
    use serde_json::json;
    use tower::Service;

    /// Accepts every checkpoint.
    struct AcceptAll;

    impl Backend for AcceptAll {
        fn checkpoint<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            _updates: Vec<OperationUpdate>,
        ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
            Box::pin(async {
                Ok(CheckpointResponse {
                    checkpoint_token: Some("next".into()),
                    new_execution_state: None,
                })
            })
        }

        fn get_state<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            _marker: &'a str,
        ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
            Box::pin(async { Ok(ExecutionState::default()) })
        }
    }

    /// The envelope dex-local-runner sends: an ARN that is not ARN-shaped,
    /// epoch-millisecond timestamps, `NextMarker: ""`.
    fn dex_envelope() -> serde_json::Value {
        json!({
            "CheckpointToken": "eyJhcm4iOiJ4In0=",
            "DurableExecutionArn": "6f1c/0d3e",
            "InitialExecutionState": {
                "NextMarker": "",
                "Operations": [{
                    "ExecutionDetails": {"InputPayload": "{\"order\": 7}"},
                    "Id": "0d3e",
                    "Name": "echo-1",
                    "StartTimestamp": 1_795_821_367_772_i64,
                    "Status": "STARTED",
                    "Type": "EXECUTION"
                }]
            },
            "UpdatedOperationIds": []
        })
    }

    async fn order(event: serde_json::Value, _ctx: DurableContext) -> Result<i64, DurableError> {
        Ok(event["order"].as_i64().unwrap_or_default() * 6)
    }

    /// Waits on the service (a one-minute wait) while a step runs for 30 s.
    async fn slow(_event: serde_json::Value, ctx: DurableContext) -> Result<i64, DurableError> {
        let wait = ctx.wait(std::time::Duration::from_secs(60));
        let step = ctx.step(|_: durable_core::StepContext| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok::<_, durable_core::StepError>(1)
        });
        let ((), value) = tokio::join!(wait, step);
        Ok(value?)
    }

    #[tokio::test]
    async fn a_handler_running_past_a_short_deadline_returns_pending() {
        let mut service = DurableService::new(slow, Arc::new(AcceptAll));
        let mut context = lambda_runtime::Context::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        // 2.5 s left; the default margin is 2 s.
        context.deadline = u64::try_from(now.as_millis()).unwrap() + 2_500;
        let started = std::time::Instant::now();
        let output = service
            .call(LambdaEvent::new(dex_envelope(), context))
            .await
            .unwrap();
        assert_eq!(output.status, InvocationStatus::Pending);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    /// Throttles every checkpoint, counting the calls.
    struct Throttling(std::sync::atomic::AtomicUsize);

    impl Backend for Throttling {
        fn checkpoint<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            _updates: Vec<OperationUpdate>,
        ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async {
                Err(BackendError::service(
                    "TooManyRequestsException",
                    429,
                    "Rate exceeded",
                ))
            })
        }

        fn get_state<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            _marker: &'a str,
        ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
            Box::pin(async { Ok(ExecutionState::default()) })
        }
    }

    async fn one_step(_event: serde_json::Value, ctx: DurableContext) -> Result<i64, DurableError> {
        Ok(ctx
            .step(|_: durable_core::StepContext| async { Ok::<_, durable_core::StepError>(1) })
            .await?)
    }

    #[tokio::test]
    async fn a_checkpoint_throttled_until_the_deadline_fails_the_invocation_in_time() {
        let backend = Arc::new(Throttling(std::sync::atomic::AtomicUsize::new(0)));
        let mut service = DurableService::new(one_step, backend.clone());
        let mut context = lambda_runtime::Context::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        context.deadline = u64::try_from(now.as_millis()).unwrap() + 3_000;
        let started = std::time::Instant::now();
        let error = service
            .call(LambdaEvent::new(dex_envelope(), context))
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(error.error_type, "CheckpointError");
        assert!(
            error.error_message.contains("gave up after"),
            "{}",
            error.error_message
        );
        // Sent again while time was left (more than the SDK's 3 attempts),
        // and given up before the deadline, with time kept to answer.
        let calls = backend.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(calls > 3, "{calls} calls");
        assert!(
            elapsed < std::time::Duration::from_millis(2_800),
            "{elapsed:?}"
        );
    }

    #[test]
    fn only_a_deadline_ahead_is_the_invocations_deadline() {
        let now = 1_795_845_680_317;
        assert_eq!(
            invocation_deadline(1_795_845_690_317, now),
            Some(1_795_845_690_317)
        );
        // cargo lambda watch's header, a hand-made Context, a time past.
        assert_eq!(invocation_deadline(600_000, now), None);
        assert_eq!(invocation_deadline(0, now), None);
        assert_eq!(invocation_deadline(1_795_845_680_316, now), None);
        assert_eq!(invocation_deadline(u64::MAX, now), None);
    }

    #[test]
    fn plain_events_say_durable_execution_is_not_enabled() {
        for event in [json!({"hello": "world"}), json!("a string"), json!(null)] {
            let error = parse_event(event).unwrap_err();
            assert_eq!(error.error_type, "InvalidEnvelope");
            assert!(
                error
                    .error_message
                    .contains("confirm that durable execution is enabled"),
                "{}",
                error.error_message
            );
        }
        let no_token = parse_event(json!({"DurableExecutionArn": "a/b"})).unwrap_err();
        assert!(no_token.error_message.contains("no CheckpointToken"));
    }

    #[test]
    fn the_dex_envelope_parses() {
        let input = parse_event(dex_envelope()).unwrap();
        assert_eq!(input.durable_execution_arn.as_deref(), Some("6f1c/0d3e"));
        assert_eq!(input.initial_execution_state.next_page(), None);
        let op = &input.initial_execution_state.operations[0];
        assert_eq!(op.start_timestamp, Some(1_795_821_367_772));
    }

    #[tokio::test]
    async fn the_service_answers_an_invocation_and_reports_errors_by_type() {
        let mut service = DurableService::new(order, Arc::new(AcceptAll));
        let event = LambdaEvent::new(dex_envelope(), lambda_runtime::Context::default());
        let output = service.call(event).await.unwrap();
        assert_eq!(output.status, InvocationStatus::Succeeded);
        assert_eq!(output.result.as_deref(), Some("42"));

        let plain = LambdaEvent::new(json!({"order": 7}), lambda_runtime::Context::default());
        let error = service.call(plain).await.unwrap_err();
        assert_eq!(error.error_type, "InvalidEnvelope");
    }
}
