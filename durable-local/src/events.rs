//! History events (PROTOCOL §12) in a compact form.
//!
//! The engine records one small [`EventRecord`] per event: the index of the
//! operation it belongs to, the time and the event-specific data. `Id`,
//! `Name`, `SubType` and `ParentId` are immutable per operation, so they are
//! read from the record when the event is turned into a wire
//! [`Event`](durable_core::wire::Event) (only when someone reads the history).
//!
//! The records are serde types so that a durable store can persist them
//! (the SQLite store keeps the body as JSON). Their JSON shape is part of
//! that store's schema: renaming a variant or a field needs a schema version.

use serde::{Deserialize, Serialize};

use durable_core::wire::{
    CallbackStartedDetails, ChainedInvokeStartedDetails, EmptyDetails, ErrorDetails, ErrorObject,
    Event, EventError, EventPayload, EventType, ExecutionStartedDetails,
    InvocationCompletedDetails, Operation, ResultDetails, RetryDetails, StepFailedDetails,
    StepSucceededDetails, WaitStartedDetails, WaitSucceededDetails,
};

/// The version a chained invoke runs (`ChainedInvokeStartedDetails.ExecutedVersion`):
/// the local engine runs the registered handler, which plays `$LATEST`.
pub const EXECUTED_VERSION: &str = "$LATEST";

/// The operation index of events that belong to no operation.
pub(crate) const NO_OPERATION: u32 = u32::MAX;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    /// Index of the operation in the execution, or [`NO_OPERATION`].
    pub(crate) op: u32,
    /// Epoch milliseconds.
    pub(crate) timestamp: i64,
    pub(crate) body: EventBody,
}

/// The event-specific part of an [`EventRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum EventBody {
    /// The input is the execution's input.
    ExecutionStarted,
    ExecutionSucceeded(Option<String>),
    ExecutionFailed(Option<Box<ErrorObject>>),
    ExecutionTimedOut(Option<Box<ErrorObject>>),
    ExecutionStopped(Option<Box<ErrorObject>>),
    InvocationCompleted(Box<InvocationRecord>),
    StepStarted,
    StepSucceeded {
        result: Option<String>,
        attempt: i32,
        delay: Option<i32>,
    },
    StepFailed {
        error: Option<Box<ErrorObject>>,
        attempt: i32,
        delay: Option<i32>,
    },
    WaitStarted {
        duration: i64,
        scheduled_end: i64,
    },
    WaitSucceeded {
        duration: i64,
    },
    WaitCancelled(Option<Box<ErrorObject>>),
    ContextStarted,
    ContextSucceeded(Option<String>),
    ContextFailed(Option<Box<ErrorObject>>),
    /// The callback id is read from the record.
    CallbackStarted {
        timeout: Option<i32>,
        heartbeat_timeout: Option<i32>,
    },
    CallbackSucceeded(Option<String>),
    CallbackFailed(Option<Box<ErrorObject>>),
    CallbackTimedOut(Option<Box<ErrorObject>>),
    ChainedInvokeStarted(Box<InvokeStart>),
    ChainedInvokeSucceeded(Option<String>),
    ChainedInvokeFailed(Option<Box<ErrorObject>>),
    ChainedInvokeTimedOut(Option<Box<ErrorObject>>),
    ChainedInvokeStopped(Option<Box<ErrorObject>>),
}

/// What `ChainedInvokeStarted` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvokeStart {
    pub(crate) function_name: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) input: Option<String>,
    /// The child execution (absent when the function could not be invoked).
    pub(crate) execution_arn: Option<String>,
}

/// What `InvocationCompleted` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvocationRecord {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) request_id: String,
    pub(crate) error: Option<ErrorObject>,
}

fn payload(text: Option<&String>) -> EventPayload {
    EventPayload {
        payload: text.cloned(),
        truncated: false,
    }
}

fn error(err: Option<&ErrorObject>) -> EventError {
    EventError {
        payload: err.cloned(),
        truncated: false,
    }
}

fn error_details(err: Option<&ErrorObject>) -> Option<ErrorDetails> {
    Some(ErrorDetails { error: error(err) })
}

fn result_details(text: Option<&String>) -> Option<ResultDetails> {
    Some(ResultDetails {
        result: payload(text),
    })
}

impl EventRecord {
    /// The event's type.
    pub(crate) fn event_type(&self) -> EventType {
        match &self.body {
            EventBody::ExecutionStarted => EventType::ExecutionStarted,
            EventBody::ExecutionSucceeded(_) => EventType::ExecutionSucceeded,
            EventBody::ExecutionFailed(_) => EventType::ExecutionFailed,
            EventBody::ExecutionTimedOut(_) => EventType::ExecutionTimedOut,
            EventBody::ExecutionStopped(_) => EventType::ExecutionStopped,
            EventBody::InvocationCompleted(_) => EventType::InvocationCompleted,
            EventBody::StepStarted => EventType::StepStarted,
            EventBody::StepSucceeded { .. } => EventType::StepSucceeded,
            EventBody::StepFailed { .. } => EventType::StepFailed,
            EventBody::WaitStarted { .. } => EventType::WaitStarted,
            EventBody::WaitSucceeded { .. } => EventType::WaitSucceeded,
            EventBody::WaitCancelled(_) => EventType::WaitCancelled,
            EventBody::ContextStarted => EventType::ContextStarted,
            EventBody::ContextSucceeded(_) => EventType::ContextSucceeded,
            EventBody::ContextFailed(_) => EventType::ContextFailed,
            EventBody::CallbackStarted { .. } => EventType::CallbackStarted,
            EventBody::CallbackSucceeded(_) => EventType::CallbackSucceeded,
            EventBody::CallbackFailed(_) => EventType::CallbackFailed,
            EventBody::CallbackTimedOut(_) => EventType::CallbackTimedOut,
            EventBody::ChainedInvokeStarted(_) => EventType::ChainedInvokeStarted,
            EventBody::ChainedInvokeSucceeded(_) => EventType::ChainedInvokeSucceeded,
            EventBody::ChainedInvokeFailed(_) => EventType::ChainedInvokeFailed,
            EventBody::ChainedInvokeTimedOut(_) => EventType::ChainedInvokeTimedOut,
            EventBody::ChainedInvokeStopped(_) => EventType::ChainedInvokeStopped,
        }
    }

