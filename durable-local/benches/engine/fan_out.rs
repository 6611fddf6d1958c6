//! Map and parallel (issue 5): a map over 1,000 items at max concurrency
//! 10, one step each.
//!
//! - On `LocalRunner`: the wall time of the run (and, for comparison, of the
//!   same map with FLAT nesting, which records no item contexts).
//! - The same execution driven through the public service API
//!   (`LocalService::begin_invocation` / `durable_core::run_invocation` /
//!   `complete_invocation`, which is what `LocalRunner` does) with a
//!   [`Instrumented`] backend around the service: the number of checkpoint
//!   calls and updates. `LocalRunner` cannot take a wrapped backend (it
//!   always checkpoints into its `LocalService` directly), hence this driver.
//! - The same again with 10 ms added to every checkpoint call: the wall time
//!   against the lower bound (items ÷ concurrency) × one round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use durable_core::wire::{CheckpointResponse, ExecutionState, ExecutionStatus, OperationUpdate};
use durable_core::{
    Backend, BackendError, BoxFuture, DurableContext, DurableError, InvocationConfig, Nesting,
    StepError,
};
use durable_local::{Clock, InvocationResult, LocalRunner, LocalService, NextStep};

/// Items of the workload.
pub const ITEMS: u32 = 1_000;
/// Its max concurrency.
pub const CONCURRENCY: usize = 10;
/// The round trip the slow backend adds to every checkpoint call.
pub const ROUND_TRIP: Duration = Duration::from_millis(10);

/// The handler: map over `0..ITEMS`, each item one step returning its value;
/// the result is the number of items.
fn map_handler(
    nesting: Nesting,
) -> impl Fn(serde_json::Value, DurableContext) -> BoxFuture<'static, Result<usize, DurableError>>
+ Send
+ Sync
+ 'static {
    move |_, ctx| {
        Box::pin(async move {
            let items: Vec<u32> = (0..ITEMS).collect();
            let batch = ctx
                .map(items, |item: DurableContext, value: u32, _| async move {
                    item.step(move |_| async move { Ok::<_, StepError>(value) })
                        .await
                })
                .max_concurrency(CONCURRENCY)
                .nesting(nesting)
                .await?;
            Ok(batch.into_result()?.len())
        })
    }
}

/// A backend around the local service that counts checkpoint calls (and
/// the updates in them) and adds `delay` to each call.
pub struct Instrumented {
    inner: LocalService,
    delay: Duration,
    calls: AtomicUsize,
    updates: AtomicUsize,
    /// Time spent inside checkpoint calls, in µs.
    busy_us: AtomicUsize,
}

impl Instrumented {
    fn new(inner: LocalService, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            calls: AtomicUsize::new(0),
            updates: AtomicUsize::new(0),
            busy_us: AtomicUsize::new(0),
        }
    }
}

impl Backend for Instrumented {
    fn checkpoint<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
        Box::pin(async move {
            let began = Instant::now();
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.updates.fetch_add(updates.len(), Ordering::Relaxed);
            if !self.delay.is_zero() {
                // A blocking-pool thread sleeps to the microsecond; a tokio
                // timer would round up to its 1 ms tick and add ~1.5 ms to
                // every call on this machine, which is not the SDK's time.
                let delay = self.delay;
                tokio::task::spawn_blocking(move || std::thread::sleep(delay))
                    .await
                    .expect("sleep");
            }
            let response = self.inner.checkpoint(execution_arn, token, updates).await;
            let spent = usize::try_from(began.elapsed().as_micros()).unwrap_or(usize::MAX);
            self.busy_us.fetch_add(spent, Ordering::Relaxed);
            response
        })
    }

    fn get_state<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
        self.inner.get_state(execution_arn, token, marker)
    }
}

/// One run through the instrumented backend.
pub struct Measured {
    /// Wall time of the execution (start to end, every invocation).
    pub wall: Duration,
    /// Checkpoint calls.
    pub calls: usize,
    /// Updates sent.
    pub updates: usize,
    /// Mean time of one checkpoint call.
    pub mean_call: Duration,
}

/// Runs the workload once on `LocalRunner`; returns the wall time.
pub async fn on_local_runner(nesting: Nesting) -> Duration {
    let runner = LocalRunner::new(map_handler(nesting)).retain_finished(false);
    let started = Instant::now();
    let exec = runner.run(serde_json::Value::Null).await.expect("run");
    let elapsed = started.elapsed();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<usize>().expect("result"),
        Some(ITEMS as usize)
    );
    elapsed
}

