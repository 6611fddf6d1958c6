//! The wire model: serde types for the invocation envelope, operation records,
//! operation updates, errors and history events (PROTOCOL §2, §3, §12).
//!
//! Keys are PascalCase. Every struct ignores unknown fields, and every enum keeps
//! a value it does not know in an `Unknown` variant instead of failing to parse,
//! so a newer service never breaks an older SDK until the SDK has to act on the
//! new value. Timestamps in this model are integer epoch milliseconds, the unit
//! of the invocation envelope; REST adapters convert.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as received.
            Unknown(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Unknown(other) => other.as_str(),
                }
            }

            /// Parses the wire spelling; unknown values become `Unknown`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

wire_enum! {
    /// The kind of a durable operation.
    pub enum OperationType {
        /// The execution itself.
        Execution = "EXECUTION",
        /// A child context (also map, parallel and their items).
        Context = "CONTEXT",
        /// A step (also wait_for_condition).
        Step = "STEP",
        /// A timed wait.
        Wait = "WAIT",
        /// A callback completed by an external system.
        Callback = "CALLBACK",
        /// A chained invoke of another durable function.
        ChainedInvoke = "CHAINED_INVOKE",
    }
}

wire_enum! {
    /// The status of an operation record.
    pub enum OperationStatus {
        /// Started and running.
        Started = "STARTED",
        /// Waiting for a retry timer.
        Pending = "PENDING",
        /// The retry timer fired; the next attempt may start.
        Ready = "READY",
        /// Finished with a result.
        Succeeded = "SUCCEEDED",
        /// Finished with an error.
        Failed = "FAILED",
        /// Cancelled.
        Cancelled = "CANCELLED",
        /// Timed out.
        TimedOut = "TIMED_OUT",
        /// Stopped.
        Stopped = "STOPPED",
    }
}

impl OperationStatus {
    /// Whether no further change can happen to the record.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::TimedOut | Self::Stopped
        )
    }
}

wire_enum! {
    /// What an update asks the service to do.
    pub enum OperationAction {
        /// Start the operation.
        Start = "START",
        /// Finish it with a result.
        Succeed = "SUCCEED",
        /// Finish it with an error.
        Fail = "FAIL",
        /// Schedule another attempt.
        Retry = "RETRY",
        /// Cancel it.
        Cancel = "CANCEL",
    }
}

wire_enum! {
    /// The status an invocation reports back to the service.
    pub enum InvocationStatus {
        /// The execution finished with a result.
        Succeeded = "SUCCEEDED",
        /// The execution finished with an error.
        Failed = "FAILED",
        /// The execution waits for the service.
        Pending = "PENDING",
    }
}

wire_enum! {
    /// The status of a whole execution (REST API).
    pub enum ExecutionStatus {
        /// Running.
        Running = "RUNNING",
        /// Finished with a result.
        Succeeded = "SUCCEEDED",
        /// Finished with an error.
        Failed = "FAILED",
        /// Ran past its execution timeout.
        TimedOut = "TIMED_OUT",
        /// Stopped through the API.
        Stopped = "STOPPED",
    }
}

impl ExecutionStatus {
    /// Whether the execution has ended.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::Running | Self::Unknown(_))
    }
}

wire_enum! {
    /// The type of a history event (PROTOCOL §12).
    pub enum EventType {
        /// The execution was created.
        ExecutionStarted = "ExecutionStarted",
        /// The execution succeeded.
        ExecutionSucceeded = "ExecutionSucceeded",
        /// The execution failed.
        ExecutionFailed = "ExecutionFailed",
        /// The execution timed out.
        ExecutionTimedOut = "ExecutionTimedOut",
        /// The execution was stopped.
        ExecutionStopped = "ExecutionStopped",
        /// One invocation of the handler ended.
        InvocationCompleted = "InvocationCompleted",
        /// A step attempt started.
        StepStarted = "StepStarted",
        /// A step attempt succeeded.
        StepSucceeded = "StepSucceeded",
        /// A step attempt failed.
        StepFailed = "StepFailed",
        /// A wait started.
        WaitStarted = "WaitStarted",
        /// A wait's timer fired.
        WaitSucceeded = "WaitSucceeded",
        /// A wait was cancelled.
        WaitCancelled = "WaitCancelled",
        /// A callback was created.
        CallbackStarted = "CallbackStarted",
        /// A callback was completed with a result.
        CallbackSucceeded = "CallbackSucceeded",
        /// A callback was completed with an error.
        CallbackFailed = "CallbackFailed",
        /// A callback timed out.
        CallbackTimedOut = "CallbackTimedOut",
        /// A child context started.
        ContextStarted = "ContextStarted",
        /// A child context succeeded.
        ContextSucceeded = "ContextSucceeded",
        /// A child context failed.
        ContextFailed = "ContextFailed",
        /// A chained invoke started.
        ChainedInvokeStarted = "ChainedInvokeStarted",
        /// A chained invoke succeeded.
        ChainedInvokeSucceeded = "ChainedInvokeSucceeded",
        /// A chained invoke failed.
        ChainedInvokeFailed = "ChainedInvokeFailed",
        /// A chained invoke timed out.
        ChainedInvokeTimedOut = "ChainedInvokeTimedOut",
        /// A chained invoke was stopped.
        ChainedInvokeStopped = "ChainedInvokeStopped",
    }
}

