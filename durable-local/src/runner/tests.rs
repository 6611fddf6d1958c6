//! Runner tests: callbacks completed by hand and by scheduled actions,
//! chained invokes across executions on one clock.
//!
//! Most handlers here are "raw" functions that checkpoint the protocol's
//! updates by hand (PROTOCOL §8.3, §8.6), so that the engine is tested on
//! its own; one chained-invoke target is an ordinary SDK handler.

use std::time::Duration;

use durable_core::wire::{
    CallbackOptions, ChainedInvokeOptions, ErrorObject, EventType, ExecutionStatus,
    InvocationInput, InvocationOutput, Operation, OperationAction, OperationStatus, OperationType,
    OperationUpdate, WaitOptions,
};
use durable_core::{Backend, BoxFuture, DurableContext, DurableError, StepContext, StepError};
use serde_json::Value;

use super::*;
use durable_core::CALLBACK_TIMEOUT_EXCEPTION;

const T0: i64 = 1_700_000_000_000;

/// What a raw function sees of one invocation, and how it checkpoints.
struct Raw {
    arn: String,
    token: String,
    ops: FxHashMap<String, Operation>,
    input: String,
    backend: Arc<dyn Backend>,
}

impl Raw {
    fn new(input: InvocationInput, backend: Arc<dyn Backend>) -> Self {
        let ops: FxHashMap<String, Operation> = input
            .initial_execution_state
            .operations
            .into_iter()
            .map(|op| (op.id.clone(), op))
            .collect();
        let payload = ops
            .values()
            .find(|op| op.operation_type == OperationType::Execution)
            .and_then(|op| op.execution_details.as_ref())
            .and_then(|d| d.input_payload.clone())
            .unwrap_or_default();
        Self {
            arn: input.durable_execution_arn.unwrap_or_default(),
            token: input.checkpoint_token.unwrap_or_default(),
            ops,
            input: payload,
            backend,
        }
    }

    fn status(&self, id: &str) -> Option<OperationStatus> {
        self.ops.get(id).map(|op| op.status.clone())
    }

    fn callback_result(&self, id: &str) -> Option<String> {
        self.ops.get(id)?.callback_details.as_ref()?.result.clone()
    }

    fn error(&self, id: &str) -> Option<ErrorObject> {
        let op = self.ops.get(id)?;
        op.callback_details
            .as_ref()
            .and_then(|d| d.error.clone())
            .or_else(|| op.chained_invoke_details.as_ref()?.error.clone())
    }

    async fn checkpoint(&mut self, updates: Vec<OperationUpdate>) {
        let response = self
            .backend
            .checkpoint(&self.arn, &self.token, updates)
            .await
            .unwrap();
        self.token = response.checkpoint_token.unwrap_or_default();
        for op in response.new_execution_state.unwrap().operations {
            self.ops.insert(op.id.clone(), op);
        }
    }
}

type RawFn = fn(Raw) -> BoxFuture<'static, InvocationOutput>;

impl<H, E, T> LocalRunner<H, E, T> {
    /// Registers a raw function.
    fn register_raw(mut self, name: &str, f: RawFn) -> Self {
        let invoke: InvokeFn = Arc::new(move |input, backend, _config| {
            Box::pin(async move { Ok(f(Raw::new(input, backend)).await) })
        });
        if let Some(service) = self.service.get() {
            service.register_function(name);
        }
        self.functions.insert(name.to_owned(), invoke);
        self
    }
}

fn callback(id: &str, name: &str, timeout: i32, heartbeat: i32) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::Callback, OperationAction::Start);
    u.sub_type = Some("Callback".to_owned());
    u.name = Some(name.to_owned());
    u.callback_options = Some(CallbackOptions {
        timeout_seconds: timeout,
        heartbeat_timeout_seconds: heartbeat,
    });
    u
}

fn wait(id: &str, seconds: i32) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::Wait, OperationAction::Start);
    u.sub_type = Some("Wait".to_owned());
    u.wait_options = Some(WaitOptions {
        wait_seconds: seconds,
    });
    u
}

