//! The order workflow of DESIGN.md runs to SUCCEEDED on the local engine.

use durable_examples::order_workflow::{
    Order, Processed, Status, handler, process_order, validate_order,
};
use durable_lambda::StepContext;
use durable_lambda::wire::{ExecutionStatus, OperationStatus, OperationType};
use durable_local::LocalRunner;

#[tokio::test]
async fn the_order_workflow_succeeds_after_the_wait_and_a_retry() {
    let execution = LocalRunner::new(handler)
        .run(serde_json::json!({ "order_id": "o-1001" }))
        .await
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        execution.result::<Processed>().unwrap(),
        Some(Processed {
            order_id: "o-1001".into(),
            attempts: 2,
        })
    );

    let names: Vec<_> = execution
        .operations()
        .iter()
        .filter_map(|op| op.name().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "validate_order",
            "send_for_approval",
            "awaiting-approval",
            "process_order"
        ]
    );
    let wait = execution.operation("awaiting-approval").unwrap();
    assert_eq!(wait.operation_type(), &OperationType::Wait);
    let processed = execution.operation("process_order").unwrap();
    assert_eq!(processed.status(), &OperationStatus::Succeeded);
    assert_eq!(processed.attempts(), 2);
    // The first invocation ends at the wait, the second at the retry's
    // back-off, the third completes.
    assert_eq!(execution.invocations(), 3);
}

#[tokio::test]
async fn an_order_without_an_id_fails_validation() {
    let execution = LocalRunner::new(handler)
        .run(serde_json::json!({ "order_id": " " }))
        .await
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Failed);
    assert!(execution.operation("send_for_approval").is_none());
    let error = execution.error().unwrap();
    assert!(error.to_string().contains("validation failed"), "{error}");
}

#[tokio::test]
async fn step_bodies_are_plain_async_functions() {
    let order = validate_order::call(StepContext::for_test(1), "o-7".into())
        .await
        .unwrap();
    assert_eq!(
        order,
        Order {
            order_id: "o-7".into(),
            status: Status::Validated,
        }
    );
    assert!(
        process_order::call(StepContext::for_test(1), "o-7".into())
            .await
            .is_err()
    );
    let processed = process_order::call(StepContext::for_test(2), "o-7".into())
        .await
        .unwrap();
    assert_eq!(processed.attempts, 2);
}
