//! The live tombola server as a state machine without I/O.
//!
//! It owns every player, both of each player's connections, the running
//! game (or the pause after one) and the server's RNG. Inputs go in with
//! the current time (`connect`, `receive`, `disconnect`, `not_reading`,
//! `handle_timeout`); outputs come out of `poll_output` (lines to send,
//! connections to close) and `poll_note` (one trace event per decision).
//! Because one value holds the game and every subscription, a player's
//! `GAME <game> HISTORY ...` and its later `DRAW`s are queued in one step:
//! no draw can fall between them, whatever the timing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::Rng;

use crate::conn::ConnId;
use crate::live::notes::{ClaimVerdict, ClaimsDropReason, DropReason, Lost, Note};
use crate::live::protocol::{ClientMessage, ServerMessage};
use crate::live::rules::{judge, pause_seconds, Standing, Verdict};
use crate::tombola::rules::{Board, DrawBag, NumberSet, NUMBER_MAX};
use crate::wire::{self, Refusal};

/// How long a numbers connection may stay unpaired, and a claims
/// connection may go without a valid `HELLO`, before it is closed. Long
/// enough for a person to copy a token from one `nc` into another.
pub const PAIRING_TIMEOUT_MS: u64 = 60_000;
/// Wrong tokens a claims connection may send before it is closed, so that
/// nobody can guess another player's token by trying.
pub const HELLO_ATTEMPTS_MAX: u32 = 3;

/// Server settings; the defaults are the protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Time between two draws, and the grace for claims after the 90th.
    pub interval_ms: u64,
    /// Pause between a game's end and the next game.
    pub pause_ms: u64,
    /// See [`PAIRING_TIMEOUT_MS`].
    pub pairing_timeout_ms: u64,
    /// Numbers drawn first in every game (to force a race); the rest is
    /// shuffled from the seed.
    pub draw_prefix: Vec<u8>,
    /// A deliberate server bug, off unless a scenario switches it on.
    pub injected_bug: Option<InjectedBug>,
}

/// Deliberate server bugs the simulation can switch on (`inject_bug` in a
/// scenario's `[server]`) to prove its oracles catch whole classes of
/// mistakes: a check that cannot fail is worth nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedBug {
    /// Wrong reply: a false claim is recorded as false but answered `WIN`.
    FalseClaimWins,
    /// Missing reply: `QUIT` gets no `GOODBYE`, the connections just close.
    QuitUnanswered,
    /// Reply to the wrong client: `AGAIN-OK` goes to the claims connection
    /// of the lowest-numbered other player who has one.
    AgainOkToAnother,
    /// Off by one at a bound: a late joiner's history leaves out the last
    /// number drawn (the note still counts it).
    HistoryDropsLast,
    /// Off by one: `NEXT` announces the game after the next one.
    NextSkipsAGame,
    /// Stale state after a leave: when the newest player leaves, its id is
    /// given again to the next numbers connection.
    IdReusedAfterLeave,
    /// Stale state after a join: `OVER` and `NEXT` go to the numbers
    /// connections as they stood at the first event of the millisecond.
    /// The list is kept per millisecond (building it for thousands of
    /// players on every end is the excuse) and rebuilt when a player
    /// leaves, so nobody gone is written to, but not when one connects,
    /// trusting that the server loop takes new connections after the
    /// lines of their millisecond. A connection accepted before a winning
    /// claim of its millisecond misses that game's `OVER` and `NEXT`. No
    /// seed of a standard live scenario handles a line after a connection
    /// of the same millisecond; a search that polls the loop first does.
    OverListCachedPerMs,
}

/// Every [`InjectedBug`] by its scenario name.
pub const INJECTED_BUGS: &[(&str, InjectedBug)] = &[
    ("false-claim-wins", InjectedBug::FalseClaimWins),
    ("quit-unanswered", InjectedBug::QuitUnanswered),
    ("again-ok-to-another", InjectedBug::AgainOkToAnother),
    ("history-drops-last", InjectedBug::HistoryDropsLast),
    ("next-skips-a-game", InjectedBug::NextSkipsAGame),
    ("id-reused-after-leave", InjectedBug::IdReusedAfterLeave),
    ("over-list-cached-per-ms", InjectedBug::OverListCachedPerMs),
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
            interval_ms: 1000,
            pause_ms: 60_000,
            pairing_timeout_ms: PAIRING_TIMEOUT_MS,
            draw_prefix: Vec::new(),
            injected_bug: None,
        }
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The server broadcasts here; clients only listen.
    Numbers,
    /// Players talk to the server here.
    Claims,
}

/// What the shell must do: send a line, or flush and close.
pub type Output = crate::conn::Delivery<ServerMessage>;

/// A player is `p<key>`; keys count numbers connections from 1.
type PlayerKey = u64;

/// Where a registered player stands with respect to games.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    /// In the running game: gets its draws and may claim.
    Playing,
    /// Will be in the next game (said `AGAIN`, or registered in a pause).
    Next,
    /// In a pause, has not said `AGAIN` yet.
    Undecided,
}

#[derive(Debug)]
enum Stage {
    /// Has a numbers connection; waits for `HELLO <token>` on claims.
    Unpaired {
        token: String,
        expires_at_ms: u64,
    },
    /// Both connections, no board yet.
    Paired,
    Registered {
        board: Board,
        seat: Seat,
    },
}

#[derive(Debug)]
struct Player {
    id: String,
    numbers: ConnId,
    claims: Option<ConnId>,
    stage: Stage,
    /// The game in which this player made a false claim, if any.
    barred_in: Option<u64>,
}

