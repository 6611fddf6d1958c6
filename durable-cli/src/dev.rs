//! `durable dev`: the local durable execution service on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use durable_dev::{DEFAULT_PORT, DevConfig, DevServer, EventSink, FunctionTarget};
use durable_local::{Clock, ExecutionStore, LocalService, MemoryStore, ServiceConfig, SqliteStore};

/// `durable dev` options.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  durable dev --function orders=target/debug/lambda_callback
  durable dev --function orders=http://127.0.0.1:9000      # cargo lambda watch -A 127.0.0.1 -P 9000
  durable invoke orders --name order-1 --payload '{\"order_id\":\"o-1\"}' --async

Functions reach the API through AWS_ENDPOINT_URL_LAMBDA (set for processes the server starts;
set it yourself for an Invoke endpoint such as cargo lambda watch).")]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), env = "DURABLE_DEV_HOST")]
    host: IpAddr,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, short, default_value_t = DEFAULT_PORT, env = "DURABLE_DEV_PORT")]
    port: u16,
    /// Allow a non-loopback --host. The API has no authentication.
    #[arg(long)]
    allow_non_loopback: bool,
    /// The SQLite file executions are kept in (created if missing).
    #[arg(long, default_value = ".durable/dev.sqlite", env = "DURABLE_DEV_DB")]
    db: PathBuf,
    /// Keep executions in memory only (nothing survives a restart).
    #[arg(long, conflicts_with = "db")]
    memory: bool,
    /// A function to serve, NAME=TARGET: TARGET is a Lambda function program
    /// (hosted through the Runtime API; words after the path are its
    /// arguments) or the http:// URL of a Lambda Invoke endpoint. Repeatable.
    #[arg(long = "function", short = 'f', value_name = "NAME=TARGET")]
    functions: Vec<String>,
    /// Where status-change events go: `stdout` (JSON lines), an http:// URL
    /// (a webhook, POSTed JSON) or a file path (JSON lines). Repeatable.
    #[arg(long = "events", value_name = "SINK")]
    events: Vec<String>,
    /// How long one invocation may run, in seconds.
    #[arg(long, default_value_t = durable_core::limits::MAX_INVOCATION_DURATION.as_secs())]
    function_timeout: u64,
    /// The largest request body read, in bytes.
    #[arg(long, default_value_t = durable_dev::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// The region in the ARNs the server mints.
    #[arg(long, default_value = "us-east-1", env = "AWS_REGION")]
    region: String,
    /// The account id in the ARNs the server mints.
    #[arg(long, default_value = "000000000000")]
    account: String,
}

fn parse_function(spec: &str) -> Result<(String, FunctionTarget), String> {
    let (name, target) = spec
        .split_once('=')
        .ok_or_else(|| format!("--function {spec:?}: expected NAME=TARGET"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("--function {spec:?}: the function name is empty"));
    }
    let target = target.trim();
    if target.starts_with("http://") {
        return Ok((name.to_owned(), FunctionTarget::Endpoint(target.to_owned())));
    }
    let mut words = target.split_whitespace();
    let program = words
        .next()
        .ok_or_else(|| format!("--function {spec:?}: the target is empty"))?;
    Ok((
        name.to_owned(),
        FunctionTarget::Process {
            program: PathBuf::from(program),
            args: words.map(str::to_owned).collect(),
            env: Vec::new(),
        },
    ))
}

fn parse_sink(spec: &str) -> EventSink {
    if spec == "stdout" || spec == "-" {
        EventSink::Stdout
    } else if spec.starts_with("http://") {
        EventSink::Webhook(spec.to_owned())
    } else {
        EventSink::File(PathBuf::from(spec))
    }
}

pub async fn run(args: DevArgs) -> Result<(), Box<dyn std::error::Error>> {
    let functions = args
        .functions
        .iter()
        .map(|spec| parse_function(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let store: Box<dyn ExecutionStore> = if args.memory {
        Box::new(MemoryStore::new())
    } else {
        if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Box::new(SqliteStore::open(&args.db)?)
    };
    let service_config = ServiceConfig {
        region: args.region.clone(),
        account_id: args.account.clone(),
        unknown_function_hint: "serve it with durable dev --function NAME=PROGRAM|URL".to_owned(),
        ..ServiceConfig::default()
    };
    let service = LocalService::with_store(store, Clock::real(), service_config);
    let config = DevConfig {
        bind: SocketAddr::new(args.host, args.port),
        allow_non_loopback: args.allow_non_loopback,
        max_body_bytes: args.max_body_bytes,
        function_timeout: Duration::from_secs(args.function_timeout.max(1)),
        events: args.events.iter().map(|s| parse_sink(s)).collect(),
        ..DevConfig::default()
    };
    let server = DevServer::start(service, config).await?;
    for (name, target) in functions {
        server.add_function(name, target).await?;
    }
    let store = if args.memory {
        "memory".to_owned()
    } else {
        args.db.display().to_string()
    };
    eprintln!(
        "durable dev: listening on {} (store: {store})\n  use it with: --endpoint-url {0}  or  AWS_ENDPOINT_URL_LAMBDA={0}",
        server.endpoint()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot wait for SIGTERM: {e}"))?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
        }
        _ = terminate.recv() => {}
    }
    eprintln!("durable dev: stopping");
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_specs_name_a_program_with_arguments_or_an_endpoint() {
        let (name, target) = parse_function("orders=target/debug/orders --verbose").unwrap();
        assert_eq!(name, "orders");
        assert!(matches!(
            target,
            FunctionTarget::Process { ref program, ref args, .. }
                if program == &PathBuf::from("target/debug/orders") && args == &["--verbose"]
        ));
        let (_, target) = parse_function("orders=http://127.0.0.1:9000").unwrap();
        assert!(
            matches!(target, FunctionTarget::Endpoint(ref url) if url == "http://127.0.0.1:9000")
        );
        assert!(parse_function("orders").is_err());
        assert!(parse_function("=x").is_err());
        assert!(parse_function("orders=").is_err());
    }

    #[test]
    fn event_sinks() {
        assert_eq!(parse_sink("stdout"), EventSink::Stdout);
        assert_eq!(
            parse_sink("http://127.0.0.1:1/hook"),
            EventSink::Webhook("http://127.0.0.1:1/hook".into())
        );
        assert_eq!(
            parse_sink("events.jsonl"),
            EventSink::File("events.jsonl".into())
        );
    }
}
