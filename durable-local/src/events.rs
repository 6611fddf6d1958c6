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
    ErrorDetails, ErrorObject, Event, EventError, EventPayload, EventType, Operation, ResultDetails,
};

use crate::service::operations::{callback, chained_invoke, context, execution, step, wait};

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

pub(crate) fn payload(text: Option<&String>) -> EventPayload {
    EventPayload {
        payload: text.cloned(),
        truncated: false,
    }
}

pub(crate) fn error(err: Option<&ErrorObject>) -> EventError {
    EventError {
        payload: err.cloned(),
        truncated: false,
    }
}

pub(crate) fn error_details(err: Option<&ErrorObject>) -> Option<ErrorDetails> {
    Some(ErrorDetails { error: error(err) })
}

pub(crate) fn result_details(text: Option<&String>) -> Option<ResultDetails> {
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
            EventBody::ExecutionStarted
            | EventBody::ExecutionSucceeded(_)
            | EventBody::ExecutionFailed(_)
            | EventBody::ExecutionTimedOut(_)
            | EventBody::ExecutionStopped(_)
            | EventBody::InvocationCompleted(_) => {
                execution::event_details(&self.body, input, &mut event)
            }
            EventBody::StepStarted
            | EventBody::StepSucceeded { .. }
            | EventBody::StepFailed { .. } => step::event_details(&self.body, &mut event),
            EventBody::WaitStarted { .. }
            | EventBody::WaitSucceeded { .. }
            | EventBody::WaitCancelled(_) => wait::event_details(&self.body, &mut event),
            EventBody::ContextStarted
            | EventBody::ContextSucceeded(_)
            | EventBody::ContextFailed(_) => context::event_details(&self.body, &mut event),
            EventBody::CallbackStarted { .. }
            | EventBody::CallbackSucceeded(_)
            | EventBody::CallbackFailed(_)
            | EventBody::CallbackTimedOut(_) => callback::event_details(&self.body, op, &mut event),
            EventBody::ChainedInvokeStarted(_)
            | EventBody::ChainedInvokeSucceeded(_)
            | EventBody::ChainedInvokeFailed(_)
            | EventBody::ChainedInvokeTimedOut(_)
            | EventBody::ChainedInvokeStopped(_) => {
                chained_invoke::event_details(&self.body, &mut event)
            }
        }
        event
    }
}
