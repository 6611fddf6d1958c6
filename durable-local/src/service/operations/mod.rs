//! The service's rules, one file per operation type: what each action does
//! to the record (its transitions), the events it records, and the checks
//! its updates must pass.

pub(crate) mod callback;
pub(crate) mod chained_invoke;
pub(crate) mod context;
pub(crate) mod execution;
pub(crate) mod step;
pub(crate) mod wait;

use durable_core::wire::{Operation, OperationStatus, OperationUpdate};

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
