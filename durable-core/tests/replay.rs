#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Replay-engine tests against a minimal fake service: what is sent, what is
//! replayed, and how bad input is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::*;
use durable_core::wire::*;
use durable_core::*;
use serde::{Deserialize, Serialize};

#[tokio::test]
async fn new_steps_run_checkpoint_and_return_their_results() {
    let fake = Arc::new(Fake::default());
    let handler = |name: String, ctx: DurableContext| async move {
        let a = ctx
            .step(|_| async move { Ok::<_, StepError>(format!("Hello, {name}")) })
            .name("greet")
            .await?;
        let b = ctx
            .step(|s: StepContext| async move { Ok::<_, StepError>(s.attempt()) })
            .await?;
        Ok::<_, DurableError>(format!("{a} ({b})"))
    };
    let out = invoke(&fake, &handler, "\"World\"").await.unwrap();
    assert_eq!(
        out,
        InvocationOutput::succeeded(Some("\"Hello, World (1)\"".into()))
    );
    let updates: Vec<_> = fake.batches().into_iter().flatten().collect();
    let actions: Vec<_> = updates
        .iter()
        .map(|u| (u.action.as_str().to_owned(), u.name.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            ("START".to_owned(), Some("greet".to_owned())),
            ("SUCCEED".to_owned(), Some("greet".to_owned())),
            ("START".to_owned(), None),
            ("SUCCEED".to_owned(), None)
        ]
    );
    assert_eq!(updates[0].id, id::operation_id(None, 1));
    assert_eq!(updates[1].payload.as_deref(), Some("\"Hello, World\""));
    assert_eq!(updates[0].sub_type.as_deref(), Some("Step"));
}

#[tokio::test]
async fn completed_steps_replay_without_running_and_waits_suspend() {
    let fake = Arc::new(Fake::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let after_wait = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (runs, after_wait) = (runs.clone(), after_wait.clone());
        move |_: serde_json::Value, ctx: DurableContext| {
            let (runs, after_wait) = (runs.clone(), after_wait.clone());
            async move {
                let v = ctx
                    .step(|_| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, StepError>(41)
                    })
                    .await?;
                ctx.wait(Duration::from_secs(5)).await;
                after_wait.fetch_add(1, Ordering::SeqCst);
                Ok::<_, DurableError>(v + 1)
            }
        }
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out, InvocationOutput::pending());
    assert_eq!(
        after_wait.load(Ordering::SeqCst),
        0,
        "code after a pending wait must not run"
    );
    // The service fires the timer.
    let mut ops = fake.state.lock().unwrap().ops.clone();
    ops[1].status = OperationStatus::Succeeded;
    fake.set(ops);
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out, InvocationOutput::succeeded(Some("42".into())));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the step body ran again on replay"
    );
    // The replay sent nothing new.
    assert_eq!(fake.batches().iter().flatten().count(), 3);
}

#[tokio::test]
async fn a_different_operation_at_a_recorded_id_is_non_determinism() {
    let fake = Arc::new(Fake::default());
    let mut wait = Operation::new(
        id::operation_id(None, 1),
        OperationType::Wait,
        OperationStatus::Succeeded,
    );
    wait.sub_type = Some("Wait".into());
    fake.set(vec![wait]);
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.step(|_| async { Ok::<_, StepError>(1) })
            .name("charge")
            .await?;
        Ok::<_, DurableError>(())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.status, InvocationStatus::Failed);
    assert_eq!(error_type(&out), kinds::NON_DETERMINISTIC);
    let message = out.error.unwrap().error_message.unwrap();
    assert!(message.contains(&id::operation_id(None, 1)), "{message}");
    assert!(
        message.contains("WAIT/Wait")
            && message.contains("STEP/Step")
            && message.contains("charge"),
        "{message}"
    );
    assert!(
        fake.batches().is_empty(),
        "nothing may be checkpointed for the mismatched call"
    );
}

