//! Many seeds of one scenario, in parallel, summed up: games, winners per
//! game, violations (each with its seed and replay command), the rare events
//! reached and how many seeds reached each.
//!
//! The summary shows the first few failures in full and then lists every
//! failing seed with its replay command, so the list is what a person reads
//! last however many seeds failed.
//!
//! Seeds are independent runs, so they spread over a rayon pool; results
//! are folded in seed order, so the summary does not depend on `--jobs`.

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::engine::harness::{
    failure_report_for, replay_command_for, RunOptions, RunOutcome, Runnable, Violation,
};

/// Failures a summary shows in full (violations and last trace lines); the
/// rest are only listed with their replay commands, so that 23 failures do
/// not print 575 lines above the verdict. One replayed failure usually says
/// what the others are.
pub const FAILURE_REPORTS_SHOWN_MAX: usize = 3;

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// First seed.
    pub start: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Worker threads; 0 means all cores.
    pub jobs: usize,
    /// Show a progress bar on stderr (hidden anyway when it is not a terminal).
    pub progress: bool,
    /// Run every seed twice and require identical traces.
    pub check_determinism: bool,
    /// Only this part of the seeds.
    pub shard: Option<Shard>,
}

impl SweepOptions {
    /// Options for a sweep inside `cargo test`: `default_seeds` seeds from
    /// `default_start`, narrowed by the environment as a [`crate::Check`]
    /// is (`SIM_SEED` runs exactly one seed, `SIM_SEEDS` and `SIM_START`
    /// size and move the range; a malformed value panics, naming it), two
    /// jobs, no progress bar.
    #[cfg(test)]
    pub fn from_env(default_seeds: u64, default_start: u64) -> SweepOptions {
        let range = default_start..default_start.saturating_add(default_seeds);
        let seeds = crate::check::planned_seeds(&range, |name| std::env::var(name).ok())
            .unwrap_or_else(|error| panic!("{error}"));
        SweepOptions {
            start: seeds.start,
            seeds: seeds.end - seeds.start,
            jobs: 2,
            progress: false,
            check_determinism: false,
            shard: None,
        }
    }
}

/// Sweeps every built-in scenario whose name starts with `prefix`; returns
/// the reports of those that failed (each failing seed with its replay
/// command), empty when all passed.
#[cfg(test)]
pub fn sweep_builtins(prefix: &str, options: &SweepOptions) -> String {
    let mut failures = String::new();
    for scenario in crate::scenario::registry::everything() {
        if scenario.name().starts_with(prefix) {
            let summary = sweep(scenario.as_ref(), options);
            if !summary.passed() {
                failures.push_str(&summary.render(0.0));
            }
        }
    }
    failures
}

/// Part `index` (1-based) of `count` equal parts of a sweep's seeds: seed
/// number k of the sweep belongs to part `k % count + 1`, so the parts
/// never overlap and together cover every seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let parse = |part: &str| part.trim().parse::<u64>().ok();
        match text
            .split_once('/')
            .map(|(index, count)| (parse(index), parse(count)))
        {
            Some((Some(index), Some(count))) if count >= 1 && (1..=count).contains(&index) => {
                Ok(Shard { index, count })
            }
            _ => Err(format!(
                "{text:?} is not a shard like 2/4 (part 1..=n of n)"
            )),
        }
    }
}

impl Shard {
    /// Whether seed number `position` of the sweep (counted from its first
    /// seed) belongs to this part.
    pub fn contains(&self, position: u64) -> bool {
        position % self.count == self.index - 1
    }
}

/// One failing seed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    /// The standard failure report: seed, broken properties, the last
    /// trace lines and the replay command.
    pub report: String,
    /// The command that replays this seed.
    pub replay: String,
    pub violations: Vec<Violation>,
}

impl Failure {
    /// One line: seed, broken properties, replay command.
    pub fn line(&self) -> String {
        let mut properties: Vec<&str> = self
            .violations
            .iter()
            .map(|violation| violation.property.as_str())
            .collect();
        properties.dedup();
        format!(
            "seed {} broke {}: {}",
            self.seed,
            properties.join(", "),
            self.replay
        )
    }
}

