//! Settling an invocation: its output validated as the service does
//! (PROTOCOL §2.2), `InvocationCompleted` recorded, the execution ended,
//! suspended or invoked again, failures counted.

use durable_core::INVALID_PARAMETER_VALUE;
use durable_core::wire::{ErrorObject, ExecutionStatus, InvocationOutput, InvocationStatus};

use super::operations::execution::{Outcome, finish, record_execution_end};
use super::timers::{has_pending_work, pending_step};
use super::types::{InvocationResult, NextStep};
use crate::events::{EventBody, InvocationRecord, NO_OPERATION};
use crate::store::{InFlight, StoredExecution};
use durable_core::limits::MAX_INVOCATION_PAYLOAD_BYTES;

/// Ends the invocation `in_flight` of `exec` with `result` (see
/// [`LocalService::complete_invocation`]): the invocation is counted and
/// recorded, the output applied or the failure counted. Returns what comes
/// next and whether the execution ended with this invocation (an execution
/// stopped while the invocation ran had already ended). Commits nothing.
pub(super) fn settle_invocation(
    exec: &mut StoredExecution,
    in_flight: InFlight,
    result: InvocationResult,
    now: i64,
    max_failures: u32,
) -> (NextStep, bool) {
    exec.invocations = exec.invocations.saturating_add(1);
    if exec.end_event_due {
        // An EXECUTION update already ended the execution; the output no
        // longer matters.
        let error = match result {
            InvocationResult::Failed(error) => Some(error),
            InvocationResult::Output(_) => None,
        };
        record_invocation(exec, in_flight, now, error);
        record_execution_end(exec, now);
        return (NextStep::Finished(exec.status.clone()), true);
    }
    if exec.status.is_terminal() {
        // Stopped while the invocation ran: its output no longer matters.
        let error = match result {
            InvocationResult::Failed(error) => Some(error),
            InvocationResult::Output(_) => None,
        };
        record_invocation(exec, in_flight, now, error);
        return (NextStep::Finished(exec.status.clone()), false);
    }
    match check_output(exec, result) {
        Ok(output) => {
            exec.consecutive_failures = 0;
            record_invocation(exec, in_flight, now, None);
            match output.status {
                InvocationStatus::Succeeded => {
                    finish(exec, Outcome::Succeeded(output.result), now);
                    record_execution_end(exec, now);
                    (NextStep::Finished(ExecutionStatus::Succeeded), true)
                }
                InvocationStatus::Failed => {
                    finish(exec, Outcome::Failed(output.error), now);
                    record_execution_end(exec, now);
                    (NextStep::Finished(ExecutionStatus::Failed), true)
                }
                _ => (pending_step(exec), false),
            }
        }
        Err(error) => {
            exec.consecutive_failures = exec.consecutive_failures.saturating_add(1);
            record_invocation(exec, in_flight, now, Some(error.clone()));
            if exec.consecutive_failures >= max_failures {
                finish(exec, Outcome::Failed(Some(error)), now);
                record_execution_end(exec, now);
                (NextStep::Finished(ExecutionStatus::Failed), true)
            } else {
                exec.wake = true;
                (NextStep::Invoke, false)
            }
        }
    }
}

pub(super) fn invalid_output(message: &str) -> ErrorObject {
    ErrorObject::new(INVALID_PARAMETER_VALUE, message)
}

/// The output if the service accepts it, else the error the failed
/// invocation is recorded with.
pub(super) fn check_output(
    exec: &mut StoredExecution,
    result: InvocationResult,
) -> Result<InvocationOutput, ErrorObject> {
    let output = match result {
        InvocationResult::Failed(error) => return Err(error),
        InvocationResult::Output(output) => output,
    };
    match output.status {
        InvocationStatus::Succeeded => {
            if output.error.is_some() {
                return Err(invalid_output(
                    "A SUCCEEDED output must not carry an Error.",
                ));
            }
            if output
                .result
                .as_ref()
                .is_some_and(|r| r.len() > MAX_INVOCATION_PAYLOAD_BYTES)
            {
                return Err(invalid_output(
                    "The SUCCEEDED output's Result exceeds the maximum response size of 6 MiB.",
                ));
            }
        }
        InvocationStatus::Failed => {
            if output.result.is_some() {
                return Err(invalid_output("A FAILED output must not carry a Result."));
            }
        }
        InvocationStatus::Pending => {
            if output.result.is_some() || output.error.is_some() {
                return Err(invalid_output(
                    "A PENDING output must not carry a Result or an Error.",
                ));
            }
            if !has_pending_work(exec) {
                return Err(invalid_output(
                    "Cannot return PENDING status with no pending operations.",
                ));
            }
        }
        _ => {
            return Err(invalid_output(&format!(
                "Unknown invocation status {}.",
                output.status
            )));
        }
    }
    Ok(output)
}

pub(super) fn record_invocation(
    exec: &mut StoredExecution,
    in_flight: InFlight,
    now: i64,
    error: Option<ErrorObject>,
) {
    exec.push_event(
        NO_OPERATION,
        now,
        EventBody::InvocationCompleted(Box::new(InvocationRecord {
            start: in_flight.start,
            end: now,
            request_id: in_flight.request_id,
            error,
        })),
    );
}
