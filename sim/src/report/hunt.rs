//! `sim hunt`: coverage-guided search over a scenario's choices on the fast
//! backend, beside a random sweep of the same budget.
//!
//! A run is a seed and the choices it makes (see `engine::fast::choice`).
//! The hunt keeps a corpus of runs that covered something no run before
//! them did (see `report::coverage`: a rare event, a step of a state
//! machine, two hosts' lines at one moment, a new count of a kind of line),
//! and makes each next run either from a fresh seed or by mutating a run of
//! the corpus, chosen by how rare its features are: a few choices given
//! other values, one choice pushed to its last option, the tail of
//! another run of the same seed spliced on, a stretch put back to the
//! defaults. So the budget goes where coverage grows, as in coverage-guided
//! fuzzers (AFL, libFuzzer), but the input is the run's choices, over the
//! same session code.
//!
//! Runs are made in batches of [`BATCH_RUNS`], drawn from the corpus as it
//! stood before the batch, run in parallel and taken in order: with
//! `--max-runs`, a hunt is the same for any `--jobs`. The hunt stops at the
//! first run that breaks an oracle; its seed and choices replay it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::engine::fast::choice::{self, Choice, Deviation};
use crate::engine::fast_hosts::Fast;
use crate::engine::harness::{RunOptions, RunOutcome, SafetyChecks};
use crate::report::coverage::{Coverage, Feature};
use crate::scenario::file::ScenarioFile;

/// Runs drawn from the corpus at once (and run in parallel).
pub const BATCH_RUNS: usize = 32;
/// One run in this many starts from a fresh seed rather than a mutation.
const FRESH_SEED_ONE_IN: u32 = 5;
/// Most choices one mutation changes.
const MUTATED_CHOICES_MAX: usize = 4;
/// Choices put back to the default by one mutation.
const DEFAULTED_STRETCH: usize = 8;
/// Rows of the coverage-over-time table.
const TABLE_ROWS: usize = 10;
/// Features listed under "covered by ... only".
const BEYOND_SHOWN_MAX: usize = 15;

/// What `sim hunt` searches.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// The first fresh seed, and the seed of the hunt's own decisions.
    pub seed: u64,
    /// Wall time each of the hunt and the random sweep may take.
    pub budget: Duration,
    /// Stop each after this many runs (0: no limit; then only the budget
    /// ends them). With a limit, the result does not depend on the
    /// machine.
    pub max_runs: u64,
    /// Worker threads; 0 means all cores.
    pub jobs: usize,
    /// Also run a random sweep of the same budget, to compare.
    pub compare: bool,
    /// A progress bar on stderr (drawn only on a terminal).
    pub progress: bool,
    /// When each run of the hunt checks its safety: as its trace doubles,
    /// or after every step.
    pub safety_checks: SafetyChecks,
}

/// One run's input: a seed and the choices that differ from the default.
/// `None`: the seeded run itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub seed: u64,
    pub deviations: Option<Vec<Deviation>>,
}

/// Coverage after some runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub seconds: f64,
    pub runs: u64,
    pub features: usize,
}

/// What one search (the hunt, or the random sweep) did.
#[derive(Debug, Default)]
pub struct Searched {
    pub runs: u64,
    pub seconds: f64,
    /// Distinct features covered.
    pub features: usize,
    /// Runs kept because they covered something new (the hunt's corpus).
    pub corpus: usize,
    /// Coverage after each batch.
    pub curve: Vec<Point>,
    /// For each rare event reached: the number of the first run that
    /// reached it (from 1), and how many runs reached it.
    pub reached: BTreeMap<String, (u64, u64)>,
    /// The first run that broke an oracle.
    pub violation: Option<(Input, RunOutcome)>,
    /// What was covered.
    pub coverage: Coverage,
    /// Per way of making a run (the hunt only): runs made that way, and
    /// how many of them covered something new.
    pub mutations: BTreeMap<Mutation, (u64, u64)>,
}

/// The hunt and, when asked, the random sweep beside it.
#[derive(Debug, Default)]
pub struct Hunted {
    pub hunt: Searched,
    pub random: Option<Searched>,
}

/// How a hunt made one run's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mutation {
    /// A seed not run before, with its own choices.
    FreshSeed,
    /// A corpus run with a few choices given other values.
    NewValues,
    /// A corpus run with one choice pushed to its last option, or back to
    /// the default.
    LastOption,
    /// A corpus run with the tail of another run of the same seed.
    Splice,
    /// A corpus run with a stretch of choices put back to the default.
    Defaults,
}

