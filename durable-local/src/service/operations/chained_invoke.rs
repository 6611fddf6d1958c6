//! CHAINED_INVOKE: START (a new execution of the target function) and
//! CANCEL, and how a chained invoke ends with its execution.

use crate::events::{EXECUTED_VERSION, error_details, payload, result_details};
use durable_core::wire::{ChainedInvokeStartedDetails, Event};
use durable_core::wire::{
    ErrorObject, OperationAction, OperationStatus, OperationType, OperationUpdate,
};

use super::new_record;
use crate::error::RESOURCE_NOT_FOUND;
use crate::events::{EventBody, InvokeStart};
use crate::service::checkpoint::ApplyCx;
use crate::service::ids::{new_execution, resolve_function};
use crate::service::validate::Status;
use crate::store::StoredExecution;

/// How a chained invoke ends.
pub(crate) enum InvokeEnd {
    Succeeded(Option<String>),
    Failed(Option<ErrorObject>),
    TimedOut(Option<ErrorObject>),
    Stopped(Option<ErrorObject>),
}

/// Ends the STARTED chained invoke at `index`: status, result or error,
/// the event; the execution is to be invoked again. False if the record
/// was not a STARTED chained invoke.
pub(crate) fn end_chained_invoke(
    exec: &mut StoredExecution,
    index: u32,
    now: i64,
    end: InvokeEnd,
) -> bool {
    exec.running_invokes.retain(|(i, _)| *i != index);
    let Some(slot) = exec.slots.get_mut(index as usize) else {
        return false;
    };
    let op = &mut slot.op;
    if op.operation_type != OperationType::ChainedInvoke || op.status != OperationStatus::Started {
        return false;
    }
    op.end_timestamp = Some(now);
    let details = op.chained_invoke_details.get_or_insert_with(Box::default);
    let boxed = |error: &Option<ErrorObject>| error.clone().map(Box::new);
    let body = match end {
        InvokeEnd::Succeeded(result) => {
            op.status = OperationStatus::Succeeded;
            details.result = result;
            EventBody::ChainedInvokeSucceeded(details.result.clone())
        }
        InvokeEnd::Failed(error) => {
            op.status = OperationStatus::Failed;
            details.error = error;
            EventBody::ChainedInvokeFailed(boxed(&details.error))
        }
        InvokeEnd::TimedOut(error) => {
            op.status = OperationStatus::TimedOut;
            details.error = error;
            EventBody::ChainedInvokeTimedOut(boxed(&details.error))
        }
        InvokeEnd::Stopped(error) => {
            op.status = OperationStatus::Stopped;
            details.error = error;
            EventBody::ChainedInvokeStopped(boxed(&details.error))
        }
    };
    exec.touch(index);
    exec.service_updated.push(index);
    exec.wake = true;
    exec.push_event(index, now, body);
    true
}

