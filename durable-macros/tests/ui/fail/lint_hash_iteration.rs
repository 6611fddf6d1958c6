//! A `for` loop over a HashMap or HashSet that calls durable operations is
//! rejected, in a handler and in a child-context function.
use std::collections::{HashMap, HashSet};

use durable_core::{DurableContext, DurableError, StepContext, StepError};
use durable_macros::{durable_child, durable_execution, durable_step};

#[durable_step]
async fn charge(_step: StepContext, item: String) -> Result<u32, StepError> {
    Ok(item.len() as u32)
}

#[durable_execution]
async fn handler(
    event: HashMap<String, u32>,
    ctx: DurableContext,
) -> Result<u32, DurableError> {
    let mut total = 0;
    for (item, _) in &event {
        total += ctx.step(charge(item.clone())).await?;
    }
    let skus: HashSet<String> = event.keys().cloned().collect();
    for sku in skus.iter() {
        ctx.wait(std::time::Duration::from_secs(1)).name(sku.clone()).await;
    }
    let prices = event.into_iter().collect::<HashMap<_, _>>();
    for price in prices.values() {
        total += ctx.step(charge(price.to_string())).await?;
    }
    Ok(total)
}

#[durable_child]
async fn restock(ctx: DurableContext, skus: Vec<String>) -> Result<(), DurableError> {
    let mut pending = HashSet::new();
    pending.extend(skus);
    for sku in pending.drain() {
        ctx.step(charge(sku)).await?;
    }
    Ok(())
}

fn main() {}
