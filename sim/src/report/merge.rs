//! `sim merge`: judges the summaries of a sweep split over several
//! machines (`sim sweep ... --shard i/n --summary shard-i.json`) as one
//! sweep.
//!
//! A shard alone can say that a seed broke a property, never that the whole
//! sweep missed a rare event: another shard may have reached it. The merge
//! judges the union: every violation of every shard (with its replay
//! command), every `must_reach` event over all shards, and whether the
//! shards fit together: each seed of the sweep run exactly once (a missing
//! shard is a gap, a shard given twice an overlap), all of them from the
//! same code (git commit, `Cargo.lock`, sources) and of the same scenarios
//! on the same backend. Shards of different code are refused, not merged:
//! their seeds did not run the same program.
//!
//! The output reads like a sweep's (one section per scenario, the failing
//! seeds, a total and a verdict), so a CI log of a merge reads like a log of
//! one long sweep.

use std::collections::BTreeMap;

use crate::engine::harness::Violation;
use crate::report::summary::{ScenarioRecord, SweepSummaryFile};
use crate::report::sweep::{Failure, SweepSummary, SweepTotals};

/// Seeds a merge enumerates at most over all its summaries (16 bytes each):
/// 100 million is 1.6 GB, beyond any sweep this harness runs (10,000 seeds
/// of every scenario take about an hour on two cores); a larger one is
/// refused with a reason instead of exhausting memory.
pub const MERGE_SEEDS_MAX: u64 = 100_000_000;

/// Seed numbers or ranges a problem line lists before `...`: enough to
/// recognise a pattern (every fourth seed: a missing shard), short enough
/// for one line.
const SEEDS_LISTED_MAX: usize = 8;

/// One summary to merge and what to call it in messages (its path).
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub name: String,
    pub summary: SweepSummaryFile,
}

/// What a merge found.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    /// The header: how many summaries, built from what, which seeds.
    pub header: String,
    /// One merged summary per scenario, in the order of the first input.
    pub scenarios: Vec<(SweepSummary, String)>,
    pub totals: SweepTotals,
    /// Sum of the shards' wall-clock seconds.
    pub elapsed_s: f64,
}

impl MergeReport {
    pub fn passed(&self) -> bool {
        self.totals.passed()
    }

    /// What `sim merge` prints: the header, each scenario like a sweep's
    /// summary, then the problems, the failing seeds, the total and the
    /// verdict.
    pub fn render(&self) -> String {
        let mut out = self.header.clone();
        for (summary, throughput) in &self.scenarios {
            out.push_str(&summary.render_with_throughput(throughput));
        }
        out.push_str(&self.totals.render_as("sim merge", self.elapsed_s));
        out
    }
}

/// Merges `inputs` (at least one) into one verdict.
pub fn merge(inputs: &[MergeInput]) -> MergeReport {
    let mut report = MergeReport {
        elapsed_s: inputs.iter().map(|input| input.summary.elapsed_s).sum(),
        ..MergeReport::default()
    };
    let Some(first) = inputs.first() else {
        report
            .totals
            .problems
            .push("no summaries to merge".to_owned());
        return report;
    };
    report.header = header(inputs);

    // Shards that did not run the same program, or not the same scenarios,
    // cannot be added up: refuse before judging anything else.
    let refusals = refusals(inputs);
    if !refusals.is_empty() {
        report.totals.problems = refusals;
        return report;
    }

    report.totals.problems = coverage_problems(inputs);
    for (position, record) in first.summary.scenarios.iter().enumerate() {
        let records: Vec<(&MergeInput, &ScenarioRecord)> = inputs
            .iter()
            .map(|input| (input, &input.summary.scenarios[position]))
            .collect();
        let (summary, throughput) = merge_scenario(&record.scenario, &records);
        report.totals.add(&summary);
        report.scenarios.push((summary, throughput));
    }
    report
}

