//! The choices of a fast-backend run: every decision the network and the
//! scheduler make that a search may want to make otherwise, drawn through
//! one place.
//!
//! Five kinds of decision are choices:
//! - **fault**: whether each fault of the scenario (or of the swarm) happens
//!   at all (0, the default: it does not) and if so how many ms after its
//!   time it fires: value `v` fires it `v - 1` ms late, up to a round trip
//!   at the maximum latency (a seeded run takes 1: on time); taken when the
//!   run starts, one per fault, in the order of the faults;
//! - **server draws**: which RNG stream a game server's draws come from,
//!   when it starts (0, the default and what a seeded run takes: the
//!   seed's own);
//! - **bot plan**: which RNG stream a simulated client (a bot) draws what
//!   it does from (its board, when it joins, its behaviour's every random
//!   decision), each time its host starts (0, the default and what a
//!   seeded run takes: the seed's own);
//! - **order**: when several tasks are ready at once, which is polled next
//!   (0 is the first ready, as a seeded run does);
//! - **latency**: each segment's and each connect's latency within the
//!   scenario's range, as an offset from the minimum (0 is the fastest).
//!
//! A decision with a single option is not a choice and is not recorded.
//! A seeded run (the default) takes the first ready task and draws
//! latencies from the seed, exactly as before choices existed; a run can
//! also record what it chose ([`record`]) or be driven by a sequence of
//! values ([`drive`]), one per choice in the order they come up (past the
//! end of the sequence, every choice is the default 0; the sequence is
//! given as its [`Deviation`]s, the choices that are not 0). Recording a seeded
//! run and driving a run with what was recorded gives the same run, byte
//! for byte, because everything else in it (boards, behaviours, join
//! times, swarm and fault draws, the server's draws, `select!`) is drawn
//! from the seed's named streams.

use std::cell::RefCell;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What a choice decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChoiceKind {
    Fault,
    ServerDraws,
    BotPlan,
    Order,
    Latency,
}

impl ChoiceKind {
    /// The kind as reports name it.
    pub fn word(self) -> &'static str {
        match self {
            ChoiceKind::Fault => "fault",
            ChoiceKind::ServerDraws => "server draws",
            ChoiceKind::BotPlan => "bot plan",
            ChoiceKind::Order => "order",
            ChoiceKind::Latency => "latency",
        }
    }
}

/// One choice a run made: its value among `options` (0 is the default),
/// and the simulated time it was made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Choice {
    pub kind: ChoiceKind,
    pub value: u32,
    pub options: u32,
    pub time_ms: u64,
}

/// A choice that is not the default: its position among the run's choices
/// (from 0) and its value.
pub type Deviation = (u32, u32);

/// How a run makes its choices.
#[derive(Debug, Clone, Default)]
enum Mode {
    /// From the seed: the first ready task, latencies from the seed.
    #[default]
    Seeded,
    /// The default, except at the given positions (in increasing order).
    Driven {
        deviations: Vec<Deviation>,
        /// The next deviation not yet reached.
        cursor: usize,
        /// The position of the next choice.
        position: u32,
    },
}

/// The choice state of the run in progress on this thread.
#[derive(Debug, Default)]
pub(super) struct Choices {
    mode: Mode,
    /// What was chosen, when asked for.
    log: Option<Vec<Choice>>,
    /// When asked for: at each moment the run left (every task waiting,
    /// time about to move on) after its last deviation, how many choices
    /// had been made and the fingerprint of the state (see [`Fingerprint`]).
    fingerprints: Option<Vec<Fingerprint>>,
    /// Choices made so far.
    taken: u32,
    /// The faults and streams chosen so far other than the default, mixed
    /// (they shape the rest of the run, so they are part of its state).
    shaping: u64,
    /// Whether fingerprints take interchangeable hosts as a multiset (see
    /// `HostSpec::interchangeable`): two states that differ only by a
    /// permutation of such hosts get the same fingerprint.
    symmetric: bool,
}

