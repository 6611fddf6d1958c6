//! The service's public types: its settings, what starting an execution
//! and an invocation return, and the names of the errors it records.

use durable_core::wire::{
    ErrorObject, ExecutionStatus, InvocationInput, InvocationOutput, OperationStatus,
};

use durable_core::limits::MAX_PAGE_ITEMS;

/// The error type of an invocation that crashed (panic, process exit).
pub const RUNTIME_EXIT_ERROR: &str = "Runtime.ExitError";

/// Settings of a [`LocalService`](crate::LocalService).
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Records per page of the invocation envelope and of
    /// `GetDurableExecutionState` (default 1000, the service maximum).
    pub page_size: usize,
    /// Consecutive failed invocations after which the execution fails
    /// (default 5, like the emulator).
    pub max_failed_invocations: u32,
    /// The region in minted ARNs.
    pub region: String,
    /// The account id in minted ARNs.
    pub account_id: String,
    /// How to make a function known, appended to the error of a chained
    /// invoke of a function the service does not know (default: the
    /// in-process ways, `LocalRunner::register_function` and
    /// `LocalService::register_function`; `durable dev` names its
    /// `--function NAME=…` option instead).
    pub unknown_function_hint: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_ITEMS as usize,
            max_failed_invocations: 5,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            unknown_function_hint: "register it with LocalRunner::register_function (or \
                                    LocalService::register_function)"
                .to_owned(),
        }
    }
}

/// The result of [`LocalService::start_execution`](crate::LocalService::start_execution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedExecution {
    /// The execution ARN.
    pub arn: String,
    /// False when an execution with the same name and input already existed
    /// and was returned instead.
    pub created: bool,
}

/// One invocation handed out by [`LocalService::begin_invocation`](crate::LocalService::begin_invocation).
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The envelope to pass to the handler.
    pub input: InvocationInput,
    /// The invocation's request id (reported in `InvocationCompleted`).
    pub request_id: String,
}

/// How an invocation ended, as the service sees it.
#[derive(Clone, Debug)]
pub enum InvocationResult {
    /// The handler returned an output (validated by the service).
    Output(InvocationOutput),
    /// The invocation failed without an output: an error of the runtime, a
    /// crash (`Runtime.ExitError`) or a timeout. Lambda invokes again.
    Failed(ErrorObject),
}

/// What should happen after an invocation, from
/// [`LocalService::complete_invocation`](crate::LocalService::complete_invocation).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The execution ended with this status.
    Finished(ExecutionStatus),
    /// Invoke again now (a failed invocation, or a retry that is due).
    Invoke,
    /// Nothing to do before this time (epoch ms): then fire the timers and invoke.
    WaitUntil(i64),
    /// Nothing internal is due: the execution waits on something external
    /// (a callback, or a chained invoke whose execution must be driven).
    Idle,
}

/// One callback of an execution, from [`LocalService::callbacks`](crate::LocalService::callbacks).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackInfo {
    /// The id external systems complete it with.
    pub callback_id: String,
    /// The CALLBACK operation's id.
    pub operation_id: String,
    /// The CALLBACK operation's name.
    pub name: Option<String>,
    /// The name of the `wait_for_callback` this callback belongs to (its
    /// parent context, of SubType `WaitForCallback`), when it has one. The
    /// SDKs name the inner CALLBACK operation `"<name> create callback id"`;
    /// this is the `<name>` the user gave.
    pub wait_for_callback: Option<String>,
    /// Its status: STARTED while open, then SUCCEEDED, FAILED or TIMED_OUT.
    pub status: OperationStatus,
    /// When it was created (epoch ms).
    pub start_timestamp: i64,
}

impl CallbackInfo {
    /// Whether `name` names this callback: `"*"` (any callback), the CALLBACK
    /// operation's name, or the name of the `wait_for_callback` it belongs to
    /// (see [`wait_for_callback`](Self::wait_for_callback)).
    pub fn is_named(&self, name: &str) -> bool {
        name == "*"
            || self.name.as_deref() == Some(name)
            || self.wait_for_callback.as_deref() == Some(name)
    }

    /// The name a user knows this callback by: its `wait_for_callback`'s
    /// name, else the operation's name.
    pub fn display_name(&self) -> Option<&str> {
        self.wait_for_callback.as_deref().or(self.name.as_deref())
    }
}
