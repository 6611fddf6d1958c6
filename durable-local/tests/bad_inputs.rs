//! The bad inputs of callbacks and chained invokes, as a user hits them: a
//! real handler on `LocalRunner`, and the external system's requests through
//! the runner and through `LocalService`, the operations the service offers.
//!
//! * completing an unknown callback: `ResourceNotFoundException`;
//! * completing a callback twice: `CallbackTimeoutException`, the first
//!   result kept;
//! * a result over the size limit: `InvalidParameterValueException`, the
//!   callback left open;
//! * invoking a function that is not registered: `ResourceNotFoundException`
//!   as the invoke's error, catchable by the caller.

use durable_core::limits::MAX_CALLBACK_RESULT_BYTES;
use durable_core::wire::{ErrorObject, ExecutionStatus, OperationStatus};
use durable_core::{CALLBACK_TIMEOUT_EXCEPTION, DurableContext, DurableError, InvokeErrorKind};
use durable_local::{CallbackId, CallbackRef, LocalError, LocalRunner, RESOURCE_NOT_FOUND};
use serde_json::{Value, json};

/// Creates the callback `approval` (no timeout: on the virtual clock a run
/// would fire it at once) and returns what it receives.
async fn approval(_: Value, ctx: DurableContext) -> Result<String, DurableError> {
    let callback = ctx.create_callback::<String>("approval").await;
    Ok(callback.result().await?)
}

#[tokio::test]
async fn completing_an_unknown_callback_is_resource_not_found() {
    let runner = LocalRunner::new(approval);
    let exec = runner.run(json!(null)).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Running);

    let unknown = CallbackId::new("no-such-callback");
    for err in [
        runner.callback_success(&unknown, "\"yes\"").unwrap_err(),
        runner
            .callback_failure(&unknown, ErrorObject::new("Denied", "no"))
            .unwrap_err(),
        runner.callback_heartbeat(&unknown).unwrap_err(),
        runner
            .service()
            .send_callback_success("no-such-callback", b"\"yes\"")
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, LocalError::CallbackNotFound { callback_id } if callback_id == "no-such-callback"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "ResourceNotFoundException: no callback with id no-such-callback"
        );
        let service_error = err.to_backend_error();
        assert_eq!(service_error.code(), RESOURCE_NOT_FOUND);
        assert_eq!(service_error.status(), Some(404));
    }
    // A name that no callback has is reported as such.
    let err = runner
        .callback_success(CallbackRef::named(exec.arn(), "payment"), "1")
        .unwrap_err();
    assert!(
        matches!(&err, LocalError::CallbackNameNotFound { name, .. } if name == "payment"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("has no callback named \"payment\"")
    );

    // The real callback is untouched and still completes.
    let id = exec.operation("approval").unwrap().callback_id().unwrap();
    runner.callback_success(&id, "\"yes\"").unwrap();
    let exec = runner.resume(exec.arn()).await.unwrap();
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("yes"));
}

