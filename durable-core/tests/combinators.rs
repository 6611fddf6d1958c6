//! Recorded combinators against the fake service.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use durable_core::wire::*;
use durable_core::*;

fn sleepy(
    ctx: &DurableContext,
    ms: u64,
    value: Result<u32, &'static str>,
) -> BoxFuture<'static, Result<u32, StepError>> {
    Box::pin(
        ctx.step(move |_| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            value.map_err(StepError::new)
        })
        .retry(RetryPolicy::none())
        .into_future(),
    )
}

#[tokio::test]
async fn all_collects_in_order_or_fails_with_the_first_error() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let values = ctx
            .all(vec![sleepy(&ctx, 30, Ok(1)), sleepy(&ctx, 1, Ok(2))])
            .await?;
        let first_error = ctx
            .all(vec![sleepy(&ctx, 1, Err("late")), sleepy(&ctx, 30, Ok(3))])
            .name("failing")
            .await
            .unwrap_err();
        Ok::<_, DurableError>((values, first_error.message().to_owned()))
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(out.result.as_deref(), Some(r#"[[1,2],"late"]"#));
    // The combinators are CONTEXT records after their futures' steps.
    let contexts: Vec<_> = fake
        .batches()
        .concat()
        .into_iter()
        .filter(|u| u.operation_type == OperationType::Context)
        .map(|u| (u.action.to_string(), u.name))
        .collect();
    assert_eq!(
        contexts,
        [
            ("START".into(), None),
            ("SUCCEED".into(), None),
            ("START".into(), Some("failing".into())),
            ("FAIL".into(), Some("failing".into()))
        ]
    );
    assert_eq!(
        invoke(&fake, &handler, "null").await.unwrap(),
        out,
        "replay gives the same outcome"
    );
}

#[tokio::test]
async fn all_settled_and_any_report_every_outcome() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let settled = ctx
            .all_settled(vec![sleepy(&ctx, 5, Err("no")), sleepy(&ctx, 1, Ok(7))])
            .await;
        let settled: Vec<String> = settled
            .into_iter()
            .map(|r| r.map_or_else(|e| e.message().to_owned(), |v| v.to_string()))
            .collect();
        let (index, first_ok) = ctx
            .any(vec![sleepy(&ctx, 1, Err("x")), sleepy(&ctx, 5, Ok(9))])
            .await
            .unwrap();
        let all_failed = ctx
            .any(vec![sleepy(&ctx, 5, Err("a")), sleepy(&ctx, 1, Err("b"))])
            .await
            .unwrap_err();
        let messages: Vec<String> = all_failed.iter().map(|e| e.message().to_owned()).collect();
        Ok::<_, DurableError>((settled, index, first_ok, messages))
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(out.result.as_deref(), Some(r#"[["no","7"],1,9,["a","b"]]"#));
    assert_eq!(invoke(&fake, &handler, "null").await.unwrap(), out);
}

#[tokio::test]
async fn race_records_its_winner_and_replays_it_without_polling() {
    let fake = Arc::new(Fake::default());
    let polls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let polls = polls.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let polls = polls.clone();
            async move {
                let deadline = ctx.wait(Duration::from_secs(3600));
                let work = ctx.step(move |_| async move {
                    polls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, StepError>("done".to_owned())
                });
                let (index, outcome) = ctx
                    .race(vec![
                        Box::pin(async move {
                            deadline.await;
                            Ok("timed out".to_owned())
                        }) as BoxFuture<'_, Result<String, StepError>>,
                        Box::pin(work.into_future()),
                    ])
                    .name("first")
                    .await;
                Ok::<_, DurableError>(format!("{index}:{}", outcome?))
            }
        }
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("\"1:done\""));
    // Even once the wait has fired, the recorded winner stands.
    {
        let mut state = fake.state.lock().unwrap();
        state
            .ops
            .iter_mut()
            .find(|o| o.operation_type == OperationType::Wait)
            .unwrap()
            .status = OperationStatus::Succeeded;
    }
    assert_eq!(invoke(&fake, &handler, "null").await.unwrap(), out);
    assert_eq!(polls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_race_of_nothing_is_a_validation_error() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let none: Vec<BoxFuture<'_, Result<u32, StepError>>> = Vec::new();
        let (_, outcome) = ctx.race(none).await;
        Ok::<_, DurableError>(outcome?)
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(error_type(&out), kinds::VALIDATION);
}
