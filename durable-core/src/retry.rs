//! Retry strategies for steps, and the back-off they share with
//! `wait_for_condition`'s wait strategy (PROTOCOL §9).
//!
//! A strategy looks at the error of the attempt that just failed and the
//! number of attempts made so far, and says whether to try again and after
//! how long. Delays are whole seconds, at least one: that is what the service
//! schedules.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::MIN_RETRY_DELAY_SECONDS;
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

/// A back-off: the delay before the next attempt, from `initial_delay`
/// growing by `rate` per attempt (or by a fixed step, for
/// [`RetryPolicy::linear`]) up to `max_delay`, randomized by a [`Jitter`],
/// and rounded up to whole seconds, at least one (PROTOCOL §9).
///
/// [`RetryPolicy`] and [`WaitStrategy`](crate::WaitStrategy) compute their
/// delays with it; a closure strategy may too:
///
/// ```
/// # use durable_core::{Backoff, Jitter, RetryDecision, RetryStrategy};
/// # use durable_core::wire::ErrorObject;
/// # use std::time::Duration;
/// let backoff = Backoff::exponential(Duration::from_secs(2), 3.0, Duration::from_secs(10))
///     .jitter(Jitter::None);
/// assert_eq!(backoff.delay(1), Duration::from_secs(2));
/// assert_eq!(backoff.delay(2), Duration::from_secs(6));
/// assert_eq!(backoff.delay(3), Duration::from_secs(10));
///
/// let strategy = move |_: &ErrorObject, attempt: u32| {
///     if attempt < 4 { RetryDecision::RetryAfter(backoff.delay(attempt)) } else { RetryDecision::Stop }
/// };
/// # let _ = strategy.decide(&ErrorObject::new("E", ""), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    initial_delay: Duration,
    max_delay: Duration,
    rate: f64,
    jitter: Jitter,
    /// Linear growth, `initial + step·(attempt − 1)`; `rate` is then unused.
    linear_step: Option<Duration>,
}

/// A back-off rate as configured: finite and positive, else 1 (no growth).
fn valid_rate(rate: f64) -> f64 {
    if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        1.0
    }
}

impl Backoff {
    /// `initial_delay · rate^(attempt − 1)`, at most `max_delay`, with full
    /// jitter (change it with [`jitter`](Self::jitter)). A rate that is not
    /// finite and positive is taken as 1.
    pub fn exponential(initial_delay: Duration, rate: f64, max_delay: Duration) -> Self {
        Self {
            initial_delay,
            max_delay,
            rate: valid_rate(rate),
            jitter: Jitter::Full,
            linear_step: None,
        }
    }

    /// `initial_delay + step · (attempt − 1)`, at most `max_delay`, no jitter.
    pub(crate) fn linear(initial_delay: Duration, step: Duration, max_delay: Duration) -> Self {
        Self {
            initial_delay,
            max_delay,
            rate: 1.0,
            jitter: Jitter::None,
            linear_step: Some(step),
        }
    }

    /// The delay after the first attempt.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay (before jitter).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The factor between consecutive delays (taken as 1 unless finite and
    /// positive).
    #[must_use]
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = valid_rate(rate);
        self
    }

    /// How the delay is randomized.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay after attempt `attempt` (1-based: the attempt that just
    /// ran), before jitter, in seconds.
    fn base_secs(&self, attempt: u32) -> f64 {
        let initial = self.initial_delay.as_secs_f64();
        let raw = match self.linear_step {
            Some(step) => initial + step.as_secs_f64() * f64::from(attempt.saturating_sub(1)),
            None => {
                let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
                initial * self.rate.powi(exponent)
            }
        };
        if raw.is_finite() {
            raw.min(self.max_delay.as_secs_f64())
        } else {
            self.max_delay.as_secs_f64()
        }
    }

    /// The delay after attempt `attempt` (1-based: the attempt that just
    /// ran): jittered, then rounded up to whole seconds, at least one.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_secs(attempt);
        let jittered = match self.jitter {
            Jitter::None => base,
            Jitter::Full => rand::random::<f64>() * base,
            Jitter::Half => base / 2.0 + rand::random::<f64>() * base / 2.0,
        };
        // Beyond what a `Duration` holds: the longest delay the wire carries.
        let seconds =
            Duration::try_from_secs_f64(jittered.max(0.0)).map_or(i32::MAX, delay_seconds);
        Duration::from_secs(u64::try_from(seconds).unwrap_or(1))
    }
}

