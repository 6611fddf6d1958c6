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

/// The published conformance suite, used when no local copy is found: its
/// PyPI name, the pinned version and the sha256 of that version's wheel
/// (`pip download` checks it).
pub const CONFORMANCE_PACKAGE: (&str, &str, &str) = (
    "aws-durable-execution-conformance-tests",
    "1.0.0",
    "59b46cda93c0cbfed6a80f342ab0b93542ad8841196200a15fc716ebaa619c30",
);

/// Where the requirement files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConformanceSource {
    /// `$DURABLE_CONFORMANCE_DIR`.
    Env(PathBuf),
    /// `shared/conformance` beside the workspace.
    Shared(PathBuf),
    /// The published package ([`CONFORMANCE_PACKAGE`]), unpacked under
    /// `target/conformance/`.
    Package(PathBuf),
}

impl ConformanceSource {
    /// The directory holding one folder per suite.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            Self::Env(dir) | Self::Shared(dir) | Self::Package(dir) => dir,
        }
    }

    /// Where the files came from, for the report's first line.
    pub fn describe(&self) -> String {
        match self {
            Self::Env(dir) => format!("{} ($DURABLE_CONFORMANCE_DIR)", dir.display()),
            Self::Shared(dir) => format!("{} (shared/ beside the workspace)", dir.display()),
            Self::Package(dir) => format!(
                "{} ({} {} from PyPI)",
                dir.display(),
                CONFORMANCE_PACKAGE.0,
                CONFORMANCE_PACKAGE.1
            ),
        }
    }
}

/// Where the requirement files are, in this order: `$DURABLE_CONFORMANCE_DIR`;
/// `shared/conformance` beside the workspace; else the published package
/// ([`CONFORMANCE_PACKAGE`], pinned by version and hash), downloaded once
/// with `python3 -m pip download` and unpacked under `target/conformance/`
/// (a wheel is a zip archive). `Err` says what is missing and how to fix it.
pub fn conformance_source() -> Result<ConformanceSource, String> {
    if let Some(dir) = std::env::var_os("DURABLE_CONFORMANCE_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(ConformanceSource::Env(dir))
        } else {
            Err(format!(
                "DURABLE_CONFORMANCE_DIR={} is not a directory",
                dir.display()
            ))
        };
    }
    let shared = workspace_root().join("../shared/conformance");
    if shared.is_dir() {
        return Ok(ConformanceSource::Shared(shared));
    }
    published_suite().map(ConformanceSource::Package)
}

/// The directory of [`conformance_source`].
pub fn conformance_dir() -> Result<PathBuf, String> {
    conformance_source().map(|source| source.dir().to_path_buf())
}

/// The published suite under `target/conformance/`, downloaded and unpacked
/// the first time. Concurrent callers each unpack into a directory of their
/// own and rename it into place; the first rename wins.
fn published_suite() -> Result<PathBuf, String> {
    let (name, version, sha256) = CONFORMANCE_PACKAGE;
    let cache = workspace_root().join("target/conformance");
    let dir = cache.join(format!("{name}-{version}"));
    let requirements = dir.join("test_requirements");
    if requirements.is_dir() {
        return Ok(requirements);
    }
    let fix = format!(
        "no shared/conformance beside the workspace, and the published suite could not be \
         fetched; install python3 with pip (it downloads {name}=={version} from PyPI into \
         target/conformance/), or point DURABLE_CONFORMANCE_DIR at a copy of the requirement files"
    );
    let work = cache.join(format!(
        "tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let pins = work.join("requirements.txt");
        std::fs::write(&pins, format!("{name}=={version} --hash=sha256:{sha256}\n"))
            .map_err(|e| format!("{}: {e}", pins.display()))?;
        run_python(&[
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            // The package declares Python >= 3.14 for its runner; only its
            // YAML files are read here.
            "--ignore-requires-python",
            "--require-hashes",
            "-r",
            &pins.to_string_lossy(),
            "-d",
            &work.to_string_lossy(),
        ])?;
        let wheel = std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or("pip downloaded no wheel")?;
        let unpacked = work.join("unpacked");
        run_python(&[
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
            &wheel.to_string_lossy(),
            &unpacked.to_string_lossy(),
        ])?;
        let package = unpacked.join(name.replace('-', "_"));
        let staged = work.join("staged");
        std::fs::create_dir_all(&staged).map_err(|e| e.to_string())?;
        std::fs::rename(
            package.join("test_requirements"),
            staged.join("test_requirements"),
        )
        .map_err(|e| format!("the wheel has no test_requirements folder: {e}"))?;
        for notice in ["LICENSE", "NOTICE"] {
            let _ = std::fs::rename(package.join(notice), staged.join(notice));
        }
        // Another process may have won the race; either way the suite is there.
        let _ = std::fs::rename(&staged, &dir);
        Ok::<(), String>(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(()) if requirements.is_dir() => Ok(requirements),
        Ok(()) => Err(fix),
        Err(why) => Err(format!("{fix} ({why})")),
    }
}

fn run_python(args: &[&str]) -> Result<(), String> {
    let output = std::process::Command::new("python3")
        .args(args)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "python3 {} failed: {}",
            args.first().copied().unwrap_or_default(),
            stderr.lines().last().unwrap_or_default()
        ))
    }
}

/// Whether this run is CI's (`CI` set and not `false`/`0`): CI never skips.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback a fresh clone uses: the pinned package downloads (its
    /// hash checked), unpacks under target/, and holds every suite the
    /// runner covers. Without python3 and pip it cannot run, which only CI
    /// treats as a failure (the conformance harness prints the skip).
    #[test]
    fn the_published_suite_is_fetched_and_unpacked() {
        let dir = match published_suite() {
            Ok(dir) => dir,
            Err(why) if !in_ci() => {
                eprintln!("SKIP the published suite: {why}");
                return;
            }
            Err(why) => panic!("{why}"),
        };
        assert!(dir.starts_with(workspace_root().join("target/conformance")));
        for suite in SUITES {
            let files = std::fs::read_dir(dir.join(suite))
                .unwrap_or_else(|e| panic!("{suite}: {e}"))
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
                .count();
            assert!(files >= 5, "{suite}: {files} files");
        }
        // A second call finds the unpacked copy.
        assert_eq!(published_suite(), Ok(dir));
    }
}
