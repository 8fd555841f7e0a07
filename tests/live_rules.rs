//! Properties of the live game, checked on the sans-IO server state machine
//! itself (no sockets, no clock): the first valid claim wins and every
//! later one is late; a player joining at any moment sees the game's draw
//! sequence exactly (history, then every later draw); and no input of any
//! shape makes the server panic.

use std::collections::BTreeMap;

use games::conn::ConnId;
use games::live::game::{LiveServer, Output, Port, ServerConfig};
use games::live::notes::{ClaimVerdict, Note};
use games::live::protocol::ServerMessage;
use games::tombola::rules::{Board, NumberSet};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const INTERVAL_MS: u64 = 10;
const PAUSE_MS: u64 = 1_000;

/// A server driven by hand, with every line each connection was sent and
/// every note it made.
struct Bench {
    server: LiveServer<ChaCha8Rng>,
    sent: BTreeMap<ConnId, Vec<ServerMessage>>,
    notes: Vec<Note>,
    next_conn: ConnId,
}

impl Bench {
    fn new(seed: u64) -> Bench {
        let config = ServerConfig {
            interval_ms: INTERVAL_MS,
            pause_ms: PAUSE_MS,
            ..ServerConfig::default()
        };
        Bench {
            server: LiveServer::new(config, ChaCha8Rng::seed_from_u64(seed)),
            sent: BTreeMap::new(),
            notes: Vec::new(),
            next_conn: 0,
        }
    }

    fn pump(&mut self) {
        while let Some(output) = self.server.poll_output() {
            if let Output::Send(conn, message) = output {
                self.sent.entry(conn).or_default().push(message);
            }
        }
        while let Some(note) = self.server.poll_note() {
            self.notes.push(note);
        }
    }

    fn at(&mut self, now_ms: u64) {
        self.server.handle_timeout(now_ms);
        self.pump();
    }

    fn say(&mut self, now_ms: u64, conn: ConnId, line: &str) {
        self.server.receive(now_ms, conn, line);
        self.pump();
    }

    fn last(&self, conn: ConnId) -> Option<&ServerMessage> {
        self.sent.get(&conn).and_then(|lines| lines.last())
    }

    /// Connects, pairs and registers a player; returns its numbers and
    /// claims connections.
    fn player(&mut self, now_ms: u64, board: &Board) -> (ConnId, ConnId) {
        let (numbers, claims) = (self.next_conn + 1, self.next_conn + 2);
        self.next_conn += 2;
        self.server.connect(now_ms, numbers, Port::Numbers);
        self.server.connect(now_ms, claims, Port::Claims);
        self.pump();
        let Some(ServerMessage::Welcome { token, .. }) = self.sent[&numbers].first().cloned()
        else {
            panic!("a numbers connection is welcomed first");
        };
        self.say(now_ms, claims, &format!("HELLO {token}"));
        self.say(now_ms, claims, &format!("BOARD {board}"));
        assert_eq!(self.last(claims), Some(&ServerMessage::BoardOk));
        (numbers, claims)
    }

    /// The numbers the server noted for `game`, in order.
    fn draws_of(&self, game: u64) -> Vec<u8> {
        self.notes
            .iter()
            .filter_map(|note| match note {
                Note::Draw {
                    game: drawn_in,
                    number,
                    ..
                } if *drawn_in == game => Some(*number),
                _ => None,
            })
            .collect()
    }
}