fn header(inputs: &[MergeInput]) -> String {
    let first = &inputs[0].summary;
    let mut out = format!(
        "merge of {} sweep summaries: backend {}, {}\n",
        inputs.len(),
        first.backend,
        first.build.describe()
    );
    for input in inputs {
        let seeds_run = input
            .summary
            .scenarios
            .first()
            .map_or(0, |record| record.seeds_run);
        out.push_str(&format!(
            "  {}: {}, {} seeds run of {} scenarios, {:.1} s on {} jobs\n",
            input.name,
            input.summary.describe_seeds(),
            seeds_run,
            input.summary.scenarios.len(),
            input.summary.elapsed_s,
            input.summary.jobs
        ));
    }
    out
}

/// Why `inputs` cannot be merged at all: other code, another backend,
/// other scenarios, or a summary at odds with itself.
fn refusals(inputs: &[MergeInput]) -> Vec<String> {
    let first = &inputs[0];
    let mut refusals = Vec::new();
    for input in &inputs[1..] {
        let (ours, theirs) = (&first.summary.build, &input.summary.build);
        let mut differences = Vec::new();
        if ours.commit != theirs.commit {
            differences.push(format!("commit {} vs {}", theirs.commit, ours.commit));
        }
        if ours.cargo_lock_hash != theirs.cargo_lock_hash {
            differences.push(format!(
                "Cargo.lock hash {} vs {}",
                theirs.cargo_lock_hash, ours.cargo_lock_hash
            ));
        }
        if ours.sources_hash != theirs.sources_hash {
            differences.push(format!(
                "sources hash {} vs {}",
                theirs.sources_hash, ours.sources_hash
            ));
        }
        if !differences.is_empty() {
            refusals.push(format!(
                "different code: {} was built from other code than {} ({}); rebuild every \
shard from one commit and sweep again",
                input.name,
                first.name,
                differences.join(", ")
            ));
        }
        if input.summary.backend != first.summary.backend {
            refusals.push(format!(
                "different backends: {} ran on {} and {} on {}",
                input.name, input.summary.backend, first.name, first.summary.backend
            ));
        }
        let scenarios = |input: &MergeInput| -> Vec<String> {
            input
                .summary
                .scenarios
                .iter()
                .map(|record| record.replay_args.clone())
                .collect()
        };
        let checked = |input: &MergeInput| {
            input
                .summary
                .scenarios
                .iter()
                .any(|record| record.identical_traces.is_some())
        };
        if checked(input) != checked(first) {
            refusals.push(format!(
                "different checks: {} ran --check-determinism and {} did not",
                if checked(input) {
                    &input.name
                } else {
                    &first.name
                },
                if checked(input) {
                    &first.name
                } else {
                    &input.name
                }
            ));
        }
        for (theirs, ours) in input.summary.scenarios.iter().zip(&first.summary.scenarios) {
            if theirs.replay_args == ours.replay_args && theirs.file_hash != ours.file_hash {
                refusals.push(format!(
                    "different scenario files: {} in {} has hash {} and in {} {}",
                    theirs.replay_args,
                    input.name,
                    theirs.file_hash.as_deref().unwrap_or("none"),
                    first.name,
                    ours.file_hash.as_deref().unwrap_or("none")
                ));
            }
        }
        if scenarios(input) != scenarios(first) {
            refusals.push(format!(
                "different scenarios: {} swept [{}] and {} swept [{}]",
                input.name,
                scenarios(input).join(", "),
                first.name,
                scenarios(first).join(", ")
            ));
        }
    }
    for input in inputs {
        let expected = input.summary.seed_numbers().count() as u64;
        for record in &input.summary.scenarios {
            if record.seeds_run != expected {
                refusals.push(format!(
                    "{} says it ran {} seeds of {} but {} holds {expected}",
                    input.name,
                    record.seeds_run,
                    record.scenario,
                    input.summary.describe_seeds()
                ));
            }
        }
    }
    refusals
}

