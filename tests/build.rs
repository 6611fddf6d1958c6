//! Finds which peer tools this machine has, so that a test that needs a
//! missing one is reported as `ignored, needs …` in `cargo test`'s default
//! output (with what to install), instead of passing without running.
//!
//! Each `peer_*` cfg is set when its tools are there, and always when `CI`
//! is set: CI never skips, so there the test runs and fails with the
//! install command if a tool is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CFGS: &[&str] = &[
    "peer_interop",
    "peer_aws_cli",
    "peer_python_sdk",
    "peer_cfn_lint",
];

fn main() {
    for cfg in CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PEER_VENV");
    println!("cargo::rerun-if-env-changed=DURABLE_PEERS_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let venv = match std::env::var_os("PEER_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest.join("../target/peervenv"),
    };
    let peers = match std::env::var_os("DURABLE_PEERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest.join("../../shared/peers"),
    };
    // Installing into the venv, or a shared/ appearing, runs this again.
    println!("cargo::rerun-if-changed={}", venv.join("bin").display());
    println!("cargo::rerun-if-changed={}", peers.display());
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let bin = |name: &str| venv.join("bin").join(name).is_file();
    let imports = |module: &str| python_imports(&venv.join("bin/python"), module);
    let found = [
        (
            "peer_interop",
            bin("dex-local-runner") && bin("cargo-lambda"),
        ),
        ("peer_aws_cli", bin("aws")),
        (
            "peer_python_sdk",
            peers.join("invoke_shim.py").is_file() && imports("aws_durable_execution_sdk_python"),
        ),
        ("peer_cfn_lint", bin("cfn-lint") && imports("samtranslator")),
    ];
    for (cfg, present) in found {
        if present || ci {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

fn python_imports(python: &Path, module: &str) -> bool {
    python.is_file()
        && Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
