//! A deployable durable function (`durable_lambda::run`) whose process dies
//! in the middle of its first invocation, for `tests/tests/dev_server.rs`.
//!
//! `crash_once DIR`: the step `prepare` appends a line to `DIR/prepare.runs`
//! (so a test can count how often it really ran); then, unless
//! `DIR/crashed` exists, the process creates it and exits with status 3,
//! before the invocation answers. On the next invocation the step is
//! replayed from its checkpoint, the marker is there, and the step
//! `finish` runs.

use std::io::Write;
use std::path::PathBuf;

use durable_lambda::prelude::*;
use serde_json::{Value, json};

fn dir() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from)
}

async fn handler(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let prepared: String = ctx
        .step(|_: StepContext| async move {
            let runs = dir().join("prepare.runs");
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&runs)
                .and_then(|mut file| writeln!(file, "ran"))
                .map_err(|e| StepError::new(format!("{}: {e}", runs.display())))?;
            Ok::<_, StepError>("prepared".to_owned())
        })
        .name("prepare")
        .await?;
    let marker = dir().join("crashed");
    if !marker.exists() {
        // Written before dying: the next process must not crash again.
        if std::fs::write(&marker, b"crashed once\n").is_ok() {
            eprintln!("crash_once: exiting in the middle of the invocation");
            std::process::exit(3);
        }
    }
    let finished: String = ctx
        .step(|_: StepContext| async move { Ok::<_, StepError>("finished".to_owned()) })
        .name("finish")
        .await?;
    Ok(json!({ "event": event, "prepared": prepared, "finished": finished }))
}

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    durable_lambda::run(handler).await
}
