//! An order workflow on the local engine: a validation step, a flaky
//! reservation step that is retried with back-off, a 30-second cooling-off
//! wait, and a shipping child context with two steps.
//!
//! ```sh
//! cargo run -p durable-examples --bin order_steps
//! ```
//!
//! The local engine's clock is virtual: the wait and the retry back-off pass
//! at once, and the timeline still shows the time they took.

use durable_lambda::prelude::*;
use durable_local::LocalRunner;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct OrderEvent {
    order_id: String,
    items: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Reservation {
    order_id: String,
    warehouse: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    order_id: String,
    warehouse: String,
    tracking: String,
}

async fn handler(event: OrderEvent, ctx: DurableContext) -> Result<Receipt, DurableError> {
    let OrderEvent { order_id, items } = event;

    let order_id = ctx
        .step(|step: StepContext| async move {
            step.logger()
                .info(format!("validating {order_id} ({items} items)"));
            if items == 0 {
                return Err(StepError::terminal("an order needs at least one item"));
            }
            Ok(order_id)
        })
        .name("validate_order")
        .await?;

    // The inventory service times out on the first attempt; the step is
    // retried after a back-off, the execution suspending in between.
    let reservation = ctx
        .step({
            let order_id = order_id.clone();
            |step: StepContext| async move {
                if step.attempt() == 1 {
                    return Err(StepError::new("inventory service timed out").with_type("Timeout"));
                }
                Ok(Reservation {
                    order_id,
                    warehouse: "eu-west".into(),
                })
            }
        })
        .name("reserve_inventory")
        .retry(
            RetryPolicy::exponential()
                .max_attempts(3)
                .initial_delay(Duration::from_secs(2))
                .jitter(Jitter::None),
        )
        .await?;

    ctx.wait(Duration::from_secs(30)).name("cooling_off").await;

    let tracking = ctx
        .run_in_child_context(|shipping: DurableContext| async move {
            let label = shipping
                .step(|_| async { Ok::<_, StepError>("LBL-0042".to_string()) })
                .name("print_label")
                .await?;
            shipping
                .step(move |_| async move { Ok::<_, StepError>(format!("{label}/PICKUP-1")) })
                .name("book_pickup")
                .await
        })
        .name("shipping")
        .await?;

    ctx.logger().info(format!("order {order_id} shipped"));
    Ok(Receipt {
        order_id,
        warehouse: reservation.warehouse,
        tracking,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    let runner = LocalRunner::new(handler);
    let execution = runner
        .run(serde_json::json!({ "order_id": "o-1001", "items": 3 }))
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
