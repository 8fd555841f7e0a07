//! `sim bench`: how many games a second the standard scenarios of all three
//! games (fault-free and with faults) run at, on each backend, on one core
//! and on all of them.
//!
//! Backends: `turmoil` (the reference: a host per session, stepped at the
//! scenario's tick), `turmoil-shared` (turmoil with every player session on
//! one host, since turmoil's cost per step grows with its host count; for
//! lock-step tombola without faults) and
//! `fast` (the event-driven backend of [`crate::engine::fast`]). Every run is still
//! judged: a bench whose runs fail measures nothing, so failing seeds are
//! counted in the table.
//!
//! This is the one module of the harness that reads the machine's clock
//! (`std::time::Instant`) and the process's CPU time, and only to report
//! them; nothing it measures feeds back into a run.
//!
//! CPU time beside wall time says what limits a parallel row: the cores it
//! actually got (`cores`, CPU seconds over wall seconds) and the CPU each
//! game cost (`cpu-ms/game`). On a shared machine `cores` stays below
//! `jobs` (the scheduler shares the cores between sessions); contention
//! inside `sim` would show as a higher `cpu-ms/game` with more jobs.

use std::ops::Range;
use std::time::Instant;

use rayon::prelude::*;

use crate::engine::fast_hosts::Fast;
use crate::engine::harness::{RunOptions, RunOutcome};
use crate::engine::turmoil_backend::Turmoil;
use crate::models::tombola::run_spec_shared_host;
use crate::scenario::file::{GameKind, ScenarioFile};

/// The scenarios `sim bench` measures, by built-in scenario name: the
/// fault-free ones of each game that its other tests lean on, and each
/// game's fault scenario.
pub const STANDARD_SCENARIOS: [&str; 10] = [
    "tombola-two-players",
    "tombola-four-players-latency",
    "tombola-simultaneous-claims",
    "tombola-faults",
    "live-late-joiners",
    "live-simultaneous-claims",
    "live-faults",
    "chat-small-room",
    "chat-random-talk",
    "chat-faults",
];

/// Where a run is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    /// turmoil, one host per session, stepped at the scenario's tick.
    Turmoil,
    /// turmoil with every player session on one shared host (lock-step
    /// tombola without faults only).
    TurmoilShared,
    /// In-memory pipes on the fast backend's own scheduler.
    Fast,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Turmoil, Backend::TurmoilShared, Backend::Fast];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Turmoil => "turmoil",
            Backend::TurmoilShared => "turmoil-shared",
            Backend::Fast => "fast",
        }
    }

    /// Whether this backend runs `file` at all: the shared-host runner
    /// takes lock-step tombola without faults only.
    pub fn runs(self, file: &ScenarioFile) -> bool {
        match self {
            Backend::Turmoil | Backend::Fast => true,
            Backend::TurmoilShared => {
                file.game == GameKind::Tombola && file.faults.is_empty() && !file.swarm
            }
        }
    }

    /// Runs one seed of `file` here (see [`Backend::runs`]).
    pub fn run(self, file: &ScenarioFile, seed: u64, options: &RunOptions) -> RunOutcome {
        match self {
            Backend::Turmoil => file.run_on(&Turmoil, seed, options),
            Backend::Fast => file.run_on(&Fast, seed, options),
            Backend::TurmoilShared => match crate::models::tombola::spec_from_file(file) {
                Ok(spec) => run_spec_shared_host(&spec, seed, options),
                Err(error) => panic!("{}: {error}", file.name()),
            },
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Backend, String> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.name() == name)
            .ok_or_else(|| {
                format!("no backend named {name:?}; backends: turmoil, turmoil-shared, fast")
            })
    }
}

/// What `sim bench` measures.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Seeds per measurement on the fast backend.
    pub seeds: u64,
    /// Seeds per measurement on the turmoil backends, which are one to two
    /// orders of magnitude slower.
    pub turmoil_seeds: u64,
    /// Worker threads of the parallel measurements; 0 means all cores. A
    /// single-threaded measurement is always made too.
    pub jobs: usize,
    /// Built-in scenario names or scenario file paths; empty means
    /// [`STANDARD_SCENARIOS`].
    pub scenarios: Vec<String>,
    /// Backends; empty means all of them.
    pub backends: Vec<Backend>,
    /// Measurements per row (at least 1): a row shows its median run and
    /// the range of games/s over them.
    pub repeat: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seeds: 1000,
            turmoil_seeds: 20,
            jobs: 0,
            scenarios: Vec::new(),
            backends: Vec::new(),
            repeat: 1,
        }
    }
}

