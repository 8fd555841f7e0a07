//! The seam between games and backends: a [`Model`] says which hosts a
//! scenario starts and how its trace is judged; a [`Backend`] runs those
//! hosts on its network (turmoil's, or the fast in-memory one), applies the
//! scenario's faults on schedule and says which waited-for hosts never
//! finished. [`run`] joins the two: model x backend x seed -> [`RunOutcome`].
//!
//! A model knows nothing of turmoil or of the fast backend: its host
//! software is written once, generic over the backend's [`Env`], and gets
//! its sessions' environments and its extra tasks from a [`HostContext`].
//!
//! # RNG streams
//!
//! Every random choice of a run comes from the seed through a named stream
//! ([`crate::engine::harness::host_rng`]`(seed, name)`), so adding a host or
//! a session never changes another's randomness. The names, which recorded
//! seeds and snapshots depend on (do not rename them):
//! - the network: turmoil is seeded with the seed itself; the fast backend
//!   draws connection set-ups and each pipe's own seed from `fast-network`,
//!   and seeds tokio's scheduler RNG with the seed's bytes;
//! - swarm mode: `swarm` (network settings and extra faults);
//! - tombola: the server's `n`-th start `server#n` (the first is
//!   `server#1`); a player's board `<player>`, its join delay
//!   `join-<player>`, a mischievous player's mischief `mischief-<player>`;
//! - live: the server's first start `server`, later starts `server#n`;
//!   boards, join delays and mischief as tombola's;
//! - chat: the server draws nothing; each connection of a session is its
//!   own stream, named as its trace name: `<session>` for the first,
//!   `<session>.<attempt>` for reconnects, `<session>#<incarnation>` (and
//!   `<session>#<incarnation>.<attempt>`) after its host restarted; the
//!   scenario's recipes draw from the stream of the seed the spec was built
//!   with (`plan-<session>`, and `join-<session>` for its join delay).
//!
//! On the fast backend, which stream a server draws from and which a bot
//! decides from are choices of the run ([`HostContext::server_stream`],
//! [`HostContext::bot_stream`]): the default, and what every seeded run
//! takes, is the name itself; another choice renames the stream
//! (`<name>/draws-K` for a server, `<bot>/plan-K` for a bot, whose every
//! stream above is then named after `<bot>/plan-K` in place of `<bot>`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use games::env::Env;

use crate::engine::harness::{NetConfig, RunOptions, RunOutcome, SafetyChecks, Violation};
use crate::engine::trace::{Trace, TraceLine};
use crate::scenario::faults::Fault;
use crate::scenario::swarm;

/// What a host's software returns: an error stops the run (as turmoil
/// does with a failing host).
pub type HostResult = Result<(), Box<dyn std::error::Error>>;

/// A future that runs on one host's thread (it need not be `Send`).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The end of a task started with [`HostContext::spawn`]: an error when it
/// panicked or a crash stopped it.
pub type TaskJoin = LocalFuture<HostResult>;

/// A host's software: called at each (re)start with its incarnation (1 for
/// the first start) and the host's context.
pub type Software<E> = Rc<dyn Fn(u32, HostContext<E>) -> LocalFuture<HostResult>>;

/// The classes of interchangeable hosts (see [`HostSpec::class`]) from
/// each host's key, in order (None: not interchangeable with any): a key
/// that only one host has is no class.
pub fn classes(keys: Vec<Option<String>>) -> Vec<Option<String>> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for key in keys.iter().flatten() {
        *counts.entry(key.clone()).or_default() += 1;
    }
    keys.into_iter()
        .map(|key| key.filter(|key| counts[key] >= 2))
        .collect()
}

/// One host of a run.
pub struct HostSpec<E> {
    /// Hosts of the same class are interchangeable: the same software but
    /// for their names, drawing nothing random, so a state and the state
    /// with two of them swapped play out the same up to the swap. A search
    /// that prunes states takes them as a multiset (`sim explore`).
    pub class: Option<String>,
    /// Its name on the network (what faults and addresses name).
    pub name: String,
    /// Whether the run waits for its software to finish: a run ends when
    /// every waited-for host is done (a crash counts as done until a
    /// restart).
    pub waited: bool,
    pub software: Software<E>,
}

impl<E> HostSpec<E> {
    /// This host, interchangeable with every other of `class` (see
    /// [`HostSpec::class`]).
    pub fn interchangeable(mut self, class: String) -> HostSpec<E> {
        self.class = Some(class);
        self
    }

    pub fn new(
        name: &str,
        waited: bool,
        software: impl Fn(u32, HostContext<E>) -> LocalFuture<HostResult> + 'static,
    ) -> HostSpec<E> {
        HostSpec {
            class: None,
            name: name.to_owned(),
            waited,
            software: Rc::new(software),
        }
    }
}

