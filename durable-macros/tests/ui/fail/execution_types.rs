use durable_core::{DurableContext, DurableError, StepError};
use durable_macros::durable_execution;

struct NotDeserialize;
struct NotSerialize;

#[durable_execution]
async fn bad_event(_event: NotDeserialize, _ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_execution]
async fn bad_output(_event: (), _ctx: DurableContext) -> Result<NotSerialize, DurableError> {
    Ok(NotSerialize)
}

#[durable_execution]
async fn bad_error(_event: (), _ctx: DurableContext) -> Result<(), StepError> {
    Ok(())
}

fn main() {}
