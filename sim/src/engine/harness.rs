//! What every scenario shares: the simulated network's settings, per-host
//! RNGs derived from the seed, the outcome of one run, and how a failure is
//! reported so that it can be replayed.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::engine::trace::{render, TraceLine, WireEvent};

/// How many trace lines a failure report shows.
pub const FAILURE_TRACE_LINES: usize = 20;
/// How many trace lines a failure report shows before the line that first
/// broke a safety property.
pub const FIRST_BREAK_LINES_BEFORE: usize = 4;

/// Anything a sweep can run: a scenario file, on turmoil or on the fast
/// backend.
pub trait Runnable: Sync {
    fn name(&self) -> &str;
    fn summary(&self) -> &str;
    /// Events a sweep must reach at least once.
    fn must_reach(&self) -> Vec<String>;
    fn run(&self, seed: u64, options: &RunOptions) -> RunOutcome;
    /// What follows `sim run` to run this scenario again, shell-quoted:
    /// the built-in name by default; a scenario given as a path (or on
    /// another backend) says so through [`ReplayAs`].
    fn replay_args(&self) -> String {
        shell_quote(self.name())
    }
}

/// A scenario that `sim run` reaches by other words than its name: a file
/// by the path the person typed, or a built-in on `--backend fast`. The
/// name inside a file may be anything, so only the path replays it.
pub struct ReplayAs {
    pub scenario: Box<dyn Runnable>,
    /// Already shell-quoted, e.g. `'my scenarios/beh.toml' --backend fast`.
    pub replay_args: String,
}

impl Runnable for ReplayAs {
    fn name(&self) -> &str {
        self.scenario.name()
    }

    fn summary(&self) -> &str {
        self.scenario.summary()
    }

    fn must_reach(&self) -> Vec<String> {
        self.scenario.must_reach()
    }

    fn run(&self, seed: u64, options: &RunOptions) -> RunOutcome {
        self.scenario.run(seed, options)
    }

    fn replay_args(&self) -> String {
        self.replay_args.clone()
    }
}

/// `word` as one argument of a POSIX shell: unchanged when it holds only
/// characters no shell treats specially, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&byte));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// How one run is carried out, beyond its scenario and seed. None of these
/// change what happens in the run: only what is recorded of it, and where
/// a failing one may be cut short.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every line that crosses the wire (for `--svg` and `--json`).
    pub keep_wire: bool,
    /// When the safety properties are judged: at the end only, or also
    /// while the run goes on, ending it at the first check that finds one
    /// broken (searches do: a failing run need not go on).
    pub safety_checks: SafetyChecks,
}

/// When a run's safety properties are judged (see
/// [`crate::engine::backend::run`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SafetyChecks {
    /// Once, with everything else, at the end of the run (sweeps, replays).
    #[default]
    AtEnd,
    /// Also between two steps of the run, each time the trace has doubled
    /// since the last check (from `SAFETY_CHECK_FIRST_LINES`): at most two
    /// judgements of the whole trace in all; a failing run stops at most
    /// as long again after its first break (what searches do).
    AsTraceDoubles,
    /// Also after every step in which the trace grew: a failing run stops
    /// at the very step that broke it, at a cost quadratic in the trace.
    EveryStep,
}

impl RunOptions {
    /// A fresh trace for one run with these options.
    pub fn new_trace(&self) -> crate::engine::trace::Trace {
        if self.keep_wire {
            crate::engine::trace::Trace::with_wire()
        } else {
            crate::engine::trace::Trace::new()
        }
    }
}

/// A broken property, found by an oracle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Short kebab name of the property, stable across versions.
    pub property: String,
    /// What the oracle saw, in words.
    pub detail: String,
}

impl Violation {
    pub fn new(property: &str, detail: impl Into<String>) -> Violation {
        Violation {
            property: property.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Everything one seeded run produced.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunOutcome {
    pub trace: Vec<TraceLine>,
    /// Lines as they crossed the wire; empty unless `RunOptions::keep_wire`.
    pub wire: Vec<WireEvent>,
    pub violations: Vec<Violation>,
    /// Games that ended (with or without a winner).
    pub games: u64,
    /// For each ended game, how many players won it.
    pub winners_per_game: Vec<usize>,
    /// Named rare events this run reached (`simultaneous-claim`, ...).
    pub reached: BTreeSet<String>,
    /// For a failing run, the first trace line after which a safety
    /// property was broken (see [`crate::engine::first_break`]).
    pub first_break: Option<crate::engine::first_break::FirstBreak>,
    /// The run was ended by a safety check that found a property broken
    /// (`RunOptions::safety_checks`); what only a whole run can be judged
    /// by was not judged.
    pub stopped_at_first_break: bool,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The canonical text of the trace.
    pub fn trace_text(&self) -> String {
        render(&self.trace)
    }

    /// The trace, then one line per violation, then the verdict: what
    /// `sim run` prints and what snapshots hold. Depends on nothing but the
    /// scenario and the seed.
    pub fn report(&self) -> String {
        let mut out = self.trace_text();
        for violation in &self.violations {
            out.push_str(&format!(
                "violation {}: {}\n",
                violation.property, violation.detail
            ));
        }
        if !self.reached.is_empty() {
            let reached: Vec<&str> = self.reached.iter().map(String::as_str).collect();
            out.push_str(&format!("reached {}\n", reached.join(" ")));
        }
        let winners: Vec<String> = self.winners_per_game.iter().map(usize::to_string).collect();
        out.push_str(&format!(
            "verdict {} games={} winners=[{}]\n",
            if self.passed() { "PASS" } else { "FAIL" },
            self.games,
            winners.join(",")
        ));
        out
    }
}

/// The property a panic inside an oracle is reported as: the harness, not
/// the game, is broken, but the run is still reported with its seed.
pub const HARNESS_ERROR: &str = "harness-error";

/// Runs a game's oracles over a finished trace. An oracle must take any
/// trace, even one no correct server could produce; if one panics anyway,
/// the panic becomes a [`HARNESS_ERROR`] violation with the trace kept, so
/// a sweep reports the seed and its replay command instead of exiting 101.
pub fn judge_safely(
    trace: Vec<TraceLine>,
    judge: impl FnOnce(&[TraceLine]) -> RunOutcome,
) -> RunOutcome {
    let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| judge(&trace)));
    let mut outcome = match judged {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".to_owned());
            RunOutcome {
                violations: vec![Violation::new(
                    HARNESS_ERROR,
                    format!("an oracle panicked: {message}"),
                )],
                ..RunOutcome::default()
            }
        }
    };
    outcome.trace = trace;
    outcome
}

