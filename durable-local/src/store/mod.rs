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

use crate::fxhash::FxHashMap;

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

mod execution;
mod persist;

pub use execution::StoredExecution;
pub(crate) use execution::{CallbackTimers, InFlight};
#[cfg_attr(not(feature = "sqlite"), allow(unused_imports))]
pub(crate) use persist::{Bookkeeping, ExecutionMeta};
