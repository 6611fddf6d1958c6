//! The driver loop: what the Lambda service's scheduler does for an
//! execution, for every host of the engine. [`LocalRunner`](crate::LocalRunner)
//! drives an execution and the executions of its chained invokes in one
//! task on its clock; `durable-dev`'s server drives each execution in a task
//! of its own. Both run this loop, so a fix to one is a fix to both.
//!
//! One turn of the loop asks the service what each driven execution needs
//! ([`LocalService::next_step`]) and does the first thing due: invoke an
//! execution that must be invoked, else sleep until the earliest timer (or
//! the earliest action the host scheduled) and fire it (a virtual clock may
//! be told not to move for callback deadlines alone:
//! [`Driver::hold_callback_deadlines`]). On the real clock a
//! sleep ends early when the service reports a change (a callback completed
//! through the API, an execution stopped), so nothing waits past the moment
//! it could go on.

use std::time::Duration;

use durable_core::BoxFuture;

use crate::error::LocalError;
use crate::service::{Invocation, InvocationResult, LocalService, NextStep};

/// What a host of the engine gives the [`Driver`]: the functions it runs,
/// and hooks into the loop. Every hook but [`invoke`](Self::invoke) has a
/// default that does nothing.
pub trait DriverHost: Send + Sync {
    /// Whether this host can invoke `function` for the execution `arn` now.
    /// The driver stops driving an execution whose function it cannot
    /// invoke, before it begins an invocation (the execution stays RUNNING
    /// and untouched).
    fn serves(&self, _arn: &str, _function: &str) -> bool {
        true
    }

    /// Runs one invocation of `function` with `invocation`'s envelope and
    /// reports how it ended.
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        invocation: Invocation,
    ) -> BoxFuture<'a, InvocationResult>;

    /// A driven execution changed status: it is seen for the first time
    /// before its first invocation (it has just started), or it has ended.
    fn status_changed(&self, _arn: &str) {}

    /// A chained invoke of a driven execution started the execution `arn`,
    /// which this driver does not adopt (see [`Driver::adopt_chained_invokes`]):
    /// the host drives it, or not, some other way. Called after every
    /// invocation for each running chained invoke.
    fn chained_invoke_running(&self, _arn: &str) {}

    /// The driver now drives `arns` (the root first; ended executions are
    /// dropped from it): called at the start,
    /// whenever it adopts an execution, and after every invocation and
    /// every scheduled action.
    fn driving(&self, _arns: &[String]) {}

    /// The earliest action this host scheduled on one of `arns` (epoch ms):
    /// an external system's call that the driver waits for in time order
    /// with the service's own timers (on a tie, the timer goes first).
    fn next_scheduled(&self, _arns: &[String]) -> Option<i64> {
        None
    }

    /// Performs the earliest action [`next_scheduled`](Self::next_scheduled)
    /// reported; its time has come.
    fn fire_scheduled(&self, _arns: &[String]) {}
}

/// How a [`Driver::drive`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriveReport {
    /// Whether the root execution has ended. When false, it is RUNNING and
    /// waits on something outside the driver (a callback, or an execution
    /// its host does not serve).
    pub finished: bool,
    /// Every execution this drive drove, the root first, ended ones included.
    pub executions: Vec<String>,
    /// The invocations it made.
    pub invocations: u32,
}

/// The driver loop over a [`LocalService`], for one root execution.
pub struct Driver<'a, H: ?Sized> {
    service: &'a LocalService,
    host: &'a H,
    adopt: bool,
    idle_poll: Option<Duration>,
    max_invocations: Option<u32>,
    hold_callback_deadlines: bool,
}

impl<H: ?Sized> std::fmt::Debug for Driver<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("adopt", &self.adopt)
            .field("idle_poll", &self.idle_poll)
            .field("max_invocations", &self.max_invocations)
            .field("hold_callback_deadlines", &self.hold_callback_deadlines)
            .finish_non_exhaustive()
    }
}

impl<'a, H: DriverHost + ?Sized> Driver<'a, H> {
    /// A driver of `service`'s executions that invokes through `host`. By
    /// default it adopts chained invokes, returns when nothing is left but
    /// to wait for something external, and has no invocation limit.
    pub fn new(service: &'a LocalService, host: &'a H) -> Self {
        Self {
            service,
            host,
            adopt: true,
            idle_poll: None,
            max_invocations: None,
            hold_callback_deadlines: false,
        }
    }

