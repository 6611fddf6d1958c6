//! Checking what an execution did against one requirement file.

use serde_json::Value;

use crate::logs::LogLine;
use crate::matcher::{Matcher, render};
use crate::spec::Requirement;

/// What an execution did, in the JSON shapes the requirements are written in.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `STOPPED`, `RUNNING`...
    pub status: String,
    /// The execution's result as JSON text, when it has one.
    pub result: Option<String>,
    /// The execution's error (an `ErrorObject` as JSON), when it has one.
    pub error: Option<Value>,
    /// The history events, serialized (PascalCase).
    pub history: Vec<Value>,
    /// The lines logged to the `durable` target while it ran.
    pub logs: Vec<LogLine>,
}

impl Observed {
    /// The result parsed from its JSON text (absent = null; text that is not
    /// JSON is kept as a string).
    pub fn result_value(&self) -> Value {
        match &self.result {
            None => Value::Null,
            Some(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
        }
    }
}

/// Every mismatch between `observed` and `req`, in the order: result,
/// history, logs. Empty means the requirement is met.
pub fn check(req: &Requirement, observed: &Observed) -> Vec<String> {
    let mut m = Matcher::new();
    if let Some(expected) = req.expected_result() {
        if let Some(status) = expected.get("ExecutionStatus") {
            m.match_value(
                "ExpectedResult.ExecutionStatus",
                status,
                &Value::String(observed.status.clone()),
            );
        }
        if let Some(result) = expected.get("Result") {
            m.match_value("ExpectedResult.Result", result, &observed.result_value());
        }
        if let Some(error) = expected.get("Error") {
            let actual = observed.error.clone().unwrap_or(Value::Null);
            m.match_value("ExpectedResult.Error", error, &actual);
        }
    }
    m.match_history(req.expected_history(), &observed.history);
    match req.expected_logs() {
        Err(e) => m.push(format!("ExpectedLogs: {e}")),
        Ok(expectations) => {
            for (index, want) in expectations.iter().enumerate() {
                let mut count = 0;
                for line in &observed.logs {
                    match want.matches(line) {
                        Ok(true) => count += 1,
                        Ok(false) => {}
                        Err(e) => {
                            m.push(format!("ExpectedLogs[{index}]: {e}"));
                            break;
                        }
                    }
                }
                if count != want.count {
                    let seen: Vec<Value> = observed
                        .logs
                        .iter()
                        .map(|l| Value::String(format!("[{}] {}", l.level, l.message)))
                        .collect();
                    m.push(format!(
                        "ExpectedLogs[{index}] ({}): expected {} matching lines, got {count} (captured: {})",
                        want.describe(),
                        want.count,
                        render(&Value::Array(seen))
                    ));
                }
            }
        }
    }
    m.into_mismatches()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(text: &str) -> Requirement {
        Requirement::parse(text, "step", "x").unwrap()
    }

    fn line(level: &str, message: &str) -> LogLine {
        LogLine {
            target: "durable".into(),
            level: level.into(),
            message: message.into(),
            fields: vec![],
        }
    }

    #[test]
    fn status_result_and_error() {
        let r = req(
            "ExpectedResult:\n  ExecutionStatus: SUCCEEDED\n  Result:\n    user: {name: Alice}\n    count: 2\n",
        );
        let mut o = Observed {
            status: "SUCCEEDED".into(),
            result: Some(r#"{"user":{"name":"Alice","x":1},"count":2}"#.into()),
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty());
        o.status = "FAILED".into();
        o.result = Some(r#"{"user":{"name":"Bob"},"count":2}"#.into());
        assert_eq!(
            check(&r, &o),
            [
                "ExpectedResult.ExecutionStatus: expected \"SUCCEEDED\", got \"FAILED\"",
                "ExpectedResult.Result.user.name: expected \"Alice\", got \"Bob\""
            ]
        );
    }

    #[test]
    fn absent_result_is_null() {
        let r = req("ExpectedResult:\n  ExecutionStatus: SUCCEEDED\n  Result:\n");
        let o = Observed {
            status: "SUCCEEDED".into(),
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty());
        let o = Observed {
            status: "SUCCEEDED".into(),
            result: Some("null".into()),
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty());
        let o = Observed {
            status: "SUCCEEDED".into(),
            result: Some("\"\"".into()),
            ..Observed::default()
        };
        assert_eq!(check(&r, &o).len(), 1);
    }

    #[test]
    fn result_key_absent_means_not_checked() {
        let r = req("ExpectedResult:\n  ExecutionStatus: FAILED\n");
        let o = Observed {
            status: "FAILED".into(),
            result: Some("123".into()),
            error: Some(json!({"ErrorType": "StepError"})),
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty());
    }

    #[test]
    fn expected_error_is_matched() {
        let r = req("ExpectedResult:\n  Error:\n    ErrorType: ${/.*Error$/}\n");
        let mut o = Observed {
            error: Some(json!({"ErrorType": "StepError", "ErrorMessage": "x"})),
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty());
        o.error = None;
        assert_eq!(check(&r, &o).len(), 1);
    }

    #[test]
    fn logs_are_counted() {
        let r = req(
            "ExpectedLogs:\n  - match:\n      message: '/for: abc/'\n    count: 1\n  - match:\n      message: '/\\[ERROR\\]/'\n    count: 0\n",
        );
        let mut o = Observed {
            logs: vec![line("INFO", "started for: abc"), line("INFO", "other")],
            ..Observed::default()
        };
        assert!(check(&r, &o).is_empty(), "{:?}", check(&r, &o));
        o.logs.push(line("ERROR", "started for: abc"));
        let errs = check(&r, &o);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "ExpectedLogs[0] (message =~ /for: abc/): expected 1 matching lines, got 2"
            ),
            "{errs:?}"
        );
    }
}
