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
//! sim explore tombola-simultaneous-claims --bound 1   (every run 1 choice from the default)
//! sim hunt chat-small-room --budget 20s               (coverage-guided, beside random seeds)
//! sim shrink fixtures/seeds/my-bug.toml --backend fast   (shrink a fast run's choices)
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
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::engine::harness::{failure_report_for, replay_command, ReplayAs, RunOptions, Runnable};
use crate::report::bench::{cpu_seconds_since, process_cpu_seconds};
use crate::report::merge::{merge, MergeInput};
use crate::report::summary::{content_hash, ScenarioRecord, SweepSummaryFile};
use crate::report::sweep::{sweep, SweepOptions, SweepTotals};
use crate::scenario::registry;
use crate::scenario::seeds::{self, Expect, SeedEntry};
use args::{Cli, Command};

mod args;
mod choices;

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
        "turmoil" if resolved.recorded_choices.is_some() => {
            return Err(format!(
                "{scenario}: its choices replay on the fast backend only (drop --backend turmoil)"
            ))
        }
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
                ..RunOptions::default()
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
            let jobs = crate::report::jobs_or_all_cores(jobs);
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
                    return choices::shrink_on_choices(
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
            budget,
            jobs,
            save,
            quiet,
            no_prune,
            no_symmetry,
            check_every_step,
        } => choices::explore(
            &scenario,
            seed,
            crate::report::explore::ExploreOptions {
                max_runs,
                budget,
                jobs,
                progress: !quiet,
                prune: !no_prune,
                symmetry: !no_symmetry,
                safety_checks: safety_checks(check_every_step),
                // The seed is the scenario's, set once it is looked up.
                ..crate::report::explore::ExploreOptions::new(0, bound)
            },
            save,
        ),
        Command::Hunt {
            scenario,
            budget,
            max_runs,
            seed,
            jobs,
            no_random,
            save,
            quiet,
            check_every_step,
        } => choices::hunt(
            &scenario,
            seed,
            crate::report::hunt::HuntOptions {
                seed: 0,
                budget,
                max_runs,
                jobs,
                compare: !no_random,
                progress: !quiet,
                safety_checks: safety_checks(check_every_step),
            },
            save,
        ),
        Command::Bench {
            seeds,
            turmoil_seeds,
            jobs,
            scenarios,
            backends,
            repeat,
        } => {
            let options = crate::report::bench::BenchOptions {
                seeds,
                turmoil_seeds,
                jobs,
                scenarios,
                backends,
                repeat: usize::from(repeat),
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

/// When a search's runs check their safety (`--check-every-step`).
fn safety_checks(every_step: bool) -> crate::engine::harness::SafetyChecks {
    if every_step {
        crate::engine::harness::SafetyChecks::EveryStep
    } else {
        crate::engine::harness::SafetyChecks::AsTraceDoubles
    }
}
