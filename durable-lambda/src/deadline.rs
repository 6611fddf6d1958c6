//! API calls retried within the invocation's remaining time (PROTOCOL §4.5).
//!
//! `aws-sdk-lambda`'s standard retry mode makes three attempts per call,
//! whatever the time left. An invocation with minutes ahead of it should not
//! give up on a throttled checkpoint after a few seconds (Lambda would invoke
//! it again, replaying everything for nothing), and one about to time out
//! should not start a back-off it cannot finish (Lambda would kill it
//! mid-call). [`Bounded`] wraps the backend of one invocation: throttling,
//! 5xx and transport errors are sent again with exponential back-off (with
//! jitter) for as long as the call and its back-off fit before the deadline,
//! and a call still unanswered at the deadline is abandoned. What is left is
//! a retryable error, which fails the invocation so that Lambda invokes it
//! again; nothing acknowledged is lost, since replay starts from the service's
//! records.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use durable_core::wire::{CheckpointResponse, ExecutionState, OperationUpdate};
use durable_core::{Backend, BackendError, BoxFuture};

/// Time kept back from Lambda's deadline to answer the invocation: calls and
/// back-offs stop this long before it. (Returning the error takes a
/// millisecond; the margin covers a clock read late on a loaded host.)
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_millis(250);
/// The first pause between attempts; each later one doubles, up to
/// [`MAX_BACKOFF`]. Each pause is drawn uniformly from half to all of it.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// An attempt is not started unless at least this much time is left for it.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// A backend whose calls are retried until `until` (the invocation's
/// deadline less [`ANSWER_MARGIN`]).
pub(crate) struct Bounded {
    inner: Arc<dyn Backend>,
    until: Instant,
}

impl Bounded {
    pub(crate) fn new(inner: Arc<dyn Backend>, until: Instant) -> Self {
        Self { inner, until }
    }

    async fn call<T, F>(&self, what: &str, mut attempt: F) -> Result<T, BackendError>
    where
        F: FnMut() -> BoxFuture<'static, Result<T, BackendError>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let left = self.until.saturating_duration_since(Instant::now());
            let error = match tokio::time::timeout(left, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
                Err(_) => {
                    return Err(BackendError::transport(format!(
                        "{what} did not answer before the invocation's deadline \
                         (attempt {attempts})"
                    )));
                }
            };
            if !resendable(&error) {
                return Err(error);
            }
            let pause = jitter(backoff);
            if Instant::now() + pause + MIN_ATTEMPT > self.until {
                return Err(gave_up(&error, attempts));
            }
            tracing::warn!(
                target: "durable",
                call = what,
                attempt = attempts,
                error = %error,
                pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                "the service call failed; sending it again"
            );
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Errors worth sending the same call again for: throttling, 5xx (except
/// KMS errors, which end the execution) and transport errors. A stale token
/// is retryable by §4.5 only in the sense that the invocation fails and
/// Lambda invokes it again: the same call would be refused again.
fn resendable(error: &BackendError) -> bool {
    if error.code().starts_with("KMS") {
        return false;
    }
    match error.status() {
        None => true,
        Some(status) => status == 429 || status >= 500,
    }
}

/// The last error, saying that the retries ran out of time.
fn gave_up(error: &BackendError, attempts: u32) -> BackendError {
    let message = format!(
        "{} (gave up after {attempts} attempt(s): no time left before the invocation's deadline)",
        error.message()
    );
    match error.status() {
        Some(status) => BackendError::service(error.code(), status, message),
        None => BackendError::transport(message),
    }
}

/// A pause drawn uniformly from `[backoff / 2, backoff]`, so that the
/// functions throttled together do not come back together.
fn jitter(backoff: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    let half = backoff / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % nanos.saturating_add(1))
}

impl Backend for Bounded {
    fn checkpoint<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
        Box::pin(async move {
            let arn: Arc<str> = Arc::from(execution_arn);
            let token: Arc<str> = Arc::from(token);
            let updates = Arc::new(updates);
            self.call("CheckpointDurableExecution", || {
                let (inner, arn, token, updates) = (
                    self.inner.clone(),
                    arn.clone(),
                    token.clone(),
                    updates.clone(),
                );
                Box::pin(async move {
                    let updates = Arc::unwrap_or_clone(updates);
                    inner.checkpoint(&arn, &token, updates).await
                })
            })
            .await
        })
    }

