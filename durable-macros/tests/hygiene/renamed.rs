//! A test crate that depends on `durable-local` under another name.
#![deny(warnings)]

use engine::prelude::*;

#[durable_step]
async fn validate_order(_step: StepContext, order_id: String) -> Result<String, StepError> {
    Ok(order_id)
}

#[durable_execution]
async fn handler(order_id: String, ctx: DurableContext) -> Result<String, DurableError> {
    Ok(ctx.step(validate_order(order_id)).await?)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let execution = runtime
        .block_on(LocalRunner::new(handler).run("o-1"))
        .unwrap();
    println!(
        "renamed: {} {}",
        execution.status(),
        execution.result_payload().unwrap_or_default()
    );
}
