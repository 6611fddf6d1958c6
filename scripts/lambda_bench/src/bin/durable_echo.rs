//! The adapter with nothing to record: `durable_lambda::run` around a handler
//! that returns its input. Against `bare_echo`, this is the adapter's own
//! cost per invocation (envelope parsing, the replay engine, the output).

use durable_lambda::prelude::*;
use serde_json::Value;

async fn handler(event: Value, _ctx: DurableContext) -> Result<Value, DurableError> {
    Ok(event)
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
