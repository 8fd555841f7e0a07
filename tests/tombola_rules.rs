//! Property tests of the lock-step winning logic, driving the server's
//! state machine directly (no sockets, no clock): whatever the seed, the
//! number of players and a forced draw prefix, a game ends by draw 90 and
//! its winners are exactly the players whose boards completed on the last
//! draw.

use std::collections::BTreeMap;

use games::tombola::game::{LockstepServer, Output, ServerConfig};
use games::tombola::notes::Note;
use games::tombola::protocol::ServerMessage;
use games::tombola::rules::{Board, NumberSet};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What one simulated honest player saw.
#[derive(Default)]
struct Seen {
    draws: Vec<u8>,
    over: Option<Vec<String>>,
    id: String,
}

/// Plays one whole game with honest players answering instantly; returns
/// each player's view and each player's board.
fn play_game(
    seed: u64,
    players: usize,
    prefix: Vec<u8>,
    boards: Vec<Board>,
) -> (Vec<Seen>, Vec<Board>) {
    let config = ServerConfig {
        players,
        interval_ms: 100,
        reply_timeout_ms: 500,
        draw_prefix: prefix,
        injected_bug: None,
        ..ServerConfig::default()
    };
    let mut server = LockstepServer::new(config, ChaCha8Rng::seed_from_u64(seed));
    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut now_ms = 0;
    for conn in 1..=players as u64 {
        seen.insert(conn, Seen::default());
        server.connect(now_ms, conn);
    }
    for (index, board) in boards.iter().enumerate() {
        server.receive(now_ms, index as u64 + 1, &format!("BOARD {board}"));
    }
    for _round in 0..200 {
        let mut answers = Vec::new();
        while let Some(output) = server.poll_output() {
            let Output::Send(conn, message) = output else {
                continue;
            };
            let view = seen.get_mut(&conn).expect("known connection");
            match message {
                ServerMessage::Welcome(id) => view.id = id,
                ServerMessage::Draw { seq, number } => {
                    view.draws.push(number);
                    let drawn: NumberSet = view.draws.iter().copied().collect();
                    let board = &boards[conn as usize - 1];
                    let keyword = if board.is_covered_by(&drawn) {
                        "TOMBOLA"
                    } else {
                        "ACK"
                    };
                    answers.push((conn, format!("{keyword} {seq}")));
                }
                ServerMessage::Over { winners, .. } => view.over = Some(winners),
                _ => {}
            }
        }
        if seen.values().all(|view| view.over.is_some()) {
            break;
        }
        for (conn, answer) in answers {
            server.receive(now_ms, conn, &answer);
        }
        // After the last answers the game is over and has no deadline; the
        // next pass collects the `OVER` lines.
        if let Some(deadline_ms) = server.poll_timeout() {
            now_ms = deadline_ms;
            server.handle_timeout(now_ms);
        }
    }
    (seen.into_values().collect(), boards)
}

fn boards_from(seed: u64, count: usize) -> Vec<Board> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    (0..count).map(|_| Board::random(&mut rng)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "fixtures/proptest-regressions/tombola_rules.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_game_always_ends_by_draw_90_with_exactly_the_right_winners(
        seed: u64,
        players in 1usize..=6,
        prefix in proptest::collection::vec(1u8..=90, 0..40),
    ) {
        let boards = boards_from(seed, players);
        let (seen, boards) = play_game(seed, players, prefix, boards);
        let draws = &seen[0].draws;
        prop_assert!(draws.len() <= 90, "{} draws", draws.len());
        let distinct: NumberSet = draws.iter().copied().collect();
        prop_assert_eq!(distinct.len(), draws.len(), "a number came out twice: {:?}", draws);
        for view in &seen {
            prop_assert_eq!(&view.draws, draws, "every player sees the same draws");
            prop_assert_eq!(&view.over, &seen[0].over, "every player is told the same winners");
        }
        let winners = seen[0].over.clone().expect("the game ended");
        let expected: Vec<String> = seen
            .iter()
            .zip(&boards)
            .filter(|(_, board)| board.completion_draw(draws) == Some(draws.len()))
            .map(|(view, _)| view.id.clone())
            .collect();
        prop_assert!(!expected.is_empty(), "the last draw completed someone's board");
        prop_assert_eq!(winners, expected);
    }

    #[test]
    fn two_boards_completing_on_the_same_draw_both_win(seed: u64, shared in 1u8..=90) {
        // Two boards that share exactly one number, drawn last of both.
        let mut others: Vec<u8> = (1..=90).filter(|&n| n != shared).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rand::seq::SliceRandom::shuffle(&mut others[..], &mut rng);
        let first: Vec<u8> = others[..14].iter().copied().chain([shared]).collect();
        let second: Vec<u8> = others[14..28].iter().copied().chain([shared]).collect();
        let prefix: Vec<u8> = others[..28].iter().copied().chain([shared]).collect();
        let boards = vec![Board::new(&first).unwrap(), Board::new(&second).unwrap()];
        let (seen, _) = play_game(seed, 2, prefix, boards);
        prop_assert_eq!(seen[0].draws.len(), 29);
        prop_assert_eq!(seen[0].over.clone(), Some(vec!["p1".to_owned(), "p2".to_owned()]));
    }
}

