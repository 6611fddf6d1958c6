//! map and parallel against the fake service.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use durable_core::wire::*;
use durable_core::*;

#[tokio::test]
async fn map_runs_items_as_child_contexts_with_index_ids_and_replays() {
    let fake = Arc::new(Fake::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let runs = runs.clone();
        move |names: Vec<String>, ctx: DurableContext| {
            let runs = runs.clone();
            async move {
                let batch = ctx
                    .map(
                        names,
                        move |item: DurableContext, name: String, index: usize| {
                            let runs = runs.clone();
                            async move {
                                item.step(move |_| async move {
                                    runs.fetch_add(1, Ordering::SeqCst);
                                    Ok::<_, StepError>(format!("{index}:{name}"))
                                })
                                .await
                            }
                        },
                    )
                    .name("greet")
                    .max_concurrency(1)
                    .await?;
                assert_eq!(batch.completion_reason(), CompletionReason::AllCompleted);
                Ok::<_, DurableError>(batch.into_result()?)
            }
        }
    };
    let out = invoke(&fake, &handler, r#"["a","b"]"#).await.unwrap();
    assert_eq!(out.result.as_deref(), Some(r#"["0:a","1:b"]"#));
    let updates = fake.batches().concat();
    let map_id = id::operation_id(None, 1);
    assert_eq!(updates[0].sub_type.as_deref(), Some("Map"));
    assert_eq!(updates[0].name.as_deref(), Some("greet"));
    let item0 = &updates[1];
    assert_eq!(item0.sub_type.as_deref(), Some("MapIteration"));
    assert_eq!(item0.name.as_deref(), Some("map-item-0"));
    assert_eq!(item0.id, id::operation_id(Some(&map_id), 0));
    assert_eq!(item0.parent_id.as_deref(), Some(map_id.as_str()));
    let last = updates.last().unwrap();
    assert_eq!(
        (last.sub_type.as_deref(), &last.action),
        (Some("Map"), &OperationAction::Succeed)
    );
    // Replay returns the recorded batch without running any item.
    let again = invoke(&fake, &handler, r#"["a","b"]"#).await.unwrap();
    assert_eq!(again, out);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn completion_policies_stop_early_and_report_why() {
    let cases = [
        // The second success comes from the last item: everything ran.
        (
            CompletionConfig::default().min_successful(2),
            "AllCompleted",
            2,
            2,
        ),
        (
            CompletionConfig::first_successful(),
            "MinSuccessfulReached",
            1,
            0,
        ),
        (
            CompletionConfig::default().tolerated_failure_count(1),
            "FailureToleranceExceeded",
            1,
            2,
        ),
        (
            CompletionConfig::default(),
            "FailureToleranceExceeded",
            1,
            1,
        ),
        (CompletionConfig::all_completed(), "AllCompleted", 2, 2),
    ];
    for (completion, reason, ok, failed) in cases {
        let fake = Arc::new(Fake::default());
        let handler = move |_: serde_json::Value, ctx: DurableContext| async move {
            // Items 0 and 3 succeed, 1 and 2 fail.
            let batch = ctx
                .map(
                    vec![true, false, false, true],
                    |item: DurableContext, good: bool, _| async move {
                        item.step(move |_| async move {
                            if good {
                                Ok(1)
                            } else {
                                Err(StepError::new("bad item"))
                            }
                        })
                        .retry(RetryPolicy::none())
                        .await
                    },
                )
                .max_concurrency(1)
                .completion(completion)
                .await?;
            Ok::<_, DurableError>((
                format!("{:?}", batch.completion_reason()),
                batch.success_count(),
                batch.failure_count(),
            ))
        };
        let out = invoke(&fake, &handler, "null").await.unwrap();
        let expected = serde_json::to_string(&(reason, ok, failed)).unwrap();
        assert_eq!(
            out.result.as_deref(),
            Some(expected.as_str()),
            "{completion:?}"
        );
    }
}

#[tokio::test]
async fn invalid_configs_fail_before_any_checkpoint() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![Branch::new(|_c: DurableContext| async {
                Ok::<_, StepError>(1)
            })])
            .max_concurrency(0)
            .await?;
        Ok::<_, DurableError>(batch.total_count())
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(error_type(&out), kinds::VALIDATION);
    assert!(fake.batches().is_empty());
}

#[tokio::test]
async fn flat_items_record_no_context_and_report_the_map_as_parent() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                vec!["fa", "fb"],
                |item: DurableContext, v: &str, _| async move {
                    item.step(move |_| async move { Ok::<_, StepError>(v.to_owned()) })
                        .await
                },
            )
            .nesting(Nesting::Flat)
            .await?;
        Ok::<_, DurableError>(batch.into_result()?)
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(out.result.as_deref(), Some(r#"["fa","fb"]"#));
    let updates = fake.batches().concat();
    let map_id = id::operation_id(None, 1);
    let steps: Vec<_> = updates
        .iter()
        .filter(|u| u.operation_type == OperationType::Step)
        .collect();
    assert_eq!(steps.len(), 4);
    assert!(
        steps
            .iter()
            .all(|u| u.parent_id.as_deref() == Some(map_id.as_str()))
    );
    let item0 = id::operation_id(Some(&map_id), 0);
    assert_eq!(steps[0].id, id::operation_id(Some(&item0), 1));
    assert_eq!(
        updates
            .iter()
            .filter(|u| u.operation_type == OperationType::Context)
            .count(),
        2
    );
}

#[tokio::test]
async fn named_branches_and_a_suspended_branch_resume_in_order() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![
                Branch::named("fast", |c: DurableContext| async move {
                    c.step(|_| async { Ok::<_, StepError>("b0".to_owned()) })
                        .await
                }),
                Branch::new(|c: DurableContext| async move {
                    c.wait(Duration::from_secs(2)).await;
                    Ok::<_, StepError>("b1".to_owned())
                }),
            ])
            .max_concurrency(1)
            .await?;
        Ok::<_, DurableError>(batch.into_result()?)
    };
    assert_eq!(
        invoke(&fake, &handler, "null").await.unwrap(),
        InvocationOutput::pending()
    );
    let names: Vec<_> = fake
        .batches()
        .concat()
        .iter()
        .filter(|u| {
            u.sub_type.as_deref() == Some("ParallelBranch") && u.action == OperationAction::Start
        })
        .map(|u| u.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["fast", "parallel-branch-1"]);
    // The wait fires.
    {
        let mut state = fake.state.lock().unwrap();
        let wait = state
            .ops
            .iter_mut()
            .find(|o| o.operation_type == OperationType::Wait)
            .unwrap();
        wait.status = OperationStatus::Succeeded;
    }
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(out.result.as_deref(), Some(r#"["b0","b1"]"#));
}

#[tokio::test(flavor = "current_thread")]
async fn item_steps_overlap_in_time() {
    // 8 items each sleeping 100 ms in a step, at concurrency 8, finish in
    // about 100 ms: the step bodies run concurrently.
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let batch = ctx
            .map(
                (0..8).collect(),
                |item: DurableContext, i: u32, _| async move {
                    item.step(move |_| async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, StepError>(i)
                    })
                    .await
                },
            )
            .max_concurrency(8)
            .await?;
        Ok::<_, DurableError>(batch.into_result()?.len())
    };
    let started = Instant::now();
    let out = invoke(&fake, &handler, "null").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out.result.as_deref(), Some("8"));
    assert!(
        elapsed < Duration::from_millis(400),
        "items ran one after another: {elapsed:?}"
    );
}

#[tokio::test]
async fn orphans_of_an_early_completion_are_stopped() {
    let fake = Arc::new(Fake::default());
    let handler = |_: serde_json::Value, ctx: DurableContext| async move {
        let batch = ctx
            .parallel(vec![
                Branch::new(|c: DurableContext| async move {
                    c.step(|_| async { Ok::<_, StepError>(1) }).await
                }),
                Branch::new(|c: DurableContext| async move {
                    // Never finishes in this invocation.
                    c.wait(Duration::from_secs(3600)).await;
                    Ok::<_, StepError>(2)
                }),
            ])
            .completion(CompletionConfig::first_successful())
            .await?;
        let statuses: Vec<_> = batch
            .items()
            .iter()
            .map(|i| format!("{:?}", i.status))
            .collect();
        Ok::<_, DurableError>((format!("{:?}", batch.completion_reason()), statuses))
    };
    let out = invoke(&fake, &handler, "null").await.unwrap();
    assert_eq!(
        out.result.as_deref(),
        Some(r#"["MinSuccessfulReached",["Succeeded","Started"]]"#)
    );
}
