//! Clients for programs outside the workflow: an approval service that
//! completes callbacks, a job that starts executions by name, a dashboard
//! that reads their status and history.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use durable_core::BackendError;
use durable_core::limits::MAX_PAGE_ITEMS;
use durable_core::wire::ErrorObject;
use serde::Serialize;

use crate::backend::{backend_error, error_to_aws};

/// Typed wrappers over the durable execution APIs of `aws-sdk-lambda`.
#[derive(Clone, Debug)]
pub struct DurableClient {
    client: Client,
}

/// The service's answer to a client call, or why there was none.
pub type ClientResult<T> = Result<T, BackendError>;

fn json<T: Serialize + ?Sized>(value: &T) -> ClientResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        BackendError::service(
            "InvalidRequest",
            400,
            format!("the payload cannot be serialized as JSON: {e}"),
        )
    })
}

impl DurableClient {
    /// A client over an existing `aws-sdk-lambda` client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client configured from the environment (region, credentials,
    /// `AWS_ENDPOINT_URL_LAMBDA`).
    pub async fn from_env() -> Self {
        Self::new(Client::new(&aws_config::load_from_env().await))
    }

    /// The underlying client, for the calls not wrapped here.
    pub fn inner(&self) -> &Client {
        &self.client
    }

    /// Completes a callback with a result, sent as JSON.
    ///
    /// # Errors
    /// The service's error: an unknown callback id, a callback that is
    /// already closed ([`CALLBACK_TIMEOUT_EXCEPTION`](durable_core::CALLBACK_TIMEOUT_EXCEPTION)),
    /// a result over [`MAX_CALLBACK_RESULT_BYTES`](durable_core::limits::MAX_CALLBACK_RESULT_BYTES).
    pub async fn send_callback_success<T: Serialize + ?Sized>(
        &self,
        callback_id: &str,
        result: &T,
    ) -> ClientResult<()> {
        self.client
            .send_durable_execution_callback_success()
            .callback_id(callback_id)
            .result(Blob::new(json(result)?))
            .send()
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Completes a callback with an error.
    ///
    /// # Errors
    /// As for [`send_callback_success`](Self::send_callback_success).
    pub async fn send_callback_failure(
        &self,
        callback_id: &str,
        error: &ErrorObject,
    ) -> ClientResult<()> {
        self.client
            .send_durable_execution_callback_failure()
            .callback_id(callback_id)
            .error(error_to_aws(error))
            .send()
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Tells the service the callback's work is still going on.
    ///
    /// # Errors
    /// As for [`send_callback_success`](Self::send_callback_success).
    pub async fn send_callback_heartbeat(&self, callback_id: &str) -> ClientResult<()> {
        self.client
            .send_durable_execution_callback_heartbeat()
            .callback_id(callback_id)
            .send()
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Starts an execution of a durable function under a name, without
    /// waiting for it; starting the same name with the same input again
    /// returns the same execution. Returns its ARN.
    ///
    /// # Errors
    /// The service's error, for example `DurableExecutionAlreadyStartedException`
    /// when the name is taken with another input.
    pub async fn start_execution<T: Serialize + ?Sized>(
        &self,
        function_name: &str,
        execution_name: &str,
        input: &T,
    ) -> ClientResult<String> {
        let output = self
            .client
            .invoke()
            .function_name(function_name)
            .durable_execution_name(execution_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(json(input)?))
            .send()
            .await
            .map_err(backend_error)?;
        output.durable_execution_arn().map(str::to_owned).ok_or_else(|| {
            BackendError::service(
                "InvalidResponse",
                502,
                format!("Invoke of {function_name} answered without an execution ARN; is durable execution enabled?"),
            )
        })
    }

    /// Reads an execution: status, input, result or error, timestamps.
    ///
    /// # Errors
    /// The service's error, for example `ResourceNotFoundException`.
    pub async fn get_execution(
        &self,
        execution_arn: &str,
    ) -> ClientResult<aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionOutput>
    {
        self.client
            .get_durable_execution()
            .durable_execution_arn(execution_arn)
            .include_execution_data(true)
            .send()
            .await
            .map_err(backend_error)
    }

    /// Reads an execution's whole history, every page.
    ///
    /// # Errors
    /// The service's error.
    pub async fn get_history(
        &self,
        execution_arn: &str,
    ) -> ClientResult<Vec<aws_sdk_lambda::types::Event>> {
        let mut events = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .get_durable_execution_history()
                .durable_execution_arn(execution_arn)
                .include_execution_data(true)
                .max_items(MAX_PAGE_ITEMS)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(backend_error)?;
            events.extend(page.events().iter().cloned());
            match page.next_marker().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_owned()),
                None => return Ok(events),
            }
        }
    }

    /// Stops an execution, with an optional error recorded as the reason.
    ///
    /// # Errors
    /// The service's error.
    pub async fn stop_execution(
        &self,
        execution_arn: &str,
        error: Option<&ErrorObject>,
    ) -> ClientResult<()> {
        self.client
            .stop_durable_execution()
            .durable_execution_arn(execution_arn)
            .set_error(error.map(error_to_aws))
            .send()
            .await
            .map_err(backend_error)?;
        Ok(())
    }
}
