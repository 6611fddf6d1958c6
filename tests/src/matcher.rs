//! The expected-value matcher of the conformance requirements
//! (`shared/conformance/README.md`, "Matching rules for expected values").
//!
//! * `'*'` accepts any value; `{}` means "don't care" for that field.
//! * `${NAME}` binds to the actual value on its first occurrence; every later
//!   occurrence (anywhere in the same file) must equal the bound value.
//! * `${/regex/}` requires the actual value, rendered as a string (numbers
//!   too), to contain a match of the regular expression (a search, as the
//!   upstream validator's `re.search`; anchor with `^...$` for a full match).
//! * Objects are compared on the expected keys only; an expected key that the
//!   actual object lacks is a mismatch (even for `'*'` and `{}`).
//! * Arrays are compared element by element and must have the same length.
//! * Everything else is literal equality (numbers compared by value).
//! * History events are paired by `EventId`; extra actual events are ignored.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// Matches expected values against actual ones, keeping placeholder bindings
/// across calls (one `Matcher` per requirement file) and collecting every
/// mismatch as a line `path: what went wrong`.
#[derive(Debug, Default)]
pub struct Matcher {
    bindings: BTreeMap<String, Value>,
    mismatches: Vec<String>,
}

/// What an expected string means.
enum Pattern<'a> {
    /// `'*'`.
    Any,
    /// `${NAME}`.
    Placeholder(&'a str),
    /// `${/regex/}`.
    Regex(&'a str),
    /// Anything else.
    Literal,
}

fn classify(expected: &str) -> Pattern<'_> {
    if expected == "*" {
        return Pattern::Any;
    }
    if let Some(inner) = expected
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
    {
        if inner.len() >= 2 && inner.starts_with('/') && inner.ends_with('/') {
            return Pattern::Regex(&inner[1..inner.len() - 1]);
        }
        if !inner.is_empty() && !inner.contains(['{', '}']) {
            return Pattern::Placeholder(inner);
        }
    }
    Pattern::Literal
}

/// Renders a value for a mismatch message: JSON, long strings shortened.
pub fn render(value: &Value) -> String {
    let text = value.to_string();
    shorten(&text, 200)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…({} chars)", text.chars().count())
}

