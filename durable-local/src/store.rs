//! Where executions live: the [`ExecutionStore`] trait and the in-memory
//! [`MemoryStore`].
//!
//! The service mutates a [`StoredExecution`] in place under its one lock and
//! then calls [`ExecutionStore::commit`], which sees exactly what changed
//! since the last commit ([`StoredExecution::uncommitted_operations`],
//! [`StoredExecution::uncommitted_events`]). A checkpoint therefore costs
//! O(changes), never a copy of the whole execution. The in-memory store has
//! nothing to persist; a durable store (SQLite) writes the changed rows,
//! plus the execution's [`Bookkeeping`], and rebuilds the execution with
//! [`StoredExecution::restore`] when it is opened again.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use durable_core::wire::{
    ErrorObject, Event, ExecutionStatus, Operation, OperationStatus, OperationType,
};
use serde::{Deserialize, Serialize};

use crate::events::{EventRecord, NO_OPERATION};
use crate::fxhash::{FxHashMap, OpIndex};

/// A failure of the store itself (I/O, corruption).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("execution store error: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Storage for executions, keyed by execution ARN.
///
/// The service holds the store behind a single mutex, so implementations need
/// no locking of their own.
pub trait ExecutionStore: Send + 'static {
    /// Adds a new execution. Fails if the ARN exists.
    fn insert(&mut self, execution: StoredExecution) -> Result<(), StoreError>;

    /// The execution with this ARN.
    fn get(&self, arn: &str) -> Option<&StoredExecution>;

    /// The execution with this ARN, for the service to change in place.
    fn get_mut(&mut self, arn: &str) -> Option<&mut StoredExecution>;

    /// The ARN of the execution started under `execution_name` for
    /// `function_name` (idempotent start by name).
    fn find_by_name(&self, function_name: &str, execution_name: &str) -> Option<&str>;

    /// Makes the changes made to the execution since its last commit durable,
    /// then marks them committed ([`StoredExecution::mark_committed`]).
    fn commit(&mut self, arn: &str) -> Result<(), StoreError>;

    /// Removes an execution and returns it.
    fn remove(&mut self, arn: &str) -> Option<StoredExecution>;

    /// The ARNs of all executions, in no particular order.
    fn arns(&self) -> Vec<String>;
}

/// Keeps every execution in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Boxed: the map's spare slots then cost a pointer, not a whole
    /// execution (about 650 bytes).
    executions: FxHashMap<String, Box<StoredExecution>>,
    /// function name → execution name → ARN.
    names: FxHashMap<String, FxHashMap<String, String>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ExecutionStore for MemoryStore {
    fn insert(&mut self, mut execution: StoredExecution) -> Result<(), StoreError> {
        if self.executions.contains_key(&execution.arn) {
            return Err(StoreError::new(format!(
                "execution {} already exists",
                execution.arn
            )));
        }
        // Nothing to persist: skip change tracking altogether.
        execution.set_change_tracking(false);
        self.names
            .entry(execution.function_name.clone())
            .or_default()
            .insert(execution.name.clone(), execution.arn.clone());
        self.executions
            .insert(execution.arn.clone(), Box::new(execution));
        Ok(())
    }

    fn get(&self, arn: &str) -> Option<&StoredExecution> {
        self.executions.get(arn).map(|exec| &**exec)
    }

    fn get_mut(&mut self, arn: &str) -> Option<&mut StoredExecution> {
        self.executions.get_mut(arn).map(|exec| &mut **exec)
    }

    fn find_by_name(&self, function_name: &str, execution_name: &str) -> Option<&str> {
        self.names
            .get(function_name)
            .and_then(|names| names.get(execution_name))
            .map(String::as_str)
    }

    fn commit(&mut self, arn: &str) -> Result<(), StoreError> {
        if let Some(execution) = self.executions.get_mut(arn) {
            execution.mark_committed();
        }
        Ok(())
    }

    fn remove(&mut self, arn: &str) -> Option<StoredExecution> {
        let execution = self.executions.remove(arn)?;
        if let Some(names) = self.names.get_mut(&execution.function_name) {
            names.remove(&execution.name);
        }
        Some(*execution)
    }

    fn arns(&self) -> Vec<String> {
        self.executions.keys().cloned().collect()
    }
}

