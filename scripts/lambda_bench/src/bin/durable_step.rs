//! The adapter with one step: its result is checkpointed through
//! `aws-sdk-lambda` (`CheckpointDurableExecution`, SigV4-signed) to the
//! endpoint in `AWS_ENDPOINT_URL_LAMBDA` (bench.py's stub of the service).

use durable_lambda::prelude::*;
use serde_json::Value;

async fn handler(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    Ok(ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(event) })
        .name("echo")
        .await?)
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
