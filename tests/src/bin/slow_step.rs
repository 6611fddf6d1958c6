//! A deployable durable function (`durable_lambda::run`) whose invocation
//! takes a while, for `tests/tests/dev_server.rs`: a quick step `before`,
//! then a step `slow` that sleeps `sleep_ms` milliseconds (from the event,
//! default 1000), so that a server killed meanwhile loses an invocation in
//! flight.

use std::time::Duration;

use durable_lambda::prelude::*;
use serde_json::{Value, json};

async fn handler(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let sleep_ms = event
        .get("sleep_ms")
        .and_then(Value::as_u64)
        .unwrap_or(1000);
    let before: String = ctx
        .step(|_: StepContext| async move { Ok::<_, StepError>("ready".to_owned()) })
        .name("before")
        .await?;
    let slow: String = ctx
        .step(move |_: StepContext| async move {
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
            Ok::<_, StepError>(format!("slept {sleep_ms} ms"))
        })
        .name("slow")
        .await?;
    Ok(json!({ "before": before, "slow": slow }))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
