//! History events (PROTOCOL §12) in a compact form.
//!
//! The engine records one small [`EventRecord`] per event: the index of the
//! operation it belongs to, the time and the event-specific data. `Id`,
//! `Name`, `SubType` and `ParentId` are immutable per operation, so they are
//! read from the record when the event is turned into a wire
//! [`Event`](durable_core::wire::Event) (only when someone reads the history).

use durable_core::wire::{
    EmptyDetails, ErrorDetails, ErrorObject, Event, EventError, EventPayload, EventType,
    ExecutionStartedDetails, InvocationCompletedDetails, Operation, ResultDetails, RetryDetails,
    StepFailedDetails, StepSucceededDetails, WaitStartedDetails, WaitSucceededDetails,
};

/// The operation index of events that belong to no operation.
pub(crate) const NO_OPERATION: u32 = u32::MAX;

/// One recorded event.
#[derive(Clone, Debug)]
pub(crate) struct EventRecord {
    /// Index of the operation in the execution, or [`NO_OPERATION`].
    pub(crate) op: u32,
    /// Epoch milliseconds.
    pub(crate) timestamp: i64,
    pub(crate) body: EventBody,
}

/// The event-specific part of an [`EventRecord`].
#[derive(Clone, Debug)]
pub(crate) enum EventBody {
    /// The input is the execution's input.
    ExecutionStarted,
    ExecutionSucceeded(Option<String>),
    ExecutionFailed(Option<Box<ErrorObject>>),
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
}

/// What `InvocationCompleted` reports.
#[derive(Clone, Debug)]
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
        }
        event
    }
}
