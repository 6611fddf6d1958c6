#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The local service's footprint and the SQLite store's commit cost.
//!
//! ```sh
//! cargo bench -p durable-local --bench service                 # everything
//! cargo bench -p durable-local --bench service -- memory       # heap per suspended execution
//! cargo bench -p durable-local --bench service -- sqlite       # SqliteStore commits and reopening
//! ```
//!
//! Heap is counted by a counting global allocator (`stats_alloc`, which
//! wraps the system allocator): live bytes are the bytes requested minus
//! the bytes freed, so allocator headers and rounding are not included;
//! the live allocation count is printed beside it for that reason. SQLite
//! allocates through its own `malloc` (its page cache, bounded by
//! `cache_size`), which this does not see.

use std::alloc::System;
use std::time::{Duration, Instant};

use durable_core::wire::{
    InvocationOutput, OperationAction, OperationType, OperationUpdate, WaitOptions,
};
use durable_core::{DurableContext, DurableError, StepContext, StepError};
use durable_local::{
    Clock, InvocationResult, LocalRunner, LocalService, MemoryStore, NextStep, ServiceConfig,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap: (bytes, allocations) allocated and not freed since `region` began.
fn live(region: &Region<'_, System>) -> (i64, i64) {
    let change = region.change();
    let bytes = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
    let allocations = change.allocations as i64 - change.deallocations as i64;
    (bytes, allocations)
}

/// What the executions of `service` hold as payloads: the input (kept
/// twice: the execution's and the EXECUTION record's `InputPayload`), step
/// results and errors, callback results.
fn payload_bytes(service: &LocalService) -> usize {
    service
        .execution_arns()
        .iter()
        .map(|arn| {
            service
                .with_execution(arn, |exec| {
                    let records: usize = exec
                        .operations()
                        .map(|op| {
                            let input = op
                                .execution_details
                                .as_ref()
                                .and_then(|d| d.input_payload.as_ref())
                                .map_or(0, String::len);
                            let step = op
                                .step_details
                                .as_ref()
                                .map_or(0, |d| d.result.as_ref().map_or(0, String::len));
                            let callback = op
                                .callback_details
                                .as_ref()
                                .map_or(0, |d| d.result.as_ref().map_or(0, String::len));
                            input + step + callback
                        })
                        .sum();
                    exec.input().len() + records
                })
                .unwrap()
        })
        .sum()
}

fn report(label: &str, n: usize, (bytes, allocations): (i64, i64), payloads: usize) {
    let per = bytes as f64 / n as f64;
    let payload = payloads as f64 / n as f64;
    println!(
        "{label:<58} {per:>8.0} B/execution  ({payload:.0} B payloads → {:.0} B without; \
         {:.1} live allocations/execution)",
        per - payload,
        allocations as f64 / n as f64
    );
}

/// A WAIT of an hour, as the SDK would send it.
fn wait_update(id: &str) -> OperationUpdate {
    let mut wait = OperationUpdate::new(id.to_owned(), OperationType::Wait, OperationAction::Start);
    wait.sub_type = Some("Wait".to_owned());
    wait.wait_options = Some(WaitOptions { wait_seconds: 3600 });
    wait
}

/// Drives `n` executions of the service alone to suspension on a
/// callback, after a step, with the updates the SDK sends for
/// [`until_approval`].
fn suspend_on_callbacks(service: &LocalService, n: usize, prefix: &str) {
    let step_id = durable_core::id::operation_id(None, 1);
    let callback_id = durable_core::id::operation_id(None, 2);
    for i in 0..n {
        let name = format!("{prefix}-{i:06}");
        let arn = service
            .start_execution("orders", Some(&name), format!("\"{name}\""))
            .unwrap()
            .arn;
        let invocation = service.begin_invocation(&arn).unwrap();
        let mut token = invocation.input.checkpoint_token.unwrap();
        let mut start =
            OperationUpdate::new(step_id.clone(), OperationType::Step, OperationAction::Start);
        start.sub_type = Some("Step".to_owned());
        start.name = Some("validate".to_owned());
        let mut done = OperationUpdate::new(
            step_id.clone(),
            OperationType::Step,
            OperationAction::Succeed,
        );
        done.sub_type = Some("Step".to_owned());
        done.name = Some("validate".to_owned());
        done.payload = Some(format!("\"{name}\""));
        for updates in [vec![start], vec![done]] {
            token = service
                .checkpoint_now(&arn, &token, updates)
                .unwrap()
                .checkpoint_token
                .unwrap();
        }
        let mut callback = OperationUpdate::new(
            callback_id.clone(),
            OperationType::Callback,
            OperationAction::Start,
        );
        callback.sub_type = Some("Callback".to_owned());
        callback.name = Some("approval".to_owned());
        service
            .checkpoint_now(&arn, &token, vec![callback])
            .unwrap();
        let next = service
            .complete_invocation(&arn, InvocationResult::Output(InvocationOutput::pending()))
            .unwrap();
        assert_eq!(next, NextStep::Idle);
    }
}

/// Drives `n` executions of the service alone to suspension on a wait:
/// start, one invocation that checkpoints a WAIT and returns PENDING.
fn suspend_on_waits(service: &LocalService, n: usize, prefix: &str) {
    let wait_id = durable_core::id::operation_id(None, 1);
    for i in 0..n {
        let arn = service
            .start_execution(
                "orders",
                Some(&format!("{prefix}-{i:06}")),
                format!("{{\"order\":{i}}}"),
            )
            .unwrap()
            .arn;
        let invocation = service.begin_invocation(&arn).unwrap();
        let token = invocation.input.checkpoint_token.unwrap();
        service
            .checkpoint_now(&arn, &token, vec![wait_update(&wait_id)])
            .unwrap();
        let next = service
            .complete_invocation(&arn, InvocationResult::Output(InvocationOutput::pending()))
            .unwrap();
        assert!(matches!(next, NextStep::WaitUntil(_)), "{next:?}");
    }
}

/// The order workflow's shape up to its approval: one step, then a
/// callback the execution waits on.
async fn until_approval(order: String, ctx: DurableContext) -> Result<String, DurableError> {
    let validated = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(order) })
        .name("validate")
        .await?;
    let approval = ctx.create_callback::<String>("approval").await;
    let approver = approval.result().await?;
    Ok(format!("{validated} approved by {approver}"))
}

