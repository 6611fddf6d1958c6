//! LocalRunner end to end with the real replay engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable_core::wire::{EventType, ExecutionStatus, OperationStatus, OperationType};
use durable_core::{DurableContext, DurableError, Jitter, RetryPolicy, StepContext, StepError};
use durable_local::{Clock, LocalError, LocalRunner, RUNTIME_EXIT_ERROR, ServiceConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

fn types(exec: &durable_local::Execution) -> Vec<String> {
    exec.event_types()
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}

async fn step_then_wait(name: String, ctx: DurableContext) -> Result<String, DurableError> {
    let greeting = ctx
        .step(|_: StepContext| async move { Ok::<_, StepError>(format!("hi {name}")) })
        .name("greet")
        .await?;
    ctx.wait(Duration::from_secs(10)).name("pause").await;
    Ok(greeting)
}

#[tokio::test]
async fn step_then_wait_matches_example_a() {
    let runner = LocalRunner::new(step_then_wait);
    let start = runner.service().clock().now_ms();
    let exec = runner.run("bob").await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("hi bob"));
    assert_eq!(exec.error(), None);
    assert_eq!(exec.invocations(), 2);
    assert_eq!(
        types(&exec),
        [
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "WaitStarted",
            "InvocationCompleted",
            "WaitSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = exec.history().iter().map(|e| e.event_id).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<u64>>());

    let greet = exec.operation("greet").unwrap();
    assert_eq!(greet.operation_type(), &OperationType::Step);
    assert_eq!(greet.sub_type(), Some("Step"));
    assert_eq!(greet.status(), &OperationStatus::Succeeded);
    assert_eq!(greet.attempts(), 1);
    assert_eq!(greet.result::<String>().unwrap().as_deref(), Some("hi bob"));
    assert_eq!(greet.parent_id(), None);
    let pause = exec.operation("pause").unwrap();
    assert_eq!(pause.sub_type(), Some("Wait"));
    assert_eq!(pause.status(), &OperationStatus::Succeeded);
    assert_eq!(
        pause.end_timestamp(),
        Some(pause.start_timestamp().unwrap() + 10_000)
    );
    assert_eq!(exec.operations().len(), 2);
    // The virtual clock jumped over the wait instantly.
    assert_eq!(runner.service().clock().now_ms(), start + 10_000);
    let history = exec.history();
    let wait_started = history[3].wait_started_details.as_ref().unwrap();
    assert_eq!(wait_started.duration, 10);
}

#[tokio::test]
async fn the_timeline_is_folded_from_the_history() {
    let runner = LocalRunner::new(step_then_wait);
    let exec = runner.run("bob").await.unwrap();
    let timeline = exec.timeline();
    assert_eq!(timeline.start, Some(exec.start_timestamp()));
    assert_eq!(timeline.end, exec.end_timestamp());
    let rows: Vec<(String, &str, &str, Option<u32>, String)> = timeline
        .operations
        .iter()
        .map(|r| {
            (
                r.label(),
                r.kind(),
                r.status.as_str(),
                r.attempts,
                r.outcome(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "greet".into(),
                "Step",
                "SUCCEEDED",
                Some(1),
                "\"hi bob\"".into()
            ),
            (
                "pause".into(),
                "Wait",
                "SUCCEEDED",
                None,
                "wait 10.0s".into()
            ),
        ]
    );
    let text = timeline.to_string();
    assert!(
        text.contains("pause      Wait  SUCCEEDED            +0ms   10.0s     wait 10.0s"),
        "{text}"
    );
}

#[tokio::test]
async fn a_retried_step_matches_step_1_11() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let handler = move |_: Value, ctx: DurableContext| {
        let calls = Arc::clone(&seen);
        async move {
            let value = ctx
                .step(move |step: StepContext| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if step.attempt() == 1 {
                        Err(StepError::new("flaky").with_type("TransientError"))
                    } else {
                        Ok("Operation succeeded".to_owned())
                    }
                })
                .name("unreliable")
                .retry(
                    RetryPolicy::exponential()
                        .max_attempts(3)
                        .initial_delay(Duration::from_secs(1))
                        .jitter(Jitter::None),
                )
                .await?;
            Ok::<_, DurableError>(value)
        }
    };
    let runner = LocalRunner::new(handler);
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<String>().unwrap().as_deref(),
        Some("Operation succeeded")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        types(&exec),
        [
            "ExecutionStarted",
            "StepStarted",
            "StepFailed",
            "InvocationCompleted",
            "StepStarted",
            "StepSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let history = exec.history();
    let failed = history[2].step_failed_details.as_ref().unwrap();
    let retry = failed.retry_details.as_ref().unwrap();
    assert_eq!(
        (retry.current_attempt, retry.next_attempt_delay_seconds),
        (1, Some(1))
    );
    assert_eq!(
        failed.error.payload.as_ref().unwrap().error_type.as_deref(),
        Some("TransientError")
    );
    let succeeded = history[5].step_succeeded_details.as_ref().unwrap();
    assert_eq!(succeeded.retry_details.as_ref().unwrap().current_attempt, 2);
    assert_eq!(exec.operation("unreliable").unwrap().attempts(), 2);
}

#[tokio::test]
async fn retry_exhaustion_fails_the_execution_like_step_1_12() {
    async fn always_fails(_: Value, ctx: DurableContext) -> Result<(), DurableError> {
        ctx.step(|_: StepContext| async { Err::<(), _>(StepError::new("nope")) })
            .name("always_fail")
            .retry(RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(4))
            .await?;
        Ok(())
    }
    let exec = LocalRunner::new(always_fails).run(json!({})).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert!(exec.error().is_some());
    assert_eq!(exec.result::<Value>().unwrap(), None);
    assert_eq!(exec.invocations(), 4);
    let attempts: Vec<(i32, Option<i32>)> = exec
        .history()
        .iter()
        .filter_map(|e| e.step_failed_details.as_ref())
        .map(|d| {
            let r = d.retry_details.as_ref().unwrap();
            (r.current_attempt, r.next_attempt_delay_seconds)
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, Some(1)), (2, Some(1)), (3, Some(1)), (4, None)]
    );
    assert_eq!(exec.history().len(), 14);
    assert_eq!(exec.history()[13].event_type, EventType::ExecutionFailed);
    assert_eq!(
        exec.operation("always_fail").unwrap().status(),
        &OperationStatus::Failed
    );
}

#[tokio::test]
async fn a_crash_inside_a_child_step_matches_child_3_12() {
    let crashes = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&crashes);
    let handler = move |input: String, ctx: DurableContext| {
        let crashes = Arc::clone(&seen);
        async move {
            let value = ctx
                .run_in_child_context(move |child: DurableContext| async move {
                    child
                        .step(move |_: StepContext| async move {
                            if crashes.fetch_add(1, Ordering::SeqCst) == 0 {
                                // Crash once the STARTs have been checkpointed.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                panic!("process.exit(1)");
                            }
                            Ok::<_, StepError>(input)
                        })
                        .await
                })
                .await?;
            Ok::<_, DurableError>(value)
        }
    };
    let exec = LocalRunner::new(handler).run("abcdefgh").await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<String>().unwrap().as_deref(),
        Some("abcdefgh")
    );
    assert_eq!(
        types(&exec),
        [
            "ExecutionStarted",
            "ContextStarted",
            "StepStarted",
            "InvocationCompleted",
            "StepSucceeded",
            "ContextSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded"
        ]
    );
    let history = exec.history();
    let crash = history[3].invocation_completed_details.as_ref().unwrap();
    let error = crash.error.as_ref().unwrap().payload.as_ref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RUNTIME_EXIT_ERROR));
    assert!(
        error
            .error_message
            .as_deref()
            .unwrap()
            .contains("process.exit(1)")
    );
    let ctx_id = history[1].id.clone().unwrap();
    assert_eq!(history[2].parent_id.as_deref(), Some(ctx_id.as_str()));
    assert_eq!(history[4].parent_id.as_deref(), Some(ctx_id.as_str()));
    let step_result = history[4].step_succeeded_details.as_ref().unwrap();
    assert_eq!(step_result.result.payload.as_deref(), Some("\"abcdefgh\""));
    let ctx_result = history[5].context_succeeded_details.as_ref().unwrap();
    assert_eq!(ctx_result.result.payload.as_deref(), Some("\"abcdefgh\""));
    assert_eq!(exec.children(Some(&ctx_id)).len(), 1);
}

