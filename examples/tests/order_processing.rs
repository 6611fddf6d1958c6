//! The main example's workflow on `durable dev` over a SQLite file: the
//! approver answers over HTTP, the payment step is retried, the execution
//! is found again by name, also after the server restarts over the same
//! file.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use durable_dev::{DevConfig, DevServer, FunctionTarget};
use durable_examples::order_processing::{
    APPROVER, Approval, ApprovalRequest, FUNCTION_NAME, OrderRequest, Processed, handler,
    local_client, next_approval_request, pending_approval,
};
use durable_lambda::wire::{ExecutionStatus, OperationStatus};
use durable_local::{Clock, LocalRunner, LocalService, ServiceConfig, SqliteStore};

/// A directory of its own under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "durable-examples-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runtime standing for one run of the program: dropping it ends every
/// task of the server, which lets go of the SQLite file.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn serve(db: &Path) -> DevServer {
    let service = LocalService::with_store(
        Box::new(SqliteStore::open(db).unwrap()),
        Clock::real(),
        ServiceConfig::default(),
    );
    let config = DevConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..DevConfig::default()
    };
    let server = DevServer::start(service, config).await.unwrap();
    server
        .add_function(FUNCTION_NAME, FunctionTarget::handler(handler))
        .await
        .unwrap();
    server
}

#[test]
fn an_order_is_approved_over_http_retried_and_found_again_by_name() {
    let dir = TempDir::new("order-processing");
    let db = dir.0.join("orders.sqlite");
    // One failing payment attempt: a single one-second back-off.
    let request = OrderRequest {
        order_id: "o-7".into(),
        payment_failures: 1,
    };
    let name = request.execution_name();
    let input = serde_json::to_string(&request).unwrap();

    // The first run of the program, ended (like a Ctrl-C) while the
    // workflow waits for approval.
    let (arn, asked) = runtime().block_on(first_run(&db, &name, &input));
    // The rerun: a new server over the same file.
    runtime().block_on(rerun(&db, &name, &input, &arn, &asked));
}

async fn first_run(db: &Path, name: &str, input: &str) -> (String, ApprovalRequest) {
    let server = serve(db).await;
    let started = server
        .start_execution(FUNCTION_NAME, Some(name), input.to_owned())
        .unwrap();
    assert!(started.created);
    let arn = started.arn;

    // The workflow suspends on the approval callback.
    let asked = tokio::time::timeout(
        Duration::from_secs(20),
        next_approval_request(server.service(), &arn),
    )
    .await
    .unwrap()
    .unwrap()
    .expect("an approval request");
    assert_eq!(asked.order_id, "o-7");
    assert_eq!(asked.approver, APPROVER);
    let status = server
        .service()
        .with_execution(&arn, |exec| exec.status().clone())
        .unwrap();
    assert_eq!(status, ExecutionStatus::Running);

    // A second start under the same name finds the same execution.
    let again = server
        .start_execution(FUNCTION_NAME, Some(name), input.to_owned())
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.arn, arn);
    server.shutdown().await;
    (arn, asked)
}

async fn rerun(db: &Path, name: &str, input: &str, arn: &str, asked: &ApprovalRequest) {
    let server = serve(db).await;
    // The start by name finds the waiting execution.
    let resumed = server
        .start_execution(FUNCTION_NAME, Some(name), input.to_owned())
        .unwrap();
    assert!(!resumed.created);
    assert_eq!(resumed.arn, arn);
    assert_eq!(
        pending_approval(server.service(), arn).unwrap().as_ref(),
        Some(asked)
    );

    // The approver answers over HTTP, as an external system would.
    local_client(server.endpoint())
        .send_callback_success(
            &asked.callback_id,
            &Approval {
                approved: true,
                approver: Some("test".into()),
            },
        )
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait_for_end(arn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExecutionStatus::Succeeded);

    let execution = LocalRunner::with_service(handler, server.service().clone())
        .execution(arn)
        .unwrap();
    assert_eq!(
        execution.result::<Processed>().unwrap(),
        Some(Processed {
            order_id: "o-7".into(),
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
            "awaiting-approval",
            "send_for_approval",
            "process_order"
        ]
    );
    let processed = execution.operation("process_order").unwrap();
    assert_eq!(processed.status(), &OperationStatus::Succeeded);
    assert!(processed.attempts() > 1, "{}", processed.attempts());
    let approval = execution.operation("awaiting-approval").unwrap();
    assert_eq!(
        approval.result::<Approval>().unwrap(),
        Some(Approval {
            approved: true,
            approver: Some("test".into()),
        })
    );
    assert!(execution.timeline().to_string().contains("process_order"));
    assert!(pending_approval(server.service(), arn).unwrap().is_none());

    // Finished: the name still finds it, and nothing new starts.
    let after = server
        .start_execution(FUNCTION_NAME, Some(name), input.to_owned())
        .unwrap();
    assert!(!after.created);
    assert_eq!(after.arn, arn);
    assert_eq!(server.service().execution_arns(), [arn]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_order_fails_without_processing() {
    let dir = TempDir::new("order-rejected");
    let server = serve(&dir.0.join("orders.sqlite")).await;
    let request = OrderRequest::new("o-8");
    let arn = server
        .start_execution(
            FUNCTION_NAME,
            Some(&request.execution_name()),
            serde_json::to_string(&request).unwrap(),
        )
        .unwrap()
        .arn;
    let asked = tokio::time::timeout(
        Duration::from_secs(20),
        next_approval_request(server.service(), &arn),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    local_client(server.endpoint())
        .send_callback_success(&asked.callback_id, &serde_json::json!({"approved": false}))
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait_for_end(&arn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExecutionStatus::Failed);
    let execution = LocalRunner::with_service(handler, server.service().clone())
        .execution(&arn)
        .unwrap();
    assert!(execution.operation("process_order").is_none());
    let error = execution.error().unwrap().to_string();
    assert!(error.contains("o-8 was not approved"), "{error}");
    server.shutdown().await;
}
