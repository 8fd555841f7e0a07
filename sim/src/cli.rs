//! `sim`: run, sweep, shrink and list the simulated scenarios.
//!
//! ```text
//! sim list
//! sim run tombola-simultaneous-claims --seed 7
//! sim run fixtures/scenarios/tombola-faults.toml --seed 3
//! sim sweep tombola-four-players-latency --seeds 2000 --jobs 2
//! sim sweep all --seeds 200 --shard 1/4 --summary shard-1.json
//! sim merge shard-*.json                    (judge the shards as one sweep)
//! sim shrink my-scenario.toml --seed 12 --save fixtures/seeds/my-bug.toml
//! sim run fixtures/seeds/my-bug.toml          (a recorded seed: its scenario and seed)
//! sim check my-scenario.toml
//! sim seeds
//! sim run tombola-faults --seed 3 --svg run.svg
//! sim bench
//! ```
//!
//! A binary of one's own that is the `sim` command:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     sim::cli::main()
//! }
//! ```
//!
//! Every failure it prints ends with a replay command that reaches the
//! scenario the way it was typed (a path stays a path). Output goes through
//! `out`, so a reader that stops early (`sim sweep all | head`) ends the
//! program quietly instead of a panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::engine::harness::{failure_report_for, replay_command, ReplayAs, RunOptions, Runnable};
use crate::report::bench::{cpu_seconds_since, process_cpu_seconds};
use crate::report::merge::{merge, MergeInput};
use crate::report::summary::{content_hash, ScenarioRecord, SweepSummaryFile};
use crate::report::sweep::{sweep, Shard, SweepOptions, SweepTotals};
use crate::scenario::registry;
use crate::scenario::seeds::{self, Expect, SeedEntry};

#[derive(Parser)]
#[command(
    name = "sim",
    about = "Deterministic simulation of the games: one seed decides everything, any failure replays",
    long_about = "Runs the games' real session code over a simulated network (turmoil). One u64 seed \
decides every latency, host order, board, draw and fault, so a run replays exactly. Scenarios are \
built in (see `sim list`) or TOML files (see docs/scenarios.md)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// scenario.
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
    /// A run's choices are which of several ready tasks runs next and each
    /// message's latency within the scenario's range; the default is the
    /// first ready task and the smallest latency. Boards, behaviours, join
    /// times, faults and the server's draws come from `--seed`, as in a
    /// seeded run. The search is depth first and runs every sequence of at
    /// most `--bound` deviations once, so when it ends by itself the space
    /// within the bound is exhausted. It stops at the first run that breaks
    /// a property, saves it as a recorded seed with its choices, and prints
    /// the command that replays it. Exit 0 when no property broke (the
    /// report says whether the space was exhausted), 1 on a violation.
    /// Not yet: pruning of states already seen.
    Explore {
        /// Scenario name, path to a scenario file, or path to a recorded
        /// seed.
        scenario: String,
        /// The most choices a run may make other than the default.
        #[arg(long, default_value_t = 1)]
        bound: usize,
        /// The seed of the data every run shares.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stop after this many runs (the report then says the space was
        /// not exhausted).
        #[arg(long, default_value_t = 100_000)]
        max_runs: u64,
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

/// The exit status of a program whose reader went away (128 + SIGPIPE),
/// what the shell shows for `cat big | head` too.
const EXIT_BROKEN_PIPE: u8 = 141;

/// Writes `text` to stdout. A closed stdout (`sim sweep all | head`) ends
/// the program at once and quietly with [`EXIT_BROKEN_PIPE`]: nobody is
/// left to read the rest.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            note(&format!("sim: cannot write to stdout: {error}\n"));
        }
        std::process::exit(i32::from(EXIT_BROKEN_PIPE));
    }
}

