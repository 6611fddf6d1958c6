#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! `durable dev` under a bounded loopback load: CheckpointDurableExecution
//! calls per second and their latency, over HTTP/1.1 keep-alive
//! connections, one execution per connection (each call chains the token
//! the previous one returned), with the in-memory and the SQLite store.
//!
//! ```sh
//! cargo bench -p durable-dev --bench dev_api            # 8 connections × 2,000 calls
//! cargo bench -p durable-dev --bench dev_api -- 4 500   # connections, calls each
//! ```
//!
//! Each call carries one step's START and SUCCEED (a 16-byte result): the
//! shape of a step the SDK checkpoints. The load is closed-loop: each
//! connection sends its next call when the previous one is answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use durable_dev::{DevConfig, DevServer};
use durable_local::{Clock, ExecutionStore, LocalService, MemoryStore, ServiceConfig, SqliteStore};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

async fn load(store: Box<dyn ExecutionStore>, connections: usize, calls: usize) -> (f64, Vec<f64>) {
    let service = LocalService::with_store(store, Clock::real(), ServiceConfig::default());
    let config = DevConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..DevConfig::default()
    };
    let server = DevServer::start(service, config).await.unwrap();
    let endpoint = server.endpoint().to_owned();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let started = server
            .service()
            .start_execution("bench", Some(&format!("load-{c}")), "{}".to_owned())
            .unwrap();
        let invocation = server.service().begin_invocation(&started.arn).unwrap();
        let mut token = invocation.input.checkpoint_token.unwrap();
        let url = format!(
            "{endpoint}/2025-12-01/durable-executions/{}/checkpoint",
            form_urlencoded::byte_serialize(started.arn.as_bytes()).collect::<String>()
        );
        tasks.push(tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http();
            let mut latencies = Vec::with_capacity(calls);
            for i in 0..calls {
                let id = format!("step-{i}");
                let body = json!({
                    "CheckpointToken": token,
                    "Updates": [
                        {"Id": id, "Type": "STEP", "SubType": "Step", "Action": "START", "Name": "s"},
                        {"Id": id, "Type": "STEP", "SubType": "Step", "Action": "SUCCEED", "Name": "s", "Payload": "\"0123456789abcd\""}
                    ]
                });
                let request = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                let sent = Instant::now();
                let response = client.request(request).await.unwrap();
                let status = response.status();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                latencies.push(sent.elapsed().as_secs_f64() * 1e6);
                assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
                let answer: Value = serde_json::from_slice(&bytes).unwrap();
                token = answer["CheckpointToken"].as_str().unwrap().to_owned();
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    server.shutdown().await;
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    (rate, latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let connections = args.first().copied().unwrap_or(8);
    let calls = args.get(1).copied().unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("durable-dev-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "durable dev: CheckpointDurableExecution over loopback, {connections} connections x {calls} calls"
    );
    for run in 0..3 {
        for (label, store) in [
            (
                "memory",
                Box::new(MemoryStore::new()) as Box<dyn ExecutionStore>,
            ),
            (
                "sqlite",
                Box::new(SqliteStore::open(dir.join(format!("bench-{run}.sqlite"))).unwrap()),
            ),
        ] {
            let (rate, latencies) = runtime.block_on(load(store, connections, calls));
            println!(
                "run {run} {label:<7} {rate:>9.0} calls/s   p50 {:>7.0} µs   p99 {:>7.0} µs   max {:>7.0} µs",
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                percentile(&latencies, 1.0),
            );
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}
