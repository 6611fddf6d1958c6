//! `ctx.step(..)`: run a piece of code once, checkpoint its result, retry it
//! on failure with back-off (PROTOCOL §8.1).

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot, StepContext};
use crate::engine::Halted;
use crate::error::{ErrorCodec, kinds};
use crate::retry::{RetryDecision, RetryPolicy, RetryStrategy, delay_seconds};
use crate::serdes::{JsonSerdes, Serdes, SerdesContext};
use crate::wire::{
    ErrorObject, OperationAction, OperationStatus, OperationType, OperationUpdate, StepOptions,
};

/// The SubType of steps.
pub const STEP_SUBTYPE: &str = "Step";

/// When a step's code may run again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StepSemantics {
    /// The body may run more than once per attempt if the invocation dies
    /// before its result is recorded (the START is not awaited). The default.
    #[default]
    AtLeastOncePerRetry,
    /// The START is recorded before the body runs; if the invocation dies
    /// during the body, the attempt counts as failed with
    /// `StepInterruptedError` instead of running again.
    AtMostOncePerRetry,
}

/// Defaults a step value carries for its builder (used by `#[durable_step]`).
#[derive(Clone, Default)]
pub struct StepDefaults {
    /// The step's name.
    pub name: Option<String>,
    /// Its retry strategy.
    pub retry: Option<Arc<dyn RetryStrategy>>,
    /// Its semantics.
    pub semantics: Option<StepSemantics>,
}

impl std::fmt::Debug for StepDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepDefaults")
            .field("name", &self.name)
            .field("retry", &self.retry.is_some())
            .field("semantics", &self.semantics)
            .finish()
    }
}

/// The code of a step: anything that, given a [`StepContext`], produces a
/// future of `Result<Output, Error>`.
///
/// Closures `FnOnce(StepContext) -> impl Future<Output = Result<T, E>>` are
/// step bodies; `#[durable_step]` functions produce values that are too.
pub trait StepBody: Send {
    /// The success value.
    type Output: Send;
    /// The error value.
    type Error: Send;
    /// How the success value is checkpointed ([`JsonSerdes`] for closures).
    type Serdes;

    /// The encoding of the success value; [`Step::serdes`] overrides it.
    fn serdes(&self) -> Self::Serdes;

    /// Runs one attempt.
    fn run(
        self,
        step: StepContext,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;

    /// Name, retry and semantics the body brings along; the builder's own
    /// settings take precedence.
    fn defaults(&self) -> StepDefaults {
        StepDefaults::default()
    }
}

impl<F, Fut, T, E> StepBody for F
where
    F: FnOnce(StepContext) -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send,
    E: Send,
{
    type Output = T;
    type Error = E;
    type Serdes = JsonSerdes;

    fn serdes(&self) -> JsonSerdes {
        JsonSerdes
    }

    fn run(self, step: StepContext) -> impl Future<Output = Result<T, E>> + Send {
        self(step)
    }
}

/// A step, ready to be configured and awaited. Created by
/// [`DurableContext::step`].
#[must_use = "a step does nothing until it is awaited"]
pub struct Step<'a, B, S = JsonSerdes> {
    _borrow: std::marker::PhantomData<&'a ()>,
    ctx: DurableContext,
    slot: OpSlot,
    body: B,
    name: Option<String>,
    retry: Option<Arc<dyn RetryStrategy>>,
    semantics: Option<StepSemantics>,
    serdes: S,
}

impl DurableContext {
    /// A step running `body`: on first execution the body runs and its result
    /// is checkpointed; on replay the recorded result comes back without
    /// running it. A failed attempt is retried by the step's strategy
    /// ([`RetryPolicy::default`] unless set), the execution suspending between
    /// attempts.
    ///
    /// ```no_run
    /// # use durable_core::{DurableContext, StepContext, StepError, RetryPolicy};
    /// # async fn demo(ctx: DurableContext) -> Result<(), StepError> {
    /// let greeting = ctx
    ///     .step(|_step: StepContext| async { Ok::<_, StepError>("hello".to_string()) })
    ///     .name("greet")
    ///     .retry(RetryPolicy::exponential().max_attempts(3))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn step<'a, B: StepBody + 'a>(&self, body: B) -> Step<'a, B, B::Serdes> {
        let defaults = body.defaults();
        let serdes = body.serdes();
        Step {
            _borrow: std::marker::PhantomData,
            ctx: self.clone(),
            slot: self.next_slot(),
            body,
            name: defaults.name,
            retry: defaults.retry,
            semantics: defaults.semantics,
            serdes,
        }
    }
}

