//! The order workflow of DESIGN.md with a person in the loop, as the main
//! example runs it on `durable dev`:
//!
//! 1. `validate_order`, a step (the one of [`order_workflow`](crate::order_workflow));
//! 2. `awaiting-approval`, a callback: the service hands out an id that an
//!    approver completes through `SendDurableExecutionCallbackSuccess`;
//! 3. `send_for_approval`, a step that hands the callback id to the
//!    approver (recorded once, so the approver is asked once however often
//!    the workflow replays); then the execution suspends, with nothing
//!    running, until the approver answers;
//! 4. `process_order`, a call to a flaky payment service, retried with
//!    exponential back-off (1 s, 2 s, …), the execution suspending between
//!    attempts.
//!
//! [`handler`] is an ordinary durable handler: the same function runs on
//! Lambda with `durable_lambda::run(handler)`. The rest of this module is
//! for the approver of the example, which stands for an external system:
//! [`pending_approval`] reads the request `send_for_approval` recorded (in
//! production it would arrive by e-mail or on a queue), and
//! [`local_client`] reaches the service's API over HTTP.
//!
//! ```sh
//! cargo run -p durable-examples --bin order_processing
//! ```

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use durable_lambda::DurableClient;
use durable_lambda::prelude::*;
use durable_lambda::wire::OperationStatus;
use durable_local::{LocalError, LocalService};
use serde::{Deserialize, Serialize};

pub use crate::order_workflow::{Order, Processed, Status, validate_order};

/// The function name the workflow is served under.
pub const FUNCTION_NAME: &str = "order-processing";

/// The name of the approval callback.
pub const APPROVAL_CALLBACK: &str = "awaiting-approval";

/// How long the approver has before the callback times out and the order
/// fails.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Who is asked to approve orders.
pub const APPROVER: &str = "approvals@example.com";

/// How many calls to the payment service fail before one goes through,
/// unless the request says otherwise.
pub const DEFAULT_PAYMENT_FAILURES: u32 = 2;

/// The attempts `process_order` gets, the first included.
pub const PAYMENT_ATTEMPTS: u32 = 4;

/// The input of the workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The order to process.
    pub order_id: String,
    /// How many calls to the (simulated) payment service time out before
    /// one succeeds.
    #[serde(default = "default_payment_failures")]
    pub payment_failures: u32,
}

fn default_payment_failures() -> u32 {
    DEFAULT_PAYMENT_FAILURES
}

impl OrderRequest {
    /// A request for `order_id` with the default flakiness.
    pub fn new(order_id: impl Into<String>) -> Self {
        Self {
            order_id: order_id.into(),
            payment_failures: DEFAULT_PAYMENT_FAILURES,
        }
    }

    /// The durable execution name of the order: starting it again under
    /// this name finds the same execution.
    pub fn execution_name(&self) -> String {
        execution_name(&self.order_id)
    }
}

/// The durable execution name of an order (`order-<id>`).
pub fn execution_name(order_id: &str) -> String {
    format!("order-{order_id}")
}

/// What the approver is sent: the order and the callback id to answer with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The order to approve.
    pub order_id: String,
    /// Who was asked.
    pub approver: String,
    /// The id to complete the callback with.
    pub callback_id: String,
}

/// The approver's answer, the result of the callback
/// (`{"approved":true}` at least).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Whether the order may be processed.
    pub approved: bool,
    /// Who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
}

/// Hands the callback id to the approver. Here the request is the step's
/// result, which the approver of the example reads back
/// ([`pending_approval`]); in production this would send an e-mail with a
/// link carrying the id, or put a message on a queue.
#[durable_step]
pub async fn send_for_approval(
    step: StepContext,
    callback_id: String,
    order_id: String,
) -> Result<ApprovalRequest, StepError> {
    step.logger()
        .info(format!("asked {APPROVER} to approve {order_id}"));
    Ok(ApprovalRequest {
        order_id,
        approver: APPROVER.to_owned(),
        callback_id,
    })
}

