//! Loops over hash collections that are sorted first, that call no durable
//! operation, or that are opted out compile; so do ordered collections.
use std::collections::{BTreeMap, HashMap};

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
    // No durable operation in the body: the order does not matter.
    for (_, quantity) in &event {
        total += quantity;
    }
    // Sorted first.
    let mut items: Vec<_> = event.keys().cloned().collect();
    items.sort();
    for item in items {
        total += ctx.step(charge(item)).await?;
    }
    // An ordered map.
    let ordered: BTreeMap<_, _> = event.clone().into_iter().collect();
    for (item, _) in &ordered {
        total += ctx.step(charge(item.clone())).await?;
    }
    // `map` on something other than the context is an iterator method.
    for (item, _) in &event {
        let _lengths: Vec<usize> = item.chars().map(|c| c.len_utf8()).collect();
    }
    // Opted out, knowingly.
    #[durable::allow_nondeterministic]
    for (item, _) in &event {
        ctx.step(charge(item.clone())).name("unordered").await?;
    }
    Ok(total)
}

#[durable_child]
async fn restock(ctx: DurableContext, skus: HashMap<String, u32>) -> Result<(), DurableError> {
    let mut skus: Vec<_> = skus.into_iter().collect();
    skus.sort();
    for (sku, _) in skus {
        ctx.step(charge(sku)).await?;
    }
    Ok(())
}

fn main() {
    let _ = durable_local::LocalRunner::new(handler);
    let _ = restock;
}
