//! The lock-step tombola server as a state machine without I/O.
//!
//! Inputs go in with the current time (`connect`, `receive`, `disconnect`,
//! `handle_timeout`); outputs come out of `poll_output` (lines to send,
//! connections to close) and `poll_note` (what happened, for logs and the
//! simulation trace). The async shell in `server.rs` feeds it from sockets;
//! tests and the harness can feed it directly. It never reads a clock and
//! owns the only RNG it uses, seeded by the caller.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::Rng;

use crate::conn::ConnId;
use crate::tombola::notes::{DropReason, Note};
use crate::tombola::protocol::{ClientMessage, Players, ServerMessage};
use crate::tombola::rules::{Board, DrawBag, NumberSet, NUMBER_MAX};
use crate::wire::Refusal;

/// Server settings; the defaults are the protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Players a game waits for.
    pub players: usize,
    /// Time between two draws.
    pub interval_ms: u64,
    /// How long a player may take to answer a draw before it is dropped.
    pub reply_timeout_ms: u64,
    /// How long registered players wait for the table to fill once no game
    /// is running: then the game starts with those present (at least
    /// [`GAME_PLAYERS_MIN`]), or, with fewer, each is told
    /// `ERR not-enough-players` and closed. Without it a player whose
    /// connect never arrives keeps everybody else waiting forever.
    pub registration_timeout_ms: u64,
    /// Numbers drawn first in every game (to force a race); the rest is
    /// shuffled from the seed.
    pub draw_prefix: Vec<u8>,
    /// A deliberate bug, for checking that the harness's oracles catch it.
    /// Never set outside tests and scenario files that say so.
    pub injected_bug: Option<InjectedBug>,
}

/// Deliberate bugs the simulation can switch on to prove its oracles can
/// fail: a check that cannot fail is worth nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedBug {
    /// Only the first valid claim of a round wins (simultaneous claims lose).
    FirstClaimOnly,
    /// The 10th draw repeats the 9th number.
    RepeatDraw,
    /// Off by one: the 5th draw goes out as `DRAW 6`, and every later one
    /// one higher.
    SkipSeq,
    /// Wrong order: the player whose board fills the table is sent `START`
    /// before its `BOARD-OK`.
    StartBeforeBoardOk,
    /// Missing reply: the player whose board fills the table is never sent
    /// `BOARD-OK`.
    MissingBoardOk,
    /// Reply to the wrong client: the refusal of a false claim goes to the
    /// first other player of the game (the claimer is still disqualified).
    FalseClaimToNeighbour,
    /// Wrong reply: a correct `ACK 7` is answered `ERR bad-seq`.
    AckSevenRefused,
    /// Off by one at a bound: `WAITING` counts one player too many.
    WaitingCountsOneMore,
    /// Stale state after a leave: the claim of a player dropped after its
    /// valid claim and before the round is decided (its connection reset
    /// while others still owed their answer) is not withdrawn, so the round
    /// ends the game as if someone had won, with no winner: `OVER NOWINNER`
    /// long before draw 90.
    DroppedClaimEndsGame,
    /// A missing guard: a table that fills while a game runs starts its
    /// game at once, in place of the running one, whose players never
    /// hear how it ended.
    StartOverRunningGame,
}

/// Every injected bug by its scenario-file name.
pub const INJECTED_BUGS: &[(&str, InjectedBug)] = &[
    ("first-claim-only", InjectedBug::FirstClaimOnly),
    ("repeat-draw", InjectedBug::RepeatDraw),
    ("skip-seq", InjectedBug::SkipSeq),
    ("start-before-board-ok", InjectedBug::StartBeforeBoardOk),
    ("missing-board-ok", InjectedBug::MissingBoardOk),
    (
        "false-claim-to-neighbour",
        InjectedBug::FalseClaimToNeighbour,
    ),
    ("ack-seven-refused", InjectedBug::AckSevenRefused),
    ("waiting-counts-one-more", InjectedBug::WaitingCountsOneMore),
    ("dropped-claim-ends-game", InjectedBug::DroppedClaimEndsGame),
    ("start-over-running-game", InjectedBug::StartOverRunningGame),
];

