//! The crate graph a user pays for: a test crate that depends on
//! `durable-local` alone (its default features) must not compile an HTTP
//! server, an AWS SDK, a CLI parser, SQLite or the Lambda adapter. Checked
//! on the resolved graph, with `cargo tree`, so a dependency added by any
//! route (a feature turned on by default, a new crate) is caught.

use std::process::Command;

/// Crates that must not be in durable-local's default normal dependencies.
const HEAVY: &[&str] = &[
    "axum",
    "hyper",
    "hyper-util",
    "clap",
    "rusqlite",
    "durable-lambda",
    "durable-dev",
    "lambda_runtime",
];

/// The normal (not dev, not build) dependencies of `package` with `features`.
fn normal_dependencies(package: &str, features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(durable_tests::workspace_root())
        .args(["tree", "--locked", "-p", package, "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn offenders(dependencies: &[String]) -> Vec<&String> {
    dependencies
        .iter()
        .filter(|name| HEAVY.contains(&name.as_str()) || name.starts_with("aws-"))
        .collect()
}

#[test]
fn durable_local_by_default_is_the_engine_alone() {
    let dependencies = normal_dependencies("durable-local", &[]);
    assert!(
        dependencies.iter().any(|d| d == "durable-core"),
        "cargo tree listed nothing useful: {dependencies:?}"
    );
    let found = offenders(&dependencies);
    assert!(
        found.is_empty(),
        "durable-local's default build pulls {found:?}; keep HTTP, AWS SDK, CLI and SQLite \
         crates behind features or in durable-dev / durable-cli"
    );
}

#[test]
fn durable_local_with_sqlite_adds_sqlite_only() {
    let dependencies = normal_dependencies("durable-local", &["sqlite"]);
    assert!(
        dependencies.iter().any(|d| d == "rusqlite"),
        "{dependencies:?}"
    );
    let found: Vec<&String> = offenders(&dependencies)
        .into_iter()
        .filter(|name| *name != "rusqlite")
        .collect();
    assert!(
        found.is_empty(),
        "durable-local with sqlite pulls {found:?}"
    );
}
