//! The per-invocation engine: the operation records, the checkpoint writer,
//! and the signals that end an invocation (suspension and halts).
//!
//! One writer owns the checkpoint token and sends batches in FIFO order, never
//! two calls at once (PROTOCOL §4.2, §7). Operations hand it updates through an
//! unbounded queue; synchronous updates carry an acknowledgement that fires
//! once their batch is recorded and the returned delta merged.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::backend::Backend;
use crate::error::{InvocationError, kinds};
use crate::limits::{MAX_BATCH_BYTES, MAX_BATCH_UPDATES};
use crate::wire::{ErrorObject, Operation, OperationType, OperationUpdate};

/// Why the invocation must stop now, whatever user code is doing.
#[derive(Clone, Debug)]
pub(crate) enum Halt {
    /// End the execution: return FAILED with this error.
    Fail(ErrorObject),
    /// Fail the invocation so that Lambda invokes it again.
    Retry(InvocationError),
}

/// Returned by engine calls after a halt: the operation must not go on.
#[derive(Debug)]
pub(crate) struct Halted;

enum WriterMsg {
    Update {
        update: Box<OperationUpdate>,
        ack: Option<oneshot::Sender<bool>>,
    },
    /// An empty checkpoint, for a fresh delta.
    Refresh(oneshot::Sender<bool>),
    /// Acknowledged once everything queued before it is recorded.
    Flush(oneshot::Sender<bool>),
    Close,
}

pub(crate) struct ExecutionCore {
    pub(crate) arn: String,
    ops: Mutex<FxHashMap<String, Operation>>,
    tx: mpsc::UnboundedSender<WriterMsg>,
    halt: Mutex<Option<Halt>>,
    suspended: AtomicBool,
    active: AtomicUsize,
    notify: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in user code never happens while these locks are held, but a
    // poisoned lock must not turn into a second panic either.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts a piece of work that will finish without the service (a running
/// step body, an awaited checkpoint); the invocation cannot suspend while any
/// is in progress.
pub(crate) struct ActiveGuard<'a>(&'a ExecutionCore);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.notify.notify_waiters();
        }
    }
}

impl ExecutionCore {
    pub(crate) fn new(arn: String, ops: FxHashMap<String, Operation>) -> (Arc<Self>, Writer) {
        let (tx, rx) = mpsc::unbounded_channel();
        let core = Arc::new(Self {
            arn,
            ops: Mutex::new(ops),
            tx,
            halt: Mutex::new(None),
            suspended: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            notify: Notify::new(),
        });
        (core, Writer { rx })
    }

    /// Looks at the record with this id.
    pub(crate) fn with_record<R>(&self, id: &str, f: impl FnOnce(Option<&Operation>) -> R) -> R {
        f(lock(&self.ops).get(id))
    }

    pub(crate) fn has_record(&self, id: &str) -> bool {
        lock(&self.ops).contains_key(id)
    }

    pub(crate) fn active(&self) -> ActiveGuard<'_> {
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self)
    }

    /// Records the first reason to stop; later ones are ignored.
    pub(crate) fn halt(&self, halt: Halt) {
        let mut slot = lock(&self.halt);
        if slot.is_none() {
            *slot = Some(halt);
        }
        drop(slot);
        self.notify.notify_waiters();
    }

    pub(crate) fn fail(&self, error_type: &str, message: impl Into<String>) -> Halted {
        self.halt(Halt::Fail(ErrorObject::new(error_type, message)));
        Halted
    }

    pub(crate) fn halted(&self) -> Option<Halt> {
        lock(&self.halt).clone()
    }

    /// Whether some line of execution waits for the service.
    pub(crate) fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::Acquire)
    }

    /// How many pieces of work (step bodies, awaited checkpoints) are running.
    pub(crate) fn running_work(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// This line of execution waits for the service.
    pub(crate) fn suspend(&self) {
        self.suspended.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Resolves once the invocation must stop: a halt, or a suspension with
    /// no work in progress.
    pub(crate) async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.halt).is_some()
                || (self.suspended.load(Ordering::Acquire)
                    && self.active.load(Ordering::Acquire) == 0)
            {
                return;
            }
            notified.await;
        }
    }

    /// Queues an update without waiting for it.
    pub(crate) fn enqueue(&self, update: OperationUpdate) {
        // The writer outlives every context of the invocation; a send can
        // only fail after it stopped, when a halt is already recorded.
        let _ = self.tx.send(WriterMsg::Update {
            update: Box::new(update),
            ack: None,
        });
    }

    async fn await_ack(&self, rx: oneshot::Receiver<bool>) -> Result<(), Halted> {
        let _busy = self.active();
        match rx.await {
            Ok(true) => Ok(()),
            _ => Err(Halted),
        }
    }

    /// Queues an update and waits until it is recorded.
    pub(crate) async fn checkpoint(&self, update: OperationUpdate) -> Result<(), Halted> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(WriterMsg::Update {
                update: Box::new(update),
                ack: Some(ack),
            })
            .map_err(|_| Halted)?;
        self.await_ack(rx).await
    }

    /// Sends an empty checkpoint and merges the returned delta.
    #[allow(dead_code)]
    pub(crate) async fn refresh(&self) -> Result<(), Halted> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(WriterMsg::Refresh(ack)).map_err(|_| Halted)?;
        self.await_ack(rx).await
    }

    /// Waits until everything queued so far is recorded.
    pub(crate) async fn flush(&self) -> Result<(), Halted> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(WriterMsg::Flush(ack)).map_err(|_| Halted)?;
        self.await_ack(rx).await
    }

    pub(crate) fn close_writer(&self) {
        let _ = self.tx.send(WriterMsg::Close);
    }

    fn merge(&self, operations: Vec<Operation>) {
        if operations.is_empty() {
            return;
        }
        let mut ops = lock(&self.ops);
        for op in operations {
            match ops.get_mut(&op.id) {
                Some(slot) => *slot = op,
                None => {
                    ops.insert(op.id.clone(), op);
                }
            }
        }
    }
}

