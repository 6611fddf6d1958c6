//! Recorded combinators over durable futures: `all`, `all_settled`, `any`
//! and `race`.
//!
//! Each combinator is an operation of its own (a CONTEXT record, SubType
//! `RunInChildContext`, after the preview Rust SDK,
//! aws/aws-durable-execution-sdk-rust `src/combinator.rs`): the first time,
//! it polls its futures concurrently and records the combined outcome (which
//! future won, in which order they settled); on every replay it returns that
//! record without polling them again, so the same winner comes back even if
//! the futures would now settle in another order. The futures are created
//! before the combinator, so their own ids do not depend on the outcome.

use std::future::IntoFuture;
use std::marker::PhantomData;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot};
use crate::engine::Halted;
use crate::error::{ErrorCodec, kinds};
use crate::wire::{ErrorObject, OperationAction, OperationStatus, OperationType, OperationUpdate};

/// The SubType combinators are recorded with.
pub const COMBINATOR_SUBTYPE: &str = "RunInChildContext";
/// The error type recorded when every future of `any` failed.
pub const ALL_FAILED: &str = "AllFailedError";

/// Marks [`DurableContext::all`].
#[derive(Debug)]
pub enum All {}
/// Marks [`DurableContext::all_settled`].
#[derive(Debug)]
pub enum AllSettled {}
/// Marks [`DurableContext::any`].
#[derive(Debug)]
pub enum Any {}
/// Marks [`DurableContext::race`].
#[derive(Debug)]
pub enum Race {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    All,
    AllSettled,
    Any,
    Race,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::All => "all",
            Kind::AllSettled => "all_settled",
            Kind::Any => "any",
            Kind::Race => "race",
        }
    }
}

/// A combinator over durable futures, ready to be named and awaited. Created
/// by [`DurableContext::all`], [`all_settled`](DurableContext::all_settled),
/// [`any`](DurableContext::any) and [`race`](DurableContext::race).
#[must_use = "a combinator does nothing until it is awaited"]
pub struct Combinator<'a, T, E, K> {
    meta: Meta,
    futures: Vec<BoxFuture<'a, Result<T, E>>>,
    _kind: PhantomData<fn() -> K>,
}

/// Everything of a combinator but its futures.
struct Meta {
    ctx: DurableContext,
    slot: OpSlot,
    kind: Kind,
    name: Option<String>,
}

impl DurableContext {
    fn combinator<'a, T, E, K, F>(&self, kind: Kind, futures: Vec<F>) -> Combinator<'a, T, E, K>
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: Send + 'a,
    {
        Combinator {
            meta: Meta {
                ctx: self.clone(),
                slot: self.next_slot(),
                kind,
                name: None,
            },
            futures: futures
                .into_iter()
                .map(|f| Box::pin(f.into_future()) as BoxFuture<'a, Result<T, E>>)
                .collect(),
            _kind: PhantomData,
        }
    }

    /// Awaits every future: all values in order, or the first error (in the
    /// order they failed). Resolves to `Result<Vec<T>, E>`.
    pub fn all<'a, T, E, F>(&self, futures: Vec<F>) -> Combinator<'a, T, E, All>
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: Send + 'a,
    {
        self.combinator(Kind::All, futures)
    }

    /// Awaits every future: every outcome, in order. Resolves to
    /// `Vec<Result<T, E>>`.
    pub fn all_settled<'a, T, E, F>(&self, futures: Vec<F>) -> Combinator<'a, T, E, AllSettled>
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: Send + 'a,
    {
        self.combinator(Kind::AllSettled, futures)
    }

    /// The first success and its index, or every error (in order) if all
    /// fail. Resolves to `Result<(usize, T), Vec<E>>`.
    pub fn any<'a, T, E, F>(&self, futures: Vec<F>) -> Combinator<'a, T, E, Any>
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: Send + 'a,
    {
        self.combinator(Kind::Any, futures)
    }

    /// The first outcome to settle, success or error, and its index.
    /// Resolves to `(usize, Result<T, E>)`.
    ///
    /// ```no_run
    /// # use durable_core::*;
    /// # use std::time::Duration;
    /// # async fn demo(ctx: DurableContext) -> Result<(), DurableError> {
    /// let approval = ctx.create_callback::<bool>("approval").await;
    /// let deadline = ctx.wait(Duration::from_secs(3600));
    /// let (index, approved) = ctx
    ///     .race(vec![
    ///         Box::pin(async move { approval.result().await.map_err(DurableError::from) })
    ///             as BoxFuture<'_, Result<bool, DurableError>>,
    ///         Box::pin(async move { deadline.await; Ok(false) }),
    ///     ])
    ///     .await;
    /// # let _ = (index, approved); Ok(()) }
    /// ```
    pub fn race<'a, T, E, F>(&self, futures: Vec<F>) -> Combinator<'a, T, E, Race>
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: Send + 'a,
    {
        self.combinator(Kind::Race, futures)
    }
}

impl<T, E, K> Combinator<'_, T, E, K> {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.meta.name = Some(name.into());
        self
    }
}

