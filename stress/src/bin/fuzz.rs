//! `fuzz`: runs the fuzz targets of `stress::fuzz` for a set time or a set
//! number of inputs each and reports how many inputs each got through.
//! Exits 1 on the first finding, after printing what replays it.

use std::time::Duration;

use clap::Parser;
use stress::fuzz::{self, Budget, TARGETS};

/// Fuzz every line parser, both line codecs and the three game state
/// machines with seeded random and mutated input, on the stable toolchain.
///
/// Each target runs for --seconds (or until --inputs inputs); a finding
/// prints the target, the case seed, the panic location or the broken
/// invariant, and the inputs that led to it, and exits 1. Rerun one case
/// with --target NAME --case-seed SEED.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Run this many inputs per target instead of a set time.
    #[arg(long)]
    inputs: Option<u64>,
    /// Only this target (see --list).
    #[arg(long)]
    target: Option<String>,
    /// Seed of the run; every case seed derives from it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replay one case of --target and print its inputs.
    #[arg(long, requires = "target")]
    case_seed: Option<u64>,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
}

fn main() {
    let args = Args::parse();
    if args.list {
        for target in TARGETS {
            println!("{:<24} {}", target.name, target.about);
        }
        return;
    }
    let targets: Vec<&'static fuzz::Target> = match &args.target {
        Some(name) => match fuzz::target(name) {
            Some(target) => vec![target],
            None => {
                eprintln!("fuzz: no target {name:?} (see --list)");
                std::process::exit(2);
            }
        },
        None => TARGETS.iter().collect(),
    };
    if let Some(case_seed) = args.case_seed {
        let finding = fuzz::replay(targets[0], case_seed, "no failure".into());
        print!("{finding}");
        return;
    }
    let budget = match args.inputs {
        Some(inputs) => Budget::Inputs(inputs),
        None => Budget::Time(Duration::from_secs_f64(args.seconds)),
    };
    println!(
        "{:<24} {:>14} {:>10} {:>8} {:>12}",
        "target", "inputs", "cases", "seconds", "inputs/s"
    );
    let mut failed = false;
    for target in targets {
        let report = fuzz::run(target, args.seed, budget);
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "{:<24} {:>14} {:>10} {:>8.1} {:>12.0}",
            report.target,
            report.inputs,
            report.cases,
            seconds,
            report.inputs as f64 / seconds.max(1e-9)
        );
        if !report.reached.is_empty() {
            let reached: Vec<&str> = report.reached.iter().map(String::as_str).collect();
            println!("    lines written: {}", reached.join(", "));
        }
        if let Some(finding) = report.finding {
            print!("FINDING {finding}");
            failed = true;
            break;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
