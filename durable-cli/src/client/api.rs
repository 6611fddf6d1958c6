//! The durable execution API through aws-sdk-lambda: one client configured
//! for `durable dev` (or any other endpoint) or for AWS, each call's own
//! JSON answer kept as the service sent it, and the service's errors as one
//! line.

use std::fmt;
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_lambda::config::{
    ConfigBag, Credentials, Intercept, ProvideCredentials, Region, RuntimeComponents,
};
use aws_sdk_lambda::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{ErrorObject, ExecutionStatus, InvocationType};
use durable_lambda::{ServiceError, service_error};
use serde_json::Value;

/// Where `durable dev` listens by default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9014";
/// The `--endpoint-url` that means AWS Lambda itself.
pub const AWS_ENDPOINT: &str = "aws";
/// The region used when none is configured.
const DEFAULT_REGION: &str = "us-east-1";
/// Page size of the list and history APIs (their maximum).
const PAGE_SIZE: i32 = durable_core::limits::MAX_PAGE_ITEMS;

/// A failure of a client command, as one line for the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(String);

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(one_line(&message.into()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Newlines and runs of spaces collapsed, so an error stays on one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Which service the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// AWS Lambda, through the SDK's usual endpoint resolution and
    /// credential chain (profile, environment, SSO-less sources, IMDS).
    Aws,
    /// Any implementation of the API at a URL, such as `durable dev`.
    Url(String),
}

impl Target {
    /// `aws`, or an `http://` / `https://` URL.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(text: &str) -> Result<Self, CliError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case(AWS_ENDPOINT) {
            return Ok(Self::Aws);
        }
        let lower = text.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://")) && text.len() > 8 {
            Ok(Self::Url(text.trim_end_matches('/').to_owned()))
        } else {
            Err(CliError::new(format!(
                "--endpoint-url {text:?} is neither an http:// or https:// URL nor `aws`"
            )))
        }
    }
}

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub target: Target,
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// The API client.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
    /// The endpoint, for error messages.
    endpoint: String,
    /// Whether the endpoint is the default `durable dev` address.
    default_local: bool,
}

/// Credentials for a URL endpoint: the environment's, else the profile's,
/// else dummy ones (`durable dev` and other emulators do not check
/// signatures, so no AWS account is needed).
async fn local_credentials(profile: Option<&str>) -> Credentials {
    if let Ok(credentials) = EnvironmentVariableCredentialsProvider::new()
        .provide_credentials()
        .await
    {
        return credentials;
    }
    let mut builder = ProfileFileCredentialsProvider::builder();
    if let Some(profile) = profile {
        builder = builder.profile_name(profile);
    }
    match builder.build().provide_credentials().await {
        Ok(credentials) => credentials,
        Err(error) => {
            tracing::debug!(error = %DisplayErrorContext(&error), "no profile credentials; using dummy ones");
            Credentials::new(
                "durable-local",
                "durable-local",
                None,
                None,
                "durable-dummy",
            )
        }
    }
}

impl Api {
    /// A client for the target.
    pub async fn connect(options: &ConnectOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        let explicit = options.region.clone().map(Region::new);
        let (endpoint, default_local) = match &options.target {
            Target::Aws => {
                let region = RegionProviderChain::first_try(explicit)
                    .or_default_provider()
                    .or_else(DEFAULT_REGION);
                loader = loader.region(region);
                ("AWS Lambda".to_owned(), false)
            }
            Target::Url(url) => {
                // No IMDS or container probing: the region only names the
                // signing scope, and must not make a local call slow.
                let mut profile_region = ProfileFileRegionProvider::builder();
                if let Some(profile) = &options.profile {
                    profile_region = profile_region.profile_name(profile);
                }
                let region = RegionProviderChain::first_try(explicit)
                    .or_else(EnvironmentVariableRegionProvider::new())
                    .or_else(profile_region.build())
                    .or_else(DEFAULT_REGION);
                let credentials = local_credentials(options.profile.as_deref()).await;
                loader = loader
                    .region(region)
                    .endpoint_url(url)
                    .credentials_provider(credentials)
                    // A local server is up or not: fail fast instead of
                    // backing off on a refused connection.
                    .retry_config(RetryConfig::standard().with_max_attempts(1));
                (url.clone(), url.trim_end_matches('/') == DEFAULT_ENDPOINT)
            }
        };
        let config = loader.load().await;
        Self {
            client: Client::new(&config),
            endpoint,
            default_local,
        }
    }

