//! Errors: what step bodies and handlers return, how a step's error type
//! crosses the checkpoint ([`ErrorCodec`]), and the invocation-level error.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::ErrorObject;

/// How an error value is written into an [`ErrorObject`] and read back on
/// replay, so that user code sees the same error, of the same type, on every
/// invocation.
///
/// Implemented for [`StepError`], [`DurableError`] and, through JSON, for every
/// type that is `Serialize + DeserializeOwned` (its `ErrorType` is the type's
/// name and its `ErrorData` the JSON text).
pub trait ErrorCodec: Sized + Send + 'static {
    /// The error as the service stores it.
    fn encode(&self) -> ErrorObject;

    /// The error rebuilt from a stored record.
    ///
    /// # Errors
    /// A description of why the record does not describe a value of this type.
    fn decode(error: &ErrorObject) -> Result<Self, String>;

    /// Whether retrying cannot help: a terminal error fails a step at once.
    fn is_terminal(&self) -> bool {
        false
    }
}

fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl<T: Serialize + DeserializeOwned + Send + 'static> ErrorCodec for T {
    fn encode(&self) -> ErrorObject {
        let json =
            serde_json::to_string(self).unwrap_or_else(|e| format!("<unserializable error: {e}>"));
        ErrorObject {
            error_type: Some(short_type_name::<T>().to_owned()),
            error_message: Some(json.clone()),
            error_data: Some(json),
            stack_trace: None,
        }
    }

    fn decode(error: &ErrorObject) -> Result<Self, String> {
        let text = error
            .error_data
            .as_deref()
            .or(error.error_message.as_deref())
            .ok_or_else(|| {
                format!(
                    "the stored error {error} carries no data for {}",
                    short_type_name::<T>()
                )
            })?;
        serde_json::from_str(text).map_err(|e| {
            format!(
                "the stored error {error} does not deserialize into {}: {e}",
                std::any::type_name::<T>()
            )
        })
    }
}

/// The shared body of [`StepError`] and [`DurableError`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Repr {
    error_type: String,
    message: String,
    data: Option<String>,
    terminal: bool,
}

impl Repr {
    fn new(error_type: &str, message: String, terminal: bool) -> Self {
        Self {
            error_type: error_type.to_owned(),
            message,
            data: None,
            terminal,
        }
    }

    fn from_std<E: std::error::Error + ?Sized>(error: &E, error_type: &str) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::new(error_type, message, false)
    }

    fn encode(&self) -> ErrorObject {
        ErrorObject {
            error_type: Some(self.error_type.clone()),
            error_message: Some(self.message.clone()),
            error_data: self.data.clone(),
            stack_trace: None,
        }
    }

    fn decode(error: &ErrorObject, default_type: &str) -> Self {
        Self {
            error_type: error
                .error_type
                .clone()
                .unwrap_or_else(|| default_type.to_owned()),
            message: error.error_message.clone().unwrap_or_default(),
            data: error.error_data.clone(),
            terminal: false,
        }
    }
}

macro_rules! error_type_common {
    ($name:ident, $default_type:literal) => {
        impl $name {
            /// An error with this message, of type
            #[doc = concat!("`", $default_type, "`.")]
            pub fn new(message: impl Into<String>) -> Self {
                Self(Repr::new($default_type, message.into(), false))
            }

            /// Sets the error type recorded as `ErrorType` (retry filters match on it).
            #[must_use]
            pub fn with_type(mut self, error_type: impl Into<String>) -> Self {
                self.0.error_type = error_type.into();
                self
            }

            /// Attaches machine-readable data, recorded as `ErrorData`.
            #[must_use]
            pub fn with_data(mut self, data: impl Into<String>) -> Self {
                self.0.data = Some(data.into());
                self
            }

            /// The recorded error type.
            pub fn error_type(&self) -> &str {
                &self.0.error_type
            }

            /// The message.
            pub fn message(&self) -> &str {
                &self.0.message
            }

            /// The machine-readable data, if any.
            pub fn data(&self) -> Option<&str> {
                self.0.data.as_deref()
            }

            /// The error as the service stores it.
            pub fn to_error_object(&self) -> ErrorObject {
                self.0.encode()
            }

            /// Rebuilds an error from a stored record.
            pub fn from_error_object(error: &ErrorObject) -> Self {
                Self(Repr::decode(error, $default_type))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}: {}", self.0.error_type, self.0.message)
            }
        }

        impl<E: std::error::Error + Send + Sync + 'static> From<E> for $name {
            fn from(error: E) -> Self {
                Self(Repr::from_std(&error, short_type_name::<E>()))
            }
        }
    };
}

/// The error a step body returns: a type, a message and optional data, and
/// whether it is terminal (never retried).
///
/// Any `std::error::Error` converts into it with `?`; its `ErrorType` is then
/// the error's type name. `StepError` deliberately does not implement
/// `std::error::Error` itself, so that blanket conversion can exist.
#[derive(Clone, PartialEq, Eq)]
pub struct StepError(Repr);

error_type_common!(StepError, "StepError");

impl StepError {
    /// A terminal error: the step fails at once, whatever its retry strategy.
    pub fn terminal(message: impl Into<String>) -> Self {
        Self(Repr::new("StepError", message.into(), true))
    }

