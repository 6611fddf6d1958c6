//! The SQLite store: executions survive closing and reopening the store
//! (and a SIGKILL of the process writing it), and the service picks them up
//! where they were: timers, retries, callbacks, tokens, invocations that
//! were in flight.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use durable_core::wire::{
    CallbackOptions, Event, EventType, ExecutionStatus, InvocationOutput, Operation,
    OperationAction, OperationStatus, OperationType, OperationUpdate, StepOptions, WaitOptions,
};
use durable_core::{
    DurableContext, DurableError, INVALID_CHECKPOINT_TOKEN, InvocationConfig, RetryPolicy,
    StepContext, StepError,
};
use durable_local::{
    Clock, DEFAULT_FUNCTION_NAME, ExecutionStore, InvocationResult, LocalError, LocalRunner,
    LocalService, NextStep, RUNTIME_EXIT_ERROR, ServiceConfig, SqliteStore,
};

// ----- helpers -----

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "durable-sqlite-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    /// The store file (its directories do not exist yet: `open` creates them).
    fn db(&self) -> PathBuf {
        self.0.join("nested").join("executions.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).unwrap()
}

fn service(path: &Path, clock: Clock) -> LocalService {
    LocalService::with_store(Box::new(open(path)), clock, ServiceConfig::default())
}

fn operations(store: &SqliteStore, arn: &str) -> Vec<Operation> {
    store.get(arn).unwrap().operations().cloned().collect()
}

fn history(store: &SqliteStore, arn: &str) -> Vec<Event> {
    store.get(arn).unwrap().history()
}

fn event_types(history: &[Event]) -> Vec<EventType> {
    history.iter().map(|e| e.event_type.clone()).collect()
}

fn update(id: &str, kind: OperationType, action: OperationAction) -> OperationUpdate {
    OperationUpdate::new(id.to_owned(), kind, action)
}

/// One invocation of `handler` against `service`, as the runner makes it.
async fn invoke_once<H>(service: &LocalService, handler: &H, arn: &str) -> NextStep
where
    H: durable_core::DurableHandler<String, String>,
{
    let invocation = service.begin_invocation(arn).unwrap();
    let output = durable_core::run_invocation(
        handler,
        invocation.input,
        Arc::new(service.clone()),
        &InvocationConfig::default(),
    )
    .await
    .unwrap();
    service
        .complete_invocation(arn, InvocationResult::Output(output))
        .unwrap()
}

// ----- a whole workflow through close and reopen -----

static CHARGE_CALLS: AtomicU32 = AtomicU32::new(0);

/// Steps, a retried step, a wait and a callback.
async fn order(input: String, ctx: DurableContext) -> Result<String, DurableError> {
    let validated = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("valid {input}")) })
        .name("validate")
        .await?;
    let charged: u32 = ctx
        .step(|step: StepContext| async move {
            CHARGE_CALLS.fetch_add(1, Ordering::SeqCst);
            if step.attempt() < 3 {
                Err(StepError::new("card network down").with_type("Transient"))
            } else {
                Ok(42)
            }
        })
        .name("charge")
        .retry(RetryPolicy::fixed(Duration::from_secs(5)).max_attempts(5))
        .await?;
    ctx.wait(Duration::from_secs(60)).name("cool-off").await;
    let approval = ctx.create_callback::<String>("approval").await;
    let approver: String = approval.result().await?;
    let shipped = ctx
        .step(move |_: StepContext| async move {
            Ok::<_, StepError>(format!(
                "{validated}, charged {charged}, approved by {approver}"
            ))
        })
        .name("ship")
        .await?;
    Ok(shipped)
}

