//! The client subcommands: `invoke`, `executions list|get|history`,
//! `callback succeed|fail|heartbeat` and `stop`, thin clients of Lambda's
//! durable execution REST API through aws-sdk-lambda. They talk to
//! `durable dev` by default and to any other implementation of the API
//! (AWS's dex-local-runner, AWS Lambda itself) with `--endpoint-url`.
//!
//! Output is for a person; with `--json` it is the API's own JSON and
//! nothing else on stdout.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::types::{ErrorObject, ExecutionStatus};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value};

mod api;
mod view;

use api::{Api, CliError, ConnectOptions, InvokeRequest, ListQuery, Target};

const ENDPOINT_HELP: &str = "Where the durable execution API is: `durable dev`'s URL (the default), \
any other implementation of Lambda's durable execution API such as dex-local-runner, or `aws` for \
AWS Lambda itself. For a URL, credentials come from the AWS_* environment variables or the AWS \
profile when there are some, and are dummy ones otherwise (local servers do not check them), so no \
AWS account is needed. With `aws`, the SDK's usual configuration applies: the profile's or \
environment's region and credentials (SSO and credential_process profiles are not supported), and \
AWS_ENDPOINT_URL_LAMBDA if set. Without --endpoint-url or DURABLE_ENDPOINT, a URL in \
AWS_ENDPOINT_URL_LAMBDA (as `durable dev` prints it) is used before the default.";

/// How `--json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonStyle {
    /// Indented, for reading.
    Pretty,
    /// One line per document, for pipes.
    Compact,
}

/// Options of every client subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[arg(
        long,
        global = true,
        env = "DURABLE_ENDPOINT",
        value_name = "URL|aws",
        help = "Where the API is: a URL (default: AWS_ENDPOINT_URL_LAMBDA, else `durable dev`'s) or `aws` for AWS Lambda",
        long_help = ENDPOINT_HELP
    )]
    endpoint_url: Option<String>,
    /// The region to sign requests for (and, with `--endpoint-url aws`, to
    /// call). Default: AWS_REGION, the profile's region, or us-east-1.
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,
    /// The AWS profile for region and credentials (default: AWS_PROFILE,
    /// else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// Print the API's JSON, and nothing else, on stdout: `--json` indented,
    /// `--json=compact` on one line.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "STYLE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "pretty"
    )]
    json: Option<JsonStyle>,
}

impl ClientArgs {
    fn options(&self) -> Result<ConnectOptions, CliError> {
        Ok(ConnectOptions {
            target: Target::parse(&endpoint(
                self.endpoint_url.as_deref(),
                std::env::var("AWS_ENDPOINT_URL_LAMBDA").ok().as_deref(),
            ))?,
            region: self.region.clone().filter(|r| !r.is_empty()),
            profile: self.profile.clone().filter(|p| !p.is_empty()),
        })
    }
}

/// The API's address: `--endpoint-url` (or `DURABLE_ENDPOINT`), else
/// `AWS_ENDPOINT_URL_LAMBDA` (what `durable dev` tells functions and users
/// to set, and what the AWS SDKs read), else `durable dev`'s default.
fn endpoint(flag: Option<&str>, lambda_env: Option<&str>) -> String {
    flag.filter(|f| !f.is_empty())
        .or(lambda_env.filter(|e| !e.is_empty()))
        .unwrap_or(api::DEFAULT_ENDPOINT)
        .to_owned()
}

