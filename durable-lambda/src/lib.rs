//! The Lambda adapter of durable-lambda.
//!
//! The `lambda_runtime` service and the `aws-sdk-lambda` backend land with
//! issue #6. Today this crate re-exports the SDK, so handler code written
//! against `durable_lambda::prelude` keeps compiling when the adapter arrives.

pub use durable_core::*;
