//! The embedded durable execution engine: a faithful in-process
//! implementation of the AWS Lambda durable execution *service*, and
//! [`LocalRunner`], the in-process test API built on it.
//!
//! The service ([`LocalService`]) implements [`durable_core::Backend`]: it
//! validates checkpoint batches like Lambda (PROTOCOL §3.4), chains checkpoint
//! tokens (§4.2), applies updates, fires wait and retry timers, validates
//! invocation outputs (§2.2) and records the history events (§12) that the
//! conformance files describe.
//!
//! # Testing a handler
//!
//! ```
//! use std::time::Duration;
//! use durable_core::wire::{ExecutionStatus, OperationStatus};
//! use durable_core::{DurableContext, DurableError, StepContext, StepError};
//! use durable_local::LocalRunner;
//!
//! async fn handler(name: String, ctx: DurableContext) -> Result<String, DurableError> {
//!     let greeting = ctx
//!         .step(|_: StepContext| async move { Ok::<_, StepError>(format!("Hello, {name}!")) })
//!         .name("greet")
//!         .await?;
//!     ctx.wait(Duration::from_secs(3600)).name("pause").await; // instant on the virtual clock
//!     Ok(greeting)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let runner = LocalRunner::new(handler);
//! let exec = runner.start("Ada").name("greet-ada").await?;
//! assert_eq!(exec.status(), ExecutionStatus::Succeeded);
//! assert_eq!(exec.result::<String>()?.as_deref(), Some("Hello, Ada!"));
//! assert_eq!(exec.operation("greet").unwrap().status(), &OperationStatus::Succeeded);
//! assert_eq!(exec.invocations(), 2); // the wait ended the first invocation
//! assert_eq!(exec.history().len(), 8); // ExecutionStarted … ExecutionSucceeded
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Scope
//!
//! STEP, WAIT, CONTEXT and EXECUTION updates are supported. CALLBACK and
//! CHAINED_INVOKE updates are rejected with an `InvalidParameterValueException`
//! until the engine implements them.

mod clock;
mod error;
mod events;
mod fxhash;
mod runner;
mod service;
mod store;
mod timeline;
mod validate;

pub use clock::Clock;
pub use error::{ALREADY_STARTED, LocalError, RESOURCE_NOT_FOUND};
pub use runner::{
    DEFAULT_FUNCTION_NAME, DEFAULT_MAX_INVOCATIONS, Execution, LocalRunner, OperationView, Start,
};
pub use service::{
    Invocation, InvocationResult, LocalService, MAX_OUTPUT_BYTES, NextStep, RUNTIME_EXIT_ERROR,
    ServiceConfig, StartedExecution,
};
pub use store::{ExecutionStore, MemoryStore, StoreError, StoredExecution};
pub use validate::{
    MAX_ERROR_BYTES, MAX_EXECUTION_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, MAX_WAIT_SECONDS,
    MIN_WAIT_SECONDS,
};