    /// The service's error as one line: `Code: message (HTTP status)`, or
    /// why the service could not be reached.
    fn error<E>(&self, error: SdkError<E>) -> CliError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if let Some(answer) = answer_text(&error) {
            return answer;
        }
        match &error {
            SdkError::DispatchFailure(dispatch) if !dispatch.is_io() && !dispatch.is_timeout() => {
                // Credentials that could not be loaded, mostly.
                CliError::new(format!(
                    "the request to {} failed: {}",
                    self.endpoint,
                    causes(&error)
                ))
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                let hint = if self.default_local {
                    " Is `durable dev` running? (or pass --endpoint-url / set DURABLE_ENDPOINT)"
                } else {
                    ""
                };
                CliError::new(format!(
                    "cannot reach {}: {}.{hint}",
                    self.endpoint,
                    causes(&error)
                ))
            }
            SdkError::ResponseError(_) => CliError::new(format!(
                "unexpected response from {}: {}",
                self.endpoint,
                causes(&error)
            )),
            _ => CliError::new(format!("cannot send the request: {}", causes(&error))),
        }
    }

    /// `GetDurableExecution`, with its data, as the service's JSON.
    pub async fn get_execution(&self, arn: &str) -> Result<Value, CliError> {
        let capture = Capture::default();
        self.client
            .get_durable_execution()
            .durable_execution_arn(arn)
            .include_execution_data(true)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        capture.json()
    }

    /// Every page of `GetDurableExecutionHistory`, with data: the events
    /// as the service sent them.
    pub async fn history(&self, arn: &str) -> Result<Vec<Value>, CliError> {
        let mut events = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let capture = Capture::default();
            let page = self
                .client
                .get_durable_execution_history()
                .durable_execution_arn(arn)
                .include_execution_data(true)
                .max_items(PAGE_SIZE)
                .set_marker(marker.take())
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| self.error(e))?;
            events.extend(array_field(capture.json()?, "Events"));
            match page.next_marker().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_owned()),
                None => return Ok(events),
            }
        }
    }

    /// `ListDurableExecutionsByFunction`, every page up to `limit`
    /// executions; the next marker when the limit cut the list short.
    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<Value>, Option<String>), CliError> {
        let mut executions: Vec<Value> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let wanted = query
                .limit
                .map_or(PAGE_SIZE, |limit| {
                    i32::try_from(limit.saturating_sub(executions.len())).unwrap_or(PAGE_SIZE)
                })
                .clamp(1, PAGE_SIZE);
            let capture = Capture::default();
            let page = self
                .client
                .list_durable_executions_by_function()
                .function_name(&query.function)
                .set_qualifier(query.qualifier.clone())
                .set_durable_execution_name(query.name.clone())
                .set_statuses((!query.statuses.is_empty()).then(|| query.statuses.clone()))
                .max_items(wanted)
                .set_marker(marker.take())
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| self.error(e))?;
            // The service filters by status; so do we, for implementations
            // that do not (dex-local-runner reads `StatusFilter`, not
            // `Statuses`).
            executions.extend(
                array_field(capture.json()?, "DurableExecutions")
                    .into_iter()
                    .filter(|execution| status_matches(execution, &query.statuses)),
            );
            let next = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            if let Some(limit) = query.limit.filter(|l| executions.len() >= *l) {
                executions.truncate(limit);
                return Ok((executions, next));
            }
            match next {
                Some(next) => marker = Some(next),
                None => return Ok((executions, None)),
            }
        }
    }

    /// Lambda `Invoke`, under a durable execution name when given.
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeOutput, CliError> {
        let invocation_type = if request.asynchronous {
            InvocationType::Event
        } else {
            InvocationType::RequestResponse
        };
        self.client
            .invoke()
            .function_name(request.function)
            .set_qualifier(request.qualifier)
            .set_durable_execution_name(request.name)
            .invocation_type(invocation_type)
            .payload(Blob::new(request.payload))
            .send()
            .await
            .map_err(|e| self.error(e))
    }

    /// `SendDurableExecutionCallbackSuccess` with the body as given.
    pub async fn callback_succeed(
        &self,
        callback_id: &str,
        result: Option<Vec<u8>>,
    ) -> Result<Value, CliError> {
        let capture = Capture::default();
        self.client
            .send_durable_execution_callback_success()
            .callback_id(callback_id)
            .set_result(result.map(Blob::new))
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        capture.json_or_empty()
    }

    /// `SendDurableExecutionCallbackFailure`.
    pub async fn callback_fail(
        &self,
        callback_id: &str,
        error: ErrorObject,
    ) -> Result<Value, CliError> {
        let capture = Capture::default();
        self.client
            .send_durable_execution_callback_failure()
            .callback_id(callback_id)
            .error(error)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        capture.json_or_empty()
    }

    /// `SendDurableExecutionCallbackHeartbeat`.
    pub async fn callback_heartbeat(&self, callback_id: &str) -> Result<Value, CliError> {
        let capture = Capture::default();
        self.client
            .send_durable_execution_callback_heartbeat()
            .callback_id(callback_id)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        capture.json_or_empty()
    }

    /// `StopDurableExecution`, with an optional error as the reason.
    pub async fn stop(&self, arn: &str, error: Option<ErrorObject>) -> Result<Value, CliError> {
        let capture = Capture::default();
        self.client
            .stop_durable_execution()
            .durable_execution_arn(arn)
            .set_error(error)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        capture.json_or_empty()
    }
}

