//! Lock-step tombola on real TCP (127.0.0.1, port 0): bots play a whole game
//! against the real server session, and misbehaving raw clients get the
//! documented refusals without disturbing anyone else.

mod common;

use std::time::Duration;

use common::RawClient;
use games::env::{Env, Listener, TokioEnv};
use games::tombola::client::{play, Behaviour, ClientReport, Outcome};
use games::tombola::game::ServerConfig;
use games::tombola::rules::Board;
use games::tombola::server;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

/// A whole test game must end well within this.
const GAME_WAIT: Duration = Duration::from_secs(30);

/// Starts a server on 127.0.0.1:0; returns its address and a stop switch.
async fn start_server(config: ServerConfig, seed: u64) -> (String, oneshot::Sender<()>) {
    let env = TokioEnv::new();
    let listener = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("bound address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run(
        env,
        listener,
        config,
        ChaCha8Rng::seed_from_u64(seed),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

fn fast_config(players: usize) -> ServerConfig {
    ServerConfig {
        players,
        interval_ms: 5,
        reply_timeout_ms: 2000,
        draw_prefix: Vec::new(),
        injected_bug: None,
        ..ServerConfig::default()
    }
}

async fn bot(addr: String, board: Board) -> ClientReport {
    let env = TokioEnv::new();
    tokio::time::timeout(
        GAME_WAIT,
        play(&env, &addr, board, Behaviour::Honest, &mut ()),
    )
    .await
    .expect("the game ended in time")
    .expect("the bot played")
}

/// Checks a finished game from the bots' reports: same draws everywhere, a
/// winner, and the winners exactly the boards completing on the last draw.
fn check_game(reports: &[ClientReport], boards: &[Board]) {
    let draws = &reports[0].draws;
    assert!(!draws.is_empty() && draws.len() <= 90);
    let mut winners_told = None;
    for report in reports {
        assert_eq!(&report.draws, draws, "{} saw other draws", report.id);
        let winners = match &report.outcome {
            Outcome::Won { winners } | Outcome::Lost { winners } => winners.clone(),
            other => panic!("{} ended with {other:?}", report.id),
        };
        assert_eq!(
            winners_told.get_or_insert(winners.clone()),
            &winners,
            "everyone is told the same winners"
        );
    }
    let expected: Vec<String> = reports
        .iter()
        .zip(boards)
        .filter(|(_, board)| board.completion_draw(draws) == Some(draws.len()))
        .map(|(report, _)| report.id.clone())
        .collect();
    let mut told = winners_told.expect("at least one report");
    told.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert!(!told.is_empty(), "someone won");
    assert_eq!(
        told, expected_sorted,
        "the winners are exactly the boards completed on the last draw"
    );
}

fn boards(seed: u64, count: usize) -> Vec<Board> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| Board::random(&mut rng)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_play_a_whole_game_on_real_tcp_and_agree_on_a_verified_winner() {
    let (addr, _stop) = start_server(fast_config(3), 11).await;
    let boards = boards(3, 3);
    let games: Vec<_> = boards
        .iter()
        .map(|board| tokio::spawn(bot(addr.clone(), board.clone())))
        .collect();
    let mut reports = Vec::new();
    for game in games {
        reports.push(game.await.expect("bot task"));
    }
    check_game(&reports, &boards);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_get_their_documented_codes_and_the_connection_stays() {
    let (addr, _stop) = start_server(fast_config(2), 1).await;
    let mut client = RawClient::connect(&addr).await;
    assert_eq!(client.expect_line().await, "WELCOME p1");
    let cases: [(&[u8], &str); 7] = [
        (b"BOARD 1 2 3\n", "ERR bad-board "),
        (
            b"BOARD 1 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n",
            "ERR bad-board ",
        ),
        (
            b"BOARD 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n",
            "ERR bad-board ",
        ),
        (b"DANCE now\r\n", "ERR unknown-command DANCE"),
        (b"ACK x\n", "ERR bad-seq "),
        (b"ACK 1\n", "ERR not-playing "),
        (b"\xff\xfe\xfd\n", "ERR invalid-utf8"),
    ];
    for (input, expected) in cases {
        client.send_raw(input).await;
        let reply = client.expect_line().await;
        assert!(
            reply.starts_with(expected),
            "{input:?} got {reply:?}, expected {expected:?}..."
        );
    }
    // Empty lines get no answer; the connection still works afterwards.
    client.send_raw(b"\n\r\n").await;
    client
        .send("BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
        .await;
    assert_eq!(client.expect_line().await, "BOARD-OK");
    assert_eq!(client.expect_line().await, "WAITING 1 2");
    client
        .send("BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
        .await;
    assert!(client
        .expect_line()
        .await
        .starts_with("ERR already-registered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_closes_only_that_connection_and_a_reset_changes_nothing() {
    let (addr, _stop) = start_server(fast_config(2), 5).await;

    // A flooder: 4 KiB without a newline, then the rest.
    let mut flooder = RawClient::connect(&addr).await;
    assert_eq!(flooder.expect_line().await, "WELCOME p1");
    flooder.send_raw(&vec![b'A'; 4096]).await;
    let reply = flooder.expect_line().await;
    assert!(reply.starts_with("ERR line-too-long"), "got {reply:?}");
    assert_eq!(
        flooder.line().await,
        None,
        "the server closed the flooder's connection"
    );

    // A client that registers half a board and resets mid-line.
    let half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.set_zero_linger().unwrap();
    let (read_half, mut write_half) = half.into_split();
    tokio::io::AsyncWriteExt::write_all(&mut write_half, b"BOARD 1 2 3 4 5 6 7")
        .await
        .unwrap();
    drop(read_half);
    drop(write_half);

    // Two bots still play a normal game: nobody else was counted or disturbed.
    let boards = boards(8, 2);
    let first = tokio::spawn(bot(addr.clone(), boards[0].clone()));
    let second = tokio::spawn(bot(addr.clone(), boards[1].clone()));
    let reports = vec![first.await.unwrap(), second.await.unwrap()];
    check_game(&reports, &boards);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_claim_disqualifies_only_the_claimer() {
    let (addr, _stop) = start_server(fast_config(3), 9).await;
    let boards = boards(21, 3);
    let env = TokioEnv::new();
    let cheater_addr = addr.clone();
    let cheater_board = boards[2].clone();
    let cheater = tokio::spawn(async move {
        play(
            &env,
            &cheater_addr,
            cheater_board,
            Behaviour::FalseClaimAt(2),
            &mut (),
        )
        .await
    });
    let honest: Vec<_> = boards[..2]
        .iter()
        .map(|board| tokio::spawn(bot(addr.clone(), board.clone())))
        .collect();
    let cheater = cheater.await.unwrap().expect("the cheater connected");
    assert_eq!(cheater.outcome, Outcome::Disqualified);
    let mut reports = Vec::new();
    for game in honest {
        reports.push(game.await.unwrap());
    }
    check_game(&reports, &boards[..2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_many_lines_before_reading_gets_every_reply() {
    let (addr, _stop) = start_server(fast_config(2), 3).await;
    let mut client = RawClient::connect(&addr).await;
    assert_eq!(client.expect_line().await, "WELCOME p1");
    // Far more replies than the outbox (256 lines) and the kernel's socket
    // buffers hold, all asked for before any is read: the server stops
    // reading until the client reads, and drops nothing.
    let lines = 100_000;
    let RawClient {
        mut reader,
        mut writer,
    } = client;
    let flood = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut writer, "ACK 1\n".repeat(lines).as_bytes())
            .await
            .unwrap();
        writer
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut line = String::new();
    for index in 0..lines {
        line.clear();
        let read = tokio::time::timeout(
            common::LINE_WAIT,
            tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line),
        );
        assert!(
            read.await.expect("replies keep coming").unwrap() > 0,
            "connection closed after {index} replies; server-side closes in this process: {:?}",
            games::conn::close_counts()
        );
        assert!(
            line.starts_with("ERR not-playing"),
            "reply {index}: {line:?}"
        );
    }
    let writer = flood.await.unwrap();
    let mut client = RawClient { reader, writer };
    client
        .send("BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
        .await;
    assert_eq!(client.expect_line().await, "BOARD-OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_good_and_bad_lines_are_answered_in_the_order_sent() {
    let (addr, _stop) = start_server(fast_config(2), 4).await;
    let mut client = RawClient::connect(&addr).await;
    assert_eq!(client.expect_line().await, "WELCOME p1");
    // Everything in one write, so the server reads it all at once: a
    // framing refusal must not overtake the replies to the lines before it.
    let mut input =
        b"FOO\n\xff\nACK 1\n\xfe\xfd\nBOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\nBAR\n".to_vec();
    input.extend(vec![b'A'; 2000]);
    input.push(b'\n');
    client.send_raw(&input).await;
    let expected = [
        "ERR unknown-command FOO",
        "ERR invalid-utf8",
        "ERR not-playing",
        "ERR invalid-utf8",
        "BOARD-OK",
        "WAITING 1 2",
        "ERR unknown-command BAR",
        "ERR line-too-long",
    ];
    for (index, prefix) in expected.iter().enumerate() {
        let reply = client.expect_line().await;
        assert!(
            reply.starts_with(prefix),
            "reply {index} is {reply:?}, expected {prefix:?}..."
        );
    }
    assert_eq!(client.line().await, None, "closed after line-too-long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_says_server_full_and_closes_at_once() {
    let env = TokioEnv::new();
    let listener = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().unwrap().to_string();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run_holding(
        env,
        listener,
        fast_config(3),
        ChaCha8Rng::seed_from_u64(2),
        2,
        async {
            let _ = stopped.await;
        },
    ));
    let mut first = RawClient::connect(&addr).await;
    assert_eq!(first.expect_line().await, "WELCOME p1");
    let mut second = RawClient::connect(&addr).await;
    assert_eq!(second.expect_line().await, "WELCOME p2");
    let started = std::time::Instant::now();
    let mut third = RawClient::connect(&addr).await;
    let refusal = third.expect_line().await;
    assert!(refusal.starts_with("ERR server-full"), "got {refusal:?}");
    assert_eq!(third.line().await, None, "closed after the refusal");
    assert!(
        started.elapsed() < Duration::from_millis(games::conn::CLOSE_GRACE_MS / 2),
        "the refusal took {:?}",
        started.elapsed()
    );
    // The two held connections still work.
    first.send("ACK 1").await;
    assert!(first.expect_line().await.starts_with("ERR not-playing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_first_connect_fails_retries_and_plays_once_the_server_is_up() {
    // A free port: bind it, note it, let it go; nothing listens there until
    // the server starts, after the client's first attempt has failed.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let addr = probe.local_addr().expect("bound address").to_string();
    drop(probe);
    let board = boards(21, 1).remove(0);
    let client = tokio::spawn(bot(addr.clone(), board));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let env = TokioEnv::new();
    let listener = env.bind(&addr).await.expect("bind the freed port");
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run(
        env,
        listener,
        fast_config(1),
        ChaCha8Rng::seed_from_u64(21),
        async {
            let _ = stopped.await;
        },
    ));
    let report = client.await.expect("the bot task ran");
    assert!(
        matches!(report.outcome, Outcome::Won { .. }),
        "a lone player completes its board and wins: {:?}",
        report.outcome
    );
}
