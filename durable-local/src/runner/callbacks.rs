//! Callbacks in a run: completing them by id or by name, waiting for one
//! to appear, and the external system's actions scheduled beforehand with
//! [`LocalRunner::on_callback`], performed in time order with the engine's
//! own timers.

use std::time::Duration;

use durable_core::DurableHandler;
use durable_core::wire::ErrorObject;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{LocalRunner, lock};
use crate::error::LocalError;
use crate::service::CallbackInfo;

/// A callback id (`CallbackDetails.CallbackId`), as an external system
/// receives it: what [`LocalRunner::callback_id`],
/// [`LocalRunner::wait_for_callback`] and
/// [`OperationView::callback_id`](super::OperationView::callback_id) return
/// and [`LocalRunner::callback_success`] takes (as `&id`).
///
/// A type of its own, so that an execution ARN (or any other string) is not
/// taken for a callback id by mistake. An id that came some other way (the
/// string a handler's `wait_for_callback` submitter received) is made one
/// with [`CallbackId::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallbackId(String);

impl CallbackId {
    /// The callback id `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for CallbackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CallbackId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CallbackId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CallbackId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<CallbackId> for String {
    fn from(id: CallbackId) -> Self {
        id.0
    }
}

/// A callback, named by its id or by its name in an execution.
///
/// A `&`[`CallbackId`] converts into [`CallbackRef::Id`]; a plain string
/// does not (it might be an execution ARN): look a callback up by name with
/// [`CallbackRef::named`].
///
/// ```compile_fail
/// # use durable_local::CallbackRef;
/// let arn = "arn:aws:lambda:us-east-1:123456789012:function:f/durable-execution/x/y";
/// let _: CallbackRef<'_> = arn.into(); // not a callback id
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackRef<'a> {
    /// The callback with this id.
    Id(&'a CallbackId),
    /// The callback named `name` in the execution `arn`: `"*"` for any, the
    /// CALLBACK operation's name, or the name given to the
    /// `wait_for_callback` it belongs to (see
    /// [`CallbackInfo::is_named`](crate::CallbackInfo::is_named)). The first
    /// open one with that name, else the last one created.
    Named {
        /// The execution ARN.
        arn: &'a str,
        /// The callback's name.
        name: &'a str,
    },
}

impl<'a> CallbackRef<'a> {
    /// The callback named `name` in execution `arn` (see [`CallbackRef::Named`]).
    pub fn named(arn: &'a str, name: &'a str) -> Self {
        Self::Named { arn, name }
    }
}

impl<'a> From<&'a CallbackId> for CallbackRef<'a> {
    fn from(id: &'a CallbackId) -> Self {
        Self::Id(id)
    }
}

/// What an external system does to a callback, scheduled with
/// [`LocalRunner::on_callback`]: succeed, fail or heartbeat it, `after` a
/// delay counted from when the callback started (or from the previous
/// action on the same name, if later).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackAction {
    kind: ActionKind,
    delay: Duration,
}

#[derive(Clone, Debug, PartialEq)]
enum ActionKind {
    Success(Vec<u8>),
    Failure(ErrorObject),
    Heartbeat,
}

impl CallbackAction {
    /// `SendDurableExecutionCallbackSuccess` with `result` as the body (the
    /// conformance files send `json.dumps(value)`: see [`success_json`](Self::success_json)).
    pub fn success(result: impl Into<Vec<u8>>) -> Self {
        Self {
            kind: ActionKind::Success(result.into()),
            delay: Duration::ZERO,
        }
    }

