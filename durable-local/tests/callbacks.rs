//! Testing callbacks the way people do: `ctx.wait_for_callback(..).name(..)`
//! in the handler, and in the test either an action scheduled with
//! `on_callback` under the same name, or the callback completed by hand.

use std::time::Duration;

use durable_core::wire::{EventType, ExecutionStatus};
use durable_core::{CALLBACK_TIMEOUT, DurableContext, DurableError, StepContext, StepError};
use durable_local::{CallbackAction, CallbackId, CallbackRef, Clock, LocalError, LocalRunner};
use serde_json::Value;

const T0: i64 = 1_700_000_000_000;

/// Waits 10 s, then for a callback named `approval` with a 60 s timeout;
/// returns its result.
async fn approval(_: Value, ctx: DurableContext) -> Result<String, DurableError> {
    ctx.wait(Duration::from_secs(10)).name("cool-off").await;
    let answer: String = ctx
        .wait_for_callback(|_id: String, _: StepContext| async move { Ok::<_, StepError>(()) })
        .name("approval")
        .timeout(Duration::from_secs(60))
        .await?;
    Ok(answer)
}

fn runner() -> LocalRunner<impl durable_core::DurableHandler<Value, String>, Value, String> {
    LocalRunner::new(approval).clock(Clock::virtual_at(T0))
}

fn succeeded_at(exec: &durable_local::Execution) -> Option<i64> {
    exec.history()
        .iter()
        .find(|e| e.event_type == EventType::CallbackSucceeded)
        .map(|e| e.event_timestamp - T0)
}

#[tokio::test]
async fn on_callback_matches_a_wait_for_callback_by_the_name_it_was_given() {
    let runner = runner();
    runner.on_callback(
        "approval",
        CallbackAction::success_json(&"yes")
            .unwrap()
            .after(Duration::from_secs(5)),
    );
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        exec.error(),
        runner.callback_action_errors()
    );
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("yes"));
    assert_eq!(runner.callback_action_errors(), Vec::<String>::new());
    // 10 s of wait, then 5 s after the callback started.
    assert_eq!(succeeded_at(&exec), Some(15_000));
    // The recorded operation names are the SDKs' own.
    assert!(exec.operation("approval create callback id").is_some());
}

#[tokio::test]
async fn a_wait_for_callback_is_found_by_its_name() {
    let runner = runner();
    let exec = runner.run(Value::Null).await.unwrap();
    let arn = exec.arn().to_owned();
    assert_eq!(exec.status(), ExecutionStatus::Running);
    let id = exec
        .operation("approval create callback id")
        .unwrap()
        .callback_id()
        .unwrap();
    assert_eq!(
        runner.wait_for_callback(&arn, "approval").await.unwrap(),
        id
    );
    assert_eq!(
        runner
            .callback_id(CallbackRef::named(&arn, "approval"))
            .unwrap(),
        id
    );
    // The operation's own name still works.
    assert_eq!(
        runner
            .callback_id(CallbackRef::named(&arn, "approval create callback id"))
            .unwrap(),
        id
    );
    assert_eq!(
        runner.service().find_callback(&arn, "approval").unwrap(),
        Some(id.into_string())
    );
}

#[tokio::test]
async fn an_on_callback_name_that_matches_nothing_is_reported() {
    let runner = runner();
    runner.on_callback("aproval", CallbackAction::success("\"yes\""));
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Running);
    let errors = runner.callback_action_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("\"aproval\""), "{errors:?}");
    assert!(errors[0].contains(exec.arn()), "{errors:?}");
    assert!(
        errors[0].contains("\"approval\" (wait_for_callback)"),
        "{errors:?}"
    );

    // Still reported once the execution has ended.
    runner
        .callback_success(CallbackRef::named(exec.arn(), "approval"), "\"by hand\"")
        .unwrap();
    let exec = runner.resume(exec.arn()).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(runner.callback_action_errors().len(), 1);
}

#[tokio::test]
async fn an_on_callback_name_is_reported_when_there_are_no_callbacks() {
    let runner =
        LocalRunner::new(|_: Value, _: DurableContext| async { Ok::<_, DurableError>(()) });
    runner.on_callback("approval", CallbackAction::heartbeat());
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    let errors = runner.callback_action_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("created no callbacks"), "{errors:?}");
}

#[tokio::test]
async fn a_callback_with_a_timeout_is_completed_by_hand_on_the_virtual_clock() {
    let runner = runner();
    let exec = runner.run(Value::Null).await.unwrap();
    // The wait was skipped; the callback's 60 s timeout was not.
    assert_eq!(exec.status(), ExecutionStatus::Running);
    assert_eq!(runner.service().clock().now_ms(), T0 + 10_000);
    runner.advance_time(Duration::from_secs(30));
    runner
        .callback_success(CallbackRef::named(exec.arn(), "approval"), "\"ok\"")
        .unwrap();
    let exec = runner.resume(exec.arn()).await.unwrap();
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("ok"));
    assert_eq!(succeeded_at(&exec), Some(40_000));
}

#[tokio::test]
async fn a_resumed_run_still_waits_on_the_open_callback() {
    let runner = runner();
    let exec = runner.run(Value::Null).await.unwrap();
    let again = runner.resume(exec.arn()).await.unwrap();
    assert_eq!(again.status(), ExecutionStatus::Running);
    assert_eq!(again.invocations(), exec.invocations());
}

#[tokio::test]
async fn letting_time_pass_times_the_callback_out() {
    let runner = runner();
    let exec = runner.run(Value::Null).await.unwrap();
    runner.advance_time(Duration::from_secs(61));
    let exec = runner.resume(exec.arn()).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(
        exec.operation("approval")
            .unwrap()
            .error()
            .unwrap()
            .error_type
            .as_deref(),
        Some(CALLBACK_TIMEOUT)
    );
}

#[tokio::test]
async fn skipping_to_callback_timeouts_times_the_callback_out_at_once() {
    let runner = runner().skip_to_callback_timeouts(true);
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let timed_out = exec
        .history()
        .into_iter()
        .find(|e| e.event_type == EventType::CallbackTimedOut)
        .unwrap();
    assert_eq!(timed_out.event_timestamp, T0 + 70_000);
}

#[tokio::test]
async fn a_callback_timeout_passed_on_the_way_to_a_scheduled_action_fires() {
    let runner = runner();
    // Scheduled after the timeout: the clock goes there, and the timeout
    // fires first.
    runner.on_callback(
        "approval",
        CallbackAction::success("\"late\"").after(Duration::from_secs(90)),
    );
    let exec = runner.run(Value::Null).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let timed_out = exec
        .history()
        .into_iter()
        .find(|e| e.event_type == EventType::CallbackTimedOut)
        .unwrap();
    assert_eq!(timed_out.event_timestamp, T0 + 70_000);
}

#[tokio::test]
async fn callback_ids_are_not_strings() {
    let runner = runner();
    let exec = runner.run(Value::Null).await.unwrap();
    // An id that came another way (say, from the submitter) is made one
    // explicitly; an unknown one is not found.
    let err = runner
        .callback_success(&CallbackId::new(exec.arn()), "\"x\"")
        .unwrap_err();
    assert!(matches!(err, LocalError::CallbackNotFound { .. }), "{err}");
    let id: CallbackId = runner
        .callback_id(CallbackRef::named(exec.arn(), "approval"))
        .unwrap();
    runner.callback_success(&id, "\"y\"").unwrap();
    assert_eq!(
        runner.resume(exec.arn()).await.unwrap().result_payload(),
        Some("\"y\"")
    );
}
