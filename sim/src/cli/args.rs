//! What a person types: the `sim` command line, its subcommands and
//! their flags (clap), with the help each one prints.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::sweep::Shard;

#[derive(Parser)]
#[command(
    name = "sim",
    about = "Deterministic simulation of the games: one seed decides everything, any failure replays",
    long_about = "Runs the games' real session code over a simulated network (turmoil, or the fast \
backend with `--backend fast`). One u64 seed \
decides every latency, host order, board, draw and fault, so a run replays exactly. Scenarios are \
built in (see `sim list`) or TOML files (see docs/scenarios.md)."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Print the built-in scenarios, one per line: name, then what it does.
    List,
    /// Run one seed of a scenario; print its trace and the oracles' verdict.
    /// Exit 1 if a property broke. The output depends only on the scenario
    /// and the seed, so two runs can be diffed.
    Run {
        /// Scenario name (see `sim list`), path to a scenario file, or path
        /// to a recorded seed (fixtures/seeds/*.toml).
        scenario: String,
        /// The seed (default: a recorded seed's own seed, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Also draw the run as an SVG sequence diagram into this file
        /// (open it in a browser).
        #[arg(long, value_name = "PATH")]
        svg: Option<PathBuf>,
        /// Print the run as JSON (trace, wire events, messages, verdict)
        /// instead of the text report.
        #[arg(long)]
        json: bool,
        /// `turmoil` (simulated TCP stepped tick by tick) or `fast`
        /// (event-driven in-memory pipes, idle time skipped); both run
        /// every scenario, faults included. Default: turmoil, or the
        /// backend a recorded seed was found on.
        #[arg(long)]
        backend: Option<String>,
    },
    /// Run many seeds of a scenario (or `all`) and summarize; end with a
    /// total and the list of failing seeds with their replay commands.
    /// Exit 1 on any violation or on a required rare event that no seed
    /// reached.
    ///
    /// Split over machines: each runs `--shard i/n --summary shard-i.json`
    /// and `sim merge shard-*.json` judges them together. A shard with
    /// `--summary` leaves the required rare events to the merge (another
    /// shard may reach them); it still fails on its own violations.
    Sweep {
        /// Scenario name, path to a scenario file or recorded seed, or
        /// `all` (every built-in scenario).
        scenario: String,
        /// How many seeds (at least 1).
        #[arg(long, default_value_t = 100, value_parser = seed_count)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Worker threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Run only part `i` of `n` of the seeds (`--shard 2/4`: seed
        /// numbers 1, 5, 9, ... of the sweep), so one sweep splits over
        /// several machines with no overlap. Give each part `--summary` and
        /// judge them together with `sim merge`.
        #[arg(long)]
        shard: Option<Shard>,
        /// Also write a machine-readable summary to this file (JSON): the
        /// seeds run, violations with seeds and replay commands, rare-event
        /// counts, required events, games, throughput, and the code it ran
        /// (git commit, Cargo.lock and sources hashes). `sim merge` reads it.
        #[arg(long, value_name = "PATH")]
        summary: Option<PathBuf>,
        /// Run every seed twice and require identical traces (the total
        /// says how many matched).
        #[arg(long)]
        check_determinism: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// `turmoil` or `fast` (see `sim run --help`).
        #[arg(long, default_value = "turmoil")]
        backend: String,
    },
    /// Judge the summaries of a sweep split over machines as one sweep.
    ///
    /// Each machine runs `sim sweep ... --shard i/n --summary
    /// shard-i.json`; `sim merge shard-*.json` then judges them. Exit 1, with the
    /// reason, on a violation in any shard (listed with its replay command),
    /// a required rare event no shard reached, a gap or an overlap in the
    /// seeds (a missing shard, one given twice), or shards from different
    /// code (git commit, Cargo.lock or sources), scenarios or backends.
    /// Exit 2 on a file that cannot be read as a summary.
    Merge {
        /// The summaries, e.g. `shard-*.json`.
        #[arg(required = true, value_name = "SUMMARY")]
        summaries: Vec<PathBuf>,
    },
    /// Reduce a failing scenario and seed to a smaller scenario that still
    /// breaks the same property; print it as a scenario file. The result
    /// drops `must_reach`: it reproduces one seed, it is not a coverage
    /// scenario. With `--backend fast`, shrink the run's choices instead.
    Shrink {
        /// Scenario name, path to a scenario file, or path to a recorded
        /// seed.
        scenario: String,
        /// The failing seed (default: a recorded seed's own seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Shrink toward this broken property (default: a recorded seed's
        /// property, else the first property the run breaks).
        #[arg(long)]
        property: Option<String>,
        /// Also write it as a recorded seed file (`sim run PATH` replays
        /// it; under fixtures/seeds/ `make test` replays it too).
        #[arg(long, value_name = "PATH")]
        save: Option<PathBuf>,
        /// `turmoil` (default; or a recorded seed's own backend): shrink
        /// the scenario. `fast`: shrink the run's choices instead (fewer
        /// choices away from the default, smaller values), starting from
        /// a recorded seed's `choices` or else from the seeded run's; the
        /// result lists each choice left with the trace lines after it.
        #[arg(long)]
        backend: Option<String>,
    },
    /// Search every run of a scenario, on the fast backend from one seed,
    /// whose choices differ from the default in at most `--bound` places.
    ///
    /// A run's choices are which of several ready tasks runs next, each
    /// message's latency within the scenario's range, and whether each
    /// fault happens and how late it fires (up to a round trip), which of
    /// 16 streams a tombola server draws from, and which of 16 plans each
    /// bot follows (the stream of its board, join time and random
    /// decisions); the default is the first ready task, the smallest
    /// latency, no fault and the seed's own streams. The faults a swarm run
    /// draws come from `--seed`, as in a seeded run. The search is depth
    /// first and runs every sequence of at
    /// most `--bound` deviations once, so when it ends by itself the space
    /// within the bound is exhausted. It stops at the first run that breaks
    /// a property, saves it as a recorded seed with its choices, and prints
    /// the command that replays it. Exit 0 when no property broke (the
    /// report says whether the space was exhausted), 1 on a violation.
    /// A run that comes, after its last deviation, to a state a run with as
    /// many deviations left has passed already (the same lines written by
    /// every session at the same times, the same bytes in flight and
    /// timers pending) gets no further deviations after that point: their
    /// runs were searched from the earlier one. Players the game marks as
    /// interchangeable (the same but for their names: a fixed board, no
    /// join spread, nothing random) count as a multiset, so a state and
    /// the same state with two of them swapped are one. Each run's safety
    /// properties are judged as it goes (each time its trace has doubled),
    /// and a run that breaks one is stopped there; the replay runs it
    /// whole.
    Explore {
        /// Scenario name, path to a scenario file, or path to a recorded
        /// seed.
        scenario: String,
        /// The most choices a run may make other than the default.
        #[arg(long, default_value_t = 1)]
        bound: usize,
        /// The seed of the data every run shares (default: a recorded
        /// seed's own seed, else 0; a recorded seed's choices are not used:
        /// the search starts from the default run).
        #[arg(long)]
        seed: Option<u64>,
        /// Stop after this many runs (the report then says the space was
        /// not exhausted).
        #[arg(long, default_value_t = 100_000)]
        max_runs: u64,
        /// Stop after this much wall time as well (`60s`, `2m`, `500ms`, or
        /// seconds; default: no limit). Runs within `--max-runs` are the
        /// same on every machine; a time limit is not.
        #[arg(long, value_parser = parse_duration)]
        budget: Option<std::time::Duration>,
        /// Worker threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Where to save a violating run as a recorded seed (default:
        /// `explore-<scenario>-seed<N>.toml` in the current folder).
        #[arg(long, value_name = "PATH")]
        save: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Search every run within the bound, even the continuations of
        /// states already searched (slower; for comparing).
        #[arg(long)]
        no_prune: bool,
        /// Prune states already searched, but take a state and the same
        /// state with interchangeable players swapped (players the game
        /// marks as the same but for their names: a fixed board, nothing
        /// random) as two (slower; for comparing).
        #[arg(long)]
        no_symmetry: bool,
        /// Judge each run's safety properties after every step of the
        /// simulation, not only each time its trace has doubled: a failing
        /// run stops at the very step that broke a property (the first
        /// broken line is exact either way), at a cost quadratic in the
        /// trace (4 to 10 times slower on small scenarios).
        #[arg(long)]
        check_every_step: bool,
    },
    /// Coverage-guided search over a scenario's choices on the fast
    /// backend, beside a random sweep of the same budget.
    ///
    /// The hunt keeps the runs that covered something new (a rare event, a
    /// step of a state machine, lines of two hosts at one moment, a new
    /// count of a kind of line) and makes its next runs by mutating their
    /// choices (which ready task runs next, each latency, whether and how
    /// late each fault fires, the server's draws) or from fresh
    /// seeds. Then seeds in order run for the same budget, and a table
    /// shows the features each covered over time and the run at which each
    /// reached every rare event. It stops at the first run that breaks a
    /// property, saves it as a recorded seed with its choices, and prints
    /// the command that replays it. Exit 0 when no property broke, 1 on a
    /// violation. The hunt's runs are judged as they go, as `sim explore`'s
    /// are; the random sweep's runs are judged whole, as `sim sweep`'s.
    Hunt {
        /// Scenario name, path to a scenario file, or path to a recorded
        /// seed.
        scenario: String,
        /// Wall time for the hunt, and again for the random sweep: `60s`,
        /// `2m`, `500ms`, or seconds.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        budget: std::time::Duration,
        /// Stop each search after this many runs as well (0: only the
        /// budget); with a limit the result is the same on every machine.
        #[arg(long, default_value_t = 0)]
        max_runs: u64,
        /// The first seed, and the seed of the hunt's own decisions
        /// (default: a recorded seed's own seed, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Skip the random sweep beside the hunt.
        #[arg(long)]
        no_random: bool,
        /// Where to save the hunt's violating run as a recorded seed
        /// (default: `hunt-<scenario>-seed<N>.toml` in the current folder;
        /// the random sweep's goes beside it, `<name>-random.toml`, or
        /// `random-<scenario>-seed<N>.toml`).
        #[arg(long, value_name = "PATH")]
        save: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Judge each run's safety properties after every step of the
        /// simulation, not only each time its trace has doubled: a failing
        /// run stops at the very step that broke a property (the first
        /// broken line is exact either way), at a cost quadratic in the
        /// trace (4 to 10 times slower on small scenarios).
        #[arg(long)]
        check_every_step: bool,
    },
    /// Measure games per second of the standard scenarios of all three
    /// games (fault-free and with faults) on turmoil (a host per session;
    /// for lock-step tombola without faults also all players on one host)
    /// and on the fast backend, on one core and on `--jobs` cores.
    Bench {
        /// Seeds per measurement on the fast backend.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// Seeds per measurement on the turmoil backends (much slower).
        #[arg(long, default_value_t = 20)]
        turmoil_seeds: u64,
        /// Worker threads of the parallel rows (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Only this scenario (repeatable): a built-in name or a scenario
        /// file's path (the full lock-step room is
        /// fixtures/bench/tombola-full-room.toml); default: the standard
        /// ones (two tombola, live and chat scenarios each without faults,
        /// and each game's fault scenario; see `sim list`).
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Only this backend (repeatable): turmoil, turmoil-shared, fast.
        #[arg(long = "backend")]
        backends: Vec<crate::report::bench::Backend>,
        /// Measure each row this many times, in turns with the other job
        /// count, and show the median measurement with the range of
        /// games/s. On a shared machine one measurement can be a third
        /// off: compare medians.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        repeat: u16,
    },
    /// Check a scenario without running it: parse it and check its server
    /// settings, behaviours and faults.
    Check {
        /// Scenario name, path to a scenario file, or path to a recorded
        /// seed.
        scenario: String,
    },
    /// Replay every recorded seed in a folder and check each does what it
    /// says (`expect = "pass"` or `"fail"`).
    Seeds {
        /// The folder of recorded seeds.
        #[arg(default_value = "fixtures/seeds")]
        dir: PathBuf,
    },
}

/// `--seeds` of a sweep: a sweep of no seeds would pass while testing
/// nothing, so it is refused.
fn seed_count(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("a sweep needs at least one seed".to_owned()),
        Ok(count) => Ok(count),
        Err(error) => Err(format!("{text:?} is not a number of seeds: {error}")),
    }
}

/// A duration as a person writes it: `60s`, `2m`, `500ms`, or a number of
/// seconds.
pub(super) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit_ms) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60_000)
    } else {
        (text, 1_000)
    };
    let count: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write 60s, 2m, 500ms or seconds"))?;
    if count == 0 {
        return Err("a budget of zero runs nothing".to_owned());
    }
    Ok(std::time::Duration::from_millis(
        count.saturating_mul(unit_ms),
    ))
}
