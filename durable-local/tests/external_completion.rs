//! A callback completed by another task while a run sleeps on the real
//! clock: the run wakes at once instead of sleeping until its next timer.

use std::time::{Duration, Instant};

use durable_core::wire::ExecutionStatus;
use durable_core::{DurableContext, DurableError, StepContext};
use durable_local::LocalRunner;
use serde_json::Value;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_completion_wakes_a_run_sleeping_until_a_timeout() {
    let (ids, mut inbox) = mpsc::unbounded_channel::<String>();
    let handler = move |_: Value, ctx: DurableContext| {
        let ids = ids.clone();
        async move {
            let answer: String = ctx
                .wait_for_callback(move |id: String, _: StepContext| async move {
                    ids.send(id)
                        .map_err(|e| durable_core::StepError::new(e.to_string()))
                })
                .name("approval")
                // The run sleeps until this timeout unless something wakes it.
                .timeout(Duration::from_secs(60))
                .await?;
            Ok::<_, DurableError>(answer)
        }
    };
    let runner = LocalRunner::new(handler).real_time();
    let service = runner.service().clone();
    let external = tokio::spawn(async move {
        let id = inbox.recv().await.expect("the submitter sends the id");
        tokio::time::sleep(Duration::from_millis(200)).await;
        service.send_callback_success(&id, b"\"approved\"")
    });

    let began = Instant::now();
    let exec = tokio::time::timeout(Duration::from_secs(20), runner.run(Value::Null))
        .await
        .expect("the run wakes when the callback is completed")
        .unwrap();
    external.await.unwrap().unwrap();
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.result::<String>().unwrap().as_deref(),
        Some("approved")
    );
    assert!(began.elapsed() < Duration::from_secs(20));
    assert_eq!(exec.invocations(), 2);
}