/// What `durable executions list` asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub function: String,
    pub qualifier: Option<String>,
    pub name: Option<String>,
    pub statuses: Vec<ExecutionStatus>,
    pub limit: Option<usize>,
}

/// What `durable invoke` sends.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub function: String,
    pub qualifier: Option<String>,
    pub name: Option<String>,
    pub payload: Vec<u8>,
    pub asynchronous: bool,
}

/// The service's answer to a failed call as one line, `Code: message (HTTP
/// status)` (the body when there is no message); `None` when the service
/// did not answer.
fn answer_text<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Option<CliError> {
    let ServiceError {
        code,
        status,
        message,
    } = service_error(error)?;
    let text = error
        .raw_response()
        .and_then(|raw| raw.body().bytes())
        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
        .filter(|t| !t.is_empty());
    Some(match (message, text) {
        (Some(message), _) => {
            // Some servers repeat the code in the message.
            let message = message
                .strip_prefix(code.as_str())
                .and_then(|m| m.strip_prefix(':'))
                .map_or(message.as_str(), str::trim_start);
            CliError::new(format!("{code}: {message} (HTTP {status})"))
        }
        (None, Some(text)) => CliError::new(format!(
            "{code} (HTTP {status}): {}",
            durable_local::timeline::preview(&text, 200)
        )),
        (None, None) => CliError::new(format!("{code} (HTTP {status})")),
    })
}

/// An error and its sources, `outer: inner: …`, without repeats.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ").trim_end_matches('.').to_owned()
}

/// Whether an execution's `Status` is one of `statuses` (any, if none).
fn status_matches(execution: &Value, statuses: &[ExecutionStatus]) -> bool {
    statuses.is_empty()
        || execution
            .get("Status")
            .and_then(Value::as_str)
            .is_some_and(|status| statuses.iter().any(|s| s.as_str() == status))
}

