//! `ctx.run_in_child_context(..)`: a group of operations recorded as one
//! CONTEXT operation with its own id space (PROTOCOL §8.7).

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot};
use crate::engine::Halted;
use crate::error::{ErrorCodec, kinds};
use crate::limits::MAX_INLINE_CHILD_RESULT;
use crate::serdes::{JsonSerdes, Serdes, SerdesContext};
use crate::wire::{
    ContextOptions, ErrorObject, OperationAction, OperationStatus, OperationType, OperationUpdate,
};

/// The SubType of plain child contexts.
pub const CHILD_SUBTYPE: &str = "RunInChildContext";

/// A child context, ready to be configured and awaited. Created by
/// [`DurableContext::run_in_child_context`].
#[must_use = "a child context does nothing until it is awaited"]
pub struct ChildContext<'a, F, S = JsonSerdes> {
    _borrow: PhantomData<&'a ()>,
    ctx: DurableContext,
    slot: OpSlot,
    body: F,
    name: Option<String>,
    sub_type: &'static str,
    serdes: S,
    options: ChildOptions,
}

/// How a child context records its end (internal: map and parallel items
/// differ from plain child contexts).
#[derive(Clone, Copy)]
pub(crate) struct ChildOptions {
    /// Await the SUCCEED/FAIL update before returning. Map and parallel
    /// items do not: their results reach user code only through the parent,
    /// whose own SUCCEED is awaited, and FIFO order puts it after theirs.
    pub(crate) sync_end: bool,
    /// Builds the payload recorded instead of a result too large to store.
    pub(crate) summary: Option<fn(&str) -> String>,
    /// Return the result as read back from its payload, as a replay would.
    /// A batch with the default encoding does not need to: its items were
    /// read back already, each in its own child context.
    pub(crate) round_trip: bool,
}

impl Default for ChildOptions {
    fn default() -> Self {
        Self {
            sync_end: true,
            summary: None,
            round_trip: true,
        }
    }
}

impl DurableContext {
    /// Runs `body` in a child context: its operations are numbered on their
    /// own and recorded under one CONTEXT operation, whose result is
    /// checkpointed when the body returns. On replay a finished child returns
    /// its recorded result without running the body.
    pub fn run_in_child_context<'a, F, Fut, T, E>(&self, body: F) -> ChildContext<'a, F>
    where
        F: FnOnce(DurableContext) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        self.child_with_subtype(body, CHILD_SUBTYPE)
    }

    pub(crate) fn child_with_subtype<'a, F>(
        &self,
        body: F,
        sub_type: &'static str,
    ) -> ChildContext<'a, F> {
        self.child_at(self.next_slot(), body, sub_type)
    }

    pub(crate) fn child_at<'a, F>(
        &self,
        slot: OpSlot,
        body: F,
        sub_type: &'static str,
    ) -> ChildContext<'a, F> {
        ChildContext {
            _borrow: PhantomData,
            ctx: self.clone(),
            slot,
            body,
            name: None,
            sub_type,
            serdes: JsonSerdes,
            options: ChildOptions::default(),
        }
    }
}

impl<'a, F, S> ChildContext<'a, F, S> {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A custom encoding of the child's result.
    pub fn serdes<S2>(self, serdes: S2) -> ChildContext<'a, F, S2> {
        ChildContext {
            _borrow: PhantomData,
            ctx: self.ctx,
            slot: self.slot,
            body: self.body,
            name: self.name,
            sub_type: self.sub_type,
            serdes,
            options: self.options,
        }
    }

    pub(crate) fn options(mut self, options: ChildOptions) -> Self {
        self.options = options;
        self
    }
}

enum Seen {
    New,
    Succeeded(Option<String>),
    ReplayChildren,
    Failed(ErrorObject),
    Running,
}

impl<F, S> ChildContext<'_, F, S> {
    fn update(&self, action: OperationAction) -> OperationUpdate {
        self.ctx.update(
            &self.slot,
            OperationType::Context,
            self.sub_type,
            self.name.as_deref(),
            action,
        )
    }

    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("child context {name:?} ({})", self.slot.id),
            None => format!("child context {}", self.slot.id),
        }
    }

    fn read_record(&self) -> Result<Seen, Halted> {
        self.ctx.core().with_record(&self.slot.id, |record| {
            let Some(op) = record else {
                return Ok(Seen::New);
            };
            self.ctx.check_record(
                op,
                &self.slot,
                &OperationType::Context,
                self.sub_type,
                self.name.as_deref(),
            )?;
            let details = op.context_details.as_ref();
            Ok(match &op.status {
                OperationStatus::Succeeded
                    if details.and_then(|d| d.replay_children).unwrap_or(false) =>
                {
                    Seen::ReplayChildren
                }
                OperationStatus::Succeeded => {
                    Seen::Succeeded(details.and_then(|d| d.result.clone()))
                }
                OperationStatus::Failed
                | OperationStatus::Cancelled
                | OperationStatus::TimedOut
                | OperationStatus::Stopped => {
                    Seen::Failed(details.and_then(|d| d.error.clone()).unwrap_or_else(|| {
                        ErrorObject::new(
                            "ChildContextError",
                            format!("{} ended as {}", self.label(), op.status),
                        )
                    }))
                }
                _ => Seen::Running,
            })
        })
    }
}

