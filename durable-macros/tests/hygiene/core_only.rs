//! A crate that depends on `durable-core` and `durable-macros`.
#![deny(warnings)]

use durable_core::prelude::*;
use durable_macros::{durable_child, durable_execution, durable_step};

#[durable_step(semantics = at_most_once)]
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
    shipping(&ctx, order_id).await
}

fn is_handler<E, T>(_: impl durable_core::DurableHandler<E, T>) {}

fn main() {
    is_handler(handler);
    let defaults = durable_core::StepBody::defaults(&validate_order("o-1".into()));
    println!("core-only: step {:?}", defaults.name);
}
