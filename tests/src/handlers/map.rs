//! `shared/conformance/map`: map over a list, each item in a child context
//! (or a virtual one with FLAT nesting), with completion policies, namers
//! and serdes.
//!
//! Items that "raise" return a `StepError` from the map function; handlers
//! that "rethrow" call [`BatchResult::into_result`] and let `?` carry the
//! first item error out of the handler.

use std::time::Duration;

use durable_core::{
    BatchItem, BatchResult, CompletionConfig, CompletionReason, DurableContext, DurableError,
    ItemStatus, Nesting, Serdes, SerdesContext, StepContext, StepError,
};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler, text};

/// The handlers of the map suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("9-1", h9_1),
    ("9-2", h9_2),
    ("9-3", h9_3),
    ("9-4", h9_4),
    ("9-5", h9_5),
    ("9-6", h9_6),
    ("9-7", h9_7),
    ("9-8", h9_8),
    ("9-9", h9_9),
    ("9-10", h9_10),
    ("9-11", h9_11),
    ("9-12", h9_12),
    ("9-13", h9_13),
    ("9-14", h9_14),
    ("9-15", h9_15),
    ("9-16", h9_16),
    ("9-17", h9_17),
    ("9-18", h9_18),
    ("9-19", h9_19),
    ("9-20", h9_20),
];

/// The input as a list (anything else is an empty list).
fn items(event: &Value) -> Vec<Value> {
    event.as_array().cloned().unwrap_or_default()
}

/// The completion reason as the files spell it (`ALL_COMPLETED`...).
pub fn reason(reason: CompletionReason) -> Value {
    serde_json::to_value(reason).unwrap_or(Value::Null)
}

/// `FAILED` when any item failed, else `SUCCEEDED`.
pub fn status<T, E>(batch: &BatchResult<T, E>) -> &'static str {
    if batch.has_failure() {
        "FAILED"
    } else {
        "SUCCEEDED"
    }
}

/// `{completionReason, status, successCount, failureCount, totalCount}`.
pub fn projection<T, E>(batch: &BatchResult<T, E>) -> Value {
    json!({
        "completionReason": reason(batch.completion_reason()),
        "status": status(batch),
        "successCount": batch.success_count(),
        "failureCount": batch.failure_count(),
        "totalCount": batch.total_count(),
    })
}

/// Item `index` fails when `fails(index)`, else returns `"r<index>"`.
async fn item_or_fail(index: usize, fail: bool) -> Result<String, StepError> {
    if fail {
        Err(StepError::new(format!("item {index} fails")))
    } else {
        Ok(format!("r{index}"))
    }
}

/// 9.1: each item runs one step returning `Hello, <item>!`.
fn h9_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                items(&event),
                |item: DurableContext, value: Value, _index: usize| async move {
                    let name = text(&value);
                    item.step(|_: StepContext| async move {
                        Ok::<_, StepError>(format!("Hello, {name}!"))
                    })
                    .await
                },
            )
            .name("map")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.2: no name; each item doubles its number directly.
fn h9_2() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                items(&event),
                |_item: DurableContext, value: Value, _| async move {
                    Ok::<_, StepError>(value.as_i64().unwrap_or_default() * 2)
                },
            )
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.3: item + index.
fn h9_3() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                items(&event),
                |_item: DurableContext, value: Value, index: usize| async move {
                    let index = i64::try_from(index).unwrap_or_default();
                    Ok::<_, StepError>(value.as_i64().unwrap_or_default() + index)
                },
            )
            .name("indexed")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.4: an empty list.
fn h9_4() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                items(&event),
                |_item: DurableContext, value: Value, _| async move { Ok::<_, StepError>(value) },
            )
            .name("empty")
            .await?;
        assert_eq!(batch.completion_reason(), CompletionReason::AllCompleted);
        assert_eq!(batch.total_count(), 0);
        Ok(json!(batch.into_result()?))
    })
}

