//! [`LocalRunner`]: run a durable handler to completion in process (see the
//! crate docs for an example).
//!
//! Each runner owns its service and its clock. By default the clock is
//! virtual: waits and retry back-offs complete at once, and timestamps still
//! show the waited time.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use durable_core::wire::{
    ErrorObject, Event, EventType, ExecutionStatus, InvocationInput, Operation, OperationStatus,
    OperationType,
};
use durable_core::{Backend, DurableHandler, InvocationConfig};
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::error::LocalError;
use crate::events::EventRecord;
use crate::service::{InvocationResult, LocalService, NextStep, RUNTIME_EXIT_ERROR, ServiceConfig};
use crate::store::{ExecutionStore, MemoryStore, StoredExecution};

/// The function name executions get unless [`LocalRunner::function_name`] says otherwise.
pub const DEFAULT_FUNCTION_NAME: &str = "local-function";

/// Default bound on invocations per [`LocalRunner::run`].
pub const DEFAULT_MAX_INVOCATIONS: u32 = 10_000;

/// Runs a durable handler in process against a [`LocalService`].
pub struct LocalRunner<H, E, T> {
    handler: H,
    service: LocalService,
    backend: Arc<dyn Backend>,
    function_name: String,
    config: InvocationConfig,
    max_invocations: u32,
    retain_finished: bool,
    _types: PhantomData<fn(E) -> T>,
}

impl<H, E, T> std::fmt::Debug for LocalRunner<H, E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRunner")
            .field("service", &self.service)
            .field("function_name", &self.function_name)
            .field("max_invocations", &self.max_invocations)
            .field("retain_finished", &self.retain_finished)
            .finish_non_exhaustive()
    }
}

impl<H, E, T> LocalRunner<H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    /// A runner for `handler` with its own in-memory service on a virtual clock.
    pub fn new(handler: H) -> Self {
        Self::with_service(handler, LocalService::new(Clock::virtual_now()))
    }

    /// A runner for `handler` over an existing service (its store, clock and settings).
    pub fn with_service(handler: H, service: LocalService) -> Self {
        let backend: Arc<dyn Backend> = Arc::new(service.clone());
        Self {
            handler,
            service,
            backend,
            function_name: DEFAULT_FUNCTION_NAME.to_owned(),
            config: InvocationConfig::default(),
            max_invocations: DEFAULT_MAX_INVOCATIONS,
            retain_finished: true,
            _types: PhantomData,
        }
    }

    /// Uses `clock` instead of the default virtual clock. Replaces the
    /// service: call it before starting executions.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        let config = self.service.config().clone();
        let service = LocalService::with_store(Box::new(MemoryStore::new()), clock, config);
        self.replace_service(service)
    }

    /// Uses the real clock: waits and retry back-offs really take their time.
    /// Replaces the service: call it before starting executions.
    #[must_use]
    pub fn with_real_time(self) -> Self {
        self.with_clock(Clock::real())
    }

    /// Uses `store` and `config` (page size, failed-invocation budget, ARN
    /// parts) on the runner's clock. Replaces the service: call it before
    /// starting executions.
    #[must_use]
    pub fn with_store(self, store: Box<dyn ExecutionStore>, config: ServiceConfig) -> Self {
        let clock = self.service.clock().clone();
        self.replace_service(LocalService::with_store(store, clock, config))
    }

    fn replace_service(mut self, service: LocalService) -> Self {
        self.backend = Arc::new(service.clone());
        self.service = service;
        self
    }

    /// The function name used in execution ARNs (default `local-function`).
    #[must_use]
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }

    /// The configuration passed to every invocation.
    #[must_use]
    pub fn invocation_config(mut self, config: InvocationConfig) -> Self {
        self.config = config;
        self
    }

    /// The most invocations one [`run`](Self::run) may make before it gives
    /// up with [`LocalError::InvocationLimit`] (default 10 000).
    #[must_use]
    pub fn max_invocations(mut self, max: u32) -> Self {
        self.max_invocations = max.max(1);
        self
    }

    /// Whether finished executions stay in the service (default true, which
    /// idempotent start by name needs). With false, a finished execution is
    /// moved out of the service into the returned [`Execution`], which keeps
    /// memory flat in long benchmarks.
    #[must_use]
    pub fn retain_finished(mut self, retain: bool) -> Self {
        self.retain_finished = retain;
        self
    }

    /// The runner's service.
    pub fn service(&self) -> &LocalService {
        &self.service
    }

    /// The runner's clock.
    pub fn clock(&self) -> &Clock {
        self.service.clock()
    }

    /// Starts an execution with `input` and runs invocations until it ends or
    /// waits on something external (then its status is RUNNING).
    pub async fn run(&self, input: impl Serialize) -> Result<Execution, LocalError> {
        let input = serde_json::to_string(&input).map_err(LocalError::Input)?;
        self.start_and_drive(input, None).await
    }

    /// Like [`run`](Self::run), with options: `runner.start(input).name("order-1").await`.
    pub fn start(&self, input: impl Serialize) -> Start<'_, H, E, T> {
        Start {
            runner: self,
            input: serde_json::to_string(&input),
            name: None,
        }
    }

    /// Runs invocations of an existing execution until it ends or waits on
    /// something external (for example after a callback was completed).
    pub async fn resume(&self, arn: &str) -> Result<Execution, LocalError> {
        self.drive(arn).await
    }

    /// A snapshot of an execution.
    pub fn execution(&self, arn: &str) -> Result<Execution, LocalError> {
        self.service.with_execution(arn, Execution::from_stored)
    }

    async fn start_and_drive(
        &self,
        input: String,
        name: Option<String>,
    ) -> Result<Execution, LocalError> {
        let started = self
            .service
            .start_execution(&self.function_name, name.as_deref(), input)?;
        self.drive(&started.arn).await
    }

    async fn drive(&self, arn: &str) -> Result<Execution, LocalError> {
        let mut invocations = 0_u32;
        let mut next = self.service.next_step(arn)?;
        loop {
            match next {
                NextStep::Invoke => {}
                NextStep::WaitUntil(due) => {
                    self.service.clock().sleep_until(due).await;
                    self.service.fire_due_timers(arn)?;
                }
                _ => break,
            }
            if invocations >= self.max_invocations {
                return Err(LocalError::InvocationLimit {
                    arn: arn.to_owned(),
                    invocations,
                });
            }
            let invocation = self.service.begin_invocation(arn)?;
            let result = self.invoke(invocation.input).await;
            next = self.service.complete_invocation(arn, result)?;
            invocations += 1;
        }
        if !self.retain_finished
            && matches!(next, NextStep::Finished(_))
            && let Some(exec) = self.service.remove_execution(arn)
        {
            return Ok(Execution::from_owned(exec));
        }
        self.execution(arn)
    }

    /// One invocation; a panic is a crash (`Runtime.ExitError`).
    async fn invoke(&self, input: InvocationInput) -> InvocationResult {
        let invocation = durable_core::run_invocation(
            &self.handler,
            input,
            Arc::clone(&self.backend),
            &self.config,
        );
        match AssertUnwindSafe(invocation).catch_unwind().await {
            Ok(Ok(output)) => InvocationResult::Output(output),
            Ok(Err(error)) => {
                InvocationResult::Failed(ErrorObject::new(error.error_type(), error.message()))
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic payload".to_owned());
                InvocationResult::Failed(ErrorObject::new(
                    RUNTIME_EXIT_ERROR,
                    format!("the handler panicked: {message}"),
                ))
            }
        }
    }
}