/// CHAINED_INVOKE START: a STARTED record and a new execution of the target
/// (created once the batch is applied), or, for a function that is not
/// registered, a record that FAILED at once with `ResourceNotFoundException`.
/// CANCEL: the record is CANCELLED (`ChainedInvokeStopped`) and the target's
/// execution is stopped.
pub(crate) fn apply(
    exec: &mut StoredExecution,
    mut update: OperationUpdate,
    now: i64,
    cx: &mut ApplyCx<'_>,
) {
    if update.action == OperationAction::Cancel {
        // Validated: the record exists and is STARTED.
        let Some(index) = exec.find(&update.id) else {
            return;
        };
        let child = exec
            .running_invokes
            .iter()
            .position(|(i, _)| *i == index)
            .map(|at| exec.running_invokes.swap_remove(at).1);
        if let Some(slot) = exec.slots.get_mut(index as usize) {
            slot.op.status = OperationStatus::Cancelled;
            slot.op.end_timestamp = Some(now);
        }
        let error = update.error.unwrap_or_else(|| ErrorObject {
            error_message: Some("The chained invoke was cancelled".to_owned()),
            ..ErrorObject::default()
        });
        if let Some(slot) = exec.slots.get_mut(index as usize) {
            slot.op
                .chained_invoke_details
                .get_or_insert_with(Box::default)
                .error = Some(error.clone());
        }
        exec.touch(index);
        exec.push_event(
            index,
            now,
            EventBody::ChainedInvokeStopped(Some(Box::new(error))),
        );
        cx.effects.stopped_children.extend(child);
        return;
    }
    let options = update.chained_invoke_options.take().unwrap_or_default();
    let input = update.payload.take();
    let mut op = new_record(&mut update, OperationStatus::Started, now);
    op.chained_invoke_details = Some(Box::default());
    let index = exec.push_operation(op);
    let mut start = InvokeStart {
        function_name: options.function_name,
        tenant_id: options.tenant_id,
        input,
        execution_arn: None,
    };
    let Some(function) = resolve_function(cx.functions, &start.function_name) else {
        let error = ErrorObject::new(
            RESOURCE_NOT_FOUND,
            format!(
                "Function not found: {}. The local service invokes only the functions it \
                 knows: {}.",
                start.function_name, cx.config.unknown_function_hint
            ),
        );
        exec.push_event(index, now, EventBody::ChainedInvokeStarted(Box::new(start)));
        // The caller learns it from this checkpoint's delta: no re-invocation.
        let wake = exec.wake;
        end_chained_invoke(exec, index, now, InvokeEnd::Failed(Some(error)));
        exec.wake = wake;
        exec.service_updated.pop();
        return;
    };
    // Lambda hands a function invoked without a payload an empty object.
    let child_input = start.input.clone().unwrap_or_else(|| "{}".to_owned());
    let mut child = new_execution(cx.config, &function, None, child_input, now);
    child.parent = Some((cx.arn.to_owned(), index));
    start.execution_arn = Some(child.arn.clone());
    exec.running_invokes.push((index, child.arn.clone()));
    cx.effects.children.push(child);
    exec.push_event(index, now, EventBody::ChainedInvokeStarted(Box::new(start)));
}

/// The actions a CHAINED_INVOKE update may take.
pub(crate) const ACTIONS: &[OperationAction] = &[OperationAction::Start, OperationAction::Cancel];

/// A CHAINED_INVOKE starts with ChainedInvokeOptions naming a function.
pub(crate) fn check_fields(update: &OperationUpdate) -> Result<(), String> {
    let id = &update.id;
    if update.action != OperationAction::Start {
        return Ok(());
    }
    match &update.chained_invoke_options {
        Some(options) if !options.function_name.trim().is_empty() => Ok(()),
        _ => Err(format!(
            "ChainedInvokeOptions with a FunctionName are required to START a CHAINED_INVOKE (operation {id})"
        )),
    }
}

/// The status a CHAINED_INVOKE update leads to from `current` (`state` names the
/// current status for messages), or why it may not happen.
pub(crate) fn transition(
    update: &OperationUpdate,
    current: Option<Status>,
    state: &str,
) -> Result<Status, String> {
    super::start_or_cancel("CHAINED_INVOKE", update, current, state)
}

/// The details of this operation type's history events (PROTOCOL §12) in
/// their wire form.
pub(crate) fn event_details(body: &EventBody, event: &mut Event) {
    match body {
        EventBody::ChainedInvokeStarted(start) => {
            event.chained_invoke_started_details = Some(ChainedInvokeStartedDetails {
                function_name: start.function_name.clone(),
                tenant_id: start.tenant_id.clone(),
                input: payload(start.input.as_ref()),
                executed_version: Some(EXECUTED_VERSION.to_owned()),
                durable_execution_arn: start.execution_arn.clone(),
            });
        }
        EventBody::ChainedInvokeSucceeded(result) => {
            event.chained_invoke_succeeded_details = result_details(result.as_ref());
        }
        EventBody::ChainedInvokeFailed(err) => {
            event.chained_invoke_failed_details = error_details(err.as_deref())
        }
        EventBody::ChainedInvokeTimedOut(err) => {
            event.chained_invoke_timed_out_details = error_details(err.as_deref())
        }
        EventBody::ChainedInvokeStopped(err) => {
            event.chained_invoke_stopped_details = error_details(err.as_deref())
        }
        _ => {}
    }
}
