//! `shared/conformance/callback`: `create_callback`, completed (or not) by
//! the external system of the file's `CallbackActions`.

use std::time::Duration;

use durable_core::{DurableContext, FnSerdes, StepContext, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler, text};

/// The handlers of the callback suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("4-1", h4_1),
    ("4-2", h4_2),
    ("4-3", h4_3),
    ("4-4", h4_4),
    ("4-5", h4_5),
    ("4-6", h4_6),
    ("4-7", h4_7),
    ("4-8", h4_8),
    ("4-9", h4_9),
    ("4-10", h4_10),
    ("4-11", h4_11),
    ("4-12", h4_12),
    ("4-13", h4_13),
    ("4-14", h4_14),
    ("4-15", h4_15),
    ("4-16", h4_16),
    ("4-17", h4_17),
    ("4-18", h4_18),
    ("4-19", h4_19),
];

/// The two callback names of the files whose input is `[A, B]`.
fn two_names(event: &Value) -> (String, String) {
    let name = |i: usize| event.get(i).map(text).unwrap_or_default();
    (name(0), name(1))
}

/// 4.1: a callback named by the input; returns its result.
fn h4_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.2: a callback named `approval`; returns its result.
fn h4_2() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>("approval").await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.3: a callback with a 5 s timeout that nobody completes.
fn h4_3() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .timeout(Duration::from_secs(5))
            .await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.4: a callback with a 5 s heartbeat timeout that gets no heartbeat.
fn h4_4() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .heartbeat_timeout(Duration::from_secs(5))
            .await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.5: a callback with a 10 s heartbeat timeout; a heartbeat, then a
/// success.
fn h4_5() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .heartbeat_timeout(Duration::from_secs(10))
            .await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.6: the external system fails the callback; the error is not caught.
fn h4_6() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.7: create, run a step, then await the callback (which fails).
fn h4_7() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        ctx.step(|_: StepContext| async { Ok::<_, StepError>("step done".to_owned()) })
            .await?;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.8: create with a 5 s timeout, run a step, then await (it times out).
fn h4_8() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .timeout(Duration::from_secs(5))
            .await;
        ctx.step(|_: StepContext| async { Ok::<_, StepError>("step done".to_owned()) })
            .await?;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.9: create, wait 5 s (the callback succeeds meanwhile), then await.
fn h4_9() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        ctx.wait(Duration::from_secs(5)).await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.10: create, wait 5 s (the callback fails meanwhile), then await; the
/// error is not caught.
fn h4_10() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        ctx.wait(Duration::from_secs(5)).await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.11: create with a 3 s timeout, wait 6 s, then await: the callback timed
/// out during the wait.
fn h4_11() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .timeout(Duration::from_secs(3))
            .await;
        ctx.wait(Duration::from_secs(6)).await;
        let result = callback.result().await?;
        Ok(json!(result))
    })
}

/// 4.12: await the callback, then wait 2 s, then return its result.
fn h4_12() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        let result = callback.result().await?;
        ctx.wait(Duration::from_secs(2)).await;
        Ok(json!(result))
    })
}

/// 4.13: the callback fails; the handler catches it, waits 2 s and returns
/// a message.
fn h4_13() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx.create_callback::<String>(text(&event)).await;
        let message = match callback.result().await {
            Ok(result) => result,
            Err(error) => format!("callback failed: {}", error.message()),
        };
        ctx.wait(Duration::from_secs(2)).await;
        Ok(json!(message))
    })
}

/// 4.14: the callback times out (3 s); the handler catches it, waits 2 s and
/// returns a message.
fn h4_14() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let callback = ctx
            .create_callback::<String>(text(&event))
            .timeout(Duration::from_secs(3))
            .await;
        let message = match callback.result().await {
            Ok(result) => result,
            Err(error) if error.is_timeout() => format!("timed out: {}", error.error_type()),
            Err(error) => return Err(error.into()),
        };
        ctx.wait(Duration::from_secs(2)).await;
        Ok(json!(message))
    })
}

