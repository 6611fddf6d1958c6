//! Human approval with a callback: an expense workflow checks a claim, hands
//! a callback id to an approver and suspends until the approver answers;
//! then it pays or rejects the claim.
//!
//! ```sh
//! cargo run -p durable-examples --bin human_approval
//! ```
//!
//! The workflow runs on the local engine with the real clock. The approver
//! is a separate task standing for an external program: all it gets is the
//! callback id (here through a channel, in production an e-mail link or a
//! queue message), and it answers with `SendDurableExecutionCallbackSuccess`
//! (`LocalService::send_callback_success`), the operation the service
//! offers. Nothing runs while the workflow waits: the invocation ends, and
//! the approver's answer invokes the handler again, which replays the check
//! and the hand-over from the history and goes on.

use std::time::Instant;

use durable_lambda::prelude::*;
use durable_local::{LocalRunner, LocalService};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claim {
    claim_id: String,
    employee: String,
    amount_cents: u64,
}

/// What the approver sends back.
#[derive(Debug, Serialize, Deserialize)]
struct Decision {
    approved: bool,
    approver: String,
    comment: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    claim_id: String,
    status: String,
    decided_by: String,
    comment: String,
}

/// A request for a decision, as the approver's inbox receives it.
#[derive(Debug)]
struct ApprovalRequest {
    callback_id: String,
    summary: String,
}

/// The workflow. `inbox` stands for the mail or queue through which the
/// approver is reached.
async fn expense_workflow(
    claim: Claim,
    ctx: DurableContext,
    inbox: mpsc::UnboundedSender<ApprovalRequest>,
) -> Result<Outcome, DurableError> {
    let checked = ctx
        .step({
            let claim = claim.clone();
            move |step: StepContext| async move {
                if claim.amount_cents == 0 {
                    return Err(StepError::terminal("a claim of nothing"));
                }
                step.logger()
                    .info(format!("claim {} is complete", claim.claim_id));
                Ok(claim)
            }
        })
        .name("check_claim")
        .await?;

    // A child context with the callback and a submitter step: the step runs
    // once (its success is recorded), so the approver is asked once however
    // often the workflow replays. The workflow suspends until the answer, or
    // fails with a timeout after a day.
    let summary = format!(
        "{} claims {}.{:02} EUR ({})",
        checked.employee,
        checked.amount_cents / 100,
        checked.amount_cents % 100,
        checked.claim_id
    );
    let decision: Decision = ctx
        .wait_for_callback(move |callback_id: String, step: StepContext| async move {
            step.logger()
                .info(format!("asking for approval: {summary}"));
            inbox
                .send(ApprovalRequest {
                    callback_id,
                    summary,
                })
                .map_err(|_| StepError::new("the approver's inbox is closed"))
        })
        .name("manager_approval")
        .timeout(Duration::from_secs(24 * 3600))
        .await?;

    let status = if decision.approved {
        let claim_id = checked.claim_id.clone();
        ctx.step(move |_: StepContext| async move {
            Ok::<_, StepError>(format!("payment for {claim_id} scheduled"))
        })
        .name("schedule_payment")
        .await?;
        "paid"
    } else {
        "rejected"
    };
    Ok(Outcome {
        claim_id: checked.claim_id,
        status: status.to_owned(),
        decided_by: decision.approver,
        comment: decision.comment,
    })
}

/// The approver: an external program that knows nothing of the workflow but
/// the callback id it is given, and answers through the service's API.
async fn approver(service: LocalService, mut inbox: mpsc::UnboundedReceiver<ApprovalRequest>) {
    while let Some(request) = inbox.recv().await {
        println!("approver: received \"{}\"", request.summary);
        println!("approver: callback id {}", request.callback_id);
        // A person reading the request.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let decision = Decision {
            approved: true,
            approver: "maria.manager".into(),
            comment: "within the travel budget".into(),
        };
        let body = match serde_json::to_vec(&decision) {
            Ok(body) => body,
            Err(e) => {
                eprintln!("approver: cannot encode the decision: {e}");
                continue;
            }
        };
        match service.send_callback_success(&request.callback_id, &body) {
            Ok(()) => println!("approver: approved"),
            Err(e) => eprintln!("approver: the service refused the answer: {e}"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    let (to_approver, approver_inbox) = mpsc::unbounded_channel();
    let handler =
        move |claim: Claim, ctx: DurableContext| expense_workflow(claim, ctx, to_approver.clone());
    // The real clock: the workflow really waits for the approver.
    let runner = LocalRunner::new(handler).real_time();

    // The external system: its own task, with a handle on the service only.
    let external = tokio::spawn(approver(runner.service().clone(), approver_inbox));

    let claim = Claim {
        claim_id: "exp-2041".into(),
        employee: "Ada".into(),
        amount_cents: 48_250,
    };
    let began = Instant::now();
    // Returns when the execution has ended: the run sleeps (nothing runs)
    // until the approver's answer wakes it, or the callback's timeout fires.
    let exec = runner.start(&claim).name("expense-exp-2041").await?;
    println!(
        "\nexecution {} after {:.1}s, {} invocations",
        exec.status(),
        began.elapsed().as_secs_f64(),
        exec.invocations()
    );
    match exec.result::<Outcome>()? {
        Some(outcome) => println!("result: {}", serde_json::to_string_pretty(&outcome)?),
        None => println!("error: {:?}", exec.error()),
    }
    println!("\n{}", exec.timeline());

    // The workflow is done; nobody will ask the approver again.
    drop(runner);
    external.await?;
    Ok(())
}