    /// On a virtual clock, whether a callback's timeout or heartbeat
    /// deadline alone may move the clock (false, the default: when nothing
    /// else is left, the clock jumps to the deadline and the callback times
    /// out), or not (true): when the only timers left are callback
    /// deadlines and the host has nothing scheduled, the drive returns (or
    /// waits when idle) with the callbacks open, as if no time passed. A
    /// deadline still fires when the clock reaches it on the way to another
    /// timer or scheduled action, or is moved past it by someone else
    /// ([`Clock::advance`](crate::Clock::advance)). The real clock is not
    /// affected.
    #[must_use]
    pub fn hold_callback_deadlines(mut self, hold: bool) -> Self {
        self.hold_callback_deadlines = hold;
        self
    }

    /// Whether the executions started by chained invokes are driven by this
    /// driver, together with their caller, in time order on the shared clock
    /// (true, the default: [`LocalRunner`](crate::LocalRunner)), or left to
    /// the host ([`DriverHost::chained_invoke_running`]).
    #[must_use]
    pub fn adopt_chained_invokes(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    /// When every driven execution waits on something external, keep
    /// waiting (look again on each change the service reports, and every
    /// `poll` as a safety net) instead of returning. A server's drivers run
    /// until their execution ends.
    #[must_use]
    pub fn wait_when_idle(mut self, poll: Duration) -> Self {
        self.idle_poll = Some(poll);
        self
    }

    /// Fails with [`LocalError::InvocationLimit`] rather than make more than
    /// `max` invocations.
    #[must_use]
    pub fn max_invocations(mut self, max: u32) -> Self {
        self.max_invocations = Some(max);
        self
    }

    /// Drives `root` (and, when adopting, the executions of its running
    /// chained invokes) until it ends or, unless waiting when idle, nothing
    /// internal or scheduled is left.
    ///
    /// # Errors
    /// [`LocalError::NotFound`] when an execution disappears,
    /// [`LocalError::InvocationLimit`], and the store's errors.
    pub async fn drive(&self, root: &str) -> Result<DriveReport, LocalError> {
        let service = self.service;
        let mut active = Active::default();
        self.add(&mut active, root)?;
        let mut ended: Vec<String> = Vec::new();
        self.adopt_children(&mut active, 0)?;
        let mut invocations = 0_u32;
        self.host.driving(&active.arns);
        let changed = service.changed();
        let real_time = !service.clock().is_virtual();
        let finished = loop {
            // On the real clock, registered before looking, so that a change
            // made meanwhile by another task (a callback completed by an
            // external system) cuts the sleep below short instead of being
            // missed. (On a virtual clock nothing sleeps.)
            let notified = real_time.then(|| changed.notified());
            let mut notified = std::pin::pin!(notified);
            if let Some(notified) = notified.as_mut().as_pin_mut() {
                notified.enable();
            }
            // What each execution needs: the first that must be invoked,
            // else the earliest timer.
            let mut invoke = None;
            let mut earliest: Option<(i64, usize)> = None;
            let mut root_finished = false;
            let mut i = 0;
            while let Some(arn) = active.arns.get(i) {
                match service.next_step(arn)? {
                    NextStep::Invoke => {
                        invoke = Some(i);
                        break;
                    }
                    NextStep::WaitUntil(due) if earliest.is_none_or(|(best, _)| due < best) => {
                        earliest = Some((due, i));
                    }
                    NextStep::Finished(_) => {
                        self.host.status_changed(arn);
                        if i == 0 {
                            root_finished = true;
                            break;
                        }
                        ended.push(active.remove(i));
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
            if root_finished {
                break true;
            }
            if let Some(at) = invoke {
                let (Some(arn), Some(function)) = (
                    active.arns.get(at).cloned(),
                    active.functions.get(at).cloned(),
                ) else {
                    break false;
                };
                if !self.host.serves(&arn, &function) {
                    if at == 0 {
                        break false;
                    }
                    // A callee the host cannot run: leave it, keep the rest.
                    ended.push(active.remove(at));
                    continue;
                }
                if self.max_invocations.is_some_and(|max| invocations >= max) {
                    return Err(LocalError::InvocationLimit {
                        arn: root.to_owned(),
                        invocations,
                    });
                }
                let invocation = service.begin_invocation(&arn)?;
                let result = self.host.invoke(&function, invocation).await;
                invocations += 1;
                // An end is reported (and a callee dropped) on the next look.
                service.complete_invocation(&arn, result)?;
                if let Some(at) = active.arns.iter().position(|a| *a == arn) {
                    self.adopt_children(&mut active, at)?;
                }
                self.host.driving(&active.arns);
                continue;
            }
            let scheduled = self.host.next_scheduled(&active.arns);
            // On a tie the service's own timer goes first: an external
            // request sent at the same instant arrives just after it.
            let timer_first = match (earliest, scheduled) {
                (Some((timer, _)), Some(action)) => timer <= action,
                (Some(_), None) => true,
                (None, _) => false,
            };
            // On a virtual clock that holds callback deadlines, a deadline
            // that is not yet due counts only when something else (a wait, a
            // retry, a scheduled action) lies beyond it.
            let held = self.hold_callback_deadlines
                && !real_time
                && scheduled.is_none()
                && earliest.is_some_and(|(due, _)| due > service.clock().now_ms())
                && !self.internal_timer(&active)?;
            let due = match (timer_first, earliest, scheduled) {
                (true, Some((due, _)), _) | (false, _, Some(due)) if !held => due,
                _ => {
                    // Nothing internal or scheduled: wait for the outside.
                    let Some(poll) = self.idle_poll else {
                        break false;
                    };
                    match notified.as_mut().as_pin_mut() {
                        Some(notified) => {
                            let _ = tokio::time::timeout(poll, notified).await;
                        }
                        None => tokio::time::sleep(poll).await,
                    }
                    continue;
                }
            };
            let clock = service.clock();
            let due_now = match notified.as_mut().as_pin_mut() {
                Some(notified) => {
                    tokio::select! {
                        () = clock.sleep_until(due) => true,
                        () = notified => false,
                    }
                }
                None => {
                    clock.sleep_until(due).await;
                    true
                }
            };
            if !due_now {
                // Something changed before `due`: look again.
                continue;
            }
            if let (true, Some((_, i))) = (timer_first, earliest) {
                if let Some(arn) = active.arns.get(i) {
                    service.fire_due_timers(arn)?;
                }
            } else {
                self.host.fire_scheduled(&active.arns);
                self.host.driving(&active.arns);
            }
        };
        let mut executions = active.arns;
        executions.extend(ended);
        Ok(DriveReport {
            finished,
            executions,
            invocations,
        })
    }

    /// Whether a driven execution has a timer other than a callback's
    /// deadline (or one that is due).
    fn internal_timer(&self, active: &Active) -> Result<bool, LocalError> {
        for arn in &active.arns {
            if self.service.next_internal_timer(arn)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Starts driving `arn`.
    fn add(&self, active: &mut Active, arn: &str) -> Result<(), LocalError> {
        let (function, fresh) = self.service.with_execution(arn, |exec| {
            (exec.function_name().to_owned(), exec.invocations() == 0)
        })?;
        if fresh {
            self.host.status_changed(arn);
        }
        active.arns.push(arn.to_owned());
        active.functions.push(function);
        Ok(())
    }

    /// Adds the executions of the running chained invokes of `active[at]`
    /// (and theirs, recursively), or hands them to the host.
    fn adopt_children(&self, active: &mut Active, at: usize) -> Result<(), LocalError> {
        let mut todo: Vec<String> = active.arns.get(at).cloned().into_iter().collect();
        while let Some(arn) = todo.pop() {
            for child in self.service.running_chained_invokes(&arn)? {
                if !self.adopt {
                    self.host.chained_invoke_running(&child);
                } else if !active.arns.contains(&child) {
                    self.add(active, &child)?;
                    todo.push(child);
                }
            }
        }
        Ok(())
    }
}

/// The executions a drive drives (the root first), with the functions they
/// run, side by side so that the hooks see the ARNs as a slice.
#[derive(Default)]
struct Active {
    arns: Vec<String>,
    functions: Vec<String>,
}

impl Active {
    /// Stops driving the execution at `at`; returns its ARN.
    fn remove(&mut self, at: usize) -> String {
        self.functions.remove(at);
        self.arns.remove(at)
    }
}
