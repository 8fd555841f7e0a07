//! `sim explore`: every run of a scenario, on the fast backend from one
//! seed, whose choices differ from the default in at most `bound` places.
//!
//! A run's choices (see `engine::fast::choice`: which ready task runs
//! next, each latency) default to 0: the first ready task, the smallest
//! latency. The search is depth first, as stateless model checkers bound
//! preemptions: the default run first, then for every run with fewer than
//! `bound` deviations, each run that deviates once more at a later
//! position, with each other value there. Every sequence of deviations is
//! run exactly once, so when the search ends by itself the space within
//! the bound is exhausted. It stops at the first run that breaks an
//! oracle, and reports it with its deviations, which replay it exactly.
//!
//! With `prune` (the default), a run that can still deviate keeps the
//! fingerprint of each moment it passes after its last deviation (see
//! `choice::Fingerprint`: what each session wrote, with times, the bytes in
//! flight, the pending timers, the faults and streams chosen). When a
//! moment's state was seen before by a run with at least as many
//! deviations left, every continuation from it was searched already, so
//! this run gets no children at or after that moment: two interleavings
//! of independent events that come to the same state are searched once
//! (the effect of partial-order reduction, found by hashing states).
//!
//! With `symmetry` as well (the default), interchangeable players (hosts
//! a game model marks with one class, `HostSpec::class`: the same software
//! but for the name, drawing nothing random) count as a multiset in the
//! fingerprint, so a state and the state with two of them swapped are
//! searched once: their continuations are the same up to the swap.
//!
//! With `--jobs`, the subtrees under the default run's deviations are searched
//! in parallel, sharing the states seen; which run prunes which then
//! depends on timing, so the number of runs can differ between runs of
//! the search (never what is exhaustively covered).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::engine::fast::choice::{self, Choice, Deviation, Fingerprint};
use crate::engine::fast_hosts::Fast;
use crate::engine::harness::{RunOptions, RunOutcome, SafetyChecks};
use crate::scenario::file::ScenarioFile;

/// What `sim explore` searches.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// The seed of the data every run shares (boards, behaviours, joins,
    /// faults, the server's draws).
    pub seed: u64,
    /// The most choices a run may make other than the default.
    pub bound: usize,
    /// Stop after this many runs (the space is then not exhausted).
    pub max_runs: u64,
    /// Stop after this much wall time as well (None: no limit).
    pub budget: Option<std::time::Duration>,
    /// Worker threads; 0 means all cores.
    pub jobs: usize,
    /// A progress bar on stderr (drawn only on a terminal).
    pub progress: bool,
    /// Prune continuations of states already searched (see the module
    /// notes).
    pub prune: bool,
    /// When pruning, take a state and the same state with interchangeable
    /// players swapped as one (see the module notes).
    pub symmetry: bool,
    /// When each run's safety is checked: as its trace doubles, or after
    /// every step.
    pub safety_checks: SafetyChecks,
}