/// Accepts an epoch-millisecond timestamp as an integer or a float
/// (PROTOCOL §13.12).
mod epoch_ms {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(i64),
        Float(f64),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
        Ok(match Option::<Number>::deserialize(de)? {
            None => None,
            Some(Number::Int(ms)) => Some(ms),
            #[allow(clippy::cast_possible_truncation)]
            Some(Number::Float(ms)) if ms.is_finite() => Some(ms as i64),
            Some(Number::Float(_)) => None,
        })
    }
}

/// An error as the service stores it (PROTOCOL §3.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorObject {
    /// The error's type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// A message for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Machine-readable data, often JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<String>,
    /// Stack trace lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<Vec<String>>,
}

impl ErrorObject {
    /// An error with a type and a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: Some(error_type.into()),
            error_message: Some(message.into()),
            error_data: None,
            stack_trace: None,
        }
    }

    /// The combined length of the text fields, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.error_type.as_ref().map_or(0, String::len)
            + self.error_message.as_ref().map_or(0, String::len)
            + self.error_data.as_ref().map_or(0, String::len)
            + self
                .stack_trace
                .as_ref()
                .map_or(0, |lines| lines.iter().map(String::len).sum())
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.error_type, &self.error_message) {
            (Some(t), Some(m)) => write!(f, "{t}: {m}"),
            (Some(t), None) => f.write_str(t),
            (None, Some(m)) => f.write_str(m),
            (None, None) => f.write_str("unknown error"),
        }
    }
}

/// `ExecutionDetails` of an EXECUTION record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionDetails {
    /// The user's input as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_payload: Option<String>,
}

/// `ContextDetails` of a CONTEXT record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContextDetails {
    /// Whether replay must re-run the children to rebuild the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_children: Option<bool>,
    /// The serialized result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// `StepDetails` of a STEP record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepDetails {
    /// Finished attempts; the running attempt is `attempt + 1`.
    #[serde(default)]
    pub attempt: i32,
    /// When the next attempt may start (epoch ms).
    #[serde(
        default,
        deserialize_with = "epoch_ms::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_timestamp: Option<i64>,
    /// The serialized result (or the RETRY payload during a retry cycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// `WaitDetails` of a WAIT record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitDetails {
    /// When the wait ends (epoch ms).
    #[serde(
        default,
        deserialize_with = "epoch_ms::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_end_timestamp: Option<i64>,
}

/// `CallbackDetails` of a CALLBACK record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallbackDetails {
    /// The id an external system uses to complete the callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    /// The result sent by the external system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error sent by the external system, or the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// `ChainedInvokeDetails` of a CHAINED_INVOKE record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChainedInvokeDetails {
    /// The invoked function's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The invoked function's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// One operation record, as the service sends it (PROTOCOL §3.1).
///
/// A record has the details of its type only, so the six `*_details` are
/// boxed: a record is about 200 bytes plus its one set of details, where
/// inline they would make every record 752 bytes (each holds strings and an
/// [`ErrorObject`]). Engines keep every record of a suspended execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Operation {
    /// The operation id.
    pub id: String,
    /// The kind of operation.
    #[serde(rename = "Type")]
    pub operation_type: OperationType,
    /// Its status.
    pub status: OperationStatus,
    /// The enclosing CONTEXT operation; absent at the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The label given by the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SDK-level kind (`Step`, `Wait`, `RunInChildContext`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// When it started (epoch ms).
    #[serde(
        default,
        deserialize_with = "epoch_ms::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_timestamp: Option<i64>,
    /// When it ended (epoch ms).
    #[serde(
        default,
        deserialize_with = "epoch_ms::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_timestamp: Option<i64>,
    /// EXECUTION details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_details: Option<Box<ExecutionDetails>>,
    /// CONTEXT details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_details: Option<Box<ContextDetails>>,
    /// STEP details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_details: Option<Box<StepDetails>>,
    /// WAIT details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_details: Option<Box<WaitDetails>>,
    /// CALLBACK details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_details: Option<Box<CallbackDetails>>,
    /// CHAINED_INVOKE details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_details: Option<Box<ChainedInvokeDetails>>,
}