fn invoke(id: &str, function: &str, payload: &str) -> OperationUpdate {
    let mut u = OperationUpdate::new(id, OperationType::ChainedInvoke, OperationAction::Start);
    u.sub_type = Some("ChainedInvoke".to_owned());
    u.payload = Some(payload.to_owned());
    u.chained_invoke_options = Some(ChainedInvokeOptions {
        function_name: function.to_owned(),
        tenant_id: None,
    });
    u
}

fn done(result: impl Into<String>) -> InvocationOutput {
    InvocationOutput::succeeded(Some(result.into()))
}

// ----- raw functions -----

/// Creates callbacks A and B (names from the input array), then returns
/// both results once both succeeded.
fn two_callbacks(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("a").is_none() {
            let names: Vec<String> = serde_json::from_str(&raw.input).unwrap();
            raw.checkpoint(vec![
                callback("a", &names[0], 0, 0),
                callback("b", &names[1], 0, 0),
            ])
            .await;
        }
        match (raw.callback_result("a"), raw.callback_result("b")) {
            (Some(a), Some(b)) => done(format!("[{a},{b}]")),
            _ => InvocationOutput::pending(),
        }
    })
}

/// One callback ("cb", named by the input string) with a heartbeat timeout
/// of 10 s; returns its result or fails with its error.
fn one_callback(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("cb").is_none() {
            let name: String = serde_json::from_str(&raw.input).unwrap();
            raw.checkpoint(vec![callback("cb", &name, 0, 10)]).await;
        }
        match raw.status("cb") {
            Some(OperationStatus::Succeeded) => done(raw.callback_result("cb").unwrap()),
            Some(OperationStatus::Started) => InvocationOutput::pending(),
            _ => InvocationOutput::failed(raw.error("cb").unwrap()),
        }
    })
}

/// A callback, then a second one once the first succeeded.
fn sequential_callbacks(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("first").is_none() {
            raw.checkpoint(vec![callback("first", "first", 0, 0)]).await;
        }
        let Some(first) = raw.callback_result("first") else {
            return InvocationOutput::pending();
        };
        if raw.status("second").is_none() {
            raw.checkpoint(vec![callback("second", "second", 0, 0)])
                .await;
        }
        match raw.callback_result("second") {
            Some(second) => done(format!("[{first},{second}]")),
            None => InvocationOutput::pending(),
        }
    })
}

/// A callback with a 3 s timeout and a 6 s wait; fails with the callback's
/// error once the wait is over (CT callback/4-11).
fn callback_then_wait(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("cb").is_none() {
            raw.checkpoint(vec![callback("cb", "cb", 3, 0), wait("w", 6)])
                .await;
        }
        if raw.status("w") != Some(OperationStatus::Succeeded) {
            return InvocationOutput::pending();
        }
        match raw.error("cb") {
            Some(error) => InvocationOutput::failed(error),
            None => done("\"no timeout\""),
        }
    })
}

/// Invokes the function named by the input (with payload 21) and returns
/// its result, or fails with its error.
fn caller(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("ci").is_none() {
            let function: String = serde_json::from_str(&raw.input).unwrap();
            raw.checkpoint(vec![invoke("ci", &function, "21")]).await;
        }
        match raw.status("ci") {
            Some(OperationStatus::Started) => InvocationOutput::pending(),
            Some(OperationStatus::Succeeded) => done(
                raw.ops["ci"]
                    .chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.result.clone())
                    .unwrap_or_default(),
            ),
            Some(status) => {
                let mut error = raw.error("ci").unwrap_or_default();
                error.error_data = Some(status.to_string());
                InvocationOutput::failed(error)
            }
            None => InvocationOutput::failed(ErrorObject::new("Test", "no record")),
        }
    })
}