impl std::str::FromStr for InjectedBug {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        INJECTED_BUGS
            .iter()
            .find(|(name, _)| *name == text)
            .map(|&(_, bug)| bug)
            .ok_or_else(|| {
                let known: Vec<&str> = INJECTED_BUGS.iter().map(|(name, _)| *name).collect();
                format!("unknown bug {text:?} (known: {})", known.join(", "))
            })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            players: 2,
            interval_ms: 1000,
            reply_timeout_ms: 5000,
            registration_timeout_ms: REGISTRATION_TIMEOUT_MS,
            draw_prefix: Vec::new(),
            injected_bug: None,
        }
    }
}

/// Upper bound on `players`: a game with more would only ever wait.
pub const PLAYERS_MAX: usize = 1000;

/// Default [`ServerConfig::registration_timeout_ms`]: a minute is long
/// against any connect retry a client makes (see
/// `client::CONNECT_ATTEMPTS_MAX`) and short against a person's patience.
pub const REGISTRATION_TIMEOUT_MS: u64 = 60_000;

/// The fewest players a game started by the registration timeout may
/// have: a game of one is no contest (a server configured for one player
/// starts as soon as that one registers and never waits).
pub const GAME_PLAYERS_MIN: usize = 2;

/// What the shell must do: send a line, or flush and close.
pub type Output = crate::conn::Delivery<ServerMessage>;

#[derive(Debug)]
struct Player {
    id: String,
    board: Option<Board>,
}

#[derive(Debug)]
enum Round {
    /// Waiting for the next draw time.
    Drawing { next_draw_at_ms: u64 },
    /// A number is out; waiting for every player's answer.
    Answering {
        drawn_at_ms: u64,
        pending: BTreeSet<ConnId>,
        claims: BTreeSet<ConnId>,
    },
}

#[derive(Debug)]
struct Game {
    number: u64,
    /// In registration order; this is also the order winners are listed in.
    players: Vec<ConnId>,
    /// The same players as a set, for the membership test of every answer:
    /// searching the list made each draw of a 1,000-player game quadratic.
    seated: BTreeSet<ConnId>,
    bag: DrawBag,
    drawn: NumberSet,
    seq: u32,
    round: Round,
}

/// The lock-step server's whole state.
#[derive(Debug)]
pub struct LockstepServer<R> {
    config: ServerConfig,
    rng: R,
    players: BTreeMap<ConnId, Player>,
    /// Registered players waiting for a game, in registration order.
    queue: Vec<ConnId>,
    game: Option<Game>,
    /// When the queue last became non-empty with no game running: the
    /// registration timeout counts from here.
    waiting_since_ms: Option<u64>,
    games_started: u64,
    ids_given: u64,
    outputs: VecDeque<Output>,
    notes: VecDeque<Note>,
}

impl<R: Rng> LockstepServer<R> {
    pub fn new(config: ServerConfig, rng: R) -> Self {
        assert!(
            (1..=PLAYERS_MAX).contains(&config.players),
            "players must be in 1..={PLAYERS_MAX}"
        );
        LockstepServer {
            config,
            rng,
            players: BTreeMap::new(),
            queue: Vec::new(),
            game: None,
            waiting_since_ms: None,
            games_started: 0,
            ids_given: 0,
            outputs: VecDeque::new(),
            notes: VecDeque::new(),
        }
    }

    /// A new connection: it is greeted with its id.
    pub fn connect(&mut self, _now_ms: u64, conn: ConnId) {
        self.ids_given += 1;
        let id = format!("p{}", self.ids_given);
        self.note(Note::Connect { player: id.clone() });
        self.send(conn, ServerMessage::Welcome(id.clone()));
        self.players.insert(conn, Player { id, board: None });
    }

