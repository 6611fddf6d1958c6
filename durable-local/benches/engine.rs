#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! Engine benchmarks: the cost of a new step (written with the builder API
//! and with `#[durable_step]`), of a replayed step, and the throughput of
//! short executions on `LocalRunner`.
//!
//! ```sh
//! cargo bench -p durable-local --bench engine
//! ```
//!
//! Each workload runs several times; the best and median runs are printed,
//! the way `BENCHMARKS.md` reports them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use durable_core::wire::{OperationAction, OperationType, OperationUpdate};
use durable_core::{DurableContext, DurableError, StepContext, StepError};
use durable_local::{Clock, LocalRunner, LocalService, durable_execution, durable_step};

#[path = "engine/fan_out.rs"]
mod fan_out;

const RUNS: usize = 7;

fn summarize(label: &str, unit: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let best = samples[0];
    let median = samples[samples.len() / 2];
    println!("{label:<48} best {best:>10.3} {unit}   median {median:>10.3} {unit}");
}

async fn sequential_steps(n: u64) -> f64 {
    let handler = move |_: serde_json::Value, ctx: DurableContext| async move {
        let mut sum = 0u64;
        for i in 0..n {
            sum += ctx
                .step(move |_| async move { Ok::<_, StepError>(i) })
                .await?;
        }
        Ok::<_, DurableError>(sum)
    };
    let runner = LocalRunner::new(handler);
    let started = Instant::now();
    let exec = runner.run(serde_json::Value::Null).await.expect("run");
    let elapsed = started.elapsed();
    assert_eq!(exec.result::<u64>().expect("result"), Some(n * (n - 1) / 2));
    elapsed.as_secs_f64() * 1e6 / n as f64
}

/// The 1,000-sequential-steps workload written three ways, interleaved so
/// that the machine's noise falls on all three alike.
async fn new_step_variants(runs: usize) {
    let (mut builder, mut named, mut macros) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        builder.push(sequential_steps(1_000).await);
        named.push(sequential_named_steps(1_000).await);
        macros.push(sequential_macro_steps(1_000).await);
    }
    println!("new step (1,000 sequential steps), {runs} interleaved runs each");
    summarize("builder API, unnamed closure", "µs/step", builder);
    summarize("builder API, closure named", "µs/step", named);
    summarize("#[durable_step] + #[durable_execution]", "µs/step", macros);
}

/// The same workload with the closure named like the macro's step, which
/// records its name with every checkpoint.
async fn sequential_named_steps(n: u64) -> f64 {
    let handler = move |_: serde_json::Value, ctx: DurableContext| async move {
        let mut sum = 0u64;
        for i in 0..n {
            sum += ctx
                .step(move |_| async move { Ok::<_, StepError>(i) })
                .name("number")
                .await?;
        }
        Ok::<_, DurableError>(sum)
    };
    time_sequential(LocalRunner::new(handler), n).await
}

/// The step of the macro workload.
#[durable_step]
async fn number(_step: StepContext, i: u64) -> Result<u64, StepError> {
    Ok(i)
}

/// The macro workload's handler: `n` steps `number(i)` in sequence.
#[durable_execution]
async fn macro_steps(n: u64, ctx: DurableContext) -> Result<u64, DurableError> {
    let mut sum = 0u64;
    for i in 0..n {
        sum += ctx.step(number(i)).await?;
    }
    Ok(sum)
}

/// The same workload written with `#[durable_step]` and `#[durable_execution]`.
async fn sequential_macro_steps(n: u64) -> f64 {
    let runner = LocalRunner::new(macro_steps);
    let started = Instant::now();
    let exec = runner.run(n).await.expect("run");
    let elapsed = started.elapsed();
    assert_eq!(exec.result::<u64>().expect("result"), Some(n * (n - 1) / 2));
    elapsed.as_secs_f64() * 1e6 / n as f64
}

async fn time_sequential<H>(runner: LocalRunner<H, serde_json::Value, u64>, n: u64) -> f64
where
    H: durable_core::DurableHandler<serde_json::Value, u64>,
{
    let started = Instant::now();
    let exec = runner.run(serde_json::Value::Null).await.expect("run");
    let elapsed = started.elapsed();
    assert_eq!(exec.result::<u64>().expect("result"), Some(n * (n - 1) / 2));
    elapsed.as_secs_f64() * 1e6 / n as f64
}

async fn replayed_steps(n: u64) -> f64 {
    // The handler times its own replay: from its start to the wait, in the
    // invocation that resumes after the wait.
    let timings: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let handler = {
        let timings = timings.clone();
        move |_: serde_json::Value, ctx: DurableContext| {
            let timings = timings.clone();
            async move {
                let started = Instant::now();
                let mut sum = 0u64;
                for i in 0..n {
                    sum += ctx
                        .step(move |_| async move { Ok::<_, StepError>(i) })
                        .await?;
                }
                timings.lock().expect("lock").push(started.elapsed());
                ctx.wait(Duration::from_secs(60)).await;
                Ok::<_, DurableError>(sum)
            }
        }
    };
    let runner = LocalRunner::new(handler);
    let exec = runner.run(serde_json::Value::Null).await.expect("run");
    assert_eq!(exec.invocations(), 2);
    let timings = timings.lock().expect("lock");
    // timings[0]: the first invocation ran the steps; timings[1]: the replay.
    timings[1].as_secs_f64() * 1e6 / n as f64
}

