//! Deployable: a step, a one-second wait, and a step after it.

use durable_lambda::prelude::*;

async fn handler(name: String, ctx: DurableContext) -> Result<String, DurableError> {
    let greeting: String = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("hello {name}")) })
        .name("greet")
        .await?;
    ctx.wait(Duration::from_secs(1)).name("pause").await;
    Ok(format!("{greeting}, after a pause"))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