/// One operation record and its bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) op: Operation,
    /// Changed since the last delivery to the SDK (checkpoint delta).
    pub(crate) undelivered: bool,
    /// Changed since the last commit to the store.
    pub(crate) uncommitted: bool,
}

/// An armed timer: fires at `due` for the operation at index `op`.
pub(crate) type Timer = Reverse<(i64, u64, u32)>;

/// The timers of an open (STARTED) callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackTimers {
    /// When the callback times out (`Callback.Timeout`), if it has a timeout.
    pub(crate) timeout_due: Option<i64>,
    /// The heartbeat timeout in seconds (0: none).
    pub(crate) heartbeat_seconds: i32,
    /// When it times out for want of a heartbeat (`Callback.Heartbeat`).
    pub(crate) heartbeat_due: Option<i64>,
}

/// The running invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InFlight {
    pub(crate) start: i64,
    pub(crate) request_id: String,
}

/// The complete state of one execution: metadata, operation records in
/// creation order, history, timers and the checkpoint-token chain.
#[derive(Clone, Debug)]
pub struct StoredExecution {
    pub(crate) arn: String,
    pub(crate) function_name: String,
    pub(crate) name: String,
    pub(crate) input: String,
    pub(crate) status: ExecutionStatus,
    pub(crate) result: Option<String>,
    pub(crate) error: Option<ErrorObject>,
    pub(crate) start_timestamp: i64,
    pub(crate) end_timestamp: Option<i64>,
    /// Records in creation order; index 0 is the EXECUTION record.
    pub(crate) slots: Vec<Slot>,
    /// Operation id → index in `slots`.
    pub(crate) index: OpIndex,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) timers: BinaryHeap<Timer>,
    pub(crate) timer_seq: u64,
    /// STEP records in READY (re-invoke at once).
    pub(crate) ready_ops: u32,
    /// Tokens are `<token_prefix><token_seq>`; the last one issued is current.
    pub(crate) token_prefix: String,
    /// Whether the current token may still checkpoint (false once terminal).
    pub(crate) token_live: bool,
    /// 0 until the first token is issued.
    pub(crate) token_seq: u64,
    /// Indices of records changed since the last delivery.
    pub(crate) undelivered: Vec<u32>,
    /// Indices of records changed by the service (timers) since the last invocation.
    pub(crate) service_updated: Vec<u32>,
    pub(crate) track_changes: bool,
    pub(crate) uncommitted: Vec<u32>,
    pub(crate) committed_events: usize,
    pub(crate) invocation: Option<InFlight>,
    pub(crate) invocations: u32,
    pub(crate) consecutive_failures: u32,
    /// An EXECUTION update ended the execution; its `Execution*` event is
    /// recorded when the invocation completes.
    pub(crate) end_event_due: bool,
    /// The service changed something the handler has not been invoked for
    /// since (a wait or a callback completed, a chained invoke ended, a
    /// failed invocation is to be retried): invoke again.
    pub(crate) wake: bool,
    /// Open (STARTED) callbacks: record index → their timers.
    pub(crate) open_callbacks: FxHashMap<u32, CallbackTimers>,
    /// How many callbacks the execution ever created.
    pub(crate) callbacks_created: u32,
    /// Running chained invokes: (record index, the child execution's ARN).
    pub(crate) running_invokes: Vec<(u32, String)>,
    /// The chained invoke this execution runs for: (parent ARN, record
    /// index of the CHAINED_INVOKE in the parent).
    pub(crate) parent: Option<(String, u32)>,
}

