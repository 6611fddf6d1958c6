//! A minimal fake of the durable execution service for the engine tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use durable_core::wire::*;
use durable_core::*;
use serde::Serialize;

pub const ARN: &str =
    "arn:aws:lambda:us-east-1:000000000000:function:f/durable-execution/run/exec-1";

/// Records every batch and answers like the service, minus validation.
#[derive(Default)]
pub struct Fake {
    pub state: Mutex<FakeState>,
}

#[derive(Default)]
pub struct FakeState {
    pub token: u64,
    pub ops: Vec<Operation>,
    pub index: HashMap<String, usize>,
    pub batches: Vec<Vec<OperationUpdate>>,
}

impl FakeState {
    fn apply(&mut self, update: &OperationUpdate) -> Operation {
        let index = match self.index.get(&update.id) {
            Some(index) => *index,
            None => {
                let mut op = Operation::new(
                    update.id.clone(),
                    update.operation_type.clone(),
                    OperationStatus::Started,
                );
                op.parent_id.clone_from(&update.parent_id);
                op.name.clone_from(&update.name);
                op.sub_type.clone_from(&update.sub_type);
                self.ops.push(op);
                self.index.insert(update.id.clone(), self.ops.len() - 1);
                self.ops.len() - 1
            }
        };
        let op = &mut self.ops[index];
        let step = op.step_details.get_or_insert_with(Box::default);
        match update.action {
            OperationAction::Start => {
                op.status = OperationStatus::Started;
                if update.operation_type == OperationType::Callback {
                    op.callback_details = Some(Box::new(CallbackDetails {
                        callback_id: Some(format!("cb-{}", &update.id[..8])),
                        ..Default::default()
                    }));
                }
            }
            OperationAction::Succeed => {
                op.status = OperationStatus::Succeeded;
                step.attempt += 1;
                step.result.clone_from(&update.payload);
                let ctx = op.context_details.get_or_insert_with(Box::default);
                ctx.result.clone_from(&update.payload);
            }
            OperationAction::Fail => {
                op.status = OperationStatus::Failed;
                step.attempt += 1;
                step.error.clone_from(&update.error);
                let ctx = op.context_details.get_or_insert_with(Box::default);
                ctx.error.clone_from(&update.error);
            }
            OperationAction::Retry => {
                op.status = OperationStatus::Pending;
                step.attempt += 1;
                step.error.clone_from(&update.error);
            }
            _ => {}
        }
        op.clone()
    }
}

impl Backend for Fake {
    fn checkpoint<'a>(
        &'a self,
        _arn: &'a str,
        token: &'a str,
        updates: Vec<OperationUpdate>,
    ) -> BoxFuture<'a, Result<CheckpointResponse, BackendError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            if token != format!("t{}", state.token) {
                return Err(BackendError::service(
                    INVALID_PARAMETER_VALUE,
                    400,
                    format!("{INVALID_CHECKPOINT_TOKEN}: {token} is not current"),
                ));
            }
            let delta = updates.iter().map(|u| state.apply(u)).collect();
            let terminal = updates
                .iter()
                .any(|u| u.operation_type == OperationType::Execution);
            state.batches.push(updates);
            state.token += 1;
            Ok(CheckpointResponse {
                checkpoint_token: (!terminal).then(|| format!("t{}", state.token)),
                new_execution_state: Some(ExecutionState {
                    operations: delta,
                    next_marker: None,
                }),
            })
        })
    }

    fn get_state<'a>(
        &'a self,
        _arn: &'a str,
        _token: &'a str,
        _marker: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionState, BackendError>> {
        Box::pin(async { Ok(ExecutionState::default()) })
    }
}

pub fn execution_record(input: &str) -> Operation {
    let mut op = Operation::new("exec-1", OperationType::Execution, OperationStatus::Started);
    op.execution_details = Some(Box::new(ExecutionDetails {
        input_payload: Some(input.to_owned()),
    }));
    op
}

impl Fake {
    /// The envelope of the next invocation: every record so far.
    pub fn envelope(&self, input: &str) -> InvocationInput {
        let state = self.state.lock().unwrap();
        let mut operations = vec![execution_record(input)];
        operations.extend(state.ops.iter().cloned());
        InvocationInput {
            durable_execution_arn: Some(ARN.into()),
            checkpoint_token: Some(format!("t{}", state.token)),
            initial_execution_state: ExecutionState {
                operations,
                next_marker: None,
            },
            updated_operation_ids: None,
        }
    }

    pub fn batches(&self) -> Vec<Vec<OperationUpdate>> {
        self.state.lock().unwrap().batches.clone()
    }

    pub fn set(&self, ops: Vec<Operation>) {
        let mut state = self.state.lock().unwrap();
        state.index = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (op.id.clone(), i))
            .collect();
        state.ops = ops;
    }
}

pub async fn invoke<E, T, H>(
    fake: &Arc<Fake>,
    handler: &H,
    input: &str,
) -> Result<InvocationOutput, InvocationError>
where
    H: DurableHandler<E, T>,
    E: serde::de::DeserializeOwned + Send,
    T: Serialize + Send,
{
    let backend: Arc<dyn Backend> = fake.clone();
    run_invocation(
        handler,
        fake.envelope(input),
        backend,
        &InvocationConfig::default(),
    )
    .await
}

pub fn error_type(output: &InvocationOutput) -> &str {
    output
        .error
        .as_ref()
        .and_then(|e| e.error_type.as_deref())
        .unwrap_or("")
}