/// One measurement: a scenario on a backend with some worker threads.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    pub scenario: String,
    pub backend: Backend,
    pub jobs: usize,
    pub seeds: u64,
    /// Games that ended, summed over the seeds.
    pub games: u64,
    /// Seeds whose run broke a property (they still count as measured).
    pub failed_seeds: u64,
    /// Wall-clock seconds for all the seeds.
    pub seconds: f64,
    /// CPU seconds of the whole process (every thread) meanwhile, where
    /// the system tells it (Linux).
    pub cpu_seconds: Option<f64>,
    /// When the row is the median of several measurements: how many, and
    /// the slowest and fastest games/s among them.
    pub spread: Option<Spread>,
}

/// The range of several measurements of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub measurements: usize,
    pub slowest_games_per_second: f64,
    pub fastest_games_per_second: f64,
}

impl BenchRow {
    pub fn games_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.games as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Cores the row kept busy on average: CPU seconds per wall second.
    pub fn cores_used(&self) -> Option<f64> {
        self.cpu_seconds
            .filter(|_| self.seconds > 0.0)
            .map(|cpu| cpu / self.seconds)
    }

    /// CPU milliseconds one game cost, over every thread.
    pub fn cpu_ms_per_game(&self) -> Option<f64> {
        self.cpu_seconds
            .filter(|_| self.games > 0)
            .map(|cpu| cpu * 1000.0 / self.games as f64)
    }
}

/// Clock ticks per second in `/proc/self/stat` (Linux's `USER_HZ`, fixed at
/// 100 for user space on every architecture).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user and system) this process has used so far, over all
/// its threads; `None` where `/proc/self/stat` does not exist. Its
/// resolution is 10 ms, fine for measurements of a second or more.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields 14 and 15 (utime, stime) are the 12th and 13th after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user_ticks: u64 = fields.get(11)?.parse().ok()?;
    let system_ticks: u64 = fields.get(12)?.parse().ok()?;
    Some((user_ticks + system_ticks) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// CPU seconds used between `before` and now, when both are known.
pub fn cpu_seconds_since(before: Option<f64>) -> Option<f64> {
    Some(process_cpu_seconds()? - before?)
}

/// Runs `seeds` of `file` on `backend` over `jobs` threads and times it.
pub fn measure(
    scenario: &str,
    file: &ScenarioFile,
    backend: Backend,
    seeds: Range<u64>,
    jobs: usize,
) -> BenchRow {
    let options = RunOptions::default();
    // Only what the table needs leaves the worker: traces are dropped where
    // they were made.
    let run = |seed: u64| {
        let outcome = backend.run(file, seed, &options);
        (outcome.games, u64::from(!outcome.passed()))
    };
    let add = |(games, failed): (u64, u64), (more_games, more_failed): (u64, u64)| {
        (games + more_games, failed + more_failed)
    };
    let seed_count = seeds.end - seeds.start;
    let (games, failed_seeds, seconds, cpu_seconds) = if jobs <= 1 {
        let cpu_before = process_cpu_seconds();
        let started = Instant::now();
        let (games, failed) = seeds.map(run).fold((0, 0), add);
        let seconds = started.elapsed().as_secs_f64();
        (games, failed, seconds, cpu_seconds_since(cpu_before))
    } else {
        let pool = super::worker_pool(jobs);
        let cpu_before = process_cpu_seconds();
        let started = Instant::now();
        let (games, failed) =
            pool.install(|| seeds.into_par_iter().map(run).reduce(|| (0, 0), add));
        let seconds = started.elapsed().as_secs_f64();
        (games, failed, seconds, cpu_seconds_since(cpu_before))
    };
    BenchRow {
        scenario: scenario.to_owned(),
        backend,
        jobs: jobs.max(1),
        seeds: seed_count,
        games,
        failed_seeds,
        seconds,
        cpu_seconds,
        spread: None,
    }
}

/// The median of several measurements of one row (by wall time: the whole
/// measurement that ran in the middle, so its games, seconds and CPU time
/// belong together), with their range. An even count takes the slower of
/// the two middle ones.
pub fn median_row(mut measured: Vec<BenchRow>) -> Option<BenchRow> {
    let measurements = measured.len();
    let rates = measured.iter().map(BenchRow::games_per_second);
    let slowest_games_per_second = rates.clone().min_by(f64::total_cmp)?;
    let fastest_games_per_second = rates.max_by(f64::total_cmp)?;
    measured.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let mut row = measured.swap_remove(measurements / 2);
    if measurements > 1 {
        row.spread = Some(Spread {
            measurements,
            slowest_games_per_second,
            fastest_games_per_second,
        });
    }
    Some(row)
}

/// Every measurement `options` asks for, scenario by scenario.
pub fn run_bench(options: &BenchOptions) -> Result<Vec<BenchRow>, String> {
    let parallel = super::jobs_or_all_cores(options.jobs);
    let mut job_counts = vec![1];
    if parallel > 1 {
        job_counts.push(parallel);
    }
    let scenarios: Vec<String> = if options.scenarios.is_empty() {
        STANDARD_SCENARIOS
            .iter()
            .map(|name| name.to_string())
            .collect()
    } else {
        options.scenarios.clone()
    };
    let backends: Vec<Backend> = if options.backends.is_empty() {
        Backend::ALL.to_vec()
    } else {
        options.backends.clone()
    };
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let file = crate::scenario::registry::resolve(scenario)?.file;
        let scenario = file.name();
        for &backend in backends.iter().filter(|backend| backend.runs(&file)) {
            let seeds = match backend {
                Backend::Fast => options.seeds,
                Backend::Turmoil | Backend::TurmoilShared => options.turmoil_seeds,
            };
            // Repeated in turns (1 job, all jobs, 1 job, ...), so a
            // stretch of load on a shared machine falls on both.
            let mut measured: Vec<Vec<BenchRow>> = vec![Vec::new(); job_counts.len()];
            for _ in 0..options.repeat.max(1) {
                for (index, &jobs) in job_counts.iter().enumerate() {
                    measured[index].push(measure(scenario, &file, backend, 0..seeds, jobs));
                }
            }
            rows.extend(measured.into_iter().filter_map(median_row));
        }
    }
    Ok(rows)
}

