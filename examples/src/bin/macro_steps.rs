//! The order workflow of DESIGN.md written with the attribute macros: a
//! validation step, a cooling-off wait (callbacks are not available yet), and
//! a flaky processing step retried with back-off.
//!
//! ```sh
//! cargo run -p durable-examples --bin macro_steps
//! ```

use durable_core::prelude::*;
use durable_local::LocalRunner;
use durable_macros::{durable_execution, durable_step};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct OrderEvent {
    order_id: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Status {
    Validated,
    Rejected,
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    order_id: String,
    status: Status,
}

#[derive(Debug, Serialize, Deserialize)]
struct Processed {
    order_id: String,
    attempts: u32,
}

/// Checks the order; runs as the step "validate_order".
#[durable_step]
async fn validate_order(step: StepContext, order_id: String) -> Result<Order, StepError> {
    step.logger().info(format!("validating {order_id}"));
    let status = if order_id.is_empty() {
        Status::Rejected
    } else {
        Status::Validated
    };
    Ok(Order { order_id, status })
}

/// A flaky call: the first attempt times out and is retried with back-off,
/// the execution suspending in between.
#[durable_step(retry = RetryPolicy::exponential().max_attempts(3).backoff_rate(2.0))]
async fn process_order(step: StepContext, order_id: String) -> Result<Processed, StepError> {
    if step.attempt() == 1 {
        return Err(StepError::new("payment service timed out").with_type("Timeout"));
    }
    Ok(Processed {
        order_id,
        attempts: step.attempt(),
    })
}

#[durable_execution]
async fn handler(event: OrderEvent, ctx: DurableContext) -> Result<Processed, DurableError> {
    let order = ctx.step(validate_order(event.order_id)).await?;
    if order.status != Status::Validated {
        return Err(DurableError::terminal("validation failed"));
    }
    ctx.wait(Duration::from_secs(180)).name("cooling-off").await;
    Ok(ctx.step(process_order(order.order_id)).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    let execution = LocalRunner::new(handler)
        .run(serde_json::json!({ "order_id": "o-1001" }))
        .await?;

    println!("\nexecution {}", execution.arn());
    println!("status    {}", execution.status());
    match execution.result_payload() {
        Some(result) => println!("result    {result}"),
        None => println!(
            "error     {}",
            execution
                .error()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
    }
    println!("invocations {}\n", execution.invocations());
    print!("{}", execution.timeline());
    Ok(())
}