    /// `SendDurableExecutionCallbackSuccess` with `value` serialized as JSON.
    ///
    /// # Errors
    /// `value` does not serialize.
    pub fn success_json(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Self::success)
    }

    /// `SendDurableExecutionCallbackFailure` with `error`.
    pub fn failure(error: ErrorObject) -> Self {
        Self {
            kind: ActionKind::Failure(error),
            delay: Duration::ZERO,
        }
    }

    /// `SendDurableExecutionCallbackHeartbeat`.
    pub fn heartbeat() -> Self {
        Self {
            kind: ActionKind::Heartbeat,
            delay: Duration::ZERO,
        }
    }

    /// Waits `delay` before acting (default: act as soon as the callback starts).
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A callback as listed in the message about an unmatched name.
fn describe_callback(callback: &CallbackInfo) -> String {
    match (&callback.wait_for_callback, &callback.name) {
        (Some(wait), _) => format!("{wait:?} (wait_for_callback)"),
        (None, Some(name)) => format!("{name:?}"),
        (None, None) => format!("unnamed (operation {})", callback.operation_id),
    }
}

/// The scheduled callback actions of a runner.
#[derive(Debug, Default)]
pub(super) struct Rules {
    rules: Vec<Rule>,
    errors: Vec<String>,
    /// The scheduled actions whose name matched no callback, as of the end
    /// of the latest run.
    unmatched: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    /// A callback operation name, or `*` for any.
    pattern: String,
    action: CallbackAction,
    state: RuleState,
}

#[derive(Debug)]
enum RuleState {
    /// Not bound to a callback yet.
    Waiting,
    /// Acts on `callback_id` (in `arn`) at `due` (epoch ms).
    Bound {
        arn: String,
        callback_id: String,
        due: i64,
    },
    /// Acted at `at`.
    Done { at: i64 },
}

fn duration_ms(delay: Duration) -> i64 {
    i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)
}