fn memory(n: usize) {
    println!("heap per suspended execution, {n} executions, MemoryStore");
    // The service alone, each execution suspended on a one-hour wait.
    let service = LocalService::with_store(
        Box::new(MemoryStore::new()),
        Clock::virtual_now(),
        ServiceConfig::default(),
    );
    suspend_on_waits(&service, 1, "warm-up");
    let region = Region::new(GLOBAL);
    suspend_on_waits(&service, n, "order");
    let used = live(&region);
    let payloads = payload_bytes(&service) - payload_bytes_of_first(&service, "warm-up");
    report("service alone, suspended on a WAIT", n, used, payloads);
    drop(service);

    // The same updates as the runner's workload below, without the SDK.
    let service = LocalService::new(Clock::virtual_now());
    suspend_on_callbacks(&service, 1, "warm-up");
    let region = Region::new(GLOBAL);
    suspend_on_callbacks(&service, n, "order");
    let used = live(&region);
    let payloads = payload_bytes(&service) - payload_bytes_of_first(&service, "warm-up");
    report(
        "service alone, a step, then suspended on a callback",
        n,
        used,
        payloads,
    );
    drop(service);

    // LocalRunner and the SDK: a step, then a callback.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let runner = LocalRunner::new(until_approval);
        runner
            .start(String::from("warm-up"))
            .name("warm-up")
            .await
            .unwrap();
        let region = Region::new(GLOBAL);
        for i in 0..n {
            let exec = runner
                .start(format!("order-{i:06}"))
                .name(format!("order-{i:06}"))
                .await
                .unwrap();
            debug_assert!(!exec.status().is_terminal());
        }
        let used = live(&region);
        let payloads =
            payload_bytes(runner.service()) - payload_bytes_of_first(runner.service(), "warm-up");
        report(
            "LocalRunner: a step, then suspended on a callback",
            n,
            used,
            payloads,
        );
    });
}

/// The payload bytes of the execution named `name` (the warm-up, made
/// before the measurement began).
fn payload_bytes_of_first(service: &LocalService, name: &str) -> usize {
    let Some(arn) = service
        .execution_arns()
        .into_iter()
        .find(|arn| arn.contains(&format!("/{name}/")))
    else {
        return 0;
    };
    service
        .with_execution(&arn, |exec| {
            exec.input().len()
                + exec
                    .operations()
                    .map(|op| {
                        op.execution_details
                            .as_ref()
                            .and_then(|d| d.input_payload.as_ref())
                            .map_or(0, String::len)
                            + op.step_details
                                .as_ref()
                                .and_then(|d| d.result.as_ref())
                                .map_or(0, String::len)
                    })
                    .sum::<usize>()
        })
        .unwrap()
}

