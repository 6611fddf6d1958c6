//! The `aws-sdk-lambda` backend: `CheckpointDurableExecution` and
//! `GetDurableExecutionState`, with the conversions between the SDK's types
//! and durable-core's wire model.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types as aws;
use aws_smithy_types::DateTime;
use durable_core::limits::MAX_PAGE_ITEMS;
use durable_core::wire::{
    CallbackDetails, ChainedInvokeDetails, CheckpointResponse, ContextDetails, ErrorObject,
    ExecutionDetails, ExecutionState, Operation, OperationStatus, OperationType, OperationUpdate,
    StepDetails, WaitDetails,
};
use durable_core::{Backend, BackendError, BoxFuture};

/// The service, reached through `aws-sdk-lambda`.
///
/// Build it once per process ([`LambdaBackend::from_env`] reads region,
/// credentials and `AWS_ENDPOINT_URL_LAMBDA` the standard way) and share it.
#[derive(Clone, Debug)]
pub struct LambdaBackend {
    client: Client,
}

impl LambdaBackend {
    /// A backend over an existing client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A backend configured from the environment, as every AWS SDK client
    /// is: region, credentials, and endpoint overrides such as
    /// `AWS_ENDPOINT_URL_LAMBDA`.
    pub async fn from_env() -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(Client::new(&config))
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// What an AWS Lambda API call failed with when the service answered: the
/// exception name, the HTTP status and the message.
///
/// See [`service_error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    /// The exception name (`ResourceNotFoundException`), without the
    /// namespace (`aws.lambda#`) or suffix (`:http://…`) some services add;
    /// `UnknownError` when the answer names none.
    pub code: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The message, when the answer has one.
    pub message: Option<String>,
}

