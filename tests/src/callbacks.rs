//! `CallbackActions`: what the external system does to the callbacks of a
//! requirement file, turned into [`durable_local::CallbackAction`]s that
//! `LocalRunner::on_callback` schedules.
//!
//! Each entry has a `CallbackName` (`'*'`: any callback), an `Operation`
//! (`success`, `failure` or `heartbeat`), a `Payload` and a `Delay` in
//! seconds (absent: 0). The upstream validator is Python: a success sends
//! `json.dumps(Payload)` as the body (so `{"status": "approved"}`, with the
//! space after the colon, and a string `x` becomes `"x"`); a failure sends
//! the payload as the `ErrorObject`.

use std::time::Duration;

use durable_core::ErrorObject;
use durable_local::CallbackAction;
use serde_json::Value;

/// One scheduled action: the callback name it waits for and what it does.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledAction {
    /// The callback operation's name, or `*` for any.
    pub name: String,
    /// What happens, after its delay.
    pub action: CallbackAction,
}

/// Parses the `CallbackActions` list of a file (absent or null: none).
///
/// # Errors
/// A message naming the entry that is malformed.
pub fn parse(actions: Option<&Value>) -> Result<Vec<ScheduledAction>, String> {
    let Some(actions) = actions.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(entries) = actions.as_array() else {
        return Err("CallbackActions must be a list".into());
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            parse_one(entry).map_err(|why| format!("CallbackActions[{index}]: {why}"))
        })
        .collect()
}

fn parse_one(entry: &Value) -> Result<ScheduledAction, String> {
    let Some(fields) = entry.as_object() else {
        return Err("not a mapping".into());
    };
    let name = match fields.get("CallbackName") {
        Some(Value::String(name)) => name.clone(),
        None | Some(Value::Null) => "*".to_owned(),
        Some(other) => return Err(format!("CallbackName must be a string, got {other}")),
    };
    let operation = fields
        .get("Operation")
        .or_else(|| fields.get("Action"))
        .and_then(Value::as_str)
        .ok_or("Operation (success, failure or heartbeat) is missing")?;
    let payload = fields.get("Payload");
    let action = match operation.to_ascii_lowercase().as_str() {
        "success" => CallbackAction::success(payload.map(python_json_dumps).unwrap_or_default()),
        "failure" => {
            let error = match payload {
                None | Some(Value::Null) => ErrorObject::default(),
                Some(value) => serde_json::from_value::<ErrorObject>(value.clone())
                    .map_err(|e| format!("the failure Payload is not an ErrorObject: {e}"))?,
            };
            CallbackAction::failure(error)
        }
        "heartbeat" => CallbackAction::heartbeat(),
        other => return Err(format!("unknown Operation {other:?}")),
    };
    let delay = match fields.get("Delay") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("bad Delay {n}"))?,
        Some(other) => return Err(format!("Delay must be a number of seconds, got {other}")),
    };
    Ok(ScheduledAction {
        name,
        action: action.after(delay),
    })
}

/// The text Python's `json.dumps(value)` produces with its defaults:
/// `", "` and `": "` as separators, non-ASCII escaped as `\uXXXX`.
pub fn python_json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_python(value, &mut out);
    out
}

fn write_python(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(key, out);
                out.push_str(": ");
                write_python(item, out);
            }
            out.push('}');
        }
    }
}

fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dumps_like_python() {
        assert_eq!(
            python_json_dumps(&json!({"status": "approved"})),
            r#"{"status": "approved"}"#
        );
        assert_eq!(python_json_dumps(&json!("x")), r#""x""#);
        assert_eq!(python_json_dumps(&json!(42)), "42");
        assert_eq!(
            python_json_dumps(&json!([1, "a", null])),
            r#"[1, "a", null]"#
        );
        assert_eq!(python_json_dumps(&json!("é\n\"")), r#""\u00e9\n\"""#);
        assert_eq!(python_json_dumps(&json!("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn actions_are_parsed() {
        let actions = json!([
            {"CallbackName": "a", "Operation": "success", "Payload": "p", "Delay": 1},
            {"CallbackName": "*", "Operation": "failure",
             "Payload": {"ErrorType": "RejectedError", "ErrorMessage": "not approved"}, "Delay": 2},
            {"CallbackName": "*", "Operation": "heartbeat"},
        ]);
        let parsed = parse(Some(&actions)).unwrap();
        assert_eq!(
            parsed,
            [
                ScheduledAction {
                    name: "a".into(),
                    action: CallbackAction::success("\"p\"").after(Duration::from_secs(1)),
                },
                ScheduledAction {
                    name: "*".into(),
                    action: CallbackAction::failure(ErrorObject::new(
                        "RejectedError",
                        "not approved"
                    ))
                    .after(Duration::from_secs(2)),
                },
                ScheduledAction {
                    name: "*".into(),
                    action: CallbackAction::heartbeat(),
                },
            ]
        );
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some(&json!([{"Operation": "explode"}]))).is_err());
    }
}