#[tokio::test]
async fn a_running_workflow_round_trips_through_close_and_reopen() {
    let dir = TempDir::new("roundtrip");
    let path = dir.db();

    let runner = LocalRunner::new(order).store(Box::new(open(&path)));
    let exec = runner.start("order-7").name("order-7").await.unwrap();
    assert_eq!(
        exec.status(),
        ExecutionStatus::Running,
        "suspended on the callback"
    );
    assert_eq!(exec.operation("charge").unwrap().attempts(), 3);
    assert_eq!(
        exec.operation("cool-off").unwrap().status(),
        &OperationStatus::Succeeded
    );
    let arn = exec.arn().to_owned();
    let invocations = exec.invocations();
    let (ops_before, history_before) = runner
        .service()
        .with_execution(&arn, |e| {
            (e.operations().cloned().collect::<Vec<_>>(), e.history())
        })
        .unwrap();
    let callback_id = exec.operation("approval").unwrap().callback_id().unwrap();
    drop(exec);
    drop(runner);

    // Everything is in the file: records, history, bookkeeping.
    let store = open(&path);
    assert_eq!(operations(&store, &arn), ops_before);
    assert_eq!(history(&store, &arn), history_before);
    let stored = store.get(&arn).unwrap();
    assert_eq!(stored.status(), &ExecutionStatus::Running);
    assert_eq!(stored.invocations(), invocations);
    assert_eq!(stored.input(), "\"order-7\"");
    assert_eq!(
        store.find_by_name(DEFAULT_FUNCTION_NAME, "order-7"),
        Some(arn.as_str())
    );
    drop(store);

    // A new runner on the reopened store: the callback id is known again,
    // starting by the same name returns the same execution.
    let runner = LocalRunner::new(order).store(Box::new(open(&path)));
    let service = runner.service();
    assert_eq!(service.next_step(&arn).unwrap(), NextStep::Idle);
    assert_eq!(
        service.find_callback(&arn, "approval").unwrap().as_deref(),
        Some(callback_id.as_str())
    );
    let open_callbacks = service.open_callbacks(&arn).unwrap();
    assert_eq!(open_callbacks.len(), 1);
    service
        .send_callback_success(callback_id.as_str(), b"\"ada\"")
        .unwrap();
    let calls_before = CHARGE_CALLS.load(Ordering::SeqCst);
    let exec = runner.start("order-7").name("order-7").await.unwrap();
    assert_eq!(exec.arn(), arn, "the same execution, by name");
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<String>().unwrap().as_deref(),
        Some("valid order-7, charged 42, approved by ada")
    );
    assert_eq!(
        CHARGE_CALLS.load(Ordering::SeqCst),
        calls_before,
        "the charge step was replayed, not run again"
    );
    let history_after = exec.history();
    assert_eq!(history_after[..history_before.len()], history_before[..]);
    assert_eq!(
        event_types(&history_after[history_before.len()..]),
        [
            EventType::CallbackSucceeded,
            EventType::StepStarted,
            EventType::StepSucceeded,
            EventType::InvocationCompleted,
            EventType::ExecutionSucceeded
        ]
    );
    let ops_after: Vec<Operation> = runner
        .service()
        .with_execution(&arn, |e| e.operations().cloned().collect())
        .unwrap();
    // Time never runs backwards for the execution: the new runner's virtual
    // clock started at the store's latest timestamp.
    let callback = exec.operation("approval").unwrap();
    assert!(callback.end_timestamp() >= callback.start_timestamp());
    drop(exec);
    drop(runner);

    // The end is durable too, and a completed callback stays closed.
    let store = open(&path);
    assert_eq!(history(&store, &arn), history_after);
    assert_eq!(operations(&store, &arn), ops_after);
    assert_eq!(
        store.get(&arn).unwrap().status(),
        &ExecutionStatus::Succeeded
    );
    assert_eq!(
        store.get(&arn).unwrap().result(),
        Some("\"valid order-7, charged 42, approved by ada\"")
    );
    let service = LocalService::with_store(
        Box::new(store),
        Clock::virtual_now(),
        ServiceConfig::default(),
    );
    let err = service
        .send_callback_success(callback_id.as_str(), b"\"again\"")
        .unwrap_err();
    assert!(matches!(err, LocalError::CallbackClosed { .. }), "{err:?}");
    let err = service.send_callback_success("unknown", b"1").unwrap_err();
    assert!(
        matches!(err, LocalError::CallbackNotFound { .. }),
        "{err:?}"
    );
}