/// The table `sim bench` prints: one row per measurement, with the ratio of
/// its games/s to turmoil's for the same scenario and thread count, the
/// cores it kept busy and the CPU time per game (`-` where unknown).
pub fn render(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<30} {:<15} {:>4} {:>7} {:>8} {:>10} {:>8} {:>6} {:>6} {:>11}\n",
        "scenario",
        "backend",
        "jobs",
        "games",
        "seconds",
        "games/s",
        "ratio",
        "failed",
        "cores",
        "cpu-ms/game"
    );
    let repeated = rows.iter().any(|row| row.spread.is_some());
    if repeated {
        out.insert_str(out.len() - 1, &format!(" {:>19}", "games/s range"));
    }
    for row in rows {
        let reference = rows
            .iter()
            .find(|other| {
                other.scenario == row.scenario
                    && other.jobs == row.jobs
                    && other.backend == Backend::Turmoil
            })
            .map(BenchRow::games_per_second)
            .filter(|&rate| rate > 0.0);
        let ratio = match reference {
            Some(reference) => format!("{:.1}x", row.games_per_second() / reference),
            None => "-".to_owned(),
        };
        let cores = row
            .cores_used()
            .map_or("-".to_owned(), |cores| format!("{cores:.2}"));
        let cpu_per_game = row
            .cpu_ms_per_game()
            .map_or("-".to_owned(), |ms| format!("{ms:.3}"));
        out.push_str(&format!(
            "{:<30} {:<15} {:>4} {:>7} {:>8.3} {:>10.1} {:>8} {:>6} {:>6} {:>11}\n",
            row.scenario,
            row.backend.name(),
            row.jobs,
            row.games,
            row.seconds,
            row.games_per_second(),
            ratio,
            row.failed_seeds,
            cores,
            cpu_per_game
        ));
        if let Some(spread) = &row.spread {
            let range = format!(
                "{:.1}-{:.1}",
                spread.slowest_games_per_second, spread.fastest_games_per_second
            );
            out.insert_str(out.len() - 1, &format!(" {range:>19}"));
        }
    }
    if let Some(spread) = rows.iter().find_map(|row| row.spread) {
        out.push_str(&format!(
            "each row: the median of {} measurements (by wall time), taken in turns with the other job count; the range is the slowest and fastest games/s\n",
            spread.measurements
        ));
    }
    out
}

/// A parallel row counts as starved when it kept fewer than this share of
/// its jobs' cores busy: below it, its games/s measures the machine's
/// other load more than `sim` (rayon's idle threads at the end of a row
/// and the start of the pool cost far less than a tenth).
const STARVED_SHARE: f64 = 0.9;

/// A closing note when parallel rows got fewer cores than they had jobs:
/// then games/s compares the machine's load, not the code, and CPU per game
/// is the figure to compare across job counts.
pub fn starved_note(rows: &[BenchRow]) -> String {
    let starved: Vec<(usize, f64)> = rows
        .iter()
        .filter(|row| row.jobs > 1)
        .filter_map(|row| Some((row.jobs, row.cores_used()?)))
        .filter(|&(jobs, cores)| cores < jobs as f64 * STARVED_SHARE)
        .collect();
    let Some(fewest) = starved
        .iter()
        .map(|&(_, cores)| cores)
        .min_by(f64::total_cmp)
    else {
        return String::new();
    };
    let jobs = starved.iter().map(|&(jobs, _)| jobs).max().unwrap_or(2);
    format!(
        "note: {} parallel rows kept fewer cores busy than their {jobs} jobs (down to {fewest:.2}): \
other processes share this machine, so their games/s measure its load; compare cpu-ms/game \
across job counts for what a game costs\n",
        starved.len()
    )
}

