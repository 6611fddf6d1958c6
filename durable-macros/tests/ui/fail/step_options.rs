use durable_core::{RetryPolicy, StepContext, StepError};
use durable_macros::durable_step;

#[durable_step(timeout = 5)]
async fn unknown(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step(name = "a", name = "b")]
async fn duplicate(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step(name = 5, semantics = exactly_once, retry)]
async fn wrong_types(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step(retry = RetryPolicy::none, name = "ok")]
async fn retry_not_a_strategy(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step("validate")]
async fn malformed(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

fn main() {}