/// The client subcommands of `durable`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Invoke a function, starting a durable execution (under a name, to
    /// start it once), and print the execution ARN and the result.
    Invoke(InvokeArgs),
    /// List executions of a function, show one with its step timeline,
    /// or print its history.
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Executions(ExecutionsArgs),
    /// Complete a callback an execution waits for, or heartbeat it.
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Callback(CallbackArgs),
    /// Stop a running execution.
    Stop(StopArgs),
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function: name, name:qualifier, or ARN.
    function: String,
    /// The durable execution name: invoking again with the same name and
    /// payload returns the same execution instead of starting another.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The input event, as JSON (default: `{}`).
    #[arg(
        long,
        value_name = "JSON",
        allow_hyphen_values = true,
        conflicts_with = "payload_file"
    )]
    payload: Option<String>,
    /// Read the input event from a file (`-` for stdin).
    #[arg(long, value_name = "PATH")]
    payload_file: Option<PathBuf>,
    /// A version or alias of the function.
    #[arg(long, value_name = "QUALIFIER")]
    qualifier: Option<String>,
    /// Return once the execution has started (InvocationType Event),
    /// without waiting for its result.
    #[arg(long = "async")]
    asynchronous: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    #[command(subcommand)]
    command: ExecutionsCommand,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// List a function's executions, in the order the service gives them.
    List {
        /// The function: name or ARN.
        function: String,
        /// Only executions in these statuses (repeatable, or comma-separated).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            ignore_case = true,
            value_name = "STATUS"
        )]
        status: Vec<StatusArg>,
        /// Only executions with this durable execution name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Only executions of this version or alias.
        #[arg(long, value_name = "QUALIFIER")]
        qualifier: Option<String>,
        /// At most this many executions (default: all, every page).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
    },
    /// Show an execution: status, times, result or error, and a timeline
    /// of its operations built from its history.
    Get {
        /// The durable execution ARN.
        arn: String,
    },
    /// Print an execution's history events (every page).
    History {
        /// The durable execution ARN.
        arn: String,
    },
}

/// An `ExecutionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    #[value(name = "RUNNING")]
    Running,
    #[value(name = "SUCCEEDED")]
    Succeeded,
    #[value(name = "FAILED")]
    Failed,
    #[value(name = "TIMED_OUT", alias = "timed-out")]
    TimedOut,
    #[value(name = "STOPPED")]
    Stopped,
}

impl From<StatusArg> for ExecutionStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Running => Self::Running,
            StatusArg::Succeeded => Self::Succeeded,
            StatusArg::Failed => Self::Failed,
            StatusArg::TimedOut => Self::TimedOut,
            StatusArg::Stopped => Self::Stopped,
        }
    }
}

#[derive(Debug, Args)]
pub struct CallbackArgs {
    #[command(subcommand)]
    command: CallbackCommand,
    #[command(flatten)]
    client: ClientArgs,
}

/// The error an execution is given: `--error-type`, `--message`, `--data`.
#[derive(Debug, Clone, Default, Args)]
pub struct ErrorArgs {
    /// The error's type, e.g. `Rejected`.
    #[arg(long, value_name = "TYPE")]
    error_type: Option<String>,
    /// The error's message.
    #[arg(long, value_name = "MESSAGE", allow_hyphen_values = true)]
    message: Option<String>,
    /// Data attached to the error (any text, often JSON).
    #[arg(long, value_name = "DATA", allow_hyphen_values = true)]
    data: Option<String>,
}

impl ErrorArgs {
    fn is_empty(&self) -> bool {
        self.error_type.is_none() && self.message.is_none() && self.data.is_none()
    }

    fn to_error_object(&self) -> ErrorObject {
        ErrorObject::builder()
            .set_error_type(self.error_type.clone())
            .set_error_message(self.message.clone())
            .set_error_data(self.data.clone())
            .build()
    }
}

#[derive(Debug, Subcommand)]
pub enum CallbackCommand {
    /// Complete a callback with a result.
    Succeed {
        /// The callback id (from the CallbackStarted event, or `durable
        /// executions get`).
        #[arg(allow_hyphen_values = true)]
        callback_id: String,
        /// The result, as JSON (none: an empty result).
        #[arg(allow_hyphen_values = true, conflicts_with = "result_file")]
        result: Option<String>,
        /// Read the result from a file (`-` for stdin).
        #[arg(long, value_name = "PATH")]
        result_file: Option<PathBuf>,
        /// Send the result as it is, even if it is not JSON.
        #[arg(long)]
        raw: bool,
    },
    /// Complete a callback with an error.
    Fail {
        /// The callback id.
        #[arg(allow_hyphen_values = true)]
        callback_id: String,
        #[command(flatten)]
        error: ErrorArgs,
    },
    /// Tell the execution the callback's work is still going on (resets
    /// its heartbeat timeout).
    Heartbeat {
        /// The callback id.
        #[arg(allow_hyphen_values = true)]
        callback_id: String,
    },
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The durable execution ARN.
    arn: String,
    #[command(flatten)]
    error: ErrorArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs a client subcommand.
///
/// # Errors
/// The service's error, or why the request could not be made; as one line.
pub async fn run(command: ClientCommand) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        ClientCommand::Invoke(args) => invoke(args).await?,
        ClientCommand::Executions(args) => executions(args).await?,
        ClientCommand::Callback(args) => callback(args).await?,
        ClientCommand::Stop(args) => stop(args).await?,
    }
    Ok(())
}

