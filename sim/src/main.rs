//! `sim`: run, sweep, shrink and list the simulated scenarios.
//!
//! ```text
//! sim list
//! sim run tombola-simultaneous-claims --seed 7
//! sim run fixtures/scenarios/tombola-faults.toml --seed 3
//! sim sweep tombola-four-players-latency --seeds 2000 --jobs 2
//! sim sweep all --seeds 200 --shard 1/4
//! sim shrink my-scenario.toml --seed 12 --save fixtures/seeds/my-bug.toml
//! sim seeds
//! sim run tombola-faults --seed 3 --svg run.svg
//! sim bench
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use sim::file::ScenarioFile;
use sim::harness::{failure_report, RunOptions, Runnable};
use sim::scenarios;
use sim::seeds::{self, Expect, SeedEntry};
use sim::sweep::{sweep, Shard, SweepOptions};

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
        /// Scenario name (see `sim list`) or path to a scenario file.
        scenario: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also draw the run as an SVG sequence diagram into this file
        /// (open it in a browser).
        #[arg(long, value_name = "PATH")]
        svg: Option<PathBuf>,
        /// Print the run as JSON (trace, wire events, messages, verdict)
        /// instead of the text report.
        #[arg(long)]
        json: bool,
        /// `turmoil` (every scenario) or `fast` (event-driven, lock-step
        /// scenarios without faults).
        #[arg(long, default_value = "turmoil")]
        backend: String,
    },
    /// Run many seeds of a scenario (or `all`) and summarize. Exit 1 on any
    /// violation or on a required rare event that no seed reached.
    Sweep {
        /// Scenario name, path to a scenario file, or `all`.
        scenario: String,
        /// How many seeds.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Worker threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Run only part `i` of `n` of the seeds (`--shard 2/4`), so one
        /// sweep splits over several machines with no overlap.
        #[arg(long)]
        shard: Option<Shard>,
        /// Run every seed twice and require identical traces.
        #[arg(long)]
        check_determinism: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// `turmoil` or `fast` (see `sim run --help`).
        #[arg(long, default_value = "turmoil")]
        backend: String,
    },
    /// Reduce a failing scenario and seed to a smaller scenario that still
    /// breaks the same property; print it as a scenario file.
    Shrink {
        /// Scenario name (file-based built-ins) or path to a scenario file.
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Also write it as a recorded seed (e.g. fixtures/seeds/NAME.toml)
        /// that `make test` replays.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Measure games per second of the standard lock-step scenarios on
    /// turmoil (a host per session, and all players on one host) and on the
    /// fast backend, on one core and on `--jobs` cores.
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
        /// Only this scenario (repeatable); default: the three standard ones.
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Only this backend (repeatable): turmoil, turmoil-shared, fast.
        #[arg(long = "backend")]
        backends: Vec<sim::bench::Backend>,
    },
    /// Check a scenario file without running it.
    Check { path: PathBuf },
    /// Replay every recorded seed in a folder and check each does what it
    /// says (`expect = "pass"` or `"fail"`).
    Seeds {
        #[arg(default_value = "fixtures/seeds")]
        dir: PathBuf,
    },
}

