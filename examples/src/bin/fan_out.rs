//! Fan-out / fan-in with `map`: count the words of a list of documents, at
//! most three at a time, each document in its own child context with one
//! step; then gather the counts into a report.
//!
//! ```sh
//! cargo run -p durable-examples --bin fan_out
//! ```
//!
//! One document is empty and its step fails for good. The map runs every
//! item whatever fails (`CompletionConfig::all_completed()`), so the report
//! lists the failure beside the counts instead of failing the execution.

use durable_lambda::prelude::*;
use durable_local::LocalRunner;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
struct Document {
    name: String,
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Count {
    name: String,
    words: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Report {
    counts: Vec<Count>,
    total_words: usize,
    failed: Vec<String>,
    completion_reason: String,
}

async fn handler(documents: Vec<Document>, ctx: DurableContext) -> Result<Report, DurableError> {
    let names: Vec<String> = documents.iter().map(|d| d.name.clone()).collect();

    // Fan out: one child context per document, three at a time. Each item's
    // step result is checkpointed; a replay returns it without counting again.
    let batch: BatchResult<Count, StepError> = ctx
        .map(
            documents,
            |item: DurableContext, doc: Document, _index: usize| async move {
                item.step(|step: StepContext| async move {
                    // Stands for a slow call (a download, a model): the steps of
                    // the items in flight overlap.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if doc.text.trim().is_empty() {
                        return Err(StepError::terminal(format!("{} is empty", doc.name)));
                    }
                    step.logger().info(format!("counting {}", doc.name));
                    Ok(Count {
                        words: doc.text.split_whitespace().count(),
                        name: doc.name,
                    })
                })
                .name("count_words")
                .await
            },
        )
        .name("count_documents")
        .max_concurrency(3)
        .completion(CompletionConfig::all_completed())
        .item_namer(move |index| format!("doc-{}", names[index]))
        .await?;

    // Fan in: the batch lists every item in input order, with its status.
    let failed: Vec<String> = batch
        .failed()
        .filter_map(|item| item.error.as_ref().map(|e| e.message().to_owned()))
        .collect();
    let completion_reason = format!("{:?}", batch.completion_reason());
    let counts = batch.into_results();
    let total_words = ctx
        .step({
            let words: Vec<usize> = counts.iter().map(|c| c.words).collect();
            move |_| async move { Ok::<_, StepError>(words.iter().sum::<usize>()) }
        })
        .name("sum_words")
        .await?;
    Ok(Report {
        counts,
        total_words,
        failed,
        completion_reason,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    let documents = serde_json::json!([
        { "name": "intro",   "text": "durable functions remember what they did" },
        { "name": "replay",  "text": "a replay returns recorded results instead of running steps again" },
        { "name": "empty",   "text": "   " },
        { "name": "fan-out", "text": "map runs one child context per item" },
        { "name": "fan-in",  "text": "the batch result lists every item in input order" },
    ]);
    // The real clock (there is no wait to skip), so the timeline shows the
    // steps' 20 ms and the map's ~40 ms for five items three at a time.
    let runner = LocalRunner::new(handler).real_time();
    let execution = runner.run(documents).await?;

    println!("\nexecution {}", execution.arn());
    println!("status    {}", execution.status());
    match execution.result::<Report>()? {
        Some(report) => {
            for count in &report.counts {
                println!("  {:<8} {:>3} words", count.name, count.words);
            }
            println!("  total    {:>3} words", report.total_words);
            for failure in &report.failed {
                println!("  failed: {failure}");
            }
            println!("  completion: {}", report.completion_reason);
        }
        None => println!(
            "error     {}",
            execution
                .error()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
    }
    println!("invocations {}\n", execution.invocations());
    print!("{}", execution.timeline());
    Ok(())
}