async fn three_step_executions(executions: u32) -> f64 {
    let handler = |name: String, ctx: DurableContext| async move {
        let a = ctx.step(|_| async { Ok::<_, StepError>(1u32) }).await?;
        let b = ctx
            .step(move |_| async move { Ok::<_, StepError>(a + 1) })
            .await?;
        let c = ctx
            .step(move |_| async move { Ok::<_, StepError>(format!("{name}-{b}")) })
            .await?;
        Ok::<_, DurableError>(c)
    };
    let runner = LocalRunner::new(handler).retain_finished(false);
    let started = Instant::now();
    for _ in 0..executions {
        let exec = runner.run("x").await.expect("run");
        debug_assert_eq!(
            exec.result::<String>().ok().flatten().as_deref(),
            Some("x-2")
        );
    }
    f64::from(executions) / started.elapsed().as_secs_f64()
}

/// The service alone: one START+SUCCEED checkpoint per step, no SDK.
fn service_checkpoints(n: u64) -> f64 {
    let service = LocalService::new(Clock::virtual_now());
    let started = service
        .start_execution("fn", None, "{}".to_owned())
        .expect("start");
    let invocation = service.begin_invocation(&started.arn).expect("invocation");
    let mut token = invocation.input.checkpoint_token.expect("token");
    let ids: Vec<String> = (1..=n)
        .map(|i| durable_core::id::operation_id(None, i))
        .collect();
    let began = Instant::now();
    for id in ids {
        let mut start =
            OperationUpdate::new(id.clone(), OperationType::Step, OperationAction::Start);
        start.sub_type = Some("Step".to_owned());
        let mut done = OperationUpdate::new(id, OperationType::Step, OperationAction::Succeed);
        done.sub_type = Some("Step".to_owned());
        done.payload = Some("42".to_owned());
        let response = service
            .checkpoint_now(&started.arn, &token, vec![start, done])
            .expect("checkpoint");
        token = response.checkpoint_token.expect("token");
    }
    began.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    // `… --bench engine -- profile new|replay|named|macro` runs one workload
    // once, for valgrind: `new` is 10,000 new steps; `replay` is the same
    // 10,000 steps plus their replay after a wait, so the difference is the
    // replay cost; `named` and `macro` are `new` with named closures and
    // with `#[durable_step]`.
    let args: Vec<String> = std::env::args().collect();
    // `… --bench engine -- map` runs only the map workloads (issue 5);
    // `… -- map profile` runs the map on LocalRunner once, for valgrind.
    if args.iter().any(|a| a == "map") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        if args.iter().any(|a| a == "profile") {
            runtime.block_on(fan_out::profile());
        } else {
            runtime.block_on(fan_out::report(RUNS));
        }
        return;
    }
    // `… --bench engine -- steps` runs only the new-step workloads (builder
    // API, named builder, macros), interleaved, 31 times each.
    if args.iter().any(|a| a == "steps") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(new_step_variants(31));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "profile") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            match args.get(at + 1).map(String::as_str) {
                Some("replay") => println!("replayed step {:.3} µs", replayed_steps(10_000).await),
                Some("named") => println!(
                    "new named step {:.3} µs",
                    sequential_named_steps(10_000).await
                ),
                Some("macro") => println!(
                    "new macro step {:.3} µs",
                    sequential_macro_steps(10_000).await
                ),
                _ => println!("new step {:.3} µs", sequential_steps(10_000).await),
            }
        });
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("durable-local engine benchmarks ({RUNS} runs each)");
        let mut new_step = Vec::new();
        let mut new_named_step = Vec::new();
        let mut new_macro_step = Vec::new();
        let mut replay = Vec::new();
        let mut throughput = Vec::new();
        let mut service = Vec::new();
        for _ in 0..RUNS {
            service.push(service_checkpoints(100_000));
            new_step.push(sequential_steps(1_000).await);
            new_named_step.push(sequential_named_steps(1_000).await);
            new_macro_step.push(sequential_macro_steps(1_000).await);
            replay.push(replayed_steps(10_000).await);
            throughput.push(three_step_executions(20_000).await);
        }
        summarize("service only: START+SUCCEED checkpoint", "µs/step", service);
        summarize("new step (1,000 sequential steps)", "µs/step", new_step);
        summarize("  same, closure steps named", "µs/step", new_named_step);
        summarize(
            "  same, #[durable_step] + #[durable_execution]",
            "µs/step",
            new_macro_step,
        );
        summarize(
            "replayed step (10,000 done steps, after a wait)",
            "µs/step",
            replay,
        );
        // For throughput the best run is the highest.
        let mut t = throughput.clone();
        t.sort_by(|a, b| b.total_cmp(a));
        println!(
            "{:<48} best {:>10.0} exec/s    median {:>10.0} exec/s",
            "3-step executions (20,000 per run)",
            t[0],
            t[t.len() / 2]
        );
        fan_out::report(RUNS).await;
    });
}
