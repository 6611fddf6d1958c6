use durable_core::{StepContext, StepError};
use durable_macros::durable_step;

#[durable_step]
fn validate(_step: StepContext, id: String) -> Result<String, StepError> {
    Ok(id)
}

fn main() {}
