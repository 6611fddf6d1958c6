//! The expansion compiles, with no import beyond the facade, whichever crate
//! the user depends on: `durable-local` alone, `durable-core` with
//! `durable-macros`, or `durable-local` renamed. (`durable-lambda` alone is
//! the examples crate: it depends on `durable-lambda` and `durable-local`,
//! not on `durable-core` or `durable-macros`, and its workflows import
//! `durable_lambda::prelude::*` only. It is not repeated here because it
//! would build the AWS SDK a second time.)
//!
//! Each shape is a real crate whose manifest lists only that dependency (the
//! macros read it to choose their paths), so this test writes one small
//! workspace of three crates, with the sources in `tests/hygiene/`, under
//! `$CARGO_TARGET_TMPDIR`, builds it offline with this workspace's lock file,
//! and runs each binary (`#![deny(warnings)]` in each: the expansion must not
//! warn either). The first run compiles the dependencies once into that
//! directory; later runs rebuild only what changed.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `(package, binary source, dependencies)`.
fn shapes(workspace: &Path) -> Vec<(&'static str, &'static str, String)> {
    let path = |krate: &str| workspace.join(krate).display().to_string();
    vec![
        (
            "local-only",
            "local_only.rs",
            format!(
                "durable-local = {{ path = {:?} }}\n\
                 tokio = {{ version = \"1\", features = [\"rt\"] }}\n",
                path("durable-local")
            ),
        ),
        (
            "core-only",
            "core_only.rs",
            format!(
                "durable-core = {{ path = {:?} }}\ndurable-lambda-macros = {{ path = {:?} }}\n",
                path("durable-core"),
                path("durable-macros")
            ),
        ),
        (
            "renamed",
            "renamed.rs",
            format!(
                "engine = {{ package = \"durable-local\", path = {:?} }}\n\
                 tokio = {{ version = \"1\", features = [\"rt\"] }}\n",
                path("durable-local")
            ),
        ),
    ]
}

fn write(path: &Path, text: &str) {
    // Rewriting an unchanged file would make cargo rebuild the crate.
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).expect("write");
    }
}

#[test]
fn every_dependency_shape_compiles_and_runs_without_extra_imports() {
    let macros = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = macros.parent().expect("workspace");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("durable-macros-hygiene");
    let project = root.join("project");
    let shapes = shapes(workspace);

    std::fs::create_dir_all(&project).expect("project dir");
    let members: Vec<String> = shapes
        .iter()
        .map(|(name, _, _)| format!("{name:?}"))
        .collect();
    write(
        &project.join("Cargo.toml"),
        &format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    );
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).expect("Cargo.lock");
    if !project.join("Cargo.lock").exists() {
        write(&project.join("Cargo.lock"), &lock);
    }
    for (name, source, dependencies) in &shapes {
        let dir = project.join(name);
        std::fs::create_dir_all(&dir).expect("crate dir");
        let source = macros.join("tests/hygiene").join(source);
        write(
            &dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"hygiene-{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
                 publish = false\n\n[[bin]]\nname = \"hygiene-{name}\"\npath = {:?}\n\n\
                 [dependencies]\n{dependencies}",
                source.display().to_string()
            ),
        );
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = root.join("target");
    let output = Command::new(&cargo)
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the dependency shapes failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for (name, _, _) in &shapes {
        let binary = target.join("debug").join(format!("hygiene-{name}"));
        let output = Command::new(&binary).output().expect("run the binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {stdout}");
        let expected = match *name {
            "core-only" => "core-only: step Some(\"validate_order\")".to_owned(),
            other => format!("{other}: SUCCEEDED \"o-1\""),
        };
        assert_eq!(stdout.trim(), expected, "{name}");
    }
}
