//! WAIT: START (arms its timer) and CANCEL.

use durable_core::wire::{OperationAction, OperationStatus, OperationUpdate, WaitDetails};

use super::new_record;
use crate::events::EventBody;
use crate::store::StoredExecution;

pub(crate) fn apply(exec: &mut StoredExecution, mut update: OperationUpdate, now: i64) {
    if update.action == OperationAction::Start {
        let seconds = update.wait_options.as_ref().map_or(0, |o| o.wait_seconds);
        let due = now.saturating_add(i64::from(seconds) * 1000);
        let mut op = new_record(&mut update, OperationStatus::Started, now);
        op.wait_details = Some(Box::new(WaitDetails {
            scheduled_end_timestamp: Some(due),
        }));
        let index = exec.push_operation(op);
        exec.arm_timer(due, index);
        exec.push_event(
            index,
            now,
            EventBody::WaitStarted {
                duration: i64::from(seconds),
                scheduled_end: due,
            },
        );
        return;
    }
    // CANCEL (validated: the WAIT exists and is STARTED).
    let Some(index) = exec.find(&update.id) else {
        return;
    };
    if let Some(slot) = exec.slots.get_mut(index as usize) {
        slot.op.status = OperationStatus::Cancelled;
        slot.op.end_timestamp = Some(now);
    }
    exec.touch(index);
    exec.push_event(
        index,
        now,
        EventBody::WaitCancelled(update.error.map(Box::new)),
    );
}
