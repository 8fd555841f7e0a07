//! Live tombola on real TCP (127.0.0.1, both ports on port 0): bots play
//! whole games against the real server session (a late joiner, two claims
//! on the same draw, AGAIN and QUIT, a player sent away), and misbehaving
//! raw clients get the documented refusals without disturbing anyone else.

mod common;

use std::time::Duration;

use common::RawClient;
use games::env::{Env, Listener, TokioEnv};
use games::live::client::{play, Behaviour, ClaimAnswer, ClientConfig, Ending, LiveReport};
use games::live::game::ServerConfig;
use games::live::server;
use games::tombola::rules::Board;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

/// A whole test session must end well within this.
const SESSION_WAIT: Duration = Duration::from_secs(30);
const INTERVAL_MS: u64 = 20;
const PAUSE_MS: u64 = 200;

struct TestServer {
    numbers: String,
    claims: String,
    _stop: oneshot::Sender<()>,
}

/// Starts a server with both listeners on 127.0.0.1:0.
async fn start_server(draw_prefix: Vec<u8>, seed: u64) -> TestServer {
    let env = TokioEnv::new();
    let numbers = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let claims = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let config = ServerConfig {
        interval_ms: INTERVAL_MS,
        pause_ms: PAUSE_MS,
        draw_prefix,
        ..ServerConfig::default()
    };
    let addrs = (
        numbers.local_addr().unwrap().to_string(),
        claims.local_addr().unwrap().to_string(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let rng = ChaCha8Rng::seed_from_u64(seed);
    tokio::spawn(server::run(env, numbers, claims, config, rng, async {
        let _ = stopped.await;
    }));
    TestServer {
        numbers: addrs.0,
        claims: addrs.1,
        _stop: stop,
    }
}

fn board(numbers: impl IntoIterator<Item = u8>) -> Board {
    Board::new(&numbers.into_iter().collect::<Vec<_>>()).unwrap()
}

/// Plays one client session in a task, after `delay_ms`.
fn spawn_bot(
    server: &TestServer,
    board: Board,
    behaviour: Behaviour,
    delay_ms: u64,
) -> tokio::task::JoinHandle<LiveReport> {
    let config = ClientConfig {
        numbers_addr: server.numbers.clone(),
        claims_addr: server.claims.clone(),
        board,
        behaviour,
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let env = TokioEnv::new();
        tokio::time::timeout(SESSION_WAIT, play(&env, &config, &mut (), None))
            .await
            .expect("the session ended in time")
            .expect("the bot played")
    })
}

/// Everything one report saw of one game, history first.
fn numbers_seen(report: &LiveReport, game: u64) -> Vec<u8> {
    let seen = report.games.iter().find(|seen| seen.game == game).unwrap();
    let mut numbers = seen.history.clone();
    numbers.extend_from_slice(&seen.draws);
    numbers
}

/// The bag draws 1..=14, 16..=29, then 15: boards 1..=15 and 15..=29 both
/// complete on draw 29.
fn simultaneous_prefix() -> Vec<u8> {
    (1..=14).chain(16..=29).chain([15]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_two_claims_on_one_draw_again_and_quit_play_out_on_real_tcp() {
    let server = start_server(simultaneous_prefix(), 3).await;
    let first = spawn_bot(&server, board(1..=15), Behaviour::Honest { games: 2 }, 0);
    let second = spawn_bot(&server, board(15..=29), Behaviour::Honest { games: 1 }, 0);
    // Joins about ten draws in, and never answers AGAIN.
    let late = spawn_bot(
        &server,
        board(76..=90),
        Behaviour::Silent,
        10 * INTERVAL_MS + 5,
    );
    let (first, second, late) = (
        first.await.unwrap(),
        second.await.unwrap(),
        late.await.unwrap(),
    );

    // Game 1: one WIN, one LATE naming that winner; everyone told the same.
    let (first_answers, second_answers) = (&first.games[0].answers, &second.games[0].answers);
    let (winner, late_names) = match (&first_answers[..], &second_answers[..]) {
        ([ClaimAnswer::Win], [ClaimAnswer::Late { winner }]) => (&first, winner),
        ([ClaimAnswer::Late { winner }], [ClaimAnswer::Win]) => (&second, winner),
        other => panic!("expected one WIN and one LATE, got {other:?}"),
    };
    assert_eq!(late_names, &winner.id, "LATE names the winner");
    for report in [&first, &second, &late] {
        assert_eq!(
            report.games[0].over,
            Some(Some(winner.id.clone())),
            "{} was told another winner",
            report.id
        );
    }

    // Everyone saw game 1's 29 numbers exactly, the late joiner through its
    // history first.
    let sequence = simultaneous_prefix();
    assert_eq!(numbers_seen(&first, 1), sequence);
    assert_eq!(numbers_seen(&second, 1), sequence);
    assert_eq!(numbers_seen(&late, 1), sequence);
    assert!(
        !late.games[0].history.is_empty(),
        "the late joiner joined a running game"
    );

    // AGAIN, QUIT and silence.
    assert_eq!(first.games.len(), 2, "the first player played game 2 alone");
    assert_eq!(first.games[1].game, 2);
    assert_eq!(first.games[1].answers, vec![ClaimAnswer::Win]);
    assert_eq!(first.ending, Ending::Quit);
    assert_eq!((second.games.len(), &second.ending), (1, &Ending::Quit));
    assert_eq!((late.games.len(), &late.ending), (1, &Ending::SentAway));
}

/// Reads numbers-port lines until an `ERR`, skipping broadcasts.
async fn next_refusal(client: &mut RawClient) -> String {
    loop {
        let line = client.expect_line().await;
        if line.starts_with("ERR") {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_documented_refusals_and_never_disturbs_a_playing_bot() {
    let server = start_server((1..=15).collect(), 5).await;

    let mut numbers = RawClient::connect(&server.numbers).await;
    let welcome = numbers.expect_line().await;
    let token = welcome.rsplit(' ').next().unwrap().to_owned();
    assert!(welcome.starts_with("WELCOME p1 "), "got {welcome:?}");
    let mut claims = RawClient::connect(&server.claims).await;
    let high = "BOARD 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90";
    let hello = format!("HELLO {token}");
    let cases: Vec<(Vec<u8>, String)> = vec![
        (format!("{high}\n").into_bytes(), "ERR not-paired ".into()),
        (b"TOMBOLA 1\n".to_vec(), "ERR not-paired ".into()),
        (
            b"HELLO 0123456789abcdef\n".to_vec(),
            "ERR bad-token ".into(),
        ),
        (format!("{hello}\r\n").into_bytes(), "HELLO p1".into()),
        (
            format!("{hello}\n").into_bytes(),
            "ERR already-paired ".into(),
        ),
        (b"BOARD 1 2 3\n".to_vec(), "ERR bad-board ".into()),
        (b"DANCE now\n".to_vec(), "ERR unknown-command DANCE".into()),
        (b"\xff\xfe\xfd\n".to_vec(), "ERR invalid-utf8".into()),
        (b"AGAIN\n".to_vec(), "ERR not-registered ".into()),
        (format!("{high}\n").into_bytes(), "BOARD-OK".into()),
        (
            format!("{high}\n").into_bytes(),
            "ERR already-registered ".into(),
        ),
        (b"TOMBOLA 7\n".to_vec(), "ERR wrong-game 7".into()),
        (b"AGAIN\n".to_vec(), "ERR not-paused ".into()),
    ];
    for (input, expected) in cases {
        claims.send_raw(&input).await;
        let reply = claims.expect_line().await;
        assert!(
            reply.starts_with(&expected),
            "{:?} got {reply:?}, expected {expected:?}...",
            String::from_utf8_lossy(&input)
        );
    }
    assert_eq!(numbers.expect_line().await, "GAME 1 HISTORY");
    numbers.send("TOMBOLA 1").await;
    assert!(next_refusal(&mut numbers)
        .await
        .starts_with("ERR wrong-port "));

    // Three wrong tokens close that claims connection.
    let mut guesser = RawClient::connect(&server.claims).await;
    for _ in 0..3 {
        guesser.send("HELLO 0000000000000000").await;
        assert!(guesser.expect_line().await.starts_with("ERR bad-token"));
    }
    assert_eq!(
        guesser.line().await,
        None,
        "closed after three wrong tokens"
    );

    // An over-long line closes only its own connection.
    let mut flooder = RawClient::connect(&server.claims).await;
    flooder.send_raw(&vec![b'A'; 4096]).await;
    assert!(flooder.expect_line().await.starts_with("ERR line-too-long"));
    assert_eq!(flooder.line().await, None);

    // A paired player that resets mid-line: it is removed, nobody else is.
    let mut victim_numbers = RawClient::connect(&server.numbers).await;
    let victim_welcome = victim_numbers.expect_line().await;
    let victim_token = victim_welcome.rsplit(' ').next().unwrap();
    let resetter = tokio::net::TcpStream::connect(&server.claims)
        .await
        .unwrap();
    resetter.set_zero_linger().unwrap();
    let (read_half, mut write_half) = resetter.into_split();
    let pair_and_half_a_claim = format!("HELLO {victim_token}\nTOMBO");
    tokio::io::AsyncWriteExt::write_all(&mut write_half, pair_and_half_a_claim.as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(read_half);
    drop(write_half);
    assert_eq!(
        victim_numbers.line().await,
        None,
        "losing the claims connection closes the numbers one"
    );

    // Through all of that the raw player is still in game 1, and a bot
    // joining late plays it to a normal end: it wins from its history.
    let bot = spawn_bot(&server, board(1..=15), Behaviour::Honest { games: 1 }, 0);
    let report = bot.await.unwrap();
    assert_eq!(report.games[0].answers, vec![ClaimAnswer::Win]);
    assert_eq!(report.ending, Ending::Quit);
    claims.send("TOMBOLA 1").await;
    assert_eq!(claims.expect_line().await, format!("LATE 1 {}", report.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_good_and_bad_lines_are_answered_in_the_order_sent() {
    let server = start_server(Vec::new(), 6).await;
    let mut numbers = RawClient::connect(&server.numbers).await;
    let welcome = numbers.expect_line().await;
    let token = welcome.rsplit(' ').next().unwrap().to_owned();
    let mut claims = RawClient::connect(&server.claims).await;
    // Everything in one write, so the server reads it all at once: a
    // framing refusal must not overtake the replies to the lines before it.
    let mut input = b"FOO\n\xff\n".to_vec();
    input.extend_from_slice(format!("HELLO {token}\n").as_bytes());
    input.extend_from_slice(b"\xfe\xfd\nAGAIN\nBAR\n");
    input.extend(vec![b'A'; 2000]);
    input.push(b'\n');
    claims.send_raw(&input).await;
    let expected = [
        "ERR unknown-command FOO",
        "ERR invalid-utf8",
        "HELLO p1",
        "ERR invalid-utf8",
        "ERR not-registered",
        "ERR unknown-command BAR",
        "ERR line-too-long",
    ];
    for (index, prefix) in expected.iter().enumerate() {
        let reply = claims.expect_line().await;
        assert!(
            reply.starts_with(prefix),
            "reply {index} is {reply:?}, expected {prefix:?}..."
        );
    }
    assert_eq!(claims.line().await, None, "closed after line-too-long");
}