impl<'a, B, S> Step<'a, B, S> {
    /// The name shown in the history and used to find the step in tests.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The retry strategy: a [`RetryPolicy`] or any [`RetryStrategy`].
    pub fn retry(mut self, strategy: impl RetryStrategy + 'static) -> Self {
        self.retry = Some(Arc::new(strategy));
        self
    }

    /// At-least-once (default) or at-most-once per attempt.
    pub fn semantics(mut self, semantics: StepSemantics) -> Self {
        self.semantics = Some(semantics);
        self
    }

    /// A custom encoding of the step's result.
    pub fn serdes<S2>(self, serdes: S2) -> Step<'a, B, S2> {
        Step {
            _borrow: std::marker::PhantomData,
            ctx: self.ctx,
            slot: self.slot,
            body: self.body,
            name: self.name,
            retry: self.retry,
            semantics: self.semantics,
            serdes,
        }
    }
}

impl<'a, B, S> IntoFuture for Step<'a, B, S>
where
    B: StepBody + 'a,
    B::Output: 'a,
    B::Error: ErrorCodec,
    S: Serdes<B::Output> + 'a,
{
    type Output = Result<B::Output, B::Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.execute().await {
                Ok(outcome) => outcome,
                Err(Halted) => std::future::pending().await,
            }
        })
    }
}

/// What the record at the step's id says.
enum Seen {
    New,
    Succeeded(Option<String>),
    Failed(ErrorObject),
    Pending,
    Ready(i32),
    Started(i32),
}

/// Everything of a step but its body, which is consumed by the attempt.
struct StepRun<S> {
    ctx: DurableContext,
    slot: OpSlot,
    name: Option<String>,
    retry: Option<Arc<dyn RetryStrategy>>,
    semantics: StepSemantics,
    serdes: S,
}

impl<B, S> Step<'_, B, S>
where
    B: StepBody,
    B::Error: ErrorCodec,
    S: Serdes<B::Output>,
{
    async fn execute(self) -> Result<Result<B::Output, B::Error>, Halted> {
        let Self {
            _borrow: _,
            ctx,
            slot,
            body,
            name,
            retry,
            semantics,
            serdes,
        } = self;
        let run = StepRun {
            ctx,
            slot,
            name,
            retry,
            semantics: semantics.unwrap_or_default(),
            serdes,
        };
        let seen = run.read_record()?;
        let (fresh, attempts_done) = match seen {
            Seen::New => (true, 0),
            Seen::Succeeded(result) => return Ok(Ok(run.decode_result(result.as_deref())?)),
            Seen::Failed(error) => return Ok(Err(run.decode_error::<B::Error>(&error)?)),
            Seen::Pending => return run.suspend().await,
            Seen::Ready(done) => (true, done),
            Seen::Started(done) => {
                if run.semantics == StepSemantics::AtMostOncePerRetry {
                    let attempt = attempt_number(done);
                    let error = ErrorObject::new(
                        kinds::STEP_INTERRUPTED,
                        format!(
                            "attempt {attempt} of {} was interrupted before it recorded a result; \
                             at-most-once semantics do not run it again",
                            run.label()
                        ),
                    );
                    return run.failed_attempt(error, attempt, false).await;
                }
                (false, done)
            }
        };

        let core = run.ctx.core().clone();
        if fresh {
            let update = run.update(OperationAction::Start);
            if run.semantics == StepSemantics::AtMostOncePerRetry {
                core.checkpoint(update).await?;
            } else {
                core.enqueue(update);
            }
        }

        let attempt = attempt_number(attempts_done);
        let step_cx = StepContext {
            attempt,
            operation_id: run.slot.id.clone(),
            name: run.name.clone(),
            core: core.clone(),
        };
        let outcome = {
            let _busy = core.active();
            body.run(step_cx).await
        };
        match outcome {
            Ok(value) => run.succeeded(value).await,
            Err(error) => {
                let terminal = error.is_terminal();
                run.failed_attempt(error.encode(), attempt, terminal).await
            }
        }
    }
}

fn attempt_number(attempts_done: i32) -> u32 {
    u32::try_from(attempts_done).unwrap_or(0).saturating_add(1)
}