impl ExploreOptions {
    /// A search of `seed`'s runs within `bound` deviations as `sim explore`
    /// makes it by default: at most 100,000 runs, no time budget, on every
    /// core, pruning with symmetry, safety checked as each trace doubles;
    /// no progress bar.
    pub fn new(seed: u64, bound: usize) -> ExploreOptions {
        ExploreOptions {
            seed,
            bound,
            max_runs: 100_000,
            budget: None,
            jobs: 0,
            progress: false,
            prune: true,
            symmetry: true,
            safety_checks: SafetyChecks::AsTraceDoubles,
        }
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Explored {
    pub runs: u64,
    /// Whether every run within the bound was made.
    pub exhausted: bool,
    /// Distinct traces among the runs.
    pub distinct_traces: usize,
    /// Runs per outcome (games and winners per game).
    pub outcomes: BTreeMap<String, u64>,
    /// Runs that reached each rare event.
    pub reached: BTreeMap<String, u64>,
    /// Choices of the default run, by kind, and their options in all.
    pub default_choices: BTreeMap<&'static str, (u64, u64)>,
    /// The first run found that broke an oracle, with its deviations.
    pub violation: Option<(Vec<Deviation>, RunOutcome)>,
    pub seconds: f64,
    /// With pruning: distinct states (moment fingerprints) of the runs that
    /// could still deviate, and how many runs were cut short at a state
    /// already searched.
    pub states: u64,
    pub pruned: u64,
}

/// The part of a search one worker did.
#[derive(Default)]
struct Part {
    runs: u64,
    traces: BTreeSet<u64>,
    outcomes: BTreeMap<String, u64>,
    reached: BTreeMap<String, u64>,
    violation: Option<(Vec<Deviation>, RunOutcome)>,
    pruned: u64,
}

impl Part {
    fn absorb(&mut self, other: Part) {
        self.runs += other.runs;
        self.pruned += other.pruned;
        self.traces.extend(other.traces);
        for (outcome, runs) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += runs;
        }
        for (event, runs) in other.reached {
            *self.reached.entry(event).or_default() += runs;
        }
        if self.violation.is_none() {
            self.violation = other.violation;
        }
    }
}

/// Shared by the workers: the run budget, the stop at a violation, and
/// the states seen (each with the most deviations a run had left there).
struct Budget {
    seen: Mutex<HashMap<u64, usize>>,
    bar: ProgressBar,
    runs: AtomicU64,
    max_runs: u64,
    /// When the wall-time budget ends, if there is one.
    deadline: Option<Instant>,
    cut: AtomicBool,
    stop: AtomicBool,
}

impl Budget {
    /// Takes one run from the budget; false when it is spent or a
    /// violation was found.
    fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let over_time = self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline);
        if over_time || self.runs.fetch_add(1, Ordering::Relaxed) >= self.max_runs {
            self.cut.store(true, Ordering::Relaxed);
            return false;
        }
        self.bar.inc(1);
        true
    }
}

/// How a search carries out its runs: safety is checked as a run goes
/// (`checks`), and a run that breaks a safety property ends at the check
/// that found it (the search stops there anyway); its first broken line is
/// then found exactly.
pub(crate) fn search_run(checks: SafetyChecks) -> RunOptions {
    RunOptions {
        keep_wire: false,
        safety_checks: checks,
    }
}

/// One run; with `fingerprints`, also the states of the moments it passed
/// after its last deviation.
fn run_once(
    file: &ScenarioFile,
    options: &ExploreOptions,
    deviations: &[Deviation],
    fingerprints: bool,
) -> (RunOutcome, Vec<Choice>, Vec<Fingerprint>) {
    let run_options = search_run(options.safety_checks);
    let run = || file.run_on(&Fast, options.seed, &run_options);
    if fingerprints {
        choice::drive_fingerprinted(deviations, options.symmetry, run)
    } else {
        let (outcome, log) = choice::drive(deviations, run);
        (outcome, log, Vec::new())
    }
}

/// Whether the states of a run with `deviations` matter for pruning: it
/// may deviate again, and its children may too (at bound 1 nothing is
/// ever pruned, so no run is fingerprinted).
fn can_deviate(options: &ExploreOptions, deviations: &[Deviation]) -> bool {
    options.prune && options.bound >= 2 && deviations.len() < options.bound
}

/// The position from which a run's continuations were searched already:
/// its first moment whose state a run with at least as many deviations
/// left has passed (the states before it are noted as seen). None: no
/// such moment.
fn searched_from(
    options: &ExploreOptions,
    budget: &Budget,
    deviations: &[Deviation],
    fingerprints: &[Fingerprint],
) -> Option<u32> {
    let left = options.bound - deviations.len();
    let mut seen = budget.seen.lock().expect("states lock");
    for moment in fingerprints {
        match seen.get(&moment.state) {
            Some(&had) if had >= left => return Some(moment.position),
            _ => {
                seen.insert(moment.state, left);
            }
        }
    }
    None
}

