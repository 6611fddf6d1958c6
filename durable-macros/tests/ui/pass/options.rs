use durable_core::{DurableContext, DurableError, RetryPolicy, StepContext, StepError};
use durable_macros::{durable_execution, durable_step};

#[durable_step]
async fn plain(_step: StepContext) -> Result<(), StepError> {
    Ok(())
}

#[durable_step(name = "custom", retry = RetryPolicy::none(), semantics = at_most_once)]
pub async fn with_options(step: StepContext, a: u32, mut b: String, (c, d): (u8, u8)) -> Result<String, StepError> {
    b.push_str(&format!("{a}{c}{d}{}", step.attempt()));
    Ok(b)
}

#[durable_step(crate = "::durable_core", retry = |_: &durable_core::ErrorObject, _: u32| durable_core::RetryDecision::Stop)]
async fn composed(step: StepContext) -> Result<String, StepError> {
    // The body of another step, called as a plain async function.
    with_options::call(step, 1, "x".into(), (2, 3)).await
}

#[durable_execution(crate = "::durable_core")]
async fn handler(_event: (), ctx: DurableContext) -> Result<String, DurableError> {
    ctx.step(plain()).await?;
    let steps: Vec<with_options> = vec![with_options(1, "a".into(), (1, 2))];
    for step in steps {
        ctx.step(step).await?;
    }
    Ok(ctx.step(composed()).await?)
}

fn main() {
    let _ = durable_local::LocalRunner::new(handler);
}

// Arguments named like the generated code's own bindings do not clash with
// them.
#[durable_step]
async fn shadowing(_context: StepContext, step: u32, this: String) -> Result<String, StepError> {
    Ok(format!("{this}{step}"))
}

const _: fn() -> shadowing = || shadowing(1, String::new());
