//! `shared/conformance/wait`: timed waits.

use std::time::Duration;

use durable_core::DurableContext;
use serde_json::{Value, json};

use super::{Handler, MakeHandler, handler};

/// The handlers of the wait suite.
pub const HANDLERS: &[(&str, MakeHandler)] = &[
    ("2-1", h2_1),
    ("2-2", h2_2),
    ("2-3", h2_3),
    ("2-4", h2_4),
    ("2-5", h2_5),
];

/// 2.1: one 2 s wait.
fn h2_1() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        ctx.wait(Duration::from_secs(2)).await;
        Ok(Value::Null)
    })
}

/// 2.2: one 2 s wait named `custom_wait_name`.
fn h2_2() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        ctx.wait(Duration::from_secs(2))
            .name("custom_wait_name")
            .await;
        Ok(Value::Null)
    })
}

/// 2.3: two sequential 2 s waits, `wait-1` and `wait-2`.
fn h2_3() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        ctx.wait(Duration::from_secs(2)).name("wait-1").await;
        ctx.wait(Duration::from_secs(2)).name("wait-2").await;
        Ok(json!({"completedWaits": 2}))
    })
}

/// 2.4: a one-minute wait (60 s).
fn h2_4() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        const ONE_MINUTE: Duration = Duration::from_secs(60);
        ctx.wait(ONE_MINUTE).await;
        Ok(Value::Null)
    })
}

/// 2.5: a one-hour wait (3600 s).
fn h2_5() -> Handler {
    handler(|_event: Value, ctx: DurableContext| async move {
        const ONE_HOUR: Duration = Duration::from_secs(60 * 60);
        ctx.wait(ONE_HOUR).await;
        Ok(Value::Null)
    })
}
