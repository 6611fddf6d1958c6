//! The main example: the order workflow of DESIGN.md
//! (`durable_examples::order_processing`) on the local durable execution
//! service, as a real service runs it.
//!
//! ```sh
//! cargo run -p durable-examples --bin order_processing              # a simulated approver answers
//! cargo run -p durable-examples --bin order_processing -- --manual  # you answer, from another terminal
//! ```
//!
//! The program serves the workflow on `durable dev` (Lambda's durable
//! execution API on 127.0.0.1:9014, real clock) over a SQLite store in
//! `.durable/order_processing.sqlite`, starts the execution `order-o-1001`
//! by name and prints each step as it happens. The workflow suspends on its
//! approval callback; an approver completes the callback over HTTP with
//! aws-sdk-lambda (`SendDurableExecutionCallbackSuccess`), as an external
//! system would; the payment step fails twice and is retried with
//! exponential back-off; the result and the step timeline close the run.
//!
//! Executions are started by name and kept on disk: stop the program with
//! Ctrl-C and run it again, and it resumes the same execution; once it has
//! finished, running it again prints its result and timeline (`--fresh` or
//! another `--order` runs a new one).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use durable_dev::{DevConfig, DevError, DevServer, FunctionTarget, StatusEvent};
use durable_examples::order_processing::{
    Approval, ApprovalRequest, FUNCTION_NAME, OrderRequest, handler, local_client,
    next_approval_request,
};
use durable_lambda::wire::{Event, EventType, ExecutionStatus, OperationStatus};
use durable_local::{Clock, LocalError, LocalRunner, LocalService, ServiceConfig, SqliteStore};
use tokio::sync::broadcast;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

type BoxError = Box<dyn std::error::Error>;

/// Runs the order workflow of DESIGN.md on the local durable execution
/// service, with a SQLite store and the `durable dev` API.
#[derive(Debug, Parser)]
#[command(after_help = "\
Ctrl-C stops the program; running it again with the same --order resumes the same execution.")]
struct Args {
    /// The order to process; its execution is named `order-<ID>`.
    #[arg(long, value_name = "ID", default_value = "o-1001")]
    order: String,
    /// The SQLite file executions are kept in (created if missing).
    #[arg(
        long,
        value_name = "PATH",
        default_value = ".durable/order_processing.sqlite"
    )]
    db: PathBuf,
    /// The port of the durable execution API on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = durable_dev::DEFAULT_PORT)]
    port: u16,
    /// Approve the order yourself, with `durable callback succeed` from
    /// another terminal, instead of the simulated approver.
    #[arg(long)]
    manual: bool,
    /// How long the simulated approver takes to answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    approve_after: f64,
    /// Forget an earlier execution of this order and run it again.
    #[arg(long)]
    fresh: bool,
}

