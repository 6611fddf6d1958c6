//! Example durable functions, one module per example, each with a binary in
//! `src/bin/` that runs it on the local engine and prints its timeline.
//!
//! The handlers live in this library so that `tests/` can run them on
//! `LocalRunner` and check the outcome.

pub mod order_processing;
pub mod order_workflow;