#[tokio::test]
async fn a_handler_that_always_crashes_fails_after_five_invocations() {
    async fn crashes(_: Value, _ctx: DurableContext) -> Result<(), DurableError> {
        panic!("always");
    }
    let exec = LocalRunner::new(crashes).run(json!({})).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(exec.invocations(), 5);
    let error = exec.error().unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RUNTIME_EXIT_ERROR));
    assert!(error.error_message.as_deref().unwrap().contains("always"));
    assert_eq!(exec.history().len(), 7);
}

#[tokio::test]
async fn handler_errors_fail_the_execution() {
    async fn refuses(_: Value, _ctx: DurableContext) -> Result<(), DurableError> {
        Err(DurableError::terminal("validation failed"))
    }
    let exec = LocalRunner::new(refuses).run(json!({})).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(
        exec.error().unwrap().error_message.as_deref(),
        Some("validation failed")
    );
    assert_eq!(
        types(&exec),
        ["ExecutionStarted", "InvocationCompleted", "ExecutionFailed"]
    );
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u32,
    items: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Receipt {
    id: u32,
    count: usize,
}

async fn typed(order: Order, ctx: DurableContext) -> Result<Receipt, DurableError> {
    let count = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(order.items.len()) })
        .name("count")
        .await?;
    Ok(Receipt {
        id: order.id,
        count,
    })
}