impl Operation {
    /// A record with only the required fields set.
    pub fn new(
        id: impl Into<String>,
        operation_type: OperationType,
        status: OperationStatus,
    ) -> Self {
        Self {
            id: id.into(),
            operation_type,
            status,
            parent_id: None,
            name: None,
            sub_type: None,
            start_timestamp: None,
            end_timestamp: None,
            execution_details: None,
            context_details: None,
            step_details: None,
            wait_details: None,
            callback_details: None,
            chained_invoke_details: None,
        }
    }
}

/// `ContextOptions` of an update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContextOptions {
    /// Re-run the children on replay to rebuild the result.
    #[serde(default)]
    pub replay_children: bool,
}

/// `StepOptions` of a RETRY update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepOptions {
    /// Seconds until the next attempt.
    #[serde(default)]
    pub next_attempt_delay_seconds: i32,
}

/// `WaitOptions` of a WAIT START update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitOptions {
    /// The wait's length in seconds (1 to 31 622 400).
    #[serde(default)]
    pub wait_seconds: i32,
}

/// `CallbackOptions` of a CALLBACK START update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallbackOptions {
    /// Seconds until the callback times out; 0 means never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout_seconds: i32,
    /// Seconds without a heartbeat before it times out; 0 means never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heartbeat_timeout_seconds: i32,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// `ChainedInvokeOptions` of a CHAINED_INVOKE START update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChainedInvokeOptions {
    /// The function to invoke, by name or ARN.
    #[serde(default)]
    pub function_name: String,
    /// The tenant id, for tenant-isolated functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// One change the SDK asks the service to record (PROTOCOL §3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationUpdate {
    /// The operation id.
    pub id: String,
    /// The enclosing CONTEXT operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind of operation.
    #[serde(rename = "Type")]
    pub operation_type: OperationType,
    /// The SDK-level kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// What to do.
    pub action: OperationAction,
    /// The serialized result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
    /// CONTEXT options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_options: Option<ContextOptions>,
    /// STEP RETRY options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_options: Option<StepOptions>,
    /// WAIT START options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_options: Option<WaitOptions>,
    /// CALLBACK START options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_options: Option<CallbackOptions>,
    /// CHAINED_INVOKE START options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_options: Option<ChainedInvokeOptions>,
}

impl OperationUpdate {
    /// An update with only the required fields set.
    pub fn new(
        id: impl Into<String>,
        operation_type: OperationType,
        action: OperationAction,
    ) -> Self {
        Self {
            id: id.into(),
            parent_id: None,
            name: None,
            operation_type,
            sub_type: None,
            action,
            payload: None,
            error: None,
            context_options: None,
            step_options: None,
            wait_options: None,
            callback_options: None,
            chained_invoke_options: None,
        }
    }

    /// An estimate of the serialized size in bytes, used to cut batches.
    pub fn encoded_len(&self) -> usize {
        // Keys, quotes and enum names; generous so batches stay under the limit.
        const OVERHEAD: usize = 256;
        OVERHEAD
            + self.id.len()
            + self.parent_id.as_ref().map_or(0, String::len)
            + self.name.as_ref().map_or(0, String::len)
            + self.sub_type.as_ref().map_or(0, String::len)
            // JSON escaping can grow a payload; count it twice for quotes-heavy text.
            + self.payload.as_ref().map_or(0, |p| p.len() + p.bytes().filter(|b| *b == b'"' || *b == b'\\').count())
            + self.error.as_ref().map_or(0, ErrorObject::encoded_len)
            + self
                .chained_invoke_options
                .as_ref()
                .map_or(0, |o| o.function_name.len() + o.tenant_id.as_ref().map_or(0, String::len))
    }
}

/// A page of operation records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionState {
    /// The records.
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// Non-empty when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

impl ExecutionState {
    /// The marker of the next page, if there is one (an empty string means none).
    pub fn next_page(&self) -> Option<&str> {
        self.next_marker.as_deref().filter(|m| !m.is_empty())
    }
}

/// The event Lambda passes to a durable handler (PROTOCOL §2.1).
///
/// The ARN and token are optional here so that a plain event can be told
/// apart with a clear message (`durable_core::run_invocation` reports a
/// missing one as `InvalidEnvelope`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationInput {
    /// The execution ARN, an opaque string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_execution_arn: Option<String>,
    /// The first token of the checkpoint chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_token: Option<String>,
    /// The first page of records.
    #[serde(default)]
    pub initial_execution_state: ExecutionState,
    /// Ids changed since the previous invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_operation_ids: Option<Vec<String>>,
}

