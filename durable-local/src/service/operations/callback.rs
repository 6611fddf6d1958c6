//! CALLBACK: START (a fresh callback id, its timeouts armed), and how a
//! callback closes: succeeded or failed through the API, or timed out.

use crate::events::{error_details, result_details};
use durable_core::wire::{
    CallbackDetails, ErrorObject, Operation, OperationAction, OperationStatus, OperationType,
    OperationUpdate,
};
use durable_core::wire::{CallbackStartedDetails, Event};

use durable_core::{CALLBACK_HEARTBEAT, CALLBACK_TIMEOUT, WAIT_FOR_CALLBACK_SUBTYPE};

use super::new_record;
use crate::events::EventBody;
use crate::service::CallbackHome;
use crate::service::checkpoint::ApplyCx;
use crate::service::ids::new_callback_id;
use crate::service::types::CallbackInfo;
use crate::service::validate::Status;
use crate::store::{CallbackTimers, StoredExecution};

/// How a callback closes.
pub(crate) enum CallbackEnd {
    Succeeded(Option<String>),
    Failed(ErrorObject),
    TimedOut(ErrorObject),
}

/// Closes the open callback at `index`: status, result or error, the event;
/// the execution is to be invoked again.
pub(crate) fn close_callback(exec: &mut StoredExecution, index: u32, now: i64, end: CallbackEnd) {
    exec.open_callbacks.remove(&index);
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return;
    };
    let op = &mut slot.op;
    op.end_timestamp = Some(now);
    let details = op.callback_details.get_or_insert_with(Box::default);
    let body = match end {
        CallbackEnd::Succeeded(result) => {
            op.status = OperationStatus::Succeeded;
            details.result = result;
            EventBody::CallbackSucceeded(details.result.clone())
        }
        CallbackEnd::Failed(error) => {
            op.status = OperationStatus::Failed;
            let event = Box::new(error.clone());
            details.error = Some(error);
            EventBody::CallbackFailed(Some(event))
        }
        CallbackEnd::TimedOut(error) => {
            op.status = OperationStatus::TimedOut;
            let event = Box::new(error.clone());
            details.error = Some(error);
            EventBody::CallbackTimedOut(Some(event))
        }
    };
    exec.touch(index);
    exec.service_updated.push(index);
    exec.wake = true;
    exec.push_event(index, now, body);
}

/// A callback record of `exec` as a [`CallbackInfo`] (`None` for other records).
pub(crate) fn callback_info(exec: &StoredExecution, op: &Operation) -> Option<CallbackInfo> {
    if op.operation_type != OperationType::Callback {
        return None;
    }
    let wait_for_callback = op
        .parent_id
        .as_deref()
        .and_then(|parent| exec.find(parent))
        .and_then(|index| exec.slots.get(index as usize))
        .map(|slot| &slot.op)
        .filter(|parent| parent.sub_type.as_deref() == Some(WAIT_FOR_CALLBACK_SUBTYPE))
        .and_then(|parent| parent.name.clone());
    Some(CallbackInfo {
        callback_id: op.callback_details.as_ref()?.callback_id.clone()?,
        operation_id: op.id.clone(),
        name: op.name.clone(),
        wait_for_callback,
        status: op.status.clone(),
        start_timestamp: op.start_timestamp.unwrap_or_default(),
    })
}