fn boards(seed: u64, count: usize) -> Vec<Board> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    (0..count).map(|_| Board::random(&mut rng)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Claims arrive after arbitrary draws from arbitrary players: the
    /// first claim on a covered board by a player not barred wins, false
    /// claims bar their player, every claim after the win is `LATE` naming
    /// the winner, and everyone is told that winner.
    #[test]
    fn the_first_valid_claim_wins_and_every_later_claim_is_late(
        seed: u64,
        player_count in 2usize..5,
        mut claims in proptest::collection::vec((0u32..=90, 0usize..4), 1..12),
    ) {
        claims.sort_by_key(|&(after, _)| after);
        let boards = boards(seed, player_count);
        let mut bench = Bench::new(seed);
        let conns: Vec<(ConnId, ConnId)> = boards.iter().map(|board| bench.player(0, board)).collect();
        let mut drawn = NumberSet::default();
        let mut draws_done = 0u32;
        let mut winner: Option<usize> = None;
        let mut barred = vec![false; player_count];
        for (after, who) in claims {
            let who = who % player_count;
            // Draw until `after` numbers are out (unless the game ended).
            while draws_done < after && winner.is_none() {
                draws_done += 1;
                bench.at(u64::from(draws_done) * INTERVAL_MS);
                let numbers = bench.draws_of(1);
                drawn = numbers.iter().copied().collect();
                prop_assert_eq!(numbers.len() as u32, draws_done);
            }
            let now_ms = u64::from(draws_done) * INTERVAL_MS;
            bench.say(now_ms, conns[who].1, "TOMBOLA 1");
            let reply = bench.last(conns[who].1).cloned().unwrap();
            let expected = match winner {
                Some(first) => format!("LATE 1 p{}", first + 1),
                None if barred[who] => "ERR claim-barred".to_owned(),
                None if boards[who].is_covered_by(&drawn) => {
                    winner = Some(who);
                    "WIN 1".to_owned()
                }
                None => {
                    barred[who] = true;
                    "ERR false-claim 1".to_owned()
                }
            };
            prop_assert!(reply.to_string().starts_with(&expected), "{} instead of {}", reply, expected);
        }
        if let Some(first) = winner {
            let over = ServerMessage::Over { game: 1, winner: Some(format!("p{}", first + 1)) };
            for (numbers, _) in &conns {
                prop_assert!(bench.sent[numbers].contains(&over));
            }
            prop_assert_eq!(bench.notes.iter().filter(|note| matches!(note, Note::Claim { verdict: ClaimVerdict::Win, .. })).count(), 1);
        }
    }

    /// Players register at arbitrary moments of a 90-draw game, exactly on
    /// a draw time or between two: each gets `GAME 1 HISTORY` with the
    /// numbers drawn so far, then every later draw, so that history plus
    /// draws is the game's whole sequence, once and in order.
    #[test]
    fn history_plus_later_draws_is_the_game_sequence_for_any_join_time(
        seed: u64,
        join_times in proptest::collection::vec(0u64..90 * INTERVAL_MS, 1..5),
    ) {
        let boards = boards(seed, join_times.len() + 1);
        let mut bench = Bench::new(seed);
        // A first player who never claims keeps the game running to draw 90.
        bench.player(0, &boards[0]);
        let mut joiners = Vec::new();
        let mut sorted = join_times.clone();
        sorted.sort_unstable();
        let mut now_ms = 0;
        for (index, join_ms) in sorted.iter().enumerate() {
            while now_ms + INTERVAL_MS <= *join_ms {
                now_ms += INTERVAL_MS;
                bench.at(now_ms);
            }
            joiners.push(bench.player(*join_ms, &boards[index + 1]).0);
        }
        while bench.draws_of(1).len() < 90 {
            now_ms += INTERVAL_MS;
            bench.at(now_ms);
        }
        let sequence = bench.draws_of(1);
        for numbers in joiners {
            let mut seen = Vec::new();
            let mut seqs = Vec::new();
            for message in &bench.sent[&numbers] {
                match message {
                    ServerMessage::Game { game: 1, history } => {
                        prop_assert!(seen.is_empty(), "one history, first");
                        seen.extend_from_slice(history);
                    }
                    ServerMessage::Draw { game: 1, seq, number } => {
                        seqs.push(*seq as usize);
                        seen.push(*number);
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(&seen, &sequence);
            let first_seq = sequence.len() - seqs.len() + 1;
            prop_assert_eq!(seqs, (first_seq..=sequence.len()).collect::<Vec<_>>());
        }
    }

    /// Any line, on either port, paired or not, at any time, is answered or
    /// ignored without a panic, and the game goes on drawing.
    #[test]
    fn arbitrary_lines_on_either_port_never_panic_the_server(
        seed: u64,
        lines in proptest::collection::vec((0usize..4, "\\PC{0,40}|TOMBOLA [0-9]{1,3}|AGAIN|QUIT|HELLO [0-9a-f]{16}|BOARD( [0-9]{1,2}){15}"), 1..40),
    ) {
        let boards = boards(seed, 1);
        let mut bench = Bench::new(seed);
        let (numbers, claims) = bench.player(0, &boards[0]);
        bench.server.connect(0, 3, Port::Numbers);
        bench.server.connect(0, 4, Port::Claims);
        bench.pump();
        let targets = [numbers, claims, 3, 4];
        for (step, (target, line)) in lines.iter().enumerate() {
            let now_ms = step as u64 * 7;
            bench.say(now_ms, targets[*target], line);
            bench.at(now_ms);
        }
        prop_assert!(bench.server.games_started() >= 1);
    }
}