/// What a sweep (or a [`crate::Check`]) found.
#[derive(Debug, Clone, Default)]
pub struct SweepSummary {
    /// The scenario's name (a file's `name`).
    pub scenario: String,
    /// Seeds run.
    pub seeds: u64,
    /// Runs made: one per seed, two with the determinism check.
    pub runs: u64,
    /// With the determinism check: seeds whose two runs gave identical
    /// traces.
    pub identical_traces: Option<u64>,
    /// Games played over all seeds (for chat: client connections).
    pub games: u64,
    /// Number of winners -> games that had that many.
    pub winners_histogram: BTreeMap<usize, u64>,
    /// Event -> seeds that reached it.
    pub reached: BTreeMap<String, u64>,
    /// Events the scenario must reach that no seed reached.
    pub unreached: Vec<String>,
    /// Of a shard whose summary goes to `sim merge`: events this shard did
    /// not reach, which only the merge of every shard can judge (see
    /// [`SweepSummary::defer_must_reach_to_merge`]).
    pub judged_at_merge: Vec<String>,
    /// The part of the seeds this sweep ran, if not all.
    pub shard: Option<Shard>,
    /// The failing seeds, in seed order.
    pub failures: Vec<Failure>,
}

impl SweepSummary {
    /// No seed broke a property, and every required rare event was reached.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.unreached.is_empty()
    }

    /// A shard cannot say whether the whole sweep reached an event: another
    /// shard may have. When its summary goes to `sim merge`, the events it
    /// did not reach are moved from [`SweepSummary::unreached`] (a failure)
    /// to [`SweepSummary::judged_at_merge`] (a note), and the merge judges
    /// `must_reach` over the union of the shards.
    pub fn defer_must_reach_to_merge(&mut self) {
        self.judged_at_merge.append(&mut self.unreached);
    }

    /// The summary as printed by `sim sweep`; `elapsed_s` (wall clock) only
    /// feeds the throughput line.
    pub fn render(&self, elapsed_s: f64) -> String {
        self.render_timed(elapsed_s, None)
    }

    /// [`SweepSummary::render`] with the process's CPU seconds meanwhile
    /// (see [`crate::report::bench::process_cpu_seconds`]) in the
    /// throughput line: the cores the sweep kept busy and the CPU a game
    /// cost say whether `--jobs` was starved by other load or contended.
    pub fn render_timed(&self, elapsed_s: f64, cpu_s: Option<f64>) -> String {
        let rate = if elapsed_s > 0.0 {
            self.games as f64 / elapsed_s
        } else {
            0.0
        };
        let cpu = match cpu_s {
            Some(cpu_s) if elapsed_s > 0.0 && self.games > 0 => format!(
                ", {cpu_s:.2} s CPU on {:.2} cores, {:.3} cpu-ms/game",
                cpu_s / elapsed_s,
                cpu_s * 1000.0 / self.games as f64
            ),
            _ => String::new(),
        };
        self.render_with_throughput(&format!(
            "throughput {rate:.1} games/s ({elapsed_s:.2} s wall{cpu})"
        ))
    }

    /// The summary with `throughput` as its throughput line (`sim merge`
    /// says there how the shards' times add up).
    pub fn render_with_throughput(&self, throughput: &str) -> String {
        let mut out = String::new();
        for failure in self.failures.iter().take(FAILURE_REPORTS_SHOWN_MAX) {
            out.push_str(&failure.report);
        }
        if self.failures.len() > FAILURE_REPORTS_SHOWN_MAX {
            out.push_str(&format!(
                "... and {} more failing seeds of {}, listed below\n",
                self.failures.len() - FAILURE_REPORTS_SHOWN_MAX,
                self.scenario
            ));
        }
        let histogram: Vec<String> = self
            .winners_histogram
            .iter()
            .map(|(winners, games)| format!("{winners}:{games}"))
            .collect();
        out.push_str(&format!(
            "scenario {} seeds {} games {} winners-per-game {{{}}} violations {}\n",
            self.scenario,
            self.seeds,
            self.games,
            histogram.join(" "),
            self.failures.len()
        ));
        for (event, seeds) in &self.reached {
            out.push_str(&format!(
                "reached {event}: {seeds} of {} seeds\n",
                self.seeds
            ));
        }
        for event in &self.unreached {
            match self.shard {
                Some(shard) => out.push_str(&format!(
                    "NOT REACHED {event}: no seed of shard {}/{} reached it, and a shard alone \
cannot judge the whole sweep: give every shard `--summary shard-{}.json` and judge them together \
with `sim merge shard-*.json`\n",
                    shard.index, shard.count, shard.index
                )),
                None => out.push_str(&format!(
                    "NOT REACHED {event}: the scenario must reach it and no seed did\n"
                )),
            }
        }
        for event in &self.judged_at_merge {
            out.push_str(&format!(
                "not reached on this shard {event}: judged at merge (`sim merge` over every \
shard's summary)\n"
            ));
        }
        if let Some(identical) = self.identical_traces {
            out.push_str(&format!(
                "determinism: every seed ran twice; {identical} of {} gave identical traces\n",
                self.seeds
            ));
        }
        if !self.failures.is_empty() {
            out.push_str(&format!(
                "failing seeds of {} ({}):\n",
                self.scenario,
                self.failures.len()
            ));
            for failure in &self.failures {
                out.push_str(&format!("  {}\n", failure.line()));
            }
        }
        out.push_str(throughput);
        out.push('\n');
        out.push_str(if self.passed() {
            "sweep PASS\n"
        } else {
            "sweep FAIL\n"
        });
        out
    }
}