/// A callback with a 3 s timeout and a chained invoke of `doubler`, whose
/// wait takes 5 s; returns once both are done.
fn callback_and_invoke(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("cb").is_none() {
            raw.checkpoint(vec![
                callback("cb", "cb", 3, 0),
                invoke("ci", "doubler", "5"),
            ])
            .await;
        }
        let finished = |s: Option<OperationStatus>| s.is_some_and(|s| s.is_terminal());
        if finished(raw.status("cb")) && finished(raw.status("ci")) {
            done("\"both\"")
        } else {
            InvocationOutput::pending()
        }
    })
}

fn failing(_raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async { InvocationOutput::failed(ErrorObject::new("ValueError", "boom")) })
}

/// Waits on a callback named `approve` and returns its result.
fn approval(mut raw: Raw) -> BoxFuture<'static, InvocationOutput> {
    Box::pin(async move {
        if raw.status("cb").is_none() {
            raw.checkpoint(vec![callback("cb", "approve", 0, 0)]).await;
        }
        match raw.status("cb") {
            Some(OperationStatus::Succeeded) => done(raw.callback_result("cb").unwrap()),
            Some(OperationStatus::Started) => InvocationOutput::pending(),
            _ => InvocationOutput::failed(raw.error("cb").unwrap()),
        }
    })
}

// ----- helpers -----

fn runner() -> LocalRunner<impl DurableHandler<Value, ()>, Value, ()> {
    LocalRunner::new(|_: Value, _ctx: DurableContext| async { Ok::<(), DurableError>(()) })
        .clock(Clock::virtual_at(T0))
        .register_raw("two-callbacks", two_callbacks)
        .register_raw("one-callback", one_callback)
        .register_raw("sequential", sequential_callbacks)
        .register_raw("callback-then-wait", callback_then_wait)
        .register_raw("caller", caller)
        .register_raw("callback-and-invoke", callback_and_invoke)
        .register_raw("failing", failing)
        .register_raw("approval", approval)
}

async fn run_raw<H, E, T>(runner: &LocalRunner<H, E, T>, function: &str, input: &str) -> Execution
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    let arn = runner
        .service()
        .start_execution(function, None, input.to_owned())
        .unwrap()
        .arn;
    runner.resume(&arn).await.unwrap()
}

/// (event type, milliseconds since T0) of every event.
fn timeline(exec: &Execution) -> Vec<(String, i64)> {
    exec.history()
        .iter()
        .map(|e| (e.event_type.as_str().to_owned(), e.event_timestamp - T0))
        .collect()
}

fn at(events: &[(&str, i64)]) -> Vec<(String, i64)> {
    events
        .iter()
        .map(|(t, ms)| ((*t).to_owned(), *ms))
        .collect()
}

// ----- scheduled callback actions -----

#[tokio::test]
async fn scheduled_successes_complete_callbacks_in_time_order() {
    let runner = runner();
    runner
        .on_callback(
            "A",
            CallbackAction::success("\"a\"").after(Duration::from_secs(3)),
        )
        .on_callback(
            "B",
            CallbackAction::success("\"b\"").after(Duration::from_secs(4)),
        );
    let exec = run_raw(&runner, "two-callbacks", r#"["A","B"]"#).await;
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result_payload(), Some(r#"["a","b"]"#));
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("CallbackStarted", 0),
            ("CallbackStarted", 0),
            ("InvocationCompleted", 0),
            ("CallbackSucceeded", 3000),
            ("InvocationCompleted", 3000),
            ("CallbackSucceeded", 4000),
            ("InvocationCompleted", 4000),
            ("ExecutionSucceeded", 4000),
        ])
    );
    assert!(runner.callback_action_errors().is_empty());
}