// ---------------------------------------------------------------- output

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

fn json_text(value: &Value, style: JsonStyle) -> String {
    let text = match style {
        JsonStyle::Pretty => serde_json::to_string_pretty(value),
        JsonStyle::Compact => serde_json::to_string(value),
    };
    // Serializing a `Value` cannot fail; keep a fallback anyway.
    let mut text = text.unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A file's bytes, or stdin's for `-`.
fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::new(format!("cannot read stdin: {e}")))?;
        Ok(bytes)
    } else {
        std::fs::read(path)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))
    }
}

/// Checks that `bytes` is one JSON document.
fn check_json(bytes: &[u8], what: &str) -> Result<(), CliError> {
    serde_json::from_slice::<Value>(bytes)
        .map(|_| ())
        .map_err(|e| CliError::new(format!("the {what} is not valid JSON: {e}")))
}

// ---------------------------------------------------------------- invoke

/// The invoke payload: `--payload`, `--payload-file`, or `{}`.
fn invoke_payload(args: &InvokeArgs) -> Result<Vec<u8>, CliError> {
    let bytes = match (&args.payload, &args.payload_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => read_input(path)?,
        (None, None) => b"{}".to_vec(),
    };
    check_json(&bytes, "payload")?;
    Ok(bytes)
}

/// The invoke response as JSON: the response's headers and status under
/// their API names, and the payload (parsed when it is JSON).
fn invoke_json(
    arn: Option<&str>,
    status: i32,
    version: Option<&str>,
    function_error: Option<&str>,
    payload: Option<&[u8]>,
) -> Value {
    let mut object = Map::new();
    if let Some(arn) = arn {
        object.insert("DurableExecutionArn".into(), arn.into());
    }
    object.insert("StatusCode".into(), status.into());
    if let Some(version) = version {
        object.insert("ExecutedVersion".into(), version.into());
    }
    if let Some(error) = function_error {
        object.insert("FunctionError".into(), error.into());
    }
    if let Some(payload) = payload.filter(|p| !p.is_empty()) {
        let value = serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        object.insert("Payload".into(), value);
    }
    Value::Object(object)
}