/// The string a `${/regex/}` is matched against: strings as they are, numbers
/// and other scalars in their JSON spelling, containers as compact JSON.
pub fn as_match_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `text` contains a match of `pattern`: a search, not a full
/// match, as the upstream validator does it (`regex.search(str(actual))` in
/// `history.py` of aws-durable-execution-conformance-tests); files anchor
/// with `^...$` where they mean the whole value (`${/^[0-5]$/}`), and rely
/// on the search where they do not (8-15's `${/wrapped/}` against the
/// payload `{"wrapped":"x"}`).
pub fn search(pattern: &str, text: &str) -> Result<bool, regex::Error> {
    Ok(Regex::new(pattern)?.is_match(text))
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Deep equality where numbers compare by value (`2` equals `2.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

impl Matcher {
    /// A matcher with no bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder bindings made so far.
    pub fn bindings(&self) -> &BTreeMap<String, Value> {
        &self.bindings
    }

    /// Every mismatch found so far, in order.
    pub fn mismatches(&self) -> &[String] {
        &self.mismatches
    }

    /// Whether nothing mismatched.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// Records a mismatch that was found outside the matcher.
    pub fn push(&mut self, mismatch: impl Into<String>) {
        self.mismatches.push(mismatch.into());
    }

    /// Consumes the matcher, returning its mismatches.
    pub fn into_mismatches(self) -> Vec<String> {
        self.mismatches
    }

    /// Matches `expected` against `actual`, reporting mismatches under `path`.
    pub fn match_value(&mut self, path: &str, expected: &Value, actual: &Value) {
        match expected {
            Value::Object(map) if map.is_empty() => {}
            Value::String(text) => self.match_string(path, text, actual),
            Value::Object(fields) => {
                let Value::Object(actual_fields) = actual else {
                    self.push(format!(
                        "{path}: expected an object {}, got {}",
                        render(expected),
                        render(actual)
                    ));
                    return;
                };
                for (key, expected_child) in fields {
                    let child_path = format!("{path}.{key}");
                    match actual_fields.get(key) {
                        Some(actual_child) => {
                            self.match_value(&child_path, expected_child, actual_child);
                        }
                        None => self.push(format!(
                            "{child_path}: expected {}, got nothing (key missing)",
                            render(expected_child)
                        )),
                    }
                }
            }
            Value::Array(items) => {
                let Value::Array(actual_items) = actual else {
                    self.push(format!(
                        "{path}: expected an array {}, got {}",
                        render(expected),
                        render(actual)
                    ));
                    return;
                };
                if items.len() != actual_items.len() {
                    self.push(format!(
                        "{path}: expected {} items {}, got {} items {}",
                        items.len(),
                        render(expected),
                        actual_items.len(),
                        render(actual)
                    ));
                    return;
                }
                for (index, (e, a)) in items.iter().zip(actual_items).enumerate() {
                    self.match_value(&format!("{path}[{index}]"), e, a);
                }
            }
            _ => {
                if !json_equal(expected, actual) {
                    self.push(format!(
                        "{path}: expected {}, got {}",
                        render(expected),
                        render(actual)
                    ));
                }
            }
        }
    }

    fn match_string(&mut self, path: &str, text: &str, actual: &Value) {
        match classify(text) {
            Pattern::Any => {}
            Pattern::Placeholder(name) => match self.bindings.get(name) {
                Some(bound) => {
                    if !json_equal(bound, actual) {
                        let bound = render(bound);
                        self.push(format!(
                            "{path}: expected ${{{name}}} = {bound} (bound earlier), got {}",
                            render(actual)
                        ));
                    }
                }
                None => {
                    self.bindings.insert(name.to_owned(), actual.clone());
                }
            },
            Pattern::Regex(pattern) => {
                let subject = as_match_text(actual);
                match search(pattern, &subject) {
                    Ok(true) => {}
                    Ok(false) => self.push(format!(
                        "{path}: expected a match of /{pattern}/, got {}",
                        render(actual)
                    )),
                    Err(error) => {
                        self.push(format!("{path}: invalid regex /{pattern}/: {error}"));
                    }
                }
            }
            Pattern::Literal => {
                let expected = Value::String(self.substitute_bound(text));
                if !json_equal(&expected, actual) {
                    self.push(format!(
                        "{path}: expected {}, got {}",
                        render(&expected),
                        render(actual)
                    ));
                }
            }
        }
    }

    /// Replaces `${NAME}` inside a literal string by the bound value (strings
    /// as they are, other values as JSON); unbound names stay as written.
    fn substitute_bound(&self, text: &str) -> String {
        if !text.contains("${") {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for (name, value) in &self.bindings {
            let needle = format!("${{{name}}}");
            if out.contains(&needle) {
                out = out.replace(&needle, &as_match_text(value));
            }
        }
        out
    }

    /// Matches an expected history against the actual one, pairing events by
    /// `EventId`. Actual events no expected event names are ignored.
    pub fn match_history(&mut self, expected: &[Value], actual: &[Value]) {
        let mut by_id: BTreeMap<u64, &Value> = BTreeMap::new();
        for event in actual {
            if let Some(id) = event.get("EventId").and_then(Value::as_u64) {
                by_id.insert(id, event);
            }
        }
        for (index, expected_event) in expected.iter().enumerate() {
            let Some(id) = expected_event.get("EventId").and_then(Value::as_u64) else {
                self.push(format!(
                    "ExpectedExecutionHistory[{index}]: expected event has no numeric EventId"
                ));
                continue;
            };
            let path = format!("Event[EventId={id}]");
            match by_id.get(&id) {
                Some(actual_event) => self.match_value(&path, expected_event, actual_event),
                None => {
                    let kind = expected_event
                        .get("EventType")
                        .map_or_else(|| "?".to_owned(), as_match_text);
                    self.push(format!(
                        "{path}: expected a {kind} event, got nothing (the history has {} events)",
                        actual.len()
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(expected: Value, actual: Value) -> Vec<String> {
        let mut m = Matcher::new();
        m.match_value("V", &expected, &actual);
        m.into_mismatches()
    }

    #[test]
    fn wildcard_and_empty_object_accept_anything_present() {
        assert!(check(json!({"A": "*", "B": {}}), json!({"A": [1], "B": 7})).is_empty());
        assert!(check(json!("*"), json!(null)).is_empty());
        // ...but the key itself must exist.
        let errs = check(json!({"A": "*"}), json!({}));
        assert_eq!(errs, vec!["V.A: expected \"*\", got nothing (key missing)"]);
        let errs = check(json!({"D": {}}), json!({"X": 1}));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("V.D:"), "{errs:?}");
    }

    #[test]
    fn placeholders_bind_then_must_agree() {
        let mut m = Matcher::new();
        m.match_value("a", &json!({"Id": "${ID1}"}), &json!({"Id": "x1"}));
        m.match_value("b", &json!({"Id": "${ID1}"}), &json!({"Id": "x1"}));
        assert!(m.is_ok());
        assert_eq!(m.bindings()["ID1"], json!("x1"));
        m.match_value("c", &json!({"Id": "${ID1}"}), &json!({"Id": "x2"}));
        assert_eq!(
            m.mismatches(),
            ["c.Id: expected ${ID1} = \"x1\" (bound earlier), got \"x2\""]
        );
        // Two different names may bind the same value.
        m.match_value("d", &json!("${ID2}"), &json!("x1"));
        assert_eq!(m.mismatches().len(), 1);
    }

    #[test]
    fn placeholders_bind_any_json_value() {
        let mut m = Matcher::new();
        m.match_value("a", &json!("${N}"), &json!({"k": [1, 2]}));
        m.match_value("b", &json!("${N}"), &json!({"k": [1, 2]}));
        assert!(m.is_ok());
        m.match_value("c", &json!("${N}"), &json!({"k": [1]}));
        assert!(!m.is_ok());
    }

    #[test]
    fn bound_placeholders_are_substituted_in_literals() {
        let mut m = Matcher::new();
        m.match_value("a", &json!("${X}"), &json!("abc"));
        m.match_value("b", &json!("\"${X}\""), &json!("\"abc\""));
        assert!(m.is_ok(), "{:?}", m.mismatches());
    }

    #[test]
    fn regex_searches_the_rendered_value() {
        assert!(check(json!("${/^[0-5]$/}"), json!(3)).is_empty());
        assert!(check(json!("${/^([0-9]|10)$/}"), json!(10)).is_empty());
        assert!(check(json!("${/.*TransientError$/}"), json!("my.TransientError")).is_empty());
        // A search: an unanchored pattern may match part of the value...
        assert!(check(json!("${/Trans/}"), json!("TransientError")).is_empty());
        assert!(check(json!("${/wrapped/}"), json!(r#"{"wrapped":"x"}"#)).is_empty());
        // ...and anchors still ask for the whole value.
        assert!(check(json!("${/^Trans$/}"), json!("TransientError")).len() == 1);
        assert!(check(json!("${/Error$/}"), json!("ErrorType")).len() == 1);
        assert!(check(json!("${/[0-9]+/}"), json!(12)).is_empty());
        let errs = check(json!({"N": "${/^[0-5]$/}"}), json!({"N": 6}));
        assert_eq!(errs, vec!["V.N: expected a match of /^[0-5]$/, got 6"]);
        let errs = check(json!("${/(/}"), json!("x"));
        assert!(errs[0].contains("invalid regex"), "{errs:?}");
    }

    #[test]
    fn partial_objects_compare_expected_keys_only() {
        let expected = json!({"Error": {"Payload": {"ErrorType": "E"}}});
        let actual = json!({"Error": {"Payload": {"ErrorType": "E", "ErrorMessage": "m"}, "Truncated": false}, "More": 1});
        assert!(check(expected, actual).is_empty());
    }

    #[test]
    fn literals_and_numbers() {
        assert!(check(json!(2), json!(2)).is_empty());
        assert!(check(json!(2), json!(2.0)).is_empty());
        assert!(check(json!(null), json!(null)).is_empty());
        assert_eq!(
            check(json!(2), json!("2")),
            vec!["V: expected 2, got \"2\""]
        );
        assert_eq!(
            check(json!("a"), json!("b")),
            vec!["V: expected \"a\", got \"b\""]
        );
        assert_eq!(check(json!(true), json!(false)).len(), 1);
        assert_eq!(check(json!({"A": 1}), json!("x")).len(), 1);
    }

    #[test]
    fn arrays_compare_elementwise() {
        assert!(check(json!(["a", "*"]), json!(["a", 5])).is_empty());
        assert_eq!(check(json!(["a"]), json!(["a", "b"])).len(), 1);
        assert_eq!(
            check(json!(["a", "b"]), json!(["a", "c"])),
            vec!["V[1]: expected \"b\", got \"c\""]
        );
    }

    #[test]
    fn events_pair_by_event_id_and_extras_are_ignored() {
        let expected = vec![
            json!({"EventType": "StepStarted", "EventId": 2, "Id": "${ID1}"}),
            json!({"EventType": "StepSucceeded", "EventId": 3, "Id": "${ID1}"}),
        ];
        // Out of order, with extra events 1 and 4.
        let actual = vec![
            json!({"EventType": "StepSucceeded", "EventId": 3, "Id": "s"}),
            json!({"EventType": "ExecutionStarted", "EventId": 1}),
            json!({"EventType": "StepStarted", "EventId": 2, "Id": "s"}),
            json!({"EventType": "ExecutionSucceeded", "EventId": 4}),
        ];
        let mut m = Matcher::new();
        m.match_history(&expected, &actual);
        assert!(m.is_ok(), "{:?}", m.mismatches());

        let mut m = Matcher::new();
        m.match_history(&expected, &actual[..1]);
        assert_eq!(
            m.mismatches(),
            [
                "Event[EventId=2]: expected a StepStarted event, got nothing (the history has 1 events)"
            ]
        );
    }

    #[test]
    fn mismatch_message_names_the_path() {
        let expected = vec![json!({
            "EventType": "StepSucceeded",
            "EventId": 6,
            "StepSucceededDetails": {"Result": {}, "RetryDetails": {"CurrentAttempt": 2}}
        })];
        let actual = vec![json!({
            "EventType": "StepSucceeded",
            "EventId": 6,
            "StepSucceededDetails": {"Result": {"Truncated": false}, "RetryDetails": {"CurrentAttempt": 1}}
        })];
        let mut m = Matcher::new();
        m.match_history(&expected, &actual);
        assert_eq!(
            m.mismatches(),
            [
                "Event[EventId=6].StepSucceededDetails.RetryDetails.CurrentAttempt: expected 2, got 1"
            ]
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(1000);
        let errs = check(json!("y"), json!(long));
        assert!(errs[0].len() < 300, "{}", errs[0]);
        assert!(errs[0].contains("(1002 chars)"), "{}", errs[0]);
    }
}
