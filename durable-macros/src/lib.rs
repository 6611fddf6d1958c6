//! Attribute macros for durable-lambda: `#[durable_execution]` for the
//! workflow handler and `#[durable_step]` for its steps.
//!
//! ```
//! use durable_core::{DurableContext, DurableError, RetryPolicy, StepContext, StepError};
//! use durable_macros::{durable_execution, durable_step};
//!
//! #[durable_step(retry = RetryPolicy::exponential().max_attempts(3))]
//! async fn greet(step: StepContext, name: String) -> Result<String, StepError> {
//!     step.logger().info(format!("greeting {name}"));
//!     Ok(format!("Hello, {name}!"))
//! }
//!
//! #[durable_execution]
//! async fn handler(name: String, ctx: DurableContext) -> Result<String, DurableError> {
//!     // Runs as the step "greet", retried up to 3 times.
//!     Ok(ctx.step(greet(name)).await?)
//! }
//! ```
//!
//! The generated code names the runtime as `::durable_core`; a crate that
//! re-exports it elsewhere passes `crate = "path::to::durable_core"`.

mod diag;
mod execution;
mod lint;
mod options;
mod signature;
mod step;

use proc_macro::TokenStream;

/// Marks the workflow handler: `async fn(event: E, ctx: DurableContext) ->
/// Result<T, DurableError>`.
///
/// The function stays a plain `async fn`, so it is passed as is to
/// `LocalRunner::new(handler)` (or any runner taking a
/// `durable_core::DurableHandler`). The attribute adds:
///
/// - **Shape checks** with spanned errors: `async`, the two arguments in
///   order, a `Result` return type.
/// - **Type checks** spanned on your types: the event must be
///   `DeserializeOwned + Send`, the output `Serialize + Send`, and the error
///   convertible to `DurableError`.
/// - **The determinism lint**: in the body, outside the arguments of
///   `.step(..)`, these calls are compile errors naming the deterministic
///   alternative: `SystemTime::now`, `Instant::now`, `Utc::now`,
///   `Local::now`, `rand::random`, `rand::rng`, `thread_rng`, `Uuid::new_v4`,
///   `Uuid::now_v7`, `env::var`, `env::var_os`, `time::sleep`,
///   `tokio::spawn`, `task::spawn`, `thread::spawn` and `select!`. Calls are
///   matched by the end of their path, as written. Put
///   `#[durable::allow_nondeterministic]` on a statement or an expression to
///   opt out; the macro removes the marker.
///
/// Options: `crate = "path"` (where durable-core is; default
/// `::durable_core`).
///
/// # Equivalent code without the macro
///
/// ```
/// # use durable_core::{DurableContext, DurableError};
/// // #[durable_execution]
/// async fn handler(event: String, ctx: DurableContext) -> Result<usize, DurableError> {
///     Ok(event.len())
/// }
/// // What the macro adds: compile-time assertions, spanned on the types.
/// const _: () = {
///     let _ = durable_core::run_invocation::<
///         String, (), fn(String, DurableContext)
///             -> std::future::Ready<Result<(), DurableError>>>;
///     let _ = durable_core::run_invocation::<
///         (), usize, fn((), DurableContext)
///             -> std::future::Ready<Result<usize, DurableError>>>;
///     let _ = |error: DurableError| -> DurableError { error };
/// };
/// ```
#[proc_macro_attribute]
pub fn durable_execution(args: TokenStream, item: TokenStream) -> TokenStream {
    execution::expand(args.into(), item.into()).into()
}

/// Turns `async fn name(step: StepContext, args…) -> Result<T, E>` into a
/// step constructor: `name(args…)` returns a step value that
/// `ctx.step(..)` runs under the name `"name"`.
///
/// Options:
/// - `name = "…"`: the step's name (default: the function's name);
/// - `retry = expr`: any expression whose type implements `RetryStrategy`,
///   e.g. `RetryPolicy::exponential().max_attempts(3)`;
/// - `semantics = at_most_once | at_least_once`;
/// - `crate = "path"`: where durable-core is (default `::durable_core`).
///
/// Settings made on the builder (`ctx.step(name(..)).name("other")`) take
/// precedence over the options.
///
/// The step value is an ordinary value of the type `name` (the struct shares
/// the function's name, in the type namespace): it can be stored, passed
/// around and collected into a `Vec<name>`. The body stays callable as a
/// plain async function, without checkpointing or retries, as
/// `name::call(step, args…)`.
///
/// The function must not be generic, and its arguments cannot be
/// `impl Trait`: they are stored in the step value.
///
/// # Equivalent code without the macro
///
/// ```
/// use durable_core::{RetryPolicy, StepContext, StepDefaults, StepError, StepSemantics};
/// // #[durable_step(retry = RetryPolicy::exponential().max_attempts(3))]
/// // async fn charge(step: StepContext, order_id: String) -> Result<u32, StepError> {
/// //     Ok(order_id.len() as u32)
/// // }
/// #[inline]
/// fn charge(order_id: String) -> charge {
///     charge { order_id }
/// }
///
/// #[allow(non_camel_case_types)]
/// #[must_use]
/// struct charge {
///     order_id: String,
/// }
///
/// impl charge {
///     async fn call(step: StepContext, order_id: String) -> Result<u32, StepError> {
///         Ok(order_id.len() as u32)
///     }
/// }
///
/// impl durable_core::StepBody for charge {
///     type Output = u32;
///     type Error = StepError;
///     type Serdes = durable_core::JsonSerdes;
///
///     fn serdes(&self) -> durable_core::JsonSerdes {
///         durable_core::JsonSerdes
///     }
///
///     fn run(self, step: StepContext)
///         -> impl Future<Output = Result<u32, StepError>> + Send {
///         let Self { order_id } = self;
///         Self::call(step, order_id)
///     }
///
///     fn defaults(&self) -> StepDefaults {
///         StepDefaults {
///             name: Some(String::from("charge")),
///             retry: Some(std::sync::Arc::new(RetryPolicy::exponential().max_attempts(3))),
///             semantics: None,
///         }
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn durable_step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into()).into()
}