/// Measures and renders in one call: what `sim bench` prints (the table,
/// and a note when parallel rows were starved of cores).
pub fn bench(options: &BenchOptions) -> Result<String, String> {
    let rows = run_bench(options)?;
    Ok(format!("{}{}", render(&rows), starved_note(&rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_cpu_time_grows_while_a_thread_computes() {
        let Some(before) = process_cpu_seconds() else {
            // Not Linux: the tables show `-`, nothing to check.
            if cfg!(target_os = "linux") {
                panic!("/proc/self/stat unreadable on Linux");
            }
            return;
        };
        // Enough work for a few 10 ms ticks, however busy the machine is.
        let started = Instant::now();
        let mut sum: u64 = 0;
        while cpu_seconds_since(Some(before)).unwrap_or(0.0) < 0.03 {
            for value in 0..100_000u64 {
                sum = sum.wrapping_add(value * value);
            }
            assert!(
                started.elapsed().as_secs() < 60,
                "no CPU time counted in a minute of work"
            );
        }
        std::hint::black_box(sum);
        let spent = cpu_seconds_since(Some(before)).expect("readable");
        // The process's CPU time counts every thread, and other tests run
        // on other threads meanwhile: at most every core for the whole time
        // (plus a 10 ms tick either side), not only this thread's.
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get()) as f64;
        assert!(
            spent >= 0.03 && spent <= started.elapsed().as_secs_f64() * cores + 0.02,
            "{spent} s of CPU in {:?} on {cores} cores",
            started.elapsed()
        );
    }

    /// A 2-job row of 100 games that took `seconds` and `cpu_seconds`.
    fn timed(seconds: f64, cpu_seconds: f64) -> BenchRow {
        BenchRow {
            scenario: "s".to_owned(),
            backend: Backend::Fast,
            jobs: 2,
            seeds: 100,
            games: 100,
            failed_seeds: 0,
            seconds,
            cpu_seconds: Some(cpu_seconds),
            spread: None,
        }
    }

    #[test]
    fn a_row_says_the_cores_it_used_and_the_cpu_per_game() {
        let row = timed(2.0, 3.0);
        assert_eq!(row.cores_used(), Some(1.5));
        assert!(starved_note(std::slice::from_ref(&row)).starts_with("note: 1 parallel rows"));
        let busy = BenchRow {
            cpu_seconds: Some(3.9),
            ..row.clone()
        };
        assert_eq!(starved_note(&[busy]), "");
        assert_eq!(row.cpu_ms_per_game(), Some(30.0));
        let table = render(std::slice::from_ref(&row));
        let last_line = table.lines().nth(1).unwrap();
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(last_line.ends_with("  1.50      30.000"), "{table}");
        // Where the system does not tell the CPU time, the table says `-`.
        let unknown = BenchRow {
            cpu_seconds: None,
            ..row
        };
        assert!(render(&[unknown]).trim_end().ends_with("-           -"));
    }

    #[test]
    fn a_repeated_row_is_its_median_measurement_with_the_range_of_all() {
        let row = median_row(vec![timed(4.0, 8.0), timed(1.0, 2.0), timed(2.0, 3.0)])
            .expect("three measurements");
        // The middle one by time, whole: its seconds and CPU together.
        assert_eq!((row.seconds, row.cpu_seconds), (2.0, Some(3.0)));
        assert_eq!(
            row.spread,
            Some(Spread {
                measurements: 3,
                slowest_games_per_second: 25.0,
                fastest_games_per_second: 100.0,
            })
        );
        // Of two, the slower: a median is never flattered by one lucky run.
        let pair = median_row(vec![timed(1.0, 2.0), timed(2.0, 3.0)]).expect("two");
        assert_eq!(pair.seconds, 2.0);
        let single = median_row(vec![timed(1.0, 2.0)]).expect("one");
        assert_eq!(single.spread, None, "one measurement has no range");
        assert_eq!(median_row(Vec::new()), None);
        let table = render(&[row]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("games/s range"), "{table}");
        assert!(lines[1].ends_with("25.0-100.0"), "{table}");
        assert!(lines[2].starts_with("each row: the median of 3"), "{table}");
    }
}