impl StoredExecution {
    /// A new, RUNNING execution whose only record is `execution_op` (the
    /// EXECUTION record) and whose history is empty.
    pub(crate) fn new(
        arn: String,
        function_name: String,
        name: String,
        input: String,
        execution_op: Operation,
        now: i64,
    ) -> Self {
        let mut index = OpIndex::default();
        index.insert(&execution_op.id, 0);
        let short = arn.rsplit('/').next().unwrap_or_default();
        // `<8 chars of the execution id>.<64 random bits>.<seq>`: bound to this
        // execution and to one sequence number, and not derivable from the
        // ARN, so a token cannot be forged by someone who only knows the ARN.
        let secret: u64 = rand::random();
        let token_prefix = format!("{}.{secret:016x}.", short.get(..8).unwrap_or(short));
        Self {
            arn,
            function_name,
            name,
            input,
            status: ExecutionStatus::Running,
            result: None,
            error: None,
            start_timestamp: now,
            end_timestamp: None,
            slots: vec![Slot {
                op: execution_op,
                undelivered: false,
                uncommitted: true,
            }],
            index,
            events: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            ready_ops: 0,
            token_prefix,
            token_live: false,
            token_seq: 0,
            undelivered: Vec::new(),
            service_updated: Vec::new(),
            track_changes: true,
            uncommitted: vec![0],
            committed_events: 0,
            invocation: None,
            invocations: 0,
            consecutive_failures: 0,
            end_event_due: false,
            wake: false,
            open_callbacks: FxHashMap::default(),
            callbacks_created: 0,
            running_invokes: Vec::new(),
            parent: None,
        }
    }

    /// The execution ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The function the execution belongs to.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// The execution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input as JSON text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The execution status.
    pub fn status(&self) -> &ExecutionStatus {
        &self.status
    }

    /// The result (JSON text) once SUCCEEDED.
    pub fn result(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// The error once FAILED.
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

    /// How many invocations have completed.
    pub fn invocations(&self) -> u32 {
        self.invocations
    }

    /// The ARN of the execution whose chained invoke started this one.
    pub fn parent_arn(&self) -> Option<&str> {
        self.parent.as_ref().map(|(arn, _)| arn.as_str())
    }

    /// The ARNs of the executions this one's running chained invokes started.
    pub fn running_chained_invokes(&self) -> impl Iterator<Item = &str> + '_ {
        self.running_invokes.iter().map(|(_, arn)| arn.as_str())
    }