// ----- timers -----

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// A step that fails once and is retried after 30 s, then an hour's wait.
async fn retry_then_wait(input: String, ctx: DurableContext) -> Result<String, DurableError> {
    let value = ctx
        .step(move |step: StepContext| async move {
            FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
            if step.attempt() == 1 {
                Err(StepError::new("not yet"))
            } else {
                Ok(format!("{input} on attempt {}", step.attempt()))
            }
        })
        .name("flaky")
        .retry(RetryPolicy::fixed(Duration::from_secs(30)).max_attempts(3))
        .await?;
    ctx.wait(Duration::from_secs(3600)).name("hour").await;
    Ok(value)
}

#[tokio::test]
async fn a_retry_and_a_wait_fire_after_reopening() {
    let dir = TempDir::new("timers");
    let path = dir.db();
    let t0 = 1_700_000_000_000;

    // The first invocation fails the step and schedules its retry.
    let svc = service(&path, Clock::virtual_at(t0));
    let arn = svc
        .start_execution(DEFAULT_FUNCTION_NAME, Some("timers"), "\"x\"".to_owned())
        .unwrap()
        .arn;
    let retry_due = t0 + 30_000;
    assert_eq!(
        invoke_once(&svc, &retry_then_wait, &arn).await,
        NextStep::WaitUntil(retry_due)
    );
    drop(svc);

    // Reopened later: the retry timer is armed again; when it fires the step
    // is READY and the next invocation retries it, then waits an hour.
    let clock = Clock::virtual_at(t0 + 10_000);
    let svc = service(&path, clock.clone());
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::WaitUntil(retry_due));
    clock.advance_to(retry_due);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    let wait_due = retry_due + 3_600_000;
    assert_eq!(
        invoke_once(&svc, &retry_then_wait, &arn).await,
        NextStep::WaitUntil(wait_due)
    );
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 2);
    drop(svc);

    // Reopened again, by a runner: the wait fires and the execution ends.
    let runner = LocalRunner::new(retry_then_wait)
        .clock(Clock::virtual_at(retry_due + 60_000))
        .store(Box::new(open(&path)));
    assert_eq!(
        runner.service().next_step(&arn).unwrap(),
        NextStep::WaitUntil(wait_due)
    );
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<String>().unwrap().as_deref(),
        Some("x on attempt 2")
    );
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 2, "replayed, not rerun");
    assert_eq!(exec.invocations(), 3);
    let hour = exec.operation("hour").unwrap();
    assert_eq!(hour.status(), &OperationStatus::Succeeded);
    assert_eq!(hour.end_timestamp(), Some(wait_due));
    assert_eq!(
        exec.event_types(),
        [
            EventType::ExecutionStarted,
            EventType::StepStarted,
            EventType::StepFailed,
            EventType::InvocationCompleted,
            EventType::StepStarted,
            EventType::StepSucceeded,
            EventType::WaitStarted,
            EventType::InvocationCompleted,
            EventType::WaitSucceeded,
            EventType::InvocationCompleted,
            EventType::ExecutionSucceeded,
        ]
    );
}

#[test]
fn callback_deadlines_survive_reopening_and_a_heartbeat_moves_them() {
    let dir = TempDir::new("callback-timers");
    let path = dir.db();
    let t0 = 1_700_000_000_000;
    let svc = service(&path, Clock::virtual_at(t0));
    let arn = svc
        .start_execution("fn", None, "{}".to_owned())
        .unwrap()
        .arn;
    let token = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    let mut create = update("cb", OperationType::Callback, OperationAction::Start);
    create.name = Some("approval".to_owned());
    create.callback_options = Some(CallbackOptions {
        timeout_seconds: 600,
        heartbeat_timeout_seconds: 60,
    });
    svc.checkpoint_now(&arn, &token, vec![create]).unwrap();
    svc.complete_invocation(&arn, InvocationResult::Output(InvocationOutput::pending()))
        .unwrap();
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::WaitUntil(t0 + 60_000)
    );
    let id = svc.find_callback(&arn, "approval").unwrap().unwrap();
    drop(svc);

    let clock = Clock::virtual_at(t0 + 30_000);
    let svc = service(&path, clock.clone());
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::WaitUntil(t0 + 60_000)
    );
    // A heartbeat (by its id: the index was rebuilt) moves the heartbeat
    // deadline, and that is durable too.
    svc.send_callback_heartbeat(&id).unwrap();
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::WaitUntil(t0 + 90_000)
    );
    drop(svc);

    let clock = Clock::virtual_at(t0 + 40_000);
    let svc = service(&path, clock.clone());
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::WaitUntil(t0 + 90_000)
    );
    clock.advance_to(t0 + 90_000);
    assert_eq!(svc.fire_due_timers(&arn).unwrap(), 1);
    let callbacks = svc.callbacks(&arn).unwrap();
    assert_eq!(callbacks[0].status, OperationStatus::TimedOut);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    let err = svc.send_callback_success(&id, b"1").unwrap_err();
    assert!(matches!(err, LocalError::CallbackClosed { .. }), "{err:?}");
    drop(svc);

    let store = open(&path);
    let last = history(&store, &arn).pop().unwrap();
    assert_eq!(last.event_type, EventType::CallbackTimedOut);
    let error = last
        .callback_timed_out_details
        .unwrap()
        .error
        .payload
        .unwrap();
    assert_eq!(error.error_type.as_deref(), Some("Callback.Heartbeat"));
}