#[tokio::test]
async fn actions_on_different_names_are_independent_of_their_order() {
    let runner = runner();
    runner
        .on_callback(
            "B",
            CallbackAction::success("\"b\"").after(Duration::from_secs(4)),
        )
        .on_callback(
            "A",
            CallbackAction::success("\"a\"").after(Duration::from_secs(1)),
        );
    let exec = run_raw(&runner, "two-callbacks", r#"["A","B"]"#).await;
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    let succeeded: Vec<(Option<String>, i64)> = exec
        .history()
        .iter()
        .filter(|e| e.event_type == EventType::CallbackSucceeded)
        .map(|e| (e.name.clone(), e.event_timestamp - T0))
        .collect();
    assert_eq!(
        succeeded,
        [(Some("A".to_owned()), 1000), (Some("B".to_owned()), 4000)]
    );
}

#[tokio::test]
async fn a_scheduled_heartbeat_keeps_a_callback_alive() {
    let runner = runner();
    runner
        .on_callback(
            "*",
            CallbackAction::heartbeat().after(Duration::from_secs(8)),
        )
        .on_callback(
            "*",
            CallbackAction::success("\"late\"").after(Duration::from_secs(4)),
        );
    // Heartbeat timeout 10 s: without the heartbeat at 8 s it would time out
    // at 10 s; the success comes at 12 s.
    let exec = run_raw(&runner, "one-callback", "\"cb\"").await;
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(exec.result_payload(), Some("\"late\""));
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("CallbackStarted", 0),
            ("InvocationCompleted", 0),
            ("CallbackSucceeded", 12_000),
            ("InvocationCompleted", 12_000),
            ("ExecutionSucceeded", 12_000),
        ])
    );
}

#[tokio::test]
async fn without_a_heartbeat_the_heartbeat_timeout_fires() {
    let runner = runner().skip_to_callback_timeouts(true);
    let exec = run_raw(&runner, "one-callback", "\"cb\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(
        exec.error().unwrap().error_type.as_deref(),
        Some(durable_core::CALLBACK_HEARTBEAT)
    );
    let timed_out = exec
        .history()
        .into_iter()
        .find(|e| e.event_type == EventType::CallbackTimedOut)
        .unwrap();
    assert_eq!(timed_out.event_timestamp, T0 + 10_000);
}

#[tokio::test]
async fn actions_on_the_same_name_take_turns() {
    let runner = runner();
    runner
        .on_callback(
            "*",
            CallbackAction::success("1").after(Duration::from_secs(1)),
        )
        .on_callback(
            "*",
            CallbackAction::success("2").after(Duration::from_secs(1)),
        );
    let exec = run_raw(&runner, "sequential", "null").await;
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result_payload(), Some("[1,2]"));
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("CallbackStarted", 0),
            ("InvocationCompleted", 0),
            ("CallbackSucceeded", 1000),
            ("CallbackStarted", 1000),
            ("InvocationCompleted", 1000),
            ("CallbackSucceeded", 2000),
            ("InvocationCompleted", 2000),
            ("ExecutionSucceeded", 2000),
        ])
    );
}

#[tokio::test]
async fn a_scheduled_failure_fails_the_callback() {
    let runner = runner();
    runner.on_callback(
        "cb",
        CallbackAction::failure(ErrorObject::new("RejectedError", "not approved"))
            .after(Duration::from_secs(1)),
    );
    let exec = run_raw(&runner, "one-callback", "\"cb\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let error = exec.error().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("RejectedError"));
    assert_eq!(error.error_message.as_deref(), Some("not approved"));
    assert!(exec.event_types().contains(&EventType::CallbackFailed));
}

#[tokio::test]
async fn a_callback_timeout_and_a_wait_fire_in_time_order() {
    let runner = runner();
    let exec = run_raw(&runner, "callback-then-wait", "null").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(
        exec.error().unwrap().error_type.as_deref(),
        Some(durable_core::CALLBACK_TIMEOUT)
    );
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("CallbackStarted", 0),
            ("WaitStarted", 0),
            ("InvocationCompleted", 0),
            ("CallbackTimedOut", 3000),
            ("InvocationCompleted", 3000),
            ("WaitSucceeded", 6000),
            ("InvocationCompleted", 6000),
            ("ExecutionFailed", 6000),
        ])
    );
    assert_eq!(exec.invocations(), 3);
}