#[tokio::test]
async fn completing_a_callback_twice_is_callback_timeout_exception() {
    let runner = LocalRunner::new(approval);
    let exec = runner.run(json!(null)).await.unwrap();
    let arn = exec.arn().to_owned();
    let id = exec.operation("approval").unwrap().callback_id().unwrap();
    // The external system has only the id.
    runner
        .service()
        .send_callback_success(id.as_str(), b"\"yes\"")
        .unwrap();

    for err in [
        runner
            .service()
            .send_callback_success(id.as_str(), b"\"no\"")
            .unwrap_err(),
        runner
            .service()
            .send_callback_failure(id.as_str(), ErrorObject::new("Denied", "too late"))
            .unwrap_err(),
        runner
            .service()
            .send_callback_heartbeat(id.as_str())
            .unwrap_err(),
    ] {
        assert!(matches!(err, LocalError::CallbackClosed { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "CallbackTimeoutException: callback {id} is already closed (SUCCEEDED); \
                 it can no longer be completed or heartbeated"
            )
        );
        assert_eq!(err.to_backend_error().code(), CALLBACK_TIMEOUT_EXCEPTION);
    }

    // The first result stands.
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("yes"));
    assert_eq!(
        exec.operation("approval").unwrap().result_payload(),
        Some("\"yes\"")
    );

    // After the execution has ended the callback is still closed, and says why.
    let err = runner.callback_success(&id, "\"no\"").unwrap_err();
    assert_eq!(err.to_backend_error().code(), CALLBACK_TIMEOUT_EXCEPTION);
    assert!(
        err.to_string()
            .contains("its execution has ended: SUCCEEDED"),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_callback_result_is_rejected_and_the_callback_stays_open() {
    let runner = LocalRunner::new(approval);
    let exec = runner.run(json!(null)).await.unwrap();
    let arn = exec.arn().to_owned();
    let id = exec.operation("approval").unwrap().callback_id().unwrap();

    // A JSON string one byte over the limit.
    let oversized = format!(
        "\"{}\"",
        "x".repeat(durable_core::limits::MAX_CALLBACK_RESULT_BYTES - 1)
    );
    assert_eq!(oversized.len(), MAX_CALLBACK_RESULT_BYTES + 1);
    let err = runner
        .service()
        .send_callback_success(id.as_str(), oversized.as_bytes())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            LocalError::CallbackPayloadTooLarge { callback_id, size, max }
                if *callback_id == *id.as_str() && *size == MAX_CALLBACK_RESULT_BYTES + 1
                    && *max == durable_core::limits::MAX_CALLBACK_RESULT_BYTES
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "InvalidParameterValueException: the result for callback {id} is {} bytes, \
             over the maximum of {MAX_CALLBACK_RESULT_BYTES} bytes",
            MAX_CALLBACK_RESULT_BYTES + 1
        )
    );
    assert_eq!(
        err.to_backend_error().code(),
        "InvalidParameterValueException"
    );
    // Through the runner as well.
    let err = runner.callback_success(&id, &oversized).unwrap_err();
    assert!(matches!(err, LocalError::CallbackPayloadTooLarge { .. }));

    // Nothing happened to the callback: still open, and a valid result completes it.
    let exec = runner.execution(&arn).unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Running);
    assert_eq!(
        exec.operation("approval").unwrap().status(),
        &OperationStatus::Started
    );
    runner.callback_success(&id, "\"yes\"").unwrap();
    let exec = runner.resume(&arn).await.unwrap();
    assert_eq!(exec.result::<String>().unwrap().as_deref(), Some("yes"));
}

/// Invokes `payments`, which nobody registered; the error is not caught.
async fn invokes_a_missing_function(_: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    Ok(ctx
        .invoke::<_, Value>("payments", &json!({"amount": 5}))
        .await?)
}

/// The same, catching the error.
async fn catches_a_missing_function(_: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    match ctx
        .invoke::<_, Value>("payments", &json!({"amount": 5}))
        .name("charge")
        .await
    {
        Ok(value) => Ok(value),
        Err(error) => Ok(json!({
            "kind": format!("{:?}", error.kind()),
            "type": error.error_type(),
            "message": error.message(),
        })),
    }
}

#[tokio::test]
async fn invoking_an_unregistered_function_fails_the_invoke_clearly() {
    let runner = LocalRunner::new(invokes_a_missing_function)
        .register_function("billing", |n: u32, _ctx: DurableContext| async move {
            Ok::<_, DurableError>(n)
        });
    let exec = runner.run(json!(null)).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let error = exec.error().unwrap();
    assert_eq!(error.error_type.as_deref(), Some(RESOURCE_NOT_FOUND));
    let message = error.error_message.as_deref().unwrap();
    assert!(
        message.contains("Function not found: payments"),
        "{message}"
    );
    assert!(
        message.contains("LocalRunner::register_function"),
        "{message}"
    );
    // No execution was started for it.
    assert_eq!(runner.service().execution_arns().len(), 1);
    assert_eq!(exec.invocations(), 1);

    // The caller can catch it: an InvokeError carrying the service's error.
    let runner = LocalRunner::new(catches_a_missing_function);
    let exec = runner.run(json!(null)).await.unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    let caught: Value = exec.result().unwrap().unwrap();
    assert_eq!(
        caught["kind"],
        json!(format!("{:?}", InvokeErrorKind::Failed))
    );
    assert_eq!(caught["type"], json!(RESOURCE_NOT_FOUND));
    assert!(
        caught["message"]
            .as_str()
            .unwrap()
            .contains("Function not found: payments"),
        "{caught}"
    );
    let charge = exec.operation("charge").unwrap();
    assert_eq!(charge.status(), &OperationStatus::Failed);
}
