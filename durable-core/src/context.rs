//! `DurableContext`, `StepContext` and the replay-aware logger.

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::engine::{ExecutionCore, Halted};
use crate::error::kinds;
use crate::id::operation_id;
use crate::wire::{Operation, OperationAction, OperationType, OperationUpdate};

/// The handle a durable handler (or a child context body) uses to run
/// durable operations: steps, waits, child contexts.
///
/// Cloning is cheap and every clone is the same context. Each operation call
/// takes the next position in this context, in program order; that position
/// is the operation's identity across replays (PROTOCOL §5).
#[derive(Clone)]
pub struct DurableContext {
    pub(crate) inner: Arc<ContextInner>,
}

pub(crate) struct ContextInner {
    pub(crate) core: Arc<ExecutionCore>,
    /// The CONTEXT operation that owns this context, reported as `ParentId`;
    /// `None` at the root.
    pub(crate) parent_id: Option<String>,
    /// The id that prefixes the raw ids of this context's operations: the
    /// owner's id, or a virtual item's id (FLAT map/parallel items hash under
    /// their own id but report the map as their parent).
    id_prefix: Option<String>,
    counter: AtomicU64,
    replaying: AtomicBool,
}

/// An operation's identity, taken when the operation is created.
#[derive(Clone)]
pub(crate) struct OpSlot {
    pub(crate) id: String,
    pub(crate) position: u64,
}

impl DurableContext {
    pub(crate) fn root(core: Arc<ExecutionCore>, replaying: bool) -> Self {
        Self::with_parent(core, None, replaying)
    }

    pub(crate) fn with_parent(
        core: Arc<ExecutionCore>,
        parent_id: Option<String>,
        replaying: bool,
    ) -> Self {
        let id_prefix = parent_id.clone();
        Self::virtual_child(core, parent_id, id_prefix, replaying)
    }

    /// A context whose operations hash under `id_prefix` but report
    /// `parent_id` as their parent (PROTOCOL §5, virtual contexts).
    pub(crate) fn virtual_child(
        core: Arc<ExecutionCore>,
        parent_id: Option<String>,
        id_prefix: Option<String>,
        replaying: bool,
    ) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                core,
                parent_id,
                id_prefix,
                counter: AtomicU64::new(0),
                replaying: AtomicBool::new(replaying),
            }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<ExecutionCore> {
        &self.inner.core
    }

    pub(crate) fn parent_id(&self) -> Option<&str> {
        self.inner.parent_id.as_deref()
    }

    /// The slot of item `index` (0-based) of the map or parallel operation
    /// that owns this context: `H("<owner>-<index>")`, whatever the order in
    /// which items start.
    pub(crate) fn item_slot(&self, index: u64) -> OpSlot {
        OpSlot {
            id: operation_id(self.inner.id_prefix.as_deref(), index),
            position: index,
        }
    }

    pub(crate) fn next_slot(&self) -> OpSlot {
        let position = self.inner.counter.fetch_add(1, Ordering::AcqRel) + 1;
        OpSlot {
            id: operation_id(self.inner.id_prefix.as_deref(), position),
            position,
        }
    }

    /// The execution's ARN.
    pub fn execution_arn(&self) -> &str {
        &self.inner.core.arn
    }

    /// Whether the code is re-running operations that already completed in an
    /// earlier invocation (PROTOCOL §6.3). Logs are suppressed while it is.
    pub fn is_replaying(&self) -> bool {
        let inner = &self.inner;
        if !inner.replaying.load(Ordering::Acquire) {
            return false;
        }
        let next = operation_id(
            inner.id_prefix.as_deref(),
            inner.counter.load(Ordering::Acquire) + 1,
        );
        if inner.core.has_record(&next) {
            true
        } else {
            inner.replaying.store(false, Ordering::Release);
            false
        }
    }

    /// Marks this context as executing new work (a record was missing or
    /// unfinished at the current position).
    pub(crate) fn mark_new(&self) {
        self.inner.replaying.store(false, Ordering::Release);
    }

    /// A logger whose records are suppressed while this context replays.
    pub fn logger(&self) -> Logger {
        Logger {
            kind: LoggerKind::Context(self.clone()),
            operation_id: self.inner.parent_id.clone(),
            operation_name: None,
            attempt: None,
            during_replay: false,
        }
    }

    /// An update for the operation at `slot`, with the fields every update of
    /// it carries (id, parent, name, type, SubType).
    pub(crate) fn update(
        &self,
        slot: &OpSlot,
        op_type: OperationType,
        sub_type: &str,
        name: Option<&str>,
        action: OperationAction,
    ) -> OperationUpdate {
        let mut update = OperationUpdate::new(slot.id.clone(), op_type, action);
        update.parent_id = self.parent_id().map(str::to_owned);
        update.name = name.map(str::to_owned);
        update.sub_type = Some(sub_type.to_owned());
        update
    }

    /// Reads the record at `slot` after checking it is the operation the code
    /// asks for; `None` when there is no record yet.
    pub(crate) fn read_record<R>(
        &self,
        slot: &OpSlot,
        op_type: &OperationType,
        sub_type: &str,
        name: Option<&str>,
        read: impl FnOnce(&Operation) -> R,
    ) -> Result<Option<R>, Halted> {
        self.core().with_record(&slot.id, |record| {
            record
                .map(|op| {
                    self.check_record(op, slot, op_type, sub_type, name)
                        .map(|()| read(op))
                })
                .transpose()
        })
    }

    /// Suspends this line of execution: the returned future never resolves,
    /// and the invocation ends with PENDING once nothing else can progress.
    pub(crate) async fn suspend<R>(&self) -> R {
        self.core().suspend();
        std::future::pending().await
    }

    /// Checks that the record at an id is the operation the code asks for
    /// (PROTOCOL §6.2); a mismatch ends the execution.
    pub(crate) fn check_record(
        &self,
        record: &Operation,
        slot: &OpSlot,
        op_type: &OperationType,
        sub_type: &str,
        name: Option<&str>,
    ) -> Result<(), Halted> {
        if let OperationType::Unknown(other) = &record.operation_type {
            return Err(self.core().fail(
                kinds::UNSUPPORTED_STATE,
                format!(
                    "operation {} at position {} holds a record of type {other:?}, which this SDK version does not know; \
                     the code asked for {op_type}/{sub_type}",
                    slot.id, slot.position
                ),
            ));
        }
        let type_ok = &record.operation_type == op_type;
        let sub_ok = record.sub_type.as_deref().is_none_or(|s| s == sub_type);
        let name_ok = record.name.as_deref() == name;
        if type_ok && sub_ok && name_ok {
            return Ok(());
        }
        Err(self.core().fail(
            kinds::NON_DETERMINISTIC,
            format!(
                "operation {} (position {}{}) was recorded as {}/{} named {:?}, but the code now asks for {op_type}/{sub_type} named {:?}; \
                 the handler must call the same durable operations in the same order on every replay",
                slot.id,
                slot.position,
                self.parent_id().map(|p| format!(" in child context {p}")).unwrap_or_default(),
                record.operation_type,
                record.sub_type.as_deref().unwrap_or("-"),
                record.name.as_deref(),
                name,
            ),
        ))
    }
}