    /// One line from a connection.
    pub fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str) {
        if !self.players.contains_key(&conn) {
            return;
        }
        match ClientMessage::parse(line) {
            Err(refusal) => self.refuse(conn, refusal),
            Ok(ClientMessage::Board(board)) => self.register(now_ms, conn, board),
            Ok(ClientMessage::Ack(seq)) => self.answer(now_ms, conn, seq, false),
            Ok(ClientMessage::Tombola(seq)) => self.answer(now_ms, conn, seq, true),
        }
        self.handle_timeout(now_ms);
    }

    /// The connection is gone (closed, reset, or broke the framing).
    pub fn disconnect(&mut self, now_ms: u64, conn: ConnId) {
        if self.players.contains_key(&conn) {
            self.drop_player(conn, DropReason::Disconnected);
            self.handle_timeout(now_ms);
        }
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        let Some(game) = &self.game else {
            return self
                .waiting_since_ms
                .map(|since_ms| since_ms + self.config.registration_timeout_ms);
        };
        match &game.round {
            Round::Drawing { next_draw_at_ms } => Some(*next_draw_at_ms),
            Round::Answering { drawn_at_ms, .. } => {
                Some(drawn_at_ms + self.config.reply_timeout_ms)
            }
        }
    }

    /// Does whatever is due at `now_ms`: draws, timeouts, ends of rounds.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        loop {
            let Some(game) = &mut self.game else {
                if self.queue.is_empty() {
                    self.waiting_since_ms = None;
                    return;
                }
                let since_ms = *self.waiting_since_ms.get_or_insert(now_ms);
                if since_ms + self.config.registration_timeout_ms > now_ms {
                    return;
                }
                self.registration_timed_out(now_ms);
                continue;
            };
            self.waiting_since_ms = None;
            if game.players.is_empty() {
                // The last player left between two draws: nobody is left
                // to draw for, so the game ends now rather than at the
                // next draw (a run whose clients are all gone would
                // otherwise end with a game that never ended).
                self.abandon(now_ms);
                return;
            }
            match &mut game.round {
                Round::Drawing { next_draw_at_ms } if *next_draw_at_ms <= now_ms => {
                    self.draw(now_ms)
                }
                Round::Answering {
                    drawn_at_ms,
                    pending,
                    ..
                } if !pending.is_empty()
                    && *drawn_at_ms + self.config.reply_timeout_ms <= now_ms =>
                {
                    let silent: Vec<ConnId> = pending.iter().copied().collect();
                    let seq = game.seq;
                    for conn in silent {
                        self.send(
                            conn,
                            ServerMessage::Err(Refusal::new(
                                "reply-timeout",
                                format!("no answer to draw {seq}"),
                            )),
                        );
                        self.drop_player(conn, DropReason::ReplyTimeout);
                    }
                }
                Round::Answering { pending, .. } if pending.is_empty() => self.end_round(now_ms),
                _ => return,
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next thing that happened, as one trace event (`draw 3 42`, ...).
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// Games started since the server began.
    pub fn games_started(&self) -> u64 {
        self.games_started
    }

    fn register(&mut self, now_ms: u64, conn: ConnId, board: Board) {
        let player = self.players.get_mut(&conn).expect("caller checked");
        if player.board.is_some() {
            return self.refuse(
                conn,
                Refusal::new("already-registered", "one board per connection"),
            );
        }
        let note = Note::Board {
            player: player.id.clone(),
            board: board.clone(),
        };
        player.board = Some(board);
        self.note(note);
        self.queue.push(conn);
        let fills_table = self.game.is_none() && self.queue.len() >= self.config.players;
        match self.config.injected_bug {
            Some(InjectedBug::StartBeforeBoardOk) if fills_table => {
                self.try_start(now_ms);
                self.send(conn, ServerMessage::BoardOk);
            }
            Some(InjectedBug::MissingBoardOk) if fills_table => self.try_start(now_ms),
            _ => {
                self.send(conn, ServerMessage::BoardOk);
                self.try_start(now_ms);
            }
        }
        self.announce_waiting();
    }

    fn answer(&mut self, _now_ms: u64, conn: ConnId, seq: u32, claims: bool) {
        let Some(game) = &mut self.game else {
            return self.refuse(
                conn,
                Refusal::new("not-playing", "no game of yours is running"),
            );
        };
        if !game.seated.contains(&conn) {
            return self.refuse(
                conn,
                Refusal::new("not-playing", "no game of yours is running"),
            );
        }
        let current = game.seq;
        let Round::Answering {
            pending,
            claims: valid_claims,
            ..
        } = &mut game.round
        else {
            return self.refuse(
                conn,
                Refusal::new("bad-seq", format!("{seq} is not the current draw")),
            );
        };
        let refuse_seven =
            !claims && seq == 7 && self.config.injected_bug == Some(InjectedBug::AckSevenRefused);
        if seq != current || refuse_seven || !pending.remove(&conn) {
            return self.refuse(
                conn,
                Refusal::new("bad-seq", format!("{seq} is not the current draw")),
            );
        }
        if !claims {
            return;
        }
        let player = &self.players[&conn];
        let board = player
            .board
            .as_ref()
            .expect("players in a game have boards");
        if board.is_covered_by(&game.drawn) {
            self.notes.push_back(Note::Claim {
                player: player.id.clone(),
                seq,
                valid: true,
            });
            let first_only = self.config.injected_bug == Some(InjectedBug::FirstClaimOnly);
            if !first_only || valid_claims.is_empty() {
                valid_claims.insert(conn);
            }
        } else {
            self.notes.push_back(Note::Claim {
                player: player.id.clone(),
                seq,
                valid: false,
            });
            let told = match self.config.injected_bug {
                Some(InjectedBug::FalseClaimToNeighbour) => game
                    .players
                    .iter()
                    .copied()
                    .find(|&other| other != conn)
                    .unwrap_or(conn),
                _ => conn,
            };
            self.send(
                told,
                ServerMessage::Err(Refusal::new("false-claim", seq.to_string())),
            );
            self.send(
                conn,
                ServerMessage::Err(Refusal::new("disqualified", "out of this game")),
            );
            self.drop_player(conn, DropReason::FalseClaim);
        }
    }

    fn try_start(&mut self, now_ms: u64) {
        let guarded = self.config.injected_bug != Some(InjectedBug::StartOverRunningGame);
        if (guarded && self.game.is_some()) || self.queue.len() < self.config.players {
            return;
        }
        let players: Vec<ConnId> = self.queue.drain(..self.config.players).collect();
        self.start(players, now_ms);
    }

    /// The queue waited `registration_timeout_ms` without filling the table:
    /// play with those present, or tell them there are too few and close.
    fn registration_timed_out(&mut self, now_ms: u64) {
        self.waiting_since_ms = None;
        let have = self.queue.len();
        let need = self.config.players;
        if have >= GAME_PLAYERS_MIN.min(need) {
            let players: Vec<ConnId> = self.queue.drain(..have.min(need)).collect();
            return self.start(players, now_ms);
        }
        let waited_ms = self.config.registration_timeout_ms;
        for conn in self.queue.clone() {
            self.send(
                conn,
                ServerMessage::Err(Refusal::new(
                    "not-enough-players",
                    format!("{have} of {need} came in {waited_ms} ms"),
                )),
            );
            self.drop_player(conn, DropReason::RegistrationTimeout);
        }
    }

    fn start(&mut self, players: Vec<ConnId>, now_ms: u64) {
        self.games_started += 1;
        let number = self.games_started;
        let ids: Vec<String> = players
            .iter()
            .filter_map(|conn| self.players.get(conn).map(|player| player.id.clone()))
            .collect();
        self.note(Note::Start {
            game: number,
            players: ids.clone(),
        });
        // One shared list for every recipient (see `Players`).
        let seated = Players::new(&ids);
        for &conn in &players {
            self.send(
                conn,
                ServerMessage::Start {
                    game: number,
                    players: seated.clone(),
                },
            );
        }
        let bag = DrawBag::with_prefix(&self.config.draw_prefix, &mut self.rng);
        self.game = Some(Game {
            number,
            seated: players.iter().copied().collect(),
            players,
            bag,
            drawn: NumberSet::default(),
            seq: 0,
            round: Round::Drawing {
                next_draw_at_ms: now_ms,
            },
        });
    }

    fn draw(&mut self, now_ms: u64) {
        let game = self.game.as_mut().expect("caller checked");
        let mut number = game.bag.draw().expect("a game ends by the 90th draw");
        if self.config.injected_bug == Some(InjectedBug::RepeatDraw) && game.seq == 9 {
            number = game.bag.drawn()[8];
        }
        game.seq += 1;
        if self.config.injected_bug == Some(InjectedBug::SkipSeq) && game.seq == 5 {
            game.seq += 1;
        }
        game.drawn.insert(number);
        let seq = game.seq;
        game.round = Round::Answering {
            drawn_at_ms: now_ms,
            pending: game.players.iter().copied().collect(),
            claims: BTreeSet::new(),
        };
        let players = game.players.clone();
        self.note(Note::Draw { seq, number });
        for conn in players {
            self.send(conn, ServerMessage::Draw { seq, number });
        }
    }

    /// Every player still in the game has answered the current draw.
    fn end_round(&mut self, now_ms: u64) {
        let game = self.game.as_mut().expect("caller checked");
        let Round::Answering {
            drawn_at_ms,
            claims,
            ..
        } = &game.round
        else {
            unreachable!("end_round is only called while answering")
        };
        let next_draw_at_ms = drawn_at_ms + self.config.interval_ms;
        if game.players.is_empty() {
            return self.abandon(now_ms);
        }
        if !claims.is_empty() || game.seq == u32::from(NUMBER_MAX) {
            let winners: Vec<ConnId> = game
                .players
                .iter()
                .copied()
                .filter(|conn| claims.contains(conn))
                .collect();
            return self.finish(winners, now_ms);
        }
        game.round = Round::Drawing { next_draw_at_ms };
    }

    /// Ends a game that has no player left, with no result, and seats
    /// whoever is waiting.
    fn abandon(&mut self, now_ms: u64) {
        let Some(game) = self.game.take() else {
            return;
        };
        self.note(Note::Abandon { game: game.number });
        self.try_start(now_ms);
        self.announce_waiting();
    }

    fn finish(&mut self, winners: Vec<ConnId>, now_ms: u64) {
        let game = self.game.take().expect("caller checked");
        let ids: Vec<String> = winners
            .iter()
            .map(|conn| self.players[conn].id.clone())
            .collect();
        self.note(Note::Over {
            game: game.number,
            winners: ids.clone(),
        });
        for conn in game.players {
            self.send(
                conn,
                ServerMessage::Over {
                    game: game.number,
                    winners: ids.clone(),
                },
            );
            self.outputs.push_back(Output::Close(conn));
            self.players.remove(&conn);
        }
        self.try_start(now_ms);
        self.announce_waiting();
    }

    /// Removes a player everywhere and closes its connection.
    fn drop_player(&mut self, conn: ConnId, reason: DropReason) {
        let Some(player) = self.players.remove(&conn) else {
            return;
        };
        self.note(Note::Drop {
            player: player.id.clone(),
            reason,
        });
        self.outputs.push_back(Output::Close(conn));
        let was_queued = self.queue.contains(&conn);
        self.queue.retain(|&queued| queued != conn);
        if let Some(game) = &mut self.game {
            game.players.retain(|&playing| playing != conn);
            game.seated.remove(&conn);
            if let Round::Answering {
                pending, claims, ..
            } = &mut game.round
            {
                pending.remove(&conn);
                if self.config.injected_bug != Some(InjectedBug::DroppedClaimEndsGame) {
                    claims.remove(&conn);
                }
            }
        }
        if was_queued {
            self.announce_waiting();
        }
    }

    fn announce_waiting(&mut self) {
        let mut have = self.queue.len();
        if self.config.injected_bug == Some(InjectedBug::WaitingCountsOneMore) {
            have += 1;
        }
        let need = self.config.players;
        for conn in self.queue.clone() {
            self.send(conn, ServerMessage::Waiting { have, need });
        }
    }

    fn refuse(&mut self, conn: ConnId, refusal: Refusal) {
        self.send(conn, ServerMessage::Err(refusal));
    }

    fn send(&mut self, conn: ConnId, message: ServerMessage) {
        self.outputs.push_back(Output::Send(conn, message));
    }

    fn note(&mut self, note: Note) {
        self.notes.push_back(note);
    }
}

impl<R: Rng> crate::conn::GameCore for LockstepServer<R> {
    type Message = ServerMessage;

    fn poll_delivery(&mut self) -> Option<Output> {
        self.poll_output()
    }

    type Note = Note;

    fn poll_note(&mut self) -> Option<Note> {
        LockstepServer::poll_note(self)
    }

    fn not_reading(&mut self, now_ms: u64, conn: ConnId) {
        self.disconnect(now_ms, conn)
    }
}
