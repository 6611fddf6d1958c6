//! [`StoredExecution`]: an execution as the service keeps it, its records
//! in creation order with their bookkeeping (what the SDK and the store have
//! not seen yet), its timers, open callbacks and history.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use durable_core::wire::{ErrorObject, Event, ExecutionStatus, Operation};
use serde::{Deserialize, Serialize};

use crate::events::EventRecord;
use crate::fxhash::{FxHashMap, OpIndex};

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
    /// asked for it; [`MemoryStore`](super::MemoryStore) does not).
    pub fn uncommitted_operations(&self) -> impl Iterator<Item = &Operation> + '_ {
        self.uncommitted
            .iter()
            .filter_map(|&i| self.slots.get(i as usize).map(|slot| &slot.op))
    }

    /// Indices (0-based) of the events recorded since the last commit.
    pub fn uncommitted_events(&self) -> std::ops::Range<usize> {
        self.committed_events.min(self.events.len())..self.events.len()
    }

    /// Whether changes are tracked for [`ExecutionStore::commit`](super::ExecutionStore::commit) (on by
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