/// A fresh store file in the target directory (on disk, not a tmpfs).
#[cfg(feature = "sqlite")]
fn store_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("durable-local-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[cfg(feature = "sqlite")]
fn remove_store(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// `k` checkpoints of one new step each (START and SUCCEED in one call)
/// into one execution of `service`; the latencies in order.
fn step_checkpoints(service: &LocalService, k: usize) -> Vec<Duration> {
    let arn = service
        .start_execution("orders", None, "{}".to_owned())
        .unwrap()
        .arn;
    let invocation = service.begin_invocation(&arn).unwrap();
    let mut token = invocation.input.checkpoint_token.unwrap();
    let mut latencies = Vec::with_capacity(k);
    for i in 1..=k as u64 {
        let id = durable_core::id::operation_id(None, i);
        let mut start =
            OperationUpdate::new(id.clone(), OperationType::Step, OperationAction::Start);
        start.sub_type = Some("Step".to_owned());
        let mut done = OperationUpdate::new(id, OperationType::Step, OperationAction::Succeed);
        done.sub_type = Some("Step".to_owned());
        done.payload = Some(i.to_string());
        let began = Instant::now();
        let response = service
            .checkpoint_now(&arn, &token, vec![start, done])
            .unwrap();
        latencies.push(began.elapsed());
        token = response.checkpoint_token.unwrap();
    }
    latencies
}

fn summarize_latencies(label: &str, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let total: Duration = sorted.iter().sum();
    let mean = total / sorted.len() as u32;
    println!(
        "{label:<58} {:>9.0} checkpoints/s  mean {:>8.1} µs  p50 {:>8.1} µs  p99 {:>8.1} µs",
        sorted.len() as f64 / total.as_secs_f64(),
        mean.as_secs_f64() * 1e6,
        percentile(&sorted, 0.5).as_secs_f64() * 1e6,
        percentile(&sorted, 0.99).as_secs_f64() * 1e6,
    );
}

#[cfg(feature = "sqlite")]
fn sqlite(k: usize, suspended: usize) {
    use durable_local::{ExecutionStore, SqliteStore};

    println!(
        "SqliteStore (WAL, synchronous=FULL), file under {}",
        env!("CARGO_TARGET_TMPDIR")
    );

    let path = store_path("commits");
    let service = LocalService::with_store(
        Box::new(SqliteStore::open(&path).unwrap()),
        Clock::virtual_now(),
        ServiceConfig::default(),
    );
    let latencies = step_checkpoints(&service, 2 * k);
    let (first, second) = latencies.split_at(k);
    summarize_latencies(
        &format!("SqliteStore: one-step checkpoint, records 1–{k}"),
        first,
    );
    summarize_latencies(
        &format!(
            "SqliteStore: one-step checkpoint, records {}–{}",
            k + 1,
            2 * k
        ),
        second,
    );
    drop(service);
    remove_store(&path);

    // Suspended executions in a SqliteStore: the heap of the in-memory
    // copy, then the time to reopen the file.
    let path = store_path("suspended");
    let service = LocalService::with_store(
        Box::new(SqliteStore::open(&path).unwrap()),
        Clock::virtual_now(),
        ServiceConfig::default(),
    );
    suspend_on_waits(&service, 1, "warm-up");
    let region = Region::new(GLOBAL);
    let began = Instant::now();
    suspend_on_waits(&service, suspended, "order");
    let elapsed = began.elapsed();
    let used = live(&region);
    let payloads = payload_bytes(&service) - payload_bytes_of_first(&service, "warm-up");
    report(
        "SqliteStore heap, suspended on a WAIT",
        suspended,
        used,
        payloads,
    );
    println!(
        "{:<58} {:>8.2} ms/execution (insert, invocation, WAIT checkpoint, PENDING: 4 transactions)",
        "SqliteStore: suspending an execution",
        elapsed.as_secs_f64() * 1e3 / suspended as f64
    );
    drop(service);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len())
        + std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    println!(
        "{:<58} {:>8.0} B/execution on disk (database + WAL)",
        "SqliteStore: file size",
        size as f64 / (suspended + 1) as f64
    );
    let began = Instant::now();
    let store = SqliteStore::open(&path).unwrap();
    let opened = began.elapsed();
    assert_eq!(store.arns().len(), suspended + 1);
    let service = LocalService::with_store(
        Box::new(store),
        Clock::virtual_now(),
        ServiceConfig::default(),
    );
    let recovered = began.elapsed();
    println!(
        "{:<58} {:>8.1} ms to open and load, {:.1} ms with the service's recovery",
        format!(
            "SqliteStore: reopening {} suspended executions",
            suspended + 1
        ),
        opened.as_secs_f64() * 1e3,
        recovered.as_secs_f64() * 1e3
    );
    drop(service);
    remove_store(&path);
}

/// The same checkpoints into `MemoryStore`, for comparison.
fn memory_checkpoints(k: usize) {
    let memory = LocalService::new(Clock::virtual_now());
    summarize_latencies(
        &format!("MemoryStore: one-step checkpoint ({k} in one execution)"),
        &step_checkpoints(&memory, k),
    );
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_: usize, _: usize) {
    println!("SqliteStore: built without the `sqlite` feature");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only = |what: &str| args.iter().any(|a| a == what);
    let all = !only("memory") && !only("sqlite");
    if all || only("memory") {
        memory(10_000);
    }
    if all || only("sqlite") {
        memory_checkpoints(1_000);
        sqlite(1_000, 1_000);
    }
}