/// What is recorded as the combinator's result.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    /// `all`: every value, in order.
    All { values: Vec<serde_json::Value> },
    /// `all_settled`: every outcome, in order.
    Settled { outcomes: Vec<RecordedOutcome> },
    /// `any` and `race`: the winner.
    Winner {
        index: usize,
        outcome: RecordedOutcome,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum RecordedOutcome {
    Fulfilled { value: serde_json::Value },
    Rejected { error: ErrorObject },
}

fn record_outcome<T: Serialize, E: ErrorCodec>(
    outcome: &Result<T, E>,
) -> Result<RecordedOutcome, String> {
    Ok(match outcome {
        Ok(value) => RecordedOutcome::Fulfilled {
            value: serde_json::to_value(value).map_err(|e| e.to_string())?,
        },
        Err(error) => RecordedOutcome::Rejected {
            error: error.encode(),
        },
    })
}

fn read_outcome<T: DeserializeOwned, E: ErrorCodec>(
    outcome: RecordedOutcome,
) -> Result<Result<T, E>, String> {
    Ok(match outcome {
        RecordedOutcome::Fulfilled { value } => {
            Ok(serde_json::from_value(value).map_err(|e| e.to_string())?)
        }
        RecordedOutcome::Rejected { error } => Err(E::decode(&error)?),
    })
}

/// A combinator's outcome, live or read back from its record.
enum Raw<T, E> {
    Values(Vec<T>),
    Settled(Vec<Result<T, E>>),
    Winner(usize, Result<T, E>),
    /// `all`: the first error.
    Error(E),
    /// `any`: every error, in order.
    Errors(Vec<E>),
}

impl Meta {
    async fn run<'a, T, E>(
        self,
        futures: Vec<BoxFuture<'a, Result<T, E>>>,
    ) -> Result<Raw<T, E>, Halted>
    where
        T: Serialize + DeserializeOwned + Send + 'a,
        E: ErrorCodec,
    {
        let seen = self.ctx.read_record(
            &self.slot,
            &OperationType::Context,
            COMBINATOR_SUBTYPE,
            self.name.as_deref(),
            |op| {
                let details = op.context_details.as_ref();
                match &op.status {
                    OperationStatus::Succeeded => Some(Ok(details.and_then(|d| d.result.clone()))),
                    status if status.is_terminal() => Some(Err(details
                        .and_then(|d| d.error.clone())
                        .unwrap_or_else(|| ErrorObject::new(ALL_FAILED, "the combinator failed")))),
                    _ => None,
                }
            },
        )?;
        match seen {
            Some(Some(Ok(payload))) => {
                return self
                    .read_success(payload.as_deref())
                    .map_err(|why| self.broken(&why));
            }
            Some(Some(Err(error))) => {
                return self.read_failure(&error).map_err(|why| self.broken(&why));
            }
            Some(None) => self.ctx.mark_new(),
            None => {
                self.ctx.mark_new();
                if self.kind == Kind::Race && futures.is_empty() {
                    return Err(self.ctx.core().fail(
                        kinds::VALIDATION,
                        format!("race {} has no futures to race", self.slot.id),
                    ));
                }
                self.ctx.core().enqueue(self.update(OperationAction::Start));
            }
        }
        let raw = self.live(futures).await;
        self.record(raw).await
    }

    fn update(&self, action: OperationAction) -> OperationUpdate {
        self.ctx.update(
            &self.slot,
            OperationType::Context,
            COMBINATOR_SUBTYPE,
            self.name.as_deref(),
            action,
        )
    }

    fn broken(&self, why: &str) -> Halted {
        self.ctx.core().fail(
            kinds::SERIALIZATION,
            format!(
                "the record of {} combinator {}: {why}",
                self.kind.label(),
                self.slot.id
            ),
        )
    }

    fn read_success<T: DeserializeOwned, E: ErrorCodec>(
        &self,
        payload: Option<&str>,
    ) -> Result<Raw<T, E>, String> {
        let record: Record =
            serde_json::from_str(payload.unwrap_or("")).map_err(|e| e.to_string())?;
        Ok(match record {
            Record::All { values } => Raw::Values(
                values
                    .into_iter()
                    .map(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?,
            ),
            Record::Settled { outcomes } => Raw::Settled(
                outcomes
                    .into_iter()
                    .map(read_outcome)
                    .collect::<Result<_, _>>()?,
            ),
            Record::Winner { index, outcome } => Raw::Winner(index, read_outcome(outcome)?),
        })
    }

    fn read_failure<T, E: ErrorCodec>(&self, error: &ErrorObject) -> Result<Raw<T, E>, String> {
        if self.kind == Kind::Any {
            let errors: Vec<ErrorObject> =
                serde_json::from_str(error.error_data.as_deref().unwrap_or("[]"))
                    .map_err(|e| e.to_string())?;
            return Ok(Raw::Errors(
                errors.iter().map(E::decode).collect::<Result<_, _>>()?,
            ));
        }
        Ok(Raw::Error(E::decode(error)?))
    }

    async fn live<'a, T, E>(&self, futures: Vec<BoxFuture<'a, Result<T, E>>>) -> Raw<T, E> {
        let count = futures.len();
        let mut running: FuturesUnordered<_> = futures
            .into_iter()
            .enumerate()
            .map(|(index, future)| async move { (index, future.await) })
            .collect();
        let mut slots: Vec<Option<Result<T, E>>> = (0..count).map(|_| None).collect();
        let mut errors: Vec<(usize, E)> = Vec::new();
        while let Some((index, outcome)) = running.next().await {
            match (self.kind, outcome) {
                (Kind::Race, outcome) => return Raw::Winner(index, outcome),
                (Kind::Any, Ok(value)) => return Raw::Winner(index, Ok(value)),
                (Kind::Any, Err(error)) => errors.push((index, error)),
                (Kind::All, Err(error)) => return Raw::Error(error),
                (_, outcome) => {
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(outcome);
                    }
                }
            }
        }
        match self.kind {
            Kind::Any => {
                errors.sort_by_key(|(index, _)| *index);
                Raw::Errors(errors.into_iter().map(|(_, e)| e).collect())
            }
            Kind::All => Raw::Values(slots.into_iter().flatten().filter_map(Result::ok).collect()),
            Kind::AllSettled | Kind::Race => Raw::Settled(slots.into_iter().flatten().collect()),
        }
    }

    /// Records the outcome, then returns it as read back, so first run and
    /// replay agree.
    async fn record<T: Serialize + DeserializeOwned + Send, E: ErrorCodec>(
        &self,
        raw: Raw<T, E>,
    ) -> Result<Raw<T, E>, Halted> {
        let core = self.ctx.core();
        let encoded: Result<Result<String, ErrorObject>, String> = match &raw {
            Raw::Values(values) => values
                .iter()
                .map(|v| serde_json::to_value(v).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|values| {
                    serde_json::to_string(&Record::All { values }).map_err(|e| e.to_string())
                })
                .map(Ok),
            Raw::Settled(outcomes) => outcomes
                .iter()
                .map(record_outcome)
                .collect::<Result<Vec<_>, _>>()
                .and_then(|outcomes| {
                    serde_json::to_string(&Record::Settled { outcomes }).map_err(|e| e.to_string())
                })
                .map(Ok),
            Raw::Winner(index, outcome) => record_outcome(outcome)
                .and_then(|outcome| {
                    serde_json::to_string(&Record::Winner {
                        index: *index,
                        outcome,
                    })
                    .map_err(|e| e.to_string())
                })
                .map(Ok),
            Raw::Error(error) => Ok(Err(error.encode())),
            Raw::Errors(errors) => {
                let objects: Vec<ErrorObject> = errors.iter().map(ErrorCodec::encode).collect();
                serde_json::to_string(&objects)
                    .map_err(|e| e.to_string())
                    .map(|data| {
                        Err(ErrorObject {
                            error_type: Some(ALL_FAILED.to_owned()),
                            error_message: Some(format!(
                                "all {} futures of `any` failed",
                                objects.len()
                            )),
                            error_data: Some(data),
                            stack_trace: None,
                        })
                    })
            }
        };
        match encoded.map_err(|why| self.broken(&why))? {
            Ok(payload) => {
                let back = self
                    .read_success(Some(&payload))
                    .map_err(|why| self.broken(&why))?;
                let mut update = self.update(OperationAction::Succeed);
                update.payload = Some(payload);
                core.checkpoint(update).await?;
                Ok(back)
            }
            Err(error) => {
                let back = self.read_failure(&error).map_err(|why| self.broken(&why))?;
                let mut update = self.update(OperationAction::Fail);
                update.error = Some(error);
                core.checkpoint(update).await?;
                Ok(back)
            }
        }
    }
}