#[tokio::test]
async fn a_failed_scheduled_action_is_reported() {
    let runner = runner();
    // The callback times out at 3 s, before the success at 4 s.
    runner.on_callback(
        "cb",
        CallbackAction::success("1").after(Duration::from_secs(4)),
    );
    let exec = run_raw(&runner, "callback-then-wait", "null").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(
        exec.error().unwrap().error_type.as_deref(),
        Some(durable_core::CALLBACK_TIMEOUT)
    );
    let errors = runner.callback_action_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(CALLBACK_TIMEOUT_EXCEPTION), "{errors:?}");
    assert!(errors[0].contains("TIMED_OUT"), "{errors:?}");
}

// ----- completing callbacks by hand -----

#[tokio::test]
async fn a_run_waiting_on_a_callback_returns_and_resumes_after_it_is_completed() {
    let runner = runner();
    let exec = run_raw(&runner, "approval", "null").await;
    assert_eq!(exec.status(), ExecutionStatus::Running);
    let arn = exec.arn().to_owned();
    let id = exec.operation("approve").unwrap().callback_id().unwrap();

    // Found at once on the virtual clock.
    assert_eq!(runner.wait_for_callback(&arn, "approve").await.unwrap(), id);
    assert_eq!(runner.wait_for_callback(&arn, "*").await.unwrap(), id);
    let err = runner.wait_for_callback(&arn, "other").await.unwrap_err();
    assert!(
        matches!(err, LocalError::CallbackNameNotFound { .. }),
        "{err}"
    );
    assert_eq!(
        runner
            .callback_id(CallbackRef::named(&arn, "approve"))
            .unwrap(),
        id
    );

    runner.service().clock().advance(Duration::from_secs(30));
    runner
        .callback_success(CallbackRef::named(&arn, "approve"), "\"yes\"")
        .unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("yes"));
    assert_eq!(exec.invocations(), 2);
    assert_eq!(exec.end_timestamp(), Some(T0 + 30_000));

    // Twice: the callback is closed.
    let err = runner.callback_success(&id, "\"again\"").unwrap_err();
    assert_eq!(err.to_backend_error().code(), CALLBACK_TIMEOUT_EXCEPTION);
    let err = runner.callback_heartbeat(&id).unwrap_err();
    assert_eq!(err.to_backend_error().code(), CALLBACK_TIMEOUT_EXCEPTION);
    let err = runner
        .callback_failure(CallbackRef::named(&arn, "missing"), ErrorObject::default())
        .unwrap_err();
    assert!(matches!(err, LocalError::CallbackNameNotFound { .. }));
    let err = runner
        .callback_success(&CallbackId::new("not-an-id"), "1")
        .unwrap_err();
    assert_eq!(err.to_backend_error().code(), RESOURCE_NOT_FOUND);
}

#[tokio::test]
async fn callbacks_are_failed_and_heartbeated_by_name() {
    let runner = runner();
    let exec = run_raw(&runner, "approval", "null").await;
    let arn = exec.arn().to_owned();
    assert_eq!(exec.status(), ExecutionStatus::Running);
    runner
        .callback_heartbeat(CallbackRef::named(&arn, "approve"))
        .unwrap();
    runner
        .callback_failure(
            CallbackRef::named(&arn, "approve"),
            ErrorObject::new("Denied", "no"),
        )
        .unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(exec.error().unwrap().error_type.as_deref(), Some("Denied"));
    assert_eq!(
        exec.operation("approve").unwrap().error(),
        Some(&ErrorObject::new("Denied", "no"))
    );
}

