//! Deployable: a map over the input numbers (squares, two at a time), then
//! two parallel branches.

use durable_lambda::prelude::*;
use serde_json::{Value, json};

async fn handler(numbers: Vec<i64>, ctx: DurableContext) -> Result<Value, DurableError> {
    let squares: Vec<i64> = ctx
        .map(
            numbers,
            |item: DurableContext, n: i64, _index: usize| async move {
                item.step(move |_: StepContext| async move { Ok::<_, StepError>(n * n) })
                    .name("square")
                    .await
            },
        )
        .name("squares")
        .max_concurrency(2)
        .await?
        .into_result()?;
    let branches: Vec<Branch<'static, String, StepError>> = ["left", "right"]
        .into_iter()
        .map(|side| {
            Branch::new(move |branch: DurableContext| async move {
                branch
                    .step(move |_: StepContext| async move { Ok::<_, StepError>(side.to_owned()) })
                    .name(side)
                    .await
            })
        })
        .collect();
    let sides = ctx.parallel(branches).name("sides").await?.into_result()?;
    Ok(json!({ "squares": squares, "sides": sides }))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