macro_rules! combinator_future {
    ($kind:ty, $output:ty, |$raw:ident| $shape:expr) => {
        impl<'a, T, E> IntoFuture for Combinator<'a, T, E, $kind>
        where
            T: Serialize + DeserializeOwned + Send + 'a,
            E: ErrorCodec,
        {
            type Output = $output;
            type IntoFuture = BoxFuture<'a, $output>;

            fn into_future(self) -> Self::IntoFuture {
                Box::pin(async move {
                    let shaped: Option<$output> = match self.meta.run(self.futures).await {
                        Ok($raw) => $shape,
                        Err(Halted) => None,
                    };
                    match shaped {
                        Some(output) => output,
                        // A record of another kind was caught as non-determinism
                        // by the SubType/Name check or ended the execution.
                        None => std::future::pending().await,
                    }
                })
            }
        }
    };
}

combinator_future!(All, Result<Vec<T>, E>, |raw| match raw {
    Raw::Values(values) => Some(Ok(values)),
    Raw::Error(error) => Some(Err(error)),
    _ => None,
});
combinator_future!(AllSettled, Vec<Result<T, E>>, |raw| match raw {
    Raw::Settled(outcomes) => Some(outcomes),
    _ => None,
});
combinator_future!(Any, Result<(usize, T), Vec<E>>, |raw| match raw {
    Raw::Winner(index, Ok(value)) => Some(Ok((index, value))),
    Raw::Errors(errors) => Some(Err(errors)),
    _ => None,
});
combinator_future!(Race, (usize, Result<T, E>), |raw| match raw {
    Raw::Winner(index, outcome) => Some((index, outcome)),
    _ => None,
});
