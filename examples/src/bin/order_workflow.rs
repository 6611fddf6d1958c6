//! Runs the order workflow of DESIGN.md (`durable_examples::order_workflow`)
//! on the local engine and prints its timeline. The engine's clock is
//! virtual: the approval wait and the retry back-off pass at once, and the
//! timeline still shows the time they took.
//!
//! ```sh
//! cargo run -p durable-examples --bin order_workflow
//! ```

use durable_examples::order_workflow::handler;
use durable_local::LocalRunner;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    let execution = LocalRunner::new(handler)
        .run(serde_json::json!({ "order_id": "o-1001" }))
        .await?;

    println!();
    print!("{}", execution.timeline());
    Ok(())
}
