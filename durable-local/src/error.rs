//! Errors of the local engine's own API (starting, driving and reading
//! executions). Errors the SDK sees through [`durable_core::Backend`] are
//! [`BackendError`]s shaped like the service's.

use durable_core::BackendError;
use durable_core::CALLBACK_TIMEOUT_EXCEPTION;
use durable_core::wire::ExecutionStatus;

use crate::store::StoreError;

/// The exception name of a name reused with a different input.
pub const ALREADY_STARTED: &str = "DurableExecutionAlreadyStartedException";
/// The exception name of an unknown execution, callback or function.
pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";

/// An error of the local engine's API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// An execution with this name exists with a different input
    /// (`DurableExecutionAlreadyStartedException`).
    #[error("{ALREADY_STARTED}: execution {name} already exists with a different input ({arn})")]
    AlreadyStarted {
        /// The execution name.
        name: String,
        /// The existing execution's ARN.
        arn: String,
    },
    /// No execution has this ARN.
    #[error("{RESOURCE_NOT_FOUND}: no durable execution {arn}")]
    NotFound {
        /// The ARN asked for.
        arn: String,
    },
    /// The execution name is not 1 to 64 of `A-Z a-z 0-9 - _`.
    #[error("invalid execution name {name:?}: use 1 to 64 letters, digits, '-' or '_'")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The execution has ended; it cannot be invoked again.
    #[error("execution {arn} has ended ({status})")]
    Ended {
        /// The execution ARN.
        arn: String,
        /// Its final status.
        status: ExecutionStatus,
    },
    /// The runner's settings contradict each other.
    #[error("{0}")]
    Config(String),
    /// The input could not be serialized to JSON.
    #[error("the execution input could not be serialized: {0}")]
    Input(#[source] serde_json::Error),
    /// No invocation of this execution is running.
    #[error("no invocation of {arn} is in progress")]
    NoInvocation {
        /// The execution ARN.
        arn: String,
    },
    /// The runner re-invoked the handler this many times without the
    /// execution ending or waiting on something external (a loop in the
    /// handler, or a poll that never stops).
    #[error("execution {arn} did not settle after {invocations} invocations")]
    InvocationLimit {
        /// The execution ARN.
        arn: String,
        /// How many invocations ran.
        invocations: u32,
    },
    /// No callback has this id (`ResourceNotFoundException`).
    #[error("{RESOURCE_NOT_FOUND}: no callback with id {callback_id}")]
    CallbackNotFound {
        /// The callback id given.
        callback_id: String,
    },
    /// The callback can no longer be completed or heartbeated: it already
    /// succeeded, failed or timed out, or its execution has ended
    /// (`CallbackTimeoutException`).
    #[error(
        "{CALLBACK_TIMEOUT_EXCEPTION}: callback {callback_id} is already closed ({state}); it can no longer be completed or heartbeated"
    )]
    CallbackClosed {
        /// The callback id.
        callback_id: String,
        /// Why: the callback's status (`SUCCEEDED`, `TIMED_OUT`, ...) or
        /// the execution's (`execution SUCCEEDED`).
        state: String,
    },
    /// A callback result over the size limit (`InvalidParameterValueException`).
    #[error(
        "InvalidParameterValueException: the result for callback {callback_id} is {size} bytes, over the maximum of {max} bytes"
    )]
    CallbackPayloadTooLarge {
        /// The callback id.
        callback_id: String,
        /// The size sent.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Any other bad callback request (`InvalidParameterValueException`):
    /// a result that is not UTF-8, an error object over the size limit.
    #[error(
        "InvalidParameterValueException: invalid request for callback {callback_id}: {message}"
    )]
    InvalidCallbackRequest {
        /// The callback id.
        callback_id: String,
        /// What is wrong.
        message: String,
    },
    /// No callback operation with this name exists in the execution.
    #[error("{RESOURCE_NOT_FOUND}: execution {arn} has no callback named {name:?}")]
    CallbackNameNotFound {
        /// The execution ARN.
        arn: String,
        /// The operation name looked for.
        name: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LocalError {
    /// The service's view of this error, for front ends that speak the REST API.
    pub fn to_backend_error(&self) -> BackendError {
        match self {
            Self::AlreadyStarted { .. } => {
                BackendError::service(ALREADY_STARTED, 409, self.to_string())
            }
            Self::Config(_) => {
                BackendError::service("InvalidParameterValueException", 400, self.to_string())
            }
            Self::NotFound { .. }
            | Self::CallbackNotFound { .. }
            | Self::CallbackNameNotFound { .. } => {
                BackendError::service(RESOURCE_NOT_FOUND, 404, self.to_string())
            }
            Self::CallbackClosed { .. } => {
                BackendError::service(CALLBACK_TIMEOUT_EXCEPTION, 400, self.to_string())
            }
            Self::Input(_)
            | Self::InvalidName { .. }
            | Self::Ended { .. }
            | Self::CallbackPayloadTooLarge { .. }
            | Self::InvalidCallbackRequest { .. } => {
                BackendError::service("InvalidParameterValueException", 400, self.to_string())
            }
            Self::NoInvocation { .. } | Self::InvocationLimit { .. } | Self::Store(_) => {
                BackendError::service("ServiceException", 500, self.to_string())
            }
        }
    }
}