/// 9.5: fail-fast (no tolerated failure); item 0 returns "ok", item 1
/// fails, item 2 never starts. The handler does not rethrow.
fn h9_5() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2"],
                |_item: DurableContext, _v: &str, index: usize| async move {
                    if index == 1 {
                        Err(StepError::new("item 1 fails"))
                    } else {
                        Ok("ok".to_owned())
                    }
                },
            )
            .name("failfast")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(0))
            .await?;
        Ok(projection(&batch))
    })
}

/// 9.6: fail-fast; item 0 fails, item 1 never starts; the handler rethrows.
fn h9_6() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1"],
                |_item: DurableContext, _v: &str, index| item_or_fail(index, index == 0),
            )
            .name("throwing")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(0))
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.7: min-successful 2 of four items.
fn h9_7() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2", "i3"],
                |_: DurableContext, _v: &str, index| item_or_fail(index, false),
            )
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

/// 9.8: one tolerated failure (item 1); every item runs.
fn h9_8() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2"],
                |_: DurableContext, _v: &str, index| item_or_fail(index, index == 1),
            )
            .name("tolerated")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(1))
            .await?;
        Ok(projection(&batch))
    })
}

/// 9.9: one tolerated failure; items 0 and 1 fail, item 2 never starts.
fn h9_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2"],
                |_: DurableContext, _v: &str, index| item_or_fail(index, index < 2),
            )
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

/// 9.10: 25 % tolerated failures of four items; items 0 and 1 fail (50 %),
/// items 2 and 3 never start.
fn h9_10() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2", "i3"],
                |_: DurableContext, _v: &str, index| item_or_fail(index, true),
            )
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

/// 9.11: three items at concurrency 2; results in index order. The items
/// finish in reverse order (item 0 yields longest), so a result in
/// completion order would show.
fn h9_11() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["i0", "i1", "i2"],
                |_: DurableContext, _v: &str, index: usize| async move {
                    for _ in 0..(3 - index) * 4 {
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, StepError>(format!("r{index}"))
                },
            )
            .name("concurrent")
            .max_concurrency(2)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.12: FLAT nesting; each item's step sits directly under the map.
fn h9_12() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["fa", "fb"],
                |item: DurableContext, value: &str, _| async move {
                    item.step(
                        move |_: StepContext| async move { Ok::<_, StepError>(value.to_owned()) },
                    )
                    .await
                },
            )
            .name("flat")
            .max_concurrency(1)
            .nesting(Nesting::Flat)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.13: items named `item-<value>` by a namer; each returns value × 10.
fn h9_13() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let values = items(&event);
        let names: Vec<String> = values.iter().map(|v| format!("item-{v}")).collect();
        let batch = ctx
            .map(values, |_: DurableContext, value: Value, _| async move {
                Ok::<_, StepError>(value.as_i64().unwrap_or_default() * 10)
            })
            .name("named-items")
            .max_concurrency(1)
            .item_namer(|index| names[index].clone())
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.14's item serdes: writes `wrapped:<value>` (raw text), reads it back
/// without the prefix.
#[derive(Clone, Copy, Debug, Default)]
pub struct WrappedSerdes;

impl Serdes<String> for WrappedSerdes {
    fn serialize(&self, value: &String, _cx: SerdesContext<'_>) -> Result<String, String> {
        Ok(format!("wrapped:{value}"))
    }

    fn deserialize(&self, payload: Option<&str>, _cx: SerdesContext<'_>) -> Result<String, String> {
        let payload = payload.unwrap_or_default();
        payload
            .strip_prefix("wrapped:")
            .map(str::to_owned)
            .ok_or_else(|| format!("{payload:?} is not wrapped"))
    }
}

/// 9.14: each item returns its value uppercased, through [`WrappedSerdes`].
fn h9_14() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["x", "y"],
                |_: DurableContext, value: &str, _| async move {
                    Ok::<_, StepError>(value.to_uppercase())
                },
            )
            .name("serdes")
            .max_concurrency(1)
            .item_serdes(WrappedSerdes)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.15: iteration 0 runs a step returning "r0"; iteration 1 waits 1 s
