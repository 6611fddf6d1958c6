//! The durable execution service, in process: starts executions, hands out
//! invocation envelopes, validates and applies checkpoints, fires timers,
//! completes callbacks, runs chained invokes as executions of their own,
//! validates invocation outputs and records the history.
//!
//! [`LocalService`] implements [`durable_core::Backend`], so the replay
//! engine checkpoints into it exactly as it would into Lambda. All state sits
//! behind one mutex; a checkpoint does O(changes) work and no JSON.

mod callbacks;
mod checkpoint;
mod ids;
mod lifecycle;
pub(crate) mod operations;
mod recovery;
mod settle;
mod stop;
mod timers;
mod types;
pub(crate) mod validate;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use durable_core::{BackendError, INVALID_PARAMETER_VALUE};
use rustc_hash::FxHashSet;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::{LocalError, RESOURCE_NOT_FOUND};
use crate::fxhash::FxHashMap;
use crate::store::{ExecutionStore, MemoryStore};

use ids::resolve_function;
pub use ids::unqualified_function_name;
use recovery::{latest_timestamp, recover};
pub use types::{
    CallbackInfo, Invocation, InvocationResult, NextStep, RUNTIME_EXIT_ERROR, ServiceConfig,
    StartedExecution,
};

/// The in-process durable execution service. Cheap to clone (clones share
/// the same state).
#[derive(Clone)]
pub struct LocalService {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    clock: Clock,
    config: ServiceConfig,
    /// Woken when a callback is created or an execution ends (for waiters
    /// such as [`LocalRunner::wait_for_callback`](crate::LocalRunner::wait_for_callback)).
    changed: Notify,
}

/// Everything behind the service's lock.
struct State {
    store: Box<dyn ExecutionStore>,
    /// Callback id → where the callback lives.
    callbacks: FxHashMap<String, CallbackHome>,
    /// The functions a chained invoke may target.
    functions: FxHashSet<String>,
}

/// Where a callback lives.
#[derive(Clone, Debug)]
pub(crate) struct CallbackHome {
    pub(crate) arn: String,
    /// The CALLBACK record's index in the execution.
    pub(crate) op: u32,
}

impl std::fmt::Debug for LocalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalService")
            .field("clock", &self.shared.clock)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Default for LocalService {
    /// An in-memory service on a virtual clock.
    fn default() -> Self {
        Self::new(Clock::virtual_now())
    }
}

fn invalid(message: impl Into<String>) -> BackendError {
    BackendError::service(INVALID_PARAMETER_VALUE, 400, message)
}

fn not_found(arn: &str) -> BackendError {
    BackendError::service(
        RESOURCE_NOT_FOUND,
        404,
        format!("Durable execution {arn} not found"),
    )
}

fn commit(store: &mut dyn ExecutionStore, arn: &str) -> Result<(), LocalError> {
    store.commit(arn).map_err(LocalError::Store)
}

impl LocalService {
    /// An in-memory service on `clock` with default settings.
    pub fn new(clock: Clock) -> Self {
        Self::with_store(
            Box::new(MemoryStore::new()),
            clock,
            ServiceConfig::default(),
        )
    }

    /// A service over `store`.
    ///
    /// A store that already holds executions (a durable store reopened after
    /// the process ended) is brought back into service first:
    ///
    /// - the callback ids become known again;
    /// - an invocation that was running when the process ended counts as a
    ///   failed invocation ([`RUNTIME_EXIT_ERROR`], as Lambda counts a
    ///   crashed one), so the execution is invoked again, or fails once
    ///   [`ServiceConfig::max_failed_invocations`](crate::ServiceConfig::max_failed_invocations) are used up;
    /// - chained invokes whose two executions the crash left out of step
    ///   are reconciled;
    /// - a virtual clock is moved forward to the store's latest timestamp,
    ///   so that time never runs backwards for an execution.
    ///
    /// Timers are armed by the store. The caller drives the RUNNING
    /// executions ([`execution_arns`](Self::execution_arns),
    /// [`next_step`](Self::next_step)).
    pub fn with_store(store: Box<dyn ExecutionStore>, clock: Clock, config: ServiceConfig) -> Self {
        let mut state = State {
            store,
            callbacks: FxHashMap::default(),
            functions: FxHashSet::default(),
        };
        if clock.is_virtual()
            && let Some(latest) = latest_timestamp(&*state.store)
        {
            clock.advance_to(latest);
        }
        recover(&mut state, clock.now_ms(), &config);
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                clock,
                config,
                changed: Notify::new(),
            }),
        }
    }

    /// The service's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The service's settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; should it ever, the state is
        // still consistent per operation, so keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Woken whenever a callback is created or an execution ends.
    pub fn changed(&self) -> &Notify {
        &self.shared.changed
    }

    /// Lets chained invokes target `function_name` (by that name, by an ARN
    /// naming it, or by `name:qualifier`). A chained invoke of a function
    /// that is not registered fails at once with `ResourceNotFoundException`.
    /// [`LocalRunner`](crate::LocalRunner) registers its own function and
    /// every [`register_function`](crate::LocalRunner::register_function).
    pub fn register_function(&self, function_name: impl Into<String>) {
        self.lock().functions.insert(function_name.into());
    }

    /// Whether chained invokes may target `function_name`.
    pub fn is_function_registered(&self, function_name: &str) -> bool {
        resolve_function(&self.lock().functions, function_name).is_some()
    }
}
impl LocalService {
    // ----- callbacks (the external system's API) -----
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod external_tests;

#[cfg(test)]
mod recovery_tests;