/// The command that replays one seed of a scenario given by its built-in
/// name or its path (quoted for the shell here).
pub fn replay_command(scenario: &str, seed: u64) -> String {
    replay_command_with(&shell_quote(scenario), seed)
}

/// The command that replays one seed of `scenario`, reaching it the way it
/// was reached (path, name, backend).
pub fn replay_command_for(scenario: &dyn Runnable, seed: u64) -> String {
    replay_command_with(&scenario.replay_args(), seed)
}

fn replay_command_with(replay_args: &str, seed: u64) -> String {
    format!("cargo run --release -p sim -- run {replay_args} --seed {seed}")
}

/// A failure as a person needs it: seed, broken properties, the last trace
/// lines and the replay command; `scenario` is a built-in name or a path.
#[cfg(test)]
pub fn failure_report(scenario: &str, seed: u64, outcome: &RunOutcome) -> String {
    failure_report_with(scenario, &replay_command(scenario, seed), seed, outcome)
}

/// [`failure_report`] of a scenario as it was reached (see
/// [`Runnable::replay_args`]).
pub fn failure_report_for(scenario: &dyn Runnable, seed: u64, outcome: &RunOutcome) -> String {
    failure_report_with(
        scenario.name(),
        &replay_command_for(scenario, seed),
        seed,
        outcome,
    )
}

pub(crate) fn failure_report_with(
    scenario: &str,
    replay: &str,
    seed: u64,
    outcome: &RunOutcome,
) -> String {
    let mut out = format!("FAIL {scenario} seed {seed}\n");
    for violation in &outcome.violations {
        out.push_str(&format!(
            "  broken property {}: {}\n",
            violation.property, violation.detail
        ));
    }
    if let Some(first) = &outcome.first_break {
        // Where it went wrong, which can be long before the end.
        let from = first.line.saturating_sub(FIRST_BREAK_LINES_BEFORE);
        out.push_str(&format!(
            "  {} first broken by trace line {} of {}:\n",
            first.property,
            first.line + 1,
            outcome.trace.len()
        ));
        for (index, line) in outcome.trace[from..=first.line].iter().enumerate() {
            let marker = if from + index == first.line { ">" } else { " " };
            out.push_str(&format!("   {marker}{line}\n"));
        }
    }
    if outcome.stopped_at_first_break {
        out.push_str(&format!(
            "  the run was stopped at {} trace lines, by a safety check made while it ran (the replay runs it whole)\n",
            outcome.trace.len()
        ));
    }
    let start = outcome.trace.len().saturating_sub(FAILURE_TRACE_LINES);
    out.push_str(&format!(
        "  last {} trace lines:\n",
        outcome.trace.len() - start
    ));
    for line in &outcome.trace[start..] {
        out.push_str(&format!("    {line}\n"));
    }
    out.push_str(&format!("  replay: {replay}\n"));
    out
}

/// The simulated network of one run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// turmoil's step. Smaller is more faithful and slower; it must stay
    /// well below the smallest latency that should race and the game's
    /// timers.
    pub tick_ms: u64,
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    /// A run that has not finished by then is a liveness failure.
    pub duration_ms: u64,
    /// Let turmoil shuffle the order hosts run in within a step.
    pub random_host_order: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tick_ms: 1,
            latency_min_ms: 1,
            latency_max_ms: 5,
            duration_ms: 120_000,
            random_host_order: true,
        }
    }
}

/// A turmoil simulation set up from `net` and driven by `seed`.
pub fn build_sim<'a>(seed: u64, net: &NetConfig) -> turmoil::Sim<'a> {
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(net.tick_ms))
        .simulation_duration(Duration::from_millis(net.duration_ms))
        .min_message_latency(Duration::from_millis(net.latency_min_ms))
        .max_message_latency(Duration::from_millis(net.latency_max_ms));
    if net.random_host_order {
        builder.enable_random_order();
    }
    builder.build()
}

/// The RNG of one named host or session, derived from the run's seed, so
/// adding a host never changes another host's randomness.
pub fn host_rng(seed: u64, name: &str) -> ChaCha8Rng {
    // FNV-1a: stable across Rust versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&hash.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}
