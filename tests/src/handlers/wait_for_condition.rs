//! `shared/conformance/wait_for_condition`: polling a check function with
//! its state carried across suspensions.

use std::time::Duration;

use durable_core::{
    DurableContext, FnSerdes, Jitter, StepContext, StepError, WaitDecision, WaitStrategy,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler};

/// The handlers of the wait_for_condition suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("6-1", h6_1),
    ("6-2", h6_2),
    ("6-3", h6_3),
    ("6-4", h6_4),
    ("6-5", h6_5),
    ("6-6", h6_6),
    ("6-7", h6_7),
    ("6-8", h6_8),
    ("6-9", h6_9),
    ("6-10", h6_10),
    ("6-11", h6_11),
    ("6-12", h6_12),
    ("6-13", h6_13),
];

/// The delay between polls.
const POLL: Duration = Duration::from_secs(1);

/// The input as a number (null: 0).
fn number(event: &Value) -> i64 {
    event.as_i64().unwrap_or(0)
}

/// A check that adds one to the state.
async fn increment(state: i64, _step: StepContext) -> Result<i64, StepError> {
    Ok(state + 1)
}

/// A strategy polling every second until the state reaches `threshold`.
fn until_at_least(threshold: i64) -> impl Fn(&i64, u32) -> WaitDecision + Send + Sync {
    move |state: &i64, _attempt: u32| {
        if *state >= threshold {
            WaitDecision::Done
        } else {
            WaitDecision::WaitAgain(POLL)
        }
    }
}

/// Counts from `from` up to `to`, one poll a check.
async fn count_up(ctx: &DurableContext, from: i64, to: i64) -> Result<i64, StepError> {
    ctx.wait_for_condition(increment, from, until_at_least(to))
        .await
}

/// 6.1: counts from 0 to the input (3).
fn h6_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let last = count_up(&ctx, 0, number(&event)).await?;
        Ok(json!(last))
    })
}

/// 6.2: initial state 5, unchanged by the check; already done on the first
/// check.
fn h6_2() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let threshold = number(&event);
        let last = ctx
            .wait_for_condition(
                |state: i64, _step: StepContext| async move { Ok::<_, StepError>(state) },
                5,
                until_at_least(threshold),
            )
            .await?;
        Ok(json!(last))
    })
}

/// 6.3: counts from 0 to the input (2), named `poll-status`.
fn h6_3() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let last = ctx
            .wait_for_condition(increment, 0, until_at_least(number(&event)))
            .name("poll-status")
            .await?;
        Ok(json!(last))
    })
}

/// 6.4: counts from an initial state of 5 to the input (8).
fn h6_4() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let last = count_up(&ctx, 5, number(&event)).await?;
        Ok(json!(last))
    })
}

/// 6.5: counts from 0 to the input (3) with a fixed 2 s delay between
/// checks (no backoff, no jitter).
fn h6_5() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        const FIXED: Duration = Duration::from_secs(2);
        let threshold = number(&event);
        let strategy = WaitStrategy::until(move |state: &i64| *state >= threshold)
            .initial_delay(FIXED)
            .max_delay(FIXED)
            .backoff_rate(1.0)
            .jitter(Jitter::None);
        let last = ctx.wait_for_condition(increment, 0, strategy).await?;
        Ok(json!(last))
    })
}

/// 6.6: a fixed-delay strategy of at most 3 attempts whose condition never
/// holds; the third check gives up and the execution fails.
fn h6_6() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let strategy = WaitStrategy::until(|_: &i64| false)
            .max_attempts(3)
            .initial_delay(POLL)
            .max_delay(POLL)
            .backoff_rate(1.0)
            .jitter(Jitter::None);
        let last = ctx
            .wait_for_condition(increment, number(&event), strategy)
            .await?;
        Ok(json!(last))
    })
}

/// A check that fails at once.
async fn broken_check(_state: i64, _step: StepContext) -> Result<i64, StepError> {
    Err(StepError::new("the status endpoint is unreachable").with_type("CheckError"))
}

/// 6.7: the check fails on its first call; not caught.
fn h6_7() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let last = ctx
            .wait_for_condition(broken_check, 0, until_at_least(1))
            .await?;
        Ok(json!(last))
    })
}

/// 6.8: the check fails on its first call; caught, returns `recovered`.
fn h6_8() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let outcome = ctx
            .wait_for_condition(broken_check, 0, until_at_least(1))
            .await;
        Ok(match outcome {
            Ok(last) => json!(last),
            Err(_) => json!("recovered"),
        })
    })
}

/// 6.9's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    status: String,
    attempts: u32,
}

/// 6.9: an object state; done once `status` is `DONE` (after 2 attempts).
fn h6_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let initial = Job {
            status: "PENDING".into(),
            attempts: 0,
        };
        let done = ctx
            .wait_for_condition(
                |mut job: Job, _step: StepContext| async move {
                    job.attempts += 1;
                    if job.attempts >= 2 {
                        job.status = "DONE".into();
                    }
                    Ok::<_, StepError>(job)
                },
                initial,
                |job: &Job, _attempt: u32| {
                    if job.status == "PENDING" {
                        WaitDecision::WaitAgain(POLL)
                    } else {
                        WaitDecision::Done
                    }
                },
            )
            .await?;
        Ok(json!(done))
    })
}

/// 6.10: a check returning null; the strategy stops at the first check.
fn h6_10() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let last = ctx
            .wait_for_condition(
                |_state: Value, _step: StepContext| async { Ok::<_, StepError>(Value::Null) },
                Value::Null,
                |_state: &Value, _attempt: u32| WaitDecision::Done,
            )
            .await?;
        Ok(last)
    })
}

/// 6.11: a string state with a custom serdes (`enc:` + the text reversed);
/// the check appends `x` until the state is 2 characters long.
fn h6_11() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let serdes = FnSerdes::new(
            |state: &String| Ok(format!("enc:{}", state.chars().rev().collect::<String>())),
            |payload: Option<&str>| {
                let payload = payload.unwrap_or_default();
                payload
                    .strip_prefix("enc:")
                    .map(|text| text.chars().rev().collect::<String>())
                    .ok_or_else(|| format!("not an encoded state: {payload:?}"))
            },
        );
        let last = ctx
            .wait_for_condition(
                |state: String, _step: StepContext| async move {
                    Ok::<_, StepError>(format!("{state}x"))
                },
                String::new(),
                |state: &String, _attempt: u32| {
                    if state.len() >= 2 {
                        WaitDecision::Done
                    } else {
                        WaitDecision::WaitAgain(POLL)
                    }
                },
            )
            .serdes(serdes)
            .await?;
        Ok(json!(last))
    })
}

/// 6.12: counts from 0 to the input (2), then a step multiplies it by 10.
fn h6_12() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let last = count_up(&ctx, 0, number(&event)).await?;
        let times_ten: i64 = ctx
            .step(move |_: StepContext| async move { Ok::<_, StepError>(last * 10) })
            .await?;
        Ok(json!(times_ten))
    })
}

/// 6.13: counts 0 → 2, then 2 → 4 in a second operation.
fn h6_13() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let first = count_up(&ctx, 0, 2).await?;
        let second = count_up(&ctx, first, 4).await?;
        Ok(json!(second))
    })
}
