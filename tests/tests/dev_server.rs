//! `durable dev` as a separate process, driven by clients that no one here
//! wrote (issue 7, "Proof with clients that no one here wrote" and "Done
//! when"):
//!
//! 1. the examples' Lambda binaries (`durable_lambda::run`, aws-sdk-lambda
//!    underneath) hosted by `durable dev` through the Lambda Runtime API,
//!    started and completed through `DurableClient`;
//! 2. the aws CLI (PyPI `awscli`) with `--endpoint-url`: it starts, lists
//!    and completes an execution's callback;
//! 3. a handler written with AWS's Python SDK (PyPI
//!    `aws-durable-execution-sdk-python`), served by
//!    `../shared/peers/invoke_shim.py` as a Lambda Invoke endpoint;
//! 4. SIGKILL of the server's process group mid-run (twice: the second kill
//!    interrupts the recovery), then a restart over the same SQLite file:
//!    every execution completes, no acknowledged checkpoint is lost (each
//!    history seen before a kill is a prefix of the final one), no completed
//!    step runs again, invocations cut off count as failed
//!    (`Runtime.ExitError`);
//! 5. a function process that exits mid-invocation: the invocation counts
//!    as failed, the process is started again, the execution completes and
//!    the step checkpointed before the crash ran once.
//!
//! Tests 4 and 5 also use two tiny functions of this package,
//! `src/bin/slow_step.rs` and `src/bin/crash_once.rs`.
//!
//! ```text
//! test ──Invoke / REST (aws-sdk-lambda, aws CLI)──▶ durable dev ──Runtime API──▶ lambda_* processes
//!                                                      │   ▲        └─Invoke──▶ invoke_shim.py (Python SDK)
//!                                                      │   └── Checkpoint / GetState (AWS_ENDPOINT_URL_LAMBDA)
//!                                                      └── SQLite file in a temporary folder
//! ```
//!
//! The test builds `durable` and the example binaries first (`cargo build -p
//! durable-local --bin durable -p durable-examples --bins`, once). Tests 2
//! and 3 need Python tools in a venv (default `target/peervenv`, or
//! `$PEER_VENV`):
//!
//! ```sh
//! python3 -m venv target/peervenv
//! target/peervenv/bin/pip install awscli aws-durable-execution-sdk-python
//! cargo test -p durable-tests --test dev_server -- --nocapture
//! ```
//!
//! Without them those tests print `skipped: …` and pass, except when `CI` is
//! set: then they fail. Test 3 also needs `../shared/peers` (or
//! `$DURABLE_PEERS_DIR`). Every server binds 127.0.0.1 on a free port, runs
//! in its own process group and is stopped (the whole group, hosted function
//! processes included) when its test ends, whether it passes or not.
//! `DURABLE_DEV_TEST_KEEP_LOGS=1` keeps the logs and databases of passing
//! tests too (their folder is printed).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use durable_lambda::DurableClient;
use durable_tests::{peer_venv, workspace_root};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
/// How long one execution may take, from its start to a terminal status.
const EXECUTION_DEADLINE: Duration = Duration::from_secs(90);
const INSTALL: &str = "python3 -m venv target/peervenv && \
    target/peervenv/bin/pip install awscli aws-durable-execution-sdk-python";

type TestResult<T = ()> = Result<T, String>;

// ----- where things are -----

fn peers_dir() -> PathBuf {
    match std::env::var_os("DURABLE_PEERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("../shared/peers"),
    }
}

/// Where cargo put this test's binaries (`target/debug`, or under
/// `CARGO_TARGET_DIR`): the test runs from `<that>/deps/`.
fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| workspace_root().join("target/debug"))
}

fn program(name: &str) -> String {
    bin_dir().join(name).display().to_string()
}

