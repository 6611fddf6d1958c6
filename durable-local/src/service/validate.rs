//! Validation of a checkpoint batch before anything is applied (PROTOCOL §3.4).
//!
//! The whole batch is checked against the stored records plus the effect of
//! the earlier updates of the same batch; the first problem rejects the batch
//! with an `InvalidParameterValueException` message naming the operation.

use crate::fxhash::FxHashMap;

use durable_core::wire::{OperationAction, OperationStatus, OperationType, OperationUpdate};

use super::operations::{callback, chained_invoke, context, execution, step, wait};
use crate::store::StoredExecution;

use durable_core::limits::{MAX_ERROR_BYTES, MAX_EXECUTION_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES};

/// What the batch has done to one id so far.
#[derive(Clone, Copy)]
struct Seen<'u> {
    /// How many updates of the batch named this id.
    count: u8,
    /// The action of the first one.
    first_action: &'u OperationAction,
    /// Status after the updates so far.
    status: Status,
    /// The metadata the id is known with (from the store or the batch).
    operation_type: &'u OperationType,
    sub_type: Option<&'u str>,
    name: Option<&'u str>,
    parent_id: Option<&'u str>,
}

/// The statuses validation distinguishes (a `Copy` mirror of
/// [`OperationStatus`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Started,
    Pending,
    Ready,
    Succeeded,
    Failed,
    Cancelled,
    Other,
}

impl Status {
    fn of(status: &OperationStatus) -> Self {
        match status {
            OperationStatus::Started => Self::Started,
            OperationStatus::Pending => Self::Pending,
            OperationStatus::Ready => Self::Ready,
            OperationStatus::Succeeded => Self::Succeeded,
            OperationStatus::Failed => Self::Failed,
            OperationStatus::Cancelled => Self::Cancelled,
            _ => Self::Other,
        }
    }

    pub(crate) fn name(self, stored: Option<&OperationStatus>) -> &str {
        match self {
            Self::Started => "STARTED",
            Self::Pending => "PENDING",
            Self::Ready => "READY",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Other => stored.map_or("in an unknown state", OperationStatus::as_str),
        }
    }
}

/// Batches up to this size are indexed on the stack with a linear scan.
const SMALL_BATCH: usize = 8;

/// The ids seen so far in the batch.
#[allow(
    clippy::large_enum_variant,
    reason = "lives on the stack for one validation; the inline array is the point"
)]
enum SeenIndex<'u> {
    Small([Option<(&'u str, Seen<'u>)>; SMALL_BATCH]),
    Large(FxHashMap<&'u str, Seen<'u>>),
}

impl<'u> SeenIndex<'u> {
    fn for_batch(len: usize) -> Self {
        if len <= SMALL_BATCH {
            Self::Small([None; SMALL_BATCH])
        } else {
            Self::Large(FxHashMap::with_capacity_and_hasher(len, Default::default()))
        }
    }

    fn get(&self, id: &str) -> Option<Seen<'u>> {
        match self {
            Self::Small(list) => list
                .iter()
                .map_while(|e| e.as_ref())
                .find(|(k, _)| *k == id)
                .map(|(_, v)| *v),
            Self::Large(map) => map.get(id).copied(),
        }
    }

    fn put(&mut self, id: &'u str, seen: Seen<'u>) {
        match self {
            Self::Small(list) => {
                for entry in list.iter_mut() {
                    match entry {
                        Some((k, v)) if *k == id => {
                            *v = seen;
                            return;
                        }
                        Some(_) => {}
                        None => {
                            *entry = Some((id, seen));
                            return;
                        }
                    }
                }
            }
            Self::Large(map) => {
                map.insert(id, seen);
            }
        }
    }
}

/// Checks the whole batch; `Err` carries the service's error message.
pub(crate) fn validate_batch(
    exec: &StoredExecution,
    updates: &[OperationUpdate],
) -> Result<(), String> {
    let mut seen = SeenIndex::for_batch(updates.len());
    let last = updates.len().saturating_sub(1);
    for (position, update) in updates.iter().enumerate() {
        let id = update.id.as_str();
        check_type_and_action(update)?;
        check_sizes(update)?;
        check_fields(update)?;

        if update.operation_type == OperationType::Execution {
            if updates[position + 1..]
                .iter()
                .any(|u| u.operation_type == OperationType::Execution)
            {
                return Err(format!(
                    "Cannot checkpoint multiple EXECUTION updates in one request (operation {id})"
                ));
            }
            if position != last {
                return Err(format!(
                    "The EXECUTION update must be the last update of the request (operation {id})"
                ));
            }
            continue;
        }

        if id.is_empty() {
            return Err("Operation Id must not be empty".to_owned());
        }

        // What the batch and the store know about this id.
        let earlier = seen.get(id);
        let stored = exec.operation(id);
        if let Some(earlier) = earlier {
            let start_then_close = earlier.count == 1
                && *earlier.first_action == OperationAction::Start
                && update.action != OperationAction::Start
                && matches!(
                    update.operation_type,
                    OperationType::Step | OperationType::Context
                );
            if !start_then_close {
                return Err(format!(
                    "Cannot update the same operation twice in a single request (operation {id})"
                ));
            }
        }

        // Type, SubType, Name and ParentId are immutable per id.
        let known = match (earlier, stored) {
            (Some(e), _) => Some((e.operation_type, e.sub_type, e.name, e.parent_id)),
            (None, Some(op)) => Some((
                &op.operation_type,
                op.sub_type.as_deref(),
                op.name.as_deref(),
                op.parent_id.as_deref(),
            )),
            (None, None) => None,
        };
        if let Some((known_type, sub_type, name, parent_id)) = known {
            check_consistent(
                id,
                "type",
                Some(known_type.as_str()),
                Some(update.operation_type.as_str()),
            )?;
            check_consistent(id, "subtype", sub_type, update.sub_type.as_deref())?;
            check_consistent(id, "name", name, update.name.as_deref())?;
            check_consistent(id, "parent id", parent_id, update.parent_id.as_deref())?;
        } else if let Some(parent) = update.parent_id.as_deref() {
            let parent_is_context = match (seen.get(parent), exec.operation(parent)) {
                (Some(p), _) => *p.operation_type == OperationType::Context,
                (None, Some(p)) => p.operation_type == OperationType::Context,
                (None, None) => false,
            };
            if !parent_is_context {
                return Err(format!(
                    "Invalid parent operation id {parent} for operation {id}: no such CONTEXT operation"
                ));
            }
        }

        let current = match (earlier, stored) {
            (Some(e), _) => Some(e.status),
            (None, Some(op)) => Some(Status::of(&op.status)),
            (None, None) => None,
        };
        let next = check_transition(update, current, stored.map(|op| &op.status))?;

        let (count, first_action) =
            earlier.map_or((1, &update.action), |e| (e.count + 1, e.first_action));
        let (operation_type, sub_type, name, parent_id) = known.unwrap_or((
            &update.operation_type,
            update.sub_type.as_deref(),
            update.name.as_deref(),
            update.parent_id.as_deref(),
        ));
        seen.put(
            id,
            Seen {
                count,
                first_action,
                status: next,
                operation_type,
                sub_type,
                name,
                parent_id,
            },
        );
    }
    Ok(())
}