/// Every line the server has queued, as (connection, line) or a close.
fn drain(server: &mut LockstepServer<ChaCha8Rng>) -> Vec<(u64, String)> {
    let mut lines = Vec::new();
    while let Some(output) = server.poll_output() {
        match output {
            Output::Send(conn, message) => lines.push((conn, message.to_string())),
            Output::Close(conn) => lines.push((conn, "<close>".to_owned())),
        }
    }
    lines
}

fn registration_config() -> ServerConfig {
    ServerConfig {
        players: 4,
        registration_timeout_ms: 1000,
        ..ServerConfig::default()
    }
}

#[test]
fn after_the_registration_timeout_a_game_starts_with_the_players_present() {
    let mut server = LockstepServer::new(registration_config(), ChaCha8Rng::seed_from_u64(1));
    let boards = boards_from(1, 3);
    for (conn, board) in (1..=3u64).zip(&boards) {
        server.connect(0, conn);
        server.receive(10, conn, &format!("BOARD {board}"));
    }
    drain(&mut server);
    assert_eq!(server.poll_timeout(), Some(1010));
    server.handle_timeout(1009);
    assert!(drain(&mut server).is_empty(), "nothing before the timeout");
    server.handle_timeout(1010);
    let lines = drain(&mut server);
    for conn in 1..=3u64 {
        assert!(
            lines.contains(&(conn, "START 1 p1 p2 p3".to_owned())),
            "{lines:?}"
        );
    }
}

#[test]
fn a_lone_player_at_the_registration_timeout_is_told_there_are_too_few_and_closed() {
    let mut server = LockstepServer::new(registration_config(), ChaCha8Rng::seed_from_u64(2));
    let board = &boards_from(2, 1)[0];
    server.connect(0, 1);
    server.receive(5, 1, &format!("BOARD {board}"));
    drain(&mut server);
    server.handle_timeout(1005);
    assert_eq!(
        drain(&mut server),
        vec![
            (
                1,
                "ERR not-enough-players 1 of 4 came in 1000 ms".to_owned()
            ),
            (1, "<close>".to_owned())
        ]
    );
    assert_eq!(server.poll_timeout(), None, "nobody waits any more");
}

#[test]
fn a_game_whose_last_player_leaves_between_two_draws_is_abandoned_at_once() {
    let config = ServerConfig {
        players: 2,
        ..ServerConfig::default()
    };
    let mut server = LockstepServer::new(config, ChaCha8Rng::seed_from_u64(3));
    for (conn, board) in (1..=2u64).zip(&boards_from(3, 2)) {
        server.connect(0, conn);
        server.receive(1, conn, &format!("BOARD {board}"));
    }
    drain(&mut server);
    assert!(server.poll_timeout().is_some(), "the first draw is due");
    server.disconnect(2, 1);
    server.disconnect(3, 2);
    let notes: Vec<Note> = std::iter::from_fn(|| server.poll_note()).collect();
    assert_eq!(notes.last(), Some(&Note::Abandon { game: 1 }), "{notes:?}");
    assert_eq!(
        server.poll_timeout(),
        None,
        "no draw is due for an empty game"
    );
}
