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
    durable_lambda::run(handler).await
}