fn check_type_and_action(update: &OperationUpdate) -> Result<(), String> {
    use OperationType as T;
    let id = &update.id;
    let allowed: &[OperationAction] = match &update.operation_type {
        T::Execution => execution::ACTIONS,
        T::Step => step::ACTIONS,
        T::Context => context::ACTIONS,
        T::Wait => wait::ACTIONS,
        T::ChainedInvoke => chained_invoke::ACTIONS,
        T::Callback => callback::ACTIONS,
        T::Unknown(other) => {
            return Err(format!("Unknown operation type {other} (operation {id})"));
        }
        _ => {
            return Err(format!(
                "Unknown operation type {} (operation {id})",
                update.operation_type
            ));
        }
    };
    if let OperationAction::Unknown(other) = &update.action {
        return Err(format!("Unknown operation action {other} (operation {id})"));
    }
    if !allowed.contains(&update.action) {
        return Err(format!(
            "Invalid action {} for a {} operation (operation {id})",
            update.action, update.operation_type
        ));
    }
    Ok(())
}

fn check_sizes(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    let max_payload = if update.operation_type == OperationType::Execution {
        MAX_EXECUTION_PAYLOAD_BYTES
    } else {
        MAX_PAYLOAD_BYTES
    };
    if let Some(payload) = &update.payload
        && payload.len() > max_payload
    {
        return Err(format!(
            "Payload size {} exceeds the maximum allowed size of {max_payload} bytes (operation {id})",
            payload.len()
        ));
    }
    if let Some(error) = &update.error {
        let len = error.encoded_len();
        if len > MAX_ERROR_BYTES {
            return Err(format!(
                "Error size {len} exceeds the maximum allowed size of {MAX_ERROR_BYTES} bytes (operation {id})"
            ));
        }
    }
    Ok(())
}

/// Field rules that do not depend on the stored state: the rules of every
/// update, then those of its operation type.
fn check_fields(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    match update.action {
        OperationAction::Succeed if update.error.is_some() => {
            return Err(format!(
                "Cannot provide an Error for a SUCCEED action (operation {id})"
            ));
        }
        OperationAction::Fail if update.payload.is_some() => {
            return Err(format!(
                "Cannot provide a Payload for a FAIL action (operation {id})"
            ));
        }
        _ => {}
    }
    match update.operation_type {
        OperationType::Step => step::check_fields(update),
        OperationType::Wait => wait::check_fields(update),
        OperationType::Callback => callback::check_fields(update),
        OperationType::ChainedInvoke => chained_invoke::check_fields(update),
        _ => Ok(()),
    }
}

fn check_consistent(
    id: &str,
    what: &str,
    stored: Option<&str>,
    update: Option<&str>,
) -> Result<(), String> {
    if stored == update {
        return Ok(());
    }
    Err(format!(
        "Inconsistent operation {what} for operation {id}: recorded {}, update has {}",
        show(stored),
        show(update)
    ))
}

fn show(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("\"{v}\""))
}

/// The status after `update`, or why it may not happen from `current`
/// (`stored` is the stored status, for messages): the rules of the
/// update's operation type.
fn check_transition(
    update: &OperationUpdate,
    current: Option<Status>,
    stored: Option<&OperationStatus>,
) -> Result<Status, String> {
    let state = current.map_or("absent", |s| s.name(stored));
    match update.operation_type {
        OperationType::Step => step::transition(update, current, state),
        OperationType::Context => context::transition(update, current, state),
        OperationType::Wait => wait::transition(update, current, state),
        OperationType::Callback => callback::transition(update, current, state),
        OperationType::ChainedInvoke => chained_invoke::transition(update, current, state),
        _ => Err(format!(
            "Invalid action {} for a {} operation (operation {})",
            update.action, update.operation_type, update.id
        )),
    }
}