/// Runs `options.seeds` seeds of `scenario` from `options.start`.
pub fn sweep(scenario: &dyn Runnable, options: &SweepOptions) -> SweepSummary {
    let bar = if options.progress {
        ProgressBar::new(options.seeds)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, {eta} left")
            .expect("valid progress template"),
    );
    let run_seed = |seed: u64| {
        let mut outcome = scenario.run(seed, &RunOptions::default());
        let mut identical = false;
        if options.check_determinism {
            let again = scenario.run(seed, &RunOptions::default());
            identical = again.trace == outcome.trace;
            if !identical {
                let first_difference = outcome
                    .trace
                    .iter()
                    .zip(&again.trace)
                    .position(|(a, b)| a != b)
                    .unwrap_or(outcome.trace.len().min(again.trace.len()));
                outcome.violations.push(Violation::new(
                    "determinism",
                    format!(
                        "two runs of seed {seed} differ from trace line {}",
                        first_difference + 1
                    ),
                ));
            }
        }
        bar.inc(1);
        (seed, slim(outcome), identical)
    };
    let seeds: Vec<u64> = (0..options.seeds)
        .filter(|position| options.shard.is_none_or(|shard| shard.contains(*position)))
        .map(|position| options.start.saturating_add(position))
        .collect();
    bar.set_length(seeds.len() as u64);
    let seeds_run = seeds.len() as u64;
    let outcomes: Vec<(u64, RunOutcome, bool)> = if options.jobs == 1 {
        seeds.into_iter().map(run_seed).collect()
    } else {
        super::worker_pool(options.jobs).install(|| seeds.into_par_iter().map(run_seed).collect())
    };
    bar.finish_and_clear();

    let mut summary = SweepSummary {
        scenario: scenario.name().to_owned(),
        seeds: seeds_run,
        runs: if options.check_determinism {
            seeds_run * 2
        } else {
            seeds_run
        },
        identical_traces: options.check_determinism.then_some(0),
        shard: options.shard,
        ..Default::default()
    };
    for (seed, outcome, identical) in outcomes {
        if identical {
            if let Some(count) = summary.identical_traces.as_mut() {
                *count += 1;
            }
        }
        summary.games += outcome.games;
        for &winners in &outcome.winners_per_game {
            *summary.winners_histogram.entry(winners).or_default() += 1;
        }
        for event in &outcome.reached {
            *summary.reached.entry(event.clone()).or_default() += 1;
        }
        if !outcome.passed() {
            summary.failures.push(Failure {
                seed,
                report: failure_report_for(scenario, seed, &outcome),
                replay: replay_command_for(scenario, seed),
                violations: outcome.violations.clone(),
            });
        }
    }
    summary.unreached = scenario
        .must_reach()
        .into_iter()
        .filter(|event| !summary.reached.contains_key(event))
        .collect();
    summary
}

