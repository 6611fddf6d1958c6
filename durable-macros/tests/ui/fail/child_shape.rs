use durable_core::{DurableContext, DurableError, StepContext};
use durable_macros::durable_child;

#[durable_child]
fn not_async(_ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_child]
async fn no_context(id: String) -> Result<String, DurableError> {
    Ok(id)
}

#[durable_child]
async fn context_second(id: String, _ctx: DurableContext) -> Result<String, DurableError> {
    Ok(id)
}

#[durable_child]
async fn step_context(_step: StepContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_child]
async fn not_result(_ctx: DurableContext) -> u32 {
    0
}

#[durable_child]
async fn generic<T: Send>(_ctx: DurableContext, value: T) -> Result<(), DurableError> {
    let _ = value;
    Ok(())
}

#[durable_child(name = "a", name = "b", retry = 3)]
async fn options(_ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_child(name = shipping)]
async fn name_not_a_string(_ctx: DurableContext) -> Result<(), DurableError> {
    Ok(())
}

#[durable_child]
async fn lint(_ctx: DurableContext) -> Result<(), DurableError> {
    let _ = std::time::SystemTime::now();
    Ok(())
}

#[durable_child]
struct NotAFunction;

fn main() {}
