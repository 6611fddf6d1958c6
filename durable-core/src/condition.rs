//! `wait_for_condition`: poll a check function, carrying its state from one
//! attempt to the next, with the execution suspended between polls
//! (PROTOCOL §8.5).

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot, StepContext};
use crate::engine::Halted;
use crate::error::{ErrorCodec, kinds};
use crate::retry::{Backoff, Jitter, delay_seconds};
use crate::serdes::{JsonSerdes, Serdes, SerdesContext};
use crate::wire::{
    ErrorObject, OperationAction, OperationStatus, OperationType, OperationUpdate, StepOptions,
};

/// The SubType of wait_for_condition operations.
pub const WAIT_FOR_CONDITION_SUBTYPE: &str = "WaitForCondition";

/// What to do after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitDecision {
    /// The condition holds: finish with the current state.
    Done,
    /// Check again after this delay (whole seconds, at least 1).
    WaitAgain(Duration),
    /// Give up: the operation fails with this message.
    GiveUp(String),
}

/// Decides, from the state a check returned and the 1-based attempt number,
/// whether to poll again. Closures `Fn(&S, u32) -> WaitDecision` are wait
/// strategies; [`WaitStrategy`] is the configurable one.
pub trait WaitStrategyFn<S>: Send + Sync {
    /// The decision after attempt `attempt` produced `state`.
    fn decide(&self, state: &S, attempt: u32) -> WaitDecision;
}

impl<S, F: Fn(&S, u32) -> WaitDecision + Send + Sync> WaitStrategyFn<S> for F {
    fn decide(&self, state: &S, attempt: u32) -> WaitDecision {
        self(state, attempt)
    }
}

/// Polls until a predicate on the state holds, with back-off: by default 60
/// attempts, 5 s initial delay, 300 s cap, ×1.5, full jitter (the official
/// SDKs' defaults).
pub struct WaitStrategy<S> {
    done: Arc<dyn Fn(&S) -> bool + Send + Sync>,
    max_attempts: u32,
    backoff: Backoff,
}

impl<S> WaitStrategy<S> {
    /// Stops polling once `done(state)` is true.
    pub fn until(done: impl Fn(&S) -> bool + Send + Sync + 'static) -> Self {
        Self {
            done: Arc::new(done),
            max_attempts: 60,
            backoff: Backoff::exponential(Duration::from_secs(5), 1.5, Duration::from_secs(300)),
        }
    }

    /// Gives up (the operation fails) after this many checks.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay after the first check.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.backoff = self.backoff.initial_delay(delay);
        self
    }

    /// The longest delay.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.backoff = self.backoff.max_delay(delay);
        self
    }

    /// The factor between consecutive delays.
    #[must_use]
    pub fn backoff_rate(mut self, rate: f64) -> Self {
        self.backoff = self.backoff.rate(rate);
        self
    }

    /// How delays are randomized.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.backoff = self.backoff.jitter(jitter);
        self
    }
}

impl<S> WaitStrategyFn<S> for WaitStrategy<S> {
    fn decide(&self, state: &S, attempt: u32) -> WaitDecision {
        if (self.done)(state) {
            return WaitDecision::Done;
        }
        if attempt >= self.max_attempts {
            return WaitDecision::GiveUp(format!(
                "the condition was still not met after {attempt} attempts (the limit is {})",
                self.max_attempts
            ));
        }
        WaitDecision::WaitAgain(self.backoff.delay(attempt))
    }
}

/// A wait_for_condition operation, ready to be configured and awaited.
/// Created by [`DurableContext::wait_for_condition`].
#[must_use = "wait_for_condition does nothing until it is awaited"]
pub struct WaitForCondition<'a, St, F, W, S = JsonSerdes> {
    ctx: DurableContext,
    slot: OpSlot,
    check: F,
    initial: St,
    strategy: W,
    name: Option<String>,
    serdes: S,
    _borrow: PhantomData<&'a ()>,
}

impl DurableContext {
    /// Polls `check` until `strategy` says the condition holds. Each check
    /// gets the state the previous one returned (`initial` the first time);
    /// between checks the execution suspends for the strategy's delay. The
    /// final state is the result. An error from `check` fails the operation
    /// at once (no retry); so does running out of attempts.
    ///
    /// ```no_run
    /// # use durable_core::*;
    /// # async fn demo(ctx: DurableContext) -> Result<(), DurableError> {
    /// let ready: u32 = ctx
    ///     .wait_for_condition(
    ///         |polls: u32, _step: StepContext| async move { Ok::<_, StepError>(polls + 1) },
    ///         0,
    ///         WaitStrategy::until(|polls: &u32| *polls >= 3).initial_delay(std::time::Duration::from_secs(10)),
    ///     )
    ///     .name("job-finished")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_condition<'a, St, F, Fut, E, W>(
        &self,
        check: F,
        initial: St,
        strategy: W,
    ) -> WaitForCondition<'a, St, F, W>
    where
        F: FnOnce(St, StepContext) -> Fut + Send + 'a,
        Fut: Future<Output = Result<St, E>> + Send + 'a,
        W: WaitStrategyFn<St>,
    {
        WaitForCondition {
            ctx: self.clone(),
            slot: self.next_slot(),
            check,
            initial,
            strategy,
            name: None,
            serdes: JsonSerdes,
            _borrow: PhantomData,
        }
    }
}