#[derive(Debug)]
enum Role {
    Numbers(PlayerKey),
    Claims {
        player: Option<PlayerKey>,
        /// When an unpaired claims connection is closed.
        expires_at_ms: u64,
        bad_tokens: u32,
    },
}

/// What waits to be paired. Players sort before claims connections, so
/// deadlines due at the same moment are handled in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unpaired {
    Player(PlayerKey),
    Claims(ConnId),
}

#[derive(Debug)]
struct Game {
    number: u64,
    bag: DrawBag,
    drawn: NumberSet,
    next_draw_at_ms: u64,
    /// Set after the 90th draw: when the game ends without a winner if no
    /// valid claim has come in by then.
    closes_at_ms: Option<u64>,
}

#[derive(Debug)]
enum Phase {
    /// No game running and nobody registered.
    Idle,
    Running(Game),
    /// After game `finished`, until `ends_at_ms`.
    Paused {
        finished: u64,
        ends_at_ms: u64,
    },
}

/// The live server's whole state.
#[derive(Debug)]
pub struct LiveServer<R> {
    config: ServerConfig,
    rng: R,
    players: BTreeMap<PlayerKey, Player>,
    conns: BTreeMap<ConnId, Role>,
    /// Tokens of unpaired players; a token is forgotten once used.
    tokens: BTreeMap<String, PlayerKey>,
    /// When each unpaired player and unpaired claims connection times out,
    /// earliest first, so that the next deadline is found without looking
    /// at every connection (with thousands of players, a scan on every
    /// event made registering quadratic). Entries leave when their owner
    /// pairs or goes; one left behind is skipped (see [`Self::still_unpaired`]).
    pairing_deadlines: BTreeSet<(u64, Unpaired)>,
    phase: Phase,
    /// The last game that ended (or was abandoned) and its winner's id, so
    /// that late claims for it can be answered.
    last_result: Option<(u64, Option<String>)>,
    games_started: u64,
    ids_given: u64,
    outputs: VecDeque<Output>,
    notes: VecDeque<Note>,
    /// Only with [`InjectedBug::OverListCachedPerMs`]: the millisecond of
    /// the last event and the numbers connections as they stood then.
    listeners: Option<(u64, Vec<ConnId>)>,
}

impl<R: Rng> LiveServer<R> {
    pub fn new(config: ServerConfig, rng: R) -> Self {
        assert!(config.interval_ms > 0, "draws need a positive interval");
        LiveServer {
            config,
            rng,
            players: BTreeMap::new(),
            conns: BTreeMap::new(),
            tokens: BTreeMap::new(),
            pairing_deadlines: BTreeSet::new(),
            phase: Phase::Idle,
            last_result: None,
            games_started: 0,
            ids_given: 0,
            outputs: VecDeque::new(),
            notes: VecDeque::new(),
            listeners: None,
        }
    }

    /// A new connection on `port`. A numbers connection is a new player and
    /// is greeted with its id and pairing token; a claims connection waits
    /// for `HELLO`.
    pub fn connect(&mut self, now_ms: u64, conn: ConnId, port: Port) {
        self.handle_timeout(now_ms);
        assert!(
            !self.conns.contains_key(&conn),
            "connection ids are never reused"
        );
        let expires_at_ms = now_ms.saturating_add(self.config.pairing_timeout_ms);
        match port {
            Port::Numbers => {
                self.ids_given += 1;
                let key = self.ids_given;
                let id = format!("p{key}");
                let token = self.new_token();
                self.note(Note::Connect { player: id.clone() });
                self.send(
                    conn,
                    ServerMessage::Welcome {
                        id: id.clone(),
                        token: token.clone(),
                    },
                );
                self.tokens.insert(token.clone(), key);
                self.pairing_deadlines
                    .insert((expires_at_ms, Unpaired::Player(key)));
                self.conns.insert(conn, Role::Numbers(key));
                self.players.insert(
                    key,
                    Player {
                        id,
                        numbers: conn,
                        claims: None,
                        stage: Stage::Unpaired {
                            token,
                            expires_at_ms,
                        },
                        barred_in: None,
                    },
                );
            }
            Port::Claims => {
                self.pairing_deadlines
                    .insert((expires_at_ms, Unpaired::Claims(conn)));
                self.conns.insert(
                    conn,
                    Role::Claims {
                        player: None,
                        expires_at_ms,
                        bad_tokens: 0,
                    },
                );
            }
        }
    }