/// The receiving half of the checkpoint queue; [`Writer::run`] is the writer.
pub(crate) struct Writer {
    rx: mpsc::UnboundedReceiver<WriterMsg>,
}

fn halt_for(error: &crate::backend::BackendError, during: &str) -> Halt {
    let message = format!("{during} failed: {error}");
    if error.is_retryable() {
        Halt::Retry(InvocationError::new(kinds::CHECKPOINT, message))
    } else {
        Halt::Fail(ErrorObject::new(kinds::CHECKPOINT, message))
    }
}

impl Writer {
    /// Sends queued updates in FIFO batches until `Close`.
    pub(crate) async fn run(
        mut self,
        core: Arc<ExecutionCore>,
        backend: Arc<dyn Backend>,
        mut token: String,
    ) {
        let mut queue: VecDeque<WriterMsg> = VecDeque::new();
        // Once a call failed, or the execution became terminal, nothing else is sent.
        let mut stopped = false;
        let mut acks: Vec<oneshot::Sender<bool>> = Vec::new();
        loop {
            if queue.is_empty() {
                match self.rx.recv().await {
                    Some(msg) => queue.push_back(msg),
                    None => return,
                }
            }
            while let Ok(msg) = self.rx.try_recv() {
                queue.push_back(msg);
            }

            let mut updates: Vec<OperationUpdate> = Vec::new();
            let mut bytes = 0usize;
            let mut refresh = false;
            let mut close = false;
            while let Some(front) = queue.front() {
                match front {
                    WriterMsg::Update { update, .. } => {
                        let len = update.encoded_len();
                        if !updates.is_empty()
                            && (updates.len() >= MAX_BATCH_UPDATES || bytes + len > MAX_BATCH_BYTES)
                        {
                            break;
                        }
                        let Some(WriterMsg::Update { update, ack }) = queue.pop_front() else {
                            break;
                        };
                        bytes += len;
                        let ends_batch = update.operation_type == OperationType::Execution;
                        updates.push(*update);
                        acks.extend(ack);
                        if ends_batch {
                            break;
                        }
                    }
                    WriterMsg::Refresh(_) => {
                        if let Some(WriterMsg::Refresh(ack)) = queue.pop_front() {
                            refresh = true;
                            acks.push(ack);
                        }
                    }
                    WriterMsg::Flush(_) => {
                        if let Some(WriterMsg::Flush(ack)) = queue.pop_front() {
                            acks.push(ack);
                        }
                    }
                    WriterMsg::Close => {
                        if updates.is_empty() && !refresh {
                            close = true;
                            queue.pop_front();
                        }
                        break;
                    }
                }
            }

            let ok = if stopped {
                updates.is_empty()
            } else if updates.is_empty() && !refresh {
                true
            } else {
                let had_updates = !updates.is_empty();
                match backend.checkpoint(&core.arn, &token, updates).await {
                    Err(error) => {
                        core.halt(halt_for(&error, "checkpoint"));
                        stopped = true;
                        false
                    }
                    Ok(response) => {
                        let next = response.checkpoint_token;
                        let state = response.new_execution_state.unwrap_or_default();
                        let mut marker = state.next_page().map(str::to_owned);
                        core.merge(state.operations);
                        match next {
                            // The execution became terminal: nothing more to send.
                            None if had_updates => {
                                stopped = true;
                                marker = None;
                            }
                            None => {
                                core.halt(Halt::Retry(InvocationError::new(
                                    kinds::CHECKPOINT,
                                    "the service answered an empty checkpoint without a token",
                                )));
                                stopped = true;
                                marker = None;
                            }
                            Some(next) => token = next,
                        }
                        let mut ok = true;
                        while let Some(page_marker) = marker.take() {
                            match backend.get_state(&core.arn, &token, &page_marker).await {
                                Ok(page) => {
                                    marker = page.next_page().map(str::to_owned);
                                    core.merge(page.operations);
                                }
                                Err(error) => {
                                    core.halt(halt_for(&error, "reading the checkpoint delta"));
                                    stopped = true;
                                    ok = false;
                                }
                            }
                        }
                        ok
                    }
                }
            };
            for ack in acks.drain(..) {
                let _ = ack.send(ok);
            }
            if close {
                return;
            }
        }
    }
}
