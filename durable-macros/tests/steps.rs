//! Macro-written handlers and steps, run on the local engine.

use std::time::SystemTime;

use durable_core::wire::ExecutionStatus;
use durable_core::{DurableContext, DurableError, RetryPolicy, StepContext, StepError};
use durable_local::LocalRunner;
use durable_macros::{durable_child, durable_execution, durable_step};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct OrderEvent {
    order_id: String,
    items: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    order_id: String,
    attempts: u32,
    stamped: bool,
}

/// Checks the order.
#[durable_step]
async fn validate_order(
    _step: StepContext,
    order_id: String,
    items: u32,
) -> Result<String, StepError> {
    if items == 0 {
        return Err(StepError::terminal("an order needs at least one item"));
    }
    Ok(order_id)
}

/// Fails on its first attempt, then succeeds.
#[durable_step(
    name = "reserve",
    retry = RetryPolicy::exponential().max_attempts(3),
    semantics = at_least_once
)]
async fn reserve_stock(step: StepContext, order_id: String) -> Result<(String, u32), StepError> {
    if step.attempt() == 1 {
        return Err(StepError::new("inventory timed out"));
    }
    Ok((order_id, step.attempt()))
}

#[durable_step(semantics = at_most_once)]
async fn stamp(_step: StepContext) -> Result<bool, StepError> {
    // Non-determinism is fine inside a step.
    Ok(SystemTime::now().elapsed().is_ok())
}

#[durable_execution]
async fn handler(event: OrderEvent, ctx: DurableContext) -> Result<Receipt, DurableError> {
    let order_id = ctx
        .step(validate_order(event.order_id, event.items))
        .await?;
    let (order_id, attempts) = ctx.step(reserve_stock(order_id)).await?;
    let stamped = ctx.step(stamp()).await?;
    #[durable::allow_nondeterministic]
    let _opted_out = SystemTime::now();
    Ok(Receipt {
        order_id,
        attempts,
        stamped,
    })
}

#[tokio::test]
async fn a_macro_workflow_runs_to_success_with_named_steps() {
    let runner = LocalRunner::new(handler);
    let execution = runner
        .run(serde_json::json!({"order_id": "o-1", "items": 2}))
        .await
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    let receipt: Receipt = execution.result().unwrap().unwrap();
    assert_eq!(
        receipt,
        Receipt {
            order_id: "o-1".into(),
            attempts: 2,
            stamped: true,
        }
    );
    let names: Vec<_> = execution
        .operations()
        .iter()
        .filter_map(|op| op.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["validate_order", "reserve", "stamp"]);
}

#[tokio::test]
async fn a_terminal_step_error_fails_the_execution() {
    let runner = LocalRunner::new(handler);
    let execution = runner
        .run(serde_json::json!({"order_id": "o-2", "items": 0}))
        .await
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Failed);
    assert!(execution.operation("validate_order").is_some());
}

#[tokio::test]
async fn the_body_stays_callable_as_a_plain_function_and_builder_names_win() {
    #[durable_execution]
    async fn renamed(_event: (), ctx: DurableContext) -> Result<Vec<String>, DurableError> {
        // Step values are ordinary values: collect them, then run them.
        let steps = vec![validate_order("a".into(), 1), validate_order("b".into(), 1)];
        let mut out = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            out.push(ctx.step(step).name(format!("check-{i}")).await?);
        }
        Ok(out)
    }
    let execution = LocalRunner::new(renamed).run(()).await.unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert!(execution.operation("check-0").is_some());
    assert!(execution.operation("check-1").is_some());
    assert!(execution.operation("validate_order").is_none());
}

#[test]
fn step_values_carry_their_defaults() {
    use durable_core::{StepBody, StepSemantics};
    let defaults = reserve_stock("x".into()).defaults();
    assert_eq!(defaults.name.as_deref(), Some("reserve"));
    assert!(defaults.retry.is_some());
    assert_eq!(defaults.semantics, Some(StepSemantics::AtLeastOncePerRetry));
    let defaults = stamp().defaults();
    assert_eq!(defaults.name.as_deref(), Some("stamp"));
    assert!(defaults.retry.is_none());
    assert_eq!(defaults.semantics, Some(StepSemantics::AtMostOncePerRetry));
}