/// A payload for a person: indented when it is JSON.
fn payload_for_person(payload: &[u8]) -> String {
    let mut text = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

async fn invoke(args: InvokeArgs) -> Result<(), CliError> {
    let payload = invoke_payload(&args)?;
    let api = Api::connect(&args.client.options()?).await;
    let output = api
        .invoke(InvokeRequest {
            function: args.function.clone(),
            qualifier: args.qualifier.clone(),
            name: args.name.clone(),
            payload,
            asynchronous: args.asynchronous,
        })
        .await?;
    let arn = output.durable_execution_arn();
    let body = output.payload().map(|p| p.as_ref());
    let function_error = output.function_error();
    if let Some(style) = args.client.json {
        emit(&json_text(
            &invoke_json(
                arn,
                output.status_code(),
                output.executed_version(),
                function_error,
                body,
            ),
            style,
        ))?;
    } else {
        match arn {
            Some(arn) => emit(&format!("Execution {arn}\n"))?,
            None => eprintln!(
                "warning: the response names no durable execution; is {} a durable function?",
                args.function
            ),
        }
        if let Some(body) = body.filter(|b| !args.asynchronous && !b.is_empty()) {
            emit(&payload_for_person(body))?;
        }
    }
    match function_error {
        Some(kind) => Err(CliError::new(format!(
            "the function failed ({kind}): {}",
            function_error_text(body.unwrap_or_default())
        ))),
        None => Ok(()),
    }
}

/// A Lambda function error payload (`{errorType, errorMessage, …}`) as
/// `type: message`, else the payload's start.
fn function_error_text(payload: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(payload).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let text = match (field("errorType"), field("errorMessage")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => String::from_utf8_lossy(payload).into_owned(),
    };
    durable_local::timeline::preview(&text, 300)
}

// ---------------------------------------------------------------- executions

async fn executions(args: ExecutionsArgs) -> Result<(), CliError> {
    let api = Api::connect(&args.client.options()?).await;
    let json = args.client.json;
    match args.command {
        ExecutionsCommand::List {
            function,
            status,
            name,
            qualifier,
            limit,
        } => {
            let query = ListQuery {
                function,
                qualifier,
                name,
                statuses: status.into_iter().map(ExecutionStatus::from).collect(),
                limit: limit.and_then(|l| usize::try_from(l).ok()),
            };
            let (executions, next) = api.list(&query).await?;
            if let Some(style) = json {
                let mut object = Map::new();
                object.insert("DurableExecutions".into(), Value::Array(executions));
                if let Some(next) = next {
                    object.insert("NextMarker".into(), next.into());
                }
                emit(&json_text(&Value::Object(object), style))
            } else if executions.is_empty() {
                emit(&format!("No executions of {}.\n", query.function))
            } else {
                emit(&view::render_list(&executions, now()))?;
                if next.is_some() {
                    eprintln!("(more executions exist; raise --limit to see them)");
                }
                Ok(())
            }
        }
        ExecutionsCommand::Get { arn } => {
            let execution = api.get_execution(&arn).await?;
            if let Some(style) = json {
                return emit(&json_text(&execution, style));
            }
            let events = api.history(&arn).await?;
            emit(&view::render_execution_with_timeline(
                &execution,
                &events,
                now(),
            ))
        }
        ExecutionsCommand::History { arn } => {
            let events = api.history(&arn).await?;
            if let Some(style) = json {
                let mut object = Map::new();
                object.insert("Events".into(), Value::Array(events));
                emit(&json_text(&Value::Object(object), style))
            } else if events.is_empty() {
                emit("No events.\n")
            } else {
                emit(&view::render_history(&events))
            }
        }
    }
}

// ---------------------------------------------------------------- callbacks

/// A callback id for a sentence: long ids are shortened.
fn short_callback(id: &str) -> String {
    durable_local::timeline::preview(id, 24)
}

/// The body of `callback succeed`: the argument or file, checked as JSON
/// unless `--raw`; `None` for no result.
fn callback_result(
    result: Option<String>,
    result_file: Option<&Path>,
    raw: bool,
) -> Result<Option<Vec<u8>>, CliError> {
    let bytes = match (result, result_file) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(path)) => read_input(path)?,
        (None, None) => return Ok(None),
    };
    if !raw {
        serde_json::from_slice::<Value>(&bytes).map_err(|e| {
            CliError::new(format!(
                "the result is not valid JSON ({e}); pass --raw to send it as it is"
            ))
        })?;
    }
    Ok(Some(bytes))
}

async fn callback(args: CallbackArgs) -> Result<(), CliError> {
    let json = args.client.json;
    let api_options = args.client.options()?;
    let (response, sentence) = match args.command {
        CallbackCommand::Succeed {
            callback_id,
            result,
            result_file,
            raw,
        } => {
            let body = callback_result(result, result_file.as_deref(), raw)?;
            let api = Api::connect(&api_options).await;
            let response = api.callback_succeed(&callback_id, body).await?;
            (
                response,
                format!("Callback succeeded: {}", short_callback(&callback_id)),
            )
        }
        CallbackCommand::Fail { callback_id, error } => {
            let api = Api::connect(&api_options).await;
            let response = api
                .callback_fail(&callback_id, error.to_error_object())
                .await?;
            (
                response,
                format!("Callback failed: {}", short_callback(&callback_id)),
            )
        }
        CallbackCommand::Heartbeat { callback_id } => {
            let api = Api::connect(&api_options).await;
            let response = api.callback_heartbeat(&callback_id).await?;
            (
                response,
                format!("Callback heartbeat sent: {}", short_callback(&callback_id)),
            )
        }
    };
    match json {
        Some(style) => emit(&json_text(&response, style)),
        None => emit(&format!("{sentence}\n")),
    }
}

