//! The service's limits, each one constant, with the section of
//! `spec/PROTOCOL.md` it comes from (§11 lists them all).
//!
//! Types: a limit on a number of bytes, or on a number of things held in
//! memory, is a `usize` (it is compared with a `len()`); a limit on a field
//! of the wire model has that field's type (`WaitOptions.WaitSeconds`,
//! `StepOptions.NextAttemptDelaySeconds` and the APIs' `MaxItems` are `i32`);
//! a limit on a running time is a [`Duration`].

use std::time::Duration;

// ----- invocations -----

/// The largest payload of a synchronous Lambda invocation, its response
/// (the invocation output) and its request (the event) alike: 6 MiB
/// (PROTOCOL §2.2, §11 "Handler response"; Lambda's quota for both).
pub const MAX_INVOCATION_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The largest output a handler may return inline: 6 MiB − 50 bytes, the
/// response limit less what the SDKs keep for the envelope. A larger result
/// is checkpointed and an empty `Result` returned (PROTOCOL §2.2, §11
/// "Handler response").
pub const MAX_INLINE_OUTPUT: usize = MAX_INVOCATION_PAYLOAD_BYTES - 50;

/// The longest one invocation may run: 15 minutes, Lambda's longest function
/// timeout; the execution then goes on in a new invocation (PROTOCOL §0,
/// §11 "Invocation / execution").
pub const MAX_INVOCATION_DURATION: Duration = Duration::from_secs(15 * 60);

// ----- checkpointed updates (CheckpointDurableExecution) -----

/// The largest `Payload` of an update: 1 MiB (PROTOCOL §11 "Update
/// `Payload`"; the spec says 1 MB, enforced here as 1024 × 1024 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// The largest `Payload` of an EXECUTION update, the one that carries a
/// result over [`MAX_INLINE_OUTPUT`]: 6 MiB (PROTOCOL §2.2, §11 "Update
/// `Payload`": 6 MB for the synchronous EXECUTION update).
pub const MAX_EXECUTION_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The largest `Error` of an update, all its fields together: 1 MiB
/// (PROTOCOL §11 "Update `Error`"; the emulator allows only 32 KiB). The
/// error of `SendDurableExecutionCallbackFailure` has the same limit.
pub const MAX_ERROR_BYTES: usize = 1024 * 1024;

/// The largest result of a child context, map or parallel that is recorded
/// inline; a larger one is not stored and replay re-runs the children to
/// rebuild it (`ReplayChildren`): 256 KiB (PROTOCOL §8.7, §8.8, §11
/// "Context/map/parallel result inline").
pub const MAX_INLINE_CHILD_RESULT: usize = 256 * 1024;

/// The most updates the SDK sends in one checkpoint call: 250 (PROTOCOL §7,
/// §11 "SDK checkpoint batch"; the Python SDK's limit, kept by this one).
pub const MAX_BATCH_UPDATES: usize = 250;

/// The most bytes of updates the SDK sends in one checkpoint call: 750 KiB
/// (PROTOCOL §7, §11 "SDK checkpoint batch").
pub const MAX_BATCH_BYTES: usize = 750 * 1024;

// ----- operations -----

/// The shortest wait, in seconds: 1 (PROTOCOL §8.2, §11 "Wait"). An `i32`,
/// the type of `WaitOptions.WaitSeconds`.
pub const MIN_WAIT_SECONDS: i32 = 1;

/// The longest wait, in seconds: 31 622 400, 366 days (PROTOCOL §8.2, §11
/// "Wait"). An `i32`, the type of `WaitOptions.WaitSeconds`; for a
/// [`Duration`], `Duration::from_secs(MAX_WAIT_SECONDS.unsigned_abs().into())`.
pub const MAX_WAIT_SECONDS: i32 = 31_622_400;

/// The shortest delay before a step's retry or a `wait_for_condition`'s next
/// check, in seconds: 1; delays are whole seconds (PROTOCOL §8.5, §9, §11
/// "Retry / poll delay"). An `i32`, the type of
/// `StepOptions.NextAttemptDelaySeconds`.
pub const MIN_RETRY_DELAY_SECONDS: i32 = 1;

// ----- the external APIs -----

/// The largest result `SendDurableExecutionCallbackSuccess` accepts: 1 MiB
/// (PROTOCOL §4.4, §11 "Callback success body").
pub const MAX_CALLBACK_RESULT_BYTES: usize = 1024 * 1024;

/// The most items one page of `GetDurableExecutionState` or
/// `GetDurableExecutionHistory` holds (`MaxItems`; the default is 100):
/// 1000 (PROTOCOL §4.1, §4.3, §11 "State / history page"). An `i32`, the
/// type of `MaxItems`.
pub const MAX_PAGE_ITEMS: i32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_have_their_documented_values() {
        assert_eq!(MAX_INLINE_OUTPUT, 6_291_406);
        assert_eq!(MAX_INLINE_OUTPUT, MAX_INVOCATION_PAYLOAD_BYTES - 50);
        assert_eq!(MAX_EXECUTION_PAYLOAD_BYTES, MAX_INVOCATION_PAYLOAD_BYTES);
        assert_eq!(MAX_WAIT_SECONDS, 366 * 24 * 60 * 60);
        assert_eq!(MAX_BATCH_BYTES, 768_000);
        assert_eq!(MAX_INVOCATION_DURATION.as_secs(), 900);
    }
}
