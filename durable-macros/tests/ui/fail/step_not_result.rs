use durable_core::StepContext;
use durable_macros::durable_step;

#[durable_step]
async fn returns_string(_step: StepContext) -> String {
    String::new()
}

#[durable_step]
async fn returns_nothing(_step: StepContext) {}

fn main() {}
