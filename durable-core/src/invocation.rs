//! One invocation: read the envelope, run the handler against the recorded
//! state, checkpoint through the backend, and produce the output (PROTOCOL §2).

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::Backend;
use crate::context::DurableContext;
use crate::engine::{ExecutionCore, Halt};
use crate::error::{DurableError, ErrorCodec, InvocationError, kinds};
use crate::limits::MAX_INLINE_OUTPUT;
use crate::wire::{
    ErrorObject, InvocationInput, InvocationOutput, InvocationStatus, Operation, OperationAction,
    OperationType, OperationUpdate,
};

/// A durable handler: `async fn(event, ctx) -> Result<T, DurableError>`.
///
/// Implemented for every `Fn(E, DurableContext) -> impl Future<Output =
/// Result<T, DurableError>>` that is `Send + Sync + 'static`.
pub trait DurableHandler<E, T>: Send + Sync + 'static {
    /// Runs the workflow for one invocation.
    fn call(
        &self,
        event: E,
        ctx: DurableContext,
    ) -> impl Future<Output = Result<T, DurableError>> + Send;
}

impl<F, Fut, E, T> DurableHandler<E, T> for F
where
    F: Fn(E, DurableContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, DurableError>> + Send,
{
    fn call(
        &self,
        event: E,
        ctx: DurableContext,
    ) -> impl Future<Output = Result<T, DurableError>> + Send {
        self(event, ctx)
    }
}

/// Options of one invocation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InvocationConfig {
    deadline_ms: Option<i64>,
    deadline_margin: std::time::Duration,
}

impl Default for InvocationConfig {
    fn default() -> Self {
        Self {
            deadline_ms: None,
            deadline_margin: std::time::Duration::from_secs(2),
        }
    }
}

impl InvocationConfig {
    /// The invocation must end by this time (epoch milliseconds; Lambda's
    /// `Context::deadline`). Shortly before it (see
    /// [`deadline_margin`](Self::deadline_margin)), if some operation waits on
    /// the service, the invocation stops taking new work and returns PENDING,
    /// so the service resumes it in a fresh invocation instead of seeing it
    /// time out; work still running then is logged as a warning and, being
    /// unrecorded, runs again on resumption.
    #[must_use]
    pub fn deadline(mut self, epoch_ms: i64) -> Self {
        self.deadline_ms = Some(epoch_ms);
        self
    }

    /// How long before the deadline to stop (2 s by default).
    #[must_use]
    pub fn deadline_margin(mut self, margin: std::time::Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// How long from now until the invocation should stop, if it has a deadline.
    fn time_left(&self) -> Option<std::time::Duration> {
        let deadline = self.deadline_ms?;
        let margin = i64::try_from(self.deadline_margin.as_millis()).unwrap_or(i64::MAX);
        let left = deadline.saturating_sub(margin).saturating_sub(now_ms());
        Some(std::time::Duration::from_millis(
            u64::try_from(left).unwrap_or(0),
        ))
    }
}

impl InvocationInput {
    /// Parses an invocation event.
    ///
    /// # Errors
    /// `InvalidEnvelope` when the bytes are not a JSON object of the durable
    /// envelope's shape.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, InvocationError> {
        serde_json::from_slice(bytes).map_err(|e| {
            InvocationError::new(
                kinds::INVALID_ENVELOPE,
                format!("the invocation event is not a durable execution envelope: {e}"),
            )
        })
    }
}

impl InvocationInput {
    /// Reads an invocation event already parsed as JSON.
    ///
    /// # Errors
    /// `InvalidEnvelope` when the event does not have the durable envelope's
    /// shape (its ARN and token are checked when the invocation runs).
    pub fn from_value(value: serde_json::Value) -> Result<Self, InvocationError> {
        serde_json::from_value(value).map_err(|e| {
            InvocationError::new(
                kinds::INVALID_ENVELOPE,
                format!("the invocation event is not a durable execution envelope: {e}"),
            )
        })
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, InvocationError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        InvocationError::new(
            kinds::INVALID_ENVELOPE,
            format!(
                "unexpected payload: the event has no {field}, so it is not a durable execution invocation; \
                 confirm that durable execution is enabled for this function"
            ),
        )
    })
}