impl<S> StepRun<S> {
    fn update(&self, action: OperationAction) -> OperationUpdate {
        self.ctx.update(
            &self.slot,
            OperationType::Step,
            STEP_SUBTYPE,
            self.name.as_deref(),
            action,
        )
    }

    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("step {name:?} ({})", self.slot.id),
            None => format!("step {}", self.slot.id),
        }
    }

    fn serdes_cx(&self) -> SerdesContext<'_> {
        SerdesContext {
            operation_id: &self.slot.id,
            execution_arn: self.ctx.execution_arn(),
        }
    }

    fn read_record(&self) -> Result<Seen, Halted> {
        let core = self.ctx.core();
        let seen = core.with_record(&self.slot.id, |record| {
            let Some(op) = record else {
                return Ok(Seen::New);
            };
            self.ctx.check_record(
                op,
                &self.slot,
                &OperationType::Step,
                STEP_SUBTYPE,
                self.name.as_deref(),
            )?;
            let details = op.step_details.as_ref();
            let done = details.map_or(0, |d| d.attempt);
            Ok(match &op.status {
                OperationStatus::Succeeded => {
                    Seen::Succeeded(details.and_then(|d| d.result.clone()))
                }
                OperationStatus::Failed
                | OperationStatus::Cancelled
                | OperationStatus::TimedOut
                | OperationStatus::Stopped => {
                    Seen::Failed(details.and_then(|d| d.error.clone()).unwrap_or_else(|| {
                        ErrorObject::new(
                            "StepError",
                            format!("{} ended as {}", self.label(), op.status),
                        )
                    }))
                }
                OperationStatus::Pending => Seen::Pending,
                OperationStatus::Ready => Seen::Ready(done),
                OperationStatus::Started => Seen::Started(done),
                OperationStatus::Unknown(status) => {
                    return Err(core.fail(
                        kinds::UNSUPPORTED_STATE,
                        format!(
                            "{} has status {status:?}, which this SDK version does not know",
                            self.label()
                        ),
                    ));
                }
            })
        })?;
        if !matches!(seen, Seen::Succeeded(_) | Seen::Failed(_)) {
            self.ctx.mark_new();
        }
        Ok(seen)
    }

    fn decode_error<E: ErrorCodec>(&self, error: &ErrorObject) -> Result<E, Halted> {
        E::decode(error).map_err(|why| {
            self.ctx.core().fail(
                kinds::SERIALIZATION,
                format!(
                    "the recorded error of {} cannot be rebuilt: {why}",
                    self.label()
                ),
            )
        })
    }

    fn decode_result<T>(&self, payload: Option<&str>) -> Result<T, Halted>
    where
        S: Serdes<T>,
    {
        self.serdes
            .deserialize(payload, self.serdes_cx())
            .map_err(|why| {
                self.ctx.core().fail(
                    kinds::SERIALIZATION,
                    format!(
                        "the recorded result of {} does not deserialize into {}: {why}",
                        self.label(),
                        std::any::type_name::<T>()
                    ),
                )
            })
    }

    async fn suspend<R>(&self) -> Result<R, Halted> {
        self.ctx.core().suspend();
        std::future::pending().await
    }

    async fn succeeded<T, E>(&self, value: T) -> Result<Result<T, E>, Halted>
    where
        S: Serdes<T>,
    {
        let payload = self
            .serdes
            .serialize(&value, self.serdes_cx())
            .map_err(|why| {
                self.ctx.core().fail(
                    kinds::SERIALIZATION,
                    format!(
                        "the result of {} cannot be serialized as {}: {why}",
                        self.label(),
                        std::any::type_name::<T>()
                    ),
                )
            })?;
        // First run and replay return the same value: the one read back.
        drop(value);
        let value = self.decode_result(Some(&payload))?;
        let mut update = self.update(OperationAction::Succeed);
        update.payload = Some(payload);
        self.ctx.core().checkpoint(update).await?;
        Ok(Ok(value))
    }

    async fn failed_attempt<T, E: ErrorCodec>(
        &self,
        error: ErrorObject,
        attempt: u32,
        terminal: bool,
    ) -> Result<Result<T, E>, Halted> {
        let decision = if terminal {
            RetryDecision::Stop
        } else {
            match &self.retry {
                Some(strategy) => strategy.decide(&error, attempt),
                None => RetryPolicy::default().decide(&error, attempt),
            }
        };
        match decision {
            RetryDecision::RetryAfter(delay) => {
                let mut update = self.update(OperationAction::Retry);
                update.error = Some(error);
                update.step_options = Some(StepOptions {
                    next_attempt_delay_seconds: delay_seconds(delay),
                });
                self.ctx.core().checkpoint(update).await?;
                self.suspend().await
            }
            RetryDecision::Stop => {
                let rebuilt = self.decode_error::<E>(&error);
                let mut update = self.update(OperationAction::Fail);
                update.error = Some(error);
                self.ctx.core().checkpoint(update).await?;
                Ok(Err(rebuilt?))
            }
        }
    }
}
