//! `shared/conformance/child`: child contexts.
//!
//! Where a file expects the context's `Name` (`Name: ${NAME1}`, which only
//! binds to a present key), the handler names the context; Rust closures have
//! no function name for the SDK to default to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use durable_core::{DurableContext, Jitter, RetryPolicy, StepContext, StepError};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, UppercaseSerdes, crash, handler, text};

/// The handlers of the child suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("3-1", h3_1),
    ("3-2", h3_2),
    ("3-3", h3_3),
    ("3-4", h3_4),
    ("3-5", h3_5),
    ("3-6", h3_6),
    ("3-7", h3_7),
    ("3-8", h3_8),
    ("3-9", h3_9),
    ("3-10", h3_10),
    ("3-11", h3_11),
    ("3-12", h3_12),
    ("3-13", h3_13),
    ("3-14", h3_14),
    ("3-15", h3_15),
    ("3-16", h3_16),
    ("3-17", h3_17),
    ("3-18", h3_18),
];

/// A step that returns `value`.
async fn echo_step(ctx: &DurableContext, value: String) -> Result<String, StepError> {
    ctx.step(|_: StepContext| async move { Ok::<_, StepError>(value) })
        .await
}

/// 3.1: a child context with one step returning the input.
fn h3_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(
                |child: DurableContext| async move { echo_step(&child, input).await },
            )
            .await?;
        Ok(json!(value))
    })
}

/// 3.2: a child context named by `input.name`, its step returning
/// `input.value`.
fn h3_2() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = event.get("name").map(text).unwrap_or_default();
        let value = event.get("value").map(text).unwrap_or_default();
        let value: String = ctx
            .run_in_child_context(
                |child: DurableContext| async move { echo_step(&child, value).await },
            )
            .name(name)
            .await?;
        Ok(json!(value))
    })
}

/// 3.3: a child context with two sequential steps.
fn h3_3() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                let first = echo_step(&child, input).await?;
                echo_step(&child, first).await
            })
            .name("two_steps")
            .await?;
        Ok(json!(value))
    })
}

/// 3.4: a child context whose step fails without retry; the execution fails.
fn h3_4() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .step(|_: StepContext| async {
                        Err::<String, _>(StepError::new("the step inside the child fails"))
                    })
                    .retry(RetryPolicy::none())
                    .await
            })
            .name("failing_child")
            .await?;
        Ok(json!(value))
    })
}

/// 3.5: a child whose step fails without retry, caught by the handler,
/// which then runs a recovery step returning the input.
fn h3_5() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let outcome: Result<String, StepError> = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .step(|_: StepContext| async {
                        Err::<String, _>(StepError::new("the step inside the child fails"))
                    })
                    .retry(RetryPolicy::none())
                    .await
            })
            .await;
        if let Err(error) = &outcome {
            ctx.logger()
                .info(format!("caught the child's error: {}", error.message()));
        }
        let value = echo_step(&ctx, input).await?;
        Ok(json!(value))
    })
}

/// 3.6: an outer child with a step and an inner child with a step.
fn h3_6() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(|outer: DurableContext| async move {
                let first = echo_step(&outer, input).await?;
                outer
                    .run_in_child_context(|inner: DurableContext| async move {
                        echo_step(&inner, first).await
                    })
                    .name("inner_child")
                    .await
            })
            .name("outer_child")
            .await?;
        Ok(json!(value))
    })
}

/// 3.7: a child whose step fails once, then succeeds on retry.
fn h3_7() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .step(|step: StepContext| async move {
                        if step.attempt() == 1 {
                            return Err(StepError::new("first attempt fails"));
                        }
                        Ok(input)
                    })
                    .retry(
                        RetryPolicy::exponential()
                            .max_attempts(3)
                            .initial_delay(Duration::from_secs(1))
                            .jitter(Jitter::None),
                    )
                    .await
            })
            .name("retrying_child")
            .await?;
        Ok(json!(value))
    })
}

/// 3.8: a child whose step always fails (2 attempts); the child fails.
fn h3_8() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .step(|step: StepContext| async move {
                        Err::<String, _>(StepError::new(format!(
                            "attempt {} always fails",
                            step.attempt()
                        )))
                    })
                    .retry(
                        RetryPolicy::exponential()
                            .max_attempts(2)
                            .initial_delay(Duration::from_secs(1))
                            .jitter(Jitter::None),
                    )
                    .await
            })
            .name("exhausted_child")
            .await?;
        Ok(json!(value))
    })
}

