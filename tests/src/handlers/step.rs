//! `shared/conformance/step`: steps, retries, semantics, serdes, loggers.

use std::time::Duration;

use durable_core::{
    DurableContext, ErrorObject, Jitter, RetryDecision, RetryPolicy, StepContext, StepError,
    StepSemantics,
};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, UppercaseSerdes, crash, handler, text};

/// The handlers of the step suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("1-1", h1_1),
    ("1-2", h1_2),
    ("1-3", h1_3),
    ("1-4", h1_4),
    ("1-5", h1_5),
    ("1-6", h1_6),
    ("1-7", h1_7),
    ("1-8", h1_8),
    ("1-9", h1_9),
    ("1-10", h1_10),
    ("1-11", h1_11),
    ("1-12", h1_12),
    ("1-13", h1_13),
    ("1-14", h1_14),
    ("1-15", h1_15),
    ("1-16", h1_16),
    ("1-17", h1_17),
    ("1-18", h1_18),
    ("1-19", h1_19),
    ("1-20", h1_20),
];

/// 1.1: a single step returning a greeting.
fn h1_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = text(&event);
        let greeting: String = ctx
            .step(|_: StepContext| async move { Ok::<_, StepError>(format!("Hello, {name}!")) })
            .await?;
        Ok(json!(greeting))
    })
}

/// 1.2: the same step, named `custom_step_name`.
fn h1_2() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = text(&event);
        let greeting: String = ctx
            .step(|_: StepContext| async move { Ok::<_, StepError>(format!("Hello, {name}!")) })
            .name("custom_step_name")
            .await?;
        Ok(json!(greeting))
    })
}

/// 1.3: two steps, the second using the first's result.
fn h1_3() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let first: String = ctx
            .step(|_: StepContext| async { Ok::<_, StepError>("first".to_owned()) })
            .await?;
        let second: String = ctx
            .step(|_: StepContext| async move { Ok::<_, StepError>(format!("{first}_second")) })
            .await?;
        Ok(json!(second))
    })
}

/// 1.4: a step returning a nested object built from the input.
fn h1_4() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let response: Value = ctx
            .step(|_: StepContext| async move {
                let tags = event.get("tags").cloned().unwrap_or_else(|| json!([]));
                let count = tags.as_array().map_or(0, Vec::len);
                Ok::<_, StepError>(json!({
                    "user": {"name": event.get("name").cloned().unwrap_or(Value::Null), "tags": tags},
                    "count": count,
                }))
            })
            .await?;
        Ok(response)
    })
}

/// 1.5: a step that does nothing and returns null.
fn h1_5() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let nothing: Value = ctx
            .step(|_: StepContext| async { Ok::<_, StepError>(Value::Null) })
            .await?;
        Ok(nothing)
    })
}

/// 1.6: a step returning its input, with a serdes that uppercases on write.
fn h1_6() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .step(|_: StepContext| async move { Ok::<_, StepError>(input) })
            .serdes(UppercaseSerdes)
            .await?;
        Ok(json!(value))
    })
}

/// 1.7: a step logging through its step logger.
fn h1_7() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = text(&event);
        let greeting: String = ctx
            .step(|step: StepContext| async move {
                step.logger()
                    .info(format!("Greeting step started for: {name}"));
                let greeting = format!("Hello, {name}!");
                step.logger()
                    .info(format!("Greeting step completed with: {greeting}"));
                Ok::<_, StepError>(greeting)
            })
            .await?;
        Ok(json!(greeting))
    })
}

/// 1.8: a step, then a 2 s wait; replay skips the step.
fn h1_8() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|_: StepContext| async { Ok::<_, StepError>("computed".to_owned()) })
            .await?;
        ctx.wait(Duration::from_secs(2)).await;
        Ok(json!(value))
    })
}

/// 1.9: a step that logs "step executed", then a 1 s wait.
fn h1_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|step: StepContext| async move {
                step.logger().info("step executed");
                Ok::<_, StepError>("cached_value".to_owned())
            })
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!(value))
    })
}

/// 1.10: a step that logs "step executed" and fails without retry, caught;
/// then a 1 s wait. On replay the recorded error is returned again without
/// running the step.
fn h1_10() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let outcome: Result<String, StepError> = ctx
            .step(|step: StepContext| async move {
                step.logger().info("step executed");
                Err::<String, _>(StepError::new("the step fails permanently"))
            })
            .retry(RetryPolicy::none())
            .await;
        if let Err(error) = &outcome {
            ctx.logger()
                .info(format!("caught the step's error: {}", error.message()));
        }
        ctx.wait(Duration::from_secs(1)).await;
        Ok(Value::Null)
    })
}

/// 1.11: fails on attempt 1, succeeds on attempt 2 (1 s retry delay).
fn h1_11() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|step: StepContext| async move {
                if step.attempt() == 1 {
                    return Err(StepError::new("transient failure on the first attempt"));
                }
                Ok("Operation succeeded".to_owned())
            })
            .retry(
                RetryPolicy::exponential()
                    .max_attempts(3)
                    .initial_delay(Duration::from_secs(1))
                    .jitter(Jitter::None),
            )
            .await?;
        Ok(json!(value))
    })
}

