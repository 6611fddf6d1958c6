//! `DurableService` end to end through `aws-sdk-lambda` against a fake of the
//! Lambda APIs (tests/common): a plain event, retried and fatal API errors
//! (PROTOCOL §4.5), state pages (§4.3) and the large-result path (§2.2).

// Test code: helpers outside `#[test]` functions may panic too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{ARN, Api, EXECUTION_ID, FIRST_TOKEN, Fake, Reply, context, envelope, envelope_with};
use durable_lambda::prelude::*;
use durable_lambda::wire::{InvocationOutput, InvocationStatus};
use durable_lambda::{Backend, DurableHandler, DurableService};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tower::Service;

/// Lambda's response limit less the 50 bytes the SDKs keep for the
/// envelope: `6 * 1024 * 1024 - 50` (PROTOCOL §2.2, §11).
const RESPONSE_LIMIT: usize = durable_lambda::limits::MAX_INLINE_OUTPUT;

/// Two steps: `charge` doubles the input's amount, `receipt` formats it.
async fn order(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let amount = event["amount"].as_i64().unwrap_or_default();
    let charged: i64 = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(amount * 2) })
        .name("charge")
        .await?;
    let receipt: String = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("charged {charged}")) })
        .name("receipt")
        .await?;
    Ok(json!({ "receipt": receipt }))
}

async fn invoke<H, E, T>(
    handler: H,
    backend: impl Backend,
    event: Value,
) -> Result<InvocationOutput, Diagnostic>
where
    H: DurableHandler<E, T>,
    E: serde::de::DeserializeOwned + Send + 'static,
    T: serde::Serialize + Send + 'static,
{
    let mut service = DurableService::new(handler, Arc::new(backend));
    service.call(LambdaEvent::new(event, context(None))).await
}

fn succeeded(result: &Value) -> InvocationOutput {
    InvocationOutput::succeeded(Some(result.to_string()))
}

/// Checks the token chain: the first call uses the envelope's token, each
/// later one the token of the last successful answer, and a retried call
/// repeats its request exactly.
fn assert_token_chain(requests: &[common::Request]) {
    let mut expected = FIRST_TOKEN.to_owned();
    let mut issued = 0;
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.arn, ARN, "{}", request.line);
        let token = request.body["CheckpointToken"].as_str().unwrap_or_default();
        if token != expected {
            // The fake issues token-1, token-2… on each success.
            issued += 1;
            expected = format!("token-{issued}");
        }
        assert_eq!(token, expected, "checkpoint {i}: {:?}", request.body);
    }
}