/// What a durable handler returns to the service (PROTOCOL §2.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationOutput {
    /// The outcome.
    pub status: InvocationStatus,
    /// The serialized result, for SUCCEEDED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error, for FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl InvocationOutput {
    /// `{"Status":"PENDING"}`.
    pub fn pending() -> Self {
        Self {
            status: InvocationStatus::Pending,
            result: None,
            error: None,
        }
    }

    /// `{"Status":"SUCCEEDED","Result":…}`.
    pub fn succeeded(result: Option<String>) -> Self {
        Self {
            status: InvocationStatus::Succeeded,
            result,
            error: None,
        }
    }

    /// `{"Status":"FAILED","Error":…}`.
    pub fn failed(error: ErrorObject) -> Self {
        Self {
            status: InvocationStatus::Failed,
            result: None,
            error: Some(error),
        }
    }
}

/// What a checkpoint call returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckpointResponse {
    /// The next token; absent once the execution is terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_token: Option<String>,
    /// Every record changed since the last delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_execution_state: Option<ExecutionState>,
}

/// A payload inside a history event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventPayload {
    /// The serialized value; absent when not included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Whether the payload was left out.
    #[serde(default)]
    pub truncated: bool,
}

/// An error inside a history event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventError {
    /// The error; absent when not included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<ErrorObject>,
    /// Whether the error was left out.
    #[serde(default)]
    pub truncated: bool,
}

/// Attempt information of step events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryDetails {
    /// The attempt that just ended (1-based).
    pub current_attempt: i32,
    /// Seconds until the next attempt, when one is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_delay_seconds: Option<i32>,
}

/// Details with no fields (`StepStartedDetails`, `ContextStartedDetails`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyDetails {}

/// Details that carry a result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultDetails {
    /// The result.
    pub result: EventPayload,
}

/// Details that carry an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorDetails {
    /// The error.
    pub error: EventError,
}

/// `ExecutionStartedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionStartedDetails {
    /// The execution's input.
    pub input: EventPayload,
    /// The execution timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_timeout: Option<i64>,
}

/// `InvocationCompletedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationCompletedDetails {
    /// When the invocation started (epoch ms).
    pub start_timestamp: i64,
    /// When it ended (epoch ms).
    pub end_timestamp: i64,
    /// The request id of the invocation.
    pub request_id: String,
    /// Why the invocation failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

/// `StepSucceededDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepSucceededDetails {
    /// The result.
    pub result: EventPayload,
    /// The attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_details: Option<RetryDetails>,
}

/// `StepFailedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepFailedDetails {
    /// The error.
    pub error: EventError,
    /// The attempt, and the delay when another follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_details: Option<RetryDetails>,
}

/// `WaitStartedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitStartedDetails {
    /// The wait in seconds.
    pub duration: i64,
    /// When it ends (epoch ms).
    pub scheduled_end_timestamp: i64,
}

/// `WaitSucceededDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitSucceededDetails {
    /// The wait in seconds.
    pub duration: i64,
}

/// `CallbackStartedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallbackStartedDetails {
    /// The callback id.
    pub callback_id: String,
    /// The timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// The heartbeat timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout: Option<i64>,
}

/// `ChainedInvokeStartedDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChainedInvokeStartedDetails {
    /// The invoked function.
    pub function_name: String,
    /// The tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The input sent.
    pub input: EventPayload,
    /// The version that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_version: Option<String>,
    /// The child execution's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_execution_arn: Option<String>,
}

/// One history event (PROTOCOL §12). Exactly one of the `*_details` fields is
/// set, the one named after `event_type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Event {
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// 1-based, +1 per event.
    pub event_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Epoch milliseconds.
    pub event_timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_started_details: Option<ExecutionStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_succeeded_details: Option<ResultDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_failed_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_timed_out_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_completed_details: Option<InvocationCompletedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_details: Option<EmptyDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_succeeded_details: Option<StepSucceededDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_failed_details: Option<StepFailedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_started_details: Option<WaitStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_succeeded_details: Option<WaitSucceededDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_cancelled_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_started_details: Option<CallbackStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_succeeded_details: Option<ResultDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_failed_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_timed_out_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_started_details: Option<EmptyDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_succeeded_details: Option<ResultDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_failed_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_started_details: Option<ChainedInvokeStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_succeeded_details: Option<ResultDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_failed_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_timed_out_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained_invoke_stopped_details: Option<ErrorDetails>,
}

