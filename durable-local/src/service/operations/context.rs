//! CONTEXT (child contexts): START, SUCCEED and FAIL.

use crate::events::{error_details, result_details};
use durable_core::wire::{ContextDetails, OperationAction, OperationStatus, OperationUpdate};
use durable_core::wire::{EmptyDetails, Event};

use super::new_record;
use crate::events::EventBody;
use crate::service::validate::Status;
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

/// The actions a CONTEXT update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[
    OperationAction::Start,
    OperationAction::Succeed,
    OperationAction::Fail,
];

/// The status a CONTEXT update leads to from `current` (`state` names the
/// current status for messages), or why it may not happen.
pub(crate) fn transition(
    update: &OperationUpdate,
    current: Option<Status>,
    state: &str,
) -> Result<Status, String> {
    use OperationAction as A;
    use Status as S;
    let id = &update.id;
    match (&update.action, current) {
        (A::Start, None) => Ok(S::Started),
        (A::Start, _) => Err(format!(
            "Cannot start a CONTEXT that already exists (operation {id} is {state})"
        )),
        (A::Succeed, None | Some(S::Started)) => Ok(S::Succeeded),
        (A::Fail, None | Some(S::Started)) => Ok(S::Failed),
        _ => Err(format!(
            "Invalid current CONTEXT state to close: operation {id} is {state}"
        )),
    }
}

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, event: &mut Event) {
    match body {
        EventBody::ContextStarted => event.context_started_details = Some(EmptyDetails {}),
        EventBody::ContextSucceeded(result) => {
            event.context_succeeded_details = result_details(result.as_ref());
        }
        EventBody::ContextFailed(err) => {
            event.context_failed_details = error_details(err.as_deref())
        }
        _ => {}
    }
}