/// What a run came to: its games, the winners of each, and how many
/// lines the clients received (`recv`, `recv#`, `recv*` events).
fn outcome_key(outcome: &RunOutcome) -> String {
    let received = outcome
        .trace
        .iter()
        .filter(|line| line.host != "server" && line.host != "sim" && line.text.starts_with("recv"))
        .count();
    format!(
        "{} game{}, winners per game {:?}, {received} lines received",
        outcome.games,
        if outcome.games == 1 { "" } else { "s" },
        outcome.winners_per_game
    )
}

fn trace_hash(outcome: &RunOutcome) -> u64 {
    // SipHash with fixed keys: the same on every machine and run.
    let mut hasher = std::hash::DefaultHasher::new();
    for line in &outcome.trace {
        line.time_ms.hash(&mut hasher);
        line.host.hash(&mut hasher);
        line.text.hash(&mut hasher);
    }
    hasher.finish()
}

/// Notes one run; returns whether it broke an oracle.
fn note(part: &mut Part, deviations: &[Deviation], outcome: RunOutcome) -> bool {
    part.runs += 1;
    part.traces.insert(trace_hash(&outcome));
    *part.outcomes.entry(outcome_key(&outcome)).or_default() += 1;
    for event in &outcome.reached {
        *part.reached.entry(event.clone()).or_default() += 1;
    }
    if outcome.passed() {
        return false;
    }
    if part.violation.is_none() {
        part.violation = Some((deviations.to_vec(), outcome));
    }
    true
}

/// The runs that deviate once more than `deviations`, after its last
/// deviation and before `until` (a moment whose continuations were
/// searched already), given the choices its run made; in the order to
/// search them.
fn children(deviations: &[Deviation], log: &[Choice], until: Option<u32>) -> Vec<Vec<Deviation>> {
    let first_free = deviations.last().map_or(0, |&(at, _)| at as usize + 1);
    let end = until.map_or(log.len(), |until| (until as usize).min(log.len()));
    let mut children = Vec::new();
    for (position, made) in log.iter().enumerate().take(end).skip(first_free) {
        for value in 1..made.options {
            let mut child = deviations.to_vec();
            child.push((position as u32, value));
            children.push(child);
        }
    }
    children
}

/// Depth-first search under `deviations` (already run, with `log`).
fn search_under(
    file: &ScenarioFile,
    options: &ExploreOptions,
    budget: &Budget,
    deviations: Vec<Deviation>,
    log: Vec<Choice>,
    until: Option<u32>,
    part: &mut Part,
) {
    if deviations.len() >= options.bound {
        return;
    }
    // A stack of children still to run, last one first.
    let mut stack: Vec<Vec<Deviation>> = children(&deviations, &log, until);
    stack.reverse();
    while let Some(next) = stack.pop() {
        if !budget.take() {
            return;
        }
        let fingerprinted = can_deviate(options, &next);
        let (outcome, log, fingerprints) = run_once(file, options, &next, fingerprinted);
        if note(part, &next, outcome) {
            budget.stop.store(true, Ordering::Relaxed);
            return;
        }
        if next.len() < options.bound {
            let until = searched_from(options, budget, &next, &fingerprints);
            part.pruned += u64::from(until.is_some());
            let mut more = children(&next, &log, until);
            more.reverse();
            stack.extend(more);
        }
    }
}

