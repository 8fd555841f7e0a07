//! `sim`: run, sweep and list the built-in simulated scenarios.
//!
//! ```text
//! sim list
//! sim run tombola-simultaneous-claims --seed 7
//! sim sweep tombola-four-players-latency --seeds 200
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use sim::harness::{failure_report, RunOptions, Scenario};
use sim::scenarios;
use sim::sweep::{sweep, SweepOptions};

#[derive(Parser)]
#[command(
    name = "sim",
    about = "Deterministic simulation of the games: one seed decides everything, any failure replays"
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
        /// Scenario name (see `sim list`).
        scenario: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run many seeds of a scenario (or `all`) and summarize. Exit 1 on any
    /// violation or on a required rare event that no seed reached.
    Sweep {
        /// Scenario name, or `all` for every built-in scenario.
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
        /// Run every seed twice and require identical traces.
        #[arg(long)]
        check_determinism: bool,
    },
}

fn find(name: &str) -> Result<Scenario, String> {
    scenarios::find(name).ok_or_else(|| {
        let names: Vec<&str> = scenarios::all()
            .iter()
            .map(|scenario| scenario.name)
            .collect();
        format!(
            "no scenario named {name:?}; known scenarios: {}",
            names.join(", ")
        )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for scenario in scenarios::all() {
                println!("{:<32} {}", scenario.name, scenario.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Run { scenario, seed } => {
            let scenario = match find(&scenario) {
                Ok(scenario) => scenario,
                Err(message) => {
                    eprintln!("sim: {message}");
                    return ExitCode::from(2);
                }
            };
            let outcome = (scenario.run)(seed, &RunOptions::default());
            print!("{}", outcome.report());
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                eprint!("{}", failure_report(scenario.name, seed, &outcome));
                ExitCode::FAILURE
            }
        }
        Command::Sweep {
            scenario,
            seeds,
            start,
            jobs,
            check_determinism,
        } => {
            let selected = if scenario == "all" {
                scenarios::all()
            } else {
                match find(&scenario) {
                    Ok(scenario) => vec![scenario],
                    Err(message) => {
                        eprintln!("sim: {message}");
                        return ExitCode::from(2);
                    }
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
                progress: true,
                check_determinism,
            };
            let mut passed = true;
            for scenario in &selected {
                let started = Instant::now();
                let summary = sweep(scenario, &options);
                print!("{}", summary.render(started.elapsed().as_secs_f64()));
                passed &= summary.passed();
            }
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
