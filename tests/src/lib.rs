//! The cross-crate conformance runner: loads the language-neutral
//! requirement files of `shared/conformance`, runs their handlers on
//! `durable_local::LocalRunner` and matches what happened against them.

pub mod callbacks;
pub mod check;
pub mod handlers;
pub mod logs;
pub mod matcher;
pub mod report;
pub mod runner;
pub mod spec;

use std::path::PathBuf;

/// The suites this runner covers, in run order.
pub const SUITES: &[&str] = &[
    "step",
    "wait",
    "child",
    "map",
    "parallel",
    "callback",
    "wait_for_callback",
    "wait_for_condition",
    "invoke",
];

/// The workspace's root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
}

/// The Python venv of the peer tools (dex-local-runner, cargo-lambda, the
/// aws CLI, the Python SDK, cfn-lint): `$PEER_VENV`, else `target/peervenv`,
/// where `.ci/run` installs them.
pub fn peer_venv() -> PathBuf {
    match std::env::var_os("PEER_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target/peervenv"),
    }
}

/// Where the requirement files are: `$DURABLE_CONFORMANCE_DIR`, else
/// `shared/conformance` beside the workspace.
pub fn conformance_dir() -> PathBuf {
    match std::env::var_os("DURABLE_CONFORMANCE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance"
        )),
    }
}