/// Writes `text` to stderr; a closed stderr loses the note, never panics.
fn note(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A scenario on the chosen backend, replayed by the words it was typed
/// with, and a recorded seed's own seed.
fn lookup(
    scenario: &str,
    backend: Option<&str>,
) -> Result<(Box<dyn Runnable>, Option<u64>), String> {
    let resolved = registry::resolve(scenario)?;
    let recorded_seed = resolved.recorded_seed;
    let backend = backend
        .or(resolved.recorded_backend.map(|backend| backend.word()))
        .unwrap_or("turmoil");
    let runnable = match backend {
        "turmoil" => resolved.runnable(),
        "fast" => Box::new(ReplayAs {
            replay_args: format!("{} --backend fast", resolved.replay_args),
            // `resolve` has checked the file.
            scenario: Box::new(crate::engine::fast::OnFastBackend::driven(
                resolved.file,
                resolved.recorded_choices,
            )),
        }),
        other => {
            return Err(format!(
                "no backend named {other:?}; backends: turmoil, fast"
            ))
        }
    };
    Ok((runnable, recorded_seed))
}

/// `sim shrink --backend fast`: the run's choices shrunk, printed as a
/// recorded seed (and saved with `--save`).
fn shrink_on_choices(
    file: crate::scenario::file::ScenarioFile,
    seed: u64,
    start: Option<Vec<crate::engine::fast::choice::Deviation>>,
    property: Option<String>,
    save: Option<PathBuf>,
) -> ExitCode {
    let shrunk = match crate::scenario::shrink_choices::shrink_choices(
        &file,
        seed,
        start,
        property.as_deref(),
        |step| note(&format!("shrink: {step}\n")),
    ) {
        Ok(shrunk) => shrunk,
        Err(message) => return fail(message),
    };
    let count = shrunk.deviations.len();
    out(&format!(
        "shrink: {count} choice{} differ from the default (from {}), in {} runs; seed {seed} still breaks {}\n",
        if count == 1 { "" } else { "s" },
        shrunk.from,
        shrunk.runs,
        shrunk.property
    ));
    out(&crate::scenario::shrink_choices::around_deviations(
        &shrunk,
        CHOICE_WINDOW_MS,
        CHOICE_LINES_MAX,
    ));
    let entry = SeedEntry {
        why: format!(
            "shrunk on choices from {} seed {seed}: {count} choice{} away from the default breaks {}",
            file.name(),
            if count == 1 { "" } else { "s" },
            shrunk.property
        ),
        seed,
        expect: Expect::Fail,
        property: Some(shrunk.property.clone()),
        backend: crate::scenario::seeds::RecordedBackend::Fast,
        choices: Some(shrunk.deviations.clone()),
        scenario: file,
    };
    match save {
        Some(path) => {
            if let Err(error) = std::fs::write(&path, entry.to_text()) {
                return fail(format!("{}: {error}", path.display()));
            }
            note(&format!(
                "shrink: saved {}\nreplay: cargo run --release -p sim -- run {}\n",
                path.display(),
                crate::engine::harness::shell_quote(&path.to_string_lossy())
            ));
        }
        None => {
            out(&entry.to_text());
            note("shrink: the recorded seed above, saved as FILE.toml, replays with: cargo run --release -p sim -- run FILE.toml\n");
        }
    }
    ExitCode::SUCCESS
}

/// Trace shown after each choice a shrunk run keeps: this long a window...
const CHOICE_WINDOW_MS: u64 = 20;
/// ...and at most this many lines.
const CHOICE_LINES_MAX: usize = 6;

/// Whether `path` is in the folder of recorded seeds that `make test`
/// replays (this checkout's fixtures/seeds).
fn replayed_by_make_test(path: &Path) -> bool {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/seeds");
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), folder.canonicalize()) {
        (Ok(parent), Ok(folder)) => parent == folder,
        _ => false,
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    note(&format!("sim: {message}\n"));
    ExitCode::from(2)
}