/// Runs the workload once through [`Instrumented`] adding `delay` to every
/// checkpoint call, driving the invocations the way `LocalRunner` does.
pub async fn through_backend(delay: Duration) -> Measured {
    let service = LocalService::new(Clock::virtual_now());
    let backend = Arc::new(Instrumented::new(service.clone(), delay));
    let as_backend: Arc<dyn Backend> = backend.clone();
    let config = InvocationConfig::default();
    let handler = map_handler(Nesting::Nested);
    let started = Instant::now();
    let arn = service
        .start_execution("fan-out", None, "null".to_owned())
        .expect("start")
        .arn;
    loop {
        match service.next_step(&arn).expect("next step") {
            NextStep::Invoke => {
                let invocation = service.begin_invocation(&arn).expect("invocation");
                let result = match durable_core::run_invocation(
                    &handler,
                    invocation.input,
                    as_backend.clone(),
                    &config,
                )
                .await
                {
                    Ok(output) => InvocationResult::Output(output),
                    Err(error) => InvocationResult::Failed(error.to_error_object()),
                };
                service.complete_invocation(&arn, result).expect("complete");
            }
            NextStep::Finished(status) => {
                assert_eq!(status, ExecutionStatus::Succeeded);
                break;
            }
            other => unreachable!("the map workload does not wait: {other:?}"),
        }
    }
    let wall = started.elapsed();
    let calls = backend.calls.load(Ordering::Relaxed);
    let busy = Duration::from_micros(backend.busy_us.load(Ordering::Relaxed) as u64);
    Measured {
        wall,
        calls,
        updates: backend.updates.load(Ordering::Relaxed),
        mean_call: busy / u32::try_from(calls.max(1)).unwrap_or(u32::MAX),
    }
}

/// The lower bound of the slow run: (items ÷ concurrency) × one round trip.
pub fn lower_bound() -> Duration {
    ROUND_TRIP * (ITEMS / CONCURRENCY as u32)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn best_median(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}

/// One run on `LocalRunner`, for valgrind (`… --bench engine -- map profile`).
pub async fn profile() {
    println!(
        "map on LocalRunner {:.3} ms",
        ms(on_local_runner(Nesting::Nested).await)
    );
}

/// Runs every map workload `runs` times and prints best and median.
pub async fn report(runs: usize) {
    let mut local = Vec::new();
    let mut flat = Vec::new();
    let mut fast = Vec::new();
    let mut slow = Vec::new();
    for _ in 0..runs {
        local.push(ms(on_local_runner(Nesting::Nested).await));
        flat.push(ms(on_local_runner(Nesting::Flat).await));
        fast.push(through_backend(Duration::ZERO).await);
        slow.push(through_backend(ROUND_TRIP).await);
    }
    let label = format!("map {ITEMS} items, concurrency {CONCURRENCY}, 1 step each");
    let (best, median) = best_median(local);
    println!("{label:<48} LocalRunner wall      best {best:>8.2} ms   median {median:>8.2} ms");
    let (best, median) = best_median(flat);
    println!("{label:<48} same, FLAT nesting    best {best:>8.2} ms   median {median:>8.2} ms");
    let (best, median) = best_median(fast.iter().map(|m| ms(m.wall)).collect());
    println!("{label:<48} counted backend wall  best {best:>8.2} ms   median {median:>8.2} ms");
    let (best, median) = best_median(fast.iter().map(|m| m.calls as f64).collect());
    let (ubest, umedian) = best_median(fast.iter().map(|m| m.updates as f64).collect());
    println!(
        "{label:<48} checkpoint calls      best {best:>8.0}      median {median:>8.0}      (updates {ubest:.0} / {umedian:.0})"
    );
    let bound = ms(lower_bound());
    let (best, median) = best_median(slow.iter().map(|m| ms(m.wall)).collect());
    let (cbest, cmedian) = best_median(slow.iter().map(|m| m.calls as f64).collect());
    let (rbest, rmedian) = best_median(slow.iter().map(|m| ms(m.mean_call)).collect());
    println!(
        "{label:<48} +10 ms per checkpoint best {best:>8.1} ms   median {median:>8.1} ms   bound {bound:.0} ms   ratio {:.3} / {:.3}",
        best / bound,
        median / bound
    );
    println!(
        "{label:<48} +10 ms: calls {cbest:.0} / {cmedian:.0}, mean call {rbest:.2} / {rmedian:.2} ms (best / median)"
    );
}