/// A step whose body reuses another step's body as a plain async function.
#[durable_step]
async fn validate_twice(step: StepContext, order_id: String) -> Result<String, StepError> {
    let once = validate_order::call(step.clone(), order_id, 1).await?;
    validate_order::call(step, once, 1).await
}

#[tokio::test]
async fn a_step_body_is_callable_as_a_plain_async_function() {
    #[durable_execution]
    async fn composed(event: String, ctx: DurableContext) -> Result<String, DurableError> {
        Ok(ctx.step(validate_twice(event)).await?)
    }
    let execution = LocalRunner::new(composed).run("o-3").await.unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        execution.result::<String>().unwrap().as_deref(),
        Some("o-3")
    );
    assert!(execution.operation("validate_twice").is_some());
}

/// Checkpoints its number as `n=<number>` instead of JSON.
#[durable_step(serdes = durable_core::FnSerdes::new(
    |value: &u32| Ok(format!("n={value}")),
    |payload: Option<&str>| payload
        .and_then(|text| text.strip_prefix("n="))
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| format!("not an encoded number: {payload:?}")),
))]
async fn encoded(_step: StepContext, value: u32) -> Result<u32, StepError> {
    Ok(value)
}

#[tokio::test]
async fn a_custom_serdes_writes_the_checkpoint_and_reads_it_back_on_replay() {
    #[durable_execution]
    async fn handler(_event: (), ctx: DurableContext) -> Result<u32, DurableError> {
        let value = ctx.step(encoded(41)).await?;
        // The wait ends the invocation: the next one replays `encoded` from
        // its checkpoint, through the custom serdes.
        ctx.wait(std::time::Duration::from_secs(5)).await;
        Ok(value + 1)
    }
    let execution = LocalRunner::new(handler).run(()).await.unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert_eq!(execution.invocations(), 2);
    assert_eq!(execution.result::<u32>().unwrap(), Some(42));
    assert_eq!(
        execution.operation("encoded").unwrap().result_payload(),
        Some("n=41")
    );
}

/// Ships an order: two steps in a child context of their own.
#[durable_child]
async fn shipping(ctx: DurableContext, order_id: String) -> Result<String, DurableError> {
    let label = ctx
        .step(|_: StepContext| async move { Ok::<_, StepError>(format!("{order_id}/label")) })
        .name("print_label")
        .await?;
    Ok(ctx.step(validate_order(label, 1)).await?)
}

#[tokio::test]
async fn a_child_function_runs_as_a_named_child_context() {
    #[durable_execution]
    async fn handler(event: String, ctx: DurableContext) -> Result<Vec<String>, DurableError> {
        let first = shipping(&ctx, event.clone()).await?;
        let second = shipping(&ctx, event.clone()).name("shipping-again").await?;
        // The plain body runs its operations in `ctx` itself.
        let inline = shipping::call(ctx.clone(), event).await?;
        Ok(vec![first, second, inline])
    }
    let execution = LocalRunner::new(handler).run("o-9").await.unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        execution.result::<Vec<String>>().unwrap().unwrap(),
        ["o-9/label", "o-9/label", "o-9/label"]
    );
    let child = execution.operation("shipping").unwrap();
    assert_eq!(child.sub_type(), Some(durable_core::CHILD_SUBTYPE));
    let children: Vec<_> = execution
        .children(Some(child.id()))
        .iter()
        .filter_map(|op| op.name().map(str::to_owned))
        .collect();
    assert_eq!(children, ["print_label", "validate_order"]);
    assert!(execution.operation("shipping-again").is_some());
    let top_level: Vec<_> = execution
        .children(None)
        .iter()
        .filter_map(|op| op.name().map(str::to_owned))
        .collect();
    assert_eq!(
        top_level,
        [
            "shipping",
            "shipping-again",
            "print_label",
            "validate_order"
        ]
    );
}

#[tokio::test]
async fn a_step_body_is_unit_testable_with_a_test_context() {
    let checked = validate_order::call(StepContext::for_test(1), "o-4".into(), 2).await;
    assert_eq!(checked.unwrap(), "o-4");
    let second_try = reserve_stock::call(StepContext::for_test(2), "o-4".into()).await;
    assert_eq!(second_try.unwrap(), ("o-4".to_owned(), 2));
}