impl Mutation {
    pub fn name(self) -> &'static str {
        match self {
            Mutation::FreshSeed => "fresh seed",
            Mutation::NewValues => "new values",
            Mutation::LastOption => "last option or default",
            Mutation::Splice => "splice",
            Mutation::Defaults => "stretch of defaults",
        }
    }
}

/// A run of the corpus: its seed, every choice it made, and what it
/// covered.
struct Entry {
    seed: u64,
    values: Vec<u32>,
    options: Vec<u32>,
    features: BTreeSet<Feature>,
}

/// The state both searches share the bookkeeping of.
struct Progress {
    started: Instant,
    deadline: Instant,
    max_runs: u64,
    coverage: Coverage,
    searched: Searched,
    bar: ProgressBar,
}

impl Progress {
    fn new(options: &HuntOptions, label: &'static str) -> Progress {
        let bar = if options.progress {
            ProgressBar::new(options.budget.as_secs())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{label} {{bar:40}} {{pos}} of {{len}} s, {{msg}}"
            ))
            .expect("valid progress template"),
        );
        let started = Instant::now();
        Progress {
            started,
            deadline: started + options.budget,
            max_runs: options.max_runs,
            coverage: Coverage::default(),
            searched: Searched::default(),
            bar,
        }
    }

    /// Runs still allowed in the next batch (0 when the search is over).
    fn next_batch(&self) -> usize {
        if self.searched.violation.is_some() || Instant::now() >= self.deadline {
            return 0;
        }
        if self.max_runs == 0 {
            return BATCH_RUNS;
        }
        BATCH_RUNS.min(self.max_runs.saturating_sub(self.searched.runs) as usize)
    }

    /// Counts one run; returns its features when they added coverage.
    fn take(&mut self, input: Input, outcome: RunOutcome) -> Option<BTreeSet<Feature>> {
        self.searched.runs += 1;
        let (features, new) = self.coverage.add_run(&outcome.trace, &outcome.reached);
        for event in &outcome.reached {
            let entry = self
                .searched
                .reached
                .entry(event.clone())
                .or_insert((self.searched.runs, 0));
            entry.1 += 1;
        }
        if !outcome.passed() && self.searched.violation.is_none() {
            self.searched.violation = Some((input, outcome));
        }
        (new > 0).then_some(features)
    }

    fn batch_done(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        self.searched.curve.push(Point {
            seconds,
            runs: self.searched.runs,
            features: self.coverage.len(),
        });
        self.bar.set_position(seconds as u64);
        self.bar.set_message(format!(
            "{} runs, {} features",
            self.searched.runs,
            self.coverage.len()
        ));
    }

    fn finish(mut self, corpus: usize) -> Searched {
        self.bar.finish_and_clear();
        self.searched.seconds = self.started.elapsed().as_secs_f64();
        self.searched.features = self.coverage.len();
        self.searched.corpus = corpus;
        self.searched.coverage = self.coverage;
        self.searched
    }
}

/// Runs one input, recording its choices.
fn run_input(
    file: &ScenarioFile,
    input: &Input,
    checks: SafetyChecks,
) -> (RunOutcome, Vec<Choice>) {
    let options = crate::report::explore::search_run(checks);
    let run = || file.run_on(&Fast, input.seed, &options);
    match &input.deviations {
        None => choice::record(run),
        Some(deviations) => choice::drive(deviations, run),
    }
}

/// Picks a corpus entry, the rarer its features the likelier.
fn pick<'a>(rng: &mut ChaCha8Rng, corpus: &'a [Entry], weights: &[f64]) -> &'a Entry {
    let total: f64 = weights.iter().sum();
    let mut at = rng.random::<f64>() * total;
    for (entry, weight) in corpus.iter().zip(weights) {
        if at < *weight {
            return entry;
        }
        at -= weight;
    }
    corpus.last().expect("a corpus to pick from is not empty")
}