// ----- tokens and invocations in flight -----

#[test]
fn tokens_stay_current_or_stale_across_reopening() {
    let dir = TempDir::new("tokens");
    let path = dir.db();
    let t0 = 1_700_000_000_000;
    let svc = service(&path, Clock::virtual_at(t0));
    let arn = svc
        .start_execution("fn", Some("tokens"), "{}".to_owned())
        .unwrap()
        .arn;
    let first = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    let mut step = update("s1", OperationType::Step, OperationAction::Start);
    step.sub_type = Some("Step".to_owned());
    let second = svc
        .checkpoint_now(&arn, &first, vec![step])
        .unwrap()
        .checkpoint_token
        .unwrap();
    drop(svc); // the invocation is still running: the process "died"

    let svc = service(&path, Clock::virtual_at(t0 + 5_000));
    // The token issued last is still the current one, the one before is stale.
    assert!(svc.get_state_now(&arn, &second, "").is_ok());
    let stale = svc.get_state_now(&arn, &first, "").unwrap_err();
    assert!(
        stale.message().contains(INVALID_CHECKPOINT_TOKEN),
        "{stale:?}"
    );
    let stale = svc.checkpoint_now(&arn, &first, Vec::new()).unwrap_err();
    assert!(
        stale.message().contains(INVALID_CHECKPOINT_TOKEN),
        "{stale:?}"
    );
    let mut done = update("s1", OperationType::Step, OperationAction::Succeed);
    done.sub_type = Some("Step".to_owned());
    done.payload = Some("1".to_owned());
    let third = svc
        .checkpoint_now(&arn, &second, vec![done])
        .unwrap()
        .checkpoint_token
        .unwrap();
    assert!(svc.get_state_now(&arn, &second, "").is_err());

    // The lost invocation counted as failed: recorded, and the execution is
    // to be invoked again.
    let (events, invocations) = svc
        .with_execution(&arn, |e| (e.history(), e.invocations()))
        .unwrap();
    assert_eq!(invocations, 1);
    let completed = events
        .iter()
        .find(|e| e.event_type == EventType::InvocationCompleted)
        .unwrap();
    let details = completed.invocation_completed_details.as_ref().unwrap();
    assert_eq!(details.start_timestamp, t0);
    assert_eq!(details.end_timestamp, t0 + 5_000);
    let error = details.error.as_ref().unwrap().payload.as_ref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RUNTIME_EXIT_ERROR));
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    drop(svc);

    // Tokens keep counting after a restart: a new invocation's token is new.
    let svc = service(&path, Clock::virtual_at(t0 + 6_000));
    assert!(svc.get_state_now(&arn, &third, "").is_ok());
    let fourth = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    assert!(![&first, &second, &third].contains(&&fourth));
    assert!(svc.get_state_now(&arn, &third, "").is_err());
    assert!(svc.get_state_now(&arn, &fourth, "").is_ok());
}

