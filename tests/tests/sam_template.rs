//! `examples/template.yaml` checked by cfn-lint, which expands the SAM
//! transform with AWS's own `aws-sam-translator` and validates the result
//! against CloudFormation's resource schemas, `AWS::Lambda::Function`'s
//! `DurableConfig` included. No AWS account is involved.
//!
//! Needs `cfn-lint` and `aws-sam-translator` in the peer venv (`.ci/run`
//! installs them): `target/peervenv/bin/pip install cfn-lint aws-sam-translator`.
//! Without them the test prints `skipped: …`, and fails when `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use durable_tests::{peer_venv, workspace_root};

fn cfn_lint() -> Option<PathBuf> {
    let venv = peer_venv();
    let lint = venv.join("bin/cfn-lint");
    let translator = venv.join("bin/python");
    let has_translator = Command::new(&translator)
        .args(["-c", "import samtranslator"])
        .output()
        .is_ok_and(|o| o.status.success());
    (lint.is_file() && has_translator).then_some(lint)
}

/// cfn-lint's findings for `template` (empty when it is clean).
fn lint(cfn_lint: &Path, template: &Path) -> (bool, String) {
    let output = Command::new(cfn_lint)
        .arg(template)
        // The SAM transform resolves pseudo parameters; any region will do.
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cfn_lint.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
#[cfg_attr(
    not(peer_cfn_lint),
    ignore = "needs cfn-lint and aws-sam-translator: python3 -m venv target/peervenv && target/peervenv/bin/pip install cfn-lint aws-sam-translator"
)]
fn the_sam_template_is_valid_and_its_durable_config_is_checked() {
    let Some(cfn_lint) = cfn_lint() else {
        let message = "cfn-lint or aws-sam-translator is not installed in the peer venv \
                       (target/peervenv/bin/pip install cfn-lint aws-sam-translator)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        println!("skipped: {message}");
        return;
    };
    let template = workspace_root().join("examples/template.yaml");
    let (clean, findings) = lint(&cfn_lint, &template);
    assert!(
        clean,
        "cfn-lint finds problems in examples/template.yaml:\n{findings}"
    );

    // The check has teeth: a misspelt DurableConfig key is reported, so the
    // pass above means the schema was applied to DurableConfig.
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(
        text.contains("ExecutionTimeout: "),
        "the template sets DurableConfig.ExecutionTimeout"
    );
    let broken = std::env::temp_dir().join(format!("durable-sam-{}.yaml", std::process::id()));
    std::fs::write(
        &broken,
        text.replace("ExecutionTimeout: ", "ExecutionTimeoutSecs: "),
    )
    .unwrap();
    let (clean, findings) = lint(&cfn_lint, &broken);
    let _ = std::fs::remove_file(&broken);
    assert!(!clean, "a misspelt DurableConfig key passed cfn-lint");
    assert!(findings.contains("ExecutionTimeoutSecs"), "{findings}");
}