/// (suspending the execution mid-map), then runs a step returning "r1".
fn h9_15() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["r0", "r1"],
                |item: DurableContext, value: &str, index: usize| async move {
                    if index == 1 {
                        item.wait(Duration::from_secs(1)).await;
                    }
                    item.step(
                        move |_: StepContext| async move { Ok::<_, StepError>(value.to_owned()) },
                    )
                    .await
                },
            )
            .name("suspend")
            .max_concurrency(1)
            .await?;
        Ok(json!(batch.into_result()?))
    })
}

/// The size of each 9.16 item result: four of them exceed 256 KiB.
pub const LARGE_ITEM_BYTES: usize = 70 * 1024;

/// 9.16: four ~70 KB item results; the map's result is too large to store.
fn h9_16() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec![0u8, 1, 2, 3],
                |_: DurableContext, seed: u8, _| async move {
                    let letter = char::from(b'a' + seed);
                    Ok::<_, StepError>(letter.to_string().repeat(LARGE_ITEM_BYTES))
                },
            )
            .name("large")
            .max_concurrency(1)
            .await?;
        Ok(json!({
            "successCount": batch.success_count(),
            "totalCount": batch.total_count(),
        }))
    })
}

/// 9.17: a map whose items uppercase their value, then a 1 s wait.
fn h9_17() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["a", "b"],
                |_: DurableContext, value: &str, _| async move {
                    Ok::<_, StepError>(value.to_uppercase())
                },
            )
            .name("then-wait")
            .max_concurrency(1)
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(json!(batch.into_result()?))
    })
}

/// 9.18: a map with one tolerated failure (item 1), then a 1 s wait; the
/// handler does not rethrow.
fn h9_18() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["ok", "fail"],
                |_: DurableContext, value: &str, _| async move {
                    if value == "fail" {
                        Err(StepError::new("the item fails"))
                    } else {
                        Ok(value.to_owned())
                    }
                },
            )
            .name("fail-then-wait")
            .max_concurrency(1)
            .completion(CompletionConfig::default().tolerated_failure_count(1))
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        Ok(projection(&batch))
    })
}

/// 9.19's whole-result serdes: `OPSERDE:` and the comma-joined values of
/// the succeeded items; read back as those items, all succeeded.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpSerdes;

impl Serdes<BatchResult<String, StepError>> for OpSerdes {
    fn serialize(
        &self,
        value: &BatchResult<String, StepError>,
        _cx: SerdesContext<'_>,
    ) -> Result<String, String> {
        let values: Vec<&str> = value.results().into_iter().map(String::as_str).collect();
        Ok(format!("OPSERDE:{}", values.join(",")))
    }

    fn deserialize(
        &self,
        payload: Option<&str>,
        _cx: SerdesContext<'_>,
    ) -> Result<BatchResult<String, StepError>, String> {
        let payload = payload.unwrap_or_default();
        let joined = payload
            .strip_prefix("OPSERDE:")
            .ok_or_else(|| format!("{payload:?} is not an OPSERDE payload"))?;
        let items = joined
            .split(',')
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(index, value)| BatchItem {
                index,
                status: ItemStatus::Succeeded,
                result: Some(value.to_owned()),
                error: None,
            })
            .collect();
        Ok(BatchResult::new(items, CompletionReason::AllCompleted))
    }
}

/// 9.19: items uppercase their value; the whole result goes through
/// [`OpSerdes`].
fn h9_19() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["x", "y"],
                |_: DurableContext, value: &str, _| async move {
                    Ok::<_, StepError>(value.to_uppercase())
                },
            )
            .name("op-serde")
            .max_concurrency(1)
            .serdes(OpSerdes)
            .await?;
        let values: Result<Vec<String>, DurableError> = batch.into_result().map_err(Into::into);
        Ok(json!(values?))
    })
}

/// 9.20: 9.19's map (whole result through [`OpSerdes`]), then a 1 s wait:
/// the replay reads the map's result back through the serdes.
fn h9_20() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["x", "y"],
                |_: DurableContext, value: &str, _| async move {
                    Ok::<_, StepError>(value.to_uppercase())
                },
            )
            .name("op-serde-replay")
            .max_concurrency(1)
            .serdes(OpSerdes)
            .await?;
        ctx.wait(Duration::from_secs(1)).await;
        let values: Result<Vec<String>, DurableError> = batch.into_result().map_err(Into::into);
        Ok(json!(values?))
    })
}