/// An execution start with options; await it to run the execution
/// (see [`LocalRunner::start`]).
#[must_use = "a Start does nothing until awaited"]
pub struct Start<'r, H, E, T> {
    runner: &'r LocalRunner<H, E, T>,
    input: Result<String, serde_json::Error>,
    name: Option<String>,
}

impl<H, E, T> Start<'_, H, E, T> {
    /// The execution name. A second start with the same name and input
    /// returns the existing execution; with another input it fails with
    /// [`LocalError::AlreadyStarted`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<'r, H, E, T> IntoFuture for Start<'r, H, E, T>
where
    H: DurableHandler<E, T>,
    E: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    type Output = Result<Execution, LocalError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'r>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let input = self.input.map_err(LocalError::Input)?;
            self.runner.start_and_drive(input, self.name).await
        })
    }
}

/// A snapshot of an execution: status, result, operation records and history.
///
/// The history is kept in the engine's compact form and turned into wire
/// [`Event`]s when [`history`](Self::history) is called.
#[derive(Clone, Debug)]
pub struct Execution {
    arn: String,
    name: String,
    status: ExecutionStatus,
    input: String,
    result: Option<String>,
    error: Option<ErrorObject>,
    start_timestamp: i64,
    end_timestamp: Option<i64>,
    /// Every record in creation order; index 0 is the EXECUTION record.
    records: Vec<Operation>,
    events: Vec<EventRecord>,
    invocations: u32,
}

impl Execution {
    fn from_stored(exec: &StoredExecution) -> Self {
        Self {
            arn: exec.arn.clone(),
            name: exec.name.clone(),
            status: exec.status.clone(),
            input: exec.input.clone(),
            result: exec.result.clone(),
            error: exec.error.clone(),
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.iter().map(|slot| slot.op.clone()).collect(),
            events: exec.events.clone(),
            invocations: exec.invocations,
        }
    }

    fn from_owned(exec: StoredExecution) -> Self {
        Self {
            arn: exec.arn,
            name: exec.name,
            status: exec.status,
            input: exec.input,
            result: exec.result,
            error: exec.error,
            start_timestamp: exec.start_timestamp,
            end_timestamp: exec.end_timestamp,
            records: exec.slots.into_iter().map(|slot| slot.op).collect(),
            events: exec.events,
            invocations: exec.invocations,
        }
    }

