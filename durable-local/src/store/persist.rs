//! Persistence: what a durable store writes of a [`StoredExecution`] beside
//! its records and events, and how it rebuilds one when it is opened again.

use std::collections::BinaryHeap;

use durable_core::wire::{ErrorObject, ExecutionStatus, Operation, OperationStatus, OperationType};
use serde::{Deserialize, Serialize};

use crate::events::{EventRecord, NO_OPERATION};
use crate::fxhash::OpIndex;

use super::StoreError;
use super::execution::{CallbackTimers, InFlight, Slot, StoredExecution};

/// The immutable part of an execution, written once when it is created.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct ExecutionMeta {
    pub(crate) arn: String,
    pub(crate) function_name: String,
    pub(crate) name: String,
    pub(crate) input: String,
    pub(crate) start_timestamp: i64,
    pub(crate) token_prefix: String,
}

/// The mutable bookkeeping of an execution that the service needs after a
/// restart, besides its records and history, borrowed for writing (see
/// [`Bookkeeping`] for what is read back).
///
/// Not part of it, because it is rebuilt or meaningless after a restart:
/// the timer heap (rebuilt from the records and the open callbacks by
/// [`StoredExecution::restore`]), the delivery delta (it belongs to the
/// invocation that was running) and the change tracking.
#[derive(Debug, Serialize)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct BookkeepingRef<'a> {
    status: &'a ExecutionStatus,
    result: Option<&'a str>,
    error: Option<&'a ErrorObject>,
    end_timestamp: Option<i64>,
    ready_ops: u32,
    token_live: bool,
    token_seq: u64,
    service_updated: &'a [u32],
    invocation: Option<&'a InFlight>,
    invocations: u32,
    consecutive_failures: u32,
    end_event_due: bool,
    wake: bool,
    /// Sorted by record index, so that equal states write equal bytes.
    open_callbacks: Vec<(u32, CallbackTimers)>,
    callbacks_created: u32,
    running_invokes: &'a [(u32, String)],
    parent: Option<(&'a str, u32)>,
}

/// [`BookkeepingRef`] read back (same fields, owned).
#[derive(Debug, Deserialize)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct Bookkeeping {
    status: ExecutionStatus,
    result: Option<String>,
    error: Option<ErrorObject>,
    end_timestamp: Option<i64>,
    ready_ops: u32,
    token_live: bool,
    token_seq: u64,
    service_updated: Vec<u32>,
    invocation: Option<InFlight>,
    invocations: u32,
    consecutive_failures: u32,
    end_event_due: bool,
    wake: bool,
    open_callbacks: Vec<(u32, CallbackTimers)>,
    callbacks_created: u32,
    running_invokes: Vec<(u32, String)>,
    parent: Option<(String, u32)>,
}