/// What a host's software gets from its backend: an [`Env`] for each named
/// session on the host, and a way to start tasks that belong to the host
/// (a crash stops them with the rest of the host).
pub struct HostContext<E> {
    make_env: Rc<dyn Fn(&str) -> E>,
    spawner: Rc<dyn Fn(LocalFuture<()>) -> TaskJoin>,
    streams: Rc<dyn Fn(StreamChoice, u32) -> u32>,
}

/// What a choice of RNG stream decides (see [`HostContext::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChoice {
    /// A game server's random draws.
    ServerDraws,
    /// Everything a bot (a simulated client) draws at random.
    BotPlan,
}

impl<E> Clone for HostContext<E> {
    fn clone(&self) -> Self {
        HostContext {
            make_env: self.make_env.clone(),
            spawner: self.spawner.clone(),
            streams: self.streams.clone(),
        }
    }
}

impl<E> HostContext<E> {
    /// `streams` picks one of `n` RNG streams for a server's draws or a
    /// bot's decisions (see [`HostContext::server_stream`] and
    /// [`HostContext::bot_stream`]); a backend without choices answers 0.
    pub fn new(
        make_env: impl Fn(&str) -> E + 'static,
        spawner: impl Fn(LocalFuture<()>) -> TaskJoin + 'static,
        streams: impl Fn(StreamChoice, u32) -> u32 + 'static,
    ) -> HostContext<E> {
        HostContext {
            make_env: Rc::new(make_env),
            spawner: Rc::new(spawner),
            streams: Rc::new(streams),
        }
    }

    /// The name of the RNG stream a game server draws from (its bag of
    /// numbers): `name` itself, the seed's own stream, or on the fast
    /// backend, as a choice of the run, one of
    /// [`SERVER_DRAW_STREAMS`]` - 1` others (`name/draws-K`). A seeded run
    /// takes the seed's own, so every seeded run is unchanged.
    pub fn server_stream(&self, name: &str) -> String {
        match (self.streams)(StreamChoice::ServerDraws, SERVER_DRAW_STREAMS) {
            0 => name.to_owned(),
            other => format!("{name}/draws-{other}"),
        }
    }

    /// The name a bot's RNG streams are named after: `name` itself (the
    /// seed's own plan), or on the fast backend, as a choice of the run,
    /// one of [`BOT_PLAN_STREAMS`]` - 1` others (`name/plan-K`). So one
    /// deviation gives a bot another board, another join time and other
    /// random decisions. A seeded run takes `name`, so every seeded run is
    /// unchanged. Called once per bot each time its host starts.
    pub fn bot_stream(&self, name: &str) -> String {
        match (self.streams)(StreamChoice::BotPlan, BOT_PLAN_STREAMS) {
            0 => name.to_owned(),
            other => format!("{name}/plan-{other}"),
        }
    }

    /// The environment of a session named `session` (its trace name) on
    /// this host.
    pub fn env(&self, session: &str) -> E {
        (self.make_env)(session)
    }

    /// Starts a task of this host; awaiting what it returns waits for the
    /// task's end.
    pub fn spawn(&self, task: impl Future<Output = ()> + 'static) -> TaskJoin {
        (self.spawner)(Box::pin(task))
    }
}

/// How many streams a game server's draws may come from in a search: the
/// seed's own and this many less one others.
pub const SERVER_DRAW_STREAMS: u32 = 16;

/// How many plans a bot may follow in a search: the seed's own and this
/// many less one others.
pub const BOT_PLAN_STREAMS: u32 = 16;

/// A simulated network with hosts that start, crash and restart.
pub trait Backend {
    type Env: Env;

    /// Runs `hosts` (started in order at time 0) until every waited-for
    /// host is done or `net.duration_ms` has passed, applying `faults` on
    /// schedule and writing each into the trace as host `sim`. Returns the
    /// violations the run itself shows (`liveness`).
    fn run_hosts(
        &self,
        seed: u64,
        net: &NetConfig,
        faults: &[Fault],
        trace: &Trace,
        hosts: Vec<HostSpec<Self::Env>>,
        watch: Watch<'_>,
    ) -> Vec<Violation>;
}

/// A look at a run's trace between two steps of the simulation (on the
/// fast backend each moment every task waits, on turmoil each tick): true
/// stops the run there. It only reads, so the run up to the stop is the
/// run it would have been without it. None: the run is not watched.
pub type Watch<'a> = Option<&'a dyn Fn(&Trace) -> bool>;

