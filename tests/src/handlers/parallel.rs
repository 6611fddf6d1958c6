//! `shared/conformance/parallel`: parallel branches, each in a child
//! context (or a virtual one with FLAT nesting), with completion policies.
//!
//! Branches that "raise" return a `StepError`; handlers that "rethrow" call
//! [`BatchResult::into_result`](durable_core::BatchResult::into_result) and
//! let `?` carry the first branch error out of the handler.

use std::time::Duration;

use durable_core::{
    Branch, CompletionConfig, DurableContext, Nesting, Serdes, SerdesContext, StepContext,
    StepError,
};
use serde_json::{Value, json};

use super::map::{projection, reason};
use super::{Handler, MakeHandler, handler};

/// The handlers of the parallel suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("8-1", h8_1),
    ("8-2", h8_2),
    ("8-3", h8_3),
    ("8-4", h8_4),
    ("8-5", h8_5),
    ("8-6", h8_6),
    ("8-7", h8_7),
    ("8-8", h8_8),
    ("8-9", h8_9),
    ("8-10", h8_10),
    ("8-11", h8_11),
    ("8-12", h8_12),
    ("8-13", h8_13),
    ("8-14", h8_14),
    ("8-15", h8_15),
    ("8-16", h8_16),
    ("8-17", h8_17),
    ("8-18", h8_18),
    ("8-19", h8_19),
    ("8-20", h8_20),
    ("8-21", h8_21),
    ("8-22", h8_22),
];

type StringBranch = Branch<'static, String, StepError>;

/// A branch that returns `value` directly.
fn returns(value: &str) -> StringBranch {
    let value = value.to_owned();
    Branch::new(move |_: DurableContext| async move { Ok::<_, StepError>(value) })
}

/// A branch that fails.
fn fails(index: usize) -> StringBranch {
    Branch::new(move |_: DurableContext| async move {
        Err::<String, _>(StepError::new(format!("branch {index} fails")))
    })
}

/// A branch that runs one step returning `value`.
fn step_returning(value: &str) -> StringBranch {
    let value = value.to_owned();
    Branch::new(move |branch: DurableContext| async move {
        branch
            .step(|_: StepContext| async move { Ok::<_, StepError>(value) })
            .await
    })
}

/// Branch `i` fails when `fail(i)`, else returns `"b<i>"`.
fn branches(count: usize, fail: impl Fn(usize) -> bool) -> Vec<StringBranch> {
    (0..count)
        .map(|i| {
            if fail(i) {
                fails(i)
            } else {
                returns(&format!("b{i}"))
            }
        })
        .collect()
}

/// 8.1: two branches, each one step.
fn h8_1() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![step_returning("task-1"), step_returning("task-2")])
            .name("parallel")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.2: no name; two branches returning directly.
fn h8_2() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![returns("alpha"), returns("beta")])
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.3: named branches `first` and `second`.
fn h8_3() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![
                Branch::named("first", |_: DurableContext| async {
                    Ok::<_, StepError>("one".to_owned())
                }),
                Branch::named("second", |_: DurableContext| async {
                    Ok::<_, StepError>("two".to_owned())
                }),
            ])
            .name("named")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.4: a string, a number and an object.
fn h8_4() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![
                Branch::new(|_: DurableContext| async { Ok::<_, StepError>(json!("hello")) }),
                Branch::new(|_: DurableContext| async { Ok::<_, StepError>(json!(42)) }),
                Branch::new(|_: DurableContext| async { Ok::<_, StepError>(json!({"k": "v"})) }),
            ])
            .name("hetero")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.5: no branches at all.
fn h8_5() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(Vec::<StringBranch>::new())
            .name("empty")
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.6: fail-fast; branch 0 returns `ok`, branch 1 fails, branch 2 never
/// starts.
fn h8_6() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![returns("ok"), fails(1), returns("never")])
            .name("failfast")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(0))
            .await?;
        Ok(projection(&batch))
    })
}

/// 8.7: fail-fast; branch 0 fails; the handler rethrows.
fn h8_7() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![fails(0), returns("never")])
            .name("throwing")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(0))
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.8: min-successful 2 of four branches.
fn h8_8() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(4, |_| false))
            .name("min-successful")
            .max_concurrency(1)
            .completion(CompletionConfig::default().min_successful(2))
            .await?;
        Ok(json!({
            "completionReason": reason(batch.completion_reason()),
            "successCount": batch.success_count(),
            "totalCount": batch.total_count(),
        }))
    })
}

/// 8.9: one tolerated failure (branch 1); every branch runs.
fn h8_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(3, |i| i == 1))
            .name("tolerated")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(1))
            .await?;
        Ok(projection(&batch))
    })
}

/// 8.10: one tolerated failure; branches 0 and 1 fail, branch 2 never
/// starts.
fn h8_10() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(3, |i| i < 2))
            .name("tolerated-exceeded")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(1))
            .await?;
        Ok(json!({
            "completionReason": reason(batch.completion_reason()),
            "successCount": batch.success_count(),
            "failureCount": batch.failure_count(),
            "totalCount": batch.total_count(),
        }))
    })
}

