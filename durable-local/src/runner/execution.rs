//! Snapshots of an execution for tests: [`Execution`] and its records as
//! [`OperationView`]s.

use durable_core::wire::{
    ErrorObject, Event, EventType, ExecutionStatus, Operation, OperationStatus, OperationType,
};
use serde::de::DeserializeOwned;

use super::CallbackId;
use crate::events::EventRecord;
use crate::store::StoredExecution;
use crate::timeline::Timeline;

/// A snapshot of an execution: status, result, operation records and history.
///
/// The history is kept in the engine's compact form and turned into wire
/// [`Event`]s when [`history`](Self::history) is called.
#[derive(Clone, Debug)]
pub struct Execution {
    arn: String,
    name: String,
    status: ExecutionStatus,
    input: String,
    result: Option<String>,
    error: Option<ErrorObject>,
    start_timestamp: i64,
    end_timestamp: Option<i64>,
    /// Every record in creation order; index 0 is the EXECUTION record.
    records: Vec<Operation>,
    events: Vec<EventRecord>,
    invocations: u32,
}

impl Execution {
    pub(super) fn from_stored(exec: &StoredExecution) -> Self {
        Self {
            arn: exec.arn.clone(),
            name: exec.name.clone(),
            status: exec.status.clone(),
            input: exec.input.clone(),
            result: exec.result.clone(),
            error: exec.error.clone(),
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.iter().map(|slot| slot.op.clone()).collect(),
            events: exec.events.clone(),
            invocations: exec.invocations,
        }
    }

    pub(super) fn from_owned(exec: StoredExecution) -> Self {
        Self {
            arn: exec.arn,
            name: exec.name,
            status: exec.status,
            input: exec.input,
            result: exec.result,
            error: exec.error,
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.into_iter().map(|slot| slot.op).collect(),
            events: exec.events,
            invocations: exec.invocations,
        }
    }

    /// The records of the user's operations (all but the EXECUTION record).
    fn user_records(&self) -> impl Iterator<Item = &Operation> + '_ {
        self.records
            .iter()
            .filter(|op| op.operation_type != OperationType::Execution)
    }

    /// The execution ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The execution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// RUNNING (waiting on something external), SUCCEEDED or FAILED.
    pub fn status(&self) -> ExecutionStatus {
        self.status.clone()
    }

    /// The input as JSON text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The result deserialized as `R`: `Ok(None)` unless the execution
    /// SUCCEEDED with a result.
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        match self.result.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some),
        }
    }

    /// The result as the JSON text the handler returned.
    pub fn result_payload(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// The error of a FAILED execution.
    pub fn error(&self) -> Option<&ErrorObject> {
        self.error.as_ref()
    }

    /// When the execution started (epoch ms).
    pub fn start_timestamp(&self) -> i64 {
        self.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.end_timestamp
    }

    /// The operations in creation order (not the EXECUTION record).
    pub fn operations(&self) -> Vec<OperationView<'_>> {
        self.user_records().map(|op| OperationView { op }).collect()
    }

    /// The first operation named `name`.
    pub fn operation(&self, name: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.name.as_deref() == Some(name))
            .map(|op| OperationView { op })
    }

    /// The operation with this id.
    pub fn operation_by_id(&self, id: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.id == id)
            .map(|op| OperationView { op })
    }

    /// The operations whose parent is `parent_id` (`None`: the root ones).
    pub fn children(&self, parent_id: Option<&str>) -> Vec<OperationView<'_>> {
        self.user_records()
            .filter(|op| op.parent_id.as_deref() == parent_id)
            .map(|op| OperationView { op })
            .collect()
    }

    /// The EXECUTION record (its id is the last segment of the ARN).
    pub fn execution_record(&self) -> Option<&Operation> {
        self.records.first()
    }

    /// The history as wire events, EventId 1 first.
    pub fn history(&self) -> Vec<Event> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, record)| {
                record.to_wire(
                    i as u64 + 1,
                    self.records.get(record.op as usize),
                    &self.input,
                )
            })
            .collect()
    }

    /// The operations as a [`Timeline`], folded from the
    /// [`history`](Self::history); print it for a table:
    ///
    /// ```text
    /// OPERATION       TYPE  STATUS     ATTEMPTS  START  DURATION  RESULT
    /// validate_order  Step  SUCCEEDED  1         +0ms   0ms       {"order_id":"o-1"}
    /// ```
    pub fn timeline(&self) -> Timeline {
        Timeline::from_events(&self.history())
    }

    /// The history's event types in order (handy in assertions).
    pub fn event_types(&self) -> Vec<EventType> {
        self.events.iter().map(EventRecord::event_type).collect()
    }

    /// How many invocations ran.
    pub fn invocations(&self) -> u32 {
        self.invocations
    }
}

/// A read-only view of one operation record.
#[derive(Clone, Copy, Debug)]
pub struct OperationView<'a> {
    op: &'a Operation,
}

impl<'a> OperationView<'a> {
    /// The operation id.
    pub fn id(&self) -> &'a str {
        &self.op.id
    }

    /// STEP, WAIT, CONTEXT, ...
    pub fn operation_type(&self) -> &'a OperationType {
        &self.op.operation_type
    }

    /// `Step`, `Wait`, `RunInChildContext`, ...
    pub fn sub_type(&self) -> Option<&'a str> {
        self.op.sub_type.as_deref()
    }

    /// The name given in code.
    pub fn name(&self) -> Option<&'a str> {
        self.op.name.as_deref()
    }

    /// The enclosing CONTEXT operation's id.
    pub fn parent_id(&self) -> Option<&'a str> {
        self.op.parent_id.as_deref()
    }

    /// The record's status.
    pub fn status(&self) -> &'a OperationStatus {
        &self.op.status
    }

    /// Finished attempts of a STEP (0 for other operations).
    pub fn attempts(&self) -> u32 {
        self.op
            .step_details
            .as_ref()
            .map_or(0, |d| u32::try_from(d.attempt).unwrap_or(0))
    }

    /// When it started (epoch ms).
    pub fn start_timestamp(&self) -> Option<i64> {
        self.op.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.op.end_timestamp
    }

    /// The stored result (JSON text) of a STEP, CONTEXT, CALLBACK or CHAINED_INVOKE.
    pub fn result_payload(&self) -> Option<&'a str> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.result.as_deref())
            .or_else(|| {
                op.context_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.callback_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
    }

    /// The stored result deserialized as `R` (`Ok(None)` when there is none).
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        self.result_payload().map(serde_json::from_str).transpose()
    }

    /// The stored error.
    pub fn error(&self) -> Option<&'a ErrorObject> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.error.as_ref())
            .or_else(|| op.context_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| op.callback_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.error.as_ref())
            })
    }

    /// The callback id of a CALLBACK operation, to complete it with
    /// ([`LocalRunner::callback_success`](super::LocalRunner::callback_success)`(&id, ..)`).
    pub fn callback_id(&self) -> Option<CallbackId> {
        self.op
            .callback_details
            .as_ref()
            .and_then(|d| d.callback_id.as_deref())
            .map(CallbackId::new)
    }

    /// The whole wire record.
    pub fn record(&self) -> &'a Operation {
        self.op
    }
}
