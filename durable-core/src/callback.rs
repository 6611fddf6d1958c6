//! Callbacks: suspend until an external system reports a result
//! (`create_callback`, PROTOCOL §8.3) and the composed `wait_for_callback`
//! (§8.4).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot, StepContext};
use crate::engine::Halted;
use crate::error::{StepError, kinds};
use crate::recorded::{CallbackError, CallbackErrorKind};
use crate::retry::{RetryStrategy, whole_seconds};
use crate::serdes::{JsonSerdes, Serdes, SerdesContext, SharedSerdes};
use crate::wire::{CallbackOptions, ErrorObject, OperationAction, OperationStatus, OperationType};

/// The SubType of callbacks.
pub const CALLBACK_SUBTYPE: &str = "Callback";
/// The SubType of the child context of `wait_for_callback`.
pub const WAIT_FOR_CALLBACK_SUBTYPE: &str = "WaitForCallback";
/// The error type the service records when a callback's timeout expires.
/// Not to be confused with
/// [`CALLBACK_TIMEOUT_EXCEPTION`](crate::CALLBACK_TIMEOUT_EXCEPTION), the
/// error code of the callback APIs.
pub const CALLBACK_TIMEOUT: &str = "Callback.Timeout";
/// The error type the service records when a callback's heartbeat timeout expires.
pub const CALLBACK_HEARTBEAT: &str = "Callback.Heartbeat";
/// The error type of a failed `wait_for_callback` submitter.
pub const CALLBACK_SUBMITTER: &str = "CallbackSubmitterError";

/// A callback being created. Created by [`DurableContext::create_callback`];
/// awaiting it gives the [`Callback`] handle.
#[must_use = "a callback is created when this is awaited"]
pub struct CreateCallback<T, S = JsonSerdes> {
    ctx: DurableContext,
    slot: OpSlot,
    name: Option<String>,
    timeout: Option<Duration>,
    heartbeat_timeout: Option<Duration>,
    serdes: S,
    _result: PhantomData<fn() -> T>,
}

impl DurableContext {
    /// Creates a callback: the service hands out an id that an external
    /// system uses to report a result (`SendDurableExecutionCallbackSuccess`,
    /// `…Failure`, `…Heartbeat`). Awaiting [`Callback::result`] suspends the
    /// execution until then, with nothing running.
    ///
    /// Creation never fails: a callback that already failed or timed out
    /// reports it from `result()`, so the code between creating and awaiting
    /// behaves the same on every replay.
    ///
    /// ```no_run
    /// # use durable_core::{DurableContext, DurableError, StepError};
    /// # use std::time::Duration;
    /// # async fn demo(ctx: DurableContext) -> Result<(), DurableError> {
    /// let approval = ctx.create_callback::<bool>("approval").timeout(Duration::from_secs(3600)).await;
    /// let id = approval.id().to_owned();
    /// ctx.step(move |_| async move { /* send `id` to the approver */ Ok::<_, StepError>(()) }).await?;
    /// let approved: bool = approval.result().await?;
    /// # Ok(()) }
    /// ```
    pub fn create_callback<T>(&self, name: impl Into<String>) -> CreateCallback<T> {
        let mut create = self.create_callback_unnamed();
        create.name = Some(name.into());
        create
    }

    /// [`create_callback`](Self::create_callback) without a name.
    pub fn create_callback_unnamed<T>(&self) -> CreateCallback<T> {
        CreateCallback {
            ctx: self.clone(),
            slot: self.next_slot(),
            name: None,
            timeout: None,
            heartbeat_timeout: None,
            serdes: JsonSerdes,
            _result: PhantomData,
        }
    }
}

impl<T, S> CreateCallback<T, S> {
    /// Fails the callback with `Callback.Timeout` if no result arrives in time
    /// (whole seconds, rounded up).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails the callback with `Callback.Heartbeat` if the external system
    /// sends no heartbeat (or result) for this long.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// A custom decoding of the result text (JSON by default).
    pub fn serdes<S2>(self, serdes: S2) -> CreateCallback<T, S2> {
        CreateCallback {
            ctx: self.ctx,
            slot: self.slot,
            name: self.name,
            timeout: self.timeout,
            heartbeat_timeout: self.heartbeat_timeout,
            serdes,
            _result: PhantomData,
        }
    }

