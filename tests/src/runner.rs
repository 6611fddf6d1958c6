//! Running one requirement file's handler on `durable_local::LocalRunner`
//! and checking what happened.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use durable_core::DurableContext;
use durable_local::{Execution, LocalRunner};
use futures::FutureExt as _;
use serde_json::Value;

use crate::callbacks::{self, ScheduledAction};
use crate::check::{Observed, check};
use crate::handlers::{self, Handler};
use crate::logs::LogBuffer;
use crate::spec::Requirement;

/// The outcome of one file.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every expectation met.
    Pass {
        /// What happened (the actual history), for verbose output.
        detail: String,
    },
    /// Something differed, or the file could not be run.
    Fail {
        /// The mismatch lines, first first.
        mismatches: Vec<String>,
        /// More detail (the actual history), for verbose output.
        detail: String,
    },
}

impl Verdict {
    fn fail(message: impl Into<String>) -> Self {
        Self::Fail {
            mismatches: vec![message.into()],
            detail: String::new(),
        }
    }
}

/// Invocations one file may take before the run counts as stuck.
pub const MAX_INVOCATIONS: u32 = 100;

/// Real time one file may take (`DURABLE_CONFORMANCE_TIMEOUT_SECS`, default
/// 60; the clock is virtual unless asked otherwise, so waits are instant).
pub fn time_limit() -> Duration {
    let secs = std::env::var("DURABLE_CONFORMANCE_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Whether `DURABLE_CONFORMANCE_REAL_TIME` asks for the real clock (waits
/// and back-offs then really take their time; raise the time limit).
pub fn real_time() -> bool {
    std::env::var_os("DURABLE_CONFORMANCE_REAL_TIME").is_some_and(|v| v != "0")
}

/// What the execution did, as the matcher sees it.
pub fn observe(exec: &Execution, logs: &LogBuffer) -> Result<Observed, String> {
    let history = exec
        .history()
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| format!("history does not serialize: {e}"))?;
    let error = exec
        .error()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| format!("error does not serialize: {e}"))?;
    Ok(Observed {
        status: exec.status().as_str().to_owned(),
        result: exec.result_payload().map(str::to_owned),
        error,
        history,
        logs: logs.lines(),
    })
}

/// The history, one compact event a line, long strings shortened.
pub fn describe(observed: &Observed) -> String {
    fn shorten(value: &Value) -> Value {
        match value {
            Value::String(s) if s.chars().count() > 120 => {
                let head: String = s.chars().take(120).collect();
                Value::String(format!("{head}…({} chars)", s.chars().count()))
            }
            Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect())
            }
            other => other.clone(),
        }
    }
    let mut out = format!(
        "status {} result {} error {}\n",
        observed.status,
        observed.result.as_deref().map_or_else(
            || "-".to_owned(),
            |r| shorten(&Value::String(r.to_owned())).to_string()
        ),
        observed
            .error
            .as_ref()
            .map_or_else(|| "-".to_owned(), Value::to_string)
    );
    for event in &observed.history {
        let mut event = shorten(event);
        if let Some(map) = event.as_object_mut() {
            map.remove("EventTimestamp");
        }
        out.push_str(&event.to_string());
        out.push('\n');
    }
    for line in &observed.logs {
        out.push_str(&format!("log [{}] {}\n", line.level, line.message));
    }
    out
}

/// Runs `handler` on a fresh `LocalRunner` with `input` (virtual clock
/// unless [`real_time`], skipping ahead to callback timeouts), with the invoke targets registered and `actions`
/// scheduled as the external system's callback requests. Returns the
/// execution and the scheduled actions that failed.
pub async fn execute(
    handler: Handler,
    input: Value,
    actions: &[ScheduledAction],
) -> Result<(Execution, Vec<String>), String> {
    // The files expect a callback nobody answers to time out (CallbackTimedOut
    // in the history): on the virtual clock, skip ahead to its deadline.
    let mut runner = LocalRunner::new(move |event: Value, ctx: DurableContext| handler(event, ctx))
        .max_invocations(MAX_INVOCATIONS)
        .skip_to_callback_timeouts(true);
    if real_time() {
        runner = runner.real_time();
    }
    for (name, make) in handlers::targets() {
        let target = make();
        runner = runner.register_function(name, move |event: Value, ctx: DurableContext| {
            target(event, ctx)
        });
    }
    for scheduled in actions {
        runner.on_callback(scheduled.name.clone(), scheduled.action.clone());
    }
    let exec = runner
        .run(input)
        .await
        .map_err(|e| format!("LocalRunner: {e}"))?;
    Ok((exec, runner.callback_action_errors()))
}

/// Runs `req`'s handler and checks the outcome against it. Clears `logs`
/// first: files must run one at a time.
pub async fn run(req: &Requirement, logs: &LogBuffer) -> Verdict {
    let actions = match callbacks::parse(req.callback_actions()) {
        Ok(actions) => actions,
        Err(e) => return Verdict::fail(e),
    };
    let Some(make) = handlers::find(&req.id) else {
        return Verdict::fail(format!("no handler registered for {}", req.id));
    };
    logs.clear();
    let input = req.input();
    // Not spawned: the runner's future is not `Send` for every lifetime
    // (see the report); a panic of the runner itself is caught here.
    let task = AssertUnwindSafe(execute(make(), input, &actions)).catch_unwind();
    let exec = match tokio::time::timeout(time_limit(), task).await {
        Err(_) => {
            return Verdict::fail(format!(
                "the execution did not finish within {:?} of real time",
                time_limit()
            ));
        }
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Verdict::fail(format!("the runner panicked: {message}"));
        }
        Ok(Ok(Err(e))) => return Verdict::fail(e),
        Ok(Ok(Ok(done))) => done,
    };
    let (exec, action_errors) = exec;
    let observed = match observe(&exec, logs) {
        Ok(o) => o,
        Err(e) => return Verdict::fail(e),
    };
    let mut mismatches = check(req, &observed);
    mismatches.extend(
        action_errors
            .into_iter()
            .map(|e| format!("CallbackActions: {e}")),
    );
    let detail = describe(&observed);
    if mismatches.is_empty() {
        Verdict::Pass { detail }
    } else {
        Verdict::Fail { mismatches, detail }
    }
}
