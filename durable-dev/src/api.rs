//! Lambda's durable-execution REST API (PROTOCOL §4; the paths of
//! aws-sdk-lambda 1.156 and botocore) and the Invoke API, over the engine.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use durable_core::wire::{ErrorObject, ExecutionStatus, OperationUpdate};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Dev;
use crate::json::{ApiError, rest_value, seconds};
use durable_local::StoredExecution;
use durable_local::unqualified_function_name;

type Shared = State<Arc<Dev>>;
type ApiResult = Result<Response, ApiError>;

/// The largest page of history events or executions.
const MAX_PAGE: usize = durable_core::limits::MAX_PAGE_ITEMS as usize;
/// The page size of `ListDurableExecutionsByFunction` without `MaxItems`.
const DEFAULT_LIST_PAGE: usize = 50;

pub(crate) fn router(dev: Arc<Dev>) -> Router {
    let limit = dev.config.max_body_bytes;
    Router::new()
        .route(
            "/2025-12-01/durable-executions/{arn}/checkpoint",
            post(checkpoint),
        )
        .route("/2025-12-01/durable-executions/{arn}/state", get(get_state))
        .route("/2025-12-01/durable-executions/{arn}/history", get(history))
        .route("/2025-12-01/durable-executions/{arn}/stop", post(stop))
        .route("/2025-12-01/durable-executions/{arn}", get(get_execution))
        .route(
            "/2025-12-01/functions/{function}/durable-executions",
            get(list_executions),
        )
        .route(
            "/2025-12-01/durable-execution-callbacks/{id}/succeed",
            post(callback_success),
        )
        .route(
            "/2025-12-01/durable-execution-callbacks/{id}/fail",
            post(callback_failure),
        )
        .route(
            "/2025-12-01/durable-execution-callbacks/{id}/heartbeat",
            post(callback_heartbeat),
        )
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(dev)
}

/// The request body, or the service's error for one that is too large or
/// cut off.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                413,
                "RequestEntityTooLargeException",
                "The request body is larger than this server accepts",
            )
        } else {
            ApiError::new(
                400,
                "InvalidRequestContentException",
                format!("Could not read the request body: {rejection}"),
            )
        }
    })
}

/// Parses a JSON request body (an empty body is `{}`).
fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_json(what, &e))
}

/// The query string's parameters, in order (a key may repeat).
fn query(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|raw| {
        form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn param<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn flag(query: &[(String, String)], key: &str, default: bool) -> Result<bool, ApiError> {
    match param(query, key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::invalid(format!(
            "{key} must be true or false, not {v:?}"
        ))),
    }
}

fn max_items(query: &[(String, String)], default: usize) -> Result<usize, ApiError> {
    match param(query, "MaxItems") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(format!("MaxItems must be 1 to {MAX_PAGE}, not {v:?}"))
            }),
    }
}

fn marker(query: &[(String, String)]) -> Result<usize, ApiError> {
    match param(query, "Marker") {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("Invalid marker: {v}"))),
    }
}

fn ok(value: Value) -> ApiResult {
    Ok((StatusCode::OK, axum::Json(value)).into_response())
}

// ----- the SDK's calls -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CheckpointRequest {
    checkpoint_token: Option<String>,
    #[serde(default)]
    updates: Vec<OperationUpdate>,
}

async fn checkpoint(
    State(dev): Shared,
    Path(arn): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = body(raw)?;
    let request: CheckpointRequest = parse_json(&raw, "CheckpointDurableExecution")?;
    let token = request
        .checkpoint_token
        .ok_or_else(|| ApiError::invalid("CheckpointToken is required"))?;
    let response = dev.service.checkpoint_now(&arn, &token, request.updates)?;
    ok(rest_value(&response))
}

async fn get_state(
    State(dev): Shared,
    Path(arn): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = query(raw);
    let token = param(&query, "CheckpointToken")
        .ok_or_else(|| ApiError::invalid("CheckpointToken is required"))?;
    let marker = param(&query, "Marker").unwrap_or_default();
    let state = dev.service.get_state_now(&arn, token, marker)?;
    ok(rest_value(&state))
}

// ----- reading executions -----

fn function_arn(dev: &Dev, function: &str) -> String {
    let config = dev.service.config();
    format!(
        "arn:aws:lambda:{}:{}:function:{function}",
        config.region, config.account_id
    )
}

/// An execution as `ListDurableExecutionsByFunction` shows it.
fn summary(dev: &Dev, exec: &StoredExecution) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("DurableExecutionArn".into(), json!(exec.arn()));
    out.insert("DurableExecutionName".into(), json!(exec.name()));
    out.insert(
        "FunctionArn".into(),
        json!(function_arn(dev, exec.function_name())),
    );
    out.insert("Status".into(), json!(exec.status().as_str()));
    out.insert("StartTimestamp".into(), seconds(exec.start_timestamp()));
    if let Some(end) = exec.end_timestamp() {
        out.insert("EndTimestamp".into(), seconds(end));
    }
    out
}