/// Searches every run of `file` within `options.bound` deviations.
pub fn explore(file: &ScenarioFile, options: &ExploreOptions) -> Explored {
    let started = Instant::now();
    let bar = if options.progress {
        ProgressBar::new(options.max_runs.max(1))
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos} runs of at most {len}, {per_sec}, {elapsed}")
            .expect("valid progress template"),
    );
    bar.inc(1);
    let budget = Budget {
        seen: Mutex::new(HashMap::new()),
        bar,
        runs: AtomicU64::new(1),
        max_runs: options.max_runs.max(1),
        deadline: options.budget.map(|budget| started + budget),
        cut: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    };
    let mut total = Part::default();
    let (outcome, log, fingerprints) = run_once(file, options, &[], can_deviate(options, &[]));
    // The default run's states are the first seen; none is pruned.
    searched_from(options, &budget, &[], &fingerprints);
    let mut default_choices: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for made in &log {
        let kind = made.kind.word();
        let entry = default_choices.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += u64::from(made.options);
    }
    if note(&mut total, &[], outcome) {
        budget.stop.store(true, Ordering::Relaxed);
    } else if options.bound > 0 {
        let first: Vec<Vec<Deviation>> = children(&[], &log, None);
        let jobs = super::jobs_or_all_cores(options.jobs);
        let search = |child: Vec<Deviation>| {
            let mut part = Part::default();
            if !budget.take() {
                return part;
            }
            let fingerprinted = can_deviate(options, &child);
            let (outcome, log, fingerprints) = run_once(file, options, &child, fingerprinted);
            if note(&mut part, &child, outcome) {
                budget.stop.store(true, Ordering::Relaxed);
                return part;
            }
            let until = if child.len() < options.bound {
                searched_from(options, &budget, &child, &fingerprints)
            } else {
                None
            };
            part.pruned += u64::from(until.is_some());
            search_under(file, options, &budget, child, log, until, &mut part);
            part
        };
        let parts: Vec<Part> = if jobs <= 1 {
            first.into_iter().map(search).collect()
        } else {
            super::worker_pool(jobs).install(|| first.into_par_iter().map(search).collect())
        };
        // Merged in search order, so the violation reported is the first
        // in that order among those found.
        for part in parts {
            total.absorb(part);
        }
    }
    budget.bar.finish_and_clear();
    let states = budget.seen.lock().expect("states lock").len() as u64;
    let stopped = budget.stop.load(Ordering::Relaxed);
    Explored {
        runs: total.runs,
        exhausted: !budget.cut.load(Ordering::Relaxed) && !stopped,
        distinct_traces: total.traces.len(),
        outcomes: total.outcomes,
        reached: total.reached,
        default_choices,
        violation: total.violation,
        seconds: started.elapsed().as_secs_f64(),
        states,
        pruned: total.pruned,
    }
}

/// The report `sim explore` prints (without the violation's details).
pub fn render(scenario: &str, options: &ExploreOptions, explored: &Explored) -> String {
    let mut out = String::new();
    let choices: Vec<String> = explored
        .default_choices
        .iter()
        .map(|(kind, (count, options))| format!("{count} {kind} ({options} options)"))
        .collect();
    out.push_str(&format!(
        "explore {scenario} seed {} bound {}: the default run made {} choices: {}\n",
        options.seed,
        options.bound,
        explored
            .default_choices
            .values()
            .map(|(count, _)| count)
            .sum::<u64>(),
        if choices.is_empty() {
            "none".to_owned()
        } else {
            choices.join(", ")
        }
    ));
    let rate = if explored.seconds > 0.0 {
        explored.runs as f64 / explored.seconds
    } else {
        0.0
    };
    out.push_str(&format!(
        "runs {} ({:.0} runs/s, {:.2} s), distinct traces {}, distinct outcomes {}, {}\n",
        explored.runs,
        rate,
        explored.seconds,
        explored.distinct_traces,
        explored.outcomes.len(),
        if explored.exhausted {
            "space within the bound EXHAUSTED".to_owned()
        } else if explored.violation.is_some() {
            "stopped at the first violation".to_owned()
        } else if explored.runs < options.max_runs {
            format!(
                "NOT exhausted: stopped at --budget {:?}",
                options.budget.unwrap_or_default()
            )
        } else {
            format!("NOT exhausted: stopped at --max-runs {}", options.max_runs)
        }
    ));
    if options.prune && options.bound > 1 {
        out.push_str(&format!(
            "states: {} distinct among runs that could deviate again; {} runs came to a state already searched and got no deviations after it\n",
            explored.states, explored.pruned
        ));
    }
    for (outcome, runs) in &explored.outcomes {
        out.push_str(&format!("outcome {outcome}: {runs} runs\n"));
    }
    for (event, runs) in &explored.reached {
        out.push_str(&format!("reached {event}: {runs} runs\n"));
    }
    out
}