impl<H, E, T> LocalRunner<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    /// The id of `callback`.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] for an unknown execution,
    /// [`LocalError::CallbackNameNotFound`] when it has no callback of that name.
    pub fn callback_id<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
    ) -> Result<CallbackId, LocalError> {
        match callback.into() {
            CallbackRef::Id(id) => Ok(id.clone()),
            CallbackRef::Named { arn, name } => self
                .service()
                .find_callback(arn, name)?
                .map(CallbackId)
                .ok_or_else(|| LocalError::CallbackNameNotFound {
                    arn: arn.to_owned(),
                    name: name.to_owned(),
                }),
        }
    }

    /// Completes `callback` with `result` (see
    /// [`LocalService::send_callback_success`](crate::LocalService::send_callback_success)); [`resume`](Self::resume)
    /// the execution to let it go on.
    ///
    /// # Errors
    /// As [`callback_id`](Self::callback_id) and
    /// [`LocalService::send_callback_success`](crate::LocalService::send_callback_success) (unknown id, callback already
    /// closed, result over 1 MiB).
    pub fn callback_success<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
        result: impl AsRef<[u8]>,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service()
            .send_callback_success(id.as_str(), result.as_ref())
    }

    /// Fails `callback` with `error` (see [`LocalService::send_callback_failure`](crate::LocalService::send_callback_failure));
    /// [`resume`](Self::resume) the execution to let it go on.
    ///
    /// # Errors
    /// As [`callback_success`](Self::callback_success).
    pub fn callback_failure<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
        error: ErrorObject,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service().send_callback_failure(id.as_str(), error)
    }

    /// Sends a heartbeat for `callback` (see [`LocalService::send_callback_heartbeat`](crate::LocalService::send_callback_heartbeat)).
    ///
    /// # Errors
    /// As [`callback_success`](Self::callback_success).
    pub fn callback_heartbeat<'a>(
        &self,
        callback: impl Into<CallbackRef<'a>>,
    ) -> Result<(), LocalError> {
        let id = self.callback_id(callback)?;
        self.service().send_callback_heartbeat(id.as_str())
    }

    /// Waits until execution `arn` has a callback named `name` (as in
    /// [`CallbackRef::Named`]: `"*"` for any, the operation's name or its
    /// `wait_for_callback`'s) and returns its id.
    ///
    /// On the real clock, or while a run of this runner is driving the
    /// execution (for example one spawned on another task), this waits for
    /// the callback to be created. Otherwise (virtual clock, nothing driving)
    /// nothing can create it, so it answers at once.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] for an unknown execution;
    /// [`LocalError::CallbackNameNotFound`] when the callback does not exist
    /// and cannot appear (the execution has ended, or nothing drives it on a
    /// virtual clock).
    pub async fn wait_for_callback(&self, arn: &str, name: &str) -> Result<CallbackId, LocalError> {
        let changed = self.service().changed();
        loop {
            let notified = changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(id) = self.service().find_callback(arn, name)? {
                return Ok(CallbackId(id));
            }
            let ended = self
                .service()
                .with_execution(arn, |exec| exec.status().is_terminal())?;
            let driven = lock(&self.driving).iter().any(|a| a == arn);
            if ended || (self.service().clock().is_virtual() && !driven) {
                return Err(LocalError::CallbackNameNotFound {
                    arn: arn.to_owned(),
                    name: name.to_owned(),
                });
            }
            notified.await;
        }
    }

    /// Schedules what an external system does to a callback: when a
    /// callback named `name` is open in an execution this runner drives,
    /// `action` happens after its delay, in time order with the engine's own
    /// timers (on the virtual clock too).
    ///
    /// `name` is `"*"` (any callback), the name given to `create_callback`,
    /// or the name given to `wait_for_callback` (`.name("approval")`). The
    /// SDKs record a `wait_for_callback` as a child context of that name
    /// around a CALLBACK operation named `"<name> create callback id"`; both
    /// `"approval"` and `"approval create callback id"` match it.
    ///
    /// Each scheduled action acts once. Actions for the same `name` act in
    /// the order they were scheduled: the first binds to the first open
    /// matching callback; the next binds once the first has acted (to the
    /// same callback if it is still open, as after a heartbeat, else to the
    /// next one to start), its delay counted from then. Actions for different
    /// names are independent. A failed action (say, the callback had already
    /// timed out) is reported by [`callback_action_errors`](Self::callback_action_errors),
    /// and so is a `name` that matched no callback of a run (typically a
    /// misspelt name: the message lists the callbacks there were).
    pub fn on_callback(&self, name: impl Into<String>, action: CallbackAction) -> &Self {
        lock(&self.rules).rules.push(Rule {
            pattern: name.into(),
            action,
            state: RuleState::Waiting,
        });
        self
    }

    /// What went wrong with the scheduled callback actions, as messages:
    /// the actions that failed, then the names of [`on_callback`](Self::on_callback)
    /// that matched no callback by the end of the latest run (each with the
    /// names of the callbacks that run saw). A name that matches later, in
    /// another run or after a [`resume`](Self::resume), is no longer reported.
    pub fn callback_action_errors(&self) -> Vec<String> {
        let rules = lock(&self.rules);
        rules
            .errors
            .iter()
            .chain(&rules.unmatched)
            .cloned()
            .collect()
    }

    /// Notes the names of scheduled actions that matched no callback of the
    /// executions a run drove (`tree`, the root first), with the callbacks
    /// there were.
    pub(super) fn check_unmatched_callback_actions(&self, tree: &[String]) {
        let mut rules = lock(&self.rules);
        if rules.rules.is_empty() {
            return;
        }
        let callbacks: Vec<CallbackInfo> = tree
            .iter()
            .filter_map(|arn| self.service().callbacks(arn).ok())
            .flatten()
            .collect();
        let mut unmatched: Vec<&str> = Vec::new();
        for rule in &rules.rules {
            let pattern = rule.pattern.as_str();
            let bound_once = rules
                .rules
                .iter()
                .any(|r| r.pattern == pattern && !matches!(r.state, RuleState::Waiting));
            if bound_once
                || unmatched.contains(&pattern)
                || callbacks.iter().any(|c| c.is_named(pattern))
            {
                continue;
            }
            unmatched.push(pattern);
        }
        let root = tree.first().map_or("", String::as_str);
        let seen = if callbacks.is_empty() {
            "it created no callbacks".to_owned()
        } else {
            let names: Vec<String> = callbacks.iter().map(describe_callback).collect();
            format!("the callbacks were: {}", names.join(", "))
        };
        let messages = unmatched
            .into_iter()
            .map(|pattern| {
                format!("on_callback({pattern:?}) matched no callback of execution {root}; {seen}")
            })
            .collect();
        rules.unmatched = messages;
    }

    /// Binds every waiting action that may act now to an open callback of
    /// the tree.
    pub(super) fn bind_callback_actions(&self, tree: &[String]) {
        let mut rules = lock(&self.rules);
        if !rules
            .rules
            .iter()
            .any(|r| matches!(r.state, RuleState::Waiting))
        {
            return;
        }
        let mut open = Vec::new();
        for arn in tree {
            if let Ok(callbacks) = self.service().open_callbacks(arn) {
                open.extend(callbacks.into_iter().map(|c| (arn.clone(), c)));
            }
        }
        if open.is_empty() {
            return;
        }
        open.sort_by_key(|(_, c)| c.start_timestamp);
        for at in 0..rules.rules.len() {
            let (earlier, rest) = rules.rules.split_at_mut(at);
            let Some(rule) = rest.first_mut() else {
                break;
            };
            if !matches!(rule.state, RuleState::Waiting) {
                continue;
            }
            let mut same_name = earlier.iter().filter(|r| r.pattern == rule.pattern);
            if same_name
                .clone()
                .any(|r| !matches!(r.state, RuleState::Done { .. }))
            {
                continue;
            }
            let previous = same_name.next_back().and_then(|r| match r.state {
                RuleState::Done { at } => Some(at),
                _ => None,
            });
            let found = open.iter().find(|(_, c)| c.is_named(&rule.pattern));
            if let Some((arn, callback)) = found {
                let base = callback.start_timestamp.max(previous.unwrap_or(i64::MIN));
                rule.state = RuleState::Bound {
                    arn: arn.clone(),
                    callback_id: callback.callback_id.clone(),
                    due: base.saturating_add(duration_ms(rule.action.delay)),
                };
            }
        }
    }

    /// The earliest bound action on a callback of the tree: (due, rule index).
    pub(super) fn next_callback_action(&self, tree: &[String]) -> Option<(i64, usize)> {
        let rules = lock(&self.rules);
        rules
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| match &rule.state {
                RuleState::Bound { arn, due, .. } if tree.contains(arn) => Some((*due, i)),
                _ => None,
            })
            .min()
    }

    /// Performs the bound action `index`.
    pub(super) fn fire_callback_action(&self, index: usize) {
        let now = self.service().clock().now_ms();
        let (callback_id, kind) = {
            let mut rules = lock(&self.rules);
            let Some(rule) = rules.rules.get_mut(index) else {
                return;
            };
            let state = std::mem::replace(&mut rule.state, RuleState::Done { at: now });
            let RuleState::Bound { callback_id, .. } = state else {
                rule.state = state;
                return;
            };
            (callback_id, rule.action.kind.clone())
        };
        let (what, result) = match kind {
            ActionKind::Success(result) => (
                "success",
                self.service().send_callback_success(&callback_id, &result),
            ),
            ActionKind::Failure(error) => (
                "failure",
                self.service().send_callback_failure(&callback_id, error),
            ),
            ActionKind::Heartbeat => (
                "heartbeat",
                self.service().send_callback_heartbeat(&callback_id),
            ),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "scheduled callback {what} failed");
            lock(&self.rules)
                .errors
                .push(format!("scheduled callback {what}: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn callback_actions_build() {
        let action = CallbackAction::success_json(&serde_json::json!({"ok": true}))
            .unwrap()
            .after(Duration::from_millis(1500));
        assert_eq!(action.kind, ActionKind::Success(br#"{"ok":true}"#.to_vec()));
        assert_eq!(duration_ms(action.delay), 1500);
        assert_eq!(CallbackAction::heartbeat().delay, Duration::ZERO);
    }
}
