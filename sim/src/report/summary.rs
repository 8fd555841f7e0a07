//! The machine-readable summary of one `sim sweep` (`--summary out.json`):
//! what a shard of a sweep split over several machines hands to
//! `sim merge` (see [`crate::report::merge`]).
//!
//! It holds what the merge judges and nothing it would have to trust: the
//! seeds asked for (first seed, count, shard), per scenario the seeds run,
//! the violations with their seeds and replay commands, how many seeds
//! reached each rare event, the events the scenario must reach, games and
//! throughput, and the code the binary was built from (git commit, a hash of
//! `Cargo.lock` and a hash of the sources, embedded by `sim/build.rs`), so
//! that shards of different code are refused instead of merged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::harness::Runnable;
use crate::report::sweep::{Shard, SweepOptions, SweepSummary};

/// The `format` field of every summary this version writes; `sim merge`
/// refuses files of another format rather than misread them.
pub const SUMMARY_FORMAT: &str = "sim-sweep-summary/1";

/// What the binary was built from. Two summaries merge only when all three
/// fields are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// `git rev-parse HEAD` at build time, or `unknown`.
    pub commit: String,
    /// FNV-1a hash of the workspace's `Cargo.lock` (dependency versions).
    pub cargo_lock_hash: String,
    /// FNV-1a hash of the games, the harness and the built-in scenario
    /// files: tells apart builds of one commit with different local edits.
    pub sources_hash: String,
}

impl BuildInfo {
    /// The build of this binary.
    pub fn current() -> BuildInfo {
        BuildInfo {
            commit: env!("SIM_BUILD_COMMIT").to_owned(),
            cargo_lock_hash: env!("SIM_BUILD_CARGO_LOCK").to_owned(),
            sources_hash: env!("SIM_BUILD_SOURCES").to_owned(),
        }
    }

    /// One line for a person: `commit 1a2b3c4d5e6f, Cargo.lock 0123..., sources 4567...`.
    pub fn describe(&self) -> String {
        format!(
            "commit {}, Cargo.lock {}, sources {}",
            self.commit, self.cargo_lock_hash, self.sources_hash
        )
    }
}

/// A shard as written in a summary (`index` of `count`, 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub index: u64,
    pub count: u64,
}

impl From<Shard> for ShardRecord {
    fn from(shard: Shard) -> ShardRecord {
        ShardRecord {
            index: shard.index,
            count: shard.count,
        }
    }
}

impl From<ShardRecord> for Shard {
    fn from(record: ShardRecord) -> Shard {
        Shard {
            index: record.index,
            count: record.count,
        }
    }
}

/// One broken property of a failing seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRecord {
    pub property: String,
    pub detail: String,
}

/// One failing seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub seed: u64,
    pub violations: Vec<ViolationRecord>,
    /// The command that replays this seed (`cargo run --release -p sim -- run ...`).
    pub replay: String,
}

/// What one scenario's sweep found on this shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub scenario: String,
    /// What follows `sim run` to reach this scenario (name, path, backend):
    /// summaries merge scenario by scenario on these words.
    pub replay_args: String,
    /// For a scenario given as a file: the hash of the file (see
    /// [`content_hash`]), since the same path may hold another scenario on
    /// another machine. Built-in scenarios are covered by the sources hash.
    #[serde(default)]
    pub file_hash: Option<String>,
    /// Seeds this shard ran of this scenario.
    pub seeds_run: u64,
    /// Runs made: one per seed, two with `--check-determinism`.
    pub runs: u64,
    /// With `--check-determinism`: seeds whose two runs matched.
    pub identical_traces: Option<u64>,
    pub games: u64,
    /// Number of winners -> games that had that many.
    pub winners_per_game: BTreeMap<usize, u64>,
    /// Rare event -> seeds of this shard that reached it.
    pub reached: BTreeMap<String, u64>,
    /// Events the whole sweep must reach at least once (judged by the
    /// merge when the sweep is sharded).
    pub must_reach: Vec<String>,
    pub failures: Vec<FailureRecord>,
    /// Wall-clock seconds of this scenario's sweep on this machine; shown,
    /// never judged.
    pub elapsed_s: f64,
    /// CPU seconds of the process meanwhile (all threads), where known.
    #[serde(default)]
    pub cpu_s: Option<f64>,
    pub games_per_second: f64,
}

