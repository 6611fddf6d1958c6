//! The `Backend` trait: the only way the engine reaches the service.
//!
//! The AWS backend (durable-lambda) calls `CheckpointDurableExecution` and
//! `GetDurableExecutionState`; the local engine (durable-local) applies the
//! updates in process. Both speak the typed wire model of [`crate::wire`].

use std::future::Future;
use std::pin::Pin;

use crate::wire::{CheckpointResponse, ExecutionState, OperationUpdate};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The service, as the replay engine sees it.
pub trait Backend: Send + Sync + 'static {
    /// Records a batch of updates (`CheckpointDurableExecution`, PROTOCOL §4.1).
    ///
    /// `token` is the current checkpoint token; the response carries the next
    /// one and every record changed since the last delivery.
    fn checkpoint<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>>;

    /// Reads one page of operation records (`GetDurableExecutionState`, §4.3).
    fn get_state<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>>;
}

/// An error from the service or from the way to it, classified by PROTOCOL §4.5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    code: String,
    message: String,
    status: Option<u16>,
}

/// The service's error code for a stale or unknown checkpoint token.
pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValueException";
/// The message prefix the service uses for a stale checkpoint token.
pub const INVALID_CHECKPOINT_TOKEN: &str = "Invalid Checkpoint Token";
/// The service's error code (an API exception) for a callback that can no
/// longer be completed or heartbeated: it already succeeded, failed or timed
/// out, or its execution ended (PROTOCOL §4.4). Not to be confused with
/// [`CALLBACK_TIMEOUT`](crate::CALLBACK_TIMEOUT), the error type recorded on
/// a callback whose timeout expired.
pub const CALLBACK_TIMEOUT_EXCEPTION: &str = "CallbackTimeoutException";

impl BackendError {
    /// An error the service answered with: its exception name (for example
    /// `InvalidParameterValueException`), HTTP status and message.
    pub fn service(code: impl Into<String>, status: u16, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status: Some(status),
        }
    }

    /// The service could not be reached, or its answer could not be read.
    pub fn transport(message: impl Into<String>) -> Self {
        Self {
            code: "TransportError".to_owned(),
            message: message.into(),
            status: None,
        }
    }

    /// The exception name.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether the invocation should fail so that Lambda invokes it again
    /// (throttling, a stale token, 5xx, transport), as opposed to ending the
    /// execution (KMS errors and every other 4xx).
    pub fn is_retryable(&self) -> bool {
        if self.code.starts_with("KMS") {
            return false;
        }
        if self.status == Some(429) || self.code == "TooManyRequestsException" {
            return true;
        }
        // The service and AWS's emulator spell this message in different
        // cases (`Invalid checkpoint token` in dex-local-runner).
        if self
            .message
            .get(..INVALID_CHECKPOINT_TOKEN.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(INVALID_CHECKPOINT_TOKEN))
        {
            return true;
        }
        !matches!(self.status, Some(400..=499))
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} ({status}): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for BackendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_protocol_4_5() {
        let stale = BackendError::service(
            INVALID_PARAMETER_VALUE,
            400,
            "Invalid Checkpoint Token: expired",
        );
        assert!(stale.is_retryable());
        let emulator =
            BackendError::service(INVALID_PARAMETER_VALUE, 400, "Invalid checkpoint token");
        assert!(emulator.is_retryable());
        let bad =
            BackendError::service(INVALID_PARAMETER_VALUE, 400, "Inconsistent operation type");
        assert!(!bad.is_retryable());
        assert!(BackendError::service("TooManyRequestsException", 429, "slow down").is_retryable());
        assert!(BackendError::service("ServiceException", 500, "oops").is_retryable());
        assert!(!BackendError::service("KMSAccessDeniedException", 502, "denied").is_retryable());
        assert!(!BackendError::service("ResourceNotFoundException", 404, "gone").is_retryable());
        assert!(BackendError::transport("connection reset").is_retryable());
    }
}