async fn get_execution(
    State(dev): Shared,
    Path(arn): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = query(raw);
    let with_data = flag(&query, "IncludeExecutionData", true)?;
    let value = dev.service.with_execution(&arn, |exec| {
        let mut out = summary(&dev, exec);
        out.insert("Version".into(), json!("$LATEST"));
        if with_data {
            out.insert("InputPayload".into(), json!(exec.input()));
            if let Some(result) = exec.result() {
                out.insert("Result".into(), json!(result));
            }
        }
        if let Some(error) = exec.error() {
            out.insert("Error".into(), rest_value(error));
        }
        out.insert("ExecutionDataIncluded".into(), json!(with_data));
        Value::Object(out)
    })?;
    ok(value)
}

async fn history(
    State(dev): Shared,
    Path(arn): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = query(raw);
    let reverse = flag(&query, "ReverseOrder", false)?;
    let _with_data = flag(&query, "IncludeExecutionData", true)?;
    let limit = max_items(&query, MAX_PAGE)?;
    let start = marker(&query)?;
    let (events, total) = dev.service.with_execution(&arn, |exec| {
        let total = exec.event_count();
        let indices: Vec<usize> = if reverse {
            (0..total).rev().skip(start).take(limit).collect()
        } else {
            (start..total).take(limit).collect()
        };
        let events: Vec<_> = indices.into_iter().filter_map(|i| exec.event(i)).collect();
        (events, total)
    })?;
    if start > total {
        return Err(ApiError::invalid(format!("Invalid marker: {start}")));
    }
    let next = start + events.len();
    let mut out = Map::new();
    out.insert("Events".into(), rest_value(&events));
    if next < total {
        out.insert("NextMarker".into(), json!(next.to_string()));
    }
    ok(Value::Object(out))
}

async fn list_executions(
    State(dev): Shared,
    Path(function): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let query = query(raw);
    let function = unqualified_function_name(&function).to_owned();
    let statuses: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "Statuses")
        .flat_map(|(_, v)| v.split(','))
        .filter(|s| !s.is_empty())
        .collect();
    let name = param(&query, "DurableExecutionName");
    let after = param(&query, "StartedAfter")
        .map(timestamp_ms)
        .transpose()?;
    let before = param(&query, "StartedBefore")
        .map(timestamp_ms)
        .transpose()?;
    let reverse = flag(&query, "ReverseOrder", false)?;
    let limit = max_items(&query, DEFAULT_LIST_PAGE)?;
    let start = marker(&query)?;
    let mut rows: Vec<(i64, String, Map<String, Value>)> = Vec::new();
    for arn in dev.service.execution_arns() {
        let row = dev.service.with_execution(&arn, |exec| {
            let keep = exec.function_name() == function
                && (statuses.is_empty() || statuses.contains(&exec.status().as_str()))
                && name.is_none_or(|n| exec.name() == n)
                && after.is_none_or(|t| exec.start_timestamp() >= t)
                && before.is_none_or(|t| exec.start_timestamp() <= t);
            keep.then(|| (exec.start_timestamp(), arn.clone(), summary(&dev, exec)))
        });
        if let Ok(Some(row)) = row {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    if reverse {
        rows.reverse();
    }
    let total = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|(_, _, row)| Value::Object(row))
        .collect();
    let next = start + page.len();
    let mut out = Map::new();
    out.insert("DurableExecutions".into(), Value::Array(page));
    if next < total {
        out.insert("NextMarker".into(), json!(next.to_string()));
    }
    ok(Value::Object(out))
}

/// A query timestamp: RFC 3339 (what the SDKs send) or epoch seconds, in
/// milliseconds, rounded to the nearest: the service answers timestamps as
/// epoch seconds with a fraction, and a client that parses one into a float
/// and sends it back gets `…0.122999…` for `…0.123` (truncating would then
/// leave out the execution whose start time it sent).
fn timestamp_ms(text: &str) -> Result<i64, ApiError> {
    use aws_smithy_types::DateTime;
    use aws_smithy_types::date_time::Format;
    DateTime::from_str(text, Format::DateTime)
        .or_else(|_| DateTime::from_str(text, Format::EpochSeconds))
        .ok()
        .and_then(|t| {
            let millis = (i64::from(t.subsec_nanos()) + 500_000) / 1_000_000;
            t.secs().checked_mul(1000)?.checked_add(millis)
        })
        .ok_or_else(|| ApiError::invalid(format!("{text:?} is not a timestamp")))
}

// ----- changing executions from outside -----

