use durable_core::DurableContext;
use durable_macros::durable_execution;

#[durable_execution]
async fn handler(_event: (), _ctx: DurableContext) -> String {
    String::new()
}

fn main() {}
