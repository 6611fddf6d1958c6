//! `durable`: the local durable execution service and its clients.
//!
//! `durable dev` serves Lambda's durable-execution REST API on loopback
//! (the same paths aws-sdk-lambda and the aws CLI use with
//! `--endpoint-url`) and runs functions; the other subcommands are thin
//! clients of that API, usable against any implementation of it.
//!
//! Install it with `cargo install --path durable-cli` from a clone (or
//! `cargo install durable-cli`); the server itself is the `durable-dev`
//! library, the engine under it `durable-local`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client;
mod dev;

/// The local durable execution service for AWS Lambda durable functions,
/// and clients of its API.
#[derive(Debug, Parser)]
#[command(
    name = "durable",
    version,
    about = "The local durable execution service for AWS Lambda durable functions, and clients of its API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the durable execution API on loopback and run functions.
    Dev(dev::DevArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server reports what it does; a client prints its answer and
    // nothing else (RUST_LOG overrides both).
    let default = match cli.command {
        Command::Dev(_) => "durable_dev=info,durable_local=info,warn",
        Command::Client(_) => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Client(command) => client::run(command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