impl<'a, St, F, W, S> WaitForCondition<'a, St, F, W, S> {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A custom encoding of the state.
    pub fn serdes<S2>(self, serdes: S2) -> WaitForCondition<'a, St, F, W, S2> {
        WaitForCondition {
            ctx: self.ctx,
            slot: self.slot,
            check: self.check,
            initial: self.initial,
            strategy: self.strategy,
            name: self.name,
            serdes,
            _borrow: PhantomData,
        }
    }
}

enum Seen {
    New,
    Succeeded(Option<String>),
    Failed(ErrorObject),
    Pending,
    /// READY (needs a START) or STARTED (re-run), with attempts done and the carried state.
    Resume {
        start: bool,
        attempts: i32,
        state: Option<String>,
    },
}

impl<'a, St, F, Fut, E, W, S> WaitForCondition<'a, St, F, W, S>
where
    St: Send + 'a,
    F: FnOnce(St, StepContext) -> Fut + Send + 'a,
    Fut: Future<Output = Result<St, E>> + Send + 'a,
    E: ErrorCodec,
    W: WaitStrategyFn<St> + 'a,
    S: Serdes<St> + 'a,
{
    async fn execute(self) -> Result<Result<St, E>, Halted> {
        let Self {
            ctx,
            slot,
            check,
            initial,
            strategy,
            name,
            serdes,
            ..
        } = self;
        // Everything but the check and the initial state, which are consumed.
        let run = WaitForCondition {
            ctx,
            slot,
            check: (),
            initial: (),
            strategy,
            name,
            serdes,
            _borrow: PhantomData::<&()>,
        };
        let seen = run
            .ctx
            .read_record(
                &run.slot,
                &OperationType::Step,
                WAIT_FOR_CONDITION_SUBTYPE,
                run.name.as_deref(),
                |op| {
                    let details = op.step_details.as_ref();
                    let attempts = details.map_or(0, |d| d.attempt);
                    let result = details.and_then(|d| d.result.clone());
                    match &op.status {
                        OperationStatus::Succeeded => Seen::Succeeded(result),
                        OperationStatus::Pending => Seen::Pending,
                        OperationStatus::Ready => Seen::Resume {
                            start: true,
                            attempts,
                            state: result,
                        },
                        OperationStatus::Started => Seen::Resume {
                            start: false,
                            attempts,
                            state: result,
                        },
                        status => Seen::Failed(
                            details.and_then(|d| d.error.clone()).unwrap_or_else(|| {
                                ErrorObject::new(
                                    kinds::WAIT_FOR_CONDITION,
                                    format!("{} ended as {status}", run.label()),
                                )
                            }),
                        ),
                    }
                },
            )?
            .unwrap_or(Seen::New);
        let (start, attempts, carried) = match seen {
            Seen::Succeeded(result) => return Ok(Ok(run.decode_state(result.as_deref())?)),
            Seen::Failed(error) => return Ok(Err(run.decode_error(&error)?)),
            Seen::Pending => {
                run.ctx.mark_new();
                return run.ctx.suspend().await;
            }
            Seen::New => (true, 0, None),
            Seen::Resume {
                start,
                attempts,
                state,
            } => (start, attempts, state),
        };
        run.ctx.mark_new();
        if start {
            run.ctx
                .core()
                .enqueue(run.plain_update(OperationAction::Start));
        }
        let state = match carried {
            Some(payload) => run.decode_state(Some(&payload))?,
            None => initial,
        };
        run.attempt(check, state, attempts).await
    }
}

