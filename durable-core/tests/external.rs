//! Callbacks, wait_for_callback, wait_for_condition and invoke against the
//! fake service: what is sent, and what replays.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use durable_core::wire::*;
use durable_core::*;

fn complete(
    fake: &Fake,
    id: &str,
    status: OperationStatus,
    result: Option<&str>,
    error: Option<ErrorObject>,
) {
    let mut state = fake.state.lock().unwrap();
    let op = state.ops.iter_mut().find(|op| op.id == id).expect("record");
    op.status = status;
    let details = op.callback_details.get_or_insert_with(Default::default);
    details.result = result.map(str::to_owned);
    details.error = error;
}

#[tokio::test]
async fn a_callback_is_created_once_and_its_result_replays() {
    let fake = Arc::new(Fake::default());
    let between = Arc::new(AtomicUsize::new(0));
    let handler = {
        let between = between.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let between = between.clone();
            async move {
                let approval = ctx
                    .create_callback::<String>("approval")
                    .timeout(Duration::from_secs(300))
                    .heartbeat_timeout(Duration::from_millis(1500))
                    .await;
                between.fetch_add(1, Ordering::SeqCst);
                let answer = approval.result().await?;
                Ok::<_, DurableError>(format!("{}: {answer}", approval.id()))
            }
        }
    };
    assert_eq!(
        invoke(&fake, &handler, "{}").await.unwrap(),
        InvocationOutput::pending()
    );
    let start = fake.batches().concat().pop().unwrap();
    assert_eq!(start.operation_type, OperationType::Callback);
    assert_eq!(start.sub_type.as_deref(), Some("Callback"));
    assert_eq!(start.name.as_deref(), Some("approval"));
    assert_eq!(
        start.callback_options,
        Some(CallbackOptions {
            timeout_seconds: 300,
            heartbeat_timeout_seconds: 2
        })
    );
    complete(
        &fake,
        &start.id,
        OperationStatus::Succeeded,
        Some("\"yes\""),
        None,
    );
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    let expected = format!("\"cb-{}: yes\"", &start.id[..8]);
    assert_eq!(out.result.as_deref(), Some(expected.as_str()));
    assert_eq!(
        between.load(Ordering::SeqCst),
        2,
        "the code between creating and awaiting runs on every invocation"
    );
    assert_eq!(fake.batches().concat().len(), 1, "replay sent nothing");
}

#[tokio::test]
async fn callback_failures_and_timeouts_are_typed_and_never_raised_at_creation() {
    for (error_type, kind) in [
        ("RejectedError", CallbackErrorKind::Failed),
        (CALLBACK_TIMEOUT, CallbackErrorKind::TimedOut),
        (CALLBACK_HEARTBEAT, CallbackErrorKind::HeartbeatTimedOut),
    ] {
        let fake = Arc::new(Fake::default());
        let handler = |_: serde_json::Value, ctx: DurableContext| async move {
            let cb = ctx.create_callback::<String>("approval").await;
            let err = cb.result().await.unwrap_err();
            Ok::<_, DurableError>((
                format!("{:?}", err.kind()),
                err.error_type().to_owned(),
                err.message().to_owned(),
            ))
        };
        invoke(&fake, &handler, "{}").await.unwrap();
        let id = fake.batches().concat()[0].id.clone();
        let status = if kind == CallbackErrorKind::Failed {
            OperationStatus::Failed
        } else {
            OperationStatus::TimedOut
        };
        complete(
            &fake,
            &id,
            status,
            None,
            Some(ErrorObject::new(error_type, "not approved")),
        );
        let out = invoke(&fake, &handler, "{}").await.unwrap();
        let expected =
            serde_json::to_string(&(format!("{kind:?}"), error_type, "not approved")).unwrap();
        assert_eq!(out.result.as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn a_callback_result_of_the_wrong_shape_is_a_catchable_error() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let cb = ctx.create_callback::<u32>("count").await;
        match cb.result().await {
            Ok(n) => Ok::<_, DurableError>(format!("ok {n}")),
            Err(e) => Ok(format!("{:?}", e.kind())),
        }
    };
    invoke(&fake, &handler, "{}").await.unwrap();
    let id = fake.batches().concat()[0].id.clone();
    complete(
        &fake,
        &id,
        OperationStatus::Succeeded,
        Some("not a number"),
        None,
    );
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("\"InvalidResult\""));
}