/// The next input: a fresh seed, or a mutation of a corpus entry.
fn next_input(
    rng: &mut ChaCha8Rng,
    corpus: &[Entry],
    weights: &[f64],
    next_seed: &mut u64,
) -> (Input, Mutation) {
    if corpus.is_empty() || rng.random_ratio(1, FRESH_SEED_ONE_IN) {
        let seed = *next_seed;
        *next_seed += 1;
        let input = Input {
            seed,
            deviations: None,
        };
        return (input, Mutation::FreshSeed);
    }
    let mut mutation = Mutation::NewValues;
    let parent = pick(rng, corpus, weights);
    let mut values = parent.values.clone();
    let choices = values.len();
    if choices > 0 {
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..=MUTATED_CHOICES_MAX) {
                    let at = rng.random_range(0..choices);
                    values[at] = rng.random_range(0..parent.options[at]);
                }
            }
            1 => {
                mutation = Mutation::LastOption;
                let at = rng.random_range(0..choices);
                values[at] = if values[at] == 0 {
                    parent.options[at] - 1
                } else {
                    0
                };
            }
            2 => {
                let mates: Vec<&Entry> = corpus
                    .iter()
                    .filter(|entry| entry.seed == parent.seed && entry.values != parent.values)
                    .collect();
                if mates.is_empty() {
                    let at = rng.random_range(0..choices);
                    values[at] = rng.random_range(0..parent.options[at]);
                } else {
                    mutation = Mutation::Splice;
                    let mate = mates[rng.random_range(0..mates.len())];
                    let cut = rng.random_range(0..choices);
                    values.truncate(cut);
                    values.extend(mate.values.iter().skip(cut));
                }
            }
            _ => {
                mutation = Mutation::Defaults;
                let from = rng.random_range(0..choices);
                for value in values.iter_mut().skip(from).take(DEFAULTED_STRETCH) {
                    *value = 0;
                }
            }
        }
    }
    let deviations = values
        .iter()
        .enumerate()
        .filter(|(_, value)| **value != 0)
        .map(|(position, value)| (position as u32, *value))
        .collect();
    let input = Input {
        seed: parent.seed,
        deviations: Some(deviations),
    };
    (input, mutation)
}

/// The coverage-guided search.
fn hunt_only(file: &ScenarioFile, options: &HuntOptions) -> Searched {
    let pool = super::worker_pool(options.jobs);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut next_seed = options.seed;
    let mut corpus: Vec<Entry> = Vec::new();
    let mut progress = Progress::new(options, "hunt  ");
    loop {
        let size = progress.next_batch();
        if size == 0 {
            break;
        }
        let weights: Vec<f64> = corpus
            .iter()
            .map(|entry| progress.coverage.rarity(&entry.features))
            .collect();
        let (inputs, mutations): (Vec<Input>, Vec<Mutation>) = (0..size)
            .map(|_| next_input(&mut rng, &corpus, &weights, &mut next_seed))
            .unzip();
        let results: Vec<(RunOutcome, Vec<Choice>)> = pool.install(|| {
            inputs
                .par_iter()
                .map(|input| run_input(file, input, options.safety_checks))
                .collect()
        });
        for ((input, mutation), (outcome, log)) in inputs.into_iter().zip(mutations).zip(results) {
            let seed = input.seed;
            // A violation replays from its seed and every choice it made.
            let replayable = Input {
                seed,
                deviations: Some(choice::deviations_of(&log)),
            };
            let added = progress.take(replayable, outcome);
            let made = progress.searched.mutations.entry(mutation).or_default();
            made.0 += 1;
            if let Some(features) = added {
                made.1 += 1;
                corpus.push(Entry {
                    seed,
                    values: log.iter().map(|made| made.value).collect(),
                    options: log.iter().map(|made| made.options).collect(),
                    features,
                });
            }
            if progress.searched.violation.is_some() {
                break;
            }
        }
        progress.batch_done();
    }
    let corpus = corpus.len();
    progress.finish(corpus)
}

/// The random sweep of the same budget: seeds in order from `options.seed`.
fn random_only(file: &ScenarioFile, options: &HuntOptions) -> Searched {
    let pool = super::worker_pool(options.jobs);
    let mut next_seed = options.seed;
    let mut progress = Progress::new(options, "random");
    loop {
        let size = progress.next_batch();
        if size == 0 {
            break;
        }
        let seeds: Vec<u64> = (next_seed..next_seed + size as u64).collect();
        next_seed += size as u64;
        let results: Vec<RunOutcome> = pool.install(|| {
            seeds
                .par_iter()
                .map(|&seed| file.run_on(&Fast, seed, &RunOptions::default()))
                .collect()
        });
        for (seed, outcome) in seeds.into_iter().zip(results) {
            let input = Input {
                seed,
                deviations: None,
            };
            progress.take(input, outcome);
            if progress.searched.violation.is_some() {
                break;
            }
        }
        progress.batch_done();
    }
    progress.finish(0)
}

/// Hunts, then (with `compare`) sweeps random seeds for the same budget.
pub fn hunt(file: &ScenarioFile, options: &HuntOptions) -> Hunted {
    let hunt = hunt_only(file, options);
    let random = options.compare.then(|| random_only(file, options));
    Hunted { hunt, random }
}

/// The coverage of a search at `seconds` into it (or after `runs`).
fn at(curve: &[Point], limit: impl Fn(&Point) -> bool) -> Option<Point> {
    curve
        .iter()
        .take_while(|point| limit(point))
        .last()
        .copied()
}