#[tokio::test]
async fn typed_inputs_and_results() {
    let runner = LocalRunner::new(typed);
    let order = Order {
        id: 7,
        items: vec!["a".into(), "b".into()],
    };
    let exec = runner.run(order).await.unwrap();
    assert_eq!(
        exec.result::<Receipt>().unwrap(),
        Some(Receipt { id: 7, count: 2 })
    );
    assert_eq!(exec.input(), r#"{"id":7,"items":["a","b"]}"#);
    // The same handler with a JSON value as input.
    let exec = runner.run(json!({"id": 8, "items": []})).await.unwrap();
    assert_eq!(
        exec.result::<Receipt>().unwrap(),
        Some(Receipt { id: 8, count: 0 })
    );
    assert_eq!(exec.result_payload(), Some(r#"{"id":8,"count":0}"#));
}

#[tokio::test]
async fn named_starts_are_idempotent() {
    let runner = LocalRunner::new(step_then_wait).function_name("greeter");
    let first = runner.start("ann").name("order-1").await.unwrap();
    assert_eq!(first.name(), "order-1");
    assert!(
        first
            .arn()
            .contains(":function:greeter/durable-execution/order-1/")
    );
    let again = runner.start("ann").name("order-1").await.unwrap();
    assert_eq!(again.arn(), first.arn());
    assert_eq!(again.invocations(), first.invocations());
    match runner.start("bob").name("order-1").await {
        Err(LocalError::AlreadyStarted { name, arn }) => {
            assert_eq!(name, "order-1");
            assert_eq!(arn, first.arn());
        }
        other => panic!("expected AlreadyStarted, got {other:?}"),
    }
    assert!(matches!(
        runner.start("bob").name("bad name").await,
        Err(LocalError::InvalidName { .. })
    ));
    // resume and execution() read the same execution.
    assert_eq!(
        runner.resume(first.arn()).await.unwrap().status(),
        ExecutionStatus::Succeeded
    );
    assert_eq!(runner.execution(first.arn()).unwrap().history().len(), 8);
}

async fn many_steps(n: u32, ctx: DurableContext) -> Result<u32, DurableError> {
    let mut total = 0;
    for i in 0..n {
        total += ctx
            .step(move |_: StepContext| async move { Ok::<_, StepError>(i) })
            .await?;
    }
    ctx.wait(Duration::from_secs(1)).await;
    for i in 0..n {
        total += ctx
            .step(move |_: StepContext| async move { Ok::<_, StepError>(i) })
            .await?;
    }
    Ok(total)
}

#[tokio::test]
async fn replay_pages_through_a_small_page_size() {
    let config = ServiceConfig {
        page_size: 3,
        ..ServiceConfig::default()
    };
    let runner = LocalRunner::new(many_steps).service_config(config);
    let exec = runner.run(10).await.unwrap();
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(exec.result::<u32>().unwrap(), Some(90));
    assert_eq!(exec.invocations(), 2);
    assert_eq!(exec.operations().len(), 21);
}

#[tokio::test]
async fn finished_executions_can_be_moved_out() {
    let runner = LocalRunner::new(many_steps).retain_finished(false);
    let exec = runner.run(2).await.unwrap();
    assert_eq!(exec.result::<u32>().unwrap(), Some(2));
    // Started, 2 × (StepStarted, StepSucceeded), WaitStarted, InvocationCompleted,
    // WaitSucceeded, 2 × (StepStarted, StepSucceeded), InvocationCompleted, ExecutionSucceeded.
    assert_eq!(exec.history().len(), 1 + 2 * 2 + 2 + 1 + 2 * 2 + 2);
    assert!(runner.service().execution_arns().is_empty());
}

#[tokio::test]
async fn the_invocation_limit_stops_runaway_executions() {
    async fn waits_forever(_: Value, ctx: DurableContext) -> Result<(), DurableError> {
        for _ in 0..100 {
            ctx.wait(Duration::from_secs(1)).await;
        }
        Ok(())
    }
    let runner = LocalRunner::new(waits_forever).max_invocations(5);
    match runner.run(json!({})).await {
        Err(LocalError::InvocationLimit { invocations, .. }) => assert_eq!(invocations, 5),
        other => panic!("expected InvocationLimit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_executions_share_one_runner() {
    let runner = Arc::new(LocalRunner::new(step_then_wait));
    let runs = (0..50).map(|i| {
        let runner = Arc::clone(&runner);
        tokio::spawn(async move { runner.run(format!("n{i}")).await })
    });
    let results = futures::future::join_all(runs).await;
    for (i, result) in results.into_iter().enumerate() {
        let exec = result.unwrap().unwrap();
        assert_eq!(exec.result::<String>().unwrap(), Some(format!("hi n{i}")));
    }
    assert_eq!(runner.service().execution_arns().len(), 50);
}

#[tokio::test]
async fn real_time_really_waits() {
    let runner = LocalRunner::new(many_steps).real_time();
    assert!(!runner.service().clock().is_virtual());
    let started = std::time::Instant::now();
    let exec = runner.run(1).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_custom_virtual_clock() {
    let runner = LocalRunner::new(step_then_wait).clock(Clock::virtual_at(1_000_000));
    let exec = runner.run("x").await.unwrap();
    assert_eq!(exec.start_timestamp(), 1_000_000);
    assert_eq!(exec.end_timestamp(), Some(1_010_000));
    assert_eq!(exec.history()[0].event_timestamp, 1_000_000);
}

#[tokio::test]
async fn ten_thousand_sequential_steps_complete_and_replay() {
    // 10,000 steps, a wait, then 10,000 more: the second invocation replays
    // the first 10,000 from the record (paged 1,000 at a time).
    let exec = LocalRunner::new(many_steps).run(10_000).await.unwrap();
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(
        exec.result::<u32>().unwrap(),
        Some(2 * (10_000 * 9_999 / 2))
    );
    assert_eq!(exec.invocations(), 2);
    assert_eq!(exec.operations().len(), 20_001);
    let started = exec
        .history()
        .iter()
        .filter(|e| e.event_type == durable_core::wire::EventType::StepStarted)
        .count();
    assert_eq!(started, 20_000, "a replayed step was started again");
}
