//! Attribute macros for durable-lambda: `#[durable_execution]` for the
//! workflow handler, `#[durable_step]` for its steps and `#[durable_child]`
//! for functions that run as a named child context.
//!
//! Use them through the facade you depend on (`durable_lambda::prelude::*`,
//! or `durable_local::prelude::*` in a test-only crate); nothing else needs
//! importing, and nobody needs to add `durable-macros` to a manifest.
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
//! # Where the generated code finds the runtime
//!
//! At expansion time the macros read the manifest of the crate being compiled
//! (`$CARGO_MANIFEST_DIR/Cargo.toml`) and name durable-core as
//! `::durable_lambda::__core` when `durable-lambda` is a dependency, else
//! `::durable_local::__core` when `durable-local` is, else `::durable_core`
//! (renamed dependencies are followed). A crate that re-exports durable-core
//! elsewhere passes `crate = "path::to::durable_core"` to any attribute.
//! Generated impls sit in anonymous `const _: () = { … };` blocks: the only
//! names a macro adds are the ones documented below.

mod child;
mod diag;
mod execution;
mod lint;
mod options;
mod paths;
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
///   `DurableError`.
/// - **The determinism lint**: in the body, outside the arguments of
///   `.step(..)`, these calls are compile errors naming the deterministic
///   alternative: `SystemTime::now`, `Instant::now`, `Utc::now`,
///   `Local::now`, `rand::random`, `rand::rng`, `thread_rng`, `Uuid::new_v4`,
///   `Uuid::now_v7`, `env::var`, `env::var_os`, `time::sleep`,
///   `tokio::spawn`, `task::spawn`, `thread::spawn` and `select!`. Calls are
///   matched by the end of their path, as written. So is a `for` loop over a
///   `HashMap` or `HashSet` (a variable or argument declared as one, a
///   reference to it, or its `.iter()`, `.keys()`, `.values()`,
///   `.into_iter()`, `.drain()`) whose body calls a durable operation
///   (`.step`, `.wait`, `.run_in_child_context`, `.create_callback`,
///   `.wait_for_callback`, `.wait_for_condition`, `.invoke`, or `.map` /
///   `.parallel` on the context): sort the entries first. Put
///   `#[durable::allow_nondeterministic]` on a statement or an expression to
///   opt out; the macro removes the marker.
///
/// Options: `crate = "path"` (where durable-core is; see the crate docs for
/// the default).
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
///     fn the_event_type_must_implement_deserialize_owned<T>()
///     where
///         T: durable_core::__private::serde::de::DeserializeOwned + Send,
///     {
///     }
///     fn the_output_type_must_implement_serialize<T>()
///     where
///         T: durable_core::__private::serde::Serialize + Send,
///     {
///     }
///     let _ = the_event_type_must_implement_deserialize_owned::<String>;
///     let _ = the_output_type_must_implement_serialize::<usize>;
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
/// - `serdes = expr`: how the result is checkpointed, any expression whose
///   type implements `Serdes<T>` (default: JSON);
/// - `crate = "path"`: where durable-core is (see the crate docs).
///
/// Settings made on the builder (`ctx.step(name(..)).name("other")`) take
/// precedence over the options.
///
/// The step value is an ordinary value of the type `name` (the struct shares
/// the function's name, in the type namespace): it can be stored, passed
/// around and collected into a `Vec<name>`. The body stays callable as a
/// plain async function, without checkpointing or retries, as
/// `name::call(step, args…)`; in a unit test, pass
/// `StepContext::for_test(attempt)`.
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
/// const _: () = {
///     impl charge {
///         async fn call(step: StepContext, order_id: String) -> Result<u32, StepError> {
///             Ok(order_id.len() as u32)
///         }
///     }
///
///     impl durable_core::StepBody for charge {
///         type Output = u32;
///         type Error = StepError;
///         // With `serdes = expr`: `Box<dyn Serdes<u32>>` and `Box::new(expr)`.
///         type Serdes = durable_core::JsonSerdes;
///
///         fn serdes(&self) -> Self::Serdes {
///             durable_core::JsonSerdes
///         }
///
///         fn run(self, step: StepContext)
///             -> impl Future<Output = Result<u32, StepError>> + Send {
///             let Self { order_id } = self;
///             Self::call(step, order_id)
///         }
///
///         fn defaults(&self) -> StepDefaults {
///             StepDefaults {
///                 name: Some(String::from("charge")),
///                 retry: Some(std::sync::Arc::new(RetryPolicy::exponential().max_attempts(3))),
///                 semantics: None,
///             }
///         }
///     }
/// };
/// ```
#[proc_macro_attribute]
pub fn durable_step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into()).into()
}

/// Turns `async fn name(ctx: DurableContext, args…) -> Result<T, E>` into a
/// function that runs its body as the child context `"name"` of the context
/// it is given: `name(&ctx, args…).await` (the Python SDK's
/// `durable_with_child_context`).
///
/// The call returns the same builder as `ctx.run_in_child_context(..)`, so
/// `.name("other")` and `.serdes(..)` still apply before `.await`. The
/// child's operations are numbered in its own id space and its result is
/// checkpointed as one CONTEXT operation; on replay a finished child returns
/// its recorded result without running the body.
///
/// The body is workflow code: the determinism lint of `#[durable_execution]`
/// applies to it, with its first argument as the context. It stays callable
/// as a plain async function, `name::call(ctx, args…)`, which runs the
/// operations directly in `ctx` (no child context of its own).
///
/// Options: `name = "…"` (default: the function's name), `crate = "path"`.
///
/// The arguments are moved into the child context, so they must be owned
/// (`'static`) values; the function cannot be generic.
///
/// # Equivalent code without the macro
///
/// ```
/// use durable_core::{BoxFuture, ChildContext, DurableContext, DurableError, StepError};
/// // #[durable_child]
/// // async fn shipping(ctx: DurableContext, order_id: String) -> Result<String, DurableError> {
/// //     Ok(ctx.step(|_| async move { Ok::<_, StepError>(format!("{order_id}/label")) }).await?)
/// // }
/// fn shipping(
///     parent: &DurableContext,
///     order_id: String,
/// ) -> ChildContext<
///     'static,
///     impl FnOnce(DurableContext) -> BoxFuture<'static, Result<String, DurableError>>
///         + Send
///         + 'static
///         + use<>,
/// > {
///     parent
///         .run_in_child_context(
///             move |ctx: DurableContext| -> BoxFuture<'static, Result<String, DurableError>> {
///                 Box::pin(shipping::call(ctx, order_id))
///             },
///         )
///         .name("shipping")
/// }
///
/// #[allow(non_camel_case_types)]
/// enum shipping {}
///
/// const _: () = {
///     impl shipping {
///         async fn call(ctx: DurableContext, order_id: String) -> Result<String, DurableError> {
///             Ok(ctx.step(|_| async move { Ok::<_, StepError>(format!("{order_id}/label")) }).await?)
///         }
///     }
/// };
/// ```
#[proc_macro_attribute]
pub fn durable_child(args: TokenStream, item: TokenStream) -> TokenStream {
    child::expand(args.into(), item.into()).into()
}