#[tokio::test]
async fn wait_for_callback_waits_on_the_real_clock() {
    let runner = runner().real_time();
    let arn = runner
        .service()
        .start_execution("approval", None, "null".to_owned())
        .unwrap()
        .arn;
    // Polled first, the waiter finds nothing and waits; the run creates the
    // callback and wakes it.
    let (id, exec) = tokio::join!(
        runner.wait_for_callback(&arn, "approve"),
        runner.resume(&arn)
    );
    let id = id.unwrap();
    assert_eq!(exec.unwrap().status(), ExecutionStatus::Running);
    runner.callback_success(&id, "\"ok\"").unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.result_payload(), Some("\"ok\""));
    // Ended without such a callback: no waiting.
    let err = runner.wait_for_callback(&arn, "never").await.unwrap_err();
    assert!(matches!(err, LocalError::CallbackNameNotFound { .. }));
}

// ----- chained invokes -----

async fn doubler(n: u64, ctx: DurableContext) -> Result<u64, DurableError> {
    let doubled = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(n * 2) })
        .name("double")
        .await?;
    ctx.wait(Duration::from_secs(5)).name("pause").await;
    Ok(doubled)
}

#[tokio::test]
async fn a_chained_invoke_runs_a_registered_handler_as_its_own_execution() {
    let runner = runner().register_function("doubler", doubler);
    let exec = run_raw(&runner, "caller", "\"doubler\"").await;
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(exec.result_payload(), Some("42"));
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("ChainedInvokeStarted", 0),
            ("InvocationCompleted", 0),
            ("ChainedInvokeSucceeded", 5000),
            ("InvocationCompleted", 5000),
            ("ExecutionSucceeded", 5000),
        ])
    );
    let history = exec.history();
    let started = history[1].chained_invoke_started_details.clone().unwrap();
    assert_eq!(started.function_name, "doubler");
    assert_eq!(started.input.payload.as_deref(), Some("21"));
    assert_eq!(
        started.executed_version.as_deref(),
        Some(crate::EXECUTED_VERSION)
    );
    let child_arn = started.durable_execution_arn.unwrap();
    assert_ne!(child_arn, exec.arn());

    let child = runner.execution(&child_arn).unwrap();
    assert_eq!(child.status(), ExecutionStatus::Succeeded);
    assert_eq!(child.input(), "21");
    assert_eq!(child.result::<u64>().unwrap(), Some(42));
    assert_eq!(
        timeline(&child),
        at(&[
            ("ExecutionStarted", 0),
            ("StepStarted", 0),
            ("StepSucceeded", 0),
            ("WaitStarted", 0),
            ("InvocationCompleted", 0),
            ("WaitSucceeded", 5000),
            ("InvocationCompleted", 5000),
            ("ExecutionSucceeded", 5000),
        ])
    );
}

#[tokio::test]
async fn timers_of_caller_and_callee_interleave_on_one_clock() {
    let runner = runner().register_function("doubler", doubler);
    let exec = run_raw(&runner, "callback-and-invoke", "null").await;
    assert_eq!(
        exec.status(),
        ExecutionStatus::Succeeded,
        "{:?}",
        exec.error()
    );
    assert_eq!(
        timeline(&exec),
        at(&[
            ("ExecutionStarted", 0),
            ("CallbackStarted", 0),
            ("ChainedInvokeStarted", 0),
            ("InvocationCompleted", 0),
            ("CallbackTimedOut", 3000),
            ("InvocationCompleted", 3000),
            ("ChainedInvokeSucceeded", 5000),
            ("InvocationCompleted", 5000),
            ("ExecutionSucceeded", 5000),
        ])
    );
}

