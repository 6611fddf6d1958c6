//! Attribute macros for durable-lambda.
//!
//! `#[durable_execution]` and `#[durable_step]` are being built (issue #3);
//! until they land, handlers are plain `async fn(event, DurableContext)`
//! functions and steps are closures passed to `DurableContext::step`.