/// The state of a run at one moment, as a search compares states: after
/// `position` choices, every task waiting and time about to move on from
/// `time_ms`, a hash of what each session has written into the trace (with
/// times), the bytes in flight with when they arrive, the pending timers
/// and the choices made when the run started (faults, streams). Two runs
/// with the same fingerprint are taken to be in the same state: what each
/// session does next depends only on what it has seen and when, which its
/// trace lines record. That is an abstraction (a line half read, or a
/// session's state that no trace line shows, is not in it), checked by
/// comparing pruned and full searches (`tests/explore.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub position: u32,
    pub time_ms: u64,
    pub state: u64,
}

/// A fixed 64-bit mix (splitmix64's finalizer): fingerprints are sums of
/// mixed parts, so that the order parts are added in does not count.
pub fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Choices {
    /// Whether the moment being left should be fingerprinted: asked for,
    /// and past the run's last deviation (before it, the run is its
    /// parent's, whose states are known already).
    pub(super) fn wants_fingerprint(&self) -> bool {
        self.fingerprints.is_some()
            && match &self.mode {
                Mode::Seeded => true,
                Mode::Driven {
                    deviations, cursor, ..
                } => *cursor >= deviations.len(),
            }
    }

    /// Whether this run keeps fingerprints at all.
    pub(super) fn fingerprints_asked(&self) -> bool {
        self.fingerprints.is_some()
    }

    /// Whether its fingerprints count interchangeable hosts as a multiset.
    pub(super) fn fingerprints_symmetric(&self) -> bool {
        self.symmetric
    }

    /// Keeps one moment's fingerprint, adding in the choices that shape
    /// the whole run (faults, streams), made before it.
    pub(super) fn fingerprint(&mut self, time_ms: u64, state: u64) {
        let state = mix(state ^ mix(time_ms)).wrapping_add(self.shaping);
        let position = self.taken;
        if let Some(fingerprints) = &mut self.fingerprints {
            fingerprints.push(Fingerprint {
                position,
                time_ms,
                state,
            });
        }
    }

    fn take(
        &mut self,
        kind: ChoiceKind,
        options: u32,
        time_ms: u64,
        seeded: impl FnOnce() -> u32,
    ) -> u32 {
        let value = match &mut self.mode {
            Mode::Seeded => seeded(),
            Mode::Driven {
                deviations,
                cursor,
                position,
            } => {
                let value = match deviations.get(*cursor) {
                    Some(&(at, value)) if at == *position => {
                        *cursor += 1;
                        value
                    }
                    _ => 0,
                };
                *position += 1;
                // A sequence made for other code may ask too much: the last
                // option is the nearest.
                value.min(options - 1)
            }
        };
        if value != 0
            && matches!(
                kind,
                ChoiceKind::Fault | ChoiceKind::ServerDraws | ChoiceKind::BotPlan
            )
        {
            self.shaping = self
                .shaping
                .wrapping_add(mix(mix(u64::from(self.taken)) ^ u64::from(value)));
        }
        self.taken += 1;
        if let Some(log) = &mut self.log {
            log.push(Choice {
                kind,
                value,
                options,
                time_ms,
            });
        }
        value
    }

    /// Which of `ready` tasks runs next.
    pub(super) fn order(&mut self, ready: usize, time_ms: u64) -> usize {
        if ready < 2 {
            return 0;
        }
        let options = u32::try_from(ready).unwrap_or(u32::MAX);
        self.take(ChoiceKind::Order, options, time_ms, || 0) as usize
    }

    /// Whether a fault happens (`None`: not, the default) and how late it
    /// fires, in `0..=delay_max_ms` (a seeded run: on time).
    pub(super) fn fault(&mut self, delay_max_ms: u64, time_ms: u64) -> Option<u64> {
        let options = u32::try_from(delay_max_ms.saturating_add(2)).unwrap_or(u32::MAX);
        match self.take(ChoiceKind::Fault, options, time_ms, || 1) {
            0 => None,
            value => Some(u64::from(value) - 1),
        }
    }

    /// Which of `streams` RNG streams a server's draws (`ServerDraws`) or a
    /// bot's decisions (`BotPlan`) come from (0, the seed's own, in a
    /// seeded run).
    pub(super) fn stream(&mut self, kind: ChoiceKind, streams: u32, time_ms: u64) -> u32 {
        if streams < 2 {
            return 0;
        }
        self.take(kind, streams, time_ms, || 0)
    }

    /// A latency in `min_ms..=max_ms`, drawn from `rng` in a seeded run.
    pub(super) fn latency(
        &mut self,
        rng: &mut ChaCha8Rng,
        min_ms: u64,
        max_ms: u64,
        time_ms: u64,
    ) -> u64 {
        if max_ms <= min_ms {
            return min_ms;
        }
        let options = u32::try_from(max_ms - min_ms + 1).unwrap_or(u32::MAX);
        let offset = self.take(ChoiceKind::Latency, options, time_ms, || {
            (rng.random_range(min_ms..=max_ms) - min_ms) as u32
        });
        min_ms + u64::from(offset)
    }
}