#[tokio::test]
async fn a_renamed_step_is_non_determinism() {
    let fake = Arc::new(Fake::default());
    let mut step = Operation::new(
        id::operation_id(None, 1),
        OperationType::Step,
        OperationStatus::Succeeded,
    );
    step.sub_type = Some("Step".into());
    step.name = Some("old".into());
    fake.set(vec![step]);
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.step(|_| async { Ok::<_, StepError>(1) })
            .name("new")
            .await?;
        Ok::<_, DurableError>(())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(error_type(&out), kinds::NON_DETERMINISTIC);
}

#[tokio::test]
async fn an_envelope_without_arn_or_token_is_a_clear_error() {
    let fake: Arc<dyn Backend> = Arc::new(Fake::default());
    let handler =
        |_: serde_json::Value, _ctx: DurableContext| async move { Ok::<_, DurableError>(()) };
    let plain: InvocationInput = serde_json::from_str(r#"{"orderId": 7}"#).unwrap();
    let err = run_invocation(&handler, plain, fake.clone(), &InvocationConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), kinds::INVALID_ENVELOPE);
    assert!(err.message().contains("DurableExecutionArn"), "{err}");
    assert!(
        err.message().contains("durable execution is enabled"),
        "{err}"
    );
    let no_token = InvocationInput {
        durable_execution_arn: Some(ARN.into()),
        ..Default::default()
    };
    let err = run_invocation(
        &handler,
        no_token,
        fake.clone(),
        &InvocationConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(err.message().contains("CheckpointToken"), "{err}");
    let err = InvocationInput::from_slice(b"[1,2").unwrap_err();
    assert_eq!(err.error_type(), kinds::INVALID_ENVELOPE);
}

#[tokio::test]
async fn input_that_is_not_json_fails_the_execution_clearly() {
    let fake = Arc::new(Fake::default());
    let handler =
        |_: serde_json::Value, _ctx: DurableContext| async move { Ok::<_, DurableError>(()) };
    let out = invoke(&fake, &handler, "{not json").await.unwrap();
    assert_eq!(out.status, InvocationStatus::Failed);
    assert_eq!(error_type(&out), kinds::INVALID_INPUT);
    assert!(
        out.error
            .unwrap()
            .error_message
            .unwrap()
            .contains("{not json")
    );
    // The right JSON of the wrong shape is reported the same way.
    #[derive(Deserialize)]
    struct Order {
        #[allow(dead_code)]
        id: u64,
    }
    let typed = |_: Order, _ctx: DurableContext| async move { Ok::<_, DurableError>(()) };
    let out = invoke(&fake, &typed, r#"{"id":"seven"}"#).await.unwrap();
    assert_eq!(error_type(&out), kinds::INVALID_INPUT);
}

#[tokio::test]
async fn an_unknown_operation_type_is_kept_until_the_code_reaches_it() {
    let fake = Arc::new(Fake::default());
    let later = Operation::new(
        id::operation_id(None, 2),
        OperationType::parse("HOLOGRAM"),
        OperationStatus::Started,
    );
    fake.set(vec![later]);
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.step(|_| async { Ok::<_, StepError>(1) }).await?;
        ctx.step(|_| async { Ok::<_, StepError>(2) }).await?;
        Ok::<_, DurableError>(())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.status, InvocationStatus::Failed);
    assert_eq!(error_type(&out), kinds::UNSUPPORTED_STATE);
    assert!(
        out.error
            .unwrap()
            .error_message
            .unwrap()
            .contains("HOLOGRAM")
    );
    // The first step, which the unknown record did not concern, was recorded.
    assert_eq!(fake.batches().iter().flatten().count(), 2);
}

#[tokio::test]
async fn a_recorded_result_that_no_longer_deserializes_fails_clearly() {
    let fake = Arc::new(Fake::default());
    let mut step = Operation::new(
        id::operation_id(None, 1),
        OperationType::Step,
        OperationStatus::Succeeded,
    );
    step.sub_type = Some("Step".into());
    step.name = Some("load".into());
    step.step_details = Some(Box::new(StepDetails {
        attempt: 1,
        result: Some("\"not a number\"".into()),
        ..Default::default()
    }));
    fake.set(vec![step]);
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let n: u64 = ctx
            .step(|_| async { Ok::<_, StepError>(5) })
            .name("load")
            .await?;
        Ok::<_, DurableError>(n)
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(error_type(&out), kinds::SERIALIZATION);
    let message = out.error.unwrap().error_message.unwrap();
    assert!(
        message.contains("\"load\"") && message.contains("u64"),
        "{message}"
    );
}

#[tokio::test]
async fn a_stale_checkpoint_token_fails_the_invocation_for_a_retry() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.step(|_| async { Ok::<_, StepError>(1) }).await?;
        Ok::<_, DurableError>(())
    };
    let mut envelope = fake.envelope("{}");
    envelope.checkpoint_token = Some("t-stale".into());
    let backend: Arc<dyn Backend> = fake.clone();
    let err = run_invocation(&handler, envelope, backend, &InvocationConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), kinds::CHECKPOINT);
    assert!(err.message().contains(INVALID_CHECKPOINT_TOKEN), "{err}");
}

