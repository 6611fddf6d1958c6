//! The baseline: a plain `lambda_runtime` function, no durable adapter. It
//! answers a durable envelope the way a hand-written function would: the
//! execution's input, returned as a SUCCEEDED output.
//!
//! With `LAMBDA_BENCH_PRINT_DEADLINE` set it prints the deadline it was given
//! (how the cargo lambda watch deadline quirk was found).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn echo(event: LambdaEvent<Value>, print_deadline: bool) -> Result<Value, Error> {
    let input = event.payload["InitialExecutionState"]["Operations"][0]["ExecutionDetails"]
        ["InputPayload"]
        .as_str()
        .unwrap_or("null")
        .to_owned();
    if print_deadline {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        eprintln!(
            "deadline {} (in {} ms)",
            event.context.deadline,
            i128::from(event.context.deadline) - i128::try_from(now).unwrap_or(0)
        );
    }
    Ok(json!({ "Status": "SUCCEEDED", "Result": input }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let print_deadline = std::env::var_os("LAMBDA_BENCH_PRINT_DEADLINE").is_some();
    lambda_runtime::run(service_fn(move |event| echo(event, print_deadline))).await
}