impl std::fmt::Debug for DurableContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableContext")
            .field("execution_arn", &self.inner.core.arn)
            .field("parent_id", &self.inner.parent_id)
            .finish_non_exhaustive()
    }
}

/// What a step body gets: its attempt number and a logger. It has no durable
/// operations, so a step cannot start another operation:
///
/// ```compile_fail
/// # use durable_core::{DurableContext, StepContext, StepError};
/// async fn handler(ctx: DurableContext) {
///     let _ = ctx.step(|step: StepContext| async move {
///         step.wait(std::time::Duration::from_secs(1)).await; // no such method
///         Ok::<_, StepError>(())
///     }).await;
/// }
/// ```
#[derive(Clone, Debug)]
pub struct StepContext {
    pub(crate) attempt: u32,
    pub(crate) operation_id: String,
    pub(crate) name: Option<String>,
    pub(crate) core: Arc<ExecutionCore>,
}

impl std::fmt::Debug for ExecutionCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl StepContext {
    /// A step context outside any execution, for calling a step body directly
    /// in a unit test. Its logger tags records with the execution ARN `test`.
    pub fn for_test(attempt: u32) -> Self {
        let (core, _writer) =
            ExecutionCore::new("test".to_owned(), rustc_hash::FxHashMap::default());
        Self {
            attempt: attempt.max(1),
            operation_id: "test".to_owned(),
            name: None,
            core,
        }
    }

    /// The running attempt, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The step's operation id.
    pub fn operation_id(&self) -> &str {
        &self.operation_id
    }

    /// The step's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A logger tagged with the step's id, name and attempt. A step body runs
    /// only when it executes for real, so its records are never suppressed.
    pub fn logger(&self) -> Logger {
        Logger {
            kind: LoggerKind::Step(self.core.clone()),
            operation_id: Some(self.operation_id.clone()),
            operation_name: self.name.clone(),
            attempt: Some(self.attempt),
            during_replay: true,
        }
    }
}

#[derive(Clone)]
enum LoggerKind {
    Context(DurableContext),
    Step(Arc<ExecutionCore>),
}

/// A replay-aware logger over `tracing`.
///
/// Records go to `tracing` with target `durable`, the text in the `message`
/// field, and the fields `execution_arn`, `operation_id`, `operation_name`
/// and `attempt` where known. A context logger drops records while its
/// context replays, so each line appears once per execution, not once per
/// invocation; [`Logger::during_replay`] keeps them.
#[derive(Clone)]
pub struct Logger {
    kind: LoggerKind,
    operation_id: Option<String>,
    operation_name: Option<String>,
    attempt: Option<u32>,
    during_replay: bool,
}

/// The `tracing` target of every record the loggers emit.
pub const LOG_TARGET: &str = "durable";

macro_rules! log_methods {
    ($($method:ident => $level:ident),+) => {$(
        #[doc = concat!("Logs at `", stringify!($level), "` level.")]
        pub fn $method(&self, message: impl Display) {
            if !self.enabled() {
                return;
            }
            tracing::event!(
                target: "durable",
                tracing::Level::$level,
                execution_arn = %self.arn(),
                operation_id = self.operation_id.as_deref(),
                operation_name = self.operation_name.as_deref(),
                attempt = self.attempt,
                "{}",
                message
            );
        }
    )+};
}

impl Logger {
    /// The same logger, but emitting while replaying too.
    #[must_use]
    pub fn during_replay(mut self) -> Self {
        self.during_replay = true;
        self
    }

    fn arn(&self) -> &str {
        match &self.kind {
            LoggerKind::Context(ctx) => ctx.execution_arn(),
            LoggerKind::Step(core) => &core.arn,
        }
    }

    /// Whether a record logged now would be emitted.
    pub fn enabled(&self) -> bool {
        match &self.kind {
            LoggerKind::Context(ctx) => self.during_replay || !ctx.is_replaying(),
            LoggerKind::Step(_) => true,
        }
    }

    log_methods!(trace => TRACE, debug => DEBUG, info => INFO, warn => WARN, error => ERROR);
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("operation_id", &self.operation_id)
            .field("operation_name", &self.operation_name)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}