// ---------------------------------------------------------------- stop

async fn stop(args: StopArgs) -> Result<(), CliError> {
    let api = Api::connect(&args.client.options()?).await;
    let error = (!args.error.is_empty()).then(|| args.error.to_error_object());
    let response = api.stop(&args.arn, error).await?;
    if let Some(style) = args.client.json {
        return emit(&json_text(&response, style));
    }
    let when = view::timestamp(response.get("StopTimestamp"))
        .map(|t| format!(" at {}", view::format_utc(t)))
        .unwrap_or_default();
    emit(&format!("Stopped {}{when}.\n", args.arn))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use clap::{Parser, Subcommand as _};
    use serde_json::json;

    use super::*;

    /// The `durable` command's shape, as main.rs declares it, with the
    /// client subcommands flattened in.
    #[derive(Debug, Parser)]
    #[command(name = "durable")]
    struct Cli {
        #[command(subcommand)]
        command: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("durable").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    fn ok(args: &[&str]) -> ClientCommand {
        parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_command_definition_is_valid() {
        let command = ClientCommand::augment_subcommands(clap::Command::new("durable"));
        command.debug_assert();
    }

    #[test]
    fn invoke_arguments() {
        let ClientCommand::Invoke(args) = ok(&[
            "invoke",
            "orders",
            "--name",
            "order-7",
            "--payload",
            r#"{"id": 7}"#,
            "--async",
            "--json=compact",
            "--endpoint-url",
            "aws",
        ]) else {
            panic!("not invoke")
        };
        assert_eq!(args.function, "orders");
        assert_eq!(args.name.as_deref(), Some("order-7"));
        assert!(args.asynchronous);
        assert_eq!(args.client.json, Some(JsonStyle::Compact));
        assert_eq!(args.client.options().unwrap().target, Target::Aws);
        assert_eq!(invoke_payload(&args).unwrap(), br#"{"id": 7}"#.to_vec());

        let ClientCommand::Invoke(args) = ok(&["invoke", "orders"]) else {
            panic!("not invoke")
        };
        assert!(!args.asynchronous);
        assert_eq!(args.client.json, None);
        assert_eq!(invoke_payload(&args).unwrap(), b"{}".to_vec());

        assert!(parse(&["invoke", "f", "--payload", "{}", "--payload-file", "x"]).is_err());
        let ClientCommand::Invoke(args) = ok(&["invoke", "f", "--payload", "{oops"]) else {
            panic!("not invoke")
        };
        assert!(
            invoke_payload(&args)
                .unwrap_err()
                .to_string()
                .starts_with("the payload is not valid JSON")
        );
    }

    #[test]
    fn payload_file_and_stdin_marker() {
        let path =
            std::env::temp_dir().join(format!("durable-cli-test-{}.json", std::process::id()));
        std::fs::write(&path, b"[1, 2]").unwrap();
        let ClientCommand::Invoke(args) =
            ok(&["invoke", "f", "--payload-file", path.to_str().unwrap()])
        else {
            panic!("not invoke")
        };
        assert_eq!(invoke_payload(&args).unwrap(), b"[1, 2]".to_vec());
        std::fs::remove_file(&path).unwrap();
        assert!(
            invoke_payload(&args)
                .unwrap_err()
                .to_string()
                .starts_with("cannot read ")
        );
    }

    #[test]
    fn json_flag_does_not_swallow_the_next_argument() {
        let ClientCommand::Executions(args) = ok(&["executions", "get", "--json", "arn:1"]) else {
            panic!("not executions")
        };
        assert_eq!(args.client.json, Some(JsonStyle::Pretty));
        assert!(matches!(args.command, ExecutionsCommand::Get { ref arn } if arn == "arn:1"));
        // Global: also accepted before the nested subcommand.
        let ClientCommand::Executions(args) = ok(&["executions", "--json", "history", "a"]) else {
            panic!("not executions")
        };
        assert_eq!(args.client.json, Some(JsonStyle::Pretty));
        assert!(parse(&["executions", "get", "a", "--json=yaml"]).is_err());
    }

    #[test]
    fn list_arguments() {
        let ClientCommand::Executions(args) = ok(&[
            "executions",
            "list",
            "orders",
            "--status",
            "running",
            "--status",
            "FAILED,timed_out",
            "--name",
            "n",
            "--limit",
            "5",
        ]) else {
            panic!("not executions")
        };
        let ExecutionsCommand::List {
            function,
            status,
            name,
            limit,
            ..
        } = args.command
        else {
            panic!("not list")
        };
        assert_eq!(function, "orders");
        assert_eq!(
            status,
            vec![StatusArg::Running, StatusArg::Failed, StatusArg::TimedOut]
        );
        assert_eq!(
            ExecutionStatus::from(StatusArg::TimedOut).as_str(),
            "TIMED_OUT"
        );
        assert_eq!(name.as_deref(), Some("n"));
        assert_eq!(limit, Some(5));
        assert!(parse(&["executions", "list", "f", "--status", "DONE"]).is_err());
        assert!(parse(&["executions", "list", "f", "--limit", "0"]).is_err());
        assert!(parse(&["executions"]).is_err());
        assert!(parse(&["executions", "list"]).is_err());
    }

    #[test]
    fn the_endpoint_falls_back_to_aws_endpoint_url_lambda() {
        let lambda = Some("http://127.0.0.1:9100");
        assert_eq!(endpoint(None, lambda), "http://127.0.0.1:9100");
        assert_eq!(endpoint(Some(""), lambda), "http://127.0.0.1:9100");
        assert_eq!(endpoint(Some("aws"), lambda), "aws");
        assert_eq!(endpoint(None, Some("")), api::DEFAULT_ENDPOINT);
        assert_eq!(endpoint(None, None), api::DEFAULT_ENDPOINT);
    }

    #[test]
    fn endpoint_default_and_override() {
        let ClientCommand::Stop(args) = ok(&["stop", "arn:1"]) else {
            panic!("not stop")
        };
        // DURABLE_ENDPOINT may be set where the tests run; only an
        // explicit flag is certain.
        if std::env::var_os("DURABLE_ENDPOINT").is_none()
            && std::env::var_os("AWS_ENDPOINT_URL_LAMBDA").is_none()
        {
            assert_eq!(
                args.client.options().unwrap().target,
                Target::Url(api::DEFAULT_ENDPOINT.into())
            );
        }
        assert!(args.error.is_empty());
        let ClientCommand::Stop(args) = ok(&[
            "stop",
            "arn:1",
            "--endpoint-url",
            "http://127.0.0.1:5055",
            "--error-type",
            "Cancelled",
            "--message",
            "-- by hand",
        ]) else {
            panic!("not stop")
        };
        assert_eq!(
            args.client.options().unwrap().target,
            Target::Url("http://127.0.0.1:5055".into())
        );
        let error = args.error.to_error_object();
        assert_eq!(error.error_type(), Some("Cancelled"));
        assert_eq!(error.error_message(), Some("-- by hand"));
        assert_eq!(error.error_data(), None);
        let ClientCommand::Stop(args) = ok(&["stop", "a", "--endpoint-url", "localhost:1"]) else {
            panic!("not stop")
        };
        assert!(args.client.options().is_err());
    }

    #[test]
    fn callback_arguments() {
        let ClientCommand::Callback(args) =
            ok(&["callback", "succeed", "-abc_123", r#"{"approved": true}"#])
        else {
            panic!("not callback")
        };
        let CallbackCommand::Succeed {
            callback_id,
            result,
            result_file,
            raw,
        } = args.command
        else {
            panic!("not succeed")
        };
        assert_eq!(callback_id, "-abc_123");
        assert_eq!(
            callback_result(result, result_file.as_deref(), raw).unwrap(),
            Some(br#"{"approved": true}"#.to_vec())
        );

        let ClientCommand::Callback(args) = ok(&["callback", "succeed", "id", "-5", "--json"])
        else {
            panic!("not callback")
        };
        assert_eq!(args.client.json, Some(JsonStyle::Pretty));
        let CallbackCommand::Succeed { result, .. } = args.command else {
            panic!("not succeed")
        };
        assert_eq!(result.as_deref(), Some("-5"));

        assert_eq!(callback_result(None, None, false).unwrap(), None);
        assert!(
            callback_result(Some("approved".into()), None, false)
                .unwrap_err()
                .to_string()
                .contains("pass --raw")
        );
        assert_eq!(
            callback_result(Some("approved".into()), None, true).unwrap(),
            Some(b"approved".to_vec())
        );
        assert!(parse(&["callback", "succeed", "id", "1", "--result-file", "f"]).is_err());

        let ClientCommand::Callback(args) = ok(&[
            "callback",
            "fail",
            "id",
            "--error-type",
            "Rejected",
            "--message",
            "no budget",
            "--data",
            r#"{"limit":5}"#,
        ]) else {
            panic!("not callback")
        };
        let CallbackCommand::Fail { callback_id, error } = args.command else {
            panic!("not fail")
        };
        assert_eq!(callback_id, "id");
        let error = error.to_error_object();
        assert_eq!(error.error_type(), Some("Rejected"));
        assert_eq!(error.error_message(), Some("no budget"));
        assert_eq!(error.error_data(), Some(r#"{"limit":5}"#));

        assert!(matches!(
            ok(&["callback", "heartbeat", "id"]),
            ClientCommand::Callback(CallbackArgs {
                command: CallbackCommand::Heartbeat { .. },
                ..
            })
        ));
        assert!(parse(&["callback", "succeed"]).is_err());
        assert!(parse(&["callback"]).is_err());
    }

    #[test]
    fn invoke_json_shape() {
        assert_eq!(
            invoke_json(
                Some("arn:1"),
                200,
                Some("$LATEST"),
                None,
                Some(br#"{"ok":true}"#)
            ),
            json!({"DurableExecutionArn":"arn:1","StatusCode":200,"ExecutedVersion":"$LATEST","Payload":{"ok":true}})
        );
        assert_eq!(
            invoke_json(None, 200, None, Some("Unhandled"), Some(b"not json")),
            json!({"StatusCode":200,"FunctionError":"Unhandled","Payload":"not json"})
        );
        assert_eq!(
            invoke_json(Some("a"), 202, None, None, Some(b"")),
            json!({"DurableExecutionArn":"a","StatusCode":202})
        );
        assert_eq!(payload_for_person(b"{\"a\":1}"), "{\n  \"a\": 1\n}\n");
        assert_eq!(payload_for_person(b"plain"), "plain\n");
    }

    #[test]
    fn function_errors_as_text() {
        assert_eq!(
            function_error_text(
                br#"{"errorType":"Runtime.ExitError","errorMessage":"exit 1","trace":[]}"#
            ),
            "Runtime.ExitError: exit 1"
        );
        assert_eq!(function_error_text(br#"{"errorMessage":"boom"}"#), "boom");
        assert_eq!(function_error_text(b"plain\ntext"), "plain text");
        assert_eq!(function_error_text(b""), "");
    }

    #[test]
    fn json_styles() {
        let value = json!({"a":[1]});
        assert_eq!(json_text(&value, JsonStyle::Compact), "{\"a\":[1]}\n");
        assert_eq!(
            json_text(&value, JsonStyle::Pretty),
            "{\n  \"a\": [\n    1\n  ]\n}\n"
        );
    }
}
