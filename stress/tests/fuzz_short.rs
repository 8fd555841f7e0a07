//! The short fuzz run `make test` does: every target, a fixed seed, a few
//! thousand cases each. `make fuzz` runs them for longer.

use stress::fuzz::{run, Budget, TARGETS};

/// Inputs per target: a few seconds for all targets in a debug build.
const SHORT_RUN_INPUTS: u64 = 20_000;

#[test]
fn no_target_panics_or_breaks_an_invariant_in_a_short_seeded_run() {
    let mut findings = Vec::new();
    for target in TARGETS {
        let report = run(target, 11, Budget::Inputs(SHORT_RUN_INPUTS));
        assert!(report.inputs >= SHORT_RUN_INPUTS || report.finding.is_some());
        if let Some(finding) = report.finding {
            findings.push(finding.to_string());
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