/// The JSON object 4.15's external system sends.
#[derive(Debug, Deserialize)]
struct SentMessage {
    id: String,
    message: String,
    timestamp: String,
}

/// 4.15's typed callback result: the message, its timestamp in seconds
/// since the Unix epoch.
#[derive(Debug, Serialize, Deserialize)]
struct ReceivedMessage {
    id: String,
    message: String,
    timestamp: i64,
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp
/// (`2026-01-01T00:00:00.000Z`); fractions of a second are dropped.
fn epoch_seconds(timestamp: &str) -> Result<i64, String> {
    let bad = || format!("not an RFC 3339 UTC timestamp: {timestamp:?}");
    let (date, time) = timestamp.split_once('T').ok_or_else(bad)?;
    let time = time.strip_suffix('Z').ok_or_else(bad)?;
    let time = time.split('.').next().unwrap_or_default();
    let numbers = |text: &str, sep: char| -> Result<Vec<i64>, String> {
        text.split(sep)
            .map(|n| n.parse::<i64>().map_err(|_| bad()))
            .collect()
    };
    let (ymd, hms) = (numbers(date, '-')?, numbers(time, ':')?);
    let (&[year, month, day], &[hour, minute, second]) = (&ymd[..], &hms[..]) else {
        return Err(bad());
    };
    // Days from civil (H. Hinnant): the proleptic Gregorian date to days
    // since 1970-01-01.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// 4.15: a custom serdes reads the callback's JSON payload into a typed
/// object, its timestamp string converted to epoch seconds.
fn h4_15() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let typed = FnSerdes::new(
            |received: &ReceivedMessage| serde_json::to_string(received).map_err(|e| e.to_string()),
            |payload: Option<&str>| {
                let sent: SentMessage = serde_json::from_str(payload.unwrap_or_default())
                    .map_err(|e| format!("not a message: {e}"))?;
                Ok(ReceivedMessage {
                    id: sent.id,
                    message: sent.message,
                    timestamp: epoch_seconds(&sent.timestamp)?,
                })
            },
        );
        let callback = ctx
            .create_callback::<ReceivedMessage>(text(&event))
            .serdes(typed)
            .await;
        let received = callback.result().await?;
        Ok(json!({ "received": received }))
    })
}

/// 4.16: a custom serdes reads the callback's payload (`42`) as a number.
fn h4_16() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let numeric = FnSerdes::new(
            |n: &i64| Ok(n.to_string()),
            |payload: Option<&str>| {
                let text = payload.unwrap_or_default().trim().trim_matches('"');
                text.parse::<i64>()
                    .map_err(|e| format!("not a number: {text:?}: {e}"))
            },
        );
        let callback = ctx
            .create_callback::<i64>(text(&event))
            .serdes(numeric)
            .await;
        let count = callback.result().await?;
        Ok(json!({"count": count, "doubled": count * 2}))
    })
}

/// 4.17: callback A, await it; then callback B, await it.
fn h4_17() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let (a, b) = two_names(&event);
        let first = ctx.create_callback::<String>(a).await;
        let first = first.result().await?;
        let second = ctx.create_callback::<String>(b).await;
        let second = second.result().await?;
        Ok(json!([first, second]))
    })
}

/// 4.18: create A and B, then await A, then B.
fn h4_18() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let (a, b) = two_names(&event);
        let first = ctx.create_callback::<String>(a).await;
        let second = ctx.create_callback::<String>(b).await;
        let first = first.result().await?;
        let second = second.result().await?;
        Ok(json!([first, second]))
    })
}

/// 4.19: create A and B, then await B, then A.
fn h4_19() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let (a, b) = two_names(&event);
        let first = ctx.create_callback::<String>(a).await;
        let second = ctx.create_callback::<String>(b).await;
        let second = second.result().await?;
        let first = first.result().await?;
        Ok(json!([first, second]))
    })
}
