//! The harness as a test library: a few lines in a test of your own run a
//! scenario (a built-in name, a scenario file or a recorded seed) over a
//! range of seeds on a backend, and panic with the standard failure report
//! (seed, broken property, last trace lines, replay command) when a seed
//! breaks an oracle or a required rare event is never reached.
//!
//! ```
//! // Every seed of 0..20 of a built-in scenario, on the fast backend.
//! let summary = sim::Check::scenario("tombola-two-players").seeds(0..20).fast().run();
//! assert_eq!(summary.seeds, 20);
//! ```
//!
//! ```no_run
//! // A scenario file of your own, on turmoil, each seed run twice to check
//! // that its trace is deterministic.
//! sim::Check::scenario("fixtures/scenarios/my-room.toml")
//!     .seeds(0..500)
//!     .twice()
//!     .run();
//! ```
//!
//! The environment sizes and narrows any such test without editing it (the
//! madsim convention):
//! - `SIM_SEED=N` runs exactly seed `N`, the way to replay one failure:
//!   `SIM_SEED=7 cargo test my_room_stays_fair`;
//! - `SIM_SEEDS=M` runs `M` seeds from the start of the range (a longer
//!   sweep on demand), and `SIM_START=S` moves that start.

use std::ops::Range;
use std::time::Instant;

use crate::engine::harness::{ReplayAs, Runnable};
use crate::report::sweep::{sweep, SweepOptions, SweepSummary};
use crate::scenario::registry;

/// Runs exactly this seed, whatever range the test asks for.
pub const SEED_VARIABLE: &str = "SIM_SEED";
/// How many seeds to run from the start of the range.
pub const SEEDS_VARIABLE: &str = "SIM_SEEDS";
/// The first seed of the range.
pub const START_VARIABLE: &str = "SIM_START";

/// Worker threads a check uses unless told otherwise: `cargo test` already
/// runs tests side by side, so a check does not take every core.
pub const CHECK_JOBS_DEFAULT: usize = 2;

/// A scenario to check over a range of seeds; see the [module](self) docs.
#[derive(Debug, Clone)]
#[must_use = "a check does nothing until `run` or `try_run`"]
pub struct Check {
    scenario: String,
    seeds: Range<u64>,
    fast: bool,
    jobs: usize,
    twice: bool,
}

impl Check {
    /// A built-in scenario by name (`sim list`), a scenario file by path, or
    /// the scenario of a recorded seed (`fixtures/seeds/*.toml`) by path.
    /// Seeds 0..100 on turmoil unless told otherwise.
    pub fn scenario(name_or_path: &str) -> Check {
        Check {
            scenario: name_or_path.to_owned(),
            seeds: 0..100,
            fast: false,
            jobs: CHECK_JOBS_DEFAULT,
            twice: false,
        }
    }

    /// The seeds to run (before `SIM_SEED`, `SIM_SEEDS` and `SIM_START`).
    pub fn seeds(mut self, seeds: Range<u64>) -> Check {
        self.seeds = seeds;
        self
    }

    /// Run on the fast event-driven backend instead of turmoil.
    pub fn fast(mut self) -> Check {
        self.fast = true;
        self
    }