/// 1.12: always fails; 4 attempts, 1 s between them.
fn h1_12() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|step: StepContext| async move {
                Err::<String, _>(StepError::new(format!(
                    "attempt {} always fails",
                    step.attempt()
                )))
            })
            .retry(
                RetryPolicy::exponential()
                    .max_attempts(4)
                    .initial_delay(Duration::from_secs(1))
                    .backoff_rate(1.0)
                    .jitter(Jitter::None),
            )
            .await?;
        Ok(json!(value))
    })
}

/// 1.13: fails twice, succeeds on attempt 3, default retry strategy.
fn h1_13() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|step: StepContext| async move {
                if step.attempt() < 3 {
                    return Err(StepError::new(format!("attempt {} fails", step.attempt())));
                }
                Ok("succeeded on the third attempt".to_owned())
            })
            .await?;
        Ok(json!(value))
    })
}

/// 1.14: fails twice; 5 attempts, 2 s initial delay, ×3, no jitter.
fn h1_14() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|step: StepContext| async move {
                if step.attempt() < 3 {
                    return Err(StepError::new(format!("attempt {} fails", step.attempt())));
                }
                Ok("succeeded after backoff".to_owned())
            })
            .retry(
                RetryPolicy::exponential()
                    .max_attempts(5)
                    .initial_delay(Duration::from_secs(2))
                    .backoff_rate(3.0)
                    .jitter(Jitter::None),
            )
            .await?;
        Ok(json!(value))
    })
}

/// 1.15: throws a `TransientError` on attempt 1; the strategy retries (1 s)
/// only errors of that type.
fn h1_15() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let retry_on_transient = |error: &ErrorObject, attempt: u32| {
            let transient = error
                .error_type
                .as_deref()
                .is_some_and(|t| t.ends_with("TransientError"));
            if transient && attempt < 3 {
                RetryDecision::RetryAfter(Duration::from_secs(1))
            } else {
                RetryDecision::Stop
            }
        };
        let value: String = ctx
            .step(|step: StepContext| async move {
                if step.attempt() == 1 {
                    return Err(StepError::new("a transient condition").with_type("TransientError"));
                }
                Ok("succeeded after a transient error".to_owned())
            })
            .retry(retry_on_transient)
            .await?;
        Ok(json!(value))
    })
}

/// 1.16: throws a `TransientError`, which the strategy does not retry.
fn h1_16() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let no_retry_on_transient_error = |error: &ErrorObject, attempt: u32| {
            let transient = error
                .error_type
                .as_deref()
                .is_some_and(|t| t.ends_with("TransientError"));
            if transient || attempt >= 3 {
                RetryDecision::Stop
            } else {
                RetryDecision::RetryAfter(Duration::from_secs(1))
            }
        };
        let value: String = ctx
            .step(|_: StepContext| async {
                Err::<String, _>(
                    StepError::new("a transient condition").with_type("TransientError"),
                )
            })
            .retry(no_retry_on_transient_error)
            .await?;
        Ok(json!(value))
    })
}

/// 1.17: at-most-once, no retry; the body logs the input and crashes.
fn h1_17() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .step(|step: StepContext| async move {
                step.logger()
                    .info(format!("at-most-once step running for {input}"));
                crash::<Result<String, StepError>>().await
            })
            .name("at_most_once_flaky_step")
            .semantics(StepSemantics::AtMostOncePerRetry)
            .retry(RetryPolicy::none())
            .await?;
        Ok(json!(value))
    })
}

/// 1.18: at-most-once with retry; crashes on attempt 1, succeeds on 2.
fn h1_18() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .step(|step: StepContext| async move {
                step.logger().info(format!(
                    "at-most-once step attempt {} running for {input}",
                    step.attempt()
                ));
                if step.attempt() == 1 {
                    crash::<()>().await;
                }
                Ok::<_, StepError>("succeeded on second attempt".to_owned())
            })
            .semantics(StepSemantics::AtMostOncePerRetry)
            .retry(
                RetryPolicy::exponential()
                    .max_attempts(3)
                    .initial_delay(Duration::from_secs(1))
                    .jitter(Jitter::None),
            )
            .await?;
        Ok(json!(value))
    })
}

/// 1.19: always fails, no retries.
fn h1_19() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .step(|_: StepContext| async {
                Err::<String, _>(StepError::new("the step always fails"))
            })
            .retry(RetryPolicy::none())
            .await?;
        Ok(json!(value))
    })
}

/// 1.20: a failing step (no retry) caught by the handler, which continues
/// with a fallback value that a second step returns.
fn h1_20() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let fallback = match ctx
            .step(|_: StepContext| async { Err::<String, _>(StepError::new("the step fails")) })
            .retry(RetryPolicy::none())
            .await
        {
            Ok(value) => value,
            Err(_) => "fallback_result".to_owned(),
        };
        let value: String = ctx
            .step(|_: StepContext| async move { Ok::<_, StepError>(fallback) })
            .await?;
        Ok(json!(value))
    })
}
