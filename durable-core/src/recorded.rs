//! The error of an operation whose outcome the service records: a callback
//! (PROTOCOL §8.3, §8.4) or a chained invoke (§8.6).
//!
//! Both keep the recorded [`ErrorObject`] and a [`RecordedErrorKind`] saying
//! how the operation ended, so that they read the same on every replay. One
//! type, [`RecordedError`], does it for both; a type parameter (a marker, not
//! a value) says which operation it came from, so that:
//!
//! - [`CallbackError`] and [`InvokeError`] stay two types: code may
//!   implement `From` for each, and a function's signature says which
//!   operation its error comes from;
//! - an error rebuilt from a record on replay ([`ErrorCodec::decode`], for
//!   example from a failed `wait_for_callback`) gets back its origin, its
//!   `Display` text and, for callbacks, its kind, exactly as on the first run.
//!
//! [`CallbackError`], [`CallbackErrorKind`], [`InvokeError`] and
//! [`InvokeErrorKind`] are aliases kept for the code that names them.

use std::fmt;
use std::marker::PhantomData;

use crate::callback::{CALLBACK_HEARTBEAT, CALLBACK_SUBMITTER, CALLBACK_TIMEOUT};
use crate::error::{DurableError, ErrorCodec, StepError, kinds};
use crate::wire::ErrorObject;

/// How an operation with a recorded outcome ended, when it did not succeed.
///
/// One enum for callbacks and chained invokes; each variant says which of
/// them it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordedErrorKind {
    /// It failed. A callback: the external system reported a failure (its
    /// type, message and data are on the error). A chained invoke: the
    /// invoked execution failed, or could not start.
    Failed,
    /// Its timeout expired. A callback: no result arrived in time. A chained
    /// invoke: the invoked execution timed out.
    TimedOut,
    /// Callbacks only: no heartbeat arrived within the heartbeat timeout.
    HeartbeatTimedOut,
    /// Chained invokes only: the invoked execution was stopped.
    Stopped,
    /// `wait_for_callback` only: the submitter failed (after its retries).
    SubmitterFailed,
    /// The result (the callback's, or the invoked function's) does not
    /// deserialize into the expected type.
    InvalidResult,
}

/// A callback or chained invoke that did not succeed: how it ended, and the
/// recorded error type, message and data (for example
/// `RejectedError: not approved`, or `Callback.Timeout`).
///
/// Used through its aliases [`CallbackError`] and [`InvokeError`]; `O` is
/// [`CallbackOrigin`] or [`InvokeOrigin`].
///
/// It does not implement `std::error::Error`, so that it converts into
/// [`StepError`] and [`DurableError`] with `?` (they convert from every
/// `std::error::Error`, and the two conversions would overlap).
pub struct RecordedError<O> {
    kind: RecordedErrorKind,
    error: ErrorObject,
    origin: PhantomData<fn() -> O>,
}

/// The error of a callback (`Callback::result`, `wait_for_callback`).
pub type CallbackError = RecordedError<CallbackOrigin>;
/// What went wrong with a callback: [`RecordedErrorKind`] (`Failed`,
/// `TimedOut`, `HeartbeatTimedOut`, `SubmitterFailed`, `InvalidResult`).
pub type CallbackErrorKind = RecordedErrorKind;
/// The error of a chained invoke (`ctx.invoke(..)`), with the invoked
/// function's error.
pub type InvokeError = RecordedError<InvokeOrigin>;
/// How a chained invoke ended: [`RecordedErrorKind`] (`Failed`, `TimedOut`,
/// `Stopped`, `InvalidResult`).
pub type InvokeErrorKind = RecordedErrorKind;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::CallbackOrigin {}
    impl Sealed for super::InvokeOrigin {}
}

/// The operation a [`RecordedError`] comes from: [`CallbackOrigin`] or
/// [`InvokeOrigin`]. Sealed: no other type implements it.
pub trait ErrorOrigin: sealed::Sealed + 'static {
    /// The error's type name (`CallbackError`, `InvokeError`): its `Debug`
    /// name, and its [`error_type`](RecordedError::error_type) when the
    /// record carries none.
    const NAME: &'static str;

    /// The kind of an error rebuilt from a record alone (on replay).
    fn kind_of(error: &ErrorObject) -> RecordedErrorKind;

    /// The error's `Display` text.
    ///
    /// # Errors
    /// The formatter's.
    fn describe(
        kind: RecordedErrorKind,
        error: &ErrorObject,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result;
}

/// Marks a [`RecordedError`] as a callback's ([`CallbackError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallbackOrigin {}

/// Marks a [`RecordedError`] as a chained invoke's ([`InvokeError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvokeOrigin {}

impl ErrorOrigin for CallbackOrigin {
    const NAME: &'static str = "CallbackError";

    /// The service-generated and SDK error types name the kind; any other
    /// is the external system's failure.
    fn kind_of(error: &ErrorObject) -> RecordedErrorKind {
        match error.error_type.as_deref() {
            Some(CALLBACK_TIMEOUT) => RecordedErrorKind::TimedOut,
            Some(CALLBACK_HEARTBEAT) => RecordedErrorKind::HeartbeatTimedOut,
            Some(CALLBACK_SUBMITTER) => RecordedErrorKind::SubmitterFailed,
            Some(kinds::CALLBACK_RESULT) => RecordedErrorKind::InvalidResult,
            _ => RecordedErrorKind::Failed,
        }
    }