thread_local! {
    /// What the next run on this thread starts with, and what the last
    /// one left.
    static NEXT: RefCell<Option<Choices>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<(Vec<Choice>, Vec<Fingerprint>)>> = const { RefCell::new(None) };
}

/// The choices a run starting now makes (taken by the scheduler).
pub(super) fn starting() -> Choices {
    NEXT.with(|next| next.borrow_mut().take())
        .unwrap_or_default()
}

/// Keeps what a finished run chose, for [`record`] and [`drive`].
pub(super) fn finished(choices: Choices) {
    if let Some(log) = choices.log {
        let fingerprints = choices.fingerprints.unwrap_or_default();
        LAST.with(|last| *last.borrow_mut() = Some((log, fingerprints)));
    }
}

fn with_next<T>(choices: Choices, run: impl FnOnce() -> T) -> (T, Vec<Choice>) {
    let (output, log, _) = with_next_fingerprinted(choices, run);
    (output, log)
}

fn with_next_fingerprinted<T>(
    choices: Choices,
    run: impl FnOnce() -> T,
) -> (T, Vec<Choice>, Vec<Fingerprint>) {
    NEXT.with(|next| *next.borrow_mut() = Some(choices));
    LAST.with(|last| last.borrow_mut().take());
    let output = run();
    // A run that never reached the fast backend leaves its choices unused.
    NEXT.with(|next| next.borrow_mut().take());
    let (log, fingerprints) = LAST
        .with(|last| last.borrow_mut().take())
        .unwrap_or_default();
    (output, log, fingerprints)
}

/// Runs `run` (one fast-backend run) as seeded, and returns what it chose.
pub fn record<T>(run: impl FnOnce() -> T) -> (T, Vec<Choice>) {
    with_next(
        Choices {
            mode: Mode::Seeded,
            log: Some(Vec::new()),
            ..Choices::default()
        },
        run,
    )
}

/// Runs `run` (one fast-backend run) with every choice the default except
/// at `deviations` (sorted by position), and returns what it chose.
pub fn drive<T>(deviations: &[Deviation], run: impl FnOnce() -> T) -> (T, Vec<Choice>) {
    with_next(driven(deviations, false, false), run)
}

/// The choices of a run driven by `deviations`, logged, and with each
/// moment's fingerprint kept when `fingerprints`.
fn driven(deviations: &[Deviation], fingerprints: bool, symmetric: bool) -> Choices {
    Choices {
        symmetric,
        mode: Mode::Driven {
            deviations: deviations.to_vec(),
            cursor: 0,
            position: 0,
        },
        log: Some(Vec::new()),
        fingerprints: fingerprints.then(Vec::new),
        ..Choices::default()
    }
}

/// As [`drive`], and also returns the fingerprint of each moment the run
/// left after its last deviation (see [`Fingerprint`]), for a search that
/// prunes states it has seen; with `symmetric`, states that differ only by
/// a permutation of interchangeable hosts have the same fingerprint.
pub fn drive_fingerprinted<T>(
    deviations: &[Deviation],
    symmetric: bool,
    run: impl FnOnce() -> T,
) -> (T, Vec<Choice>, Vec<Fingerprint>) {
    with_next_fingerprinted(driven(deviations, true, symmetric), run)
}

/// The choices of a log that are not the default.
pub fn deviations_of(log: &[Choice]) -> Vec<Deviation> {
    log.iter()
        .enumerate()
        .filter(|(_, choice)| choice.value != 0)
        .map(|(position, choice)| (position as u32, choice.value))
        .collect()
}