#[tokio::test]
async fn a_failed_callee_fails_the_chained_invoke() {
    let runner = runner();
    let exec = run_raw(&runner, "caller", "\"failing\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let error = exec.error().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("ValueError"));
    assert_eq!(error.error_message.as_deref(), Some("boom"));
    assert_eq!(error.error_data.as_deref(), Some("FAILED"));
    let failed = exec
        .history()
        .into_iter()
        .find(|e| e.event_type == EventType::ChainedInvokeFailed)
        .unwrap();
    assert_eq!(
        failed.chained_invoke_failed_details.unwrap().error.payload,
        Some(ErrorObject::new("ValueError", "boom"))
    );
}

#[tokio::test]
async fn a_stopped_callee_stops_the_chained_invoke() {
    let runner = runner();
    // The callee waits on a callback nobody completes: everything is idle.
    let exec = run_raw(&runner, "caller", "\"approval\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Running);
    let arn = exec.arn().to_owned();
    let children = runner.service().running_chained_invokes(&arn).unwrap();
    assert_eq!(children.len(), 1);
    runner
        .service()
        .stop_execution(&children[0], Some(ErrorObject::new("Stop", "operator")))
        .unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(exec.error().unwrap().error_data.as_deref(), Some("STOPPED"));
    assert_eq!(
        exec.operation_by_id("ci").unwrap().status(),
        &OperationStatus::Stopped
    );
    assert!(
        exec.event_types()
            .contains(&EventType::ChainedInvokeStopped)
    );
    let child = runner.execution(&children[0]).unwrap();
    assert_eq!(child.status(), ExecutionStatus::Stopped);
}

#[tokio::test]
async fn resuming_the_caller_drives_a_callee_whose_callback_was_completed() {
    let runner = runner();
    let exec = run_raw(&runner, "caller", "\"approval\"").await;
    let arn = exec.arn().to_owned();
    let child = runner.service().running_chained_invokes(&arn).unwrap()[0].clone();
    runner
        .callback_success(CallbackRef::named(&child, "approve"), "\"granted\"")
        .unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result_payload(), Some("\"granted\""));
}

#[tokio::test]
async fn scheduled_actions_reach_callbacks_of_callees() {
    let runner = runner();
    runner.on_callback(
        "approve",
        CallbackAction::success("\"auto\"").after(Duration::from_secs(2)),
    );
    let exec = run_raw(&runner, "caller", "\"approval\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result_payload(), Some("\"auto\""));
    assert_eq!(exec.end_timestamp(), Some(T0 + 2000));
}

#[tokio::test]
async fn invoking_an_unregistered_function_fails_clearly() {
    let runner = runner();
    let exec = run_raw(&runner, "caller", "\"ghost\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let error = exec.error().unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RESOURCE_NOT_FOUND));
    assert!(
        error
            .error_message
            .as_deref()
            .unwrap()
            .contains("Function not found: ghost"),
        "{error:?}"
    );
    // One invocation: the failure was in the START's own response.
    assert_eq!(exec.invocations(), 1);
    assert_eq!(runner.service().execution_arns().len(), 1);
}

#[tokio::test]
async fn the_invocation_budget_covers_callees() {
    let runner = runner()
        .max_invocations(1)
        .register_function("doubler", doubler);
    let err = runner
        .service()
        .start_execution("caller", None, "\"doubler\"".to_owned())
        .map(|s| s.arn)
        .unwrap();
    let err = runner.resume(&err).await.unwrap_err();
    assert!(
        matches!(err, LocalError::InvocationLimit { invocations: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn finished_callees_are_removed_when_finished_executions_are_not_retained() {
    let runner = runner()
        .register_function("doubler", doubler)
        .retain_finished(false);
    let exec = run_raw(&runner, "caller", "\"doubler\"").await;
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert!(runner.service().execution_arns().is_empty());
}

#[tokio::test]
async fn a_function_may_invoke_the_runners_own_handler() {
    // The runner's own function is registered under its name, and only the
    // names the runner can run are (a chained invoke of the default name,
    // which nothing runs once the function is renamed, fails at once).
    let runner = LocalRunner::new(doubler)
        .clock(Clock::virtual_at(T0))
        .function_name("doubler")
        .register_raw("caller", caller);
    assert!(runner.service().is_function_registered("doubler"));
    assert!(
        !runner
            .service()
            .is_function_registered(DEFAULT_FUNCTION_NAME)
    );
    let exec = run_raw(&runner, "caller", "\"doubler\"").await;
    assert_eq!(exec.result_payload(), Some("42"));
}
