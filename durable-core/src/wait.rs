//! `ctx.wait(..)`: suspend the execution for a time, with no compute while
//! waiting (PROTOCOL §8.2).

use std::future::IntoFuture;
use std::time::Duration;

use crate::backend::BoxFuture;
use crate::context::{DurableContext, OpSlot};
use crate::engine::Halted;
use crate::error::kinds;
use crate::limits::{MAX_WAIT_SECONDS, MIN_WAIT_SECONDS};
use crate::wire::{OperationAction, OperationStatus, OperationType, WaitOptions};

/// The SubType of waits.
pub const WAIT_SUBTYPE: &str = "Wait";

/// A wait, ready to be named and awaited. Created by [`DurableContext::wait`].
#[must_use = "a wait does nothing until it is awaited"]
pub struct Wait {
    ctx: DurableContext,
    slot: OpSlot,
    duration: Duration,
    name: Option<String>,
}

impl DurableContext {
    /// Suspends the execution for `duration`. The service resumes it when the
    /// time is up; nothing runs (or is billed) meanwhile.
    ///
    /// The service counts whole seconds: a fractional duration is rounded up.
    /// A duration under one second or over 366 days ends the execution with a
    /// `ValidationError`, before anything is checkpointed.
    pub fn wait(&self, duration: Duration) -> Wait {
        Wait {
            ctx: self.clone(),
            slot: self.next_slot(),
            duration,
            name: None,
        }
    }
}

impl Wait {
    /// The name shown in the history.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The duration in whole seconds, rounded up, if the service accepts it.
    fn seconds(&self) -> Result<i32, String> {
        let shortest = Duration::from_secs(MIN_WAIT_SECONDS.unsigned_abs().into());
        let whole = self
            .duration
            .as_secs()
            .saturating_add(u64::from(self.duration.subsec_nanos() > 0));
        i32::try_from(whole)
            .ok()
            .filter(|whole| self.duration >= shortest && *whole <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                format!(
                    "wait {} asks for {:?}; a wait lasts from {MIN_WAIT_SECONDS} second to \
                     {MAX_WAIT_SECONDS} seconds",
                    self.slot.id, self.duration
                )
            })
    }

    async fn execute(self) -> Result<(), Halted> {
        let core = self.ctx.core().clone();
        let status = core.with_record(&self.slot.id, |record| {
            record
                .map(|op| {
                    self.ctx
                        .check_record(
                            op,
                            &self.slot,
                            &OperationType::Wait,
                            WAIT_SUBTYPE,
                            self.name.as_deref(),
                        )
                        .map(|()| op.status.clone())
                })
                .transpose()
        })?;
        match status {
            Some(OperationStatus::Succeeded | OperationStatus::Cancelled) => return Ok(()),
            Some(_) => {
                self.ctx.mark_new();
            }
            None => {
                self.ctx.mark_new();
                let seconds = self
                    .seconds()
                    .map_err(|why| core.fail(kinds::VALIDATION, why))?;
                let mut update = self.ctx.update(
                    &self.slot,
                    OperationType::Wait,
                    WAIT_SUBTYPE,
                    self.name.as_deref(),
                    OperationAction::Start,
                );
                update.wait_options = Some(WaitOptions {
                    wait_seconds: seconds,
                });
                core.checkpoint(update).await?;
                // The delta may already say the wait is over.
                let done = core.with_record(&self.slot.id, |record| {
                    record.is_some_and(|op| op.status == OperationStatus::Succeeded)
                });
                if done {
                    return Ok(());
                }
            }
        }
        self.ctx.suspend().await
    }
}

impl IntoFuture for Wait {
    type Output = ();
    type IntoFuture = BoxFuture<'static, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.execute().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