/// Gaps and overlaps in the seeds the summaries ran: over the span from the
/// lowest first seed to the highest last one, every seed must be run by
/// exactly one summary.
fn coverage_problems(inputs: &[MergeInput]) -> Vec<String> {
    let total: u64 = inputs.iter().map(|input| input.summary.seeds).sum();
    if total > MERGE_SEEDS_MAX {
        return vec![format!(
            "the summaries span {total} seeds, more than the {MERGE_SEEDS_MAX} a merge checks"
        )];
    }
    let mut problems = Vec::new();
    problems.extend(shard_problems(inputs));

    let mut runs: Vec<(u64, usize)> = Vec::new();
    for (position, input) in inputs.iter().enumerate() {
        runs.extend(input.summary.seed_numbers().map(|seed| (seed, position)));
    }
    runs.sort_unstable();

    // Seeds run more than once, grouped by the summaries that ran them.
    let mut overlaps: BTreeMap<Vec<usize>, Vec<u64>> = BTreeMap::new();
    for group in runs.chunk_by(|a, b| a.0 == b.0) {
        if group.len() > 1 {
            let owners: Vec<usize> = group.iter().map(|(_, owner)| *owner).collect();
            overlaps.entry(owners).or_default().push(group[0].0);
        }
    }
    for (owners, seeds) in &overlaps {
        let names: Vec<&str> = owners
            .iter()
            .map(|owner| inputs[*owner].name.as_str())
            .collect();
        problems.push(format!(
            "overlap: {} run by each of {}",
            describe_seed_list(seeds),
            names.join(", ")
        ));
    }

    let low = inputs
        .iter()
        .map(|input| input.summary.start)
        .min()
        .unwrap_or(0);
    let high = inputs
        .iter()
        .map(|input| input.summary.start.saturating_add(input.summary.seeds))
        .max()
        .unwrap_or(0);
    let mut missing = Vec::new();
    let mut next = low;
    for &(seed, _) in &runs {
        missing.extend(next..seed);
        next = next.max(seed.saturating_add(1));
    }
    missing.extend(next..high);
    if !missing.is_empty() {
        problems.push(format!(
            "gap: {} of seeds {low}..{high} run by no summary",
            describe_seed_list(&missing)
        ));
    }
    problems
}

/// When every summary is a shard of the same sweep (same first seed, seed
/// count and shard count), the gaps and overlaps said by shard: which
/// shards are missing and which were given twice.
fn shard_problems(inputs: &[MergeInput]) -> Vec<String> {
    let first = &inputs[0].summary;
    let Some(count) = first.shard.map(|shard| shard.count) else {
        return Vec::new();
    };
    let same_sweep = inputs.iter().all(|input| {
        input.summary.start == first.start
            && input.summary.seeds == first.seeds
            && input.summary.shard.map(|shard| shard.count) == Some(count)
    });
    if !same_sweep {
        return Vec::new();
    }
    let mut given: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for input in inputs {
        if let Some(shard) = input.summary.shard {
            given.entry(shard.index).or_default().push(&input.name);
        }
    }
    let mut problems = Vec::new();
    let missing: Vec<String> = (1..=count)
        .filter(|index| !given.contains_key(index))
        .map(|index| format!("{index}/{count}"))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing shards: {} of {} (no summary for them)",
            missing.join(", "),
            first
                .describe_seeds()
                .split(" shard")
                .next()
                .unwrap_or_default()
        ));
    }
    for (index, names) in &given {
        if names.len() > 1 {
            problems.push(format!(
                "shard {index}/{count} given {} times: {}",
                names.len(),
                names.join(", ")
            ));
        }
    }
    problems
}

