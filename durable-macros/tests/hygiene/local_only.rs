//! A test crate that depends on `durable-local` alone (and tokio to drive
//! it): the workflow runs to SUCCEEDED.
#![deny(warnings)]

use durable_local::prelude::*;

#[durable_step(name = "validate")]
async fn validate_order(_step: StepContext, order_id: String) -> Result<String, StepError> {
    Ok(order_id)
}

#[durable_child]
async fn shipping(ctx: DurableContext, order_id: String) -> Result<String, DurableError> {
    Ok(ctx.step(validate_order(order_id)).name("revalidate").await?)
}

#[durable_execution]
async fn handler(order_id: String, ctx: DurableContext) -> Result<String, DurableError> {
    let order_id = ctx.step(validate_order(order_id)).await?;
    ctx.wait(Duration::from_secs(1)).await;
    shipping(&ctx, order_id).await
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
        "local-only: {} {}",
        execution.status(),
        execution.result_payload().unwrap_or_default()
    );
}