/// Parses the process's command line and runs the command, printing what
/// it found; the exit code is 0 on success, 1 on a broken property, 2 on
/// bad input. The `sim` binary is this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            let mut text = String::new();
            for scenario in registry::everything() {
                text.push_str(&format!("{:<36} {}\n", scenario.name(), scenario.summary()));
            }
            out(&text);
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            svg,
            json,
            backend,
        } => {
            let (scenario, recorded_seed) = match lookup(&scenario, backend.as_deref()) {
                Ok(found) => found,
                Err(message) => return fail(message),
            };
            let seed = seed.or(recorded_seed).unwrap_or(0);
            // Pictures need every line that crossed the wire.
            let options = RunOptions {
                keep_wire: svg.is_some() || json,
            };
            let outcome = scenario.run(seed, &options);
            if json {
                out(&crate::report::picture::json(&outcome));
            } else {
                out(&outcome.report());
            }
            if let Some(path) = &svg {
                let title = format!("{} seed {seed}", scenario.name());
                if let Err(error) =
                    std::fs::write(path, crate::report::picture::svg(&outcome, &title))
                {
                    return fail(format!("cannot write {}: {error}", path.display()));
                }
                note(&format!(
                    "sim: wrote the picture of the run to {}\n",
                    path.display()
                ));
            }
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                note(&failure_report_for(scenario.as_ref(), seed, &outcome));
                ExitCode::FAILURE
            }
        }
        Command::Sweep {
            scenario,
            seeds,
            start,
            jobs,
            shard,
            check_determinism,
            quiet,
            backend,
            summary: summary_path,
        } => {
            let selected: Vec<Box<dyn Runnable>> = if scenario == "all" && backend == "turmoil" {
                registry::everything()
            } else if scenario == "all" {
                let mut selected = Vec::new();
                for runnable in registry::everything() {
                    match lookup(runnable.name(), Some(&backend)) {
                        Ok((scenario, _)) => selected.push(scenario),
                        Err(message) => return fail(message),
                    }
                }
                selected
            } else {
                match lookup(&scenario, Some(&backend)) {
                    Ok((scenario, _)) => vec![scenario],
                    Err(message) => return fail(message),
                }
            };
            if let Some(shard) = shard.filter(|shard| shard.index > seeds) {
                // Part i of n holds seed numbers i-1, i-1+n, ...: none here.
                return fail(format!(
                    "part {}/{} of {seeds} seeds holds no seed; use --seeds {} or more",
                    shard.index, shard.count, shard.count
                ));
            }
            let jobs = if jobs == 0 {
                std::thread::available_parallelism().map_or(1, usize::from)
            } else {
                jobs
            };
            let options = SweepOptions {
                start,
                seeds,
                jobs,
                progress: !quiet,
                check_determinism,
                shard,
            };
            let sweep_started = Instant::now();
            let mut totals = SweepTotals::default();
            let mut summary_file = SweepSummaryFile::new(&options, &backend);
            // A scenario file can differ between machines at the same path.
            let scenario_file_hash = (scenario != "all" && registry::is_path(&scenario))
                .then(|| std::fs::read(&scenario).ok())
                .flatten()
                .map(|bytes| content_hash(&bytes));
            for scenario in &selected {
                let cpu_before = process_cpu_seconds();
                let started = Instant::now();
                let mut summary = sweep(scenario.as_ref(), &options);
                let elapsed_s = started.elapsed().as_secs_f64();
                let cpu_s = cpu_seconds_since(cpu_before);
                if shard.is_some() && summary_path.is_some() {
                    summary.defer_must_reach_to_merge();
                }
                out(&summary.render_timed(elapsed_s, cpu_s));
                totals.add(&summary);
                let mut record = ScenarioRecord::new(scenario.as_ref(), &summary, elapsed_s, cpu_s);
                record.file_hash = scenario_file_hash.clone();
                summary_file.scenarios.push(record);
            }
            summary_file.elapsed_s = sweep_started.elapsed().as_secs_f64();
            out(&totals.render(summary_file.elapsed_s));
            if let Some(path) = &summary_path {
                if let Err(error) = std::fs::write(path, summary_file.to_json()) {
                    return fail(format!("cannot write {}: {error}", path.display()));
                }
                note(&format!(
                    "sim: wrote the sweep summary to {}\n",
                    path.display()
                ));
            }
            if totals.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Merge { summaries } => {
            let mut inputs = Vec::new();
            for path in &summaries {
                let summary = std::fs::read_to_string(path)
                    .map_err(|error| error.to_string())
                    .and_then(|text| SweepSummaryFile::from_json(&text));
                match summary {
                    Ok(summary) => inputs.push(MergeInput {
                        name: path.display().to_string(),
                        summary,
                    }),
                    Err(message) => return fail(format!("{}: {message}", path.display())),
                }
            }
            let report = merge(&inputs);
            out(&report.render());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Shrink {
            scenario,
            seed,
            property,
            save,
            backend,
        } => {
            let resolved = match registry::resolve(&scenario) {
                Ok(resolved) => resolved,
                Err(message) => return fail(message),
            };
            let Some(seed) = seed.or(resolved.recorded_seed) else {
                return fail(format!(
                    "{scenario} is not a recorded seed: say which seed fails with --seed"
                ));
            };
            let property = property.or(resolved.recorded_property);
            let backend = backend
                .or(resolved
                    .recorded_backend
                    .map(|backend| backend.word().to_owned()))
                .unwrap_or_else(|| "turmoil".to_owned());
            match backend.as_str() {
                "turmoil" => {}
                "fast" => {
                    return shrink_on_choices(
                        resolved.file,
                        seed,
                        resolved.recorded_choices,
                        property,
                        save,
                    )
                }
                other => {
                    return fail(format!(
                        "no backend named {other:?}; backends: turmoil, fast"
                    ))
                }
            }
            let file = resolved.file;
            let shrunk = match crate::scenario::shrink::shrink_toward(
                &file,
                seed,
                property.as_deref(),
                |step| note(&format!("shrink: {step}\n")),
            ) {
                Ok(shrunk) => shrunk,
                Err(message) => return fail(message),
            };
            note(&format!(
                "shrink: {} steps in {} runs; seed {} still breaks {}\n",
                shrunk.steps.len(),
                shrunk.runs,
                seed,
                shrunk.property
            ));
            let entry = SeedEntry {
                why: format!(
                    "shrunk from {} seed {seed}: breaks {}",
                    file.name(),
                    shrunk.property
                ),
                seed,
                expect: Expect::Fail,
                property: Some(shrunk.property.clone()),
                // Shrinking runs on turmoil, so the seed replays there.
                backend: crate::scenario::seeds::RecordedBackend::Turmoil,
                choices: None,
                scenario: shrunk.file,
            };
            out(&toml::to_string(&entry.scenario).expect("a scenario serializes"));
            match save {
                Some(path) => {
                    if let Err(error) = std::fs::write(&path, entry.to_text()) {
                        return fail(format!("{}: {error}", path.display()));
                    }
                    let replayed_by = if replayed_by_make_test(&path) {
                        "`sim seeds` and `make test` replay it"
                    } else {
                        "outside fixtures/seeds, so `make test` does not replay it"
                    };
                    note(&format!(
                        "shrink: saved {} ({replayed_by})\nreplay: {}\n",
                        path.display(),
                        replay_command(&path.to_string_lossy(), seed)
                    ));
                }
                None => note(&format!(
                    "shrink: the scenario above, saved as FILE.toml, replays with: {}\n",
                    replay_command("FILE.toml", seed)
                )),
            }
            ExitCode::SUCCESS
        }
        Command::Explore {
            scenario,
            bound,
            seed,
            max_runs,
            jobs,
            save,
            quiet,
        } => {
            let resolved = match registry::resolve(&scenario) {
                Ok(resolved) => resolved,
                Err(message) => return fail(message),
            };
            let file = resolved.file;
            let options = crate::report::explore::ExploreOptions {
                seed,
                bound,
                max_runs,
                jobs,
                progress: !quiet,
            };
            let explored = crate::report::explore::explore(&file, &options);
            out(&crate::report::explore::render(
                file.name(),
                &options,
                &explored,
            ));
            let Some((deviations, outcome)) = explored.violation else {
                return ExitCode::SUCCESS;
            };
            let property = outcome
                .violations
                .first()
                .map(|violation| violation.property.clone())
                .unwrap_or_default();
            let path = save.unwrap_or_else(|| {
                PathBuf::from(format!("explore-{}-seed{seed}.toml", file.name()))
            });
            let entry = SeedEntry {
                why: format!(
                    "sim explore {} --seed {seed} --bound {bound}: a run {} choice{} away from the default breaks {property}",
                    file.name(),
                    deviations.len(),
                    if deviations.len() == 1 { "" } else { "s" }
                ),
                seed,
                expect: Expect::Fail,
                property: Some(property),
                backend: crate::scenario::seeds::RecordedBackend::Fast,
                choices: Some(deviations.clone()),
                scenario: file.clone(),
            };
            if let Err(error) = std::fs::write(&path, entry.to_text()) {
                return fail(format!("{}: {error}", path.display()));
            }
            let replay = format!(
                "cargo run --release -p sim -- run {}",
                crate::engine::harness::shell_quote(&path.to_string_lossy())
            );
            out(&crate::engine::harness::failure_report_with(
                file.name(),
                &replay,
                seed,
                &outcome,
            ));
            let differ = if deviations.is_empty() {
                "no choice differs from the default (the default run breaks it)".to_owned()
            } else {
                format!(
                    "{} choice{} differ from the default: {}",
                    deviations.len(),
                    if deviations.len() == 1 { "" } else { "s" },
                    deviations
                        .iter()
                        .map(|(position, value)| format!("#{position} = {value}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            out(&format!("  {differ}\n  saved {}\n", path.display()));
            ExitCode::from(1)
        }
        Command::Bench {
            seeds,
            turmoil_seeds,
            jobs,
            scenarios,
            backends,
        } => {
            let options = crate::report::bench::BenchOptions {
                seeds,
                turmoil_seeds,
                jobs,
                scenarios,
                backends,
            };
            match crate::report::bench::bench(&options) {
                Ok(table) => {
                    out(&table);
                    ExitCode::SUCCESS
                }
                Err(message) => fail(message),
            }
        }
        Command::Check { scenario } => match registry::resolve(&scenario) {
            Ok(resolved) => {
                out(&format!(
                    "{scenario}: ok ({} clients, {} faults)\n",
                    resolved.file.client_names().len(),
                    resolved.file.faults.len()
                ));
                ExitCode::SUCCESS
            }
            Err(message) => fail(message),
        },
        Command::Seeds { dir } => {
            let paths = match seeds::entries(&dir) {
                Ok(paths) => paths,
                Err(message) => return fail(message),
            };
            let mut failed = 0;
            for path in &paths {
                match SeedEntry::load(path) {
                    Ok(entry) => match entry.replay() {
                        Ok(_) => out(&format!(
                            "ok   {} (seed {}, expect {})\n",
                            path.display(),
                            entry.seed,
                            entry.expect.word()
                        )),
                        Err(message) => {
                            failed += 1;
                            out(&format!(
                                "FAIL {}: {message}\n  replay: {}\n",
                                path.display(),
                                replay_command(&path.to_string_lossy(), entry.seed)
                            ));
                        }
                    },
                    Err(message) => {
                        failed += 1;
                        out(&format!("FAIL {message}\n"));
                    }
                }
            }
            out(&format!(
                "recorded seeds: {} passed, {failed} failed\n",
                paths.len() - failed
            ));
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
