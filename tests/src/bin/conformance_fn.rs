//! The conformance handlers as one deployable Lambda function: the
//! requirement id comes from the function's name (`conf-1-1` runs the
//! handler of `1-1`), so one binary serves every requirement behind
//! `cargo lambda watch --bin conformance_fn` (see
//! `scripts/interop_conformance.sh`). `DURABLE_CONFORMANCE_ID` overrides the
//! name. The functions that chained invokes call (`echo`, `shout`...) are
//! served under their own names. `conformance_fn --list` prints the ids it
//! serves, `--targets` the names of those functions.

use durable_core::DurableContext;
use durable_tests::handlers;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), durable_lambda::Error> {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for (id, _) in handlers::registry() {
            println!("{id}");
        }
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("--targets") {
        for (name, _) in handlers::targets() {
            println!("{name}");
        }
        return Ok(());
    }
    let name = std::env::var("DURABLE_CONFORMANCE_ID")
        .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
        .unwrap_or_default();
    let id = name.strip_prefix("conf-").unwrap_or(&name).to_owned();
    let target = || {
        handlers::targets()
            .into_iter()
            .find(|(target, _)| *target == name)
            .map(|(_, make)| make)
    };
    let Some(make) = handlers::find(&id).or_else(target) else {
        return Err(format!("no conformance handler for {id:?} (function {name:?})").into());
    };
    handlers::quiet_simulated_crashes();
    let handler = make();
    durable_lambda::run(move |event: Value, ctx: DurableContext| handler(event, ctx)).await
}