    /// Worker threads (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Check {
        self.jobs = jobs.max(1);
        self
    }

    /// Run every seed twice and require identical traces.
    pub fn twice(mut self) -> Check {
        self.twice = true;
        self
    }

    /// The seeds this check runs once the environment is applied: an error
    /// names a variable that is set but is not a number.
    pub fn planned_seeds(&self) -> Result<Range<u64>, String> {
        planned_seeds(&self.seeds, |name| std::env::var(name).ok())
    }

    /// Runs the check and returns the sweep's summary, passed or not; an
    /// error is a scenario that cannot be found or run on this backend, or
    /// a malformed environment variable.
    pub fn try_run(&self) -> Result<SweepSummary, String> {
        let scenario = self.runnable()?;
        let seeds = self.planned_seeds()?;
        let options = SweepOptions {
            start: seeds.start,
            seeds: seeds.end.saturating_sub(seeds.start),
            jobs: self.jobs,
            progress: false,
            check_determinism: self.twice,
            shard: None,
        };
        Ok(sweep(scenario.as_ref(), &options))
    }

    /// Runs the check; panics with the standard failure report (and how to
    /// replay one seed of this very test) unless every seed passed and every
    /// required rare event was reached.
    pub fn run(&self) -> SweepSummary {
        let started = Instant::now();
        let summary = match self.try_run() {
            Ok(summary) => summary,
            Err(error) => panic!("sim check of {}: {error}", self.scenario),
        };
        if !summary.passed() {
            let mut report = summary.render(started.elapsed().as_secs_f64());
            if let Some(failure) = summary.failures.first() {
                report.push_str(&format!(
                    "replay one seed of this test: {SEED_VARIABLE}={} cargo test {}\n",
                    failure.seed,
                    test_name()
                ));
            }
            panic!("sim check of {} failed:\n{report}", self.scenario);
        }
        summary
    }

    fn runnable(&self) -> Result<Box<dyn Runnable>, String> {
        let resolved = registry::resolve(&self.scenario)?;
        if !self.fast {
            return Ok(resolved.runnable());
        }
        Ok(Box::new(ReplayAs {
            replay_args: format!("{} --backend fast", resolved.replay_args),
            scenario: Box::new(crate::engine::fast::OnFastBackend::new(resolved.file)?),
        }))
    }
}

/// `range` narrowed by the environment as `read` tells it: `SIM_SEED`
/// alone wins, else `SIM_START` and `SIM_SEEDS` move and size the range.
pub(crate) fn planned_seeds(
    range: &Range<u64>,
    read: impl Fn(&str) -> Option<String>,
) -> Result<Range<u64>, String> {
    let number = |name: &str| -> Result<Option<u64>, String> {
        match read(name) {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}={text:?} is not a whole number")),
        }
    };
    if let Some(seed) = number(SEED_VARIABLE)? {
        return Ok(seed..seed.saturating_add(1));
    }
    let start = number(START_VARIABLE)?.unwrap_or(range.start);
    let count = number(SEEDS_VARIABLE)?.unwrap_or(range.end.saturating_sub(range.start));
    Ok(start..start.saturating_add(count))
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<this test>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn without_the_environment_the_test_keeps_its_range() {
        assert_eq!(planned_seeds(&(10..20), environment(&[])), Ok(10..20));
    }

    #[test]
    fn sim_seed_runs_exactly_one_seed_whatever_else_is_set() {
        let env = [("SIM_SEED", "7"), ("SIM_SEEDS", "1000"), ("SIM_START", "3")];
        assert_eq!(planned_seeds(&(0..100), environment(&env)), Ok(7..8));
    }

    #[test]
    fn sim_seeds_and_sim_start_size_and_move_the_range() {
        let env = [("SIM_SEEDS", "5000")];
        assert_eq!(planned_seeds(&(100..200), environment(&env)), Ok(100..5100));
        let env = [("SIM_SEEDS", "5"), ("SIM_START", "40")];
        assert_eq!(planned_seeds(&(0..100), environment(&env)), Ok(40..45));
    }

    #[test]
    fn a_variable_that_is_not_a_number_is_named_in_the_error() {
        let error = planned_seeds(&(0..1), environment(&[("SIM_SEED", "seven")])).unwrap_err();
        assert!(
            error.contains("SIM_SEED") && error.contains("seven"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_scenario_is_an_error_that_lists_the_built_in_ones() {
        let error = Check::scenario("no-such-scenario").try_run().unwrap_err();
        assert!(error.contains("tombola-two-players"), "{error}");
    }

    #[test]
    #[should_panic(expected = "replay one seed of this test: SIM_SEED=")]
    fn a_failing_check_panics_with_the_replay_of_one_seed() {
        // A recorded seed of a planted bug: its scenario fails on purpose.
        let failing = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/seeds/tombola-skip-seq-bug.toml"
        );
        Check::scenario(failing).seeds(0..1).fast().run();
    }
}
