//! The replay engine of the durable-lambda framework.
//!
//! A durable handler is one async function. The service invokes it with the
//! operation records of its execution; the engine re-runs it from the top,
//! returns recorded results for the operations that already completed, runs
//! the rest, checkpoints each new result before handing it to the code, and
//! returns `PENDING` when the execution has to wait for the service (a timer,
//! a retry back-off). See `spec/PROTOCOL.md` for the wire protocol.
//!
//! # The determinism contract
//!
//! 1. Every invocation calls the same durable operations in the same order,
//!    with the same names: the position of a call is its identity.
//! 2. Anything that can differ between invocations (clocks, randomness,
//!    I/O, environment) happens inside a step, whose result is recorded.
//! 3. A mismatch is detected and ends the execution with
//!    `NonDeterministicExecutionError`; it is never hidden.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use durable_core::{DurableContext, DurableError, StepContext, StepError};
//!
//! async fn handler(name: String, ctx: DurableContext) -> Result<String, DurableError> {
//!     let greeting = ctx
//!         .step(|_step: StepContext| async move { Ok::<_, StepError>(format!("Hello, {name}!")) })
//!         .name("greet")
//!         .await?;
//!     ctx.wait(Duration::from_secs(10)).name("pause").await;
//!     Ok(greeting)
//! }
//! ```

mod backend;
mod child;
mod context;
mod engine;
mod error;
pub mod id;
mod invocation;
mod retry;
mod serdes;
mod step;
mod wait;
pub mod wire;

pub use backend::{
    Backend, BackendError, BoxFuture, INVALID_CHECKPOINT_TOKEN, INVALID_PARAMETER_VALUE,
};
pub use child::{CHILD_SUBTYPE, ChildContext, MAX_INLINE_CHILD_RESULT};
pub use context::{DurableContext, LOG_TARGET, Logger, StepContext};
pub use error::{DurableError, ErrorCodec, InvocationError, StepError, kinds};
pub use invocation::{DurableHandler, InvocationConfig, MAX_INLINE_OUTPUT, run_invocation};
pub use retry::{Jitter, RetryDecision, RetryPolicy, RetryStrategy};
pub use serdes::{FnSerdes, JsonSerdes, Serdes, SerdesContext};
pub use step::{STEP_SUBTYPE, Step, StepBody, StepDefaults, StepSemantics};
pub use wait::{MAX_WAIT_SECONDS, WAIT_SUBTYPE, Wait};
pub use wire::ErrorObject;

/// One import for handler code.
pub mod prelude {
    pub use crate::{
        DurableContext, DurableError, Jitter, RetryDecision, RetryPolicy, StepContext, StepError,
        StepSemantics,
    };
    pub use std::time::Duration;
}
