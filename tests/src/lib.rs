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