#[test]
fn invocations_lost_to_restarts_fail_the_execution_after_the_budget() {
    let dir = TempDir::new("budget");
    let path = dir.db();
    let config = ServiceConfig {
        max_failed_invocations: 2,
        ..ServiceConfig::default()
    };
    let reopen =
        || LocalService::with_store(Box::new(open(&path)), Clock::virtual_now(), config.clone());
    let svc = reopen();
    let arn = svc
        .start_execution("fn", None, "{}".to_owned())
        .unwrap()
        .arn;
    svc.begin_invocation(&arn).unwrap();
    drop(svc);
    let svc = reopen();
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
    svc.begin_invocation(&arn).unwrap();
    drop(svc);
    let svc = reopen();
    assert_eq!(
        svc.next_step(&arn).unwrap(),
        NextStep::Finished(ExecutionStatus::Failed)
    );
    drop(svc);
    let store = open(&path);
    let exec = store.get(&arn).unwrap();
    assert_eq!(exec.status(), &ExecutionStatus::Failed);
    assert_eq!(
        exec.error().unwrap().error_type.as_deref(),
        Some(RUNTIME_EXIT_ERROR)
    );
    assert_eq!(
        event_types(&exec.history()),
        [
            EventType::ExecutionStarted,
            EventType::InvocationCompleted,
            EventType::InvocationCompleted,
            EventType::ExecutionFailed
        ]
    );
}

// ----- the file itself -----

#[test]
fn an_empty_file_is_initialised_and_a_store_is_opened_only_once() {
    let dir = TempDir::new("init");
    let path = dir.db();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path).unwrap();
    let store = open(&path);
    assert_eq!(store.arns(), Vec::<String>::new());
    assert_eq!(store.path(), path);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.message().contains("open in another store"), "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn a_store_of_a_newer_schema_version_is_rejected() {
    let dir = TempDir::new("version");
    let path = dir.db();
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 7).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    let message = err.message();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("schema version 7"), "{message}");
    assert!(message.contains("version 1"), "{message}");
    assert!(message.contains("newer"), "{message}");

    // Nor is a store whose version this build cannot migrate from.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", -1).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.message().contains("cannot migrate"), "{err}");
}

#[test]
fn other_files_are_not_taken_for_a_store() {
    let dir = TempDir::new("foreign");
    let path = dir.db();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (text TEXT)")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        err.message()
            .contains("not a durable-local execution store"),
        "{err}"
    );
    assert!(err.message().contains(&path.display().to_string()), "{err}");

    let text = dir.0.join("notes.txt");
    std::fs::write(&text, "not a database at all, just some text ".repeat(200)).unwrap();
    let err = SqliteStore::open(&text).unwrap_err();
    assert!(err.message().contains(&text.display().to_string()), "{err}");
}

#[test]
fn removing_an_execution_removes_it_from_the_file() {
    let dir = TempDir::new("remove");
    let path = dir.db();
    let svc = service(&path, Clock::virtual_now());
    let keep = svc
        .start_execution("fn", Some("keep"), "1".to_owned())
        .unwrap()
        .arn;
    let gone = svc
        .start_execution("fn", Some("gone"), "2".to_owned())
        .unwrap()
        .arn;
    assert!(svc.remove_execution(&gone).is_some());
    drop(svc);
    let store = open(&path);
    assert_eq!(store.arns(), vec![keep]);
    assert_eq!(store.find_by_name("fn", "gone"), None);
}

// ----- SIGKILL -----

const CHILD_ENV: &str = "DURABLE_SQLITE_CRASH_CHILD";
const EXECUTION_NAME: &str = "crash";

