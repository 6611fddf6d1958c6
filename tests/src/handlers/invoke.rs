//! `shared/conformance/invoke`: chained invokes of other durable functions,
//! which the runner registers under the names of [`TARGETS`].

use std::time::Duration;

use durable_core::{DurableContext, DurableError, FnSerdes, StepContext, StepError};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler, text};

/// The handlers of the invoke suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("5-1", h5_1),
    ("5-2", h5_2),
    ("5-3", h5_3),
    ("5-4", h5_4),
    ("5-5", h5_5),
    ("5-6", h5_6),
    ("5-7", h5_7),
    ("5-8", h5_8),
    ("5-9", h5_9),
    ("5-10", h5_10),
    ("5-11", h5_11),
    ("5-12", h5_12),
    ("5-13", h5_13),
    ("5-14", h5_14),
    ("5-15", h5_15),
    ("5-16", h5_16),
];

/// Returns its input.
pub const ECHO: &str = "echo";
/// Fails with `TargetError`.
pub const FAIL: &str = "always-fails";
/// Returns `{"receivedBytes": n}`, the size of its (string) input.
pub const MEASURE: &str = "measure";
/// Returns its input text uppercased.
pub const SHOUT: &str = "shout";

/// The functions the invoke handlers call, by name.
pub const TARGETS: &[(&str, MakeHandler)] = &[
    (ECHO, echo),
    (FAIL, always_fails),
    (MEASURE, measure),
    (SHOUT, shout),
];

fn echo() -> Handler {
    handler(|event: Value, _ctx: DurableContext| async move { Ok(event) })
}

fn always_fails() -> Handler {
    handler(|_event: Value, _ctx: DurableContext| async move {
        Err(DurableError::new("the target function failed on purpose").with_type("TargetError"))
    })
}

fn measure() -> Handler {
    handler(|event: Value, _ctx: DurableContext| async move {
        Ok(json!({"receivedBytes": text(&event).len()}))
    })
}

fn shout() -> Handler {
    handler(
        |event: Value, _ctx: DurableContext| async move { Ok(json!(text(&event).to_uppercase())) },
    )
}

/// A payload near the limit of an asynchronous Lambda invoke (256 KiB): 250 000 characters.
const LARGE_PAYLOAD_CHARS: usize = 250_000;

/// 5.1: invokes the echo target with the input; returns its result.
fn h5_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(ECHO, &event).await?;
        Ok(result)
    })
}

/// 5.2: the invoke is named `input.name` and sends `input.payload`.
fn h5_2() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = event.get("name").map(text).unwrap_or_default();
        let payload = event.get("payload").cloned().unwrap_or(Value::Null);
        let result: Value = ctx.invoke(ECHO, &payload).name(name).await?;
        Ok(result)
    })
}

/// 5.3: a nested object through the echo target.
fn h5_3() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(ECHO, &event).await?;
        Ok(result)
    })
}

/// 5.4: null through the echo target.
fn h5_4() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(ECHO, &Value::Null).await?;
        Ok(result)
    })
}

/// 5.5: the target fails; the InvokeError is not caught.
fn h5_5() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(FAIL, &Value::Null).await?;
        Ok(result)
    })
}

/// 5.6: the target fails; the handler catches the InvokeError and returns a
/// fallback.
fn h5_6() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        match ctx.invoke::<_, Value>(FAIL, &Value::Null).await {
            Ok(result) => Ok(result),
            Err(error) => Ok(json!({
                "fallback": true,
                "errorType": error.error_type(),
                "errorMessage": error.message(),
            })),
        }
    })
}

/// 5.7: a payload near the size limit; the target reports its size.
fn h5_7() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let large = "x".repeat(LARGE_PAYLOAD_CHARS);
        let result: Value = ctx.invoke(MEASURE, &large).await?;
        Ok(result)
    })
}

/// 5.8: invokes with `input.tenantId` as the tenant and `input.payload` as
/// the input.
fn h5_8() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let tenant = event.get("tenantId").map(text).unwrap_or_default();
        let payload = event.get("payload").cloned().unwrap_or(Value::Null);
        let result: Value = ctx.invoke(ECHO, &payload).tenant_id(tenant).await?;
        Ok(result)
    })
}

/// 5.9: an invoke, then a 1 s wait; the replay after the wait reads the
/// invoke's recorded result.
fn h5_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(ECHO, &json!("cached")).await?;
        ctx.wait(std::time::Duration::from_secs(1)).await;
        Ok(result)
    })
}

/// 5.10: the target fails; the handler catches the error, then waits 1 s.
/// The replay after the wait reads the recorded failure again (caught
/// again) without invoking the target a second time.
fn h5_10() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let fallback = match ctx.invoke::<_, Value>(FAIL, &Value::Null).await {
            Ok(result) => result,
            Err(error) => json!({"caught": error.error_type()}),
        };
        ctx.wait(Duration::from_secs(1)).await;
        Ok(fallback)
    })
}

/// 5.11: a step, then an invoke of its result.
fn h5_11() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let computed: String = ctx
            .step(|_: StepContext| async { Ok::<_, StepError>("from-step".to_owned()) })
            .await?;
        let result: Value = ctx.invoke(ECHO, &computed).await?;
        Ok(result)
    })
}

/// 5.12: an invoke, then a step processing its result.
fn h5_12() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let invoked: String = ctx.invoke(ECHO, &"from-invoke").await?;
        let processed: String = ctx
            .step(move |_: StepContext| async move {
                Ok::<_, StepError>(format!("processed: {invoked}"))
            })
            .await?;
        Ok(json!(processed))
    })
}

/// 5.13: an invoke inside a child context, whose result the context returns.
fn h5_13() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: Value = ctx
            .run_in_child_context(|child: DurableContext| async move {
                let result: Value = child.invoke(ECHO, &json!("in-child")).await?;
                Ok::<_, StepError>(result)
            })
            .await?;
        Ok(result)
    })
}

/// 5.14: two invokes of two targets, one after the other.
fn h5_14() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let first: String = ctx.invoke(ECHO, &"first").await?;
        let second: String = ctx.invoke(SHOUT, &"second").await?;
        Ok(json!([first, second]))
    })
}

/// 5.15's payload serializer: writes the payload with every string in it
/// uppercased. (`invoke` takes its input as any `Serialize`; a custom
/// serialization of the outgoing payload is a custom `Serialize`.)
struct UppercasePayload<'a>(&'a Value);

impl Serialize for UppercasePayload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn uppercased(value: &Value) -> Value {
            match value {
                Value::String(s) => Value::String(s.to_uppercase()),
                Value::Array(items) => Value::Array(items.iter().map(uppercased).collect()),
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), uppercased(v)))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        uppercased(self.0).serialize(serializer)
    }
}

/// 5.15: invokes the echo target with the input through
/// [`UppercasePayload`]; returns what the target received.
fn h5_15() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: Value = ctx.invoke(ECHO, &UppercasePayload(&event)).await?;
        Ok(result)
    })
}

/// 5.16: a custom serdes reads the result text uppercased (the JSON text
/// `"hello"` becomes the string `"HELLO"`, quotes included).
fn h5_16() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let uppercase = FnSerdes::new(
            |value: &String| Ok(value.clone()),
            |payload: Option<&str>| Ok(payload.unwrap_or_default().to_uppercase()),
        );
        let result: String = ctx.invoke(ECHO, &event).serdes(uppercase).await?;
        Ok(json!(result))
    })
}
