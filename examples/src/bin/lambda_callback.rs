//! Deployable: creates a callback named `approval` and returns what the
//! external system sends to it (`SendDurableExecutionCallbackSuccess`).

use durable_lambda::prelude::*;
use serde_json::{Value, json};

async fn handler(_event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let callback = ctx
        .create_callback::<Value>("approval")
        .timeout(Duration::from_secs(300))
        .await;
    let decision = callback.result().await?;
    Ok(json!({ "decision": decision }))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    // The adapter reports through `tracing` (a step still running near the
    // deadline, a failed checkpoint): print it to the function's log.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time() // CloudWatch stamps each line
        .init();
    durable_lambda::run(handler).await
}