#[tokio::test]
async fn a_failed_attempt_schedules_a_retry_and_suspends() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.step(|_| async { Err::<(), _>(StepError::new("flaky").with_type("Timeout")) })
            .retry(RetryPolicy::fixed(Duration::from_secs(3)))
            .await?;
        Ok::<_, DurableError>(())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out, InvocationOutput::pending());
    let retry = fake.batches().concat().pop().unwrap();
    assert_eq!(retry.action, OperationAction::Retry);
    assert_eq!(
        retry.step_options,
        Some(StepOptions {
            next_attempt_delay_seconds: 3
        })
    );
    assert_eq!(retry.error.unwrap().error_type.as_deref(), Some("Timeout"));
}

#[tokio::test]
async fn terminal_errors_fail_the_step_without_retry_and_keep_their_value() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let err = ctx
            .step(|_| async { Err::<(), _>(StepError::terminal("card declined").with_data("51")) })
            .await
            .unwrap_err();
        Ok::<_, DurableError>(format!(
            "{}|{}|{:?}",
            err.error_type(),
            err.message(),
            err.data()
        ))
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    let expected = "\"StepError|card declined|Some(\\\"51\\\")\"";
    assert_eq!(out.result.as_deref(), Some(expected));
    assert_eq!(
        fake.batches().concat().last().unwrap().action,
        OperationAction::Fail
    );
    // Replay gives the same error value.
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.result.as_deref(), Some(expected));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum PaymentError {
    Declined { code: u32 },
}

#[tokio::test]
async fn serde_step_errors_come_back_as_their_own_type_on_replay() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let err = ctx
            .step(|_| async { Err::<(), _>(PaymentError::Declined { code: 51 }) })
            .retry(RetryPolicy::none())
            .await
            .unwrap_err();
        let PaymentError::Declined { code } = err;
        Ok::<_, DurableError>(code)
    };
    assert_eq!(
        invoke(&fake, &handler, "{}")
            .await
            .unwrap()
            .result
            .as_deref(),
        Some("51")
    );
    assert_eq!(
        invoke(&fake, &handler, "{}")
            .await
            .unwrap()
            .result
            .as_deref(),
        Some("51")
    );
}

#[tokio::test]
async fn concurrent_updates_are_batched_within_the_limits() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let steps: Vec<_> = (0..300u32)
            .map(|i| {
                ctx.step(move |_| async move { Ok::<_, StepError>(i) })
                    .into_future()
            })
            .collect();
        let values = futures::future::join_all(steps).await;
        Ok::<_, DurableError>(values.into_iter().map(Result::unwrap).sum::<u32>())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("44850"));
    let batches = fake.batches();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 600);
    assert!(
        batches.iter().all(|b| b.len() <= limits::MAX_BATCH_UPDATES),
        "{:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(batches.len() < 600, "updates were not batched");
}

