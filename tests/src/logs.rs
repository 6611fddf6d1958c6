//! Capturing the log lines a handler emits through the SDK's loggers, which
//! are `tracing` events with target `durable` and the text in `message`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// The target of the SDK's user-facing loggers.
pub const DURABLE_TARGET: &str = "durable";

/// One captured event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The event's target.
    pub target: String,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The `message` field.
    pub message: String,
    /// The other fields, rendered `name=value`.
    pub fields: Vec<(String, String)>,
}

/// A shared buffer of captured lines.
#[derive(Clone, Debug, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl LogBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LogLine>> {
        // A panicking handler never holds this lock; recover anyway.
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets every captured line.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A copy of the captured lines.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lock().clone()
    }

    /// Appends a line.
    pub fn push(&self, line: LogLine) {
        self.lock().push(line);
    }

    /// A layer that appends the events whose target is `target` (or starts
    /// with `target::`) to this buffer.
    pub fn layer(&self, target: &str) -> CaptureLayer {
        CaptureLayer {
            buffer: self.clone(),
            target: target.to_owned(),
        }
    }
}

/// A `tracing-subscriber` layer writing into a [`LogBuffer`].
#[derive(Debug)]
pub struct CaptureLayer {
    buffer: LogBuffer,
    target: String,
}

#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Vec<(String, String)>,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields
                .push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields.push((field.name().to_owned(), text));
        }
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        let wanted = target == self.target
            || target
                .strip_prefix(self.target.as_str())
                .is_some_and(|rest| rest.starts_with("::"));
        if !wanted {
            return;
        }
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        self.buffer.push(LogLine {
            target: target.to_owned(),
            level: meta.level().as_str().to_owned(),
            message: visitor.message.unwrap_or_default(),
            fields: visitor.fields,
        });
    }
}

/// The process-wide buffer of lines logged to the `durable` target,
/// installed on first use as the global subscriber (with a human-readable
/// stderr layer filtered by `RUST_LOG` when that variable is set).
pub fn global() -> &'static LogBuffer {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    BUFFER.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buffer = LogBuffer::new();
        let fmt = std::env::var("RUST_LOG").ok().map(|_| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        let subscriber = tracing_subscriber::registry()
            .with(buffer.layer(DURABLE_TARGET))
            .with(fmt);
        // Another subscriber may already be installed (e.g. by a test); then
        // nothing is captured, which the ExpectedLogs check will show.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[test]
    fn captures_messages_of_the_durable_target_only() {
        let buffer = LogBuffer::new();
        let subscriber = tracing_subscriber::registry().with(buffer.layer(DURABLE_TARGET));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "durable", "hello {}", 42);
            tracing::warn!(target: "durable", message = "plain", operation_id = "abc");
            tracing::info!(target: "durable::step", "nested");
            tracing::info!(target: "durable_core::engine", "internal");
            tracing::info!("untargeted");
        });
        let lines = buffer.lines();
        let messages: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["hello 42", "plain", "nested"]);
        assert_eq!(lines[0].level, "INFO");
        assert_eq!(lines[1].level, "WARN");
        assert_eq!(
            lines[1].fields,
            [("operation_id".to_owned(), "abc".to_owned())]
        );
        buffer.clear();
        assert!(buffer.lines().is_empty());
    }
}
