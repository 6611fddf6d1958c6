//! The service's rules, one file per operation type: what each action does
//! to the record (its transitions), the events it records, and the checks
//! its updates must pass.

pub(crate) mod callback;
pub(crate) mod chained_invoke;
pub(crate) mod context;
pub(crate) mod execution;
pub(crate) mod step;
pub(crate) mod wait;

use durable_core::wire::{Operation, OperationAction, OperationStatus, OperationUpdate};

use crate::service::validate::Status;

/// A new record from an update.
pub(crate) fn new_record(
    update: &mut OperationUpdate,
    status: OperationStatus,
    now: i64,
) -> Operation {
    let mut op = Operation::new(
        std::mem::take(&mut update.id),
        update.operation_type.clone(),
        status,
    );
    op.parent_id = update.parent_id.take();
    op.name = update.name.take();
    op.sub_type = update.sub_type.take();
    op.start_timestamp = Some(now);
    op
}

/// The transitions of an operation that starts once and may be cancelled
/// while STARTED (WAIT, CHAINED_INVOKE); `kind` names it in messages.
pub(crate) fn start_or_cancel(
    kind: &str,
    update: &OperationUpdate,
    current: Option<Status>,
    state: &str,
) -> Result<Status, String> {
    let id = &update.id;
    match (&update.action, current) {
        (OperationAction::Start, None) => Ok(Status::Started),
        (OperationAction::Start, _) => Err(format!(
            "Cannot start a {kind} that already exists (operation {id} is {state})"
        )),
        (OperationAction::Cancel, Some(Status::Started)) => Ok(Status::Cancelled),
        _ => Err(format!(
            "Cannot cancel a {kind} that does not exist or has already completed (operation {id} is {state})"
        )),
    }
}