// One thread: the server, the workflow and this program's output take
// turns, so the lines come out in the order things happen.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order_processing: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let console = Console::new();
    init_logging(console.clone());

    let request = OrderRequest::new(args.order.clone());
    let name = request.execution_name();
    let input = serde_json::to_string(&request)?;

    let store = SqliteStore::open(&args.db).map_err(|e| {
        format!(
            "{e} (is another order_processing or durable dev using it? try --db <another file>)"
        )
    })?;
    let service =
        LocalService::with_store(Box::new(store), Clock::real(), ServiceConfig::default());
    println!("order_processing: the order workflow of DESIGN.md on the local durable engine");
    println!("  store      {}", args.db.display());

    // An execution of this order from an earlier run?
    let mut resuming = false;
    if let Some(arn) = service.find_by_name(FUNCTION_NAME, &name) {
        let (status, started) =
            service.with_execution(&arn, |exec| (exec.status().clone(), exec.start_timestamp()))?;
        if args.fresh {
            service.remove_execution(&arn);
            println!("  --fresh    forgot the earlier {name} ({status})");
        } else if status.is_terminal() {
            println!(
                "\n{name} has already run ({status}, started {}):\n",
                ago(started)
            );
            report(&service, &arn)?;
            println!(
                "Its name finds this execution again; run a new one with --fresh, or another \
                 --order <id>."
            );
            return Ok(());
        } else {
            resuming = true;
            println!("\nresuming {name} ({status}, started {})", ago(started));
        }
    }

    let bind = SocketAddr::from(([127, 0, 0, 1], args.port));
    let config = DevConfig {
        bind,
        ..DevConfig::default()
    };
    let server = match DevServer::start(service, config).await {
        Ok(server) => server,
        Err(DevError::Bind { source, .. }) => {
            return Err(format!(
                "cannot listen on {bind}: {source} (is another order_processing or durable dev \
                 running? --port 0 picks a free port)"
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut events = server.subscribe();
    server
        .add_function(FUNCTION_NAME, FunctionTarget::handler(handler))
        .await?;
    let endpoint = server.endpoint().to_owned();
    println!("  API        {endpoint} (durable dev: Lambda's durable execution API)");
    println!("  function   {FUNCTION_NAME}");

    // Idempotent by name: when the store holds an execution of this name
    // (and input), starting it again finds that one.
    if !resuming {
        println!("\nstarting {name}");
    }
    let arn = server
        .start_execution(FUNCTION_NAME, Some(&name), input)?
        .arn;
    console.follow(HistoryTail::new(server.service(), &arn)?);
    if resuming {
        describe_progress(&console, server.service(), &arn)?;
    }

    let approver = {
        let console = console.clone();
        let service = server.service().clone();
        let arn = arn.clone();
        let endpoint = endpoint.clone();
        let delay = Duration::try_from_secs_f64(args.approve_after).unwrap_or(Duration::ZERO);
        let manual = args.manual;
        tokio::spawn(async move {
            if let Err(e) = approve(&console, &service, &arn, &endpoint, manual, delay).await {
                console.say("approver", format!("gave up: {e}"));
            }
        })
    };

    // Follow the execution until it ends or the user stops the program.
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let ended = loop {
        tokio::select! {
            _ = &mut interrupt => break false,
            event = events.recv() => print_status(&console, &event),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                console.flush();
                if server.service().with_execution(&arn, |e| e.status().is_terminal())? {
                    break true;
                }
            }
        }
    };
    approver.abort();
    while let Ok(event) = events.try_recv() {
        print_status(&console, &Ok(event));
    }
    console.flush();

    if ended {
        println!();
        report(server.service(), &arn)?;
        println!(
            "Running this command again prints this execution again (started by name, kept in \
             {}); --fresh or another --order <id> runs a new one.",
            args.db.display()
        );
    } else {
        println!(
            "\n\ninterrupted: {name} stays RUNNING in {}; run the same command again to resume it.",
            args.db.display()
        );
    }
    server.shutdown().await;
    Ok(())
}

/// The approver: waits for the approval request, then either answers it
/// over HTTP after `delay`, as an external system would, or (`manual`)
/// tells the user how to answer it.
async fn approve(
    console: &Console,
    service: &LocalService,
    arn: &str,
    endpoint: &str,
    manual: bool,
    delay: Duration,
) -> Result<(), BoxError> {
    let Some(ApprovalRequest {
        order_id,
        approver,
        callback_id,
    }) = next_approval_request(service, arn).await?
    else {
        return Ok(());
    };
    if manual {
        let args = format!(
            "callback succeed {callback_id} '{{\"approved\":true}}' --endpoint-url {endpoint}"
        );
        console.say(
            "approver",
            format!(
                "{approver} is you: approve {order_id} from another terminal with\n\n    \
                 durable {args}\n\n  \
                 or, without `durable` installed (cargo install --path durable-cli),\n\n    \
                 cargo run -p durable-cli --bin durable -- {args}\n\n  \
                 ('{{\"approved\":false}}' rejects the order. Ctrl-C stops this program; running it \
                 again resumes the same execution.)\n"
            ),
        );
        return Ok(());
    }
    console.say(
        "approver",
        format!(
            "{approver} received the request for {order_id} (callback {callback_id}); answering in {:.1}s",
            delay.as_secs_f64()
        ),
    );
    tokio::time::sleep(delay).await;
    let answer = Approval {
        approved: true,
        approver: Some(approver),
    };
    console.say(
        "approver",
        format!(
            "SendDurableExecutionCallbackSuccess {} to {endpoint}",
            serde_json::to_string(&answer)?
        ),
    );
    local_client(endpoint)
        .send_callback_success(&callback_id, &answer)
        .await?;
    Ok(())
}

/// Prints the outcome, the result or error, and the step timeline.
fn report(service: &LocalService, arn: &str) -> Result<(), LocalError> {
    // A runner over the same service gives the snapshot its timeline.
    let execution = LocalRunner::with_service(handler, service.clone()).execution(arn)?;
    let took = execution
        .end_timestamp()
        .map(|end| format!(" in {}", seconds(end - execution.start_timestamp())))
        .unwrap_or_default();
    println!(
        "{} {}{took}, {} invocations",
        execution.name(),
        execution.status(),
        execution.invocations()
    );
    match (
        execution.status(),
        execution.result_payload(),
        execution.error(),
    ) {
        (ExecutionStatus::Succeeded, Some(result), _) => println!("result: {result}"),
        (_, _, Some(error)) => println!("error: {error}"),
        _ => {}
    }
    println!("\n{}", execution.timeline());
    Ok(())
}

fn print_status(console: &Console, event: &Result<StatusEvent, broadcast::error::RecvError>) {
    if let Ok(event) = event {
        console.say(
            "status",
            format!("{} (status-change event)", event.status()),
        );
    }
}

/// Where the execution stands when the program picks it up again.
fn describe_progress(
    console: &Console,
    service: &LocalService,
    arn: &str,
) -> Result<(), LocalError> {
    let done: Vec<String> = service.with_execution(arn, |exec| {
        exec.operations()
            .filter(|op| op.parent_id.is_none() && op.status == OperationStatus::Succeeded)
            .filter_map(|op| op.name.clone())
            .collect()
    })?;
    if !done.is_empty() {
        console.say(
            "service",
            format!("done before, not run again: {}", done.join(", ")),
        );
    }
    for callback in service.open_callbacks(arn)? {
        console.say(
            "service",
            format!(
                "waiting on callback {} ({})",
                callback.name.unwrap_or_default(),
                callback.callback_id
            ),
        );
    }
    Ok(())
}

/// What the service records about one execution, read as it happens:
/// failed attempts and their back-off, callbacks completing, invocations
/// ending.
struct HistoryTail {
    service: LocalService,
    arn: String,
    seen: usize,
    invocations: u32,
}

impl HistoryTail {
    /// Starts after what is already recorded.
    fn new(service: &LocalService, arn: &str) -> Result<Self, LocalError> {
        let (seen, invocations) =
            service.with_execution(arn, |exec| (exec.event_count(), exec.invocations()))?;
        Ok(Self {
            service: service.clone(),
            arn: arn.to_owned(),
            seen,
            invocations,
        })
    }

    /// Prints the events recorded since the last call.
    fn print_new(&mut self, console: &Console) -> Result<(), LocalError> {
        let (events, running) = self.service.with_execution(&self.arn, |exec| {
            let events: Vec<Event> = (self.seen..exec.event_count())
                .filter_map(|i| exec.event(i))
                .collect();
            (events, !exec.status().is_terminal())
        })?;
        self.seen += events.len();
        for (i, event) in events.iter().enumerate() {
            let at = event.event_timestamp;
            let name = event.name.as_deref().unwrap_or("");
            match event.event_type {
                EventType::StepFailed => {
                    let Some(details) = &event.step_failed_details else {
                        continue;
                    };
                    let error = details
                        .error
                        .payload
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let retry = details.retry_details.as_ref();
                    let attempt = retry.map_or(1, |r| r.current_attempt);
                    let next = match retry.and_then(|r| r.next_attempt_delay_seconds) {
                        Some(secs) => format!("retry in {secs}s (exponential back-off)"),
                        None => "no attempts left".to_owned(),
                    };
                    console.line(
                        at,
                        "service",
                        format!("{name} attempt {attempt} failed ({error}): {next}"),
                    );
                }
                EventType::CallbackSucceeded => {
                    let result = event
                        .callback_succeeded_details
                        .as_ref()
                        .and_then(|d| d.result.payload.as_deref())
                        .unwrap_or("");
                    console.line(
                        at,
                        "service",
                        format!("callback {name} completed: {result}"),
                    );
                }
                EventType::CallbackFailed | EventType::CallbackTimedOut => {
                    let details = event
                        .callback_failed_details
                        .as_ref()
                        .or(event.callback_timed_out_details.as_ref());
                    let error = details
                        .and_then(|d| d.error.payload.as_ref())
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    console.line(at, "service", format!("callback {name} failed: {error}"));
                }
                EventType::InvocationCompleted => {
                    self.invocations += 1;
                    let failed = event
                        .invocation_completed_details
                        .as_ref()
                        .and_then(|d| d.error.as_ref())
                        .and_then(|e| e.payload.as_ref());
                    let ends_execution = match events.get(i + 1) {
                        Some(next) => is_execution_end(&next.event_type),
                        None => !running,
                    };
                    let how = match (failed, ends_execution) {
                        (Some(error), _) => format!("failed ({error}); invoked again"),
                        (None, true) => "returned the result".to_owned(),
                        (None, false) => {
                            "returned PENDING: suspended, nothing runs until the service invokes it again"
                                .to_owned()
                        }
                    };
                    console.line(
                        at,
                        "service",
                        format!("invocation {} {how}", self.invocations),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn is_execution_end(event_type: &EventType) -> bool {
    matches!(
        event_type,
        EventType::ExecutionSucceeded
            | EventType::ExecutionFailed
            | EventType::ExecutionTimedOut
            | EventType::ExecutionStopped
    )
}

/// Where the run's lines go: one per thing that happens, with the time
/// since the program started. Before each line, what the service recorded
/// meanwhile is printed, so that a callback completing comes before the
/// workflow going on.
#[derive(Clone)]
struct Console {
    start_ms: i64,
    tail: Arc<Mutex<Option<HistoryTail>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Console {
    fn new() -> Self {
        Self {
            start_ms: now_ms(),
            tail: Arc::default(),
        }
    }

    /// Prints what the service records about `tail`'s execution from now on.
    fn follow(&self, tail: HistoryTail) {
        *self.lock() = Some(tail);
    }

    fn lock(&self) -> MutexGuard<'_, Option<HistoryTail>> {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prints what the service recorded since the last look.
    fn flush(&self) {
        let mut tail = self.lock();
        if let Some(tail) = tail.as_mut() {
            // An execution that vanished has nothing more to say.
            let _ = tail.print_new(self);
        }
    }

    /// A line from `who`, now, after what the service recorded meanwhile.
    fn say(&self, who: &str, what: impl std::fmt::Display) {
        self.flush();
        self.line(now_ms(), who, what);
    }

    /// A line from `who` at epoch-ms `at_ms`.
    fn line(&self, at_ms: i64, who: &str, what: impl std::fmt::Display) {
        #[allow(clippy::cast_precision_loss)]
        let secs = (at_ms - self.start_ms).max(0) as f64 / 1000.0;
        println!("{secs:>6.1}s  {who:<18} {what}");
    }
}

/// The workflow's log lines (the SDK's replay-aware logger, target
/// `durable`) as console lines named after their step; other crates' errors
/// too. With RUST_LOG set, everything it selects also goes to stderr.
fn init_logging(console: Console) {
    let verbose = std::env::var_os("RUST_LOG").is_some().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    let _ = tracing_subscriber::registry()
        .with(ConsoleLayer(console))
        .with(verbose)
        .try_init();
}

struct ConsoleLayer(Console);

impl<S: tracing::Subscriber> Layer<S> for ConsoleLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let workflow = meta.target() == durable_lambda::LOG_TARGET;
        let shown = if workflow {
            *meta.level() <= tracing::Level::INFO
        } else {
            *meta.level() == tracing::Level::ERROR
        };
        if !shown {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let who = match (workflow, fields.operation_name) {
            (true, Some(step)) => step,
            (true, None) => "workflow".to_owned(),
            (false, _) => format!("error ({})", meta.target()),
        };
        if workflow {
            self.0.say(&who, fields.message);
        } else {
            // Possibly under the engine's lock: no look at the history.
            self.0.line(now_ms(), &who, fields.message);
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    operation_name: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => value.clone_into(&mut self.message),
            "operation_name" => self.operation_name = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

/// `ms` as `1.2s` or `3m 04s`.
fn seconds(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        #[allow(clippy::cast_precision_loss)]
        let secs = ms as f64 / 1000.0;
        format!("{secs:.1}s")
    } else {
        let secs = ms / 1000;
        if secs < 3600 {
            format!("{}m {:02}s", secs / 60, secs % 60)
        } else {
            format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
        }
    }
}

/// How long ago epoch-ms `at` was, for a person.
fn ago(at: i64) -> String {
    format!("{} ago", seconds(now_ms() - at))
}