/// A scenario on the chosen backend.
fn lookup(scenario: &str, backend: &str) -> Result<Box<dyn Runnable>, String> {
    match backend {
        "turmoil" => scenarios::lookup(scenario),
        "fast" => sim::fast::OnFastBackend::lookup(scenario)
            .map(|runnable| Box::new(runnable) as Box<dyn Runnable>),
        other => Err(format!(
            "no backend named {other:?}; backends: turmoil, fast"
        )),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sim: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for scenario in scenarios::everything() {
                println!("{:<36} {}", scenario.name(), scenario.summary());
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            svg,
            json,
            backend,
        } => {
            let scenario = match lookup(&scenario, &backend) {
                Ok(scenario) => scenario,
                Err(message) => return fail(message),
            };
            // Pictures need every line that crossed the wire.
            let options = RunOptions {
                keep_wire: svg.is_some() || json,
            };
            let outcome = scenario.run(seed, &options);
            if json {
                print!("{}", sim::picture::json(&outcome));
            } else {
                print!("{}", outcome.report());
            }
            if let Some(path) = &svg {
                let title = format!("{} seed {seed}", scenario.name());
                if let Err(error) = std::fs::write(path, sim::picture::svg(&outcome, &title)) {
                    return fail(format!("cannot write {}: {error}", path.display()));
                }
                eprintln!("sim: wrote the picture of the run to {}", path.display());
            }
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                eprint!("{}", failure_report(scenario.name(), seed, &outcome));
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
        } => {
            let selected: Vec<Box<dyn Runnable>> = if scenario == "all" && backend == "turmoil" {
                scenarios::everything()
            } else {
                match lookup(&scenario, &backend) {
                    Ok(scenario) => vec![scenario],
                    Err(message) => return fail(message),
                }
            };
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
            let mut passed = true;
            for scenario in &selected {
                let started = Instant::now();
                let summary = sweep(scenario.as_ref(), &options);
                print!("{}", summary.render(started.elapsed().as_secs_f64()));
                passed &= summary.passed();
            }
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Shrink {
            scenario,
            seed,
            save,
        } => {
            let file = if std::path::Path::new(&scenario).exists() {
                ScenarioFile::load(std::path::Path::new(&scenario))
            } else {
                sim::file::builtin(&scenario).ok_or_else(|| {
                    format!("no file-based scenario named {scenario:?} and no such file")
                })
            };
            let file = match file {
                Ok(file) => file,
                Err(message) => return fail(message),
            };
            let shrunk = match sim::shrink::shrink(&file, seed, |step| eprintln!("shrink: {step}"))
            {
                Ok(shrunk) => shrunk,
                Err(message) => return fail(message),
            };
            eprintln!(
                "shrink: {} steps in {} runs; seed {} still breaks {}",
                shrunk.steps.len(),
                shrunk.runs,
                seed,
                shrunk.property
            );
            let entry = SeedEntry {
                why: format!(
                    "shrunk from {} seed {seed}: breaks {}",
                    file.name(),
                    shrunk.property
                ),
                seed,
                expect: Expect::Fail,
                property: Some(shrunk.property.clone()),
                scenario: shrunk.file,
            };
            print!(
                "{}",
                toml::to_string(&entry.scenario).expect("a scenario serializes")
            );
            if let Some(path) = save {
                if let Err(error) = std::fs::write(&path, entry.to_text()) {
                    return fail(format!("{}: {error}", path.display()));
                }
                eprintln!(
                    "shrink: saved {} (replayed by `sim seeds` and make test)",
                    path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            seeds,
            turmoil_seeds,
            jobs,
            scenarios,
            backends,
        } => {
            let options = sim::bench::BenchOptions {
                seeds,
                turmoil_seeds,
                jobs,
                scenarios,
                backends,
            };
            match sim::bench::bench(&options) {
                Ok(table) => {
                    print!("{table}");
                    ExitCode::SUCCESS
                }
                Err(message) => fail(message),
            }
        }
        Command::Check { path } => {
            match ScenarioFile::load(&path).and_then(|file| file.check().map(|()| file)) {
                Ok(file) => {
                    println!(
                        "{}: ok ({} clients, {} faults)",
                        path.display(),
                        file.client_names().len(),
                        file.faults.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(message) => fail(message),
            }
        }
        Command::Seeds { dir } => {
            let paths = match seeds::entries(&dir) {
                Ok(paths) => paths,
                Err(message) => return fail(message),
            };
            let mut failed = 0;
            for path in &paths {
                match SeedEntry::load(path).and_then(|entry| entry.replay().map(|_| entry)) {
                    Ok(entry) => println!(
                        "ok   {} (seed {}, expect {:?})",
                        path.display(),
                        entry.seed,
                        entry.expect
                    ),
                    Err(message) => {
                        failed += 1;
                        println!("FAIL {}: {message}", path.display());
                    }
                }
            }
            println!("{} passed, {failed} failed", paths.len() - failed);
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