    /// One line from a connection.
    pub fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str) {
        // Whatever was due before this line arrived happens first.
        self.handle_timeout(now_ms);
        let player = match self.conns.get(&conn) {
            None => return,
            Some(Role::Numbers(_)) => {
                return self.refuse(
                    conn,
                    Refusal::new(
                        "wrong-port",
                        "the numbers port only broadcasts; talk on the claims port",
                    ),
                )
            }
            Some(Role::Claims { player, .. }) => *player,
        };
        let parsed = ClientMessage::parse(line);
        let Some(key) = player else {
            return match parsed {
                Ok(ClientMessage::Hello(token)) => self.pair(conn, &token),
                Err(refusal) if refusal.code == "bad-token" => self.bad_token(conn, refusal),
                Ok(ClientMessage::Quit) => {
                    self.send(conn, ServerMessage::Goodbye);
                    self.close_unpaired_claims(conn, ClaimsDropReason::Quit);
                }
                Err(refusal) if refusal.code == "unknown-command" => self.refuse(conn, refusal),
                _ => self.refuse(
                    conn,
                    Refusal::new(
                        "not-paired",
                        format!("say HELLO <token> first, not {}", wire::first_token(line)),
                    ),
                ),
            };
        };
        match parsed {
            Ok(ClientMessage::Hello(_)) => self.refuse(
                conn,
                Refusal::new("already-paired", "this connection is paired already"),
            ),
            Err(refusal) if refusal.code == "bad-token" => self.refuse(
                conn,
                Refusal::new("already-paired", "this connection is paired already"),
            ),
            Err(refusal) => self.refuse(conn, refusal),
            Ok(ClientMessage::Board(board)) => self.register(now_ms, key, board),
            Ok(ClientMessage::Tombola(game)) => self.claim(now_ms, key, game),
            Ok(ClientMessage::Again) => self.again(key),
            Ok(ClientMessage::Quit) => {
                let player = self.players[&key].id.clone();
                self.note(Note::Quit { player });
                if !self.bug(InjectedBug::QuitUnanswered) {
                    self.send(conn, ServerMessage::Goodbye);
                }
                self.remove_player(key);
            }
        }
    }

    /// The connection is gone (closed, reset, or broke the framing). A
    /// player who loses either connection is removed, and its other
    /// connection closed.
    pub fn disconnect(&mut self, now_ms: u64, conn: ConnId) {
        self.lose(now_ms, conn, Lost::Closed);
    }

    /// The connection's outbox stayed full: the peer does not read its
    /// draws. It is treated like a disconnect.
    pub fn not_reading(&mut self, now_ms: u64, conn: ConnId) {
        self.lose(now_ms, conn, Lost::NotReading);
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        let phase = match &self.phase {
            Phase::Idle => None,
            Phase::Running(game) => Some(game.closes_at_ms.unwrap_or(game.next_draw_at_ms)),
            Phase::Paused { ends_at_ms, .. } => Some(*ends_at_ms),
        };
        let pairing = self.next_pairing_deadline();
        match (phase, pairing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does whatever is due at `now_ms`: draws, the end of a game or of a
    /// pause, unpaired connections that waited too long.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.bug(InjectedBug::OverListCachedPerMs)
            && self.listeners.as_ref().is_none_or(|(ms, _)| *ms != now_ms)
        {
            self.listeners = Some((now_ms, self.numbers_connections()));
        }
        self.expire_unpaired(now_ms);
        loop {
            match &self.phase {
                Phase::Running(game) => match game.closes_at_ms {
                    Some(closes_at_ms) if closes_at_ms <= now_ms => self.finish(now_ms, None),
                    None if game.next_draw_at_ms <= now_ms => self.draw(now_ms),
                    _ => return,
                },
                Phase::Paused { ends_at_ms, .. } if *ends_at_ms <= now_ms => self.end_pause(now_ms),
                _ => return,
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next decision, as one trace event (`draw 1 7 42`, ...).
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// Games started since the server began.
    pub fn games_started(&self) -> u64 {
        self.games_started
    }

    /// The running game's number and its draws so far.
    pub fn running(&self) -> Option<(u64, &[u8])> {
        match &self.phase {
            Phase::Running(game) => Some((game.number, game.bag.drawn())),
            _ => None,
        }
    }

    /// The id of the player a connection belongs to, if any.
    pub fn player_of(&self, conn: ConnId) -> Option<&str> {
        let key = match self.conns.get(&conn)? {
            Role::Numbers(key) => key,
            Role::Claims { player, .. } => player.as_ref()?,
        };
        Some(&self.players[key].id)
    }

    fn new_token(&mut self) -> String {
        loop {
            let token = format!("{:016x}", self.rng.random::<u64>());
            if !self.tokens.contains_key(&token) {
                return token;
            }
        }
    }

    fn pair(&mut self, conn: ConnId, token: &str) {
        let Some(key) = self.tokens.remove(token) else {
            return self.bad_token(
                conn,
                Refusal::new("bad-token", "no unpaired player has this token"),
            );
        };
        let player = self.players.get_mut(&key).expect("tokens name players");
        debug_assert!(matches!(player.stage, Stage::Unpaired { .. }));
        if let Stage::Unpaired { expires_at_ms, .. } = player.stage {
            self.pairing_deadlines
                .remove(&(expires_at_ms, Unpaired::Player(key)));
        }
        player.claims = Some(conn);
        player.stage = Stage::Paired;
        let id = player.id.clone();
        if let Some(Role::Claims {
            player,
            expires_at_ms,
            ..
        }) = self.conns.get_mut(&conn)
        {
            *player = Some(key);
            self.pairing_deadlines
                .remove(&(*expires_at_ms, Unpaired::Claims(conn)));
        }
        self.note(Note::Pair { player: id.clone() });
        self.send(conn, ServerMessage::Hello(id));
    }

    fn bad_token(&mut self, conn: ConnId, refusal: Refusal) {
        let Some(Role::Claims { bad_tokens, .. }) = self.conns.get_mut(&conn) else {
            return;
        };
        *bad_tokens += 1;
        let attempts = *bad_tokens;
        self.refuse(conn, refusal);
        if attempts >= HELLO_ATTEMPTS_MAX {
            self.close_unpaired_claims(conn, ClaimsDropReason::BadToken);
        }
    }

    fn close_unpaired_claims(&mut self, conn: ConnId, reason: ClaimsDropReason) {
        if let Some(Role::Claims { expires_at_ms, .. }) = self.conns.remove(&conn) {
            self.pairing_deadlines
                .remove(&(expires_at_ms, Unpaired::Claims(conn)));
        }
        self.note(Note::DropClaims { conn, reason });
        self.outputs.push_back(Output::Close(conn));
    }

    fn register(&mut self, now_ms: u64, key: PlayerKey, board: Board) {
        let player = self
            .players
            .get_mut(&key)
            .expect("paired conns name players");
        let claims = player.claims.expect("registering player is paired");
        if !matches!(player.stage, Stage::Paired) {
            return self.refuse(
                claims,
                Refusal::new(
                    "already-registered",
                    "one board per player, kept for every game",
                ),
            );
        }
        let id = player.id.clone();
        self.note(Note::Board {
            player: id.clone(),
            board: board.clone(),
        });
        self.send(claims, ServerMessage::BoardOk);
        let seat = match &self.phase {
            Phase::Running(_) => Seat::Playing,
            Phase::Idle | Phase::Paused { .. } => Seat::Next,
        };
        self.players.get_mut(&key).expect("checked").stage = Stage::Registered { board, seat };
        match &self.phase {
            Phase::Running(game) => {
                let (number, history) = (game.number, game.bag.drawn().to_vec());
                if self.bug(InjectedBug::HistoryDropsLast) && !history.is_empty() {
                    let player = &self.players[&key];
                    let numbers = player.numbers;
                    let (id, count) = (player.id.clone(), history.len());
                    self.note(Note::Join {
                        player: id,
                        game: number,
                        history: count,
                    });
                    let short = history[..count - 1].to_vec();
                    return self.send(
                        numbers,
                        ServerMessage::Game {
                            game: number,
                            history: short,
                        },
                    );
                }
                self.join(key, number, history);
            }
            Phase::Paused { finished, .. } => {
                let next = finished + 1;
                self.note(Note::Wait {
                    player: id,
                    game: next,
                });
            }
            Phase::Idle => self.start_game(now_ms),
        }
    }

    /// Puts a player into the running game: the history, then (from the
    /// same state) every later draw.
    fn join(&mut self, key: PlayerKey, game: u64, history: Vec<u8>) {
        let player = &self.players[&key];
        let numbers = player.numbers;
        self.note(Note::Join {
            player: player.id.clone(),
            game,
            history: history.len(),
        });
        self.send(numbers, ServerMessage::Game { game, history });
    }

    fn claim(&mut self, now_ms: u64, key: PlayerKey, claimed: u64) {
        let player = &self.players[&key];
        let claims = player.claims.expect("claiming player is paired");
        let Stage::Registered { board, .. } = &player.stage else {
            return self.refuse(
                claims,
                Refusal::new("not-registered", "send BOARD before claiming"),
            );
        };
        let standing = match (&self.phase, &self.last_result) {
            (Phase::Running(game), _) => Standing::Playing {
                game: game.number,
                drawn: &game.drawn,
            },
            (_, Some((game, winner))) => Standing::Finished {
                game: *game,
                winner: winner.as_deref(),
            },
            (_, None) => Standing::NotStarted,
        };
        // Which game a claim could name now, for a refusal that says so.
        let claimable = match &standing {
            Standing::Playing { game, .. } => format!("game {game} is running"),
            Standing::Finished { game, .. } => format!("game {game} is the last one"),
            Standing::NotStarted => "no game has started".to_owned(),
        };
        let verdict = judge(standing, claimed, board, player.barred_in);
        let id = player.id.clone();
        let (verdict, reply) = match verdict {
            Verdict::Win => (ClaimVerdict::Win, ServerMessage::Win(claimed)),
            Verdict::False => {
                self.players.get_mut(&key).expect("checked").barred_in = Some(claimed);
                let reply = if self.bug(InjectedBug::FalseClaimWins) {
                    ServerMessage::Win(claimed)
                } else {
                    ServerMessage::Err(Refusal::new("false-claim", claimed.to_string()))
                };
                (ClaimVerdict::False, reply)
            }
            Verdict::Late { winner } => (
                ClaimVerdict::Late,
                ServerMessage::Late {
                    game: claimed,
                    winner,
                },
            ),
            Verdict::Barred => (
                ClaimVerdict::Barred,
                ServerMessage::Err(Refusal::new(
                    "claim-barred",
                    format!("{claimed} no more claims after a false one"),
                )),
            ),
            Verdict::NoWinner => (
                ClaimVerdict::NoWinner,
                ServerMessage::Err(Refusal::new(
                    "game-over",
                    format!("{claimed} ended without a winner"),
                )),
            ),
            Verdict::WrongGame => (
                ClaimVerdict::WrongGame,
                ServerMessage::Err(Refusal::new(
                    "wrong-game",
                    format!("{claimed} cannot be claimed now: {claimable}"),
                )),
            ),
        };
        self.note(Note::Claim {
            player: id,
            game: claimed,
            verdict,
        });
        self.send(claims, reply);
        if verdict == ClaimVerdict::Win {
            self.finish(now_ms, Some(key));
        }
    }

    fn again(&mut self, key: PlayerKey) {
        let player = &self.players[&key];
        let claims = player
            .claims
            .expect("paired conns have a claims connection");
        let id = player.id.clone();
        if !matches!(player.stage, Stage::Registered { .. }) {
            return self.refuse(claims, Refusal::new("not-registered", "send BOARD to play"));
        }
        if !matches!(self.phase, Phase::Paused { .. }) {
            return self.refuse(
                claims,
                Refusal::new("not-paused", "AGAIN is for the pause after a game"),
            );
        }
        if let Some(Player {
            stage: Stage::Registered { seat, .. },
            ..
        }) = self.players.get_mut(&key)
        {
            *seat = Seat::Next;
        }
        self.note(Note::Again { player: id });
        let to = if self.bug(InjectedBug::AgainOkToAnother) {
            self.players
                .iter()
                .filter(|(&other, _)| other != key)
                .find_map(|(_, player)| player.claims)
                .unwrap_or(claims)
        } else {
            claims
        };
        self.send(to, ServerMessage::AgainOk);
    }

    fn start_game(&mut self, now_ms: u64) {
        debug_assert!(!matches!(self.phase, Phase::Running(_)));
        self.games_started += 1;
        let number = self.games_started;
        let bag = DrawBag::with_prefix(&self.config.draw_prefix, &mut self.rng);
        self.note(Note::Start { game: number });
        let entering: Vec<PlayerKey> = self
            .players
            .iter_mut()
            .filter_map(|(&key, player)| match &mut player.stage {
                Stage::Registered { seat, .. } if *seat == Seat::Next => {
                    *seat = Seat::Playing;
                    Some(key)
                }
                _ => None,
            })
            .collect();
        assert!(
            !entering.is_empty(),
            "a game starts with at least one player"
        );
        for key in entering {
            self.join(key, number, Vec::new());
        }
        self.phase = Phase::Running(Game {
            number,
            bag,
            drawn: NumberSet::default(),
            next_draw_at_ms: now_ms.saturating_add(self.config.interval_ms),
            closes_at_ms: None,
        });
    }

    fn draw(&mut self, now_ms: u64) {
        let Phase::Running(game) = &mut self.phase else {
            unreachable!("draws happen in a running game")
        };
        let number = game.bag.draw().expect("a game closes after its 90th draw");
        game.drawn.insert(number);
        let seq = game.bag.drawn().len() as u32;
        let game_number = game.number;
        game.next_draw_at_ms = now_ms.saturating_add(self.config.interval_ms);
        if seq == u32::from(NUMBER_MAX) {
            // Every board is complete now; their claims are in flight.
            game.closes_at_ms = Some(game.next_draw_at_ms);
        }
        self.note(Note::Draw {
            game: game_number,
            seq,
            number,
        });
        let message = ServerMessage::Draw {
            game: game_number,
            seq,
            number,
        };
        for conn in self.seated(Seat::Playing) {
            self.send(conn, message.clone());
        }
    }

    /// Ends the running game with `winner` (or none) and starts the pause.
    fn finish(&mut self, now_ms: u64, winner: Option<PlayerKey>) {
        let Phase::Running(game) = &self.phase else {
            unreachable!("only a running game finishes")
        };
        let number = game.number;
        let winner_id = winner.map(|key| self.players[&key].id.clone());
        self.note(Note::Over {
            game: number,
            winner: winner_id.clone(),
        });
        self.last_result = Some((number, winner_id.clone()));
        let seconds = pause_seconds(self.config.pause_ms);
        let next = if self.bug(InjectedBug::NextSkipsAGame) {
            number + 2
        } else {
            number + 1
        };
        let everyone = match &self.listeners {
            Some((_, listeners)) if self.bug(InjectedBug::OverListCachedPerMs) => listeners.clone(),
            _ => self.numbers_connections(),
        };
        for conn in everyone {
            self.send(
                conn,
                ServerMessage::Over {
                    game: number,
                    winner: winner_id.clone(),
                },
            );
            self.send(
                conn,
                ServerMessage::Next {
                    game: next,
                    seconds,
                },
            );
        }
        for player in self.players.values_mut() {
            if let Stage::Registered { seat, .. } = &mut player.stage {
                *seat = Seat::Undecided;
            }
        }
        self.phase = Phase::Paused {
            finished: number,
            ends_at_ms: now_ms.saturating_add(self.config.pause_ms),
        };
        self.note(Note::Pause);
    }

    /// The pause is over: players who said `AGAIN` (or registered during
    /// it) play the next game, the others are sent away.
    fn end_pause(&mut self, now_ms: u64) {
        let undecided: Vec<PlayerKey> = self
            .players
            .iter()
            .filter(|(_, player)| {
                matches!(
                    player.stage,
                    Stage::Registered {
                        seat: Seat::Undecided,
                        ..
                    }
                )
            })
            .map(|(&key, _)| key)
            .collect();
        for key in undecided {
            let player = &self.players[&key];
            let id = player.id.clone();
            let conns = [Some(player.numbers), player.claims];
            for conn in conns.into_iter().flatten() {
                self.send(conn, ServerMessage::Goodbye);
            }
            self.note(Note::Goodbye { player: id });
            self.remove_player(key);
        }
        self.phase = Phase::Idle;
        if self.seated(Seat::Next).is_empty() {
            self.note(Note::Idle);
        } else {
            self.start_game(now_ms);
        }
    }

    fn lose(&mut self, now_ms: u64, conn: ConnId, why: Lost) {
        self.handle_timeout(now_ms);
        match self.conns.get(&conn) {
            None => {}
            Some(Role::Numbers(key)) => {
                let key = *key;
                let id = self.players[&key].id.clone();
                self.note(Note::Drop {
                    player: id,
                    reason: DropReason::numbers(why),
                });
                self.remove_player(key);
            }
            Some(Role::Claims {
                player: Some(key), ..
            }) => {
                let key = *key;
                let id = self.players[&key].id.clone();
                self.note(Note::Drop {
                    player: id,
                    reason: DropReason::claims(why),
                });
                self.remove_player(key);
            }
            Some(Role::Claims { player: None, .. }) => {
                self.close_unpaired_claims(conn, ClaimsDropReason::from(why))
            }
        }
    }

    /// Whether a pairing deadline still stands: its player or claims
    /// connection is still unpaired, with this very deadline.
    fn still_unpaired(&self, at_ms: u64, unpaired: Unpaired) -> bool {
        match unpaired {
            Unpaired::Player(key) => self.players.get(&key).is_some_and(|player| {
                matches!(player.stage, Stage::Unpaired { expires_at_ms, .. } if expires_at_ms == at_ms)
            }),
            Unpaired::Claims(conn) => matches!(
                self.conns.get(&conn),
                Some(Role::Claims { player: None, expires_at_ms, .. }) if *expires_at_ms == at_ms
            ),
        }
    }

    /// The earliest pairing deadline that still stands.
    fn next_pairing_deadline(&self) -> Option<u64> {
        self.pairing_deadlines
            .iter()
            .find(|(at_ms, unpaired)| self.still_unpaired(*at_ms, *unpaired))
            .map(|(at_ms, _)| *at_ms)
    }

    fn expire_unpaired(&mut self, now_ms: u64) {
        // Everything due, players first (by key), then claims connections
        // (by connection id).
        let mut due = Vec::new();
        while let Some(&(at_ms, unpaired)) = self.pairing_deadlines.first() {
            if at_ms > now_ms {
                break;
            }
            self.pairing_deadlines.pop_first();
            if self.still_unpaired(at_ms, unpaired) {
                due.push(unpaired);
            }
        }
        due.sort_unstable();
        let expired: Vec<ConnId> = due
            .into_iter()
            .map(|unpaired| match unpaired {
                Unpaired::Player(key) => self.players[&key].numbers,
                Unpaired::Claims(conn) => conn,
            })
            .collect();
        for conn in expired {
            self.refuse(
                conn,
                Refusal::new("pairing-timeout", "no HELLO with a valid token in time"),
            );
            match self.conns.get(&conn) {
                Some(Role::Numbers(key)) => {
                    let key = *key;
                    let id = self.players[&key].id.clone();
                    self.note(Note::Drop {
                        player: id,
                        reason: DropReason::PairingTimeout,
                    });
                    self.remove_player(key);
                }
                _ => self.close_unpaired_claims(conn, ClaimsDropReason::PairingTimeout),
            }
        }
    }

    /// Removes a player everywhere and closes both its connections. A game
    /// left without players is abandoned.
    fn remove_player(&mut self, key: PlayerKey) {
        let player = self.players.remove(&key).expect("removing a known player");
        if self.bug(InjectedBug::IdReusedAfterLeave) && key == self.ids_given {
            self.ids_given -= 1;
        }
        if let Stage::Unpaired {
            token,
            expires_at_ms,
        } = &player.stage
        {
            self.tokens.remove(token);
            self.pairing_deadlines
                .remove(&(*expires_at_ms, Unpaired::Player(key)));
        }
        for conn in [Some(player.numbers), player.claims].into_iter().flatten() {
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close(conn));
        }
        if let Some((_, listeners)) = &mut self.listeners {
            *listeners = self.players.values().map(|player| player.numbers).collect();
        }
        if let Phase::Running(game) = &self.phase {
            if self.seated(Seat::Playing).is_empty() {
                let number = game.number;
                self.note(Note::Abandon { game: number });
                self.last_result = Some((number, None));
                self.phase = Phase::Idle;
            }
        }
    }

    /// Every player's numbers connection, by id: whom `OVER` and `NEXT` go to.
    fn numbers_connections(&self) -> Vec<ConnId> {
        self.players.values().map(|player| player.numbers).collect()
    }

    /// The numbers connections of registered players in `seat`, by id.
    fn seated(&self, wanted: Seat) -> Vec<ConnId> {
        self.players
            .values()
            .filter(
                |player| matches!(player.stage, Stage::Registered { seat, .. } if seat == wanted),
            )
            .map(|player| player.numbers)
            .collect()
    }

    fn bug(&self, bug: InjectedBug) -> bool {
        self.config.injected_bug == Some(bug)
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

impl<R: Rng> crate::conn::GameCore for LiveServer<R> {
    type Message = ServerMessage;

    fn poll_delivery(&mut self) -> Option<Output> {
        self.poll_output()
    }

    type Note = Note;

    fn poll_note(&mut self) -> Option<Note> {
        LiveServer::poll_note(self)
    }

    fn not_reading(&mut self, now_ms: u64, conn: ConnId) {
        self.not_reading(now_ms, conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A server and what each connection was sent, driven by hand.
    struct Bench {
        server: LiveServer<ChaCha8Rng>,
        sent: BTreeMap<ConnId, Vec<String>>,
        closed: Vec<ConnId>,
        notes: Vec<String>,
    }

    impl Bench {
        fn new(config: ServerConfig) -> Bench {
            Bench {
                server: LiveServer::new(config, ChaCha8Rng::seed_from_u64(7)),
                sent: BTreeMap::new(),
                closed: Vec::new(),
                notes: Vec::new(),
            }
        }

        fn pump(&mut self) {
            while let Some(output) = self.server.poll_output() {
                match output {
                    Output::Send(conn, message) => {
                        self.sent.entry(conn).or_default().push(message.to_string())
                    }
                    Output::Close(conn) => self.closed.push(conn),
                }
            }
            while let Some(note) = self.server.poll_note() {
                self.notes.push(note.to_string());
            }
        }

        fn connect(&mut self, now_ms: u64, conn: ConnId, port: Port) {
            self.server.connect(now_ms, conn, port);
            self.pump();
        }

        fn say(&mut self, now_ms: u64, conn: ConnId, line: &str) {
            self.server.receive(now_ms, conn, line);
            self.pump();
        }

        fn at(&mut self, now_ms: u64) {
            self.server.handle_timeout(now_ms);
            self.pump();
        }

        fn last(&self, conn: ConnId) -> &str {
            self.sent[&conn].last().map(String::as_str).unwrap_or("")
        }

        fn token(&self, numbers: ConnId) -> String {
            let welcome = &self.sent[&numbers][0];
            welcome.rsplit(' ').next().unwrap().to_owned()
        }

        /// A player on numbers `conn` and claims `conn + 1`, registered
        /// with `board`.
        fn player(&mut self, now_ms: u64, conn: ConnId, board: &str) {
            self.connect(now_ms, conn, Port::Numbers);
            self.connect(now_ms, conn + 1, Port::Claims);
            let token = self.token(conn);
            self.say(now_ms, conn + 1, &format!("HELLO {token}"));
            self.say(now_ms, conn + 1, &format!("BOARD {board}"));
            assert_eq!(self.last(conn + 1), "BOARD-OK");
        }
    }

    const LOW: &str = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15";
    const HIGH: &str = "76 77 78 79 80 81 82 83 84 85 86 87 88 89 90";

    fn config(prefix: Vec<u8>) -> ServerConfig {
        ServerConfig {
            interval_ms: 10,
            pause_ms: 100,
            pairing_timeout_ms: 1_000,
            draw_prefix: prefix,
            injected_bug: None,
        }
    }

    #[test]
    fn pairing_follows_the_token_not_the_arrival_order() {
        let mut bench = Bench::new(config(vec![]));
        bench.connect(0, 1, Port::Numbers);
        bench.connect(0, 2, Port::Numbers);
        bench.connect(0, 3, Port::Claims);
        bench.connect(0, 4, Port::Claims);
        let second = bench.token(2);
        let first = bench.token(1);
        bench.say(0, 3, &format!("HELLO {second}"));
        bench.say(0, 4, &format!("HELLO {first}"));
        assert_eq!(bench.last(3), "HELLO p2");
        assert_eq!(bench.last(4), "HELLO p1");
        // A used token pairs nothing else.
        bench.connect(0, 5, Port::Claims);
        bench.say(0, 5, &format!("HELLO {first}"));
        assert!(bench.last(5).starts_with("ERR bad-token"));
    }

    #[test]
    fn only_connections_still_unpaired_keep_a_pairing_deadline_and_they_expire_in_order() {
        let mut bench = Bench::new(config(vec![]));
        // Paired in time: its deadline (1,000) is gone with the pairing.
        bench.connect(0, 1, Port::Numbers);
        bench.connect(0, 2, Port::Claims);
        let token = bench.token(1);
        bench.say(0, 2, &format!("HELLO {token}"));
        assert_eq!(
            bench.server.poll_timeout(),
            None,
            "nothing left to time out"
        );
        // Two players and a claims connection that never pair, and one that
        // hangs up first: the deadline is the earliest left, and those due
        // together go players first, then claims connections.
        bench.connect(5, 7, Port::Claims);
        bench.connect(5, 3, Port::Numbers);
        bench.connect(5, 5, Port::Numbers);
        bench.connect(9, 9, Port::Numbers);
        assert_eq!(bench.server.poll_timeout(), Some(1_005));
        bench.server.disconnect(10, 3);
        bench.pump();
        assert_eq!(bench.server.poll_timeout(), Some(1_005));
        bench.at(1_005);
        let dropped: Vec<&str> = bench
            .notes
            .iter()
            .map(String::as_str)
            .filter(|note| note.contains("pairing-timeout"))
            .collect();
        assert_eq!(
            dropped,
            ["drop p3 pairing-timeout", "drop-claims 7 pairing-timeout"]
        );
        assert_eq!(bench.server.poll_timeout(), Some(1_009));
        bench.at(1_009);
        assert_eq!(bench.server.poll_timeout(), None);
    }

    #[test]
    fn a_late_joiner_gets_the_history_then_every_later_draw() {
        let mut bench = Bench::new(config(vec![]));
        bench.player(0, 1, HIGH);
        bench.at(10);
        bench.at(20);
        bench.at(30);
        bench.player(30, 3, LOW);
        bench.at(40);
        let (game, drawn) = bench.server.running().unwrap();
        let drawn = drawn.to_vec();
        let lines = &bench.sent[&3];
        assert_eq!(
            lines[1],
            format!("GAME {game} HISTORY {} {} {}", drawn[0], drawn[1], drawn[2])
        );
        assert_eq!(lines[2], format!("DRAW {game} 4 {}", drawn[3]));
    }

    #[test]
    fn a_line_that_arrives_in_the_millisecond_a_draw_is_due_comes_after_that_draw() {
        // Whichever task runs first at 10 ms, the draw due then is made
        // before the late joiner's BOARD is handled: the joiner's history
        // holds it, and no DRAW for it follows. (This is why no order of
        // tasks within one ms can make a joiner miss a draw.)
        let mut bench = Bench::new(config(vec![]));
        bench.player(0, 1, HIGH);
        bench.player(10, 3, LOW);
        let first_draw = bench.sent[&1]
            .iter()
            .find(|line| line.starts_with("DRAW 1 1 "))
            .expect("the draw due at 10 ms was made")
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(bench.sent[&3][1], format!("GAME 1 HISTORY {first_draw}"));
        bench.at(10);
        assert_eq!(bench.sent[&3].len(), 2, "{:?}", bench.sent[&3]);
        bench.at(20);
        assert!(bench.last(3).starts_with("DRAW 1 2 "), "{}", bench.last(3));
    }

    #[test]
    fn the_first_valid_claim_wins_and_every_later_one_is_late() {
        let prefix: Vec<u8> = (1..=15).collect();
        let mut bench = Bench::new(config(prefix));
        bench.player(0, 1, LOW);
        bench.player(0, 3, LOW);
        for step in 1..=15 {
            bench.at(step * 10);
        }
        bench.say(150, 4, "TOMBOLA 1");
        bench.say(150, 2, "TOMBOLA 1");
        assert_eq!(bench.last(4), "WIN 1");
        assert_eq!(bench.last(2), "LATE 1 p2");
        for numbers in [1, 3] {
            let lines = &bench.sent[&numbers];
            assert_eq!(lines[lines.len() - 2], "OVER 1 WINNER p2");
            assert_eq!(lines[lines.len() - 1], "NEXT 2 IN 0");
        }
    }

    #[test]
    fn a_connection_accepted_before_a_winning_claim_of_its_millisecond_hears_that_end() {
        for bug in [None, Some(InjectedBug::OverListCachedPerMs)] {
            let mut bench = Bench::new(ServerConfig {
                injected_bug: bug,
                ..config((1..=15).collect())
            });
            bench.player(0, 1, LOW);
            for step in 1..=15 {
                bench.at(step * 10);
            }
            // At 155 ms a new numbers connection comes first, then the claim.
            bench.connect(155, 9, Port::Numbers);
            bench.say(155, 2, "TOMBOLA 1");
            let heard: Vec<&str> = bench.sent[&9].iter().map(String::as_str).collect();
            match bug {
                None => assert_eq!(heard[1..], ["OVER 1 WINNER p1", "NEXT 2 IN 0"]),
                // The list of the millisecond was taken before it connected.
                Some(_) => assert_eq!(heard.len(), 1, "{heard:?}"),
            }
            // Taken after the claim, it rightly hears nothing of game 1.
            bench.connect(155, 11, Port::Numbers);
            assert_eq!(bench.sent[&11].len(), 1);
        }
    }

    #[test]
    fn a_false_claim_bars_that_player_for_the_rest_of_the_game() {
        let mut bench = Bench::new(config((1..=15).collect()));
        bench.player(0, 1, LOW);
        bench.at(10);
        bench.say(10, 2, "TOMBOLA 1");
        assert_eq!(bench.last(2), "ERR false-claim 1");
        for step in 2..=15 {
            bench.at(step * 10);
        }
        bench.say(150, 2, "TOMBOLA 1");
        assert!(bench.last(2).starts_with("ERR claim-barred 1"));
        assert!(
            bench.server.running().is_some(),
            "a barred claim ends nothing"
        );
    }

    #[test]
    fn after_the_ninetieth_draw_claims_have_one_more_interval() {
        let mut bench = Bench::new(config(vec![]));
        bench.player(0, 1, LOW);
        for step in 1..=90 {
            bench.at(step * 10);
        }
        assert_eq!(bench.server.running().unwrap().1.len(), 90);
        bench.at(909);
        assert!(bench.server.running().is_some());
        bench.at(910);
        assert!(bench.last(1).starts_with("NEXT 2"));
        assert!(bench.notes.contains(&"over 1 nowinner".to_owned()));
        bench.say(911, 2, "TOMBOLA 1");
        assert!(bench.last(2).starts_with("ERR game-over 1"));
    }

    #[test]
    fn only_players_who_said_again_play_the_next_game() {
        let mut bench = Bench::new(config((1..=15).collect()));
        bench.player(0, 1, LOW);
        bench.player(0, 3, HIGH);
        for step in 1..=15 {
            bench.at(step * 10);
        }
        bench.say(150, 2, "TOMBOLA 1");
        bench.say(160, 2, "AGAIN");
        assert_eq!(bench.last(2), "AGAIN-OK");
        bench.at(250);
        assert_eq!(bench.last(1), "GAME 2 HISTORY");
        assert_eq!(bench.last(3), "GOODBYE");
        assert_eq!(bench.last(4), "GOODBYE");
        assert!(bench.closed.contains(&3) && bench.closed.contains(&4));
        assert!(!bench.closed.contains(&1));
    }

    #[test]
    fn losing_either_connection_removes_the_player_and_closes_the_other() {
        let mut bench = Bench::new(config(vec![]));
        bench.player(0, 1, LOW);
        bench.player(0, 3, HIGH);
        bench.server.disconnect(5, 1);
        bench.pump();
        assert!(bench.closed.contains(&2));
        bench.server.disconnect(5, 4);
        bench.pump();
        assert!(bench.closed.contains(&3));
        assert!(bench.notes.contains(&"abandon 1".to_owned()));
        assert_eq!(bench.server.poll_timeout(), None, "nothing left to do");
    }

    #[test]
    fn unpaired_connections_expire() {
        let mut bench = Bench::new(config(vec![]));
        bench.connect(0, 1, Port::Numbers);
        bench.connect(0, 2, Port::Claims);
        assert_eq!(bench.server.poll_timeout(), Some(1_000));
        bench.at(1_000);
        assert!(bench.last(1).starts_with("ERR pairing-timeout"));
        assert_eq!(bench.closed, vec![1, 2]);
        assert_eq!(bench.server.poll_timeout(), None);
    }
}