/// Not a test on its own: the child process of
/// [`a_sigkill_loses_no_acknowledged_checkpoint`]. With `CHILD_ENV` set to
/// a store path, it checkpoints one step after another into the execution
/// `crash` forever, printing `ack <n>` (flushed) once checkpoint `n` has
/// returned.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let config = ServiceConfig {
        max_failed_invocations: 1_000,
        ..ServiceConfig::default()
    };
    let svc = LocalService::with_store(Box::new(open(Path::new(&path))), Clock::real(), config);
    let arn = svc
        .start_execution("fn", Some(EXECUTION_NAME), "{}".to_owned())
        .unwrap()
        .arn;
    let mut token = svc
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    let done = svc
        .with_execution(&arn, |e| {
            e.operations()
                .filter(|op| op.id.starts_with("step-"))
                .count()
        })
        .unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {done}").unwrap();
    out.flush().unwrap();
    for n in done + 1.. {
        let id = format!("step-{n}");
        let mut start = update(&id, OperationType::Step, OperationAction::Start);
        start.sub_type = Some("Step".to_owned());
        let mut succeed = update(&id, OperationType::Step, OperationAction::Succeed);
        succeed.sub_type = Some("Step".to_owned());
        succeed.payload = Some(n.to_string());
        // Every third checkpoint also retries a step, every fifth starts a
        // wait: bookkeeping changes as well as records.
        let mut updates = vec![start, succeed];
        if n % 3 == 0 {
            let retry_id = format!("retry-{n}");
            let mut retry = update(&retry_id, OperationType::Step, OperationAction::Start);
            retry.sub_type = Some("Step".to_owned());
            let mut again = update(&retry_id, OperationType::Step, OperationAction::Retry);
            again.sub_type = Some("Step".to_owned());
            again.error = Some(durable_core::wire::ErrorObject::new("E", "again"));
            again.step_options = Some(StepOptions {
                next_attempt_delay_seconds: 3600,
            });
            updates.extend([retry, again]);
        }
        if n % 5 == 0 {
            let mut wait = update(
                &format!("wait-{n}"),
                OperationType::Wait,
                OperationAction::Start,
            );
            wait.wait_options = Some(WaitOptions { wait_seconds: 3600 });
            updates.push(wait);
        }
        token = svc
            .checkpoint_now(&arn, &token, updates)
            .unwrap()
            .checkpoint_token
            .unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

/// Kills the child by its pid if the test fails before it does.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Checks that every checkpoint up to `acked` is in the store and returns
/// how many steps it holds.
fn check_store(path: &Path, acked: usize) -> usize {
    let store = SqliteStore::open(path).expect("the store opens cleanly after a SIGKILL");
    let arn = store
        .find_by_name("fn", EXECUTION_NAME)
        .expect("the execution is in the store")
        .to_owned();
    let exec = store.get(&arn).unwrap();
    for n in 1..=acked {
        let op = exec
            .operation(&format!("step-{n}"))
            .unwrap_or_else(|| panic!("acknowledged checkpoint {n} is lost"));
        assert_eq!(op.status, OperationStatus::Succeeded);
        let result = op.step_details.as_ref().unwrap().result.as_deref();
        assert_eq!(result, Some(n.to_string().as_str()));
        if n % 3 == 0 {
            let retry = exec.operation(&format!("retry-{n}")).unwrap();
            assert_eq!(retry.status, OperationStatus::Pending);
        }
        if n % 5 == 0 {
            assert!(exec.operation(&format!("wait-{n}")).is_some());
        }
    }
    let steps = exec
        .operations()
        .filter(|op| op.id.starts_with("step-"))
        .count();
    // Records and history agree: one StepSucceeded per step.
    let succeeded = exec
        .history()
        .iter()
        .filter(|e| e.event_type == EventType::StepSucceeded)
        .count();
    assert_eq!(succeeded, steps);
    steps
}

#[test]
fn a_sigkill_loses_no_acknowledged_checkpoint() {
    let dir = TempDir::new("sigkill");
    let path = dir.db();
    let exe = std::env::current_exe().unwrap();
    let rounds = 3;
    let mut total_acked = 0;
    for round in 0..rounds {
        let child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut killer = Killer(child);
        let stdout = killer.0.stdout.take().unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child writes, then kill it at a random moment.
        let began = Instant::now();
        let mut acked = None;
        let mut ready = None;
        while acked.is_none() {
            let line = lines
                .recv_timeout(Duration::from_secs(60).saturating_sub(began.elapsed()))
                .expect("the child starts checkpointing");
            // libtest may print "test crash_child ... " on the same line.
            if let Some((_, done)) = line.split_once("ready ") {
                ready = Some(done.parse::<usize>().unwrap());
            }
            if let Some((_, n)) = line.split_once("ack ") {
                acked = Some(n.parse::<usize>().unwrap());
            }
        }
        let ready = ready.expect("the child reports what the store held");
        assert!(
            ready >= total_acked,
            "round {round}: the child found {ready} < {total_acked}"
        );
        std::thread::sleep(Duration::from_millis(rand::random_range(0..300)));
        let pid = killer.0.id();
        killer.0.kill().unwrap(); // SIGKILL, to this pid
        let status = killer.0.wait().unwrap();
        assert!(!status.success(), "child {pid} was killed");
        reader.join().unwrap();
        // Every `ack` the child printed before it died.
        let mut last = acked.unwrap_or(0);
        while let Ok(line) = lines.try_recv() {
            if let Some((_, n)) = line.split_once("ack ") {
                last = n.parse().unwrap();
            }
        }
        let held = check_store(&path, last);
        assert!(held >= last);
        // At most the one checkpoint that was being written when it died
        // can be there without an `ack` (written, not yet printed).
        assert!(held <= last + 1, "{held} steps, {last} acknowledged");
        println!(
            "round {round}: the store held {ready}, {last} acknowledged, {held} after the kill"
        );
        total_acked = last;
    }
    assert!(total_acked > 0);
    // Reopened by a service, the last lost invocation is recorded as failed.
    let svc = service(&path, Clock::real());
    let arn = svc.find_by_name("fn", EXECUTION_NAME).unwrap();
    let interrupted = svc
        .with_execution(&arn, |e| {
            e.history()
                .iter()
                .filter(|e| e.event_type == EventType::InvocationCompleted)
                .count()
        })
        .unwrap();
    assert_eq!(interrupted, rounds);
    assert_eq!(svc.next_step(&arn).unwrap(), NextStep::Invoke);
}

#[test]
fn a_store_with_a_missing_record_is_reported_corrupt() {
    let dir = TempDir::new("corrupt");
    let path = dir.db();
    let svc = service(&path, Clock::virtual_now());
    svc.start_execution("fn", Some("one"), "1".to_owned())
        .unwrap();
    drop(svc);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM operations WHERE idx = 0", [])
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.message().contains("corrupt"), "{err}");
    assert!(err.message().contains("EXECUTION record"), "{err}");
}

