use durable_core::{StepContext, StepError};
use durable_macros::durable_step;

#[durable_step(serdes = 5)]
async fn not_a_serdes(_step: StepContext) -> Result<u32, StepError> {
    Ok(1)
}

fn main() {}
