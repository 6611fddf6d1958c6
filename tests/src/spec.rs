//! Loading one requirement file (`shared/conformance/<suite>/<id>.yaml`) and
//! making up its `Variables`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngExt;
use rand::distr::Alphanumeric;
use serde_json::Value;

use crate::logs::LogLine;

/// Values made up once per run of a file (`Variables:` in the YAML), e.g.
/// `INPUT_1: ${GEN_STR:8}` → `INPUT_1 = "q3ZbT0aL"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

/// A random alphanumeric string of `len` characters.
pub fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Expands generators such as `${GEN_STR:8}` in `text`.
fn expand_generators(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${GEN_") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated generator in {text:?}"));
        };
        let spec = &after[..end];
        match spec.split_once(':') {
            Some(("GEN_STR", n)) => {
                let len: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad length in ${{{spec}}}"))?;
                out.push_str(&random_string(len));
            }
            _ => return Err(format!("unknown generator ${{{spec}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes up the values of a `Variables:` mapping (absent/null = none).
    pub fn generate(spec: Option<&Value>) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        match spec {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    let text = match value {
                        Value::String(s) => expand_generators(s)?,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    values.insert(name.clone(), text);
                }
            }
            Some(other) => return Err(format!("Variables must be a mapping, got {other}")),
        }
        Ok(Self { values })
    }

    /// Sets a variable (for tests).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// All variables.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Replaces every `${NAME}` of a variable, and every inline generator,
    /// inside `text`.
    pub fn substitute_str(&self, text: &str) -> Result<String, String> {
        if !text.contains("${") {
            return Ok(text.to_owned());
        }
        let mut out = text.to_owned();
        for (name, value) in &self.values {
            out = out.replace(&format!("${{{name}}}"), value);
        }
        expand_generators(&out)
    }

    /// Substitutes inside every string (keys included) of `value`.
    pub fn substitute(&self, value: &mut Value) -> Result<(), String> {
        match value {
            Value::String(s) => *s = self.substitute_str(s)?,
            Value::Array(items) => {
                for item in items {
                    self.substitute(item)?;
                }
            }
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut child) in old {
                    self.substitute(&mut child)?;
                    map.insert(self.substitute_str(&key)?, child);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }
}

/// One criterion of an `ExpectedLogs` entry's `match`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogCriterion {
    /// `'/regex/'`: the regex must be found in the value.
    Regex(String),
    /// Any other value: the value, rendered as text, must equal it.
    Literal(String),
}

/// One `ExpectedLogs` entry: lines meeting every criterion of `match` must
/// occur exactly `count` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogExpectation {
    /// `(field, criterion)` pairs; `message` is the line's text, `level` its
    /// level, any other name one of its structured fields.
    pub criteria: Vec<(String, LogCriterion)>,
    /// How many lines must match.
    pub count: usize,
}

