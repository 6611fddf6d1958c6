use durable_core::{DurableContext, DurableError};
use durable_macros::durable_execution;

#[durable_execution(name = "x", crate = "::durable_core", crate = "::durable_core")]
async fn handler(_event: (), _ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution(crate = "durable core")]
async fn not_a_path(_event: (), _ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

fn main() {}