/// The configurable retry strategy: attempts, exponential back-off with a
/// cap, jitter, and optional filters on the error's type or message.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
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
            backoff: Backoff::exponential(Duration::from_secs(5), 2.0, Duration::from_secs(60)),
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
            ..Self::default()
        }
        .max_delay(Duration::from_secs(300))
    }

    /// The same delay every time: 5 attempts, no jitter.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            max_attempts: 5,
            backoff: Backoff::exponential(delay, 1.0, delay).jitter(Jitter::None),
            ..Self::default()
        }
    }

    /// A delay that grows by one second per attempt from 1 s: 6 attempts,
    /// 300 s cap, no jitter.
    pub fn linear() -> Self {
        Self {
            max_attempts: 6,
            backoff: Backoff::linear(
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(300),
            ),
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
        self.backoff = self.backoff.initial_delay(delay);
        self
    }

    /// The longest delay.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.backoff = self.backoff.max_delay(delay);
        self
    }

    /// The factor between consecutive delays.
    #[must_use]
    pub fn backoff_rate(mut self, rate: f64) -> Self {
        self.backoff = self.backoff.rate(rate);
        self
    }

    /// How the delay is randomized.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.backoff = self.backoff.jitter(jitter);
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
}

/// A retry or poll delay as the service takes it: whole seconds, rounded up,
/// at least [`MIN_RETRY_DELAY_SECONDS`].
pub(crate) fn delay_seconds(delay: Duration) -> i32 {
    whole_seconds(delay).max(MIN_RETRY_DELAY_SECONDS)
}

/// Rounds a duration up to whole seconds, at least one (the callbacks'
/// timeouts, where zero would mean none, and the delays), at most `i32::MAX`.
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
        RetryDecision::RetryAfter(self.backoff.delay(attempt))
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
    fn backoff_grows_caps_rounds_up_and_jitters_within_its_bounds() {
        let secs = |b: Backoff, attempt| b.delay(attempt).as_secs();
        let exact = Backoff::exponential(Duration::from_secs(2), 3.0, Duration::from_secs(10))
            .jitter(Jitter::None);
        assert_eq!(
            (1..=4).map(|n| secs(exact, n)).collect::<Vec<_>>(),
            [2, 6, 10, 10]
        );
        // Attempt 0 counts as the first.
        assert_eq!(secs(exact, 0), 2);
        // ×1.5 from 5 s: 5, 7.5 and 11.25 round up.
        let wait = Backoff::exponential(Duration::from_secs(5), 1.5, Duration::from_secs(300))
            .jitter(Jitter::None);
        assert_eq!(
            (1..=3).map(|n| secs(wait, n)).collect::<Vec<_>>(),
            [5, 8, 12]
        );
        let linear = Backoff::linear(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(3),
        );
        assert_eq!(
            (1..=5).map(|n| secs(linear, n)).collect::<Vec<_>>(),
            [1, 2, 3, 3, 3]
        );
        // Sub-second delays, and a zero delay, are one second.
        let tiny = exact.initial_delay(Duration::from_millis(10));
        assert_eq!(secs(tiny, 1), 1);
        assert_eq!(secs(tiny.initial_delay(Duration::ZERO), 1), 1);
        // A rate that is not finite and positive means no growth.
        for rate in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(secs(exact.rate(rate), 3), 2, "rate {rate}");
        }
        // A growth past any Duration stops at the cap; a cap past what the
        // wire carries is the wire's longest delay.
        assert_eq!(secs(exact, u32::MAX), 10);
        let huge = exact.max_delay(Duration::MAX);
        assert_eq!(secs(huge, u32::MAX), u64::try_from(i32::MAX).unwrap());
        // Full jitter: 1..=base; half: base/2..=base.
        let full = exact.jitter(Jitter::Full);
        let half = exact.jitter(Jitter::Half);
        for _ in 0..200 {
            assert!((1..=6).contains(&secs(full, 2)));
            assert!((3..=6).contains(&secs(half, 2)));
        }
        assert_eq!(
            Backoff::exponential(Duration::ZERO, 2.0, Duration::ZERO).jitter,
            Jitter::Full
        );
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
