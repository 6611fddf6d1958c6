//! The runner's output lines and tally.

use crate::runner::Verdict;

/// Files known to fail, with the reason: `(id, reason)`, the id either
/// `suite/id` or the bare id. Each names an engine or SDK gap someone is to
/// fix; remove the entry when the file passes (an unexpected pass fails the
/// run so that the list stays true).
pub const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// How many mismatch lines a FAIL line shows when not verbose.
pub const SHOWN_MISMATCHES: usize = 3;

/// How one file counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Failed, as listed in the known failures.
    ExpectedFail,
    /// Passed although listed as a known failure (counts as failed).
    UnexpectedPass,
}

/// Running totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Files that passed.
    pub passed: usize,
    /// Files that failed (unexpected passes included).
    pub failed: usize,
    /// Known failures that failed as expected.
    pub known: usize,
}

impl Tally {
    /// Counts one file.
    pub fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Pass => self.passed += 1,
            Kind::Fail | Kind::UnexpectedPass => self.failed += 1,
            Kind::ExpectedFail => self.known += 1,
        }
    }

    /// The closing lines: `K known failures` and `N passed, M failed`.
    pub fn summary(&self) -> [String; 2] {
        [
            format!("{} known failures", self.known),
            format!("{} passed, {} failed", self.passed, self.failed),
        ]
    }
}

/// The known-failure reason for a file, if it is listed.
pub fn known_reason<'a>(
    known: &'a [(&'a str, &'a str)],
    full_id: &str,
    id: &str,
) -> Option<&'a str> {
    known
        .iter()
        .find(|(k, _)| *k == full_id || *k == id)
        .map(|(_, reason)| *reason)
}

/// How a file counts and the lines to print for it (the first is the
/// `PASS`/`FAIL`/... line; verbose adds the detail, indented).
pub fn report(
    full_id: &str,
    verdict: &Verdict,
    known: Option<&str>,
    optional: bool,
    verbose: bool,
) -> (Kind, Vec<String>) {
    let indented = |detail: &str| {
        detail
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
    };
    match (verdict, known) {
        (Verdict::Pass { detail }, None) => {
            let mut lines = vec![format!("PASS {full_id}")];
            if verbose {
                lines.extend(indented(detail));
            }
            (Kind::Pass, lines)
        }
        (Verdict::Pass { .. }, Some(reason)) => (
            Kind::UnexpectedPass,
            vec![format!(
                "UNEXPECTED-PASS {full_id}: listed as a known failure ({reason}); remove it from KNOWN_FAILURES"
            )],
        ),
        (Verdict::Fail { mismatches, detail }, None) => {
            let shown = if verbose {
                mismatches.len()
            } else {
                SHOWN_MISMATCHES
            };
            let mut text = mismatches
                .iter()
                .take(shown)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if mismatches.len() > shown {
                text.push_str(&format!(" (+{} more)", mismatches.len() - shown));
            }
            let optional = if optional { " [optional]" } else { "" };
            let mut lines = vec![format!("FAIL {full_id}{optional}: {text}")];
            if verbose {
                lines.extend(indented(detail));
            }
            (Kind::Fail, lines)
        }
        (Verdict::Fail { mismatches, .. }, Some(reason)) => {
            let first = mismatches.first().map_or("", String::as_str);
            (
                Kind::ExpectedFail,
                vec![format!("EXPECTED-FAIL {full_id}: {reason} [{first}]")],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(n: usize) -> Verdict {
        Verdict::Fail {
            mismatches: (1..=n).map(|i| format!("m{i}")).collect(),
            detail: "history".into(),
        }
    }

    fn pass() -> Verdict {
        Verdict::Pass {
            detail: "history".into(),
        }
    }

    #[test]
    fn lines_and_kinds() {
        assert_eq!(
            report("step/1-1", &pass(), None, false, false),
            (Kind::Pass, vec!["PASS step/1-1".to_owned()])
        );
        assert_eq!(
            report("step/1-1", &pass(), None, false, true).1,
            ["PASS step/1-1", "    history"]
        );
        assert_eq!(
            report("step/1-12", &fail(5), None, false, false),
            (
                Kind::Fail,
                vec!["FAIL step/1-12: m1; m2; m3 (+2 more)".to_owned()]
            )
        );
        assert_eq!(
            report("step/1-7", &fail(1), None, true, true).1,
            ["FAIL step/1-7 [optional]: m1", "    history"]
        );
        assert_eq!(
            report("step/1-12", &fail(2), Some("engine bug"), false, false),
            (
                Kind::ExpectedFail,
                vec!["EXPECTED-FAIL step/1-12: engine bug [m1]".to_owned()]
            )
        );
        let (kind, lines) = report("step/1-12", &pass(), Some("engine bug"), false, false);
        assert_eq!(kind, Kind::UnexpectedPass);
        assert!(
            lines[0].starts_with("UNEXPECTED-PASS step/1-12: "),
            "{lines:?}"
        );
    }

    #[test]
    fn tally_counts_unexpected_passes_as_failures() {
        let mut tally = Tally::default();
        for kind in [
            Kind::Pass,
            Kind::Pass,
            Kind::Fail,
            Kind::ExpectedFail,
            Kind::UnexpectedPass,
        ] {
            tally.add(kind);
        }
        assert_eq!(tally.summary(), ["1 known failures", "2 passed, 2 failed"]);
    }

    #[test]
    fn known_failures_match_full_or_bare_ids() {
        let known = [("step/1-12", "a"), ("3-4", "b")];
        assert_eq!(known_reason(&known, "step/1-12", "1-12"), Some("a"));
        assert_eq!(known_reason(&known, "child/3-4", "3-4"), Some("b"));
        assert_eq!(known_reason(&known, "step/1-1", "1-1"), None);
    }
}