/// The body of `StopDurableExecution`: aws-sdk-lambda and botocore send
/// the ErrorObject itself as the body (it is the operation's HTTP payload);
/// `{"Error": {...}}` is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum StopRequest {
    Wrapped {
        #[serde(rename = "Error")]
        error: ErrorObject,
    },
    Bare(ErrorObject),
}

impl StopRequest {
    fn into_error(self) -> Option<ErrorObject> {
        let error = match self {
            Self::Wrapped { error } | Self::Bare(error) => error,
        };
        let empty = error.error_type.is_none()
            && error.error_message.is_none()
            && error.error_data.is_none()
            && error.stack_trace.is_none();
        (!empty).then_some(error)
    }
}

async fn stop(
    State(dev): Shared,
    Path(arn): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = body(raw)?;
    let request: StopRequest = parse_json(&raw, "StopDurableExecution")?;
    let stopped = dev.service.stop_execution(&arn, request.into_error())?;
    dev.emit(&arn);
    ok(json!({ "StopTimestamp": seconds(stopped) }))
}

async fn callback_success(
    State(dev): Shared,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = body(raw)?;
    dev.service.send_callback_success(&id, &raw)?;
    ok(json!({}))
}

async fn callback_failure(
    State(dev): Shared,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = body(raw)?;
    let error: ErrorObject = parse_json(&raw, "SendDurableExecutionCallbackFailure")?;
    dev.service.send_callback_failure(&id, error)?;
    ok(json!({}))
}

async fn callback_heartbeat(State(dev): Shared, Path(id): Path<String>) -> ApiResult {
    dev.service.send_callback_heartbeat(&id)?;
    ok(json!({}))
}

// ----- Invoke -----

async fn invoke(
    State(dev): Shared,
    Path(function): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = body(raw)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let function = unqualified_function_name(&function).to_owned();
    if dev.function(&function).is_none() {
        let served = dev.function_names().join(", ");
        return Err(ApiError::new(
            404,
            "ResourceNotFoundException",
            format!(
                "Function not found: {} (this server serves: {})",
                function_arn(&dev, &function),
                if served.is_empty() {
                    "nothing yet"
                } else {
                    &served
                }
            ),
        ));
    }
    let input = if raw.iter().all(u8::is_ascii_whitespace) {
        "{}".to_owned()
    } else {
        let text = std::str::from_utf8(&raw).map_err(|_| {
            ApiError::new(
                400,
                "InvalidRequestContentException",
                "Could not parse request body into json: the payload is not UTF-8",
            )
        })?;
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
            ApiError::new(
                400,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            )
        })?;
        text.to_owned()
    };
    let kind = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    if kind == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if kind != "RequestResponse" && kind != "Event" {
        return Err(ApiError::invalid(format!(
            "InvocationType must be RequestResponse, Event or DryRun, not {kind:?}"
        )));
    }
    let name = header("x-amz-durable-execution-name");
    let started = dev.start_execution(&function, name, input)?;
    let mut out = HeaderMap::new();
    if let Ok(arn) = HeaderValue::from_str(&started.arn) {
        out.insert("x-amz-durable-execution-arn", arn);
    }
    out.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if kind == "Event" {
        return Ok((StatusCode::ACCEPTED, out).into_response());
    }
    let waited = dev
        .wait_for_end(&started.arn, Some(dev.config.sync_invoke_timeout))
        .await?;
    let Some(status) = waited else {
        return Err(ApiError::new(
            504,
            "ExecutionStillRunningException",
            format!(
                "The durable execution {} is still running after {} s; invoke with \
                 InvocationType Event and follow it with GetDurableExecution",
                started.arn,
                dev.config.sync_invoke_timeout.as_secs()
            ),
        ));
    };
    let (result, error) = dev.service.with_execution(&started.arn, |exec| {
        (exec.result().map(str::to_owned), exec.error().cloned())
    })?;
    if status == ExecutionStatus::Succeeded {
        let payload = result.unwrap_or_else(|| "null".to_owned());
        out.insert("content-type", HeaderValue::from_static("application/json"));
        return Ok((StatusCode::OK, out, payload).into_response());
    }
    let error = error.unwrap_or_default();
    out.insert(
        "x-amz-function-error",
        HeaderValue::from_static("Unhandled"),
    );
    out.insert("content-type", HeaderValue::from_static("application/json"));
    let payload = json!({
        "errorType": error.error_type.unwrap_or_else(|| status.as_str().to_owned()),
        "errorMessage": error.error_message.unwrap_or_default(),
    });
    Ok((StatusCode::OK, out, payload.to_string()).into_response())
}

async fn unknown_operation(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        404,
        "UnknownOperationException",
        format!("durable dev does not serve {}", uri.path()),
    )
}