#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
impl StoredExecution {
    /// The bookkeeping, for a durable store to write with every commit.
    pub(crate) fn bookkeeping(&self) -> BookkeepingRef<'_> {
        let mut open_callbacks: Vec<(u32, CallbackTimers)> = self
            .open_callbacks
            .iter()
            .map(|(&index, &timers)| (index, timers))
            .collect();
        open_callbacks.sort_unstable_by_key(|(index, _)| *index);
        BookkeepingRef {
            status: &self.status,
            result: self.result.as_deref(),
            error: self.error.as_ref(),
            end_timestamp: self.end_timestamp,
            ready_ops: self.ready_ops,
            token_live: self.token_live,
            token_seq: self.token_seq,
            service_updated: &self.service_updated,
            invocation: self.invocation.as_ref(),
            invocations: self.invocations,
            consecutive_failures: self.consecutive_failures,
            end_event_due: self.end_event_due,
            wake: self.wake,
            open_callbacks,
            callbacks_created: self.callbacks_created,
            running_invokes: &self.running_invokes,
            parent: self
                .parent
                .as_ref()
                .map(|(arn, index)| (arn.as_str(), *index)),
        }
    }

    /// Rebuilds an execution from what a durable store persisted: its
    /// metadata, its records in index order (the EXECUTION record first),
    /// its history in order and its bookkeeping. The result has nothing
    /// uncommitted and nothing undelivered; its timers are re-armed from the
    /// records (a STARTED wait, a PENDING step) and the open callbacks, the
    /// same set the service's liveness check accepts, due ones first and
    /// ties in record order. Fails on state that cannot have been written by
    /// the service (a corrupt store).
    pub(crate) fn restore(
        meta: ExecutionMeta,
        operations: Vec<Operation>,
        events: Vec<EventRecord>,
        book: Bookkeeping,
    ) -> Result<Self, StoreError> {
        let corrupt = |what: &str| {
            StoreError::new(format!("execution {} cannot be restored: {what}", meta.arn))
        };
        if operations
            .first()
            .is_none_or(|op| op.operation_type != OperationType::Execution)
        {
            return Err(corrupt("its first record is not the EXECUTION record"));
        }
        let len = u32::try_from(operations.len())
            .ok()
            .filter(|len| *len < u32::MAX)
            .ok_or_else(|| corrupt("it has too many records"))?;
        let mut index = OpIndex::default();
        let mut slots: Vec<Slot> = Vec::with_capacity(operations.len());
        for op in operations {
            let at = u32::try_from(slots.len()).unwrap_or(u32::MAX);
            let taken = index.get(&op.id, |i| {
                slots.get(i as usize).map(|slot| slot.op.id.as_str())
            });
            if taken.is_some() {
                return Err(corrupt(&format!("two records have the id {}", op.id)));
            }
            index.insert(&op.id, at);
            slots.push(Slot {
                op,
                undelivered: false,
                uncommitted: false,
            });
        }
        let is = |i: u32, kind: OperationType| {
            slots
                .get(i as usize)
                .is_some_and(|slot| slot.op.operation_type == kind)
        };
        if book.service_updated.iter().any(|&i| i >= len)
            || events
                .iter()
                .any(|event| event.op >= len && event.op != NO_OPERATION)
        {
            return Err(corrupt(
                "an event or an update names a record it does not have",
            ));
        }
        if book
            .open_callbacks
            .iter()
            .any(|(i, _)| !is(*i, OperationType::Callback))
        {
            return Err(corrupt("an open callback is not a CALLBACK record"));
        }
        if book
            .running_invokes
            .iter()
            .any(|(i, _)| !is(*i, OperationType::ChainedInvoke))
        {
            return Err(corrupt(
                "a running chained invoke is not a CHAINED_INVOKE record",
            ));
        }
        let committed_events = events.len();
        let mut exec = Self {
            arn: meta.arn,
            function_name: meta.function_name,
            name: meta.name,
            input: meta.input,
            status: book.status,
            result: book.result,
            error: book.error,
            start_timestamp: meta.start_timestamp,
            end_timestamp: book.end_timestamp,
            slots,
            index,
            events,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            ready_ops: book.ready_ops,
            token_prefix: meta.token_prefix,
            token_live: book.token_live,
            token_seq: book.token_seq,
            undelivered: Vec::new(),
            service_updated: book.service_updated,
            track_changes: true,
            uncommitted: Vec::new(),
            committed_events,
            invocation: book.invocation,
            invocations: book.invocations,
            consecutive_failures: book.consecutive_failures,
            end_event_due: book.end_event_due,
            wake: book.wake,
            open_callbacks: book.open_callbacks.into_iter().collect(),
            callbacks_created: book.callbacks_created,
            running_invokes: book.running_invokes,
            parent: book.parent,
        };
        if exec.status == ExecutionStatus::Running {
            exec.rearm_timers();
        }
        Ok(exec)
    }

    /// Arms a timer for every record that waits on one: a STARTED wait (its
    /// scheduled end), a PENDING step (its next attempt) and an open
    /// callback (its timeout and heartbeat deadlines). These are exactly the
    /// timers the service's liveness check (`timer_is_live`) accepts.
    fn rearm_timers(&mut self) {
        let mut due: Vec<(i64, u32)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let op = &slot.op;
            let at = match (&op.operation_type, &op.status) {
                (OperationType::Wait, OperationStatus::Started) => op
                    .wait_details
                    .as_ref()
                    .and_then(|d| d.scheduled_end_timestamp),
                (OperationType::Step, OperationStatus::Pending) => op
                    .step_details
                    .as_ref()
                    .and_then(|d| d.next_attempt_timestamp),
                _ => None,
            };
            if let Some(at) = at {
                due.push((at, u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
        for (&i, timers) in &self.open_callbacks {
            for at in [timers.timeout_due, timers.heartbeat_due]
                .into_iter()
                .flatten()
            {
                due.push((at, i));
            }
        }
        due.sort_unstable();
        for (at, i) in due {
            self.arm_timer(at, i);
        }
    }
}