    /// The records of the user's operations (all but the EXECUTION record).
    fn user_records(&self) -> impl Iterator<Item = &Operation> + '_ {
        self.records
            .iter()
            .filter(|op| op.operation_type != OperationType::Execution)
    }

    /// The execution ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The execution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// RUNNING (waiting on something external), SUCCEEDED or FAILED.
    pub fn status(&self) -> ExecutionStatus {
        self.status.clone()
    }

    /// The input as JSON text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The result deserialized as `R`: `Ok(None)` unless the execution
    /// SUCCEEDED with a result.
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        match self.result.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some),
        }
    }

    /// The result as the JSON text the handler returned.
    pub fn result_payload(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// The error of a FAILED execution.
    pub fn error(&self) -> Option<&ErrorObject> {
        self.error.as_ref()
    }

    /// When the execution started (epoch ms).
    pub fn start_timestamp(&self) -> i64 {
        self.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.end_timestamp
    }

    /// The operations in creation order (not the EXECUTION record).
    pub fn operations(&self) -> Vec<OperationView<'_>> {
        self.user_records().map(|op| OperationView { op }).collect()
    }

    /// The first operation named `name`.
    pub fn operation(&self, name: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.name.as_deref() == Some(name))
            .map(|op| OperationView { op })
    }

    /// The operation with this id.
    pub fn operation_by_id(&self, id: &str) -> Option<OperationView<'_>> {
        self.user_records()
            .find(|op| op.id == id)
            .map(|op| OperationView { op })
    }

    /// The operations whose parent is `parent_id` (`None`: the root ones).
    pub fn children(&self, parent_id: Option<&str>) -> Vec<OperationView<'_>> {
        self.user_records()
            .filter(|op| op.parent_id.as_deref() == parent_id)
            .map(|op| OperationView { op })
            .collect()
    }

    /// The EXECUTION record (its id is the last segment of the ARN).
    pub fn execution_record(&self) -> Option<&Operation> {
        self.records.first()
    }

    /// The history as wire events, EventId 1 first.
    pub fn history(&self) -> Vec<Event> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, record)| {
                record.to_wire(
                    i as u64 + 1,
                    self.records.get(record.op as usize),
                    &self.input,
                )
            })
            .collect()
    }

    /// The history's event types in order (handy in assertions).
    pub fn event_types(&self) -> Vec<EventType> {
        self.events.iter().map(EventRecord::event_type).collect()
    }

    /// How many invocations ran.
    pub fn invocations(&self) -> u32 {
        self.invocations
    }
}

/// A read-only view of one operation record.
#[derive(Clone, Copy, Debug)]
pub struct OperationView<'a> {
    op: &'a Operation,
}

impl<'a> OperationView<'a> {
    /// The operation id.
    pub fn id(&self) -> &'a str {
        &self.op.id
    }

    /// STEP, WAIT, CONTEXT, ...
    pub fn operation_type(&self) -> &'a OperationType {
        &self.op.operation_type
    }

    /// `Step`, `Wait`, `RunInChildContext`, ...
    pub fn sub_type(&self) -> Option<&'a str> {
        self.op.sub_type.as_deref()
    }

    /// The name given in code.
    pub fn name(&self) -> Option<&'a str> {
        self.op.name.as_deref()
    }

    /// The enclosing CONTEXT operation's id.
    pub fn parent_id(&self) -> Option<&'a str> {
        self.op.parent_id.as_deref()
    }

    /// The record's status.
    pub fn status(&self) -> &'a OperationStatus {
        &self.op.status
    }

    /// Finished attempts of a STEP (0 for other operations).
    pub fn attempts(&self) -> u32 {
        self.op
            .step_details
            .as_ref()
            .map_or(0, |d| u32::try_from(d.attempt).unwrap_or(0))
    }

    /// When it started (epoch ms).
    pub fn start_timestamp(&self) -> Option<i64> {
        self.op.start_timestamp
    }

    /// When it ended (epoch ms).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.op.end_timestamp
    }

    /// The stored result (JSON text) of a STEP, CONTEXT, CALLBACK or CHAINED_INVOKE.
    pub fn result_payload(&self) -> Option<&'a str> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.result.as_deref())
            .or_else(|| {
                op.context_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.callback_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.result.as_deref())
            })
    }

    /// The stored result deserialized as `R` (`Ok(None)` when there is none).
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>, serde_json::Error> {
        self.result_payload().map(serde_json::from_str).transpose()
    }

    /// The stored error.
    pub fn error(&self) -> Option<&'a ErrorObject> {
        let op = self.op;
        op.step_details
            .as_ref()
            .and_then(|d| d.error.as_ref())
            .or_else(|| op.context_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| op.callback_details.as_ref().and_then(|d| d.error.as_ref()))
            .or_else(|| {
                op.chained_invoke_details
                    .as_ref()
                    .and_then(|d| d.error.as_ref())
            })
    }

    /// The whole wire record.
    pub fn record(&self) -> &'a Operation {
        self.op
    }
}