/// The service's answer to a failed `aws-sdk-lambda` call: `None` unless
/// the service answered (a transport failure, a timeout or a request that
/// could not be built has no answer).
///
/// The exception name and message are read from the SDK's error metadata
/// and, when the SDK could not place them (an error shape this SDK version
/// does not model, or a service that spells the fields differently, as
/// `dex-local-runner` does with `{"Type": …, "message": …}`), from the
/// `X-Amzn-ErrorType` header and the JSON body (`__type`, `code`, `Code` or
/// `Type`; `message`, `Message`, `errorMessage` or `ErrorMessage`).
pub fn service_error<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Option<ServiceError> {
    let SdkError::ServiceError(service) = error else {
        return None;
    };
    let raw = service.raw();
    let body = raw
        .body()
        .bytes()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok());
    let field = |names: &[&str]| {
        body.as_ref().and_then(|body| {
            names.iter().find_map(|name| {
                body.get(*name)
                    .and_then(serde_json::Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        })
    };
    let code = service
        .err()
        .code()
        .map(str::to_owned)
        .or_else(|| raw.headers().get("x-amzn-errortype").map(str::to_owned))
        .or_else(|| field(&["__type", "code", "Code", "Type"]))
        .map_or_else(|| "UnknownError".to_owned(), |c| error_name(&c).to_owned());
    let message = service
        .err()
        .message()
        .map(str::to_owned)
        .or_else(|| field(&["message", "Message", "errorMessage", "ErrorMessage"]));
    Some(ServiceError {
        code,
        status: raw.status().as_u16(),
        message,
    })
}

/// Classifies an SDK failure by PROTOCOL §4.5: the service's exception name
/// and HTTP status when it answered ([`service_error`]), a transport error
/// otherwise.
pub(crate) fn backend_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E>,
) -> BackendError {
    if let Some(answer) = service_error(&error) {
        return BackendError::service(
            answer.code,
            answer.status,
            answer.message.unwrap_or_default(),
        );
    }
    match &error {
        SdkError::ConstructionFailure(_) => BackendError::service(
            "InvalidRequest",
            400,
            DisplayErrorContext(&error).to_string(),
        ),
        _ => BackendError::transport(DisplayErrorContext(&error).to_string()),
    }
}

/// The exception name in an AWS error code, which may carry a namespace
/// (`aws.lambda#Name`) or a suffix (`Name:http://…`).
fn error_name(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim()
}

fn millis(time: &DateTime) -> Option<i64> {
    time.to_millis().ok()
}

fn error_from_aws(error: &aws::ErrorObject) -> ErrorObject {
    ErrorObject {
        error_type: error.error_type().map(str::to_owned),
        error_message: error.error_message().map(str::to_owned),
        error_data: error.error_data().map(str::to_owned),
        stack_trace: (!error.stack_trace().is_empty()).then(|| error.stack_trace().to_vec()),
    }
}

pub(crate) fn error_to_aws(error: &ErrorObject) -> aws::ErrorObject {
    aws::ErrorObject::builder()
        .set_error_type(error.error_type.clone())
        .set_error_message(error.error_message.clone())
        .set_error_data(error.error_data.clone())
        .set_stack_trace(error.stack_trace.clone())
        .build()
}

/// An SDK operation record in durable-core's model. Enum values this SDK
/// version does not know are kept as `Unknown`.
pub(crate) fn operation_from_aws(op: &aws::Operation) -> Operation {
    let mut out = Operation::new(
        op.id(),
        OperationType::parse(op.r#type().as_str()),
        OperationStatus::parse(op.status().as_str()),
    );
    out.parent_id = op.parent_id().map(str::to_owned);
    out.name = op.name().map(str::to_owned);
    out.sub_type = op.sub_type().map(str::to_owned);
    out.start_timestamp = millis(op.start_timestamp());
    out.end_timestamp = op.end_timestamp().and_then(millis);
    out.execution_details = op.execution_details().map(|d| {
        Box::new(ExecutionDetails {
            input_payload: d.input_payload().map(str::to_owned),
        })
    });
    out.context_details = op.context_details().map(|d| {
        Box::new(ContextDetails {
            replay_children: d.replay_children(),
            result: d.result().map(str::to_owned),
            error: d.error().map(error_from_aws),
        })
    });
    out.step_details = op.step_details().map(|d| {
        Box::new(StepDetails {
            attempt: d.attempt(),
            next_attempt_timestamp: d.next_attempt_timestamp().and_then(millis),
            result: d.result().map(str::to_owned),
            error: d.error().map(error_from_aws),
        })
    });
    out.wait_details = op.wait_details().map(|d| {
        Box::new(WaitDetails {
            scheduled_end_timestamp: d.scheduled_end_timestamp().and_then(millis),
        })
    });
    out.callback_details = op.callback_details().map(|d| {
        Box::new(CallbackDetails {
            callback_id: d.callback_id().map(str::to_owned),
            result: d.result().map(str::to_owned),
            error: d.error().map(error_from_aws),
        })
    });
    out.chained_invoke_details = op.chained_invoke_details().map(|d| {
        Box::new(ChainedInvokeDetails {
            result: d.result().map(str::to_owned),
            error: d.error().map(error_from_aws),
        })
    });
    out
}

/// One of durable-core's updates as the SDK's type.
pub(crate) fn update_to_aws(update: OperationUpdate) -> Result<aws::OperationUpdate, BackendError> {
    let id = update.id.clone();
    let chained = match update.chained_invoke_options {
        Some(options) => Some(
            aws::ChainedInvokeOptions::builder()
                .function_name(options.function_name)
                .set_tenant_id(options.tenant_id)
                .build()
                .map_err(|e| {
                    BackendError::service("InvalidRequest", 400, format!("operation {id}: {e}"))
                })?,
        ),
        None => None,
    };
    aws::OperationUpdate::builder()
        .id(update.id)
        .set_parent_id(update.parent_id)
        .set_name(update.name)
        .r#type(aws::OperationType::from(update.operation_type.as_str()))
        .set_sub_type(update.sub_type)
        .action(aws::OperationAction::from(update.action.as_str()))
        .set_payload(update.payload)
        .set_error(update.error.as_ref().map(error_to_aws))
        .set_context_options(update.context_options.map(|o| {
            aws::ContextOptions::builder()
                .replay_children(o.replay_children)
                .build()
        }))
        .set_step_options(update.step_options.map(|o| {
            aws::StepOptions::builder()
                .next_attempt_delay_seconds(o.next_attempt_delay_seconds)
                .build()
        }))
        .set_wait_options(update.wait_options.map(|o| {
            aws::WaitOptions::builder()
                .wait_seconds(o.wait_seconds)
                .build()
        }))
        .set_callback_options(update.callback_options.map(|o| {
            aws::CallbackOptions::builder()
                .timeout_seconds(o.timeout_seconds)
                .heartbeat_timeout_seconds(o.heartbeat_timeout_seconds)
                .build()
        }))
        .set_chained_invoke_options(chained)
        .build()
        .map_err(|e| BackendError::service("InvalidRequest", 400, format!("operation {id}: {e}")))
}

impl Backend for LambdaBackend {
    fn checkpoint<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
        Box::pin(async move {
            let updates = updates
                .into_iter()
                .map(update_to_aws)
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .checkpoint_durable_execution()
                .durable_execution_arn(execution_arn)
                .checkpoint_token(token)
                .set_updates(Some(updates))
                .send()
                .await
                .map_err(backend_error)?;
            Ok(CheckpointResponse {
                checkpoint_token: output.checkpoint_token().map(str::to_owned),
                new_execution_state: output.new_execution_state().map(|state| ExecutionState {
                    operations: state.operations().iter().map(operation_from_aws).collect(),
                    next_marker: state.next_marker().map(str::to_owned),
                }),
            })
        })
    }

    fn get_state<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_durable_execution_state()
                .durable_execution_arn(execution_arn)
                .checkpoint_token(token)
                .marker(marker)
                .max_items(MAX_PAGE_ITEMS)
                .send()
                .await
                .map_err(backend_error)?;
            Ok(ExecutionState {
                operations: output.operations().iter().map(operation_from_aws).collect(),
                next_marker: output.next_marker().map(str::to_owned),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_core::wire::{
        CallbackOptions, ChainedInvokeOptions, OperationAction, StepOptions, WaitOptions,
    };

    /// A service error as the SDK hands it over when it could not read the
    /// error's code (no `__type`/`code`, no `X-Amzn-ErrorType`).
    fn service_error_of(
        status: u16,
        header: Option<&str>,
        body: &str,
    ) -> SdkError<
        aws_sdk_lambda::operation::checkpoint_durable_execution::CheckpointDurableExecutionError,
    > {
        use aws_sdk_lambda::config::http::HttpResponse;
        use aws_sdk_lambda::operation::checkpoint_durable_execution::CheckpointDurableExecutionError;
        let mut raw = HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        if let Some(code) = header {
            raw.headers_mut()
                .insert("x-amzn-errortype", code.to_owned());
        }
        SdkError::service_error(
            CheckpointDurableExecutionError::generic(
                aws_sdk_lambda::error::ErrorMetadata::builder().build(),
            ),
            raw,
        )
    }

    #[test]
    fn dex_error_bodies_are_read_and_classified() {
        // dex-local-runner's stale token: `Type`, lower-case `message`, own case.
        let stale = backend_error(service_error_of(
            400,
            None,
            r#"{"Type":"InvalidParameterValueException","message":"Invalid checkpoint token"}"#,
        ));
        assert_eq!(stale.code(), "InvalidParameterValueException");
        assert_eq!(stale.message(), "Invalid checkpoint token");
        assert!(stale.is_retryable());

        let missing = backend_error(service_error_of(
            404,
            None,
            r#"{"Type":"ResourceNotFoundException","Message":"Durable Execution does not exist"}"#,
        ));
        assert_eq!(missing.code(), "ResourceNotFoundException");
        assert_eq!(missing.message(), "Durable Execution does not exist");
        assert!(!missing.is_retryable());

        let other_400 = backend_error(service_error_of(
            400,
            None,
            r#"{"Type":"InvalidParameterValueException","message":"Invalid update"}"#,
        ));
        assert!(!other_400.is_retryable());

        let throttled = backend_error(service_error_of(
            429,
            Some("TooManyRequestsException:http://internal.amazon.com/"),
            "{}",
        ));
        assert_eq!(throttled.code(), "TooManyRequestsException");
        assert!(throttled.is_retryable());

        let kms = backend_error(service_error_of(
            502,
            None,
            r#"{"__type":"aws.lambda#KMSAccessDeniedException","Message":"denied"}"#,
        ));
        assert_eq!(kms.code(), "KMSAccessDeniedException");
        assert!(!kms.is_retryable());

        let server = backend_error(service_error_of(500, None, "not json"));
        assert_eq!(server.code(), "UnknownError");
        assert!(server.is_retryable());
    }

    #[test]
    fn service_answers_are_read_without_the_sdk_metadata() {
        let answer = service_error(&service_error_of(
            404,
            Some("aws.lambda#ResourceNotFoundException"),
            r#"{"message":"no such execution"}"#,
        ))
        .unwrap();
        assert_eq!(
            answer,
            ServiceError {
                code: "ResourceNotFoundException".into(),
                status: 404,
                message: Some("no such execution".into()),
            }
        );
        let bare = service_error(&service_error_of(502, None, "<html>Bad Gateway</html>")).unwrap();
        assert_eq!(
            (bare.code.as_str(), bare.status, bare.message),
            ("UnknownError", 502, None)
        );
        let empty = service_error(&service_error_of(400, None, r#"{"Type":"","message":""}"#));
        assert_eq!(empty.unwrap().message, None);
        let timeout: SdkError<
            aws_sdk_lambda::operation::checkpoint_durable_execution::CheckpointDurableExecutionError,
        > = SdkError::timeout_error("slow");
        assert_eq!(service_error(&timeout), None);
    }

    #[test]
    fn error_names_lose_namespaces_and_suffixes() {
        assert_eq!(
            error_name("aws.lambda#ResourceNotFoundException"),
            "ResourceNotFoundException"
        );
        assert_eq!(
            error_name("CallbackTimeoutException:http://internal.amazon.com/"),
            "CallbackTimeoutException"
        );
        assert_eq!(error_name("ServiceException"), "ServiceException");
    }

    #[test]
    fn updates_convert_with_every_option() {
        let mut update =
            OperationUpdate::new("id-1", OperationType::Callback, OperationAction::Start);
        update.parent_id = Some("p".into());
        update.name = Some("approval".into());
        update.sub_type = Some("Callback".into());
        update.callback_options = Some(CallbackOptions {
            timeout_seconds: 30,
            heartbeat_timeout_seconds: 5,
        });
        update.step_options = Some(StepOptions {
            next_attempt_delay_seconds: 2,
        });
        update.wait_options = Some(WaitOptions { wait_seconds: 9 });
        update.chained_invoke_options = Some(ChainedInvokeOptions {
            function_name: "f".into(),
            tenant_id: Some("t".into()),
        });
        update.error = Some(ErrorObject::new("Boom", "bad"));
        let aws = update_to_aws(update).unwrap();
        assert_eq!(aws.id(), "id-1");
        assert_eq!(aws.r#type().as_str(), "CALLBACK");
        assert_eq!(aws.action().as_str(), "START");
        assert_eq!(aws.callback_options().unwrap().timeout_seconds(), 30);
        assert_eq!(
            aws.callback_options().unwrap().heartbeat_timeout_seconds(),
            5
        );
        assert_eq!(
            aws.step_options().unwrap().next_attempt_delay_seconds(),
            Some(2)
        );
        assert_eq!(aws.wait_options().unwrap().wait_seconds(), Some(9));
        assert_eq!(aws.chained_invoke_options().unwrap().tenant_id(), Some("t"));
        assert_eq!(aws.error().unwrap().error_type(), Some("Boom"));
    }

    #[test]
    fn records_convert_and_keep_unknown_values() {
        let aws_op = aws::Operation::builder()
            .id("s1")
            .r#type(aws::OperationType::from("TELEPORT"))
            .status(aws::OperationStatus::from("SUCCEEDED"))
            .start_timestamp(DateTime::from_millis(1_700_000_000_123))
            .step_details(
                aws::StepDetails::builder()
                    .attempt(2)
                    .result("\"hi\"")
                    .build(),
            )
            .build()
            .unwrap();
        let op = operation_from_aws(&aws_op);
        assert_eq!(op.operation_type, OperationType::Unknown("TELEPORT".into()));
        assert_eq!(op.status, OperationStatus::Succeeded);
        assert_eq!(op.start_timestamp, Some(1_700_000_000_123));
        let step = op.step_details.unwrap();
        assert_eq!((step.attempt, step.result.as_deref()), (2, Some("\"hi\"")));
    }
}