    fn describe(
        _kind: RecordedErrorKind,
        error: &ErrorObject,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write!(f, "callback failed: {error}")
    }
}

impl ErrorOrigin for InvokeOrigin {
    const NAME: &'static str = "InvokeError";

    /// The kind comes from the record's status, which an error alone does
    /// not carry: always `Failed`.
    fn kind_of(_error: &ErrorObject) -> RecordedErrorKind {
        RecordedErrorKind::Failed
    }

    fn describe(
        kind: RecordedErrorKind,
        error: &ErrorObject,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write!(f, "chained invoke {kind:?}: {error}")
    }
}

impl<O: ErrorOrigin> RecordedError<O> {
    pub(crate) fn new(kind: RecordedErrorKind, error: ErrorObject) -> Self {
        Self {
            kind,
            error,
            origin: PhantomData,
        }
    }

    /// The error of a record, its kind read from the error alone.
    pub(crate) fn from_record(error: ErrorObject) -> Self {
        Self::new(O::kind_of(&error), error)
    }

    /// How it ended.
    pub fn kind(&self) -> RecordedErrorKind {
        self.kind
    }

    /// Whether it timed out (either timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            RecordedErrorKind::TimedOut | RecordedErrorKind::HeartbeatTimedOut
        )
    }

    /// The recorded error type (for a chained invoke, the invoked
    /// function's); `CallbackError` or `InvokeError` if none was recorded.
    pub fn error_type(&self) -> &str {
        self.error.error_type.as_deref().unwrap_or(O::NAME)
    }

    /// The recorded message.
    pub fn message(&self) -> &str {
        self.error.error_message.as_deref().unwrap_or_default()
    }

    /// The recorded data, if any.
    pub fn data(&self) -> Option<&str> {
        self.error.error_data.as_deref()
    }

    /// The error as the service stores it.
    pub fn to_error_object(&self) -> ErrorObject {
        self.error.clone()
    }
}

// Written out rather than derived: a derive would require `O: Clone` (and so
// on), which the markers need not be.
impl<O> Clone for RecordedError<O> {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            error: self.error.clone(),
            origin: PhantomData,
        }
    }
}

impl<O> PartialEq for RecordedError<O> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.error == other.error
    }
}

impl<O> Eq for RecordedError<O> {}

impl<O: ErrorOrigin> fmt::Display for RecordedError<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        O::describe(self.kind, &self.error, f)
    }
}

impl<O: ErrorOrigin> fmt::Debug for RecordedError<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(O::NAME)
            .field("kind", &self.kind)
            .field("error", &self.error)
            .finish()
    }
}

impl<O: ErrorOrigin> ErrorCodec for RecordedError<O> {
    fn encode(&self) -> ErrorObject {
        self.error.clone()
    }

    fn decode(error: &ErrorObject) -> Result<Self, String> {
        Ok(Self::from_record(error.clone()))
    }
}

impl<O: ErrorOrigin> From<RecordedError<O>> for DurableError {
    fn from(error: RecordedError<O>) -> Self {
        DurableError::from_error_object(&error.error)
    }
}

impl<O: ErrorOrigin> From<RecordedError<O>> for StepError {
    fn from(error: RecordedError<O>) -> Self {
        StepError::from_error_object(&error.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_origin_keeps_its_text_name_and_replayed_kind() {
        let timeout = ErrorObject::new(CALLBACK_TIMEOUT, "no answer");
        let callback = CallbackError::decode(&timeout).unwrap();
        assert_eq!(callback.kind(), CallbackErrorKind::TimedOut);
        assert!(callback.is_timeout());
        assert_eq!(callback.to_string(), format!("callback failed: {timeout}"));
        assert!(format!("{callback:?}").starts_with("CallbackError {"));

        let invoke = InvokeError::decode(&timeout).unwrap();
        assert_eq!(invoke.kind(), InvokeErrorKind::Failed);
        assert_eq!(
            invoke.to_string(),
            format!("chained invoke Failed: {timeout}")
        );
        assert!(format!("{invoke:?}").starts_with("InvokeError {"));

        let stopped = InvokeError::new(RecordedErrorKind::Stopped, timeout.clone());
        assert_eq!(
            stopped.to_string(),
            format!("chained invoke Stopped: {timeout}")
        );
        assert_eq!(stopped.to_error_object(), timeout);
    }

    #[test]
    fn an_error_without_a_type_is_named_after_its_origin() {
        let bare = ErrorObject {
            error_type: None,
            error_message: Some("gone".to_owned()),
            error_data: Some("{}".to_owned()),
            stack_trace: None,
        };
        let callback = CallbackError::from_record(bare.clone());
        assert_eq!(callback.error_type(), "CallbackError");
        assert_eq!(callback.message(), "gone");
        assert_eq!(callback.data(), Some("{}"));
        assert_eq!(InvokeError::from_record(bare).error_type(), "InvokeError");
    }
}