/// The report `sim hunt` prints (without a violation's details).
pub fn render(scenario: &str, options: &HuntOptions, hunted: &Hunted) -> String {
    let mut out = String::new();
    let hunt = &hunted.hunt;
    let line = |name: &str, searched: &Searched| {
        format!(
            "{name}: {} runs in {:.1} s ({:.0} runs/s), {} features covered{}\n",
            searched.runs,
            searched.seconds,
            if searched.seconds > 0.0 {
                searched.runs as f64 / searched.seconds
            } else {
                0.0
            },
            searched.features,
            if name == "hunt" {
                format!(", corpus of {} runs", searched.corpus)
            } else {
                String::new()
            }
        )
    };
    let each = if hunted.random.is_some() { " each" } else { "" };
    out.push_str(&format!(
        "hunt {scenario} from seed {} on the fast backend, {}{each}\n",
        options.seed,
        if options.max_runs > 0 {
            format!(
                "at most {} runs or {} s",
                options.max_runs,
                options.budget.as_secs()
            )
        } else {
            format!("{} s", options.budget.as_secs())
        }
    ));
    out.push_str(&line("hunt", hunt));
    if !hunt.mutations.is_empty() {
        let made: Vec<String> = hunt
            .mutations
            .iter()
            .map(|(mutation, (runs, kept))| format!("{} {runs} ({kept})", mutation.name()))
            .collect();
        out.push_str(&format!(
            "hunt runs by how they were made (kept for new coverage): {}\n",
            made.join(", ")
        ));
    }
    if let Some(random) = &hunted.random {
        out.push_str(&line("random", random));
        // Coverage over time: by seconds, or by runs when runs bound both.
        let by_runs = options.max_runs > 0
            && hunt.runs >= options.max_runs
            && random.runs >= options.max_runs;
        out.push_str(&format!(
            "\n{:>10} | {:>10} {:>9} | {:>10} {:>9}\n",
            if by_runs { "runs" } else { "seconds" },
            "hunt runs",
            "features",
            "random runs",
            "features"
        ));
        for row in 1..=TABLE_ROWS {
            let (label, hunt_point, random_point) = if by_runs {
                let runs = options.max_runs * row as u64 / TABLE_ROWS as u64;
                (
                    runs.to_string(),
                    at(&hunt.curve, |point| point.runs <= runs),
                    at(&random.curve, |point| point.runs <= runs),
                )
            } else {
                let seconds = options.budget.as_secs_f64() * row as f64 / TABLE_ROWS as f64;
                (
                    format!("{seconds:.1}"),
                    at(&hunt.curve, |point| point.seconds <= seconds),
                    at(&random.curve, |point| point.seconds <= seconds),
                )
            };
            let cell = |point: Option<Point>| match point {
                Some(point) => format!("{:>10} {:>9}", point.runs, point.features),
                None => format!("{:>10} {:>9}", 0, 0),
            };
            out.push_str(&format!(
                "{label:>10} | {} | {}\n",
                cell(hunt_point),
                cell(random_point)
            ));
        }
        let events: BTreeSet<&String> = hunt.reached.keys().chain(random.reached.keys()).collect();
        if !events.is_empty() {
            out.push_str(&format!(
                "\n{:<28} | {:>22} | {:>22}\n",
                "rare event", "hunt: first run (runs)", "random: first run (runs)"
            ));
            for event in events {
                let cell = |searched: &Searched| match searched.reached.get(event) {
                    Some((first, runs)) => format!("{first} ({runs})"),
                    None => "not reached".to_owned(),
                };
                out.push_str(&format!(
                    "{event:<28} | {:>22} | {:>22}\n",
                    cell(hunt),
                    cell(random)
                ));
            }
        }
        for (name, searched, other) in [("hunt", hunt, random), ("random", random, hunt)] {
            let beyond = searched.coverage.beyond(&other.coverage);
            out.push_str(&format!(
                "\ncovered by {name} only: {} features\n",
                beyond.len()
            ));
            for (feature, runs) in beyond.iter().take(BEYOND_SHOWN_MAX) {
                out.push_str(&format!("  {feature} ({runs} runs)\n"));
            }
            if beyond.len() > BEYOND_SHOWN_MAX {
                out.push_str(&format!(
                    "  ... and {} more\n",
                    beyond.len() - BEYOND_SHOWN_MAX
                ));
            }
        }
    } else {
        for (event, (first, runs)) in &hunt.reached {
            out.push_str(&format!(
                "reached {event}: first at run {first}, {runs} runs\n"
            ));
        }
    }
    out
}
