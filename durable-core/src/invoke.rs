//! `ctx.invoke(..)`: a chained invoke of another durable function, by name or
//! ARN, suspended until it ends (PROTOCOL §8.6).

use std::future::IntoFuture;
use std::marker::PhantomData;

use serde::Serialize;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot};
use crate::engine::Halted;
use crate::error::kinds;
use crate::recorded::{InvokeError, InvokeErrorKind};
use crate::serdes::{JsonSerdes, Serdes, SerdesContext};
use crate::wire::{
    ChainedInvokeOptions, ErrorObject, OperationAction, OperationStatus, OperationType,
};

/// The SubType of chained invokes.
pub const CHAINED_INVOKE_SUBTYPE: &str = "ChainedInvoke";

/// A chained invoke, ready to be configured and awaited. Created by
/// [`DurableContext::invoke`].
#[must_use = "an invoke does nothing until it is awaited"]
pub struct Invoke<O, S = JsonSerdes> {
    ctx: DurableContext,
    slot: OpSlot,
    function_name: String,
    input: Result<String, String>,
    name: Option<String>,
    tenant_id: Option<String>,
    serdes: S,
    _output: PhantomData<fn() -> O>,
}

impl DurableContext {
    /// Invokes another durable function (by name or ARN) with `input` and
    /// suspends until its execution ends; its result, as `O`, comes back.
    /// Input and result cross the function boundary as plain JSON.
    pub fn invoke<I: Serialize, O>(
        &self,
        function_name: impl Into<String>,
        input: &I,
    ) -> Invoke<O> {
        Invoke {
            ctx: self.clone(),
            slot: self.next_slot(),
            function_name: function_name.into(),
            input: serde_json::to_string(input).map_err(|e| e.to_string()),
            name: None,
            tenant_id: None,
            serdes: JsonSerdes,
            _output: PhantomData,
        }
    }
}

impl<O, S> Invoke<O, S> {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The tenant to run a tenant-isolated function for.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// A custom decoding of the invoked function's result.
    pub fn serdes<S2>(self, serdes: S2) -> Invoke<O, S2> {
        Invoke {
            ctx: self.ctx,
            slot: self.slot,
            function_name: self.function_name,
            input: self.input,
            name: self.name,
            tenant_id: self.tenant_id,
            serdes,
            _output: PhantomData,
        }
    }
}

enum Seen {
    Succeeded(Option<String>),
    Ended(InvokeErrorKind, ErrorObject),
    Running,
}

impl<O, S: Serdes<O>> Invoke<O, S> {
    fn read(&self) -> Result<Option<Seen>, Halted> {
        self.ctx.read_record(
            &self.slot,
            &OperationType::ChainedInvoke,
            CHAINED_INVOKE_SUBTYPE,
            self.name.as_deref(),
            |op| {
                let details = op.chained_invoke_details.as_ref();
                let kind = match &op.status {
                    OperationStatus::Succeeded => {
                        return Seen::Succeeded(details.and_then(|d| d.result.clone()));
                    }
                    OperationStatus::TimedOut => InvokeErrorKind::TimedOut,
                    OperationStatus::Stopped => InvokeErrorKind::Stopped,
                    status if status.is_terminal() => InvokeErrorKind::Failed,
                    _ => return Seen::Running,
                };
                let error = details.and_then(|d| d.error.clone()).unwrap_or_else(|| {
                    ErrorObject::new(
                        "InvokeError",
                        format!("the invoked function ended as {}", op.status),
                    )
                });
                Seen::Ended(kind, error)
            },
        )
    }

    async fn execute(self) -> Result<Result<O, InvokeError>, Halted> {
        let core = self.ctx.core().clone();
        let mut seen = self.read()?;
        if seen.is_none() {
            self.ctx.mark_new();
            let input = self.input.clone().map_err(|why| {
                core.fail(
                    kinds::SERIALIZATION,
                    format!(
                        "the input of chained invoke {} cannot be serialized: {why}",
                        self.slot.id
                    ),
                )
            })?;
            let mut update = self.ctx.update(
                &self.slot,
                OperationType::ChainedInvoke,
                CHAINED_INVOKE_SUBTYPE,
                self.name.as_deref(),
                OperationAction::Start,
            );
            update.payload = Some(input);
            update.chained_invoke_options = Some(ChainedInvokeOptions {
                function_name: self.function_name.clone(),
                tenant_id: self.tenant_id.clone(),
            });
            core.checkpoint(update).await?;
            // The service may have finished it already (an immediate rejection).
            seen = self.read()?;
        }
        match seen {
            Some(Seen::Succeeded(result)) => {
                let cx = SerdesContext {
                    operation_id: &self.slot.id,
                    execution_arn: self.ctx.execution_arn(),
                };
                Ok(self
                    .serdes
                    .deserialize(result.as_deref(), cx)
                    .map_err(|why| {
                        InvokeError::new(
                            InvokeErrorKind::InvalidResult,
                            ErrorObject::new(
                                kinds::SERIALIZATION,
                                format!(
                                    "the result of {} does not deserialize into {}: {why}",
                                    self.function_name,
                                    std::any::type_name::<O>()
                                ),
                            ),
                        )
                    }))
            }
            Some(Seen::Ended(kind, error)) => Ok(Err(InvokeError::new(kind, error))),
            Some(Seen::Running) | None => {
                self.ctx.mark_new();
                self.ctx.suspend().await
            }
        }
    }
}

impl<O: Send + 'static, S: Serdes<O> + 'static> IntoFuture for Invoke<O, S> {
    type Output = Result<O, InvokeError>;
    type IntoFuture = BoxFuture<'static, Result<O, InvokeError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.execute().await {
                Ok(outcome) => outcome,
                Err(Halted) => std::future::pending().await,
            }
        })
    }
}