    /// Whether this error is terminal.
    pub fn is_terminal(&self) -> bool {
        self.0.terminal
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepError")
            .field("type", &self.0.error_type)
            .field("message", &self.0.message)
            .field("data", &self.0.data)
            .field("terminal", &self.0.terminal)
            .finish()
    }
}

impl ErrorCodec for StepError {
    fn encode(&self) -> ErrorObject {
        self.0.encode()
    }

    fn decode(error: &ErrorObject) -> Result<Self, String> {
        Ok(Self::from_error_object(error))
    }

    fn is_terminal(&self) -> bool {
        self.0.terminal
    }
}

/// The error a durable handler returns: it ends the execution as FAILED with
/// this type, message and data.
#[derive(Clone, PartialEq, Eq)]
pub struct DurableError(Repr);

error_type_common!(DurableError, "DurableError");

impl DurableError {
    /// An error that ends the execution. Every handler error does; the name
    /// reads well at the call site (`return Err(DurableError::terminal(..))`).
    pub fn terminal(message: impl Into<String>) -> Self {
        Self(Repr::new("DurableError", message.into(), true))
    }
}

impl fmt::Debug for DurableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableError")
            .field("type", &self.0.error_type)
            .field("message", &self.0.message)
            .field("data", &self.0.data)
            .finish()
    }
}

impl From<StepError> for DurableError {
    fn from(error: StepError) -> Self {
        let mut repr = error.0;
        repr.terminal = true;
        Self(repr)
    }
}

impl ErrorCodec for DurableError {
    fn encode(&self) -> ErrorObject {
        self.0.encode()
    }

    fn decode(error: &ErrorObject) -> Result<Self, String> {
        Ok(Self::from_error_object(error))
    }

    fn is_terminal(&self) -> bool {
        true
    }
}

/// Why an invocation could not produce an output. Lambda records the
/// invocation as failed and invokes the function again; the execution is not
/// ended by this error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct InvocationError {
    error_type: String,
    message: String,
}

impl InvocationError {
    pub(crate) fn new(error_type: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.to_owned(),
            message: message.into(),
        }
    }

    /// A short type name, for example `CheckpointError` or `InvalidEnvelope`.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error as an [`ErrorObject`], for recording the failed invocation.
    pub fn to_error_object(&self) -> ErrorObject {
        ErrorObject::new(self.error_type.clone(), self.message.clone())
    }
}

/// Error types the engine itself records (stable names, part of the contract).
pub mod kinds {
    /// The code asked for a different operation than the one recorded at an id.
    pub const NON_DETERMINISTIC: &str = "NonDeterministicExecutionError";
    /// A payload could not be serialized or deserialized.
    pub const SERIALIZATION: &str = "SerializationError";
    /// An at-most-once step attempt was interrupted before it recorded a result.
    pub const STEP_INTERRUPTED: &str = "StepInterruptedError";
    /// The handler's input could not be read.
    pub const INVALID_INPUT: &str = "InvalidInputError";
    /// The invocation envelope is not a durable execution envelope.
    pub const INVALID_ENVELOPE: &str = "InvalidEnvelope";
    /// A checkpoint or state call failed.
    pub const CHECKPOINT: &str = "CheckpointError";
    /// A callback's result does not deserialize into the expected type.
    pub const CALLBACK_RESULT: &str = "CallbackResultError";
    /// A wait_for_condition ran out of attempts.
    pub const WAIT_FOR_CONDITION: &str = "WaitForConditionError";
    /// The code used the API in a way the service would reject.
    pub const VALIDATION: &str = "ValidationError";
    /// The recorded state holds something this SDK version cannot act on.
    pub const UNSUPPORTED_STATE: &str = "UnsupportedStateError";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum PaymentError {
        Declined { code: u32 },
    }

    #[test]
    fn serde_errors_round_trip_as_their_own_type() {
        let error = PaymentError::Declined { code: 51 };
        let stored = error.encode();
        assert_eq!(stored.error_type.as_deref(), Some("PaymentError"));
        assert_eq!(PaymentError::decode(&stored).unwrap(), error);
    }

    #[test]
    fn a_record_of_another_shape_is_a_clear_decode_error() {
        let stored = ErrorObject::new("PaymentError", "not json");
        let err = PaymentError::decode(&stored).unwrap_err();
        assert!(err.contains("does not deserialize into"), "{err}");
    }

    #[test]
    fn std_errors_convert_into_step_errors_with_their_type_name() {
        let io = std::io::Error::other("disk full");
        let step: StepError = io.into();
        assert_eq!(step.error_type(), "Error");
        assert_eq!(step.message(), "disk full");
        let parse: StepError = "x".parse::<i32>().unwrap_err().into();
        assert_eq!(parse.error_type(), "ParseIntError");
    }

    #[test]
    fn step_errors_round_trip_through_error_objects() {
        let error = StepError::new("boom")
            .with_type("TransientError")
            .with_data("{\"n\":1}");
        let back = StepError::decode(&error.encode()).unwrap();
        assert_eq!(back, error);
        assert!(!back.is_terminal());
        assert!(StepError::terminal("stop").is_terminal());
    }
}
