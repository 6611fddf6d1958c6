use durable_core::{DurableContext, DurableError};
use durable_macros::durable_execution;

#[durable_execution]
fn handler(_event: (), _ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
struct NotAFunction;

fn main() {}
