//! `durable dev` over HTTP: Lambda's durable-execution API as aws-sdk-lambda
//! sees it, Invoke with durable execution names, and the service's answers
//! to bad requests (raw HTTP, so nothing in between fixes them up).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use durable_core::prelude::*;
use durable_core::wire::ExecutionStatus;
use durable_dev::{DevConfig, DevServer, EventSink, FunctionTarget};
use durable_lambda::DurableClient;
use durable_local::{Clock, LocalService, MemoryStore, ServiceConfig};
use serde_json::{Value, json};

async fn order(event: Value, ctx: DurableContext) -> Result<Value, DurableError> {
    let id = event["id"].as_str().unwrap_or("none").to_owned();
    let checked: String = ctx
        .step(move |_: StepContext| async move { Ok::<_, StepError>(format!("checked {id}")) })
        .name("check")
        .await?;
    ctx.wait(Duration::from_secs(1)).name("cool-down").await;
    let approval = ctx
        .create_callback::<Value>("approval")
        .timeout(Duration::from_secs(60))
        .await;
    let decision = approval.result().await?;
    Ok(json!({ "checked": checked, "decision": decision }))
}

async fn echo(event: Value, _ctx: DurableContext) -> Result<Value, DurableError> {
    Ok(json!({ "echo": event }))
}

async fn start() -> DevServer {
    start_with_events(Vec::new()).await
}

/// A server on a free loopback port serving `orders` and `echo`, sending
/// its status-change events to `events`.
async fn start_with_events(events: Vec<EventSink>) -> DevServer {
    let service = LocalService::with_store(
        Box::new(MemoryStore::new()),
        Clock::real(),
        ServiceConfig::default(),
    );
    let config = DevConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_body_bytes: 64 * 1024,
        events,
        ..DevConfig::default()
    };
    let server = DevServer::start(service, config).await.unwrap();
    server
        .add_function("orders", FunctionTarget::handler(order))
        .await
        .unwrap();
    server
        .add_function("echo", FunctionTarget::handler(echo))
        .await
        .unwrap();
    server
}

fn sdk(server: &DevServer) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(server.endpoint())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// One raw HTTP/1.1 request; returns (status, x-amzn-errortype, body).
fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amzn-errortype")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, code, body.to_owned())
}

