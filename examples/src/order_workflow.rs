//! The order workflow of DESIGN.md, written with the attribute macros:
//!
//! 1. `validate_order`, a step;
//! 2. `send_for_approval`, a step that hands the order to an approver;
//! 3. `awaiting-approval`, a wait: the execution suspends, no compute
//!    running, until the approver has had time to look (a callback will
//!    take its place when callbacks land);
//! 4. `process_order`, a flaky call retried with exponential back-off, the
//!    execution suspending between attempts.
//!
//! ```sh
//! cargo run -p durable-examples --bin order_workflow
//! ```

use durable_lambda::prelude::*;
use serde::{Deserialize, Serialize};

/// The input of the workflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderEvent {
    /// The order to process.
    pub order_id: String,
}

/// Where an order stands after validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// The order can be processed.
    Validated,
    /// The order cannot be processed.
    Rejected,
}

/// A validated (or rejected) order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id.
    pub order_id: String,
    /// The outcome of validation.
    pub status: Status,
}

/// What the approver was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The order to approve.
    pub order_id: String,
    /// Who was asked.
    pub approver: String,
}

/// The result of the workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processed {
    /// The processed order.
    pub order_id: String,
    /// The attempt of `process_order` that succeeded.
    pub attempts: u32,
}

/// Checks the order; an order without an id is rejected.
#[durable_step]
pub async fn validate_order(step: StepContext, order_id: String) -> Result<Order, StepError> {
    step.logger().info(format!("validating {order_id}"));
    let status = if order_id.trim().is_empty() {
        Status::Rejected
    } else {
        Status::Validated
    };
    Ok(Order { order_id, status })
}

/// Hands the order to an approver.
#[durable_step]
pub async fn send_for_approval(
    step: StepContext,
    order_id: String,
) -> Result<ApprovalRequest, StepError> {
    step.logger().info(format!(
        "asking approvals@example.com to approve {order_id}"
    ));
    Ok(ApprovalRequest {
        order_id,
        approver: "approvals@example.com".to_owned(),
    })
}

/// A flaky call: the first attempt times out; the step is retried with
/// exponential back-off, the execution suspending between attempts.
#[durable_step(retry = RetryPolicy::exponential().max_attempts(3).backoff_rate(2.0))]
pub async fn process_order(step: StepContext, order_id: String) -> Result<Processed, StepError> {
    if step.attempt() == 1 {
        return Err(StepError::new("payment service timed out").with_type("Timeout"));
    }
    step.logger().info(format!("processed {order_id}"));
    Ok(Processed {
        order_id,
        attempts: step.attempt(),
    })
}

/// The workflow.
#[durable_execution]
pub async fn handler(event: OrderEvent, ctx: DurableContext) -> Result<Processed, DurableError> {
    let order = ctx.step(validate_order(event.order_id.clone())).await?;
    if order.status != Status::Validated {
        return Err(DurableError::terminal("validation failed")); // ends the execution, no retry
    }
    ctx.step(send_for_approval(order.order_id.clone())).await?;
    ctx.wait(Duration::from_secs(180))
        .name("awaiting-approval")
        .await; // suspends, no compute while waiting
    Ok(ctx.step(process_order(order.order_id)).await?)
}