    fn get_state<'a>(
        &'a self,
        execution_arn: &'a str,
        token: &'a str,
        marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
        Box::pin(async move {
            let (arn, token, marker): (Arc<str>, Arc<str>, Arc<str>) =
                (execution_arn.into(), token.into(), marker.into());
            self.call("GetDurableExecutionState", || {
                let (inner, arn, token, marker) = (
                    self.inner.clone(),
                    arn.clone(),
                    token.clone(),
                    marker.clone(),
                );
                Box::pin(async move { inner.get_state(&arn, &token, &marker).await })
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers each call with the next error of `script`, then succeeds; with
    /// `hang`, never answers once the script is spent.
    struct Scripted {
        script: Vec<BackendError>,
        calls: AtomicUsize,
        hang: bool,
    }

    impl Scripted {
        fn new(script: Vec<BackendError>, hang: bool) -> Arc<Self> {
            Arc::new(Self {
                script,
                calls: AtomicUsize::new(0),
                hang,
            })
        }
    }

    impl Backend for Scripted {
        fn checkpoint<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            updates: Vec<OperationUpdate>,
        ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert_eq!(updates.len(), 1, "every attempt carries the same updates");
                if let Some(error) = self.script.get(n) {
                    return Err(error.clone());
                }
                if self.hang {
                    std::future::pending::<()>().await;
                }
                Ok(CheckpointResponse {
                    checkpoint_token: Some(format!("t{n}")),
                    new_execution_state: None,
                })
            })
        }

        fn get_state<'a>(
            &'a self,
            _arn: &'a str,
            _token: &'a str,
            _marker: &'a str,
        ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match self.script.get(n) {
                    Some(error) => Err(error.clone()),
                    None => Ok(ExecutionState::default()),
                }
            })
        }
    }

    fn update() -> Vec<OperationUpdate> {
        vec![
            serde_json::from_value(serde_json::json!({
                "Id": "a", "Type": "STEP", "Action": "START", "SubType": "Step"
            }))
            .unwrap(),
        ]
    }

    fn throttled() -> BackendError {
        BackendError::service("TooManyRequestsException", 429, "Rate exceeded")
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_past_three_attempts_while_time_is_left() {
        let script = vec![
            throttled(),
            BackendError::service("ServiceException", 503, "unavailable"),
            BackendError::transport("connection reset"),
            throttled(),
            throttled(),
        ];
        let inner = Scripted::new(script, false);
        let backend = Bounded::new(inner.clone(), Instant::now() + Duration::from_secs(60));
        let response = backend.checkpoint("arn", "t", update()).await.unwrap();
        assert_eq!(response.checkpoint_token.as_deref(), Some("t5"));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 6);
        let state = Bounded::new(
            Scripted::new(vec![throttled()], false),
            Instant::now() + Duration::from_secs(60),
        );
        assert!(state.get_state("arn", "t", "").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_the_deadline_with_the_last_error() {
        let inner = Scripted::new(vec![throttled(); 1000], false);
        let started = Instant::now();
        let backend = Bounded::new(inner.clone(), started + Duration::from_secs(10));
        let error = backend.checkpoint("arn", "t", update()).await.unwrap_err();
        assert!(
            started.elapsed() <= Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(error.status(), Some(429));
        assert!(
            error.is_retryable(),
            "the invocation fails so that Lambda invokes it again"
        );
        assert!(error.message().contains("gave up after"), "{error}");
        let calls = inner.calls.load(Ordering::SeqCst);
        assert!((4..1000).contains(&calls), "{calls} attempts in 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_unanswered_at_the_deadline_is_abandoned() {
        let started = Instant::now();
        let backend = Bounded::new(
            Scripted::new(Vec::new(), true),
            started + Duration::from_secs(3),
        );
        let error = backend.checkpoint("arn", "t", update()).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(error.is_retryable());
        assert!(
            error
                .message()
                .contains("did not answer before the invocation's deadline"),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_sent_again() {
        for error in [
            BackendError::service(
                "InvalidParameterValueException",
                400,
                "Invalid Checkpoint Token: stale",
            ),
            BackendError::service("ResourceNotFoundException", 404, "gone"),
            BackendError::service("KMSAccessDeniedException", 502, "denied"),
        ] {
            let inner = Scripted::new(vec![error.clone()], false);
            let backend = Bounded::new(inner.clone(), Instant::now() + Duration::from_secs(60));
            assert_eq!(
                backend.checkpoint("arn", "t", update()).await.unwrap_err(),
                error
            );
            assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn pauses_are_jittered_within_half_to_all_of_the_backoff() {
        for _ in 0..100 {
            let pause = jitter(Duration::from_millis(800));
            assert!((Duration::from_millis(400)..=Duration::from_millis(800)).contains(&pause));
        }
    }
}