impl LogExpectation {
    /// The criteria, rendered for messages.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .criteria
            .iter()
            .map(|(key, c)| match c {
                LogCriterion::Regex(re) => format!("{key} =~ /{re}/"),
                LogCriterion::Literal(text) => format!("{key} == {text:?}"),
            })
            .collect();
        parts.join(", ")
    }

    /// Whether a captured line meets every criterion. A `message` regex is
    /// searched in the message and in the line rendered `[LEVEL] message`.
    pub fn matches(&self, line: &LogLine) -> Result<bool, regex::Error> {
        for (key, criterion) in &self.criteria {
            let subjects: Vec<String> = match key.as_str() {
                "message" => vec![
                    line.message.clone(),
                    format!("[{}] {}", line.level.to_ascii_uppercase(), line.message),
                ],
                "level" => vec![line.level.to_ascii_uppercase()],
                other => line
                    .fields
                    .iter()
                    .filter(|(name, _)| name == other)
                    .map(|(_, value)| value.clone())
                    .collect(),
            };
            let ok = match criterion {
                LogCriterion::Regex(pattern) => {
                    let re = regex::Regex::new(pattern)?;
                    subjects.iter().any(|s| re.is_match(s))
                }
                LogCriterion::Literal(text) if key == "level" => {
                    subjects.iter().any(|s| s.eq_ignore_ascii_case(text))
                }
                LogCriterion::Literal(text) => subjects.iter().any(|s| s == text),
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// One requirement file, loaded and with its variables substituted.
#[derive(Clone, Debug)]
pub struct Requirement {
    /// The suite folder (`step`, `wait`, `child`...).
    pub suite: String,
    /// The file stem (`1-1`).
    pub id: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The variables made up for this run.
    pub variables: Variables,
    /// The whole document, variables substituted.
    pub doc: Value,
}

impl Requirement {
    /// Reads and parses `path`, which lies in the folder of its suite.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let suite = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let mut req = Self::parse(&text, &suite, &id)?;
        req.path = path.to_owned();
        Ok(req)
    }

    /// Parses the text of a requirement file.
    pub fn parse(text: &str, suite: &str, id: &str) -> Result<Self, String> {
        let doc: Value =
            serde_yaml::from_str(text).map_err(|e| format!("{suite}/{id}: bad YAML: {e}"))?;
        if !doc.is_object() {
            return Err(format!("{suite}/{id}: the document is not a mapping"));
        }
        let variables =
            Variables::generate(doc.get("Variables")).map_err(|e| format!("{suite}/{id}: {e}"))?;
        let mut doc = doc;
        if let Some(map) = doc.as_object_mut() {
            // Keep the generator specs as written; substitute everything else.
            let spec = map.remove("Variables");
            variables
                .substitute(&mut doc)
                .map_err(|e| format!("{suite}/{id}: {e}"))?;
            if let (Some(spec), Some(map)) = (spec, doc.as_object_mut()) {
                map.insert("Variables".into(), spec);
            }
        }
        Ok(Self {
            suite: suite.to_owned(),
            id: id.to_owned(),
            path: PathBuf::new(),
            variables,
            doc,
        })
    }

    /// `suite/id`, e.g. `step/1-1`.
    pub fn full_id(&self) -> String {
        format!("{}/{}", self.suite, self.id)
    }

    /// The execution's input (absent = null).
    pub fn input(&self) -> Value {
        self.doc.get("Input").cloned().unwrap_or(Value::Null)
    }

    /// `optional: true`.
    pub fn optional(&self) -> bool {
        self.doc.get("optional").and_then(Value::as_bool) == Some(true)
    }

    /// `AsyncInvoke: true`.
    pub fn async_invoke(&self) -> bool {
        self.doc.get("AsyncInvoke").and_then(Value::as_bool) == Some(true)
    }

    /// `ExpectedResult`, when given.
    pub fn expected_result(&self) -> Option<&Value> {
        self.doc.get("ExpectedResult").filter(|v| !v.is_null())
    }

    /// `ExpectedResult.ExecutionStatus`.
    pub fn expected_status(&self) -> Option<&str> {
        self.expected_result()?
            .get("ExecutionStatus")
            .and_then(Value::as_str)
    }

    /// `ExpectedExecutionHistory` (empty when absent).
    pub fn expected_history(&self) -> &[Value] {
        self.doc
            .get("ExpectedExecutionHistory")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `CallbackActions`, when present and not empty.
    pub fn callback_actions(&self) -> Option<&Value> {
        self.doc.get("CallbackActions").filter(|v| match v {
            Value::Null => false,
            Value::Array(items) => !items.is_empty(),
            _ => true,
        })
    }

    /// `ExpectedLogs`, parsed.
    pub fn expected_logs(&self) -> Result<Vec<LogExpectation>, String> {
        let Some(entries) = self.doc.get("ExpectedLogs").filter(|v| !v.is_null()) else {
            return Ok(Vec::new());
        };
        let Some(entries) = entries.as_array() else {
            return Err("ExpectedLogs must be a list".into());
        };
        let mut out = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let Some(fields) = entry.as_object() else {
                return Err(format!("ExpectedLogs[{index}]: not a mapping"));
            };
            if let Some(key) = fields.keys().find(|k| *k != "match" && *k != "count") {
                return Err(format!("ExpectedLogs[{index}].{key}: unsupported"));
            }
            let criteria = entry
                .get("match")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("ExpectedLogs[{index}]: no `match` mapping"))?;
            let mut parsed = Vec::new();
            for (key, value) in criteria {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => "null".to_owned(),
                    other => other.to_string(),
                };
                let criterion = match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
                    Some(inner) if text.len() >= 2 => {
                        regex::Regex::new(inner).map_err(|e| {
                            format!(
                                "ExpectedLogs[{index}].match.{key}: invalid regex /{inner}/: {e}"
                            )
                        })?;
                        LogCriterion::Regex(inner.to_owned())
                    }
                    _ => LogCriterion::Literal(text),
                };
                parsed.push((key.clone(), criterion));
            }
            let count = entry
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("ExpectedLogs[{index}]: no numeric `count`"))?;
            out.push(LogExpectation {
                criteria: parsed,
                count: usize::try_from(count).unwrap_or(usize::MAX),
            });
        }
        Ok(out)
    }
}

