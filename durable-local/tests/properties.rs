//! Property tests of the local service's CheckpointDurableExecution, on
//! MemoryStore and SqliteStore: any
//! batch of updates an SDK (or a buggy or hostile client) could send, in any
//! order, against any state earlier batches left.
//!
//! - The service never panics: each batch is accepted or refused with an
//!   error.
//! - A refused batch changes nothing: the records and the history are what
//!   they were before it (nothing already checkpointed is lost or altered).
//! - An accepted batch leaves a record for every id it updated (but an
//!   EXECUTION update's, which only ends the execution), of the type the
//!   update named, and never rewrites a record that had ended.
//! - SqliteStore, reopened, holds exactly the records and history that
//!   were acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use durable_core::wire::{Operation, OperationType, OperationUpdate};
use durable_local::{Clock, ExecutionStore, LocalService, MemoryStore, ServiceConfig, SqliteStore};
use proptest::prelude::*;
use serde_json::{Value, json};

const TYPES: &[&str] = &[
    "STEP",
    "WAIT",
    "CALLBACK",
    "CONTEXT",
    "CHAINED_INVOKE",
    "EXECUTION",
];
const ACTIONS: &[&str] = &["START", "SUCCEED", "FAIL", "RETRY", "CANCEL"];
const IDS: &[&str] = &["a", "b", "c", "d"];

/// The options field an update of this type and action carries, if any.
fn options(kind: &str, action: &str, seconds: u32) -> Option<(&'static str, Value)> {
    Some(match (kind, action) {
        ("WAIT", "START") => ("WaitOptions", json!({ "WaitSeconds": seconds })),
        ("STEP", "RETRY") => ("StepOptions", json!({ "NextAttemptDelaySeconds": seconds })),
        ("CALLBACK", "START") => (
            "CallbackOptions",
            json!({ "TimeoutSeconds": seconds, "HeartbeatTimeoutSeconds": seconds }),
        ),
        ("CHAINED_INVOKE", "START") => ("ChainedInvokeOptions", json!({ "FunctionName": "other" })),
        _ => return None,
    })
}

/// One update as JSON, from small pools so that batches collide with each
/// other and with earlier records.
fn update() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(IDS),
        prop::sample::select(TYPES),
        prop::sample::select(ACTIONS),
        prop::option::of(prop::sample::select(IDS)),
        prop::option::of(prop::sample::select(&["n1", "n2"][..])),
        prop::option::of(prop::sample::select(
            &["Step", "Wait", "Map", "Parallel"][..],
        )),
        prop::option::of("[a-z\"{}0-9]{0,12}"),
        any::<bool>(),
        0u32..4,
    )
        .prop_map(
            |(id, kind, action, parent, name, sub_type, payload, error, seconds)| {
                let mut u = json!({ "Id": id, "Type": kind, "Action": action });
                let o = u.as_object_mut().unwrap();
                if let Some(parent) = parent {
                    o.insert("ParentId".into(), json!(parent));
                }
                if let Some(name) = name {
                    o.insert("Name".into(), json!(name));
                }
                if let Some(sub_type) = sub_type {
                    o.insert("SubType".into(), json!(sub_type));
                }
                if let Some(payload) = payload {
                    o.insert("Payload".into(), json!(payload));
                }
                if error {
                    o.insert(
                        "Error".into(),
                        json!({"ErrorType": "E", "ErrorMessage": "m"}),
                    );
                }
                if let Some((key, options)) = options(kind, action, seconds) {
                    o.insert(key.into(), options);
                }
                u
            },
        )
}

/// An update shaped as an SDK would send it: each id keeps one type, name
/// and subtype, payloads go with SUCCEED and errors with FAIL and RETRY, a
/// parent is the one CONTEXT. Its timing and order are still arbitrary.
fn plausible_update() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(IDS),
        prop_oneof![
            5 => Just("START"),
            3 => Just("SUCCEED"),
            1 => Just("FAIL"),
            1 => Just("RETRY"),
            1 => Just("CANCEL"),
        ],
        prop::bool::weighted(0.2),
        0u32..3,
    )
        .prop_map(|(id, action, nested, seconds)| {
            let (kind, sub_type) = match id {
                "a" => ("STEP", "Step"),
                "b" => ("WAIT", "Wait"),
                "c" => ("CALLBACK", "Callback"),
                _ => ("CONTEXT", "RunInChildContext"),
            };
            let mut u = json!({
                "Id": id, "Type": kind, "Action": action,
                "Name": format!("{id}-name"), "SubType": sub_type,
            });
            let o = u.as_object_mut().unwrap();
            if nested && id != "d" {
                o.insert("ParentId".into(), json!("d"));
            }
            match action {
                "SUCCEED" => {
                    o.insert("Payload".into(), json!("\"ok\""));
                }
                "FAIL" | "RETRY" => {
                    o.insert(
                        "Error".into(),
                        json!({"ErrorType": "E", "ErrorMessage": "m"}),
                    );
                }
                _ => {}
            }
            // WaitSeconds must be at least 1.
            if let Some((key, options)) = options(kind, action, seconds + 1) {
                o.insert(key.into(), options);
            }
            u
        })
}

