//! Interop: the example functions of `durable-examples`, served by
//! `cargo lambda watch`, driven by AWS's own emulator of the service,
//! `dex-local-runner` (PyPI `aws-durable-execution-sdk-python-testing`), and
//! completed from outside through `durable_lambda::DurableClient`.
//!
//! ```text
//! dex-local-runner ──Invoke──▶ cargo lambda watch ──▶ lambda_* (durable_lambda::run)
//!        ▲                                                  │
//!        └──── CheckpointDurableExecution / GetDurableExecutionState (aws-sdk-lambda)
//! test ──POST /start-durable-execution──▶ dex; DurableClient (callbacks, get, history, stop) ──▶ dex
//! ```
//!
//! Needs the Python tools in a venv (default `target/peervenv`, or
//! `$PEER_VENV`):
//!
//! ```sh
//! python3 -m venv target/peervenv
//! target/peervenv/bin/pip install aws-durable-execution-sdk-python-testing cargo-lambda pyyaml boto3
//! cargo test -p durable-tests --test interop -- --nocapture
//! ```
//!
//! Without them the test prints `skipped: …` and passes, except when `CI` is
//! set: then it fails with the commands above. Both servers bind 127.0.0.1
//! on free ports and are stopped (their whole process groups) when the test
//! ends, whether it passes or not. `DURABLE_INTEROP_KEEP_LOGS=1` keeps the
//! servers' logs (their directory is printed).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use durable_core::wire::ErrorObject;
use durable_lambda::DurableClient;
use durable_tests::{peer_venv, workspace_root};
use serde_json::{Value, json};

const REGION: &str = "us-west-2";
/// How long one execution may take, from its start to a terminal status.
const EXECUTION_DEADLINE: Duration = Duration::from_secs(90);
const INSTALL: &str = "python3 -m venv target/peervenv && \
    target/peervenv/bin/pip install aws-durable-execution-sdk-python-testing cargo-lambda pyyaml boto3";

type TestResult<T = ()> = Result<T, String>;

/// A server started by the test, in its own process group; stopping it
/// signals the whole group (cargo lambda's `cargo run` children included).
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(name: &'static str, mut command: Command, logs: &Path) -> TestResult<Self> {
        let log = logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self { name, child, log })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_group("-TERM");
            let until = Instant::now() + Duration::from_secs(3);
            while self.exited().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The group may outlive its leader (a function process under cargo).
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

fn free_port() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until something accepts connections on the port.
fn wait_listening(server: &mut Server, port: u16, ready_line: Option<&str>) -> TestResult {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let log_ready = ready_line.is_none_or(|line| {
            std::fs::read_to_string(&server.log).is_ok_and(|text| text.contains(line))
        });
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
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 POST to 127.0.0.1 (`Connection: close`): the status
/// code and the body.
fn post(port: u16, path: &str, body: &str) -> TestResult<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("POST {path}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("POST {path}: malformed HTTP response: {text}"))?;
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("POST {path}: no status in {head}"))?;
    Ok((status, payload.to_owned()))
}

/// POSTs JSON and reads a JSON object back from a 2xx answer.
fn post_json(port: u16, path: &str, body: &Value) -> TestResult<Value> {
    let (status, payload) = post(port, path, &body.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!("POST {path}: HTTP {status}: {payload}"));
    }
    let json_start = payload.find('{').unwrap_or(0);
    let json_end = payload.rfind('}').map_or(payload.len(), |i| i + 1);
    serde_json::from_str(&payload[json_start..json_end])
        .map_err(|e| format!("POST {path}: {e}: {payload}"))
}

/// Starts an execution the way `dexctl.py start` does: dex-local-runner has
/// no Invoke front door, only `POST /start-durable-execution`.
fn start_execution(dex_port: u16, function: &str, input: &Value) -> TestResult<String> {
    let nonce: u32 = rand::random();
    let body = json!({
        "AccountId": "123456789012",
        "FunctionName": function,
        "FunctionQualifier": "$LATEST",
        "ExecutionName": format!("{function}-{nonce:08x}"),
        "ExecutionTimeoutSeconds": 300,
        "ExecutionRetentionPeriodDays": 7,
        "InvocationId": format!("{nonce:08x}-interop"),
        "Input": input.to_string(),
    });
    let answer = post_json(dex_port, "/start-durable-execution", &body)?;
    answer
        .get("ExecutionArn")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no ExecutionArn in {answer}"))
}

