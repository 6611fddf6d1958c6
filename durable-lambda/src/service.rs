//! The Lambda side: a `tower::Service` over `LambdaEvent`s that runs a
//! durable handler for each invocation, and [`run`], which serves it on the
//! `lambda_runtime` event loop.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use durable_core::wire::{InvocationInput, InvocationOutput};
use durable_core::{Backend, DurableHandler, InvocationConfig, InvocationError, run_invocation};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::LambdaBackend;

/// The error a failed invocation reports to Lambda, which records it and
/// invokes the function again.
pub type Error = lambda_runtime::Error;

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

    /// Options for every invocation.
    #[must_use]
    pub fn with_config(mut self, config: InvocationConfig) -> Self {
        self.config = config;
        self
    }
}

/// Turns an invocation event into the envelope, with a clear message when
/// the event is not a durable execution envelope.
pub fn parse_event(payload: serde_json::Value) -> Result<InvocationInput, InvocationError> {
    InvocationInput::from_value(payload)
}

impl<H, E, T> tower::Service<LambdaEvent<serde_json::Value>> for DurableService<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    type Response = InvocationOutput;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<InvocationOutput, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<serde_json::Value>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move {
            let input = parse_event(event.payload)?;
            let output = run_invocation(
                &*service.handler,
                input,
                service.backend.clone(),
                &service.config,
            )
            .await?;
            Ok(output)
        })
    }
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