/// The array under `name` of a JSON object (empty when absent).
fn array_field(mut value: Value, name: &str) -> Vec<Value> {
    match value.get_mut(name).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// Keeps the body of the response, which the SDK has read into memory by
/// the time it has deserialized it, so the command can print the
/// service's own JSON rather than a re-encoding of the SDK's types.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Capture {
    fn bytes(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut body| body.take())
    }

    /// The body as JSON.
    fn json(&self) -> Result<Value, CliError> {
        let bytes = self
            .bytes()
            .ok_or_else(|| CliError::new("the service's response body could not be read"))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(format!(
                "the service answered with a body that is not JSON: {e}"
            ))
        })
    }

    /// The body as JSON; an empty body as `{}`.
    fn json_or_empty(&self) -> Result<Value, CliError> {
        match self.bytes() {
            Some(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::new(format!(
                        "the service answered with a body that is not JSON: {e}"
                    ))
                })
            }
            _ => Ok(Value::Object(serde_json::Map::new())),
        }
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "durable-cli-capture-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;

    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("aws").unwrap(), Target::Aws);
        assert_eq!(Target::parse(" AWS ").unwrap(), Target::Aws);
        assert_eq!(
            Target::parse("http://127.0.0.1:9014/").unwrap(),
            Target::Url("http://127.0.0.1:9014".into())
        );
        assert_eq!(
            Target::parse("https://lambda.eu-west-1.amazonaws.com").unwrap(),
            Target::Url("https://lambda.eu-west-1.amazonaws.com".into())
        );
        assert!(Target::parse("127.0.0.1:9014").is_err());
        assert!(Target::parse("http://").is_err());
    }

    /// A service error as the SDK hands it over when it could not read the
    /// error's code and message.
    fn answer(status: u16, header: Option<&str>, body: &str) -> SdkError<GetDurableExecutionError> {
        use aws_sdk_lambda::config::http::HttpResponse;
        let mut raw = HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        if let Some(code) = header {
            raw.headers_mut()
                .insert("x-amzn-errortype", code.to_owned());
        }
        SdkError::service_error(
            GetDurableExecutionError::generic(
                aws_sdk_lambda::error::ErrorMetadata::builder().build(),
            ),
            raw,
        )
    }

    #[test]
    fn service_answers_as_one_line() {
        let text = |error| answer_text(&error).unwrap().to_string();
        assert_eq!(
            text(answer(
                404,
                None,
                r#"{"Type":"ResourceNotFoundException","message":"ResourceNotFoundException: no\nsuch execution"}"#
            )),
            "ResourceNotFoundException: no such execution (HTTP 404)"
        );
        assert_eq!(
            text(answer(502, None, "  <html>Bad\nGateway</html>\n")),
            "UnknownError (HTTP 502): <html>Bad Gateway</html>"
        );
        assert_eq!(
            text(answer(429, Some("TooManyRequestsException:http://x/"), "")),
            "TooManyRequestsException (HTTP 429)"
        );
        assert_eq!(
            answer_text(&SdkError::<GetDurableExecutionError>::timeout_error("slow")),
            None
        );
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(CliError::new("a\n  b\tc ").to_string(), "a b c");
    }

    #[test]
    fn causes_are_chained_without_repeats() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other("Connection refused"));
        assert_eq!(causes(&error), "dispatch failure: Connection refused");
    }

    #[test]
    fn status_filter() {
        let running = serde_json::json!({"Status":"RUNNING"});
        assert!(status_matches(&running, &[]));
        assert!(status_matches(
            &running,
            &[ExecutionStatus::Failed, ExecutionStatus::Running]
        ));
        assert!(!status_matches(&running, &[ExecutionStatus::Stopped]));
        assert!(!status_matches(
            &serde_json::json!({}),
            &[ExecutionStatus::Stopped]
        ));
    }

    #[test]
    fn arrays_of_a_page() {
        let page = serde_json::json!({"Events":[{"EventId":1}],"NextMarker":"m"});
        assert_eq!(array_field(page, "Events").len(), 1);
        assert!(array_field(serde_json::json!({}), "Events").is_empty());
    }
}