/// Keeps only what a summary needs of a passing run, so a long sweep does
/// not hold every trace in memory.
fn slim(mut outcome: RunOutcome) -> RunOutcome {
    if outcome.passed() {
        outcome.trace = Vec::new();
    }
    outcome
}

/// The sum of the sweeps of one `sim sweep` (one scenario or `all`): what a
/// person reads last.
#[derive(Debug, Clone, Default)]
pub struct SweepTotals {
    pub scenarios: u64,
    pub seeds: u64,
    pub runs: u64,
    pub games: u64,
    pub violations: u64,
    /// `scenario: seed ... broke ...: replay command`, in sweep order.
    pub failing_seeds: Vec<String>,
    /// `scenario: event` for each required event no seed reached.
    pub unreached: Vec<String>,
    /// `scenario: event` for each required event this shard did not reach,
    /// left to `sim merge` (see [`SweepSummary::defer_must_reach_to_merge`]).
    pub judged_at_merge: Vec<String>,
    /// With the determinism check: seeds whose two runs matched.
    pub identical_traces: Option<u64>,
    /// What keeps runs from being judged as one sweep: in `sim merge`,
    /// summaries of other code, a gap or an overlap in their seeds.
    pub problems: Vec<String>,
}

impl SweepTotals {
    pub fn add(&mut self, summary: &SweepSummary) {
        self.scenarios += 1;
        self.seeds += summary.seeds;
        self.runs += summary.runs;
        self.games += summary.games;
        for failure in &summary.failures {
            self.violations += failure.violations.len() as u64;
            self.failing_seeds
                .push(format!("{} {}", summary.scenario, failure.line()));
        }
        for event in &summary.unreached {
            self.unreached
                .push(format!("{}: {event}", summary.scenario));
        }
        for event in &summary.judged_at_merge {
            self.judged_at_merge
                .push(format!("{}: {event}", summary.scenario));
        }
        if let Some(identical) = summary.identical_traces {
            *self.identical_traces.get_or_insert(0) += identical;
        }
    }

    pub fn passed(&self) -> bool {
        self.failing_seeds.is_empty() && self.unreached.is_empty() && self.problems.is_empty()
    }

    /// The closing lines: the list of failing seeds with their replay
    /// commands, the required events not reached, one total line and the
    /// verdict. `elapsed_s` is wall-clock time, shown and never compared.
    pub fn render(&self, elapsed_s: f64) -> String {
        self.render_as("sim sweep", elapsed_s)
    }

    /// [`SweepTotals::render`] with the verdict line of `command`
    /// (`sim merge: PASS`).
    pub fn render_as(&self, command: &str, elapsed_s: f64) -> String {
        let mut out = String::from("\n");
        if !self.problems.is_empty() {
            out.push_str(&format!("problems ({}):\n", self.problems.len()));
            for line in &self.problems {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if !self.failing_seeds.is_empty() {
            out.push_str(&format!("failing seeds ({}):\n", self.failing_seeds.len()));
            for line in &self.failing_seeds {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if !self.unreached.is_empty() {
            out.push_str(&format!(
                "required events no seed reached ({}):\n",
                self.unreached.len()
            ));
            for line in &self.unreached {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if !self.judged_at_merge.is_empty() {
            out.push_str(&format!(
                "required events this shard did not reach, judged by `sim merge` ({}):\n",
                self.judged_at_merge.len()
            ));
            for line in &self.judged_at_merge {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if let Some(identical) = self.identical_traces {
            out.push_str(&format!(
                "determinism: {identical} of {} seeds gave identical traces in both runs\n",
                self.seeds
            ));
        }
        out.push_str(&format!(
            "total: {} scenarios, {} seeds, {} runs, {} games, {} failing seeds ({} violations), \
{} required events not reached, {elapsed_s:.1} s\n",
            self.scenarios,
            self.seeds,
            self.runs,
            self.games,
            self.failing_seeds.len(),
            self.violations,
            self.unreached.len()
        ));
        out.push_str(&format!(
            "{command}: {}\n",
            if self.passed() { "PASS" } else { "FAIL" }
        ));
        out
    }
}