    async fn execute(self) -> Result<Callback<T, S>, Halted> {
        let core = self.ctx.core().clone();
        let read_id = |op: &crate::wire::Operation| {
            op.callback_details
                .as_ref()
                .and_then(|d| d.callback_id.clone())
        };
        let recorded = self.ctx.read_record(
            &self.slot,
            &OperationType::Callback,
            CALLBACK_SUBTYPE,
            self.name.as_deref(),
            read_id,
        )?;
        let callback_id = match recorded {
            Some(id) => id,
            None => {
                self.ctx.mark_new();
                let mut update = self.ctx.update(
                    &self.slot,
                    OperationType::Callback,
                    CALLBACK_SUBTYPE,
                    self.name.as_deref(),
                    OperationAction::Start,
                );
                update.callback_options = Some(CallbackOptions {
                    timeout_seconds: self.timeout.map_or(0, whole_seconds),
                    heartbeat_timeout_seconds: self.heartbeat_timeout.map_or(0, whole_seconds),
                });
                core.checkpoint(update).await?;
                core.with_record(&self.slot.id, |op| op.and_then(read_id))
            }
        };
        let callback_id = callback_id.ok_or_else(|| {
            core.fail(
                kinds::UNSUPPORTED_STATE,
                format!(
                    "the service recorded callback {} without a CallbackId",
                    self.slot.id
                ),
            )
        })?;
        Ok(Callback {
            ctx: self.ctx,
            slot: self.slot,
            callback_id,
            name: self.name,
            serdes: Arc::new(self.serdes),
            _result: PhantomData,
        })
    }
}

impl<T: 'static, S: Send + Sync + 'static> IntoFuture for CreateCallback<T, S> {
    type Output = Callback<T, S>;
    type IntoFuture = BoxFuture<'static, Callback<T, S>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.execute().await {
                Ok(callback) => callback,
                Err(Halted) => std::future::pending().await,
            }
        })
    }
}

/// A created callback: its id for the external system, and its result.
pub struct Callback<T, S = JsonSerdes> {
    ctx: DurableContext,
    slot: OpSlot,
    callback_id: String,
    name: Option<String>,
    serdes: Arc<S>,
    _result: PhantomData<fn() -> T>,
}

impl<T, S> fmt::Debug for Callback<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("id", &self.callback_id)
            .field("operation_id", &self.slot.id)
            .field("name", &self.name)
            .finish()
    }
}

enum Outcome {
    Succeeded(Option<String>),
    Failed(ErrorObject),
    Waiting,
}

impl<T, S> Callback<T, S> {
    /// The id the external system passes to `SendDurableExecutionCallback*`.
    pub fn id(&self) -> &str {
        &self.callback_id
    }

    /// The callback operation's id.
    pub fn operation_id(&self) -> &str {
        &self.slot.id
    }
}

impl<T: Send + 'static, S: Serdes<T> + 'static> Callback<T, S> {
    /// The result sent by the external system. Suspends the execution until
    /// it arrives; fails with the sender's error, or a timeout.
    pub fn result(&self) -> BoxFuture<'static, Result<T, CallbackError>> {
        let ctx = self.ctx.clone();
        let op_id = self.slot.id.clone();
        let serdes = self.serdes.clone();
        Box::pin(async move {
            let outcome = ctx.core().with_record(&op_id, |record| match record {
                Some(op) => {
                    let details = op.callback_details.as_ref();
                    match &op.status {
                        OperationStatus::Succeeded => {
                            Outcome::Succeeded(details.and_then(|d| d.result.clone()))
                        }
                        status if status.is_terminal() => Outcome::Failed(
                            details.and_then(|d| d.error.clone()).unwrap_or_else(|| {
                                let error_type = if *status == OperationStatus::TimedOut {
                                    CALLBACK_TIMEOUT
                                } else {
                                    "CallbackError"
                                };
                                ErrorObject::new(
                                    error_type,
                                    format!("callback {op_id} ended as {status}"),
                                )
                            }),
                        ),
                        _ => Outcome::Waiting,
                    }
                }
                None => Outcome::Waiting,
            });
            match outcome {
                Outcome::Succeeded(payload) => {
                    let cx = SerdesContext {
                        operation_id: &op_id,
                        execution_arn: ctx.execution_arn(),
                    };
                    serdes.deserialize(payload.as_deref(), cx).map_err(|why| {
                        CallbackError::new(
                            CallbackErrorKind::InvalidResult,
                            ErrorObject::new(
                                kinds::CALLBACK_RESULT,
                                format!(
                                    "the result sent to callback {op_id} does not deserialize into {}: {why}",
                                    std::any::type_name::<T>()
                                ),
                            ),
                        )
                    })
                }
                Outcome::Failed(error) => Err(CallbackError::from_record(error)),
                Outcome::Waiting => ctx.suspend().await,
            }
        })
    }
}

/// A `wait_for_callback` operation, ready to be configured and awaited.
/// Created by [`DurableContext::wait_for_callback`].
#[must_use = "wait_for_callback does nothing until it is awaited"]
pub struct WaitForCallback<'a, T, F, S = JsonSerdes> {
    ctx: DurableContext,
    submitter: F,
    name: Option<String>,
    timeout: Option<Duration>,
    heartbeat_timeout: Option<Duration>,
    retry: Option<Arc<dyn RetryStrategy>>,
    serdes: S,
    _result: PhantomData<fn() -> &'a T>,
}

