//! Names and ids the service mints or resolves: execution ARNs and ids,
//! request ids, callback ids, execution names, and the functions a chained
//! invoke may name.

use durable_core::wire::{ExecutionDetails, Operation, OperationStatus, OperationType};
use rustc_hash::FxHashSet;

use super::CallbackHome;
use super::types::ServiceConfig;
use crate::error::LocalError;
use crate::events::EventBody;
use crate::fxhash::FxHashMap;
use crate::store::StoredExecution;

/// The number of random bytes in a callback id (192 bits, from a CSPRNG).
const CALLBACK_ID_BYTES: usize = 24;

/// A random version-4 UUID in its text form (request ids, execution ids).
pub(crate) fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh callback id: 192 bits from the thread's CSPRNG (ChaCha, seeded
/// from the OS), URL-safe base64 (32 characters). Unguessable, so knowing
/// the id is what authorizes completing the callback.
pub(super) fn new_callback_id(taken: &FxHashMap<String, CallbackHome>) -> String {
    loop {
        let mut bytes = [0_u8; CALLBACK_ID_BYTES];
        rand::fill(&mut bytes[..]);
        let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

/// The registered function a chained invoke's `FunctionName` names: the
/// name itself, or the function part of an ARN or of `name:qualifier`.
pub(super) fn resolve_function(functions: &FxHashSet<String>, name: &str) -> Option<String> {
    if functions.contains(name) {
        return Some(name.to_owned());
    }
    let bare = unqualified_function_name(name);
    functions.contains(bare).then(|| bare.to_owned())
}

/// The function name in a function name, a `name:qualifier` (version or
/// alias), or a function ARN (`arn:aws:lambda:…:function:name[:qualifier]`):
/// how Lambda's APIs accept a function, reduced to the name the local
/// service keys functions and executions by.
pub fn unqualified_function_name(name: &str) -> &str {
    let bare = name.rsplit(":function:").next().unwrap_or(name);
    bare.split(':').next().unwrap_or(bare)
}

/// A new, RUNNING execution of `function_name` with its `ExecutionStarted`
/// event (not yet in any store).
pub(super) fn new_execution(
    config: &ServiceConfig,
    function_name: &str,
    name: Option<&str>,
    input: String,
    now: i64,
) -> StoredExecution {
    let id = uuid_v4();
    let name = name.map_or_else(|| id.clone(), str::to_owned);
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{function_name}/durable-execution/{name}/{id}",
        config.region, config.account_id
    );
    let mut op = Operation::new(id, OperationType::Execution, OperationStatus::Started);
    op.name = Some(name.clone());
    op.start_timestamp = Some(now);
    op.execution_details = Some(Box::new(ExecutionDetails {
        input_payload: Some(input.clone()),
    }));
    let mut exec = StoredExecution::new(arn, function_name.to_owned(), name, input, op, now);
    exec.push_event(0, now, EventBody::ExecutionStarted);
    exec
}

/// Checks an execution name (1 to 64 of `A-Z a-z 0-9 - _`).
pub(super) fn check_name(name: &str) -> Result<(), LocalError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LocalError::InvalidName {
            name: name.to_owned(),
        })
    }
}