/// The requirement files of `suites` below `root`, sorted by suite (in the
/// given order) and then numerically by id (`1-2` before `1-11`).
pub fn discover(root: &Path, suites: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for suite in suites {
        let dir = root.join(suite);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort_by_key(|p| sort_key(p));
        out.extend(files);
    }
    Ok(out)
}

fn sort_key(path: &Path) -> (Vec<u64>, String) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let numbers = stem
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect();
    (numbers, stem)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FILE: &str = r#"
description: test
Variables:
  INPUT_1: ${GEN_STR:8}
  INPUT_2: ${GEN_STR:3}
Input:
  name: ${INPUT_1}
ExpectedResult:
  ExecutionStatus: SUCCEEDED
  Result: Hello, ${INPUT_1}!
ExpectedExecutionHistory:
  - EventType: StepSucceeded
    EventId: 3
    Id: ${ID1}
    StepSucceededDetails:
      Result:
        Payload: '"${INPUT_1}"'
      RetryDetails:
        NextAttemptDelaySeconds: ${/^[0-5]$/}
ExpectedLogs:
  - match:
      message: '/started for: ${INPUT_1}/'
    count: 1
  - match:
      message: '/\[ERROR\]/'
    count: 0
"#;

    #[test]
    fn variables_are_generated_and_substituted_everywhere() {
        let req = Requirement::parse(FILE, "step", "1-7").unwrap();
        let input = req.variables.get("INPUT_1").unwrap().to_owned();
        assert_eq!(input.len(), 8);
        assert!(input.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(req.variables.get("INPUT_2").unwrap().len(), 3);
        assert_eq!(req.input(), json!({"name": input}));
        assert_eq!(req.expected_status(), Some("SUCCEEDED"));
        assert_eq!(
            req.expected_result().unwrap()["Result"],
            json!(format!("Hello, {input}!"))
        );
        let event = &req.expected_history()[0];
        assert_eq!(event["Id"], json!("${ID1}"));
        assert_eq!(
            event["StepSucceededDetails"]["Result"]["Payload"],
            json!(format!("\"{input}\""))
        );
        assert_eq!(
            event["StepSucceededDetails"]["RetryDetails"]["NextAttemptDelaySeconds"],
            json!("${/^[0-5]$/}")
        );
        let logs = req.expected_logs().unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(
            logs[0].criteria,
            [(
                "message".to_owned(),
                LogCriterion::Regex(format!("started for: {input}"))
            )]
        );
        assert_eq!(logs[0].count, 1);
        let line = |level: &str, message: &str| LogLine {
            target: "durable".into(),
            level: level.into(),
            message: message.into(),
            fields: vec![("op".into(), "abc".into())],
        };
        assert!(
            logs[0]
                .matches(&line(
                    "INFO",
                    &format!("Greeting step started for: {input}")
                ))
                .unwrap()
        );
        assert!(
            !logs[0]
                .matches(&line("INFO", "Greeting step started for: other"))
                .unwrap()
        );
        assert!(logs[1].matches(&line("ERROR", "boom")).unwrap());
        assert!(!logs[1].matches(&line("INFO", "boom")).unwrap());
        let structured = LogExpectation {
            criteria: vec![
                ("op".into(), LogCriterion::Literal("abc".into())),
                ("level".into(), LogCriterion::Literal("info".into())),
            ],
            count: 1,
        };
        assert!(structured.matches(&line("INFO", "x")).unwrap());
        assert!(!structured.matches(&line("WARN", "x")).unwrap());
        assert_eq!(req.full_id(), "step/1-7");
        assert!(req.callback_actions().is_none());
        assert!(!req.async_invoke());
    }

    #[test]
    fn two_runs_make_up_different_values() {
        let a = Requirement::parse(FILE, "s", "x").unwrap();
        let b = Requirement::parse(FILE, "s", "x").unwrap();
        assert_ne!(a.variables.get("INPUT_1"), b.variables.get("INPUT_1"));
    }

    #[test]
    fn absent_input_is_null_and_empty_result_is_null() {
        let req = Requirement::parse(
            "Input:\nExpectedResult:\n  ExecutionStatus: SUCCEEDED\n  Result:\nAsyncInvoke: true\n",
            "child",
            "3-16",
        )
        .unwrap();
        assert_eq!(req.input(), Value::Null);
        let expected = req.expected_result().unwrap();
        assert_eq!(expected.get("Result"), Some(&Value::Null));
        assert!(req.async_invoke());
        let req = Requirement::parse("description: x\n", "wait", "2-1").unwrap();
        assert_eq!(req.input(), Value::Null);
        assert!(req.expected_result().is_none());
    }

    #[test]
    fn numbers_stay_numbers() {
        let req = Requirement::parse(
            "ExpectedExecutionHistory:\n  - EventId: 2\n    WaitStartedDetails:\n      Duration: 2\n",
            "wait",
            "2-1",
        )
        .unwrap();
        assert_eq!(
            req.expected_history()[0]["WaitStartedDetails"]["Duration"],
            json!(2)
        );
    }

    #[test]
    fn callback_actions_are_parsed() {
        let req = Requirement::parse(
            "CallbackActions:\n  - CallbackName: cb\n    Action: success\n    Payload: '{}'\n",
            "callback",
            "4-1",
        )
        .unwrap();
        assert!(req.callback_actions().is_some());
    }

    #[test]
    fn unknown_generators_are_errors() {
        assert!(Requirement::parse("Variables:\n  X: ${GEN_UUID}\n", "s", "x").is_err());
    }

    #[test]
    fn every_shared_requirement_file_loads() {
        // The conformance harness reports a missing suite; this test needs
        // one only when the harness would run.
        let Ok(root) = crate::conformance_dir() else {
            assert!(!crate::in_ci(), "CI needs the conformance files");
            return;
        };
        let suites: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let suites: Vec<&str> = suites.iter().map(String::as_str).collect();
        let files = discover(&root, &suites).unwrap();
        assert!(files.len() >= 35, "{} files", files.len());
        for file in files {
            let req = Requirement::load(&file).unwrap();
            if crate::SUITES.contains(&req.suite.as_str()) {
                req.expected_logs().unwrap();
            }
            assert!(!req.expected_history().is_empty() || req.expected_result().is_some());
            let text = serde_json::to_string(&req.doc).unwrap();
            let without_vars = text.replace(&req.doc["Variables"].to_string(), "");
            assert!(!without_vars.contains("${GEN_"), "{}", file.display());
            for (name, _) in req.variables.iter() {
                assert!(
                    !without_vars.contains(&format!("${{{name}}}")),
                    "{}: {name} left",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn files_sort_numerically() {
        let mut paths = [
            PathBuf::from("s/1-11.yaml"),
            PathBuf::from("s/1-2.yaml"),
            PathBuf::from("s/1-1.yaml"),
        ];
        paths.sort_by_key(|p| sort_key(p));
        let names: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["s/1-1.yaml", "s/1-2.yaml", "s/1-11.yaml"]);
    }
}