impl DurableContext {
    /// Creates a callback, hands its id to `submitter` inside a step (retried
    /// by its own strategy), and suspends until the callback completes. All of
    /// it is recorded in one child context, so it counts as one operation.
    ///
    /// ```no_run
    /// # use durable_core::{DurableContext, DurableError, StepContext, StepError};
    /// # async fn demo(ctx: DurableContext) -> Result<(), DurableError> {
    /// let approved: bool = ctx
    ///     .wait_for_callback(|callback_id: String, _step: StepContext| async move {
    ///         // e-mail the approver a link carrying `callback_id`
    ///         Ok::<_, StepError>(())
    ///     })
    ///     .name("approval")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_callback<'a, T, F, Fut>(&self, submitter: F) -> WaitForCallback<'a, T, F>
    where
        F: FnOnce(String, StepContext) -> Fut + Send + 'a,
        Fut: Future<Output = Result<(), StepError>> + Send + 'a,
    {
        WaitForCallback {
            ctx: self.clone(),
            submitter,
            name: None,
            timeout: None,
            heartbeat_timeout: None,
            retry: None,
            serdes: JsonSerdes,
            _result: PhantomData,
        }
    }
}

impl<'a, T, F, S> WaitForCallback<'a, T, F, S> {
    /// The name of the operation: the child context (SubType
    /// `WaitForCallback`) is named `name`, and inside it, as in the official
    /// SDKs, the CALLBACK operation is named `"<name> create callback id"`
    /// and the submitter step `"<name> submitter"`. Testing tools such as
    /// `durable_local::LocalRunner::on_callback` find the callback by `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The callback's timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The callback's heartbeat timeout.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// The retry strategy of the submitter step.
    pub fn retry(mut self, strategy: impl RetryStrategy + 'static) -> Self {
        self.retry = Some(Arc::new(strategy));
        self
    }

    /// A custom encoding of the result (used to read the callback's result
    /// and to record the operation's).
    pub fn serdes<S2>(self, serdes: S2) -> WaitForCallback<'a, T, F, S2> {
        WaitForCallback {
            ctx: self.ctx,
            submitter: self.submitter,
            name: self.name,
            timeout: self.timeout,
            heartbeat_timeout: self.heartbeat_timeout,
            retry: self.retry,
            serdes,
            _result: PhantomData,
        }
    }
}

impl<'a, T, F, Fut, S> IntoFuture for WaitForCallback<'a, T, F, S>
where
    T: Send + 'static,
    F: FnOnce(String, StepContext) -> Fut + Send + 'a,
    Fut: Future<Output = Result<(), StepError>> + Send + 'a,
    S: Serdes<T> + 'static,
{
    type Output = Result<T, CallbackError>;
    type IntoFuture = BoxFuture<'a, Result<T, CallbackError>>;

    fn into_future(self) -> Self::IntoFuture {
        let Self {
            ctx,
            submitter,
            name,
            timeout,
            heartbeat_timeout,
            retry,
            serdes,
            ..
        } = self;
        let serdes = Arc::new(serdes);
        let inner_serdes = SharedSerdes(serdes.clone());
        let child_name = name.clone();
        let mut child = ctx
            .child_with_subtype(
                move |child: DurableContext| async move {
                    let label = |suffix: &str| name.as_ref().map(|n| format!("{n} {suffix}"));
                    let mut create = child.create_callback_unnamed::<T>().serdes(inner_serdes);
                    create.name = label("create callback id");
                    if let Some(timeout) = timeout {
                        create = create.timeout(timeout);
                    }
                    if let Some(timeout) = heartbeat_timeout {
                        create = create.heartbeat_timeout(timeout);
                    }
                    let callback = create.await;
                    let callback_id = callback.id().to_owned();
                    let mut submit =
                        child.step(move |step: StepContext| submitter(callback_id, step));
                    if let Some(name) = label("submitter") {
                        submit = submit.name(name);
                    }
                    if let Some(retry) = retry {
                        submit = submit.retry(retry);
                    }
                    if let Err(error) = submit.await {
                        let mut error = error.to_error_object();
                        let cause = error.to_string();
                        error.error_type = Some(CALLBACK_SUBMITTER.to_owned());
                        error.error_message =
                            Some(format!("the submitter of the callback failed: {cause}"));
                        return Err(CallbackError::new(
                            CallbackErrorKind::SubmitterFailed,
                            error,
                        ));
                    }
                    callback.result().await
                },
                WAIT_FOR_CALLBACK_SUBTYPE,
            )
            .serdes(SharedSerdes(serdes));
        if let Some(name) = child_name {
            child = child.name(name);
        }
        child.into_future()
    }
}
