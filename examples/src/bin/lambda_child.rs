//! Deployable: a named child context with two steps.

use durable_lambda::prelude::*;

async fn handler(word: String, ctx: DurableContext) -> Result<String, DurableError> {
    let shouted: String = ctx
        .run_in_child_context(|child: DurableContext| async move {
            let upper: String = child
                .step(move |_: StepContext| async move { Ok::<_, StepError>(word.to_uppercase()) })
                .name("upper")
                .await?;
            child
                .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("{upper}!")) })
                .name("exclaim")
                .await
        })
        .name("shout")
        .await?;
    Ok(shouted)
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