fn encode(arn: &str) -> String {
    arn.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_runs_to_the_end_through_the_rest_api() {
    let server = start().await;
    let lambda = sdk(&server);
    let client = DurableClient::new(lambda.clone());

    let arn = client
        .start_execution("orders", "order-1", &json!({"id": "o-1"}))
        .await
        .unwrap();
    // The same name and input: the same execution.
    let again = client
        .start_execution("orders", "order-1", &json!({"id": "o-1"}))
        .await
        .unwrap();
    assert_eq!(again, arn);
    // The same name with another input: refused.
    let clash = client
        .start_execution("orders", "order-1", &json!({"id": "other"}))
        .await
        .unwrap_err();
    assert_eq!(clash.code(), "DurableExecutionAlreadyStartedException");

    // Wait for the callback, listing RUNNING executions meanwhile.
    let callback_id = loop {
        if let Some(id) = server.service().find_callback(&arn, "approval").unwrap() {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let listed = lambda
        .list_durable_executions_by_function()
        .function_name("orders")
        .statuses(aws_sdk_lambda::types::ExecutionStatus::Running)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .durable_executions()
        .iter()
        .map(|e| e.durable_execution_name())
        .collect();
    assert_eq!(names, ["order-1"]);

    client
        .send_callback_success(&callback_id, &json!({"approved": true}))
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait_for_end(&arn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExecutionStatus::Succeeded);

    let got = lambda
        .get_durable_execution()
        .durable_execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.durable_execution_name(), "order-1");
    assert_eq!(
        got.status(),
        &aws_sdk_lambda::types::ExecutionStatus::Succeeded
    );
    let result: Value = serde_json::from_str(got.result().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"checked": "checked o-1", "decision": {"approved": true}})
    );
    // Timestamps come back as the SDK reads them (epoch seconds on the wire).
    let started = got.start_timestamp().to_millis().unwrap();
    let now = Clock::real().now_ms();
    assert!((now - started).abs() < 60_000, "{started} vs {now}");
    assert!(got.end_timestamp().unwrap().to_millis().unwrap() >= started + 1000);

    let history = lambda
        .get_durable_execution_history()
        .durable_execution_arn(&arn)
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = history
        .events()
        .iter()
        .filter_map(|e| e.event_type().map(|t| t.as_str()))
        .collect();
    for expected in [
        "ExecutionStarted",
        "StepSucceeded",
        "WaitSucceeded",
        "CallbackStarted",
        "CallbackSucceeded",
        "ExecutionSucceeded",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    // A closed callback cannot be completed again.
    let closed = client
        .send_callback_success(&callback_id, &json!(1))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), "CallbackTimeoutException");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_invoke_returns_the_result_and_stop_ends_an_execution() {
    let server = start().await;
    let lambda = sdk(&server);
    let out = lambda
        .invoke()
        .function_name("echo")
        .durable_execution_name("echo-1")
        .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"x":1}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert!(out.durable_execution_arn().is_some());
    let payload: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload, json!({"echo": {"x": 1}}));

    let client = DurableClient::new(lambda.clone());
    let arn = client
        .start_execution("orders", "to-stop", &json!({"id": "s"}))
        .await
        .unwrap();
    client.stop_execution(&arn, None).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait_for_end(&arn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExecutionStatus::Stopped);

    let missing = lambda
        .invoke()
        .function_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&missing),
        Some("ResourceNotFoundException")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_services_errors() {
    let server = start().await;
    let addr = server.local_addr();
    let started = server
        .start_execution("orders", Some("bad-input"), r#"{"id":"b"}"#.to_owned())
        .unwrap();
    let arn = started.arn;
    // Wait until the callback is open: the execution is suspended.
    while server
        .service()
        .find_callback(&arn, "approval")
        .unwrap()
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let checkpoint = format!("/2025-12-01/durable-executions/{}/checkpoint", encode(&arn));
    let tasks = tokio::task::spawn_blocking(move || {
        // Malformed JSON.
        let (status, code, body) = raw(addr, "POST", &checkpoint, b"{not json");
        assert_eq!(
            (status, code.as_str()),
            (400, "InvalidRequestContentException"),
            "{body}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["Message"].as_str().unwrap().contains("JSON"));
        // A forged token, and one that looks like the service's but is not current.
        for token in ["forged", "abcdefgh.0000000000000000.1"] {
            let request = json!({"CheckpointToken": token, "Updates": []}).to_string();
            let (status, code, body) = raw(addr, "POST", &checkpoint, request.as_bytes());
            assert_eq!(
                (status, code.as_str()),
                (400, "InvalidParameterValueException")
            );
            assert!(body.to_lowercase().contains("checkpoint token"), "{body}");
        }
        // Too large.
        let big = vec![b' '; 100 * 1024];
        let (status, code, _) = raw(addr, "POST", &checkpoint, &big);
        assert_eq!(
            (status, code.as_str()),
            (413, "RequestEntityTooLargeException")
        );
        // Unknown execution, callback, path.
        let (status, code, _) = raw(
            addr,
            "GET",
            "/2025-12-01/durable-executions/arn%3Anope",
            b"",
        );
        assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
        let (status, code, _) = raw(
            addr,
            "POST",
            "/2025-12-01/durable-execution-callbacks/not-a-callback/succeed",
            b"1",
        );
        assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
        let (status, code, _) = raw(addr, "GET", "/nothing-here", b"");
        assert_eq!((status, code.as_str()), (404, "UnknownOperationException"));
        // An Invoke payload that is not JSON.
        let (status, code, _) = raw(
            addr,
            "POST",
            "/2015-03-31/functions/echo/invocations",
            b"{oops",
        );
        assert_eq!(
            (status, code.as_str()),
            (400, "InvalidRequestContentException")
        );
    });
    tasks.await.unwrap();
    // Nothing above hurt the execution.
    assert_eq!(
        server
            .service()
            .with_execution(&arn, |e| e.status().clone())
            .unwrap(),
        ExecutionStatus::Running
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_unless_allowed() {
    let config = DevConfig {
        bind: SocketAddr::from(([0, 0, 0, 0], 0)),
        ..DevConfig::default()
    };
    let error = DevServer::start(LocalService::default(), config)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("refusing to listen on 0.0.0.0"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_reported() {
    let server = start().await;
    let mut events = server.subscribe();
    let started = server
        .start_execution("echo", Some("evented"), "{}".to_owned())
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.arn(), started.arn);
        assert_eq!(event.detail_type, "Durable Execution Status Change");
        seen.push(event.status().to_owned());
    }
    assert_eq!(seen, ["RUNNING", "SUCCEEDED"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_posted_to_a_webhook() {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(event): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(event);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });

    let server = start_with_events(vec![EventSink::Webhook(hook)]).await;
    let started = server
        .start_execution("echo", Some("hooked"), r#"{"n":1}"#.to_owned())
        .unwrap();
    server.wait_for_end(&started.arn).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = received.lock().unwrap().clone();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["RUNNING", "SUCCEEDED"]);
    assert_eq!(events[1]["detail-type"], "Durable Execution Status Change");
    assert_eq!(events[1]["resources"][0], started.arn.as_str());
    assert_eq!(events[1]["detail"]["durableExecutionName"], "hooked");
    server.shutdown().await;
    receiver.abort();
}

/// `--events FILE`: one JSON object per line, appended, in order, for every
/// execution (a stopped one included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_appended_to_a_file_as_json_lines() {
    let dir = std::env::temp_dir().join(format!("durable-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&path);
    let server = start_with_events(vec![EventSink::File(path.clone())]).await;
    let done = server
        .start_execution("echo", Some("filed"), "{}".to_owned())
        .unwrap();
    server.wait_for_end(&done.arn).await.unwrap();
    // An order suspends on its callback; stopping it is a status change too.
    let stopped = server
        .start_execution("orders", Some("to-stop"), r#"{"id":"o-9"}"#.to_owned())
        .unwrap();
    let client = DurableClient::new(sdk(&server));
    client.stop_execution(&stopped.arn, None).await.unwrap();

    let expected = 4;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect();
        if lines.len() >= expected || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let of = |name: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|e| e["detail"]["durableExecutionName"] == name)
            .map(|e| e["detail"]["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of("filed"), ["RUNNING", "SUCCEEDED"], "{lines:?}");
    assert_eq!(of("to-stop"), ["RUNNING", "STOPPED"], "{lines:?}");
    assert_eq!(lines.len(), expected, "{lines:?}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The list call's filters and paging, as aws-sdk-lambda sends them:
/// StartedAfter and StartedBefore (inclusive), DurableExecutionName,
/// ReverseOrder, MaxItems with NextMarker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_by_start_time_and_name_and_pages_in_order() {
    let server = start().await;
    let lambda = sdk(&server);
    let mut arns = Vec::new();
    for i in 0..3 {
        let started = server
            .service()
            .start_execution("echo", Some(&format!("e-{i}")), format!("{{\"n\":{i}}}"))
            .unwrap();
        arns.push(started.arn);
        // Distinct start times (the service keeps milliseconds).
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let middle = lambda
        .get_durable_execution()
        .durable_execution_arn(&arns[1])
        .send()
        .await
        .unwrap()
        .start_timestamp;

    let names = |out: &aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionOutput| {
        out.durable_executions()
            .iter()
            .map(|e| e.durable_execution_name().to_owned())
            .collect::<Vec<_>>()
    };
    let list = || {
        lambda
            .list_durable_executions_by_function()
            .function_name("echo")
    };

    let all = list().send().await.unwrap();
    assert_eq!(names(&all), ["e-0", "e-1", "e-2"], "oldest first");
    let after = list().started_after(middle).send().await.unwrap();
    assert_eq!(names(&after), ["e-1", "e-2"]);
    let before = list().started_before(middle).send().await.unwrap();
    assert_eq!(names(&before), ["e-0", "e-1"]);
    let named = list().durable_execution_name("e-2").send().await.unwrap();
    assert_eq!(names(&named), ["e-2"]);
    let reversed = list().reverse_order(true).send().await.unwrap();
    assert_eq!(names(&reversed), ["e-2", "e-1", "e-0"]);

    // One at a time, following NextMarker to the end.
    let mut paged = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = list()
            .max_items(1)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.durable_executions().len() <= 1);
        paged.extend(names(&page));
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
        assert!(paged.len() <= 3, "paging does not end: {paged:?}");
    }
    assert_eq!(paged, ["e-0", "e-1", "e-2"]);

    // Another function's executions are not listed.
    let other = lambda
        .list_durable_executions_by_function()
        .function_name("orders")
        .send()
        .await
        .unwrap();
    assert!(other.durable_executions().is_empty());
    server.shutdown().await;
}
