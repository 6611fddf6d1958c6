use durable_core::{StepContext, StepError};
use durable_macros::durable_step;

#[durable_step]
async fn generic<T: Send>(_step: StepContext, value: T) -> Result<(), StepError> {
    let _ = value;
    Ok(())
}

#[durable_step]
async fn impl_trait(_step: StepContext, value: impl Send) -> Result<(), StepError> {
    let _ = value;
    Ok(())
}

struct Orders;

impl Orders {
    #[durable_step]
    async fn method(&self, _step: StepContext) -> Result<(), StepError> {
        Ok(())
    }
}

#[durable_step]
const async fn constant(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step]
async fn variadic(_step: StepContext, ...) -> Result<(), StepError> {
    Ok(())
}

#[durable_step]
struct NotAFunction;

fn main() {}
