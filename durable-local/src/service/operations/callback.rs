//! CALLBACK: START (a fresh callback id, its timeouts armed), and how a
//! callback closes: succeeded or failed through the API, or timed out.

use durable_core::wire::{
    CallbackDetails, ErrorObject, Operation, OperationStatus, OperationType, OperationUpdate,
};

use super::new_record;
use crate::events::EventBody;
use crate::service::CallbackHome;
use crate::service::checkpoint::ApplyCx;
use crate::service::ids::new_callback_id;
use crate::service::types::CallbackInfo;
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

/// A callback record as a [`CallbackInfo`] (`None` for other records).
pub(crate) fn callback_info(op: &Operation) -> Option<CallbackInfo> {
    if op.operation_type != OperationType::Callback {
        return None;
    }
    Some(CallbackInfo {
        callback_id: op.callback_details.as_ref()?.callback_id.clone()?,
        operation_id: op.id.clone(),
        name: op.name.clone(),
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