/// A game's harness model: what one of its scenario specs starts and how
/// its trace is judged.
pub trait Model {
    fn net(&self) -> &NetConfig;
    fn faults(&self) -> &[Fault];
    /// Whether each seed draws extra faults and network settings.
    fn swarm(&self) -> bool;
    /// The client names a swarm fault may pick (the server is "server").
    fn swarm_targets(&self) -> Vec<String>;
    /// A fault as the backend applies it: names of sessions replaced by
    /// their hosts' names.
    fn on_hosts(&self, fault: &Fault) -> Fault {
        fault.clone()
    }
    /// The hosts one seed starts, in order.
    fn hosts<E: Env>(&self, seed: u64) -> Vec<HostSpec<E>>;
    /// Judges a run's trace lines (`violations` are the backend's); the
    /// outcome's own `trace` is left empty. Also called on a prefix of a
    /// run's trace, with no backend violations, to find where its safety
    /// first broke (see [`crate::engine::first_break`]) and to check a
    /// watched run as it goes.
    fn judge(&self, lines: &[TraceLine], violations: Vec<Violation>) -> RunOutcome;
    /// [`Model::judge`], keeping the lines in the outcome, with a panic of
    /// an oracle reported as a `harness-error` violation.
    fn judge_lines(&self, lines: Vec<TraceLine>, violations: Vec<Violation>) -> RunOutcome {
        crate::engine::harness::judge_safely(lines, |lines| self.judge(lines, violations))
    }
    /// The properties that only a whole run can be judged by (a game that
    /// must end, a reply that must come, lines every client must have
    /// received): on a prefix they are broken by what has not happened
    /// yet, so they are not looked for in prefixes. Every other property is
    /// a safety property: once a prefix breaks it, every longer one does.
    fn end_of_run_properties(&self) -> &'static [&'static str];
}

/// When a watched run's safety is checked (see [`run`],
/// `SafetyChecks::AsTraceDoubles`): each check judges the whole trace so
/// far, so checking after every step costs time quadratic in the trace
/// (searches 4 to 10 times slower on small scenarios). A check comes once
/// the trace is at least this long and twice as long as at the last
/// check: the checks cost at most two judgements of the whole trace, and a
/// broken run goes on at most as long again as before its first break
/// (which is then found exactly, by bisection). A shorter run is judged at
/// its end.
pub const SAFETY_CHECK_FIRST_LINES: usize = 32;

/// Runs one seed of `model` on `backend` and judges it.
pub fn run<M: Model, B: Backend>(
    model: &M,
    backend: &B,
    seed: u64,
    options: &RunOptions,
) -> RunOutcome {
    let trace = options.new_trace();
    let (net, faults) = if model.swarm() {
        swarm::draw(
            seed,
            model.net(),
            model.faults(),
            &model.swarm_targets(),
            &trace,
        )
    } else {
        (model.net().clone(), model.faults().to_vec())
    };
    let faults: Vec<Fault> = faults.iter().map(|fault| model.on_hosts(fault)).collect();
    let hosts = model.hosts::<B::Env>(seed);
    // With safety checks during the run, the safety properties are judged
    // between two steps as the trace grows, and the first check that
    // finds one broken ends the run.
    let (checked_lines, stopped) = (Cell::new(0), Cell::new(false));
    let safety = |trace: &Trace| {
        let length = trace.len();
        let due = match options.safety_checks {
            SafetyChecks::EveryStep => length > checked_lines.get(),
            _ => length >= SAFETY_CHECK_FIRST_LINES.max(2 * checked_lines.get()),
        };
        if !due {
            return false;
        }
        checked_lines.set(length);
        let broken =
            trace.with_lines(|lines| crate::engine::first_break::breaks_safety(model, lines));
        stopped.set(broken);
        broken
    };
    let watch: Watch<'_> = (options.safety_checks != SafetyChecks::AtEnd)
        .then_some(&safety as &dyn Fn(&Trace) -> bool);
    let violations = backend.run_hosts(seed, &net, &faults, &trace, hosts, watch);
    let mut outcome = model.judge_lines(trace.take_lines(), violations);
    if stopped.get() {
        // What only a whole run can be judged by was not judged: the run
        // was cut short.
        outcome
            .violations
            .retain(|violation| crate::engine::first_break::is_safety(model, &violation.property));
        outcome.stopped_at_first_break = true;
    }
    if !outcome.passed() {
        outcome.first_break = crate::engine::first_break::find(model, &outcome);
    }
    outcome.wire = trace.wire();
    outcome
}

/// The liveness violation of a run that did not finish.
pub fn unfinished(error: &str) -> Violation {
    Violation::new("liveness", format!("the run did not finish: {error}"))
}

#[cfg(test)]
mod tests {
    use super::classes;

    #[test]
    fn a_key_shared_by_two_hosts_or_more_is_a_class_and_a_key_of_one_is_none() {
        let key = |text: &str| Some(text.to_owned());
        assert_eq!(
            classes(vec![key("a"), None, key("b"), key("a"), key("a")]),
            vec![key("a"), None, None, key("a"), key("a")]
        );
    }
}