#[tokio::test]
async fn an_oversized_result_is_checkpointed_and_returned_empty() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, _ctx: DurableContext| async move {
        Ok::<_, DurableError>("x".repeat(MAX_INLINE_OUTPUT))
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out, InvocationOutput::succeeded(Some(String::new())));
    let last = fake.batches().concat().pop().unwrap();
    assert_eq!(last.operation_type, OperationType::Execution);
    assert_eq!(last.action, OperationAction::Succeed);
    assert!(last.id.starts_with("execution-result-"));
    assert_eq!(last.payload.unwrap().len(), MAX_INLINE_OUTPUT + 2);
}

#[tokio::test]
async fn child_contexts_nest_ids_and_replay_from_their_result() {
    let fake = Arc::new(Fake::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let runs = runs.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let runs = runs.clone();
            async move {
                let v = ctx
                    .run_in_child_context(|child: DurableContext| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        child.step(|_| async { Ok::<_, StepError>(7) }).await
                    })
                    .name("inner")
                    .await?;
                Ok::<_, DurableError>(v)
            }
        }
    };
    assert_eq!(
        invoke(&fake, &handler, "{}")
            .await
            .unwrap()
            .result
            .as_deref(),
        Some("7")
    );
    let updates = fake.batches().concat();
    let ctx_id = id::operation_id(None, 1);
    assert_eq!(updates[0].sub_type.as_deref(), Some("RunInChildContext"));
    assert_eq!(updates[1].parent_id.as_deref(), Some(ctx_id.as_str()));
    assert_eq!(updates[1].id, id::operation_id(Some(&ctx_id), 1));
    assert_eq!(
        invoke(&fake, &handler, "{}")
            .await
            .unwrap()
            .result
            .as_deref(),
        Some("7")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn ten_thousand_sequential_steps_complete_and_replay() {
    let fake = Arc::new(Fake::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let runs = runs.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let runs = runs.clone();
            async move {
                let mut sum = 0u64;
                for i in 0..10_000u64 {
                    let runs = runs.clone();
                    sum += ctx
                        .step(move |_| async move {
                            runs.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, StepError>(i)
                        })
                        .await?;
                }
                Ok::<_, DurableError>(sum)
            }
        }
    };
    let first = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(first.result.as_deref(), Some("49995000"));
    let replay = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(runs.load(Ordering::Relaxed), 10_000);
    let ids: std::collections::HashSet<_> = fake
        .state
        .lock()
        .unwrap()
        .ops
        .iter()
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(ids.len(), 10_000);
}

#[tokio::test]
async fn at_most_once_steps_are_not_rerun_after_an_interruption() {
    let fake = Arc::new(Fake::default());
    let mut started = Operation::new(
        id::operation_id(None, 1),
        OperationType::Step,
        OperationStatus::Started,
    );
    started.sub_type = Some("Step".into());
    fake.set(vec![started]);
    let ran = Arc::new(AtomicUsize::new(0));
    let handler = {
        let ran = ran.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let ran = ran.clone();
            async move {
                let err = ctx
                    .step(move |_| async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, StepError>(())
                    })
                    .semantics(StepSemantics::AtMostOncePerRetry)
                    .retry(RetryPolicy::none())
                    .await
                    .unwrap_err();
                Ok::<_, DurableError>(err.error_type().to_owned())
            }
        }
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("\"StepInterruptedError\""));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let updates = fake.batches().concat();
    assert_eq!(updates.len(), 1, "no new START for an interrupted attempt");
    assert_eq!(updates[0].action, OperationAction::Fail);
}

#[tokio::test]
async fn invalid_wait_durations_fail_before_any_checkpoint() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        ctx.wait(Duration::from_millis(200)).await;
        Ok::<_, DurableError>(())
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(error_type(&out), kinds::VALIDATION);
    assert!(fake.batches().is_empty());
}