impl<'a, F, Fut, T, E, S> ChildContext<'a, F, S>
where
    F: FnOnce(DurableContext) -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
    T: Send,
    E: ErrorCodec,
    S: Serdes<T>,
{
    async fn execute(self) -> Result<Result<T, E>, Halted> {
        let core = self.ctx.core().clone();
        let seen = self.read_record()?;
        let cx = SerdesContext {
            operation_id: &self.slot.id,
            execution_arn: self.ctx.execution_arn(),
        };
        let decode_error = |error: &ErrorObject| {
            E::decode(error).map_err(|why| {
                core.fail(
                    kinds::SERIALIZATION,
                    format!(
                        "the recorded error of {} cannot be rebuilt: {why}",
                        self.label()
                    ),
                )
            })
        };
        let replaying = match seen {
            Seen::Succeeded(result) => {
                return self
                    .serdes
                    .deserialize(result.as_deref(), cx)
                    .map(Ok)
                    .map_err(|why| {
                        core.fail(
                            kinds::SERIALIZATION,
                            format!(
                                "the recorded result of {} does not deserialize into {}: {why}",
                                self.label(),
                                std::any::type_name::<T>()
                            ),
                        )
                    });
            }
            Seen::Failed(error) => return Ok(Err(decode_error(&error)?)),
            Seen::ReplayChildren => {
                // Rebuild the large result by replaying the children; nothing is sent.
                let child =
                    DurableContext::with_parent(core.clone(), Some(self.slot.id.clone()), true);
                return Ok((self.body)(child).await);
            }
            Seen::Running => true,
            Seen::New => {
                self.ctx.mark_new();
                core.enqueue(self.update(OperationAction::Start));
                false
            }
        };

        let child =
            DurableContext::with_parent(core.clone(), Some(self.slot.id.clone()), replaying);
        let Self {
            ctx,
            slot,
            body,
            name,
            sub_type,
            serdes,
            options,
            ..
        } = self;
        let this = ChildContext {
            _borrow: PhantomData::<&()>,
            ctx,
            slot,
            body: (),
            name,
            sub_type,
            serdes,
            options,
        };
        let record = |update: OperationUpdate| async {
            if options.sync_end {
                core.checkpoint(update).await
            } else {
                core.enqueue(update);
                Ok(())
            }
        };
        match body(child).await {
            Ok(value) => {
                let cx = SerdesContext {
                    operation_id: &this.slot.id,
                    execution_arn: this.ctx.execution_arn(),
                };
                let payload = this.serdes.serialize(&value, cx).map_err(|why| {
                    core.fail(
                        kinds::SERIALIZATION,
                        format!("the result of {} cannot be serialized: {why}", this.label()),
                    )
                })?;
                let mut update = this.update(OperationAction::Succeed);
                if payload.len() > MAX_INLINE_CHILD_RESULT {
                    let summary = options.summary.map(|summarize| summarize(&payload));
                    update.payload = Some(summary.unwrap_or_default());
                    update.context_options = Some(ContextOptions {
                        replay_children: true,
                    });
                    record(update).await?;
                    Ok(Ok(value))
                } else if options.round_trip {
                    let value = this.serdes.deserialize(Some(&payload), cx).map_err(|why| {
                        core.fail(
                            kinds::SERIALIZATION,
                            format!("the result of {} does not read back: {why}", this.label()),
                        )
                    })?;
                    update.payload = Some(payload);
                    record(update).await?;
                    Ok(Ok(value))
                } else {
                    update.payload = Some(payload);
                    record(update).await?;
                    Ok(Ok(value))
                }
            }
            Err(error) => {
                let error = error.encode();
                let rebuilt = E::decode(&error);
                let mut update = this.update(OperationAction::Fail);
                update.error = Some(error);
                record(update).await?;
                rebuilt.map(Err).map_err(|why| {
                    core.fail(
                        kinds::SERIALIZATION,
                        format!("the error of {} cannot be rebuilt: {why}", this.label()),
                    )
                })
            }
        }
    }
}

impl<'a, F, Fut, T, E, S> IntoFuture for ChildContext<'a, F, S>
where
    F: FnOnce(DurableContext) -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
    T: Send + 'a,
    E: ErrorCodec,
    S: Serdes<T> + 'a,
{
    type Output = Result<T, E>;
    type IntoFuture = BoxFuture<'a, Result<T, E>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.execute().await {
                Ok(outcome) => outcome,
                Err(Halted) => std::future::pending().await,
            }
        })
    }
}
