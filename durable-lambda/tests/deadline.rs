//! The Lambda deadline (`Context::deadline`), end to end through
//! `aws-sdk-lambda` against the fake service: near it, an execution that
//! waits on the service returns PENDING and the service resumes it; one that
//! has nothing to wait on keeps running. Both log a warning naming the work
//! still running. (A binary of its own: it installs a log subscriber.)

// Test code: helpers outside `#[test]` functions may panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fake, Logs, context, envelope};
use durable_lambda::DurableService;
use durable_lambda::prelude::*;
use durable_lambda::wire::{InvocationOutput, InvocationStatus};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tower::Service;

/// A one-minute wait on the service while a 30 s step runs.
async fn slow_step_beside_a_wait(_event: Value, ctx: DurableContext) -> Result<i64, DurableError> {
    let wait = ctx.wait(Duration::from_secs(60)).name("cool-off");
    let step = ctx
        .step(|_: StepContext| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, StepError>(1)
        })
        .name("slow");
    let ((), value) = tokio::join!(wait, step);
    Ok(value?)
}

/// One step of 1.5 s and nothing else.
async fn step_only(_event: Value, ctx: DurableContext) -> Result<i64, DurableError> {
    Ok(ctx
        .step(|_: StepContext| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, StepError>(7)
        })
        .name("busy")
        .await?)
}

#[tokio::test]
async fn past_a_short_deadline_a_waiting_execution_returns_pending_and_warns() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let fake = Fake::start().await;
    let mut service =
        DurableService::new(slow_step_beside_a_wait, Arc::new(fake.backend(None).await));

    // 2.5 s left; the default margin is 2 s, so it stops after about 0.5 s.
    let started = Instant::now();
    let output = service
        .call(LambdaEvent::new(
            envelope(&json!({})),
            context(Some(Duration::from_millis(2500))),
        ))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output, InvocationOutput::pending());
    assert_eq!(
        serde_json::to_value(&output).unwrap(),
        json!({ "Status": "PENDING" })
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "returned after {elapsed:?}"
    );

    // The service will resume it: the wait was recorded before PENDING.
    let updates: Vec<Value> = fake
        .checkpoints()
        .iter()
        .flat_map(|r| r.updates())
        .collect();
    let wait = updates
        .iter()
        .find(|u| u["Type"] == "WAIT")
        .unwrap_or_else(|| panic!("no WAIT recorded: {updates:?}"));
    assert_eq!(wait["Action"], "START");
    assert_eq!(wait["Name"], "cool-off");
    assert_eq!(wait["WaitOptions"]["WaitSeconds"], 60);
    // The step did not finish, so nothing records a result for it.
    assert!(
        !updates
            .iter()
            .any(|u| u["Type"] == "STEP" && u["Action"] != "START"),
        "{updates:?}"
    );

    let text = logs.text();
    let warning = text
        .lines()
        .find(|line| line.contains("WARN") && line.contains("near its deadline"))
        .unwrap_or_else(|| panic!("no warning in the logs:\n{text}"));
    assert!(
        warning.contains("returning PENDING with 1 operation(s) still running"),
        "{warning}"
    );
}

#[tokio::test]
async fn with_nothing_to_wait_on_it_keeps_running_past_the_margin_and_warns() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let fake = Fake::start().await;
    let mut service = DurableService::new(step_only, Arc::new(fake.backend(None).await));

    // Inside the margin from the start: PENDING would be rejected by the
    // service (nothing is pending there), so the step runs to its end and
    // the invocation succeeds within Lambda's timeout.
    let output = service
        .call(LambdaEvent::new(
            envelope(&json!({})),
            context(Some(Duration::from_millis(2100))),
        ))
        .await
        .unwrap();
    assert_eq!(output.status, InvocationStatus::Succeeded);
    assert_eq!(output.result.as_deref(), Some("7"));

    let text = logs.text();
    let warning = text
        .lines()
        .find(|line| line.contains("WARN") && line.contains("near its deadline"))
        .unwrap_or_else(|| panic!("no warning in the logs:\n{text}"));
    assert!(
        warning.contains("1 operation(s) still running and nothing waiting on the service"),
        "{warning}"
    );
}

/// A one-second step beside a one-minute wait.
async fn short_step_beside_a_wait(_event: Value, ctx: DurableContext) -> Result<i64, DurableError> {
    let wait = ctx.wait(Duration::from_secs(60)).name("cool-off");
    let step = ctx
        .step(|_: StepContext| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, StepError>(1)
        })
        .name("short");
    let ((), value) = tokio::join!(wait, step);
    Ok(value?)
}

#[tokio::test]
async fn a_deadline_already_past_is_not_taken_for_the_deadline() {
    // `cargo lambda watch` 1.9 sends its timeout, 600000 (ten minutes), in
    // `Lambda-Runtime-Deadline-Ms`, where Lambda sends an epoch time.
    let logs = Logs::default();
    let _guard = logs.capture();
    let fake = Fake::start().await;
    let mut service =
        DurableService::new(short_step_beside_a_wait, Arc::new(fake.backend(None).await));
    let mut context = context(None);
    context.deadline = 600_000;
    let output = service
        .call(LambdaEvent::new(envelope(&json!({})), context))
        .await
        .unwrap();

    // The step finished and was recorded before the invocation suspended.
    assert_eq!(output, InvocationOutput::pending());
    let updates: Vec<Value> = fake
        .checkpoints()
        .iter()
        .flat_map(|r| r.updates())
        .collect();
    assert!(
        updates
            .iter()
            .any(|u| u["Name"] == "short" && u["Action"] == "SUCCEED"),
        "{updates:?}"
    );
    let text = logs.text();
    assert!(!text.contains("near its deadline"), "{text}");
}