/// A one-step handler for the builder tests.
async fn greet(name: String, ctx: DurableContext) -> Result<String, DurableError> {
    let greeting = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("hi {name}")) })
        .name("greet")
        .await?;
    Ok(greeting)
}

/// The runner's builder records settings and builds its service at first
/// use, so the store, the clock and the service config apply in any order
/// (`.store(..).real_time()` used to run in memory: `with_real_time`
/// replaced the service and dropped the store).
#[tokio::test]
async fn runner_settings_apply_in_any_order() {
    let dir = TempDir::new("builder-order");
    let config = || ServiceConfig {
        region: "eu-west-3".to_owned(),
        ..ServiceConfig::default()
    };
    for label in [
        "store-config-clock",
        "clock-store-config",
        "config-clock-store",
    ] {
        let path = dir.0.join(format!("{label}.sqlite"));
        let (runner, store) = (LocalRunner::new(greet), Box::new(open(&path)));
        let runner = match label {
            "store-config-clock" => runner.store(store).service_config(config()).real_time(),
            "clock-store-config" => runner.real_time().store(store).service_config(config()),
            _ => runner.service_config(config()).real_time().store(store),
        };
        assert!(
            !runner.service().clock().is_virtual(),
            "{label}: real clock"
        );
        let exec = runner.start("Ada".to_owned()).name("ada").await.unwrap();
        assert_eq!(exec.status(), ExecutionStatus::Succeeded, "{label}");
        assert!(
            exec.arn().starts_with("arn:aws:lambda:eu-west-3:"),
            "{label}: {}",
            exec.arn()
        );
        let arn = exec.arn().to_owned();
        drop(runner);
        let store = open(&path);
        let stored = store
            .get(&arn)
            .unwrap_or_else(|| panic!("{label}: not in the file"));
        assert_eq!(stored.status(), &ExecutionStatus::Succeeded, "{label}");
    }
}

/// A service given whole keeps its own clock, store and config: setting
/// them on the runner too is a mistake that every run reports.
#[tokio::test]
async fn runner_settings_on_a_given_service_are_refused() {
    let service = LocalService::new(Clock::virtual_now());
    let runner = LocalRunner::with_service(greet, service).real_time();
    let err = runner.run("Ada".to_owned()).await.unwrap_err();
    assert!(matches!(err, LocalError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("LocalRunner::clock"), "{err}");
    assert!(err.to_string().contains("with_service"), "{err}");
}
