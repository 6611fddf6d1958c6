//! One handler per requirement file, written from the file's prose and
//! registered by the file's id (`1-1`, `3-12`...).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use durable_core::{DurableContext, DurableError, Serdes, SerdesContext};
use serde_json::Value;

pub mod callback;
pub mod child;
pub mod invoke;
pub mod map;
pub mod parallel;
pub mod step;
pub mod wait;
pub mod wait_for_callback;
pub mod wait_for_condition;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, DurableError>> + Send>>;

/// A handler: JSON input in, JSON result out.
pub type Handler = Arc<dyn Fn(Value, DurableContext) -> HandlerFuture + Send + Sync>;

/// Makes a fresh handler (with fresh cross-invocation state) for one run.
pub type MakeHandler = fn() -> Handler;

/// Boxes a closure as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Value, DurableContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, DurableError>> + Send + 'static,
{
    Arc::new(move |event, ctx| Box::pin(f(event, ctx)))
}

/// Every registered handler, keyed by requirement id.
pub fn registry() -> Vec<(&'static str, MakeHandler)> {
    let mut all = Vec::new();
    all.extend_from_slice(step::HANDLERS);
    all.extend_from_slice(wait::HANDLERS);
    all.extend_from_slice(child::HANDLERS);
    all.extend_from_slice(map::HANDLERS);
    all.extend_from_slice(parallel::HANDLERS);
    all.extend_from_slice(callback::HANDLERS);
    all.extend_from_slice(wait_for_callback::HANDLERS);
    all.extend_from_slice(wait_for_condition::HANDLERS);
    all.extend_from_slice(invoke::HANDLERS);
    all
}

/// The functions chained invokes may call, registered with every run under
/// these names (`LocalRunner::register_function`).
pub fn targets() -> Vec<(&'static str, MakeHandler)> {
    invoke::TARGETS.to_vec()
}

/// The handler maker registered for `id`.
pub fn find(id: &str) -> Option<MakeHandler> {
    registry()
        .into_iter()
        .find(|(key, _)| *key == id)
        .map(|(_, make)| make)
}

/// The text of a JSON input: a string as it is, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The message of a simulated crash; the runner's panic hook keeps such
/// panics quiet.
pub const CRASH_MESSAGE: &str = "simulated Lambda crash (process.exit)";

/// Simulates the Lambda process dying in the middle of user code: lets an
/// asynchronously queued checkpoint reach the engine first (as it would have
/// been flushed before a real crash), then panics. Its "result" has any type
/// the call site needs.
pub async fn crash<T>() -> T {
    tokio::task::yield_now().await;
    std::panic::panic_any(CRASH_MESSAGE)
}

/// Installs a panic hook that keeps [`crash`] panics quiet and reports every
/// other panic as the default hook does.
pub fn quiet_simulated_crashes() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let simulated = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| *m == CRASH_MESSAGE);
        if !simulated {
            previous(info);
        }
    }));
}

/// A serdes that writes a string uppercased, as raw text (not JSON), and
/// reads the text back as it is (1-6, 3-14).
#[derive(Clone, Copy, Debug, Default)]
pub struct UppercaseSerdes;

impl Serdes<String> for UppercaseSerdes {
    fn serialize(&self, value: &String, _cx: SerdesContext<'_>) -> Result<String, String> {
        Ok(value.to_uppercase())
    }

    fn deserialize(&self, payload: Option<&str>, _cx: SerdesContext<'_>) -> Result<String, String> {
        Ok(payload.unwrap_or_default().to_owned())
    }
}