fn halt_output(halt: Halt) -> Result<InvocationOutput, InvocationError> {
    match halt {
        Halt::Fail(error) => Ok(InvocationOutput::failed(error)),
        Halt::Retry(error) => Err(error),
    }
}

fn read_input<E: DeserializeOwned>(execution: Option<&Operation>) -> Result<E, ErrorObject> {
    let payload = execution
        .and_then(|op| op.execution_details.as_ref())
        .and_then(|d| d.input_payload.as_deref())
        .map(str::trim)
        .unwrap_or_default();
    if payload.is_empty() {
        // PY reads a missing input as `{}`; a typed Rust handler may want
        // `null` (unit, Option) instead, so try both.
        return serde_json::from_str("null")
            .or_else(|_| serde_json::from_str("{}"))
            .map_err(|e| {
                ErrorObject::new(
                    kinds::INVALID_INPUT,
                    format!(
                        "the execution has no input, and the handler's event type needs one: {e}"
                    ),
                )
            });
    }
    serde_json::from_str(payload).map_err(|e| {
        let preview: String = payload.chars().take(120).collect();
        ErrorObject::new(
            kinds::INVALID_INPUT,
            format!(
                "the execution input does not deserialize into {}: {e} (input starts with {preview:?})",
                std::any::type_name::<E>()
            ),
        )
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs one invocation of `handler` for the envelope `input`.
///
/// Returns the output the function hands back to the service: SUCCEEDED with
/// the serialized result, FAILED with the error, or PENDING when the
/// execution waits on the service. Everything queued for checkpointing is
/// recorded before it returns.
///
/// # Errors
/// The invocation itself failed and should be retried by Lambda: the envelope
/// has no ARN or token, or the service answered with a retryable error
/// (PROTOCOL §4.5). A panic in user code propagates to the caller.
pub async fn run_invocation<E, T, H>(
    handler: &H,
    input: InvocationInput,
    backend: Arc<dyn Backend>,
    config: &InvocationConfig,
) -> Result<InvocationOutput, InvocationError>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send,
    T: Serialize + Send,
{
    let arn = required(input.durable_execution_arn, "DurableExecutionArn")?;
    let token = required(input.checkpoint_token, "CheckpointToken")?;

    let mut operations = input.initial_execution_state.operations;
    let mut marker = input
        .initial_execution_state
        .next_marker
        .filter(|m| !m.is_empty());
    while let Some(page_marker) = marker.take() {
        match backend.get_state(&arn, &token, &page_marker).await {
            Ok(page) => {
                marker = page.next_page().map(str::to_owned);
                operations.extend(page.operations);
            }
            Err(error) if error.is_retryable() => {
                return Err(InvocationError::new(
                    kinds::CHECKPOINT,
                    format!("reading the execution state failed: {error}"),
                ));
            }
            Err(error) => {
                return Ok(InvocationOutput::failed(ErrorObject::new(
                    kinds::CHECKPOINT,
                    format!("reading the execution state failed: {error}"),
                )));
            }
        }
    }

    let execution_id = arn.rsplit('/').next().unwrap_or(&arn);
    let execution = operations
        .iter()
        .find(|op| op.operation_type == OperationType::Execution && op.id == execution_id)
        .or_else(|| {
            operations
                .iter()
                .find(|op| op.operation_type == OperationType::Execution)
        });
    let event: E = match read_input(execution) {
        Ok(event) => event,
        Err(error) => return Ok(InvocationOutput::failed(error)),
    };
    let replaying = operations
        .iter()
        .any(|op| op.operation_type != OperationType::Execution);
    let records: rustc_hash::FxHashMap<String, Operation> = operations
        .into_iter()
        .map(|op| (op.id.clone(), op))
        .collect();

    let (core, writer) = ExecutionCore::new(arn, records);
    let root = DurableContext::root(core.clone(), replaying);
    let writer = writer.run(core.clone(), backend, token);
    let driver = async {
        let finished = {
            let run = handler.call(event, root);
            let mut run = std::pin::pin!(run);
            let near_deadline = near_deadline(&core, config.time_left());
            tokio::select! {
                biased;
                outcome = &mut run => Some(outcome),
                () = core.stopped() => None,
                () = near_deadline => None,
            }
        };
        let output = finish(&core, finished).await;
        core.close_writer();
        output
    };
    let (output, ()) = futures::future::join(driver, writer).await;
    output
}

/// Resolves shortly before the deadline once some operation waits on the
/// service (so that PENDING is an answer the service accepts); never
/// resolves without a deadline or while nothing waits.
async fn near_deadline(core: &ExecutionCore, time_left: Option<std::time::Duration>) {
    let Some(time_left) = time_left else {
        return std::future::pending().await;
    };
    tokio::time::sleep(time_left).await;
    let running = core.running_work();
    if core.is_suspended() {
        if running > 0 {
            tracing::warn!(
                target: "durable",
                running,
                "the invocation is near its deadline: returning PENDING with {running} operation(s) still running; \
                 they did not record a result and will run again when the execution resumes"
            );
        }
        return;
    }
    tracing::warn!(
        target: "durable",
        running,
        "the invocation is near its deadline with {running} operation(s) still running and nothing waiting \
         on the service; it cannot suspend, so Lambda's timeout will end it and the service will retry"
    );
    std::future::pending().await
}

async fn finish<T: Serialize>(
    core: &ExecutionCore,
    finished: Option<Result<T, DurableError>>,
) -> Result<InvocationOutput, InvocationError> {
    let output = match finished {
        None => {
            // Earlier updates are legitimate work even when the invocation
            // halts: record them unless the writer is what failed.
            let flushed = core.flush().await;
            if let Some(halt) = core.halted() {
                return halt_output(halt);
            }
            if flushed.is_err() {
                return Err(InvocationError::new(
                    kinds::CHECKPOINT,
                    "the checkpoint writer stopped",
                ));
            }
            return Ok(InvocationOutput::pending());
        }
        Some(Ok(value)) => match serde_json::to_string(&value) {
            Ok(text) if text.len() > MAX_INLINE_OUTPUT => {
                let mut update = OperationUpdate::new(
                    format!("execution-result-{}", now_ms()),
                    OperationType::Execution,
                    OperationAction::Succeed,
                );
                update.payload = Some(text);
                let _ = core.checkpoint(update).await;
                InvocationOutput::succeeded(Some(String::new()))
            }
            Ok(text) => InvocationOutput::succeeded(Some(text)),
            Err(e) => InvocationOutput::failed(ErrorObject::new(
                kinds::SERIALIZATION,
                format!("the handler's result cannot be serialized as JSON: {e}"),
            )),
        },
        Some(Err(error)) => {
            let mut error = error.encode();
            if error.encoded_len() > MAX_INLINE_OUTPUT {
                let mut update = OperationUpdate::new(
                    format!("execution-result-{}", now_ms()),
                    OperationType::Execution,
                    OperationAction::Fail,
                );
                update.error = Some(error);
                let _ = core.checkpoint(update).await;
                return finish_flush(
                    core,
                    InvocationOutput {
                        status: InvocationStatus::Failed,
                        result: None,
                        error: None,
                    },
                )
                .await;
            }
            error.stack_trace = None;
            InvocationOutput::failed(error)
        }
    };
    finish_flush(core, output).await
}

async fn finish_flush(
    core: &ExecutionCore,
    output: InvocationOutput,
) -> Result<InvocationOutput, InvocationError> {
    let flushed = core.flush().await;
    if let Some(halt) = core.halted() {
        return halt_output(halt);
    }
    if flushed.is_err() {
        return Err(InvocationError::new(
            kinds::CHECKPOINT,
            "the checkpoint writer stopped",
        ));
    }
    Ok(output)
}