#[tokio::test]
async fn wait_for_callback_records_a_context_a_callback_and_a_submitter_step() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let answer: String = ctx
            .wait_for_callback(|callback_id: String, step: StepContext| async move {
                step.logger().info(format!("send {callback_id}"));
                assert!(callback_id.starts_with("cb-"));
                Ok(())
            })
            .name("approval")
            .timeout(Duration::from_secs(60))
            .await?;
        Ok::<_, DurableError>(answer)
    };
    assert_eq!(
        invoke(&fake, &handler, "{}").await.unwrap(),
        InvocationOutput::pending()
    );
    let updates = fake.batches().concat();
    let summary: Vec<_> = updates
        .iter()
        .map(|u| {
            (
                u.operation_type.to_string(),
                u.action.to_string(),
                u.sub_type.clone().unwrap_or_default(),
                u.name.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "CONTEXT".into(),
                "START".into(),
                "WaitForCallback".into(),
                Some("approval".into())
            ),
            (
                "CALLBACK".into(),
                "START".into(),
                "Callback".into(),
                Some("approval create callback id".into())
            ),
            (
                "STEP".into(),
                "START".into(),
                "Step".into(),
                Some("approval submitter".into())
            ),
            (
                "STEP".into(),
                "SUCCEED".into(),
                "Step".into(),
                Some("approval submitter".into())
            ),
        ]
    );
    assert_eq!(
        updates[1].parent_id.as_deref(),
        Some(updates[0].id.as_str())
    );
    assert_eq!(
        updates[2].parent_id.as_deref(),
        Some(updates[0].id.as_str())
    );
    complete(
        &fake,
        &updates[1].id,
        OperationStatus::Succeeded,
        Some("\"approved\""),
        None,
    );
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("\"approved\""));
    let last = fake.batches().concat().pop().unwrap();
    assert_eq!(
        (last.operation_type, last.action),
        (OperationType::Context, OperationAction::Succeed)
    );
    assert_eq!(last.payload.as_deref(), Some("\"approved\""));
}

#[tokio::test]
async fn a_failing_submitter_fails_the_operation_with_a_submitter_error() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let err = ctx
            .wait_for_callback::<String, _, _>(|_id: String, _step: StepContext| async move {
                Err(StepError::new("mail server down"))
            })
            .retry(RetryPolicy::none())
            .await
            .unwrap_err();
        Ok::<_, DurableError>(format!("{:?} {}", err.kind(), err.message()))
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    let result = out.result.unwrap();
    assert!(
        result.contains("SubmitterFailed") && result.contains("mail server down"),
        "{result}"
    );
    let last = fake.batches().concat().pop().unwrap();
    assert_eq!(
        (last.operation_type, last.action),
        (OperationType::Context, OperationAction::Fail)
    );
    assert_eq!(
        last.error.unwrap().error_type.as_deref(),
        Some(CALLBACK_SUBMITTER)
    );
}

fn poll_handler() -> impl DurableHandler<u32, u32> {
    |threshold: u32, ctx: DurableContext| async move {
        let n = ctx
            .wait_for_condition(
                |n: u32, _step: StepContext| async move { Ok::<_, StepError>(n + 1) },
                0,
                WaitStrategy::until(move |n: &u32| *n >= threshold)
                    .initial_delay(Duration::from_secs(2))
                    .jitter(Jitter::None),
            )
            .name("poll")
            .await?;
        Ok::<_, DurableError>(n)
    }
}

