//! Retry strategies for steps (PROTOCOL §9).
//!
//! A strategy looks at the error of the attempt that just failed and the
//! number of attempts made so far, and says whether to try again and after
//! how long. Delays are whole seconds, at least one: that is what the service
//! schedules.

use std::sync::Arc;
use std::time::Duration;

use crate::wire::ErrorObject;

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Fail the step.
    Stop,
    /// Try again after this delay (rounded up to whole seconds, at least 1).
    RetryAfter(Duration),
}

/// Decides whether a failed step attempt is retried.
///
/// Closures `Fn(&ErrorObject, u32) -> RetryDecision` are strategies; the
/// `u32` is the 1-based attempt that just failed.
pub trait RetryStrategy: Send + Sync {
    /// The decision after attempt `attempt` (1-based) failed with `error`.
    fn decide(&self, error: &ErrorObject, attempt: u32) -> RetryDecision;
}

impl<F: Fn(&ErrorObject, u32) -> RetryDecision + Send + Sync> RetryStrategy for F {
    fn decide(&self, error: &ErrorObject, attempt: u32) -> RetryDecision {
        self(error, attempt)
    }
}

/// How a computed delay is randomized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// The delay as computed.
    None,
    /// A uniformly random delay between 0 and the computed one.
    #[default]
    Full,
    /// Half the computed delay plus a random part of the other half.
    Half,
}

/// The configurable retry strategy: attempts, exponential back-off with a
/// cap, jitter, and optional filters on the error's type or message.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    backoff_rate: f64,
    jitter: Jitter,
    linear_step: Option<Duration>,
    retryable_types: Vec<String>,
    retryable_messages: Vec<String>,
}

impl Default for RetryPolicy {
    /// The strategy a step gets when none is configured: 6 attempts, 5 s
    /// initial delay, 60 s cap, ×2 back-off, full jitter (the official SDKs'
    /// default, CT:step/1-13.yaml).
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
            backoff_rate: 2.0,
            jitter: Jitter::Full,
            linear_step: None,
            retryable_types: Vec::new(),
            retryable_messages: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Never retry: one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Exponential back-off with the builder defaults: 3 attempts, 5 s
    /// initial delay, 300 s cap, ×2, full jitter.
    pub fn exponential() -> Self {
        Self {
            max_attempts: 3,
            max_delay: Duration::from_secs(300),
            ..Self::default()
        }
    }

    /// The same delay every time: 5 attempts, no jitter.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            max_attempts: 5,
            initial_delay: delay,
            max_delay: delay,
            backoff_rate: 1.0,
            jitter: Jitter::None,
            ..Self::default()
        }
    }

    /// A delay that grows by one second per attempt from 1 s: 6 attempts,
    /// 300 s cap, no jitter.
    pub fn linear() -> Self {
        Self {
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            backoff_rate: 1.0,
            jitter: Jitter::None,
            linear_step: Some(Duration::from_secs(1)),
            ..Self::default()
        }
    }

    /// Total attempts, the first included (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the second attempt.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The factor between consecutive delays.
    #[must_use]
    pub fn backoff_rate(mut self, rate: f64) -> Self {
        self.backoff_rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        self
    }

    /// How the delay is randomized.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retry only errors whose `ErrorType` is one of these (combined with
    /// [`retry_on_message`](Self::retry_on_message): either may match).
    #[must_use]
    pub fn retry_on_type(mut self, error_type: impl Into<String>) -> Self {
        self.retryable_types.push(error_type.into());
        self
    }

    /// Retry only errors whose message contains this text.
    #[must_use]
    pub fn retry_on_message(mut self, fragment: impl Into<String>) -> Self {
        self.retryable_messages.push(fragment.into());
        self
    }

    fn matches_filters(&self, error: &ErrorObject) -> bool {
        if self.retryable_types.is_empty() && self.retryable_messages.is_empty() {
            return true;
        }
        let type_ok = error
            .error_type
            .as_deref()
            .is_some_and(|t| self.retryable_types.iter().any(|r| r == t));
        let message_ok = error.error_message.as_deref().is_some_and(|m| {
            self.retryable_messages
                .iter()
                .any(|r| m.contains(r.as_str()))
        });
        type_ok || message_ok
    }

    /// The delay before attempt `attempt + 1`, before jitter, in seconds.
    fn base_delay_secs(&self, attempt: u32) -> f64 {
        let initial = self.initial_delay.as_secs_f64();
        let raw = match self.linear_step {
            Some(step) => initial + step.as_secs_f64() * f64::from(attempt.saturating_sub(1)),
            None => {
                let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
                initial * self.backoff_rate.powi(exponent)
            }
        };
        if raw.is_finite() {
            raw.min(self.max_delay.as_secs_f64())
        } else {
            self.max_delay.as_secs_f64()
        }
    }
}