/// `4 seeds: 3, 7, 11, 15` or `1000 seeds: 0..=499, 600..=1099`, listing
/// at most [`SEEDS_LISTED_MAX`] numbers or ranges; `seeds` is sorted.
fn describe_seed_list(seeds: &[u64]) -> String {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &seed in seeds {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(seed) => *end = seed,
            _ => ranges.push((seed, seed)),
        }
    }
    let mut shown: Vec<String> = ranges
        .iter()
        .take(SEEDS_LISTED_MAX)
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}..={end}")
            }
        })
        .collect();
    if ranges.len() > SEEDS_LISTED_MAX {
        shown.push("...".to_owned());
    }
    let noun = if seeds.len() == 1 { "seed" } else { "seeds" };
    format!("{} {noun} ({})", seeds.len(), shown.join(", "))
}

/// One scenario over every shard: its sweep summary and throughput line.
fn merge_scenario(
    scenario: &str,
    records: &[(&MergeInput, &ScenarioRecord)],
) -> (SweepSummary, String) {
    let mut summary = SweepSummary {
        scenario: scenario.to_owned(),
        ..SweepSummary::default()
    };
    let mut must_reach: Vec<String> = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    for (input, record) in records {
        summary.seeds += record.seeds_run;
        summary.runs += record.runs;
        summary.games += record.games;
        if let Some(identical) = record.identical_traces {
            *summary.identical_traces.get_or_insert(0) += identical;
        }
        for (winners, games) in &record.winners_per_game {
            *summary.winners_histogram.entry(*winners).or_default() += games;
        }
        for (event, seeds) in &record.reached {
            *summary.reached.entry(event.clone()).or_default() += seeds;
        }
        for event in &record.must_reach {
            if !must_reach.contains(event) {
                must_reach.push(event.clone());
            }
        }
        for failure in &record.failures {
            let violations: Vec<Violation> = failure
                .violations
                .iter()
                .map(|violation| Violation::new(&violation.property, violation.detail.clone()))
                .collect();
            let mut report = format!(
                "FAIL {scenario} seed {} (in {})\n",
                failure.seed, input.name
            );
            for violation in &violations {
                report.push_str(&format!(
                    "  broken property {}: {}\n",
                    violation.property, violation.detail
                ));
            }
            report.push_str(&format!("  replay: {}\n", failure.replay));
            failures.push(Failure {
                seed: failure.seed,
                report,
                replay: failure.replay.clone(),
                violations,
            });
        }
    }
    failures.sort_by_key(|failure| failure.seed);
    summary.failures = failures;
    summary.unreached = must_reach
        .into_iter()
        .filter(|event| !summary.reached.contains_key(event))
        .collect();

    let elapsed_s: f64 = records.iter().map(|(_, record)| record.elapsed_s).sum();
    let (slowest_name, slowest_s) = records
        .iter()
        .map(|(input, record)| (input.name.as_str(), record.elapsed_s))
        .fold(("-", 0.0), |slowest, candidate| {
            if candidate.1 > slowest.1 {
                candidate
            } else {
                slowest
            }
        });
    let rate = if elapsed_s > 0.0 {
        summary.games as f64 / elapsed_s
    } else {
        0.0
    };
    let throughput = format!(
        "throughput {rate:.1} games/s per shard ({elapsed_s:.2} s over {} shards, the slowest \
{slowest_s:.2} s in {slowest_name})",
        records.len()
    );
    (summary, throughput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_seeds_is_told_as_ranges_and_cut_after_a_few() {
        assert_eq!(describe_seed_list(&[3]), "1 seed (3)");
        assert_eq!(
            describe_seed_list(&[0, 1, 2, 5, 7, 8]),
            "6 seeds (0..=2, 5, 7..=8)"
        );
        let every_fourth: Vec<u64> = (0..40).map(|k| 3 + 4 * k).collect();
        assert_eq!(
            describe_seed_list(&every_fourth),
            "40 seeds (3, 7, 11, 15, 19, 23, 27, 31, ...)"
        );
    }
}