impl<W, S> WaitForCondition<'_, (), (), W, S> {
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("wait_for_condition {name:?} ({})", self.slot.id),
            None => format!("wait_for_condition {}", self.slot.id),
        }
    }

    fn fail(&self, what: &str, why: &str) -> Halted {
        self.ctx.core().fail(
            kinds::SERIALIZATION,
            format!("{what} of {}: {why}", self.label()),
        )
    }

    fn decode_state<St>(&self, payload: Option<&str>) -> Result<St, Halted>
    where
        S: Serdes<St>,
    {
        let cx = SerdesContext {
            operation_id: &self.slot.id,
            execution_arn: self.ctx.execution_arn(),
        };
        self.serdes
            .deserialize(payload, cx)
            .map_err(|why| self.fail("the recorded state does not deserialize", &why))
    }

    fn decode_error<E: ErrorCodec>(&self, error: &ErrorObject) -> Result<E, Halted> {
        E::decode(error).map_err(|why| self.fail("the recorded error cannot be rebuilt", &why))
    }

    fn plain_update(&self, action: OperationAction) -> OperationUpdate {
        self.ctx.update(
            &self.slot,
            OperationType::Step,
            WAIT_FOR_CONDITION_SUBTYPE,
            self.name.as_deref(),
            action,
        )
    }

    async fn attempt<St, F, Fut, E>(
        self,
        check: F,
        state: St,
        attempts: i32,
    ) -> Result<Result<St, E>, Halted>
    where
        F: FnOnce(St, StepContext) -> Fut,
        Fut: Future<Output = Result<St, E>>,
        E: ErrorCodec,
        W: WaitStrategyFn<St>,
        S: Serdes<St>,
    {
        let core = self.ctx.core().clone();
        let attempt = u32::try_from(attempts).unwrap_or(0).saturating_add(1);
        let step = StepContext {
            attempt,
            operation_id: self.slot.id.clone(),
            name: self.name.clone(),
            core: core.clone(),
        };
        let outcome = {
            let _busy = core.active();
            check(state, step).await
        };
        let cx = SerdesContext {
            operation_id: &self.slot.id,
            execution_arn: self.ctx.execution_arn(),
        };
        let fail_with = |error: ErrorObject| async {
            let rebuilt = E::decode(&error);
            let mut update = self.plain_update(OperationAction::Fail);
            update.error = Some(error);
            core.checkpoint(update).await?;
            rebuilt.map(Err).map_err(|why| {
                core.fail(
                    kinds::SERIALIZATION,
                    format!(
                        "the error of wait_for_condition {} cannot be rebuilt: {why}",
                        self.slot.id
                    ),
                )
            })
        };
        let state = match outcome {
            Ok(state) => state,
            Err(error) => return fail_with(error.encode()).await,
        };
        let payload = self.serdes.serialize(&state, cx).map_err(|why| {
            core.fail(
                kinds::SERIALIZATION,
                format!(
                    "the state of wait_for_condition {} cannot be serialized: {why}",
                    self.slot.id
                ),
            )
        })?;
        match self.strategy.decide(&state, attempt) {
            WaitDecision::Done => {
                drop(state);
                let value = self.serdes.deserialize(Some(&payload), cx).map_err(|why| {
                    core.fail(
                        kinds::SERIALIZATION,
                        format!(
                            "the state of wait_for_condition {} does not read back: {why}",
                            self.slot.id
                        ),
                    )
                })?;
                let mut update = self.plain_update(OperationAction::Succeed);
                update.payload = Some(payload);
                core.checkpoint(update).await?;
                Ok(Ok(value))
            }
            WaitDecision::WaitAgain(delay) => {
                drop(state);
                let mut update = self.plain_update(OperationAction::Retry);
                update.payload = Some(payload);
                update.step_options = Some(StepOptions {
                    next_attempt_delay_seconds: delay_seconds(delay),
                });
                core.checkpoint(update).await?;
                self.ctx.suspend().await
            }
            WaitDecision::GiveUp(message) => {
                drop(state);
                fail_with(ErrorObject::new(kinds::WAIT_FOR_CONDITION, message)).await
            }
        }
    }
}

impl<'a, St, F, Fut, E, W, S> IntoFuture for WaitForCondition<'a, St, F, W, S>
where
    St: Send + 'a,
    F: FnOnce(St, StepContext) -> Fut + Send + 'a,
    Fut: Future<Output = Result<St, E>> + Send + 'a,
    E: ErrorCodec,
    W: WaitStrategyFn<St> + 'a,
    S: Serdes<St> + 'a,
{
    type Output = Result<St, E>;
    type IntoFuture = BoxFuture<'a, Result<St, E>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.execute().await {
                Ok(outcome) => outcome,
                Err(Halted) => std::future::pending().await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(decision: WaitDecision) -> u64 {
        match decision {
            WaitDecision::WaitAgain(delay) => delay.as_secs(),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn the_wait_strategy_checks_first_then_backs_off_then_gives_up() {
        let exact = WaitStrategy::until(|n: &u32| *n >= 10)
            .max_attempts(4)
            .jitter(Jitter::None);
        assert_eq!(exact.decide(&10, 4), WaitDecision::Done);
        // The defaults: 5 s, ×1.5, rounded up to whole seconds.
        assert_eq!(
            (1..=3)
                .map(|n| secs(exact.decide(&0, n)))
                .collect::<Vec<_>>(),
            [5, 8, 12]
        );
        assert!(matches!(exact.decide(&0, 4), WaitDecision::GiveUp(_)));
        let capped = WaitStrategy::until(|_: &u32| false)
            .initial_delay(Duration::from_millis(300))
            .backoff_rate(100.0)
            .max_delay(Duration::from_secs(20))
            .jitter(Jitter::None);
        assert_eq!(secs(capped.decide(&0, 1)), 1);
        assert_eq!(secs(capped.decide(&0, 3)), 20);
        // Full jitter by default: 1 s to the computed delay.
        let jittered = WaitStrategy::until(|_: &u32| false);
        for _ in 0..200 {
            assert!((1..=8).contains(&secs(jittered.decide(&0, 2))));
        }
    }
}