/// 3.9: a child with a step, then a wait; replay returns the cached result.
fn h3_9() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(
                |child: DurableContext| async move { echo_step(&child, input).await },
            )
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!(value))
    })
}

/// 3.10: a child with a step returning the input, then a 1 s wait; the
/// child returns the input.
fn h3_10() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                let value = echo_step(&child, input).await?;
                child.wait(Duration::from_secs(1)).await;
                Ok::<_, StepError>(value)
            })
            .name("step_then_wait_child")
            .await?;
        Ok(json!(value))
    })
}

/// The size of 3.11's child result: over the 256 KiB inline limit.
pub const LARGE_RESULT_BYTES: usize = 300 * 1024;

/// 3.11: a child that logs the input (also during replay), runs a small
/// step and returns a > 256 KiB string; then a wait.
fn h3_11() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let large: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .logger()
                    .during_replay()
                    .info(format!("building a large result for {input}"));
                let small = echo_step(&child, input).await?;
                let mut large = String::with_capacity(LARGE_RESULT_BYTES + small.len());
                while large.len() < LARGE_RESULT_BYTES {
                    large.push_str(&small);
                    large.push('-');
                }
                Ok::<_, StepError>(large)
            })
            .name("large_result_child")
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!({"length": large.len(), "large": large.len() > 256 * 1024}))
    })
}

/// 3.12: a child whose step crashes the process once, after its START was
/// queued; the next invocation runs the step again.
fn h3_12() -> Handler {
    let crashes = Arc::new(AtomicUsize::new(0));
    handler(move |event: Value, ctx: DurableContext| {
        let crashes = crashes.clone();
        async move {
            let input = text(&event);
            let value: String = ctx
                .run_in_child_context(|child: DurableContext| async move {
                    child
                        .step(|_: StepContext| async move {
                            if crashes.fetch_add(1, Ordering::SeqCst) == 0 {
                                crash::<()>().await;
                            }
                            Ok::<_, StepError>(input)
                        })
                        .await
                })
                .await?;
            Ok(json!(value))
        }
    })
}

/// 3.13: a child with only a wait, then a step outside it.
fn h3_13() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let from_child: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child.wait(Duration::from_secs(1)).await;
                Ok::<_, StepError>(input)
            })
            .name("waiting_child")
            .await?;
        let value = echo_step(&ctx, from_child).await?;
        Ok(json!(value))
    })
}

/// 3.14: a child with a serdes that uppercases its result on write.
fn h3_14() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(
                |child: DurableContext| async move { echo_step(&child, input).await },
            )
            .name("uppercase_child")
            .serdes(UppercaseSerdes)
            .await?;
        Ok(json!(value))
    })
}

/// 3.15: a child whose body fails directly, without any operation; the
/// execution fails.
fn h3_15() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: String = ctx
            .run_in_child_context(|_child: DurableContext| async {
                Err::<String, _>(StepError::new("the child body fails directly"))
            })
            .name("directly_failing_child")
            .await?;
        Ok(json!(value))
    })
}

/// 3.16: a child that returns null without any operation.
fn h3_16() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let value: Value = ctx
            .run_in_child_context(|_child: DurableContext| async {
                Ok::<_, StepError>(Value::Null)
            })
            .name("null_child")
            .await?;
        Ok(value)
    })
}

/// 3.17: a child that only logs (also during replay) and returns the input;
/// then a wait. The child must not run again on replay.
fn h3_17() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let value: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                child
                    .logger()
                    .during_replay()
                    .info(format!("child context running for {input}"));
                Ok::<_, StepError>(input)
            })
            .name("logging_child")
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!(value))
    })
}

/// 3.18: a child with a step and a wait, then a step and a wait outside.
fn h3_18() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let input = text(&event);
        let from_child: String = ctx
            .run_in_child_context(|child: DurableContext| async move {
                let value = echo_step(&child, input).await?;
                child.wait(Duration::from_secs(1)).await;
                Ok::<_, StepError>(value)
            })
            .name("step_and_wait_child")
            .await?;
        let value = echo_step(&ctx, from_child).await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!(value))
    })
}