/// 8.11: three branches at concurrency 2; results in index order. Branch 0
/// yields longest, so the branches finish in reverse order.
fn h8_11() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let all = (0..3usize)
            .map(|i| {
                Branch::new(move |_: DurableContext| async move {
                    for _ in 0..(3 - i) * 4 {
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, StepError>(format!("r{i}"))
                })
            })
            .collect();
        let batch = ctx
            .parallel(all)
            .name("concurrent")
            .max_concurrency(2)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.12: FLAT nesting; each branch's step sits directly under the parallel.
fn h8_12() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![step_returning("fa"), step_returning("fb")])
            .name("flat")
            .max_concurrency(1)
            .nesting(Nesting::Flat)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.13: tolerated failure percentage 25 of four; branches 0 and 1 fail.
fn h8_13() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(4, |i| i < 2))
            .name("tolerated-pct")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_percentage(25.0))
            .await?;
        Ok(json!({
            "completionReason": reason(batch.completion_reason()),
            "successCount": batch.success_count(),
            "failureCount": batch.failure_count(),
            "totalCount": batch.total_count(),
        }))
    })
}

/// 8.14: branch 0 runs a step; branch 1 waits 2 s, then returns.
fn h8_14() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![
                step_returning("b0"),
                Branch::new(|branch: DurableContext| async move {
                    branch.wait(Duration::from_secs(2)).await;
                    Ok::<_, StepError>("b1".to_owned())
                }),
            ])
            .name("replay")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.15's branch serdes: writes `v` as the JSON envelope `{"wrapped": v}`
/// and reads `v` back out of it.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvelopeSerdes;

impl Serdes<String> for EnvelopeSerdes {
    fn serialize(&self, value: &String, _cx: SerdesContext<'_>) -> Result<String, String> {
        Ok(json!({ "wrapped": value }).to_string())
    }

    fn deserialize(&self, payload: Option<&str>, _cx: SerdesContext<'_>) -> Result<String, String> {
        let payload = payload.unwrap_or_default();
        let envelope: Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        envelope
            .get("wrapped")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{payload:?} is not a wrapped string"))
    }
}

/// 8.15: two branches returning "x" and "y", through [`EnvelopeSerdes`].
fn h8_15() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![returns("x"), returns("y")])
            .name("serde")
            .max_concurrency(1)
            .item_serdes(EnvelopeSerdes)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.16: every branch fails; three failures tolerated.
fn h8_16() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(3, |_| true))
            .name("all-fail")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(3))
            .await?;
        Ok(projection(&batch))
    })
}

/// 8.17: min-successful 3, never reached (branch 1 fails).
fn h8_17() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(3, |i| i == 1))
            .name("min-not-reached")
            .max_concurrency(1)
            .completion(CompletionConfig::default().min_successful(3))
            .await?;
        Ok(projection(&batch))
    })
}

/// 8.18: min-successful 3 and one tolerated failure; branches 0 and 1 fail.
fn h8_18() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(4, |i| i < 2))
            .name("combined")
            .max_concurrency(1)
            .completion(
                CompletionConfig::default()
                    .min_successful(3)
                    .tolerated_failure_count(1),
            )
            .await?;
        Ok(json!({
            "completionReason": reason(batch.completion_reason()),
            "successCount": batch.success_count(),
            "failureCount": batch.failure_count(),
            "totalCount": batch.total_count(),
        }))
    })
}

/// 8.19: max-concurrency 0 is a validation error.
fn h8_19() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![returns("b0"), returns("b1")])
            .name("bad-concurrency")
            .max_concurrency(0)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 8.20: one tolerated failure; branch 1 fails, branches 0 and 2 succeed;
/// the projection comes from the batch's accessors.
fn h8_20() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(3, |i| i == 1))
            .name("accessors")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(1))
            .await?;
        let errors: Vec<&StepError> = batch
            .failed()
            .filter_map(|item| item.error.as_ref())
            .collect();
        Ok(json!({
            "hasFailure": batch.has_failure(),
            "successCount": batch.succeeded().count(),
            "failureCount": batch.failed().count(),
            "errorCount": errors.len(),
        }))
    })
}

/// 8.21: one outer branch running an inner parallel of two steps.
fn h8_21() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let outer = ctx
            .parallel(vec![Branch::new(|branch: DurableContext| async move {
                let inner = branch
                    .parallel(vec![step_returning("i1"), step_returning("i2")])
                    .name("inner")
                    .max_concurrency(1)
                    .await?;
                Ok::<_, durable_core::DurableError>(inner.into_result()?)
            })])
            .name("outer")
            .max_concurrency(1)
            .await?;
        Ok(json!(outer.into_result()?))
    })
}

/// 8.22: tolerated failure percentage 25 of four; only branch 0 fails
/// (exactly 25%, not exceeded).
fn h8_22() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(branches(4, |i| i == 0))
            .name("pct-boundary")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_percentage(25.0))
            .await?;
        Ok(projection(&batch))
    })
}
