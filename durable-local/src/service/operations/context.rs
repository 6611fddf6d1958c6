//! CONTEXT (child contexts): START, SUCCEED and FAIL.

use durable_core::wire::{ContextDetails, OperationAction, OperationStatus, OperationUpdate};

use super::new_record;
use crate::events::EventBody;
use crate::store::StoredExecution;

pub(crate) fn apply(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    let replay_children = update.context_options.as_ref().map(|o| o.replay_children);
    let existing = exec.find(&update.id);
    if update.action == OperationAction::Start {
        let mut op = new_record(&mut update, OperationStatus::Started, now);
        op.context_details = replay_children.map(|replay| {
            Box::new(ContextDetails {
                replay_children: Some(replay),
                result: None,
                error: None,
            })
        });
        let index = exec.push_operation(op);
        exec.push_event(index, now, EventBody::ContextStarted);
        return;
    }
    let index = match existing {
        Some(index) => index,
        None => {
            let op = new_record(&mut update, OperationStatus::Started, now);
            exec.push_operation(op)
        }
    };
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    op.end_timestamp = Some(now);
    let details = op.context_details.get_or_insert_with(Box::default);
    if replay_children.is_some() {
        details.replay_children = replay_children;
    }
    let body = if update.action == OperationAction::Succeed {
        op.status = OperationStatus::Succeeded;
        details.result = update.payload;
        EventBody::ContextSucceeded(details.result.clone())
    } else {
        op.status = OperationStatus::Failed;
        details.error = update.error;
        EventBody::ContextFailed(details.error.clone().map(Box::new))
    };
    exec.touch(index);
    exec.push_event(index, now, body);
}
