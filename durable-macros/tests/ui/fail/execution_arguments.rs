use durable_core::{DurableContext, DurableError};
use durable_macros::durable_execution;

#[durable_execution]
async fn no_args() -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
async fn no_context(_event: String) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
async fn no_event(_ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
async fn wrong_order(_ctx: DurableContext, _event: String) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
async fn not_a_context(_event: String, _other: u32) -> Result<(), DurableError> {
    Ok(())
}

fn main() {}