/// CALLBACK START (the only action): a STARTED record with a fresh
/// `CallbackId`, registered for the callback API, with its timers armed.
pub(crate) fn apply(
    exec: &mut StoredExecution,
    mut update: OperationUpdate,
    now: i64,
    cx: &mut ApplyCx<'_>,
) {
    let options = update.callback_options.take().unwrap_or_default();
    let callback_id = new_callback_id(cx.callbacks);
    let mut op = new_record(&mut update, OperationStatus::Started, now);
    op.callback_details = Some(Box::new(CallbackDetails {
        callback_id: Some(callback_id.clone()),
        result: None,
        error: None,
    }));
    let index = exec.push_operation(op);
    let seconds = |s: i32| (s > 0).then_some(s);
    let (timeout, heartbeat) = (
        seconds(options.timeout_seconds),
        seconds(options.heartbeat_timeout_seconds),
    );
    let deadline = |s: i32| now.saturating_add(i64::from(s) * 1000);
    let timers = CallbackTimers {
        timeout_due: timeout.map(deadline),
        heartbeat_seconds: heartbeat.unwrap_or(0),
        heartbeat_due: heartbeat.map(deadline),
    };
    for due in [timers.timeout_due, timers.heartbeat_due]
        .into_iter()
        .flatten()
    {
        exec.arm_timer(due, index);
    }
    exec.open_callbacks.insert(index, timers);
    exec.callbacks_created = exec.callbacks_created.saturating_add(1);
    cx.callbacks.insert(
        callback_id,
        CallbackHome {
            arn: cx.arn.to_owned(),
            op: index,
        },
    );
    cx.effects.notify = true;
    exec.push_event(
        index,
        now,
        EventBody::CallbackStarted {
            timeout,
            heartbeat_timeout: heartbeat,
        },
    );
}

/// The actions a CALLBACK update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[OperationAction::Start];

/// A CALLBACK's timeouts are not negative.
pub(crate) fn check_fields(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    if update.action != OperationAction::Start {
        return Ok(());
    }
    if let Some(options) = &update.callback_options {
        if options.timeout_seconds < 0 {
            return Err(format!(
                "CallbackOptions.TimeoutSeconds must not be negative, got {} (operation {id})",
                options.timeout_seconds
            ));
        }
        if options.heartbeat_timeout_seconds < 0 {
            return Err(format!(
                "CallbackOptions.HeartbeatTimeoutSeconds must not be negative, got {} (operation {id})",
                options.heartbeat_timeout_seconds
            ));
        }
    }
    Ok(())
}

/// The status a CALLBACK update leads to from `current` (`state` names the
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
        _ => Err(format!(
            "Cannot start a CALLBACK that already exists (operation {id} is {state})"
        )),
    }
}

/// Whether `due` is still one of the deadlines (timeout or heartbeat
/// timeout) of the open callback at `index`.
pub(crate) fn timer_is_live(exec: &StoredExecution, index: u32, due: i64) -> bool {
    exec.open_callbacks
        .get(&index)
        .is_some_and(|timers| timers.timeout_due == Some(due) || timers.heartbeat_due == Some(due))
}

/// A deadline of the open callback at `index` has passed: it is TIMED_OUT
/// with `Callback.Timeout` or `Callback.Heartbeat` (`CallbackTimedOut`).
pub(crate) fn fire_timer(exec: &mut StoredExecution, index: u32, due: i64, now: i64) {
    let on_timeout = exec
        .open_callbacks
        .get(&index)
        .is_some_and(|timers| timers.timeout_due == Some(due));
    let error = if on_timeout {
        ErrorObject::new(CALLBACK_TIMEOUT, "Callback timed out")
    } else {
        ErrorObject::new(CALLBACK_HEARTBEAT, "Callback timed out on heartbeat")
    };
    close_callback(exec, index, now, CallbackEnd::TimedOut(error));
}

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, op: Option<&Operation>, event: &mut Event) {
    match body {
        EventBody::CallbackStarted {
            timeout,
            heartbeat_timeout,
        } => {
            let callback_id = op
                .and_then(|op| op.callback_details.as_ref())
                .and_then(|d| d.callback_id.clone())
                .unwrap_or_default();
            event.callback_started_details = Some(CallbackStartedDetails {
                callback_id,
                timeout: timeout.map(i64::from),
                heartbeat_timeout: heartbeat_timeout.map(i64::from),
            });
        }
        EventBody::CallbackSucceeded(result) => {
            event.callback_succeeded_details = result_details(result.as_ref());
        }
        EventBody::CallbackFailed(err) => {
            event.callback_failed_details = error_details(err.as_deref())
        }
        EventBody::CallbackTimedOut(err) => {
            event.callback_timed_out_details = error_details(err.as_deref())
        }
        _ => {}
    }
}
