use durable_core::{StepContext, StepError};
use durable_macros::durable_step;

#[durable_step]
async fn no_args() -> Result<(), StepError> {
    Ok(())
}

#[durable_step]
async fn no_context(id: String) -> Result<String, StepError> {
    Ok(id)
}

#[durable_step]
async fn context_second(id: String, _step: StepContext) -> Result<String, StepError> {
    Ok(id)
}

fn main() {}