/// Our client, pointed at the emulator with a region and dummy credentials.
fn client(dex_port: u16) -> DurableClient {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(format!("http://127.0.0.1:{dex_port}"))
        .credentials_provider(Credentials::new("x", "x", None, None, "interop"))
        .build();
    DurableClient::new(aws_sdk_lambda::Client::from_conf(config))
}

/// What an execution ended with.
#[derive(Debug)]
struct Outcome {
    status: String,
    result: Option<Value>,
    error: Option<(String, String)>,
    events: Vec<(String, Option<String>)>,
}

impl Outcome {
    fn types(&self) -> Vec<&str> {
        self.events.iter().map(|(t, _)| t.as_str()).collect()
    }

    fn count(&self, event_type: &str) -> usize {
        self.events.iter().filter(|(t, _)| t == event_type).count()
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
            let events = client
                .get_history(arn)
                .await
                .map_err(|e| format!("GetDurableExecutionHistory {arn}: {e}"))?
                .iter()
                .map(|e| (event_type(e).to_owned(), e.name().map(str::to_owned)))
                .collect();
            return Ok(Outcome {
                status,
                result: execution
                    .result()
                    .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.into()))),
                error: execution.error().map(|e| {
                    (
                        e.error_type().unwrap_or_default().to_owned(),
                        e.error_message().unwrap_or_default().to_owned(),
                    )
                }),
                events,
            });
        }
        if Instant::now() > until {
            let history = client.get_history(arn).await.unwrap_or_default();
            let types: Vec<&str> = history.iter().map(event_type).collect();
            return Err(format!(
                "{arn} still RUNNING after {EXECUTION_DEADLINE:?}; history so far: {types:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_type(event: &aws_sdk_lambda::types::Event) -> &str {
    event.event_type().map_or("?", |t| t.as_str())
}

/// The id of the callback named `name`, once the execution has created it.
async fn callback_id(client: &DurableClient, arn: &str, name: &str) -> TestResult<String> {
    let until = Instant::now() + EXECUTION_DEADLINE;
    loop {
        let events = client
            .get_history(arn)
            .await
            .map_err(|e| format!("GetDurableExecutionHistory {arn}: {e}"))?;
        let found = events.iter().find_map(|e| {
            (event_type(e) == "CallbackStarted" && e.name() == Some(name))
                .then(|| {
                    e.callback_started_details()
                        .map(|d| d.callback_id().to_owned())
                })
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check(label: &str, ok: bool, detail: impl FnOnce() -> String, failures: &mut Vec<String>) {
    if !ok {
        failures.push(format!("{label}: {}", detail()));
    }
}

fn check_outcome(
    label: &str,
    outcome: &Outcome,
    status: &str,
    result: Option<&Value>,
    failures: &mut Vec<String>,
) {
    check(
        &format!("{label} status"),
        outcome.status == status,
        || format!("expected {status}, got {outcome:?}"),
        failures,
    );
    if let Some(result) = result {
        check(
            &format!("{label} result"),
            outcome.result.as_ref() == Some(result),
            || format!("expected {result}, got {:?}", outcome.result),
            failures,
        );
    }
}

/// Checks the history's events in order, except where `InvocationCompleted`
/// falls: a timer (a 1 s retry delay or wait) may fire before a slow
/// invocation has ended, which puts the timer's event first. Their number
/// is checked.
fn check_history(label: &str, outcome: &Outcome, expected: &[&str], failures: &mut Vec<String>) {
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
        &format!("{label} history"),
        without(&got) == without(expected) && outcome.count(INVOCATION) == invocations,
        || format!("expected {expected:?}\n     got {got:?}"),
        failures,
    );
}

fn build_examples(root: &Path) -> TestResult {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(["build", "-p", "durable-examples", "--bins"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build -p durable-examples --bins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    println!(
        "interop: example functions built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[test]
#[cfg_attr(
    not(peer_interop),
    ignore = "needs dex-local-runner and cargo-lambda: python3 -m venv target/peervenv && target/peervenv/bin/pip install aws-durable-execution-sdk-python-testing cargo-lambda pyyaml boto3"
)]
fn examples_run_on_dex_local_runner_behind_cargo_lambda_watch() {
    let venv = peer_venv();
    let dex_bin = venv.join("bin/dex-local-runner");
    let watch_bin = venv.join("bin/cargo-lambda");
    let missing: Vec<String> = [&dex_bin, &watch_bin]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "the interop tools are not installed (missing {}); install them with `{INSTALL}` \
             (or point PEER_VENV at a venv that has them)",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "interop: {message}");
        println!("skipped: interop test: {message}");
        return;
    }

    let logs = std::env::temp_dir().join(format!("durable-interop-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&logs) {
        panic!("interop: cannot create {}: {e}", logs.display());
    }
    let started = Instant::now();
    let outcome = run_chain(&dex_bin, &watch_bin, &logs);
    println!(
        "interop: finished in {:.1}s (logs in {})",
        started.elapsed().as_secs_f64(),
        logs.display()
    );
    match outcome {
        Ok(()) => {
            if std::env::var_os("DURABLE_INTEROP_KEEP_LOGS").is_none() {
                let _ = std::fs::remove_dir_all(&logs);
            }
        }
        Err(e) => {
            let _ = std::fs::write(logs.join("failure.txt"), &e);
            panic!("interop failed:\n{e}\n(logs in {})", logs.display())
        }
    }
}

fn run_chain(dex_bin: &Path, watch_bin: &Path, logs: &Path) -> TestResult {
    let root = workspace_root();
    build_examples(&root)?;

    let dex_port = free_port()?;
    let watch_port = free_port()?;
    let dex_url = format!("http://127.0.0.1:{dex_port}");

    let mut watch = Command::new(watch_bin);
    watch
        .args(["lambda", "watch", "-A", "127.0.0.1", "-P"])
        .arg(watch_port.to_string())
        // Other builds may touch the sources meanwhile: serve what was built.
        .arg("--ignore-changes")
        .arg("--env-var")
        .arg(format!(
            "AWS_ENDPOINT_URL_LAMBDA={dex_url},AWS_REGION={REGION},\
             AWS_ACCESS_KEY_ID=x,AWS_SECRET_ACCESS_KEY=x,RUST_LOG=info"
        ))
        .current_dir(root.join("examples"));
    let mut watch = Server::start("cargo-lambda-watch", watch, logs)?;

    let mut dex = Command::new(dex_bin);
    dex.args(["start-server", "--host", "127.0.0.1", "--port"])
        .arg(dex_port.to_string())
        .arg("--lambda-endpoint")
        .arg(format!("http://127.0.0.1:{watch_port}"))
        .args(["--store-type", "memory"])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_DEFAULT_REGION", REGION);
    let mut dex = Server::start("dex-local-runner", dex, logs)?;

    wait_listening(&mut watch, watch_port, Some("starting Runtime server"))?;
    wait_listening(&mut dex, dex_port, None)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(drive(dex_port)).and_then(|()| {
        // lambda_large's second invocation got more than one page (5 MiB) of
        // state: the adapter fetched the rest with GetDurableExecutionState.
        let dex_log = std::fs::read_to_string(&dex.log).unwrap_or_default();
        if dex_log
            .lines()
            .any(|l| l.contains("/state?") && l.contains("\" 200"))
        {
            Ok(())
        } else {
            Err("no GetDurableExecutionState call reached dex-local-runner".to_owned())
        }
    });
    let result = result.and_then(|()| plain_event(watch_port));
    result.map_err(|e| {
        format!(
            "{e}\n--- cargo lambda watch (last lines):\n{}\n--- dex-local-runner (last lines):\n{}",
            watch.tail(40),
            dex.tail(40)
        )
    })
}

/// An event without the durable envelope, sent straight to the function
/// (as a direct Invoke would): the invocation fails with a clear message.
fn plain_event(watch_port: u16) -> TestResult {
    let (status, body) = post(
        watch_port,
        "/2015-03-31/functions/lambda_child/invocations",
        r#"{"order": 7}"#,
    )?;
    let error: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let clear = error["errorType"] == "InvalidEnvelope"
        && error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("confirm that durable execution is enabled"));
    if clear && status >= 400 {
        println!("interop: plain event -> HTTP {status} {body}");
        Ok(())
    } else {
        Err(format!(
            "plain event: expected an InvalidEnvelope error, got HTTP {status}: {body}"
        ))
    }
}

/// lambda_large's sizes: 24 steps of 240 000 bytes (5.76 MB of state, more
/// than dex's 5 MiB invocation page), then a 6.5 MiB result (over the 6 MiB
/// response limit).
const LARGE_STEPS: usize = 24;
const LARGE_STEP_BYTES: usize = 240_000;
const LARGE_RESULT_BYTES: usize = 6_815_744;

async fn drive(dex_port: u16) -> TestResult {
    let client = client(dex_port);
    let t0 = Instant::now();

    let mut arns = BTreeMap::new();
    for (label, function, input) in [
        ("steps", "lambda_steps", json!({ "n": 21 })),
        ("wait", "lambda_wait", json!("ada")),
        ("child", "lambda_child", json!("hey")),
        ("map", "lambda_map", json!([1, 2, 3])),
        (
            "large",
            "lambda_large",
            json!({
                "steps": LARGE_STEPS,
                "step_bytes": LARGE_STEP_BYTES,
                "result_bytes": LARGE_RESULT_BYTES,
            }),
        ),
        ("callback-success", "lambda_callback", json!({})),
        ("callback-failure", "lambda_callback", json!({})),
        ("callback-stop", "lambda_callback", json!({})),
    ] {
        arns.insert(label, start_execution(dex_port, function, &input)?);
    }

    // The external system: completes or fails the callbacks through our
    // client, and stops the third execution while it waits.
    let arn = &arns["callback-success"];
    let id = callback_id(&client, arn, "approval").await?;
    client
        .send_callback_heartbeat(&id)
        .await
        .map_err(|e| format!("heartbeat: {e}"))?;
    client
        .send_callback_success(&id, &json!({ "approved": true }))
        .await
        .map_err(|e| format!("callback success: {e}"))?;

    let arn = &arns["callback-failure"];
    let id = callback_id(&client, arn, "approval").await?;
    client
        .send_callback_failure(&id, &ErrorObject::new("Rejected", "over budget"))
        .await
        .map_err(|e| format!("callback failure: {e}"))?;

    let arn = &arns["callback-stop"];
    callback_id(&client, arn, "approval").await?;
    client
        .stop_execution(arn, Some(&ErrorObject::new("Cancelled", "nobody approves")))
        .await
        .map_err(|e| format!("stop: {e}"))?;

    // The service's errors, as our client reads them from the emulator.
    let mut failures = Vec::new();
    match client.get_execution("no-such/execution").await {
        Err(e) => check(
            "get_execution of an unknown ARN",
            e.code() == "ResourceNotFoundException" && e.status() == Some(404) && !e.is_retryable(),
            || format!("expected ResourceNotFoundException (404), got {e}"),
            &mut failures,
        ),
        Ok(found) => failures.push(format!("get_execution of an unknown ARN: {found:?}")),
    }
    match client.send_callback_success("no-such-callback", &1).await {
        Err(e) => check(
            "callback to an unknown id",
            e.code() != "UnknownError" && e.status().is_some_and(|s| (400..500).contains(&s)),
            || format!("expected a named 4xx error, got {e}"),
            &mut failures,
        ),
        Ok(()) => failures.push("callback to an unknown id succeeded".to_owned()),
    }

    let mut outcomes = BTreeMap::new();
    for (label, arn) in &arns {
        outcomes.insert(*label, wait_terminal(&client, arn).await?);
    }
    println!(
        "interop: {} executions terminal after {:.1}s",
        outcomes.len(),
        t0.elapsed().as_secs_f64()
    );
    for (label, outcome) in &outcomes {
        println!(
            "interop: {label:<16} {:<9} {} events, result {}",
            outcome.status,
            outcome.events.len(),
            outcome.result.as_ref().map_or_else(
                || format!("{:?}", outcome.error),
                |r| r.to_string().chars().take(80).collect()
            )
        );
    }

    let steps = &outcomes["steps"];
    check_outcome(
        "steps",
        steps,
        "SUCCEEDED",
        Some(&json!({ "flaky": "succeeded on attempt 2", "doubled": 42 })),
        &mut failures,
    );
    check_history(
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
        &mut failures,
    );

    let wait = &outcomes["wait"];
    check_outcome(
        "wait",
        wait,
        "SUCCEEDED",
        Some(&json!("hello ada, after a pause")),
        &mut failures,
    );
    check_history(
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
        &mut failures,
    );

    let child = &outcomes["child"];
    check_outcome(
        "child",
        child,
        "SUCCEEDED",
        Some(&json!("HEY!")),
        &mut failures,
    );
    check_history(
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
        &mut failures,
    );

    // Map items run two at a time, so only the counts are fixed.
    let map = &outcomes["map"];
    check_outcome(
        "map",
        map,
        "SUCCEEDED",
        Some(&json!({ "squares": [1, 4, 9], "sides": ["left", "right"] })),
        &mut failures,
    );
    for (event_type, count) in [
        ("ExecutionStarted", 1),
        ("ContextStarted", 7),
        ("ContextSucceeded", 7),
        ("StepStarted", 5),
        ("StepSucceeded", 5),
        ("ExecutionSucceeded", 1),
    ] {
        check(
            &format!("map history {event_type}"),
            map.count(event_type) == count,
            || format!("expected {count}, got {:?}", map.types()),
            &mut failures,
        );
    }

    // A result over 6 MiB goes through the EXECUTION SUCCEED checkpoint; the
    // second invocation replays all 24 steps from paged state (a step that
    // ran twice would show a second StepStarted).
    let large = &outcomes["large"];
    let expected_large = format!(
        "{}:{}",
        LARGE_STEPS * LARGE_STEP_BYTES,
        "y".repeat(LARGE_RESULT_BYTES)
    );
    check_outcome("large", large, "SUCCEEDED", None, &mut failures);
    check(
        "large result",
        large.result.as_ref().and_then(Value::as_str) == Some(expected_large.as_str()),
        || {
            format!(
                "expected {} bytes, got {:?}",
                expected_large.len(),
                large.result.as_ref().and_then(Value::as_str).map(str::len)
            )
        },
        &mut failures,
    );
    for (event_type, count) in [
        ("StepStarted", LARGE_STEPS),
        ("StepSucceeded", LARGE_STEPS),
        ("WaitSucceeded", 1),
        ("InvocationCompleted", 2),
        ("ExecutionSucceeded", 1),
    ] {
        check(
            &format!("large history {event_type}"),
            large.count(event_type) == count,
            || format!("expected {count}, got {}", large.count(event_type)),
            &mut failures,
        );
    }

    let success = &outcomes["callback-success"];
    check_outcome(
        "callback-success",
        success,
        "SUCCEEDED",
        Some(&json!({ "decision": { "approved": true } })),
        &mut failures,
    );
    check_history(
        "callback-success",
        success,
        &[
            "ExecutionStarted",
            "CallbackStarted",
            "InvocationCompleted",
            "CallbackSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ],
        &mut failures,
    );

    let failure = &outcomes["callback-failure"];
    check_outcome("callback-failure", failure, "FAILED", None, &mut failures);
    check(
        "callback-failure error",
        failure
            .error
            .as_ref()
            .is_some_and(|(kind, message)| kind == "Rejected" && message == "over budget"),
        || format!("expected Rejected / over budget, got {:?}", failure.error),
        &mut failures,
    );
    check_history(
        "callback-failure",
        failure,
        &[
            "ExecutionStarted",
            "CallbackStarted",
            "InvocationCompleted",
            "CallbackFailed",
            "InvocationCompleted",
            "ExecutionFailed",
        ],
        &mut failures,
    );

    // dex-local-runner reads the stop reason from `{"Error": {...}}`, while
    // StopDurableExecution sends the ErrorObject itself as the body (its
    // `Error` member is the HTTP payload): dex records its default reason.
    let stopped = &outcomes["callback-stop"];
    check_outcome("callback-stop", stopped, "STOPPED", None, &mut failures);
    check(
        "callback-stop history",
        stopped.types().last() == Some(&"ExecutionStopped"),
        || format!("expected ExecutionStopped last, got {:?}", stopped.types()),
        &mut failures,
    );

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
