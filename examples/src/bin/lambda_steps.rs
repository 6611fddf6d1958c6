//! Deployable: a step that fails its first attempt and succeeds on the
//! retry one second later, then a named step.
//!
//! ```sh
//! cargo lambda build --release --bin lambda_steps
//! ```

use durable_lambda::prelude::*;
use serde_json::{Value, json};

async fn handler(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let flaky: String = ctx
        .step(|step: StepContext| async move {
            if step.attempt() == 1 {
                return Err(StepError::new("transient failure on the first attempt"));
            }
            Ok(format!("succeeded on attempt {}", step.attempt()))
        })
        .name("flaky")
        .retry(
            RetryPolicy::fixed(Duration::from_secs(1))
                .max_attempts(3)
                .jitter(Jitter::None),
        )
        .await?;
    let n = event.get("n").and_then(Value::as_i64).unwrap_or(0);
    let doubled: i64 = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(n * 2) })
        .name("double")
        .await?;
    Ok(json!({ "flaky": flaky, "doubled": doubled }))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
