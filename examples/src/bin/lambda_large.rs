//! Deployable: more state than one invocation page holds, then a result
//! over Lambda's 6 MiB response limit (checkpointed, PROTOCOL §2.2).
//!
//! Input: `{"steps": 24, "step_bytes": 240000, "result_bytes": 6815744}`.

use durable_lambda::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Sizes {
    steps: usize,
    step_bytes: usize,
    result_bytes: usize,
}

async fn handler(sizes: Sizes, ctx: DurableContext) -> Result<String, DurableError> {
    let mut total = 0;
    for i in 0..sizes.steps {
        let bytes = sizes.step_bytes;
        let chunk: String = ctx
            .step(move |_: StepContext| async move { Ok::<_, StepError>("x".repeat(bytes)) })
            .name(format!("chunk-{i}"))
            .await?;
        total += chunk.len();
    }
    // The next invocation replays every chunk from the recorded state.
    ctx.wait(Duration::from_secs(1)).name("pause").await;
    let mut result = format!("{total}:");
    result.extend(std::iter::repeat_n('y', sizes.result_bytes));
    Ok(result)
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