    /// The wire form. `op` is the record of the operation the event belongs
    /// to (the caller looks up `self.op`; [`NO_OPERATION`] finds nothing),
    /// `input` the execution's input.
    pub(crate) fn to_wire(&self, event_id: u64, op: Option<&Operation>, input: &str) -> Event {
        let mut event = Event::new(self.event_type(), event_id, self.timestamp);
        if let Some(op) = op {
            event.id = Some(op.id.clone());
            event.name.clone_from(&op.name);
            event.sub_type.clone_from(&op.sub_type);
            event.parent_id.clone_from(&op.parent_id);
        }
        match &self.body {
            EventBody::ExecutionStarted => {
                event.execution_started_details = Some(ExecutionStartedDetails {
                    input: EventPayload {
                        payload: Some(input.to_owned()),
                        truncated: false,
                    },
                    execution_timeout: None,
                });
            }
            EventBody::ExecutionSucceeded(result) => {
                event.execution_succeeded_details = result_details(result.as_ref());
            }
            EventBody::ExecutionFailed(err) => {
                event.execution_failed_details = error_details(err.as_deref())
            }
            EventBody::ExecutionTimedOut(err) => {
                event.execution_timed_out_details = error_details(err.as_deref())
            }
            EventBody::ExecutionStopped(err) => {
                event.execution_stopped_details = error_details(err.as_deref())
            }
            EventBody::InvocationCompleted(inv) => {
                event.invocation_completed_details = Some(InvocationCompletedDetails {
                    start_timestamp: inv.start,
                    end_timestamp: inv.end,
                    request_id: inv.request_id.clone(),
                    error: inv.error.as_ref().map(|e| error(Some(e))),
                });
            }
            EventBody::StepStarted => event.step_started_details = Some(EmptyDetails {}),
            EventBody::StepSucceeded {
                result,
                attempt,
                delay,
            } => {
                event.step_succeeded_details = Some(StepSucceededDetails {
                    result: payload(result.as_ref()),
                    retry_details: Some(RetryDetails {
                        current_attempt: *attempt,
                        next_attempt_delay_seconds: *delay,
                    }),
                });
            }
            EventBody::StepFailed {
                error: err,
                attempt,
                delay,
            } => {
                event.step_failed_details = Some(StepFailedDetails {
                    error: error(err.as_deref()),
                    retry_details: Some(RetryDetails {
                        current_attempt: *attempt,
                        next_attempt_delay_seconds: *delay,
                    }),
                });
            }
            EventBody::WaitStarted {
                duration,
                scheduled_end,
            } => {
                event.wait_started_details = Some(WaitStartedDetails {
                    duration: *duration,
                    scheduled_end_timestamp: *scheduled_end,
                });
            }
            EventBody::WaitSucceeded { duration } => {
                event.wait_succeeded_details = Some(WaitSucceededDetails {
                    duration: *duration,
                });
            }
            EventBody::WaitCancelled(err) => {
                event.wait_cancelled_details = error_details(err.as_deref())
            }
            EventBody::ContextStarted => event.context_started_details = Some(EmptyDetails {}),
            EventBody::ContextSucceeded(result) => {
                event.context_succeeded_details = result_details(result.as_ref());
            }
            EventBody::ContextFailed(err) => {
                event.context_failed_details = error_details(err.as_deref())
            }
            EventBody::CallbackStarted {
                timeout,
                heartbeat_timeout,
            } => {
                let callback_id = op
                    .and_then(|op| op.callback_details.as_ref())
                    .and_then(|d| d.callback_id.clone())
                    .unwrap_or_default();
                event.callback_started_details = Some(CallbackStartedDetails {
                    callback_id,
                    timeout: timeout.map(i64::from),
                    heartbeat_timeout: heartbeat_timeout.map(i64::from),
                });
            }
            EventBody::CallbackSucceeded(result) => {
                event.callback_succeeded_details = result_details(result.as_ref());
            }
            EventBody::CallbackFailed(err) => {
                event.callback_failed_details = error_details(err.as_deref())
            }
            EventBody::CallbackTimedOut(err) => {
                event.callback_timed_out_details = error_details(err.as_deref())
            }
            EventBody::ChainedInvokeStarted(start) => {
                event.chained_invoke_started_details = Some(ChainedInvokeStartedDetails {
                    function_name: start.function_name.clone(),
                    tenant_id: start.tenant_id.clone(),
                    input: payload(start.input.as_ref()),
                    executed_version: Some(EXECUTED_VERSION.to_owned()),
                    durable_execution_arn: start.execution_arn.clone(),
                });
            }
            EventBody::ChainedInvokeSucceeded(result) => {
                event.chained_invoke_succeeded_details = result_details(result.as_ref());
            }
            EventBody::ChainedInvokeFailed(err) => {
                event.chained_invoke_failed_details = error_details(err.as_deref())
            }
            EventBody::ChainedInvokeTimedOut(err) => {
                event.chained_invoke_timed_out_details = error_details(err.as_deref())
            }
            EventBody::ChainedInvokeStopped(err) => {
                event.chained_invoke_stopped_details = error_details(err.as_deref())
            }
        }
        event
    }
}