fn batches() -> impl Strategy<Value = Vec<Vec<Value>>> {
    let one = prop_oneof![3 => plausible_update(), 1 => update()];
    prop::collection::vec(prop::collection::vec(one, 1..4), 1..10)
}

/// Seconds to let pass before each batch (waits, retry timers and callback
/// timeouts fire then).
fn pauses() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 1u64..4], 10)
}

/// The execution's records and history, as JSON (for comparison).
fn snapshot(service: &LocalService, arn: &str) -> (Vec<Operation>, Value) {
    service
        .with_execution(arn, |exec| {
            let operations = exec.operations().cloned().collect();
            (operations, serde_json::to_value(exec.history()).unwrap())
        })
        .unwrap()
}

/// Plays `batches` against a new execution of `service`, checking the
/// properties after each; returns the execution's ARN.
fn play(
    service: &LocalService,
    clock: &Clock,
    batches: Vec<Vec<Value>>,
    pauses: Vec<u64>,
) -> Result<String, TestCaseError> {
    let arn = service
        .start_execution("fn", Some("p"), "{}".to_owned())
        .unwrap()
        .arn;
    let mut token = service
        .begin_invocation(&arn)
        .unwrap()
        .input
        .checkpoint_token
        .unwrap();
    for (batch, pause) in batches.into_iter().zip(pauses) {
        // Time passes; an empty checkpoint (the SDK's poll) lets the timers
        // that came due fire (a RETRY with no delay is due at once), so that
        // the batch below is judged on its own.
        clock.advance(std::time::Duration::from_secs(pause));
        match service.checkpoint_now(&arn, &token, Vec::new()) {
            Ok(response) => match response.checkpoint_token {
                Some(next) => token = next,
                None => break,
            },
            Err(e) => prop_assert!(false, "an empty checkpoint was refused: {}", e),
        }
        // Unknown enum tokens are refused when the request is read.
        let Ok(updates) =
            serde_json::from_value::<Vec<OperationUpdate>>(Value::Array(batch.clone()))
        else {
            continue;
        };
        let (before, history_before) = snapshot(service, &arn);
        match service.checkpoint_now(&arn, &token, updates.clone()) {
            Err(_) => {
                let (after, history_after) = snapshot(service, &arn);
                prop_assert_eq!(
                    &before,
                    &after,
                    "a refused batch changed records: {:?}",
                    batch
                );
                prop_assert_eq!(
                    history_before,
                    history_after,
                    "a refused batch changed the history: {:?}",
                    batch
                );
            }
            Ok(response) => {
                let (after, _) = snapshot(service, &arn);
                // An EXECUTION update ends the execution; the service does
                // not look its Id up (PROTOCOL §2.2).
                for update in updates
                    .iter()
                    .filter(|u| u.operation_type != OperationType::Execution)
                {
                    let record = after.iter().find(|op| op.id == update.id);
                    prop_assert!(
                        record.is_some(),
                        "no record for {} after {:?}",
                        update.id,
                        batch
                    );
                    prop_assert_eq!(&record.unwrap().operation_type, &update.operation_type);
                }
                for old in before.iter().filter(|op| op.status.is_terminal()) {
                    let now = after.iter().find(|op| op.id == old.id).unwrap();
                    prop_assert_eq!(old, now, "an ended record was rewritten by {:?}", batch);
                }
                match response.checkpoint_token {
                    Some(next) => token = next,
                    None => break,
                }
            }
        }
    }
    Ok(arn)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn checkpoints_are_all_or_nothing_and_never_panic(batches in batches(), pauses in pauses()) {
        let clock = Clock::virtual_now();
        let service = LocalService::with_store(
            Box::new(MemoryStore::new()),
            clock.clone(),
            ServiceConfig::default(),
        );
        play(&service, &clock, batches, pauses)?;
    }
}

proptest! {
    // Each case syncs a few dozen SQLite commits.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The same on SqliteStore, and what was acknowledged is what a reopened
    /// store holds: records and history, exactly.
    #[test]
    fn sqlite_holds_exactly_what_was_acknowledged(batches in batches(), pauses in pauses()) {
        let dir = std::env::temp_dir().join(format!(
            "durable-props-{}-{}",
            std::process::id(),
            CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.sqlite");
        let clock = Clock::virtual_now();
        let (arn, live) = {
            let service = LocalService::with_store(
                Box::new(SqliteStore::open(&path).unwrap()),
                clock.clone(),
                ServiceConfig::default(),
            );
            let arn = play(&service, &clock, batches, pauses)?;
            let live = snapshot(&service, &arn);
            (arn, live)
        };
        // The store itself, not a service over it: a service would recover
        // the invocation left running (and record it as lost).
        let store = SqliteStore::open(&path).unwrap();
        let stored = store
            .get(&arn)
            .map(|exec| {
                let operations: Vec<Operation> = exec.operations().cloned().collect();
                (operations, serde_json::to_value(exec.history()).unwrap())
            })
            .unwrap();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert_eq!(live.0, stored.0, "records differ after reopening");
        prop_assert_eq!(live.1, stored.1, "history differs after reopening");
    }
}

static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