    /// The operation records in creation order (the EXECUTION record first).
    pub fn operations(&self) -> impl ExactSizeIterator<Item = &Operation> + '_ {
        self.slots.iter().map(|slot| &slot.op)
    }

    /// The record with this id.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        let index = self.find(id)?;
        self.slots.get(index as usize).map(|slot| &slot.op)
    }

    /// How many events the history holds.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The event at `index` (0-based; its EventId is `index + 1`).
    pub fn event(&self, index: usize) -> Option<Event> {
        let record = self.events.get(index)?;
        // NO_OPERATION (u32::MAX) finds no record.
        let op = self.slots.get(record.op as usize).map(|slot| &slot.op);
        Some(record.to_wire(index as u64 + 1, op, &self.input))
    }

    /// The whole history, EventId 1 first.
    pub fn history(&self) -> Vec<Event> {
        (0..self.events.len())
            .filter_map(|i| self.event(i))
            .collect()
    }

    /// Records changed since the last commit (only tracked when the store
    /// asked for it; [`MemoryStore`] does not).
    pub fn uncommitted_operations(&self) -> impl Iterator<Item = &Operation> + '_ {
        self.uncommitted
            .iter()
            .filter_map(|&i| self.slots.get(i as usize).map(|slot| &slot.op))
    }

    /// Indices (0-based) of the events recorded since the last commit.
    pub fn uncommitted_events(&self) -> std::ops::Range<usize> {
        self.committed_events.min(self.events.len())..self.events.len()
    }

    /// Whether changes are tracked for [`ExecutionStore::commit`] (on by
    /// default; a store with nothing to persist turns it off).
    pub fn set_change_tracking(&mut self, on: bool) {
        self.track_changes = on;
        if !on {
            self.mark_committed();
        }
    }

    /// Forgets the uncommitted changes (called by the store once they are durable).
    pub fn mark_committed(&mut self) {
        for i in self.uncommitted.drain(..) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.uncommitted = false;
            }
        }
        self.committed_events = self.events.len();
    }

    // ----- crate-internal helpers used by the service -----

    /// The index of the record with this id.
    #[inline]
    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        let slots = &self.slots;
        self.index.get(id, |i| {
            slots.get(i as usize).map(|slot| slot.op.id.as_str())
        })
    }

    /// Notes that the record at `index` changed.
    pub(crate) fn touch(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if !slot.undelivered {
            slot.undelivered = true;
            self.undelivered.push(index);
        }
        if self.track_changes && !slot.uncommitted {
            slot.uncommitted = true;
            self.uncommitted.push(index);
        }
    }

    /// Appends a new record and returns its index.
    pub(crate) fn push_operation(&mut self, op: Operation) -> u32 {
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX - 1);
        self.index.insert(&op.id, index);
        self.slots.push(Slot {
            op,
            undelivered: false,
            uncommitted: false,
        });
        self.touch(index);
        index
    }

    /// Records an event.
    pub(crate) fn push_event(&mut self, op: u32, timestamp: i64, body: crate::events::EventBody) {
        self.events.push(EventRecord {
            op,
            timestamp,
            body,
        });
    }

    /// Clones every record changed since the last delivery and marks them delivered.
    pub(crate) fn take_delta(&mut self) -> Vec<Operation> {
        let mut delta = Vec::with_capacity(self.undelivered.len());
        for i in self.undelivered.drain(..) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.undelivered = false;
                delta.push(slot.op.clone());
            }
        }
        delta
    }

    /// Marks everything delivered (a new invocation receives the full state).
    pub(crate) fn clear_delta(&mut self) {
        for i in self.undelivered.drain(..) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.undelivered = false;
            }
        }
    }

    /// Gives back the spare capacity of the execution's growing parts, for
    /// an execution that is about to sit idle (suspended or ended): a
    /// record is about 760 bytes, so a vector of records grown by doubling
    /// can hold as much spare room as records. O(records), like the
    /// invocation that preceded it.
    pub(crate) fn shrink(&mut self) {
        self.slots.shrink_to_fit();
        self.events.shrink_to_fit();
        self.timers.shrink_to_fit();
        self.undelivered.shrink_to_fit();
        self.service_updated.shrink_to_fit();
        self.uncommitted.shrink_to_fit();
        self.running_invokes.shrink_to_fit();
    }

    /// Arms a timer for the record at `op`.
    pub(crate) fn arm_timer(&mut self, due: i64, op: u32) {
        self.timer_seq += 1;
        self.timers.push(Reverse((due, self.timer_seq, op)));
    }

    /// Issues the next checkpoint token (the previous ones become stale).
    pub(crate) fn issue_token(&mut self) -> String {
        use std::fmt::Write;
        self.token_seq += 1;
        self.token_live = true;
        let mut token = String::with_capacity(self.token_prefix.len() + 20);
        token.push_str(&self.token_prefix);
        let _ = write!(token, "{}", self.token_seq);
        token
    }

    /// Whether `token` is the last one issued.
    pub(crate) fn is_current_token(&self, token: &str) -> bool {
        self.token_seq > 0
            && token
                .strip_prefix(self.token_prefix.as_str())
                .and_then(|seq| seq.parse::<u64>().ok())
                .is_some_and(|seq| seq == self.token_seq)
    }
}

// ----- persistence: what a durable store writes and how it rebuilds -----

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