/// Rounds a delay up to whole seconds, at least one.
pub(crate) fn whole_seconds(delay: Duration) -> i32 {
    let secs = delay.as_secs_f64().ceil();
    if secs < 1.0 {
        1
    } else if secs > f64::from(i32::MAX) {
        i32::MAX
    } else {
        #[allow(clippy::cast_possible_truncation)]
        let whole = secs as i32;
        whole
    }
}

impl RetryStrategy for RetryPolicy {
    fn decide(&self, error: &ErrorObject, attempt: u32) -> RetryDecision {
        if attempt >= self.max_attempts || !self.matches_filters(error) {
            return RetryDecision::Stop;
        }
        let base = self.base_delay_secs(attempt);
        let jittered = match self.jitter {
            Jitter::None => base,
            Jitter::Full => rand::random::<f64>() * base,
            Jitter::Half => base / 2.0 + rand::random::<f64>() * base / 2.0,
        };
        RetryDecision::RetryAfter(Duration::from_secs(
            u64::try_from(whole_seconds(Duration::from_secs_f64(jittered.max(0.0)))).unwrap_or(1),
        ))
    }
}

impl RetryStrategy for Arc<dyn RetryStrategy> {
    fn decide(&self, error: &ErrorObject, attempt: u32) -> RetryDecision {
        (**self).decide(error, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err() -> ErrorObject {
        ErrorObject::new("Boom", "it broke")
    }

    fn secs(decision: RetryDecision) -> u64 {
        match decision {
            RetryDecision::RetryAfter(d) => d.as_secs(),
            RetryDecision::Stop => panic!("expected a retry"),
        }
    }

    #[test]
    fn exponential_without_jitter_multiplies_and_caps() {
        let p = RetryPolicy::exponential()
            .max_attempts(5)
            .initial_delay(Duration::from_secs(2))
            .backoff_rate(3.0)
            .max_delay(Duration::from_secs(10))
            .jitter(Jitter::None);
        assert_eq!(secs(p.decide(&err(), 1)), 2);
        assert_eq!(secs(p.decide(&err(), 2)), 6);
        assert_eq!(secs(p.decide(&err(), 3)), 10);
        assert_eq!(p.decide(&err(), 5), RetryDecision::Stop);
    }

    #[test]
    fn default_policy_matches_the_conformance_ranges() {
        let p = RetryPolicy::default();
        for _ in 0..200 {
            assert!((1..=5).contains(&secs(p.decide(&err(), 1))));
            assert!((1..=10).contains(&secs(p.decide(&err(), 2))));
        }
        assert_eq!(p.decide(&err(), 6), RetryDecision::Stop);
    }

    #[test]
    fn presets_have_their_documented_shapes() {
        assert_eq!(RetryPolicy::none().decide(&err(), 1), RetryDecision::Stop);
        let fixed = RetryPolicy::fixed(Duration::from_secs(7));
        assert_eq!(secs(fixed.decide(&err(), 1)), 7);
        assert_eq!(secs(fixed.decide(&err(), 4)), 7);
        assert_eq!(fixed.decide(&err(), 5), RetryDecision::Stop);
        let linear = RetryPolicy::linear();
        assert_eq!(secs(linear.decide(&err(), 1)), 1);
        assert_eq!(secs(linear.decide(&err(), 3)), 3);
        let half = RetryPolicy::exponential()
            .jitter(Jitter::Half)
            .initial_delay(Duration::from_secs(10));
        for _ in 0..100 {
            assert!((5..=10).contains(&secs(half.decide(&err(), 1))));
        }
    }

    #[test]
    fn sub_second_delays_become_one_second() {
        let p = RetryPolicy::fixed(Duration::from_millis(10));
        assert_eq!(secs(p.decide(&err(), 1)), 1);
    }

    #[test]
    fn filters_select_retryable_errors() {
        let p = RetryPolicy::exponential()
            .retry_on_type("Timeout")
            .retry_on_message("throttled");
        assert_eq!(p.decide(&err(), 1), RetryDecision::Stop);
        assert!(matches!(
            p.decide(&ErrorObject::new("Timeout", "x"), 1),
            RetryDecision::RetryAfter(_)
        ));
        assert!(matches!(
            p.decide(&ErrorObject::new("Other", "we were throttled"), 1),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn closures_are_strategies() {
        let never_transient = |e: &ErrorObject, _attempt: u32| {
            if e.error_type.as_deref() == Some("TransientError") {
                RetryDecision::Stop
            } else {
                RetryDecision::RetryAfter(Duration::from_secs(1))
            }
        };
        assert_eq!(
            never_transient.decide(&ErrorObject::new("TransientError", ""), 1),
            RetryDecision::Stop
        );
    }
}