/// Builds `durable` and the example functions, once for all the tests.
fn build() -> TestResult {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let args = [
                "build",
                "-p",
                "durable-cli",
                "--bin",
                "durable",
                "-p",
                "durable-examples",
                "--bins",
            ];
            let started = Instant::now();
            let output = Command::new(cargo)
                .args(args)
                .current_dir(workspace_root())
                .output()
                .map_err(|e| format!("cannot run cargo build: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "cargo {} failed:\n{}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            println!(
                "dev_server: durable and the examples built in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        })
        .clone()
}

/// Skips a test whose tools are missing (a message, a pass), except in CI.
fn skip(test: &str, message: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {message}; install them with `{INSTALL}` (or point PEER_VENV at a venv that has them)"
    );
    println!("skipped: {test}: {message}; install them with `{INSTALL}`");
}

/// Runs one test body with a fresh folder for its logs and databases;
/// panics with the body's error (the folder is kept then).
fn run(test: &str, body: impl FnOnce(&Path) -> TestResult) {
    let dir = std::env::temp_dir().join(format!("durable-dev-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{test}: cannot create {}: {e}", dir.display());
    }
    let started = Instant::now();
    let outcome = build().and_then(|()| body(&dir));
    println!(
        "dev_server: {test} finished in {:.1}s (logs in {})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    match outcome {
        Ok(()) => {
            if std::env::var_os("DURABLE_DEV_TEST_KEEP_LOGS").is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        Err(e) => {
            let _ = std::fs::write(dir.join("failure.txt"), &e);
            panic!("{test} failed:\n{e}\n(logs in {})", dir.display())
        }
    }
}

// ----- servers as child processes -----

/// A server started by the test, in its own process group; stopping it
/// signals the whole group (the function processes `durable dev` hosts are
/// in it too).
struct Server {
    name: String,
    child: Child,
    log: PathBuf,
    /// Killed and reaped already: its pid may belong to someone else now.
    reaped: bool,
}

impl Server {
    fn start(name: &str, mut command: Command, dir: &Path) -> TestResult<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
            reaped: false,
        })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn tail(&self, lines: usize) -> String {
        let text = self.text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILL to the whole group at once, then waits for the leader.
    fn kill_group(&mut self) {
        if !self.reaped {
            self.signal_group("-KILL");
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        if self.exited().is_none() {
            self.signal_group("-TERM");
            let until = Instant::now() + Duration::from_secs(3);
            while self.exited().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The group may outlive its leader (a hosted function process).
        self.kill_group();
    }
}

fn free_port() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until the server accepts connections on the port (and has logged
/// `ready_line`, when given).
fn wait_listening(server: &mut Server, port: u16, ready_line: Option<&str>) -> TestResult {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let log_ready = ready_line.is_none_or(|line| server.text().contains(line));
        if log_ready && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = server.exited() {
            return Err(format!(
                "{} exited ({status}) before listening on {port}:\n{}",
                server.name,
                server.tail(30)
            ));
        }
        if Instant::now() > until {
            return Err(format!(
                "{} is not listening on {port} after 60 s:\n{}",
                server.name,
                server.tail(30)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `durable dev` on a free loopback port over `db`, serving `functions`
/// (`NAME=TARGET`, as `--function` takes them).
struct Dev {
    server: Server,
    port: u16,
}

impl Dev {
    fn start(
        name: &str,
        dir: &Path,
        db: &Path,
        functions: &[String],
        extra: &[&str],
    ) -> TestResult<Self> {
        let port = free_port()?;
        let mut command = Command::new(program("durable"));
        command
            .args(["dev", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--db")
            .arg(db)
            .args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", REGION);
        for function in functions {
            command.args(["--function", function]);
        }
        let mut server = Server::start(name, command, dir)?;
        wait_listening(&mut server, port, Some("durable dev: listening on"))?;
        Ok(Self { server, port })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> DurableClient {
        DurableClient::new(sdk(&self.endpoint()))
    }
}

fn sdk(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("x", "x", None, None, "dev-server-test"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn runtime() -> TestResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

// ----- reading executions -----

/// One history event, as the test compares them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ev {
    id: i32,
    kind: String,
    name: Option<String>,
    callback_id: Option<String>,
    /// The error type of a failed invocation (`InvocationCompleted`).
    invocation_error: Option<String>,
}

impl Ev {
    fn of(event: &aws_sdk_lambda::types::Event) -> Self {
        Self {
            id: event.event_id(),
            kind: event.event_type().map_or("?", |t| t.as_str()).to_owned(),
            name: event.name().map(str::to_owned),
            callback_id: event
                .callback_started_details()
                .map(|d| d.callback_id().to_owned()),
            invocation_error: event
                .invocation_completed_details()
                .and_then(|d| d.error())
                .and_then(|e| e.payload())
                .map(|p| p.error_type().unwrap_or_default().to_owned()),
        }
    }

    /// What must not change about an event once it is recorded.
    fn key(&self) -> (i32, &str, Option<&str>) {
        (self.id, &self.kind, self.name.as_deref())
    }
}

async fn history(client: &DurableClient, arn: &str) -> TestResult<Vec<Ev>> {
    Ok(client
        .get_history(arn)
        .await
        .map_err(|e| format!("GetDurableExecutionHistory {arn}: {e}"))?
        .iter()
        .map(Ev::of)
        .collect())
}

async fn status(client: &DurableClient, arn: &str) -> TestResult<String> {
    Ok(client
        .get_execution(arn)
        .await
        .map_err(|e| format!("GetDurableExecution {arn}: {e}"))?
        .status()
        .as_str()
        .to_owned())
}

/// What an execution ended with.
#[derive(Debug)]
struct Outcome {
    status: String,
    result: Option<Value>,
    events: Vec<Ev>,
}

impl Outcome {
    fn types(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn count(&self, kind: &str, name: Option<&str>) -> usize {
        self.events
            .iter()
            .filter(|e| e.kind == kind && name.is_none_or(|n| e.name.as_deref() == Some(n)))
            .count()
    }
}

async fn wait_terminal(client: &DurableClient, arn: &str) -> TestResult<Outcome> {
    let until = Instant::now() + EXECUTION_DEADLINE;
    loop {
        let execution = client
            .get_execution(arn)
            .await
            .map_err(|e| format!("GetDurableExecution {arn}: {e}"))?;
        let status = execution.status().as_str().to_owned();
        if status != "RUNNING" {
            return Ok(Outcome {
                status,
                result: execution
                    .result()
                    .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.into()))),
                events: history(client, arn).await?,
            });
        }
        if Instant::now() > until {
            let events = history(client, arn).await.unwrap_or_default();
            let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            return Err(format!(
                "{arn} still RUNNING after {EXECUTION_DEADLINE:?}; history so far: {types:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the callback named `name`, once the execution has created it.
async fn callback_id(client: &DurableClient, arn: &str, name: &str) -> TestResult<String> {
    let until = Instant::now() + EXECUTION_DEADLINE;
    loop {
        let found = history(client, arn).await?.into_iter().find_map(|e| {
            (e.kind == "CallbackStarted" && e.name.as_deref() == Some(name))
                .then_some(e.callback_id)
                .flatten()
        });
        if let Some(id) = found {
            return Ok(id);
        }
        if Instant::now() > until {
            return Err(format!(
                "{arn}: no CallbackStarted {name} after {EXECUTION_DEADLINE:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check(failures: &mut Vec<String>, label: &str, ok: bool, detail: impl FnOnce() -> String) {
    if !ok {
        failures.push(format!("{label}: {}", detail()));
    }
}

fn check_outcome(failures: &mut Vec<String>, label: &str, outcome: &Outcome, result: &Value) {
    check(
        failures,
        &format!("{label} status"),
        outcome.status == "SUCCEEDED",
        || format!("expected SUCCEEDED, got {outcome:?}"),
    );
    check(
        failures,
        &format!("{label} result"),
        outcome.result.as_ref() == Some(result),
        || format!("expected {result}, got {:?}", outcome.result),
    );
}

/// Checks the history's events in order, except where `InvocationCompleted`
/// falls: a timer (a 1 s retry delay or wait) may fire before a slow
/// invocation has ended, which puts the timer's event first. Their number
/// is checked.
fn check_history(failures: &mut Vec<String>, label: &str, outcome: &Outcome, expected: &[&str]) {
    const INVOCATION: &str = "InvocationCompleted";
    let without = |types: &[&str]| -> Vec<String> {
        types
            .iter()
            .filter(|t| **t != INVOCATION)
            .map(|t| (*t).to_owned())
            .collect()
    };
    let got = outcome.types();
    let invocations = expected.iter().filter(|t| **t == INVOCATION).count();
    check(
        failures,
        &format!("{label} history"),
        without(&got) == without(expected) && outcome.count(INVOCATION, None) == invocations,
        || format!("expected {expected:?}\n     got {got:?}"),
    );
    let ids: Vec<i32> = outcome.events.iter().map(|e| e.id).collect();
    let numbered: Vec<i32> = (1..).take(ids.len()).collect();
    check(
        failures,
        &format!("{label} event ids"),
        ids == numbered,
        || format!("expected 1, 2, 3... got {ids:?}"),
    );
}

fn verdict(failures: Vec<String>) -> TestResult {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

// ----- 1. the Rust adapter's real backend -----

#[test]
fn examples_hosted_by_durable_dev_run_through_the_rust_adapter() {
    run("examples", |dir| {
        let functions: Vec<String> = ["steps", "wait", "callback", "child", "map"]
            .iter()
            .map(|name| format!("{name}={}", program(&format!("lambda_{name}"))))
            .collect();
        let events = dir.join("events.jsonl");
        let events_arg = events.display().to_string();
        let dev = Dev::start(
            "durable-dev",
            dir,
            &dir.join("dev.sqlite"),
            &functions,
            &["--events", &events_arg],
        )?;
        let result = runtime()?.block_on(drive_examples(&dev.client(), &events));
        result.map_err(|e| {
            format!(
                "{e}\n--- durable dev (last lines):\n{}",
                dev.server.tail(40)
            )
        })
    });
}

async fn drive_examples(client: &DurableClient, events: &Path) -> TestResult {
    let t0 = Instant::now();
    let mut arns = BTreeMap::new();
    for (label, input) in [
        ("steps", json!({ "n": 21 })),
        ("wait", json!("ada")),
        ("callback", json!({})),
        ("child", json!("hey")),
        ("map", json!([1, 2, 3])),
    ] {
        let arn = client
            .start_execution(label, &format!("{label}-1"), &input)
            .await
            .map_err(|e| format!("start {label}: {e}"))?;
        arns.insert(label, arn);
    }
    let mut failures = Vec::new();
    // Invoke with the same name and input finds the same execution.
    let again = client
        .start_execution("steps", "steps-1", &json!({ "n": 21 }))
        .await
        .map_err(|e| format!("start steps again: {e}"))?;
    check(
        &mut failures,
        "steps by name",
        again == arns["steps"],
        || format!("{again} is not {}", arns["steps"]),
    );

    // The external system completes the callback.
    let arn = &arns["callback"];
    let id = callback_id(client, arn, "approval").await?;
    client
        .send_callback_heartbeat(&id)
        .await
        .map_err(|e| format!("heartbeat: {e}"))?;
    client
        .send_callback_success(&id, &json!({ "approved": true }))
        .await
        .map_err(|e| format!("callback success: {e}"))?;

    let mut outcomes = BTreeMap::new();
    for (label, arn) in &arns {
        outcomes.insert(*label, wait_terminal(client, arn).await?);
    }
    println!(
        "dev_server: {} executions terminal after {:.1}s",
        outcomes.len(),
        t0.elapsed().as_secs_f64()
    );

    let steps = &outcomes["steps"];
    check_outcome(
        &mut failures,
        "steps",
        steps,
        &json!({ "flaky": "succeeded on attempt 2", "doubled": 42 }),
    );
    check_history(
        &mut failures,
        "steps",
        steps,
        &[
            "ExecutionStarted",
            "StepStarted",
            "StepFailed",
            "InvocationCompleted",
            "StepStarted",
            "StepSucceeded",
            "StepStarted",
            "StepSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
    );

    let wait = &outcomes["wait"];
    check_outcome(
        &mut failures,
        "wait",
        wait,
        &json!("hello ada, after a pause"),
    );
    check_history(
        &mut failures,
        "wait",
        wait,
        &[
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "WaitStarted",
            "InvocationCompleted",
            "WaitSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
    );

    let callback = &outcomes["callback"];
    check_outcome(
        &mut failures,
        "callback",
        callback,
        &json!({ "decision": { "approved": true } }),
    );
    check_history(
        &mut failures,
        "callback",
        callback,
        &[
            "ExecutionStarted",
            "CallbackStarted",
            "InvocationCompleted",
            "CallbackSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
    );

    let child = &outcomes["child"];
    check_outcome(&mut failures, "child", child, &json!("HEY!"));
    check_history(
        &mut failures,
        "child",
        child,
        &[
            "ExecutionStarted",
            "ContextStarted",
            "StepStarted",
            "StepSucceeded",
            "StepStarted",
            "StepSucceeded",
            "ContextSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
    );

    // Map items run two at a time, so only the counts are fixed.
    let map = &outcomes["map"];
    check_outcome(
        &mut failures,
        "map",
        map,
        &json!({ "squares": [1, 4, 9], "sides": ["left", "right"] }),
    );
    for (kind, count) in [
        ("ExecutionStarted", 1),
        ("ContextStarted", 7),
        ("ContextSucceeded", 7),
        ("StepStarted", 5),
        ("StepSucceeded", 5),
        ("InvocationCompleted", 1),
        ("ExecutionSucceeded", 1),
    ] {
        check(
            &mut failures,
            &format!("map history {kind}"),
            map.count(kind, None) == count,
            || format!("expected {count}, got {:?}", map.types()),
        );
    }

    // `--events FILE`: a RUNNING and a SUCCEEDED status change per execution.
    let until = Instant::now() + Duration::from_secs(10);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        seen.clear();
        for line in std::fs::read_to_string(events).unwrap_or_default().lines() {
            let event: Value = serde_json::from_str(line)
                .map_err(|e| format!("{}: {e}: {line}", events.display()))?;
            if event["detail-type"] == "Durable Execution Status Change" {
                seen.entry(
                    event["detail"]["durableExecutionArn"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                )
                .or_default()
                .push(event["detail"]["status"].as_str().unwrap_or("?").to_owned());
            }
        }
        let complete = arns.values().all(|arn| {
            seen.get(arn)
                .is_some_and(|s| s == &["RUNNING", "SUCCEEDED"])
        });
        if complete || Instant::now() > until {
            check(&mut failures, "status-change events", complete, || {
                format!("expected RUNNING then SUCCEEDED for each of {arns:?}, got {seen:?}")
            });
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    verdict(failures)
}

// ----- 2. the aws CLI -----

/// Runs `aws lambda <args> --endpoint-url <dev>` with dummy credentials and
/// no AWS configuration of the machine; returns its exit success, stdout
/// and stderr.
fn aws_raw(
    aws: &Path,
    dir: &Path,
    endpoint: &str,
    args: &[&str],
) -> TestResult<(bool, String, String)> {
    let output = Command::new(aws)
        .arg("lambda")
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .args(["--cli-read-timeout", "60", "--cli-connect-timeout", "10"])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_LAMBDA")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", aws.display()))?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// As [`aws_raw`], for a command that must succeed: its JSON output
/// (`null` when it prints nothing).
fn aws(aws_bin: &Path, dir: &Path, endpoint: &str, args: &[&str]) -> TestResult<Value> {
    let (ok, stdout, stderr) = aws_raw(aws_bin, dir, endpoint, args)?;
    if !ok {
        return Err(format!(
            "aws lambda {}: failed:\n{stderr}{stdout}",
            args.join(" ")
        ));
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&stdout)
        .map_err(|e| format!("aws lambda {}: {e}: {stdout}", args.join(" ")))
}

/// Polls with the CLI until `found` picks something out of its output.
fn aws_until<T>(
    aws_bin: &Path,
    dir: &Path,
    endpoint: &str,
    args: &[&str],
    what: &str,
    found: impl Fn(&Value) -> Option<T>,
) -> TestResult<T> {
    let until = Instant::now() + EXECUTION_DEADLINE;
    loop {
        let out = aws(aws_bin, dir, endpoint, args)?;
        if let Some(value) = found(&out) {
            return Ok(value);
        }
        if Instant::now() > until {
            return Err(format!(
                "{what}: not after {EXECUTION_DEADLINE:?}; last output {out}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(
    not(peer_aws_cli),
    ignore = "needs the aws CLI: python3 -m venv target/peervenv && target/peervenv/bin/pip install awscli"
)]
fn the_aws_cli_lists_executions_and_completes_a_callback() {
    let aws_bin = peer_venv().join("bin/aws");
    if !aws_bin.is_file() {
        skip(
            "aws CLI test",
            &format!(
                "the aws CLI is not installed ({} is missing)",
                aws_bin.display()
            ),
        );
        return;
    }
    run("aws-cli", |dir| {
        let functions = [format!("callback={}", program("lambda_callback"))];
        let dev = Dev::start("durable-dev", dir, &dir.join("dev.sqlite"), &functions, &[])?;
        let endpoint = dev.endpoint();
        drive_cli(&aws_bin, dir, &endpoint).map_err(|e| {
            format!(
                "{e}\n--- durable dev (last lines):\n{}",
                dev.server.tail(40)
            )
        })
    });
}

fn drive_cli(aws_bin: &Path, dir: &Path, endpoint: &str) -> TestResult {
    let mut failures = Vec::new();
    let version = aws_raw(aws_bin, dir, endpoint, &["--version"])
        .map(|(_, out, err)| format!("{out}{err}").trim().to_owned())?;
    println!("dev_server: {version}");

    // Start: Invoke with a durable execution name (InvocationType Event).
    let outfile = dir.join("invoke-out.json").display().to_string();
    let invoked = aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "invoke",
            "--function-name",
            "callback",
            "--invocation-type",
            "Event",
            "--durable-execution-name",
            "cli-order-1",
            "--payload",
            r#"{"order": 1}"#,
            &outfile,
        ],
    )?;
    check(
        &mut failures,
        "invoke status",
        invoked["StatusCode"] == 202,
        || format!("expected StatusCode 202, got {invoked}"),
    );
    let arn = invoked["DurableExecutionArn"]
        .as_str()
        .ok_or_else(|| format!("invoke: no DurableExecutionArn in {invoked}"))?
        .to_owned();

    // The callback id, from the history as the CLI reads it.
    let history_args = [
        "get-durable-execution-history",
        "--durable-execution-arn",
        arn.as_str(),
    ];
    let id = aws_until(
        aws_bin,
        dir,
        endpoint,
        &history_args,
        "CallbackStarted",
        |out| {
            out["Events"].as_array()?.iter().find_map(|e| {
                (e["EventType"] == "CallbackStarted" && e["Name"] == "approval")
                    .then(|| {
                        e["CallbackStartedDetails"]["CallbackId"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .flatten()
            })
        },
    )?;

    // Listed while it waits, by name and status.
    let listed = aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "list-durable-executions-by-function",
            "--function-name",
            "callback",
        ],
    )?;
    let rows = listed["DurableExecutions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check(
        &mut failures,
        "list-durable-executions-by-function",
        rows.len() == 1
            && rows[0]["DurableExecutionArn"] == arn.as_str()
            && rows[0]["DurableExecutionName"] == "cli-order-1"
            && rows[0]["Status"] == "RUNNING",
        || format!("expected the one RUNNING execution {arn}, got {listed}"),
    );
    let filtered = aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "list-durable-executions-by-function",
            "--function-name",
            "callback",
            "--statuses",
            "SUCCEEDED",
        ],
    )?;
    check(
        &mut failures,
        "list --statuses SUCCEEDED while it runs",
        filtered["DurableExecutions"]
            .as_array()
            .is_some_and(Vec::is_empty),
        || format!("expected no execution, got {filtered}"),
    );

    // Complete the callback: heartbeat, then success with a JSON result.
    aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "send-durable-execution-callback-heartbeat",
            "--callback-id",
            &id,
        ],
    )?;
    aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "send-durable-execution-callback-success",
            "--callback-id",
            &id,
            "--result",
            r#"{"approved": "by the aws CLI"}"#,
        ],
    )?;
    let get_args = [
        "get-durable-execution",
        "--durable-execution-arn",
        arn.as_str(),
    ];
    let done = aws_until(
        aws_bin,
        dir,
        endpoint,
        &get_args,
        "a terminal status",
        |out| (out["Status"] != "RUNNING").then(|| out.clone()),
    )?;
    let result: Value = done["Result"]
        .as_str()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    check(
        &mut failures,
        "get-durable-execution",
        done["Status"] == "SUCCEEDED"
            && result == json!({ "decision": { "approved": "by the aws CLI" } }),
        || format!("expected SUCCEEDED with the CLI's decision, got {done}"),
    );
    let listed = aws(
        aws_bin,
        dir,
        endpoint,
        &[
            "list-durable-executions-by-function",
            "--function-name",
            "callback",
            "--statuses",
            "SUCCEEDED",
        ],
    )?;
    check(
        &mut failures,
        "list --statuses SUCCEEDED at the end",
        listed["DurableExecutions"][0]["DurableExecutionArn"] == arn.as_str(),
        || format!("expected {arn}, got {listed}"),
    );
    let history = aws(aws_bin, dir, endpoint, &history_args)?;
    let types: Vec<&str> = history["Events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["EventType"].as_str())
                .collect()
        })
        .unwrap_or_default();
    check(
        &mut failures,
        "history",
        types.contains(&"CallbackSucceeded") && types.last() == Some(&"ExecutionSucceeded"),
        || format!("expected CallbackSucceeded ... ExecutionSucceeded, got {types:?}"),
    );

    // A second completion of the closed callback: the service's error, a
    // failing exit status.
    let (ok, stdout, stderr) = aws_raw(
        aws_bin,
        dir,
        endpoint,
        &[
            "send-durable-execution-callback-success",
            "--callback-id",
            &id,
            "--result",
            "1",
        ],
    )?;
    check(
        &mut failures,
        "completing a closed callback",
        !ok && stderr.contains("An error occurred (") && stderr.contains("Exception"),
        || {
            format!(
                "expected the CLI to fail with the service's error, got ok={ok} {stdout}{stderr}"
            )
        },
    );
    verdict(failures)
}

// ----- 3. a handler written with AWS's Python SDK -----

#[test]
#[cfg_attr(
    not(peer_python_sdk),
    ignore = "needs ../shared/peers (invoke_shim.py) beside the clone and aws-durable-execution-sdk-python: target/peervenv/bin/pip install aws-durable-execution-sdk-python"
)]
fn a_python_sdk_handler_behind_the_invoke_shim_completes_a_step_a_wait_and_a_callback() {
    let python = peer_venv().join("bin/python");
    let peers = peers_dir();
    let shim = peers.join("invoke_shim.py");
    let workflow = peers.join("workflows/demo_workflow.py");
    for (path, what) in [
        (&python, "the venv's python"),
        (&shim, "the invoke shim"),
        (&workflow, "the Python demo workflow"),
    ] {
        if !path.is_file() {
            skip(
                "Python SDK test",
                &format!("{what} is missing ({})", path.display()),
            );
            return;
        }
    }
    let has_sdk = Command::new(&python)
        .args(["-c", "import aws_durable_execution_sdk_python"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        skip(
            "Python SDK test",
            &format!(
                "aws-durable-execution-sdk-python is not installed in {}",
                peer_venv().display()
            ),
        );
        return;
    }
    run("python-sdk", |dir| {
        let shim_port = free_port()?;
        let functions = [format!("Demo=http://127.0.0.1:{shim_port}")];
        let dev = Dev::start("durable-dev", dir, &dir.join("dev.sqlite"), &functions, &[])?;
        let mut command = Command::new(&python);
        command
            .arg(&shim)
            .args(["--port", &shim_port.to_string()])
            .arg("--code-root")
            .arg(peers.join("workflows"))
            .args(["--function", "Demo=demo_workflow:handler"])
            .env("AWS_ENDPOINT_URL_LAMBDA", dev.endpoint())
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.join("no-aws-credentials"),
            )
            .env_remove("AWS_PROFILE")
            // shared/ may be read-only.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        let mut shim = Server::start("invoke-shim", command, dir)?;
        wait_listening(&mut shim, shim_port, Some("invoke shim on"))?;
        let result = runtime()?.block_on(drive_python(&dev.client()));
        result.map_err(|e| {
            format!(
                "{e}\n--- durable dev (last lines):\n{}\n--- invoke shim (last lines):\n{}",
                dev.server.tail(40),
                shim.tail(40)
            )
        })
    });
}

async fn drive_python(client: &DurableClient) -> TestResult {
    let arn = client
        .start_execution("Demo", "python-demo-1", &json!({ "x": 21 }))
        .await
        .map_err(|e| format!("start Demo: {e}"))?;
    // After the step and the 2 s wait.
    let id = callback_id(client, &arn, "approval").await?;
    let decision = json!({ "approved": true });
    client
        .send_callback_success(&id, &decision)
        .await
        .map_err(|e| format!("callback success: {e}"))?;
    let outcome = wait_terminal(client, &arn).await?;
    let mut failures = Vec::new();
    // The Python SDK hands a callback's result over as the text it was
    // sent (no serdes configured): the JSON DurableClient sent, as a string.
    check_outcome(
        &mut failures,
        "python",
        &outcome,
        &json!({ "doubled": 42, "approval": decision.to_string() }),
    );
    check_history(
        &mut failures,
        "python",
        &outcome,
        &[
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "WaitStarted",
            "InvocationCompleted",
            "WaitSucceeded",
            "CallbackStarted",
            "InvocationCompleted",
            "CallbackSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
    );
    let names: Vec<(&str, Option<&str>)> = outcome
        .events
        .iter()
        .filter(|e| {
            e.kind.starts_with("Step")
                || e.kind.starts_with("Wait")
                || e.kind.starts_with("Callback")
        })
        .map(|e| (e.kind.as_str(), e.name.as_deref()))
        .collect();
    check(
        &mut failures,
        "python operation names",
        names
            == [
                ("StepStarted", Some("double")),
                ("StepSucceeded", Some("double")),
                ("WaitStarted", Some("short-wait")),
                ("WaitSucceeded", Some("short-wait")),
                ("CallbackStarted", Some("approval")),
                ("CallbackSucceeded", Some("approval")),
            ],
        || format!("got {names:?}"),
    );
    verdict(failures)
}

// ----- 4. SIGKILL mid-run, restart over the same SQLite file -----

/// What the test saw of one execution just before the kill.
#[derive(Debug)]
struct Snapshot {
    status: String,
    events: Vec<Ev>,
}

#[test]
fn sigkill_mid_run_then_restart_loses_no_acknowledged_checkpoint() {
    run("sigkill", |dir| {
        let functions = [
            format!("steps={}", program("lambda_steps")),
            format!("wait={}", program("lambda_wait")),
            format!("callback={}", program("lambda_callback")),
            format!("slow={}", env!("CARGO_BIN_EXE_slow_step")),
        ];
        let db = dir.join("dev.sqlite");
        let rt = runtime()?;

        // Twelve executions: 4 with a 1 s wait, 4 with a 1 s retry delay,
        // 2 waiting for a callback, 2 whose invocations take 1.5 s (one runs,
        // the other is queued for the same process: both are in flight when
        // the server dies).
        let first = Dev::start("durable-dev-1", dir, &db, &functions, &[])?;
        let client = first.client();
        let mut started: Vec<(String, String, Value)> = Vec::new();
        for i in 0..12 {
            let (function, input) = match i % 6 {
                0 | 1 => ("wait", json!(format!("guest-{i}"))),
                2 | 3 => ("steps", json!({ "n": i })),
                4 => ("callback", json!({ "i": i })),
                _ => ("slow", json!({ "sleep_ms": 1500 })),
            };
            let arn = rt
                .block_on(client.start_execution(function, &format!("{function}-{i}"), &input))
                .map_err(|e| format!("start {function}-{i}: {e}"))?;
            started.push((function.to_owned(), arn, input));
        }

        // Round 1: kill as soon as steps of two executions have succeeded
        // (their checkpoints are acknowledged), while the others are being
        // invoked, suspended, or not invoked yet. Round 2: restart, and kill
        // again as soon as the restarted server has recorded anything new
        // (recovery itself is interrupted).
        let mut snapshots: Vec<BTreeMap<String, Snapshot>> = Vec::new();
        let mut logs = Vec::new();
        let mut dev = first;
        for round in 1..=2 {
            let client = dev.client();
            let t0 = Instant::now();
            let snapshot = loop {
                let snapshot = rt.block_on(snapshot(&client, &started))?;
                let ready = match snapshots.last() {
                    None => {
                        snapshot
                            .values()
                            .filter(|s| s.events.iter().any(|e| e.kind == "StepSucceeded"))
                            .count()
                            >= 2
                    }
                    Some(last) => snapshot
                        .iter()
                        .any(|(arn, s)| s.events.len() > last[arn].events.len()),
                };
                if ready {
                    dev.server.kill_group();
                    break snapshot;
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    return Err(format!(
                        "round {round}: the executions did not progress in 60 s: {snapshot:#?}\n\
                         --- durable dev:\n{}",
                        dev.server.tail(40)
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let running = snapshot.values().filter(|s| s.status == "RUNNING").count();
            let recorded: usize = snapshot.values().map(|s| s.events.len()).sum();
            println!(
                "dev_server: round {round}: SIGKILL after {:.2}s: {running} of {} executions \
                 running, {recorded} events recorded",
                t0.elapsed().as_secs_f64(),
                snapshot.len()
            );
            if round == 1 && running < 5 {
                return Err(format!(
                    "only {running} executions were still running at the kill: the test proves \
                     nothing about a crash mid-run\n{snapshot:#?}"
                ));
            }
            logs.push(format!(
                "--- durable dev, round {round} (last lines):\n{}",
                dev.server.tail(40)
            ));
            snapshots.push(snapshot);
            drop(dev);
            // Restart over the same file, on another port.
            dev = Dev::start(
                &format!("durable-dev-{}", round + 1),
                dir,
                &db,
                &functions,
                &[],
            )?;
        }

        let client = dev.client();
        let outcome = rt.block_on(finish_after_restart(&client, &started, &snapshots));
        outcome.map_err(|e| {
            format!(
                "{e}\n{}\n--- durable dev after the last restart (last lines):\n{}",
                logs.join("\n"),
                dev.server.tail(60)
            )
        })
    });
}

/// The status and history of every execution, as the API shows them now.
async fn snapshot(
    client: &DurableClient,
    started: &[(String, String, Value)],
) -> TestResult<BTreeMap<String, Snapshot>> {
    let mut snapshot = BTreeMap::new();
    for (_, arn, _) in started {
        let events = history(client, arn).await?;
        let status = status(client, arn).await?;
        snapshot.insert(arn.clone(), Snapshot { status, events });
    }
    Ok(snapshot)
}

async fn finish_after_restart(
    client: &DurableClient,
    started: &[(String, String, Value)],
    snapshots: &[BTreeMap<String, Snapshot>],
) -> TestResult {
    let mut failures = Vec::new();
    // Callbacks: the ids from before the kills still work.
    for (function, arn, _) in started {
        if function == "callback" {
            let id = callback_id(client, arn, "approval").await?;
            for (round, before) in snapshots.iter().enumerate() {
                let earlier = before[arn]
                    .events
                    .iter()
                    .find_map(|e| e.callback_id.clone());
                check(
                    &mut failures,
                    &format!("callback id kept (kill {})", round + 1),
                    earlier.as_ref().is_none_or(|e| *e == id),
                    || format!("{arn}: {earlier:?} before the kill, {id} after"),
                );
            }
            client
                .send_callback_success(&id, &json!({ "after": "restart" }))
                .await
                .map_err(|e| format!("callback success after the restart: {e}"))?;
        }
    }
    let mut lost_invocations = 0;
    let mut slow_lost = 0;
    for (function, arn, input) in started {
        let outcome = wait_terminal(client, arn).await?;
        let label = format!("{function} {arn}");
        let expected = match function.as_str() {
            "wait" => json!(format!(
                "hello {}, after a pause",
                input.as_str().unwrap_or("?")
            )),
            "steps" => {
                // The retried step's attempt number is its own business
                // (a kill during the second attempt may make it a third).
                let flaky = outcome
                    .result
                    .as_ref()
                    .map_or(Value::Null, |r| r["flaky"].clone());
                check(
                    &mut failures,
                    &format!("{label} flaky"),
                    flaky
                        .as_str()
                        .is_some_and(|f| f.starts_with("succeeded on attempt ")),
                    || format!("got {flaky}"),
                );
                json!({ "flaky": flaky, "doubled": input["n"].as_i64().unwrap_or(0) * 2 })
            }
            "slow" => json!({ "before": "ready", "slow": "slept 1500 ms" }),
            _ => json!({ "decision": { "after": "restart" } }),
        };
        check_outcome(&mut failures, &label, &outcome, &expected);

        // A step that succeeded at most once, each step of the function.
        let mut step_names: Vec<&str> = outcome
            .events
            .iter()
            .filter(|e| e.kind == "StepSucceeded")
            .filter_map(|e| e.name.as_deref())
            .collect();
        step_names.sort_unstable();
        let expected_steps: &[&str] = match function.as_str() {
            "wait" => &["greet"],
            "steps" => &["double", "flaky"],
            "slow" => &["before", "slow"],
            _ => &[],
        };
        check(
            &mut failures,
            &format!("{label} one StepSucceeded per step"),
            step_names == expected_steps,
            || format!("expected {expected_steps:?}, got {step_names:?}"),
        );

        for (round, before) in snapshots.iter().enumerate() {
            let kill = round + 1;
            // Nothing recorded before the kill is gone or changed: the
            // earlier history is a prefix of the final one.
            let earlier = &before[arn].events;
            let prefix: Vec<_> = outcome
                .events
                .iter()
                .take(earlier.len())
                .map(Ev::key)
                .collect();
            let expected_prefix: Vec<_> = earlier.iter().map(Ev::key).collect();
            check(
                &mut failures,
                &format!("{label} history kept (kill {kill})"),
                prefix == expected_prefix,
                || {
                    format!(
                        "before the kill: {expected_prefix:?}\n  at the end: {:?}",
                        outcome.events.iter().map(Ev::key).collect::<Vec<_>>()
                    )
                },
            );
            if before[arn].status != "RUNNING" {
                check(
                    &mut failures,
                    &format!("{label} status kept (kill {kill})"),
                    before[arn].status == outcome.status,
                    || {
                        format!(
                            "{} before the kill, {} at the end",
                            before[arn].status, outcome.status
                        )
                    },
                );
            }
            // A step that had succeeded before the kill did not run again.
            for done in earlier.iter().filter(|e| e.kind == "StepSucceeded") {
                let name = done.name.as_deref();
                let count = |events: &[Ev], kind: &str| {
                    events
                        .iter()
                        .filter(|e| e.kind == kind && e.name.as_deref() == name)
                        .count()
                };
                for kind in ["StepStarted", "StepSucceeded", "StepFailed"] {
                    check(
                        &mut failures,
                        &format!("{label} step {name:?} ran again after kill {kill}"),
                        count(earlier, kind) == count(&outcome.events, kind),
                        || {
                            format!(
                                "{kind}: {} before the kill, {} at the end",
                                count(earlier, kind),
                                count(&outcome.events, kind)
                            )
                        },
                    );
                }
            }
        }
        // An invocation the kill cut off counts as failed, as on Lambda.
        let lost: Vec<&str> = outcome
            .events
            .iter()
            .filter_map(|e| e.invocation_error.as_deref())
            .collect();
        check(
            &mut failures,
            &format!("{label} failed invocations"),
            lost.iter().all(|t| *t == "Runtime.ExitError"),
            || format!("expected only Runtime.ExitError, got {lost:?}"),
        );
        if function == "slow" {
            slow_lost += lost.len();
        }
        lost_invocations += lost.len();
    }
    println!(
        "dev_server: all executions SUCCEEDED after the restarts \
         ({lost_invocations} invocations counted as failed)"
    );
    check(
        &mut failures,
        "invocations in flight at the kill",
        slow_lost >= 1,
        || "no invocation of `slow` was lost, though one was running at the first kill".to_owned(),
    );
    verdict(failures)
}

// ----- 5. a function process that dies mid-invocation -----

#[test]
fn a_function_process_that_exits_mid_invocation_is_restarted_and_the_invocation_fails() {
    run("process-crash", |dir| {
        let state = dir.join("crash-once");
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let functions = [format!(
            "crashy={} {}",
            env!("CARGO_BIN_EXE_crash_once"),
            state.display()
        )];
        if state.display().to_string().contains(char::is_whitespace) {
            return Err(format!(
                "{}: a folder without spaces is needed",
                state.display()
            ));
        }
        let dev = Dev::start("durable-dev", dir, &dir.join("dev.sqlite"), &functions, &[])?;
        let client = dev.client();
        let outcome = runtime()?.block_on(async {
            let arn = client
                .start_execution("crashy", "crash-1", &json!({ "order": 7 }))
                .await
                .map_err(|e| format!("start crashy: {e}"))?;
            wait_terminal(&client, &arn).await
        });
        let result = outcome.and_then(|outcome| {
            let mut failures = Vec::new();
            check_outcome(
                &mut failures,
                "crashy",
                &outcome,
                &json!({ "event": { "order": 7 }, "prepared": "prepared", "finished": "finished" }),
            );
            let invocations: Vec<Option<&str>> = outcome
                .events
                .iter()
                .filter(|e| e.kind == "InvocationCompleted")
                .map(|e| e.invocation_error.as_deref())
                .collect();
            check(
                &mut failures,
                "invocations",
                invocations == [Some("Runtime.ExitError"), None],
                || format!("expected a failed (Runtime.ExitError) then a good invocation, got {invocations:?}"),
            );
            check_history(
                &mut failures,
                "crashy",
                &outcome,
                &[
                    "ExecutionStarted",
                    "StepStarted",
                    "StepSucceeded",
                    "InvocationCompleted",
                    "StepStarted",
                    "StepSucceeded",
                    "InvocationCompleted",
                    "ExecutionSucceeded",
                ],
            );
            // The step checkpointed before the crash was replayed, not run again.
            let runs = std::fs::read_to_string(state.join("prepare.runs")).unwrap_or_default();
            check(&mut failures, "prepare ran once", runs.lines().count() == 1, || {
                format!("prepare.runs: {runs:?}")
            });
            let log = dev.server.text();
            check(
                &mut failures,
                "process restarted",
                log.matches("function process started").count() >= 2
                    && log.contains("the function process exited"),
                || "expected the server to log the exit and a second start".to_owned(),
            );
            verdict(failures)
        });
        result.map_err(|e| {
            format!(
                "{e}\n--- durable dev (last lines):\n{}",
                dev.server.tail(40)
            )
        })
    });
}