impl Event {
    /// An event of `event_type` with no details yet.
    pub fn new(event_type: EventType, event_id: u64, event_timestamp: i64) -> Self {
        Self {
            event_type,
            sub_type: None,
            event_id,
            id: None,
            name: None,
            parent_id: None,
            event_timestamp,
            execution_started_details: None,
            execution_succeeded_details: None,
            execution_failed_details: None,
            execution_timed_out_details: None,
            execution_stopped_details: None,
            invocation_completed_details: None,
            step_started_details: None,
            step_succeeded_details: None,
            step_failed_details: None,
            wait_started_details: None,
            wait_succeeded_details: None,
            wait_cancelled_details: None,
            callback_started_details: None,
            callback_succeeded_details: None,
            callback_failed_details: None,
            callback_timed_out_details: None,
            context_started_details: None,
            context_succeeded_details: None,
            context_failed_details: None,
            chained_invoke_started_details: None,
            chained_invoke_succeeded_details: None,
            chained_invoke_failed_details: None,
            chained_invoke_timed_out_details: None,
            chained_invoke_stopped_details: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_from_the_emulator_parses() {
        // Shape recorded from dex-local-runner (shared/peers/README.md §2):
        // an ARN that is not ARN-shaped, epoch-ms timestamps, an empty NextMarker.
        let json = r#"{"CheckpointToken":"eyJ0","DurableExecutionArn":"a1/b2",
            "InitialExecutionState":{"NextMarker":"","Operations":[{"ExecutionDetails":
            {"InputPayload":"{\"order\": 7}"},"Id":"b2","Name":"fn","StartTimestamp":1795821367772,
            "Status":"STARTED","Type":"EXECUTION"}]},"UpdatedOperationIds":[]}"#;
        let input: InvocationInput = serde_json::from_str(json).unwrap();
        assert_eq!(input.durable_execution_arn.as_deref(), Some("a1/b2"));
        assert_eq!(input.initial_execution_state.next_page(), None);
        let op = &input.initial_execution_state.operations[0];
        assert_eq!(op.operation_type, OperationType::Execution);
        assert_eq!(op.start_timestamp, Some(1_795_821_367_772));
    }

    #[test]
    fn unknown_enum_values_and_fields_are_kept_or_ignored() {
        let json = r#"{"Id":"x","Type":"TELEPORT","Status":"GLOWING","Brand":"new",
            "StartTimestamp":1.5e3,"StepDetails":{"Attempt":2,"Future":true}}"#;
        let op: Operation = serde_json::from_str(json).unwrap();
        assert_eq!(op.operation_type, OperationType::Unknown("TELEPORT".into()));
        assert_eq!(op.status, OperationStatus::Unknown("GLOWING".into()));
        assert!(!op.status.is_terminal());
        assert_eq!(op.start_timestamp, Some(1500));
        assert_eq!(op.step_details.unwrap().attempt, 2);
        // Unknown values survive a round trip unchanged.
        let back = serde_json::to_value(Operation::new(
            "y",
            OperationType::parse("TELEPORT"),
            OperationStatus::Started,
        ))
        .unwrap();
        assert_eq!(back["Type"], "TELEPORT");
    }

    #[test]
    fn updates_serialize_pascal_case_and_omit_empty_fields() {
        let mut update = OperationUpdate::new("abc", OperationType::Wait, OperationAction::Start);
        update.sub_type = Some("Wait".into());
        update.wait_options = Some(WaitOptions { wait_seconds: 10 });
        let json = serde_json::to_value(&update).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Id":"abc","Type":"WAIT","SubType":"Wait","Action":"START","WaitOptions":{"WaitSeconds":10}})
        );
        let callback = CallbackOptions {
            timeout_seconds: 0,
            heartbeat_timeout_seconds: 5,
        };
        assert_eq!(
            serde_json::to_value(callback).unwrap(),
            serde_json::json!({"HeartbeatTimeoutSeconds":5})
        );
    }

    #[test]
    fn outputs_match_the_service_shapes() {
        assert_eq!(
            serde_json::to_string(&InvocationOutput::pending()).unwrap(),
            r#"{"Status":"PENDING"}"#
        );
        let ok = InvocationOutput::succeeded(Some("\"hi\"".into()));
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"Status":"SUCCEEDED","Result":"\"hi\""}"#
        );
        let failed = InvocationOutput::failed(ErrorObject::new("StepError", "boom"));
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"Status":"FAILED","Error":{"ErrorType":"StepError","ErrorMessage":"boom"}}"#
        );
    }
}
