//! The REST API's JSON: the wire model with timestamps as the API carries
//! them, and the service's error shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use durable_core::BackendError;
use serde::Serialize;
use serde_json::Value;

/// Serializes `value` and rewrites every `…Timestamp` field from the wire
/// model's epoch milliseconds to the REST API's epoch seconds (a JSON
/// number with a fraction; restJson1's default timestamp format, which
/// aws-sdk-lambda and botocore parse). The invocation envelope keeps
/// milliseconds; only the REST responses use seconds.
pub(crate) fn rest_value(value: &impl Serialize) -> Value {
    let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
    to_seconds(&mut value);
    value
}

fn to_seconds(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if key.ends_with("Timestamp")
                    && let Some(ms) = field.as_i64()
                {
                    *field = seconds(ms);
                } else {
                    to_seconds(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_seconds),
        _ => {}
    }
}

/// Epoch milliseconds as the API's epoch seconds.
pub(crate) fn seconds(ms: i64) -> Value {
    // Exact for every millisecond timestamp of the next few million years.
    #[allow(clippy::cast_precision_loss)]
    let secs = ms as f64 / 1000.0;
    serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number)
}

/// An error response in the service's shape: the status, the code in
/// `X-Amzn-ErrorType` and a body `{"Type", "Message", "__type"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValueException", message)
    }

    pub(crate) fn bad_json(what: &str, error: &serde_json::Error) -> Self {
        Self::new(
            400,
            "InvalidRequestContentException",
            format!("Could not parse the request body of {what} as JSON: {error}"),
        )
    }
}

impl From<BackendError> for ApiError {
    fn from(error: BackendError) -> Self {
        let status = error.status().unwrap_or(500);
        // The engine's messages may start with their code; say it once.
        let message = error.message();
        let message = message
            .strip_prefix(error.code())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(message)
            .to_owned();
        Self::new(status, error.code(), message)
    }
}

impl From<durable_local::LocalError> for ApiError {
    fn from(error: durable_local::LocalError) -> Self {
        error.to_backend_error().into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        let body = serde_json::json!({
            "Type": kind,
            "Message": self.message,
            "message": self.message,
            "__type": self.code,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-errortype", code);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_seconds_at_any_depth() {
        let value = serde_json::json!({
            "StartTimestamp": 1_700_000_000_123_i64,
            "Events": [{"EventTimestamp": 1500, "WaitStartedDetails": {"ScheduledEndTimestamp": 2000, "Duration": 5}}],
            "Name": "x"
        });
        let out = rest_value(&value);
        assert_eq!(out["StartTimestamp"], serde_json::json!(1_700_000_000.123));
        assert_eq!(out["Events"][0]["EventTimestamp"], serde_json::json!(1.5));
        assert_eq!(
            out["Events"][0]["WaitStartedDetails"]["ScheduledEndTimestamp"],
            serde_json::json!(2.0)
        );
        assert_eq!(out["Events"][0]["WaitStartedDetails"]["Duration"], 5);
        assert_eq!(out["Name"], "x");
    }
}