#[tokio::test]
async fn a_plain_event_says_durable_execution_is_not_enabled() {
    let fake = Fake::start().await;
    for event in [
        json!({ "amount": 21 }),
        json!("hello"),
        json!({ "DurableExecutionArn": ARN }),
    ] {
        let error = invoke(order, fake.backend(None).await, event.clone())
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "InvalidEnvelope", "{event}");
        assert!(
            error
                .error_message
                .contains("confirm that durable execution is enabled for this function"),
            "{event}: {}",
            error.error_message
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn an_execution_checkpoints_each_step_through_the_sdk() {
    let fake = Fake::start().await;
    let output = invoke(
        order,
        fake.backend(None).await,
        envelope(&json!({ "amount": 21 })),
    )
    .await
    .unwrap();
    assert_eq!(output, succeeded(&json!({ "receipt": "charged 42" })));

    let checkpoints = fake.checkpoints();
    assert_eq!(fake.requests().len(), checkpoints.len());
    assert_token_chain(&checkpoints);
    let updates: Vec<Value> = checkpoints.iter().flat_map(|r| r.updates()).collect();
    let succeeded: Vec<(&str, &str)> = updates
        .iter()
        .filter(|u| u["Action"] == "SUCCEED")
        .map(|u| {
            (
                u["Name"].as_str().unwrap_or_default(),
                u["Payload"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        succeeded,
        [("charge", "42"), ("receipt", "\"charged 42\"")],
        "{updates:?}"
    );
    assert!(updates.iter().all(|u| u["Type"] == "STEP"), "{updates:?}");
}

/// Runs `order` with the first checkpoint answered by `replies`, and compares
/// its requests with a run that had no errors.
async fn retried_then_succeeds(replies: Vec<Reply>, fast: bool) {
    let clean = Fake::start().await;
    invoke(
        order,
        clean.backend(None).await,
        envelope(&json!({ "amount": 21 })),
    )
    .await
    .unwrap();
    let clean_count = clean.checkpoints().len();

    let fake = Fake::start().await;
    let errors = replies.len();
    fake.script_checkpoints(replies);
    let backend = if fast {
        fake.fast_retry_backend().await
    } else {
        fake.backend(None).await
    };
    let output = invoke(order, backend, envelope(&json!({ "amount": 21 })))
        .await
        .unwrap();
    assert_eq!(output, succeeded(&json!({ "receipt": "charged 42" })));

    let checkpoints = fake.checkpoints();
    assert_eq!(
        checkpoints.len(),
        clean_count + errors,
        "{errors} failed attempt(s) retried: {checkpoints:?}"
    );
    // The failed attempts and the one that succeeded sent the same request.
    for retry in &checkpoints[1..=errors] {
        assert_eq!(retry.body, checkpoints[0].body);
    }
    assert_token_chain(&checkpoints);
}

#[tokio::test]
async fn throttling_is_retried_by_the_default_sdk_configuration() {
    // The production configuration (standard mode, 3 attempts, backoff of
    // up to 1 s before the second).
    retried_then_succeeds(
        vec![Reply::error(
            429,
            "TooManyRequestsException",
            "Rate exceeded",
        )],
        false,
    )
    .await;
}

#[tokio::test]
async fn both_names_of_throttling_are_retried() {
    retried_then_succeeds(
        vec![
            Reply::error(429, "ThrottlingException", "Rate exceeded"),
            Reply::error(429, "TooManyRequestsException", "Rate exceeded"),
        ],
        true,
    )
    .await;
}

#[tokio::test]
async fn server_errors_are_retried() {
    retried_then_succeeds(
        vec![
            Reply::error(500, "ServiceException", "internal failure"),
            Reply::bare(503),
        ],
        true,
    )
    .await;
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_fails_the_invocation() {
    let fake = Fake::start().await;
    fake.script_checkpoints(vec![
        Reply::error(
            429,
            "TooManyRequestsException",
            "Rate exceeded"
        );
        3
    ]);
    let error = invoke(
        order,
        fake.fast_retry_backend().await,
        envelope(&json!({ "amount": 21 })),
    )
    .await
    .unwrap_err();
    // An Err makes Lambda record the failed invocation and invoke again.
    assert_eq!(error.error_type, "CheckpointError");
    assert!(
        error
            .error_message
            .contains("TooManyRequestsException (429)"),
        "{}",
        error.error_message
    );
    assert_eq!(fake.checkpoints().len(), 3, "3 attempts, then nothing else");
}

#[tokio::test]
async fn a_fatal_4xx_fails_the_execution_and_names_the_cause() {
    let fake = Fake::start().await;
    fake.script_checkpoints([Reply::error(
        400,
        "InvalidParameterValueException",
        "STEP update payload exceeds the limit",
    )]);
    let output = invoke(
        order,
        fake.fast_retry_backend().await,
        envelope(&json!({ "amount": 21 })),
    )
    .await
    .unwrap();
    assert_eq!(output.status, InvocationStatus::Failed);
    assert_eq!(output.result, None);
    let error = output.error.unwrap();
    assert_eq!(error.error_type.as_deref(), Some("CheckpointError"));
    let message = error.error_message.unwrap_or_default();
    assert!(
        message.contains("InvalidParameterValueException (400)")
            && message.contains("STEP update payload exceeds the limit"),
        "{message}"
    );
    // Not retried, and nothing else is sent after it (§4.5).
    assert_eq!(fake.checkpoints().len(), 1, "{:?}", fake.checkpoints());
}

#[tokio::test]
async fn a_stale_token_fails_the_invocation_instead() {
    let fake = Fake::start().await;
    fake.script_checkpoints([Reply::error(
        400,
        "InvalidParameterValueException",
        "Invalid Checkpoint Token: token-0 is not the current token",
    )]);
    let error = invoke(
        order,
        fake.fast_retry_backend().await,
        envelope(&json!({ "amount": 21 })),
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type, "CheckpointError");
    assert!(
        error.error_message.contains("Invalid Checkpoint Token"),
        "{}",
        error.error_message
    );
    assert_eq!(fake.checkpoints().len(), 1);
}

/// Counts the runs of its one step.
fn counted(runs: Arc<AtomicUsize>) -> impl DurableHandler<Value, String> {
    move |_event: Value, ctx: DurableContext| {
        let runs = runs.clone();
        async move {
            let value: String = ctx
                .step(move |_: StepContext| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, StepError>("computed once".to_owned())
                })
                .name("expensive")
                .await?;
            Ok(value)
        }
    }
}

#[tokio::test]
async fn remaining_state_pages_are_fetched_before_the_handler_runs() {
    // The first invocation records the step; take its record from the checkpoint.
    let first = Fake::start().await;
    let runs = Arc::new(AtomicUsize::new(0));
    invoke(
        counted(runs.clone()),
        first.backend(None).await,
        envelope(&json!({})),
    )
    .await
    .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let step_id = first
        .checkpoints()
        .iter()
        .flat_map(|r| r.updates())
        .find(|u| u["Action"] == "SUCCEED")
        .and_then(|u| u["Id"].as_str().map(str::to_owned))
        .unwrap();

    // The second gets it on the second page, behind a marker.
    let fake = Fake::start().await;
    fake.script_states([Reply::ok(json!({
        "Operations": [{
            "Id": step_id,
            "Name": "expensive",
            "Type": "STEP",
            "SubType": "Step",
            "Status": "SUCCEEDED",
            "StartTimestamp": 1_764_000_000.5,
            "EndTimestamp": 1_764_000_001.25,
            "StepDetails": { "Attempt": 1, "Result": "\"computed once\"" }
        }]
    }))]);
    let execution = json!({
        "Id": EXECUTION_ID,
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1_764_000_000_000_i64,
        "ExecutionDetails": { "InputPayload": "{}" }
    });
    let output = invoke(
        counted(runs.clone()),
        fake.backend(None).await,
        envelope_with(vec![execution], Some("page-2")),
    )
    .await
    .unwrap();
    assert_eq!(output, succeeded(&json!("computed once")));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the step replayed from page 2"
    );

    let pages = fake.of(Api::State);
    assert_eq!(pages.len(), 1, "{:?}", fake.requests());
    assert_eq!(pages[0].arn, ARN);
    assert_eq!(pages[0].param("Marker"), Some("page-2"));
    assert_eq!(pages[0].param("CheckpointToken"), Some(FIRST_TOKEN));
    assert_eq!(pages[0].param("MaxItems"), Some("1000"));
    assert!(
        fake.checkpoints().is_empty(),
        "a replay records nothing new"
    );
}

#[tokio::test]
async fn a_state_page_that_is_gone_fails_the_execution() {
    let fake = Fake::start().await;
    fake.script_states([Reply::error(
        404,
        "ResourceNotFoundException",
        "Durable Execution does not exist",
    )]);
    let runs = Arc::new(AtomicUsize::new(0));
    let output = invoke(
        counted(runs.clone()),
        fake.fast_retry_backend().await,
        envelope_with(vec![], Some("page-2")),
    )
    .await
    .unwrap();
    assert_eq!(output.status, InvocationStatus::Failed);
    let message = output.error.unwrap().error_message.unwrap_or_default();
    assert!(
        message.contains("ResourceNotFoundException (404)"),
        "{message}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler did not run");
}

async fn sized(length: Value, _ctx: DurableContext) -> Result<String, DurableError> {
    let length = usize::try_from(length.as_u64().unwrap_or_default()).unwrap_or_default();
    Ok("x".repeat(length))
}

#[tokio::test]
async fn a_result_over_6_mib_is_checkpointed_and_the_output_result_is_empty() {
    // As JSON the string gains its two quotes: one byte over the limit.
    let length = RESPONSE_LIMIT - 1;
    let fake = Fake::start().await;
    let output = invoke(sized, fake.backend(None).await, envelope(&json!(length)))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&output).unwrap(),
        json!({ "Status": "SUCCEEDED", "Result": "" })
    );

    let checkpoints = fake.checkpoints();
    assert_eq!(checkpoints.len(), 1, "only the result is recorded");
    let updates = checkpoints[0].updates();
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(update["Type"], "EXECUTION");
    assert_eq!(update["Action"], "SUCCEED");
    let id = update["Id"].as_str().unwrap_or_default();
    let stamp: u64 = id
        .strip_prefix("execution-result-")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("id {id}"));
    assert!(stamp.abs_diff(common::now_ms()) < 60_000, "{id}");
    let payload = update["Payload"].as_str().unwrap_or_default();
    assert_eq!(payload.len(), RESPONSE_LIMIT + 1);
    assert_eq!(
        serde_json::from_str::<String>(payload).unwrap(),
        "x".repeat(length)
    );
}

#[tokio::test]
async fn a_result_at_the_limit_is_returned_inline() {
    let length = RESPONSE_LIMIT - 2;
    let fake = Fake::start().await;
    let output = invoke(sized, fake.backend(None).await, envelope(&json!(length)))
        .await
        .unwrap();
    assert_eq!(output.status, InvocationStatus::Succeeded);
    assert_eq!(output.result.map(|r| r.len()), Some(RESPONSE_LIMIT));
    assert!(fake.requests().is_empty(), "nothing to checkpoint");
}