#[tokio::test]
async fn wait_for_condition_carries_its_state_between_attempts() {
    let fake = Arc::new(Fake::default());
    let handler = poll_handler();
    assert_eq!(
        invoke(&fake, &handler, "2").await.unwrap(),
        InvocationOutput::pending()
    );
    let retry = fake.batches().concat().pop().unwrap();
    assert_eq!(retry.action, OperationAction::Retry);
    assert_eq!(retry.sub_type.as_deref(), Some("WaitForCondition"));
    assert_eq!(retry.payload.as_deref(), Some("1"));
    assert_eq!(
        retry.step_options,
        Some(StepOptions {
            next_attempt_delay_seconds: 2
        })
    );
    // The service's timer fires: READY with the carried state.
    {
        let mut state = fake.state.lock().unwrap();
        let op = state.ops.iter_mut().find(|op| op.id == retry.id).unwrap();
        op.status = OperationStatus::Ready;
        op.step_details.as_mut().unwrap().result = Some("1".into());
    }
    let out = invoke(&fake, &handler, "2").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("2"));
    let tail: Vec<_> = fake
        .batches()
        .concat()
        .into_iter()
        .rev()
        .take(2)
        .map(|u| u.action)
        .collect();
    assert_eq!(tail, [OperationAction::Succeed, OperationAction::Start]);
}

#[tokio::test]
async fn wait_for_condition_gives_up_and_check_errors_fail_at_once() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let gave_up = ctx
            .wait_for_condition(
                |n: u32, _step: StepContext| async move { Ok::<_, StepError>(n) },
                0,
                WaitStrategy::until(|_: &u32| false).max_attempts(1),
            )
            .await
            .unwrap_err();
        let raised = ctx
            .wait_for_condition(
                |_n: u32, _step: StepContext| async move {
                    Err::<u32, _>(StepError::new("probe exploded"))
                },
                0,
                |_: &u32, _attempt: u32| WaitDecision::Done,
            )
            .await
            .unwrap_err();
        Ok::<_, DurableError>(format!("{} / {}", gave_up.error_type(), raised.message()))
    };
    let out = invoke(&fake, &handler, "{}").await.unwrap();
    assert_eq!(
        out.result.as_deref(),
        Some("\"WaitForConditionError / probe exploded\"")
    );
    let fails = fake
        .batches()
        .concat()
        .into_iter()
        .filter(|u| u.action == OperationAction::Fail)
        .count();
    assert_eq!(fails, 2);
}

#[tokio::test]
async fn invoke_starts_a_chained_invoke_and_replays_its_outcome() {
    let fake = Arc::new(Fake::default());
    let handler = |name: String, ctx: DurableContext| async move {
        match ctx
            .invoke::<_, String>("greeter", &name)
            .name("greet")
            .tenant_id("t-1")
            .await
        {
            Ok(greeting) => Ok::<_, DurableError>(greeting),
            Err(e) => Ok(format!("{:?}: {}", e.kind(), e.message())),
        }
    };
    assert_eq!(
        invoke(&fake, &handler, "\"Ada\"").await.unwrap(),
        InvocationOutput::pending()
    );
    let start = fake.batches().concat().pop().unwrap();
    assert_eq!(start.operation_type, OperationType::ChainedInvoke);
    assert_eq!(start.payload.as_deref(), Some("\"Ada\""));
    assert_eq!(
        start.chained_invoke_options,
        Some(ChainedInvokeOptions {
            function_name: "greeter".into(),
            tenant_id: Some("t-1".into())
        })
    );
    {
        let mut state = fake.state.lock().unwrap();
        let op = state.ops.iter_mut().find(|op| op.id == start.id).unwrap();
        op.status = OperationStatus::Failed;
        op.chained_invoke_details = Some(Box::new(ChainedInvokeDetails {
            result: None,
            error: Some(ErrorObject::new("Boom", "target failed")),
        }));
    }
    let out = invoke(&fake, &handler, "\"Ada\"").await.unwrap();
    assert_eq!(out.result.as_deref(), Some("\"Failed: target failed\""));
}