#[tokio::test]
async fn waits_are_whole_seconds_within_the_service_limits() {
    let max = u64::from(limits::MAX_WAIT_SECONDS.unsigned_abs());
    for (duration, recorded) in [
        (Duration::from_millis(999), None),
        (Duration::from_secs(1), Some(limits::MIN_WAIT_SECONDS)),
        (Duration::from_millis(1500), Some(2)),
        (Duration::from_secs(max), Some(limits::MAX_WAIT_SECONDS)),
        (Duration::from_secs(max) + Duration::from_nanos(1), None),
        (Duration::MAX, None),
    ] {
        let fake = Arc::new(Fake::default());
        let handler = move |_: serde_json::Value, ctx: DurableContext| async move {
            ctx.wait(duration).await;
            Ok::<_, DurableError>(())
        };
        let out = invoke(&fake, &handler, "{}").await.unwrap();
        let sent: Vec<_> = fake
            .batches()
            .concat()
            .iter()
            .filter_map(|u| u.wait_options.as_ref().map(|w| w.wait_seconds))
            .collect();
        match recorded {
            Some(seconds) => {
                assert_eq!(out, InvocationOutput::pending(), "{duration:?}");
                assert_eq!(sent, [seconds], "{duration:?}");
            }
            None => {
                assert_eq!(error_type(&out), kinds::VALIDATION, "{duration:?}");
                assert!(sent.is_empty(), "{duration:?}");
            }
        }
    }
}

#[tokio::test]
async fn suspension_cannot_be_swallowed_by_select() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        tokio::select! {
            () = ctx.wait(Duration::from_secs(60)).into_future() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Reaching this line would mean the pending wait was skipped.
        Ok::<_, DurableError>("swallowed")
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out, InvocationOutput::pending());
}

#[tokio::test]
async fn invocations_of_capturing_handlers_can_be_spawned() {
    let fake = Arc::new(Fake::default());
    let prefix = Arc::new(String::from("Hello"));
    let handler = move |name: String, ctx: DurableContext| {
        let prefix = prefix.clone();
        async move {
            let greeting = ctx
                .step(move |_| async move { Ok::<_, StepError>(format!("{prefix}, {name}")) })
                .await?;
            Ok::<_, DurableError>(greeting)
        }
    };
    let envelope = fake.envelope("\"Ada\"");
    let backend: Arc<dyn Backend> = fake.clone();
    let out = tokio::spawn(async move {
        run_invocation(&handler, envelope, backend, &InvocationConfig::default()).await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.result.as_deref(), Some("\"Hello, Ada\""));
}

#[tokio::test]
async fn near_the_deadline_a_suspended_execution_returns_pending_without_waiting_for_running_steps()
{
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let slow = ctx.step(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, StepError>(1)
        });
        let timer = ctx.wait(Duration::from_secs(60));
        let (a, ()) = futures::join!(slow.into_future(), timer.into_future());
        Ok::<_, DurableError>(a?)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let config = InvocationConfig::default()
        .deadline(i64::try_from(now).unwrap() + 300)
        .deadline_margin(Duration::from_millis(100));
    let backend: Arc<dyn Backend> = fake.clone();
    let started = std::time::Instant::now();
    let out = run_invocation(&handler, fake.envelope("null"), backend, &config)
        .await
        .unwrap();
    assert_eq!(out, InvocationOutput::pending());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it waited for the running step"
    );
}

#[tokio::test]
async fn near_the_deadline_an_execution_with_nothing_pending_keeps_running() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let v = ctx
            .step(|_| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                Ok::<_, StepError>(7)
            })
            .await?;
        Ok::<_, DurableError>(v)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let config = InvocationConfig::default()
        .deadline(i64::try_from(now).unwrap() + 150)
        .deadline_margin(Duration::from_millis(100));
    let backend: Arc<dyn Backend> = fake.clone();
    let out = run_invocation(&handler, fake.envelope("null"), backend, &config)
        .await
        .unwrap();
    assert_eq!(out.result.as_deref(), Some("7"));
}