#[cfg(test)]
mod tests {
    //! Replays the conformance files do not reach: each map below is
    //! followed by a wait, so the second invocation replays it.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use durable_core::wire::ExecutionStatus;
    use durable_local::LocalRunner;

    use super::*;

    /// A result over 256 KiB is stored as a summary with ReplayChildren;
    /// the replay rebuilds it from the items' records without running them.
    #[tokio::test]
    async fn a_large_map_result_is_rebuilt_from_its_items_on_replay() {
        let runs = Arc::new(AtomicUsize::new(0));
        let handler = {
            let runs = runs.clone();
            move |_: Value, ctx: DurableContext| {
                let runs = runs.clone();
                async move {
                    let batch = ctx
                        .map(
                            vec![0u8, 1, 2, 3],
                            move |item: DurableContext, seed: u8, _| {
                                let runs = runs.clone();
                                async move {
                                    item.step(move |_: StepContext| async move {
                                        runs.fetch_add(1, Ordering::SeqCst);
                                        let letter = char::from(b'a' + seed);
                                        Ok::<_, StepError>(
                                            letter.to_string().repeat(LARGE_ITEM_BYTES),
                                        )
                                    })
                                    .await
                                }
                            },
                        )
                        .max_concurrency(2)
                        .await?;
                    ctx.wait(Duration::from_secs(1)).await;
                    let values = batch.into_result()?;
                    Ok::<_, DurableError>(
                        values
                            .iter()
                            .map(|v| format!("{}{}", &v[..1], v.len()))
                            .collect::<Vec<_>>(),
                    )
                }
            }
        };
        let exec = LocalRunner::new(handler).run(Value::Null).await.unwrap();
        assert_eq!(exec.status(), ExecutionStatus::Succeeded);
        assert_eq!(exec.invocations(), 2);
        let n = LARGE_ITEM_BYTES;
        assert_eq!(
            exec.result::<Vec<String>>().unwrap().unwrap(),
            [
                format!("a{n}"),
                format!("b{n}"),
                format!("c{n}"),
                format!("d{n}")
            ]
        );
        assert_eq!(runs.load(Ordering::SeqCst), 4, "a step ran again on replay");
        let map = exec
            .operations()
            .into_iter()
            .find(|op| op.sub_type() == Some("Map"))
            .unwrap();
        let details = map.record().context_details.as_ref().unwrap();
        assert_eq!(details.replay_children, Some(true));
    }

    /// The first run returns what the replay returns: item values read back
    /// through the item serdes (a lossy one here: it uppercases), failures
    /// as their recorded errors.
    #[tokio::test]
    async fn a_map_returns_the_same_batch_on_the_first_run_and_on_replay() {
        let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let handler = {
            let seen = seen.clone();
            move |_: Value, ctx: DurableContext| {
                let seen = seen.clone();
                async move {
                    let batch = ctx
                        .map(
                            vec!["x", "bad", "y"],
                            |_: DurableContext, v: &str, _| async move {
                                if v == "bad" {
                                    Err(StepError::new("bad item").with_type("BadItem"))
                                } else {
                                    Ok(v.to_owned())
                                }
                            },
                        )
                        .item_serdes(super::super::UppercaseSerdes)
                        .completion(CompletionConfig::all_completed())
                        .await?;
                    seen.lock().unwrap().push(format!("{batch:?}"));
                    ctx.wait(Duration::from_secs(1)).await;
                    Ok::<_, DurableError>(projection(&batch))
                }
            }
        };
        let exec = LocalRunner::new(handler).run(Value::Null).await.unwrap();
        assert_eq!(exec.status(), ExecutionStatus::Succeeded);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], seen[1]);
        assert!(
            seen[0].contains("BadItem") && seen[0].contains("\"X\""),
            "{}",
            seen[0]
        );
    }
}
