//! WAIT: START (arms its timer) and CANCEL.

use crate::events::error_details;
use durable_core::limits::{MAX_WAIT_SECONDS, MIN_WAIT_SECONDS};
use durable_core::wire::{Event, WaitStartedDetails, WaitSucceededDetails};
use durable_core::wire::{
    Operation, OperationAction, OperationStatus, OperationUpdate, WaitDetails,
};

use super::new_record;
use crate::events::EventBody;
use crate::service::validate::Status;
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

/// The actions a WAIT update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[OperationAction::Start, OperationAction::Cancel];

/// A WAIT starts with WaitOptions whose WaitSeconds are within the service's bounds.
pub(crate) fn check_fields(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    if update.action != OperationAction::Start {
        return Ok(());
    }
    let Some(options) = &update.wait_options else {
        return Err(format!(
            "WaitOptions are required to START a WAIT (operation {id})"
        ));
    };
    if !(MIN_WAIT_SECONDS..=MAX_WAIT_SECONDS).contains(&options.wait_seconds) {
        return Err(format!(
            "WaitOptions.WaitSeconds must be between {MIN_WAIT_SECONDS} and {MAX_WAIT_SECONDS}, got {} (operation {id})",
            options.wait_seconds
        ));
    }
    Ok(())
}

/// The status a WAIT update leads to from `current` (`state` names the
/// current status for messages), or why it may not happen.
pub(crate) fn transition(
    update: &OperationUpdate,
    current: Option<Status>,
    state: &str,
) -> Result<Status, String> {
    super::start_or_cancel("WAIT", update, current, state)
}

/// Whether `due` is still the end of the WAIT `record`.
pub(crate) fn timer_is_live(record: &Operation, due: i64) -> bool {
    record.status == OperationStatus::Started
        && record
            .wait_details
            .as_ref()
            .and_then(|d| d.scheduled_end_timestamp)
            == Some(due)
}

/// The wait at `index` is over: SUCCEEDED (`WaitSucceeded`), and the
/// execution is to be invoked again.
pub(crate) fn fire_timer(exec: &mut StoredExecution, index: u32, due: i64, now: i64) {
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    op.status = OperationStatus::Succeeded;
    op.end_timestamp = Some(now);
    let duration = (due - op.start_timestamp.unwrap_or(due)) / 1000;
    exec.wake = true;
    exec.push_event(index, now, EventBody::WaitSucceeded { duration });
    exec.touch(index);
    exec.service_updated.push(index);
}

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, event: &mut Event) {
    match body {
        EventBody::WaitStarted {
            duration,
            scheduled_end,
        } => {
            event.wait_started_details = Some(WaitStartedDetails {
                duration: *duration,
                scheduled_end_timestamp: *scheduled_end,
            });
        }
        EventBody::WaitSucceeded { duration } => {
            event.wait_succeeded_details = Some(WaitSucceededDetails {
                duration: *duration,
            });
        }
        EventBody::WaitCancelled(err) => {
            event.wait_cancelled_details = error_details(err.as_deref())
        }
        _ => {}
    }
}
