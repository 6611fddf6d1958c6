//! Deployable: the order workflow of DESIGN.md
//! (`durable_examples::order_workflow`) on AWS Lambda. Its input is
//! `{"order_id": "o-1001"}`; it suspends for the three-minute approval wait
//! and between the retries of `process_order`.
//!
//! ```sh
//! cargo lambda build --release --x86-64 -p durable-examples --bin lambda_order
//! ```

use durable_examples::order_workflow::handler;

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    // The adapter reports through `tracing` (a step still running near the
    // deadline, a failed checkpoint): print it to the function's log.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time() // CloudWatch stamps each line
        .init();
    durable_lambda::run(handler).await
}