/// The retry strategy of `process_order`: exponential back-off from one
/// second, doubling, no jitter (so the run is easy to follow).
pub fn payment_retry() -> RetryPolicy {
    RetryPolicy::exponential()
        .max_attempts(PAYMENT_ATTEMPTS)
        .initial_delay(Duration::from_secs(1))
        .backoff_rate(2.0)
        .jitter(Jitter::None)
}

/// Charges the order through a flaky payment service: the first `failures`
/// attempts time out. A failed attempt is retried after a back-off, the
/// execution suspending in between.
#[durable_step(retry = payment_retry())]
pub async fn process_order(
    step: StepContext,
    order_id: String,
    failures: u32,
) -> Result<Processed, StepError> {
    let attempt = step.attempt();
    if attempt <= failures {
        step.logger()
            .warn(format!("attempt {attempt}: the payment service timed out"));
        return Err(StepError::new("payment service timed out").with_type("PaymentTimeout"));
    }
    step.logger()
        .info(format!("attempt {attempt}: charged {order_id}"));
    Ok(Processed {
        order_id,
        attempts: attempt,
    })
}

/// The workflow.
#[durable_execution]
pub async fn handler(event: OrderRequest, ctx: DurableContext) -> Result<Processed, DurableError> {
    let order = ctx.step(validate_order(event.order_id.clone())).await?;
    if order.status != Status::Validated {
        return Err(DurableError::terminal("validation failed")); // ends the execution, no retry
    }

    let approval = ctx
        .create_callback::<Approval>(APPROVAL_CALLBACK)
        .timeout(APPROVAL_TIMEOUT)
        .await;
    // The context's logger is quiet while the workflow replays its
    // recorded operations: this line appears once, not once per invocation.
    ctx.logger().info(format!(
        "created callback {APPROVAL_CALLBACK} ({}); asking for approval",
        approval.id()
    ));
    ctx.step(send_for_approval(
        approval.id().to_owned(),
        order.order_id.clone(),
    ))
    .await?;
    let decision = approval.result().await?; // suspends, no compute while waiting
    if !decision.approved {
        return Err(DurableError::terminal(format!(
            "order {} was not approved",
            order.order_id
        )));
    }
    ctx.logger().info(format!(
        "approved by {}",
        decision.approver.as_deref().unwrap_or("the approver")
    ));

    Ok(ctx
        .step(process_order(order.order_id, event.payment_failures))
        .await?)
}

/// The approval request of execution `arn` while its callback is still
/// open: what the approver's inbox holds. `None` before `send_for_approval`
/// has run and once the callback is closed.
///
/// # Errors
/// [`LocalError::NotFound`] for an unknown execution.
pub fn pending_approval(
    service: &LocalService,
    arn: &str,
) -> Result<Option<ApprovalRequest>, LocalError> {
    let request = service.with_execution(arn, |exec| {
        exec.operations()
            .find(|op| {
                op.name.as_deref() == Some("send_for_approval")
                    && op.status == OperationStatus::Succeeded
            })
            .and_then(|op| op.step_details.as_ref()?.result.as_deref())
            .and_then(|json| serde_json::from_str::<ApprovalRequest>(json).ok())
    })?;
    let Some(request) = request else {
        return Ok(None);
    };
    let open = service
        .open_callbacks(arn)?
        .iter()
        .any(|callback| callback.callback_id == request.callback_id);
    Ok(open.then_some(request))
}

/// Waits until execution `arn` asks for approval ([`pending_approval`]);
/// `None` when it ends first.
///
/// # Errors
/// [`LocalError::NotFound`] for an unknown execution.
pub async fn next_approval_request(
    service: &LocalService,
    arn: &str,
) -> Result<Option<ApprovalRequest>, LocalError> {
    loop {
        if let Some(request) = pending_approval(service, arn)? {
            return Ok(Some(request));
        }
        if service.with_execution(arn, |exec| exec.status().is_terminal())? {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of the durable execution API at `endpoint` (such as
/// `durable dev`'s), as an external system would build it: aws-sdk-lambda
/// with an endpoint override. A local server does not check credentials or
/// the region, so dummy ones do.
pub fn local_client(endpoint: &str) -> DurableClient {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .endpoint_url(endpoint)
        .build();
    DurableClient::new(aws_sdk_lambda::Client::from_conf(config))
}
