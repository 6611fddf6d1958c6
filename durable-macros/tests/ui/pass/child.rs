use durable_core::{DurableContext, DurableError, StepContext, StepError};
use durable_macros::{durable_child, durable_execution, durable_step};

#[durable_step]
async fn label(_step: StepContext, order_id: String) -> Result<String, StepError> {
    Ok(format!("{order_id}/label"))
}

/// Prints the label and books the pickup.
#[durable_child(name = "ship", crate = "::durable_core")]
pub(crate) async fn shipping(
    ctx: DurableContext,
    order_id: String,
    (a, b): (u8, u8),
) -> Result<String, DurableError> {
    let label = ctx.step(label(order_id)).await?;
    Ok(format!("{label}/{a}{b}"))
}

#[durable_execution]
async fn handler(event: String, ctx: DurableContext) -> Result<String, DurableError> {
    let shipped = shipping(&ctx, event, (1, 2)).await?;
    Ok(shipping::call(ctx, shipped, (3, 4)).await?)
}

fn main() {
    let _ = durable_local::LocalRunner::new(handler);
    let _: fn(&DurableContext, String, (u8, u8)) -> _ = shipping;
}

// Arguments named like the generated code's own bindings do not clash with
// them.
#[durable_child]
async fn shadowing(
    context: DurableContext,
    parent: String,
    ctx: u32,
) -> Result<String, DurableError> {
    let _ = context;
    Ok(format!("{parent}{ctx}"))
}

const _: fn(&DurableContext) = |c| {
    let _ = shadowing(c, String::new(), 1);
};