impl ScenarioRecord {
    /// The record of `summary`, a sweep of `scenario` that took `elapsed_s`
    /// of wall time and `cpu_s` of CPU time.
    pub fn new(
        scenario: &dyn Runnable,
        summary: &SweepSummary,
        elapsed_s: f64,
        cpu_s: Option<f64>,
    ) -> ScenarioRecord {
        ScenarioRecord {
            scenario: summary.scenario.clone(),
            replay_args: scenario.replay_args(),
            file_hash: None,
            seeds_run: summary.seeds,
            runs: summary.runs,
            identical_traces: summary.identical_traces,
            games: summary.games,
            winners_per_game: summary.winners_histogram.clone(),
            reached: summary.reached.clone(),
            must_reach: scenario.must_reach(),
            failures: summary
                .failures
                .iter()
                .map(|failure| FailureRecord {
                    seed: failure.seed,
                    violations: failure
                        .violations
                        .iter()
                        .map(|violation| ViolationRecord {
                            property: violation.property.clone(),
                            detail: violation.detail.clone(),
                        })
                        .collect(),
                    replay: failure.replay.clone(),
                })
                .collect(),
            elapsed_s,
            cpu_s,
            games_per_second: if elapsed_s > 0.0 {
                summary.games as f64 / elapsed_s
            } else {
                0.0
            },
        }
    }
}

/// FNV-1a hash of `bytes` as 16 hex digits, as `sim/build.rs` hashes the
/// sources: enough to tell an edited file from the original.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The whole file `sim sweep --summary` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummaryFile {
    /// Always [`SUMMARY_FORMAT`].
    pub format: String,
    pub build: BuildInfo,
    /// `turmoil` or `fast`.
    pub backend: String,
    /// First seed of the whole sweep (`--start`).
    pub start: u64,
    /// Seeds of the whole sweep (`--seeds`), of which this shard ran its
    /// part.
    pub seeds: u64,
    /// This shard (`--shard i/n`); none when the sweep ran every seed.
    pub shard: Option<ShardRecord>,
    /// Worker threads the sweep ran on.
    pub jobs: usize,
    pub scenarios: Vec<ScenarioRecord>,
    /// Wall-clock seconds of the whole sweep.
    pub elapsed_s: f64,
}

impl SweepSummaryFile {
    /// An empty summary of a sweep run with `options` on `backend` by this
    /// binary; [`SweepSummaryFile::scenarios`] is filled as scenarios finish.
    pub fn new(options: &SweepOptions, backend: &str) -> SweepSummaryFile {
        SweepSummaryFile {
            format: SUMMARY_FORMAT.to_owned(),
            build: BuildInfo::current(),
            backend: backend.to_owned(),
            start: options.start,
            seeds: options.seeds,
            shard: options.shard.map(ShardRecord::from),
            jobs: options.jobs,
            scenarios: Vec::new(),
            elapsed_s: 0.0,
        }
    }

    /// The seed numbers this summary says it ran, in order: seed number k
    /// of the sweep (`start + k`) when k belongs to its shard.
    pub fn seed_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        let shard = self.shard.map(Shard::from);
        (0..self.seeds)
            .filter(move |position| shard.is_none_or(|shard| shard.contains(*position)))
            .map(move |position| self.start.saturating_add(position))
    }

    /// The seeds asked for, in words: `seeds 0..4 shard 2/4`.
    pub fn describe_seeds(&self) -> String {
        let end = self.start.saturating_add(self.seeds);
        match self.shard {
            Some(shard) => format!(
                "seeds {}..{end} shard {}/{}",
                self.start, shard.index, shard.count
            ),
            None => format!("seeds {}..{end}", self.start),
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a summary serializes");
        text.push('\n');
        text
    }

    /// Reads a summary; says what is wrong with a file that is not one.
    pub fn from_json(text: &str) -> Result<SweepSummaryFile, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        match value.get("format").and_then(|format| format.as_str()) {
            Some(SUMMARY_FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "a summary of format {other:?}; this sim reads {SUMMARY_FORMAT:?}"
                ))
            }
            None => {
                return Err(format!(
                    "not a sweep summary (no \"format\": {SUMMARY_FORMAT:?}); \
write one with `sim sweep ... --summary FILE`"
                ))
            }
        }
        serde_json::from_value(value).map_err(|error| format!("a broken summary: {error}"))
    }
}
