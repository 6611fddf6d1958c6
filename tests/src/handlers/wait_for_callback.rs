//! `shared/conformance/wait_for_callback`: a child context holding a
//! callback and the submitter step that hands its id out.

use std::time::Duration;

use durable_core::{DurableContext, RetryPolicy, StepContext, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler, text};

/// The handlers of the wait_for_callback suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("7-1", h7_1),
    ("7-2", h7_2),
    ("7-3", h7_3),
    ("7-4", h7_4),
    ("7-5", h7_5),
    ("7-6", h7_6),
    ("7-7", h7_7),
    ("7-8", h7_8),
    ("7-9", h7_9),
    ("7-10", h7_10),
    ("7-11", h7_11),
    ("7-12", h7_12),
    ("7-13", h7_13),
    ("7-14", h7_14),
    ("7-15", h7_15),
];

/// A submitter that only receives the id: the external system of the file
/// finds the callback by name.
async fn submit(_callback_id: String, _step: StepContext) -> Result<(), StepError> {
    Ok(())
}

/// 7.1: one wait_for_callback named by the input; returns the result.
fn h7_1() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx.wait_for_callback(submit).name(text(&event)).await?;
        Ok(json!(result))
    })
}

/// 7.2: one wait_for_callback named `approval`.
fn h7_2() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: String = ctx.wait_for_callback(submit).name("approval").await?;
        Ok(json!(result))
    })
}

/// 7.3: one wait_for_callback with an inline submitter and no name.
fn h7_3() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let result: String = ctx
            .wait_for_callback(|_id: String, _step: StepContext| async { Ok(()) })
            .await?;
        Ok(json!(result))
    })
}

/// 7.4: the external system fails the callback; not caught.
fn h7_4() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx.wait_for_callback(submit).name(text(&event)).await?;
        Ok(json!(result))
    })
}

/// 7.5: a 3 s timeout and no completion; not caught.
fn h7_5() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx
            .wait_for_callback(submit)
            .name(text(&event))
            .timeout(Duration::from_secs(3))
            .await?;
        Ok(json!(result))
    })
}

/// 7.6: the external system fails the callback; caught, returns `recovered`.
fn h7_6() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let outcome: Result<String, _> = ctx.wait_for_callback(submit).name(text(&event)).await;
        Ok(match outcome {
            Ok(result) => json!(result),
            Err(_) => json!("recovered"),
        })
    })
}

/// 7.7: the submitter always fails; 2 attempts, 1 s apart; not caught.
fn h7_7() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx
            .wait_for_callback(|_id: String, _step: StepContext| async {
                Err(StepError::new("the submitter cannot reach the approver"))
            })
            .name(text(&event))
            .retry(RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(2))
            .await?;
        Ok(json!(result))
    })
}

/// 7.8: a wait_for_callback inside a child context named `wrapper`.
fn h7_8() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let name = text(&event);
        let result: String = ctx
            .run_in_child_context(move |child: DurableContext| async move {
                let result: String = child.wait_for_callback(submit).name(name).await?;
                Ok::<_, StepError>(result)
            })
            .name("wrapper")
            .await?;
        Ok(json!(result))
    })
}

/// 7.9: two sequential wait_for_callback operations, `first` and `second`;
/// returns the second result.
fn h7_9() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        let _first: String = ctx.wait_for_callback(submit).name("first").await?;
        let second: String = ctx.wait_for_callback(submit).name("second").await?;
        Ok(json!(second))
    })
}

/// 7.10: a 1 s wait, a step returning fixed data, then a wait_for_callback
/// named by the input; returns the callback's result.
fn h7_10() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        ctx.wait(Duration::from_secs(1)).await;
        let _data: Value = ctx
            .step(|_: StepContext| async { Ok::<_, StepError>(json!({"fixed": "data"})) })
            .await?;
        let result: String = ctx.wait_for_callback(submit).name(text(&event)).await?;
        Ok(json!(result))
    })
}

/// The JSON object 7.11's external system sends.
#[derive(Debug, Serialize, Deserialize)]
struct Approval {
    status: String,
}

/// 7.11: the result is read as a JSON object; returns its `status`.
fn h7_11() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let approval: Approval = ctx.wait_for_callback(submit).name(text(&event)).await?;
        Ok(json!(approval.status))
    })
}

/// 7.12: a 5 s heartbeat timeout and no heartbeat; not caught.
fn h7_12() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx
            .wait_for_callback(submit)
            .name(text(&event))
            .heartbeat_timeout(Duration::from_secs(5))
            .await?;
        Ok(json!(result))
    })
}

/// 7.13: a 10 s heartbeat timeout; a heartbeat, then a success.
fn h7_13() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: String = ctx
            .wait_for_callback(submit)
            .name(text(&event))
            .heartbeat_timeout(Duration::from_secs(10))
            .await?;
        Ok(json!(result))
    })
}

/// 7.14: a 3 s timeout that expires; caught, returns `timed-out-handled`.
fn h7_14() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let outcome: Result<String, _> = ctx
            .wait_for_callback(submit)
            .name(text(&event))
            .timeout(Duration::from_secs(3))
            .await;
        match outcome {
            Ok(result) => Ok(json!(result)),
            Err(error) if error.is_timeout() => Ok(json!("timed-out-handled")),
            Err(error) => Err(error.into()),
        }
    })
}

/// 7.15: the external system succeeds without a payload; returns null.
fn h7_15() -> Handler {
    handler(|event: Value, ctx: DurableContext| async move {
        let result: Option<Value> = ctx.wait_for_callback(submit).name(text(&event)).await?;
        Ok(result.unwrap_or(Value::Null))
    })
}
