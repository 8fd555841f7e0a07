//! The real `tombola-live-server` and `tombola-live-client` binaries as
//! processes: the server announces both ports on its first two stdout
//! lines, bots play (one of them two games), a person with two plain TCP
//! connections (what `nc` does) can pair, register and quit, and `--help`
//! explains the flags.

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::RawClient;

/// Three games at a 5 ms interval end well within this.
const SESSION_WAIT: Duration = Duration::from_secs(60);

/// Starts the server on two free ports; returns it and the two addresses.
fn start_server() -> (KillOnDrop, String, String) {
    let mut server = KillOnDrop(
        Command::new(common::binary("tombola-live-server"))
            .args([
                "--numbers-addr",
                "127.0.0.1:0",
                "--claims-addr",
                "127.0.0.1:0",
                "--interval-ms",
                "5",
                "--pause-ms",
                "100",
                "--seed",
                "3",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tombola-live-server"),
    );
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("announce line {line:?}"));
        addrs.push(addr.to_owned());
    }
    (server, addrs[0].clone(), addrs[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_processes_and_a_person_with_two_plain_connections_play_against_the_server_process() {
    let (_server, numbers, claims) = start_server();

    // The person: WELCOME on one connection, HELLO with its token on the
    // other, a board, the game's first line, then QUIT closes both.
    let mut person_numbers = RawClient::connect(&numbers).await;
    let welcome = person_numbers.expect_line().await;
    assert!(welcome.starts_with("WELCOME p1 "), "got {welcome:?}");
    let token = welcome.rsplit(' ').next().unwrap();
    let mut person_claims = RawClient::connect(&claims).await;
    person_claims.send(&format!("HELLO {token}")).await;
    assert_eq!(person_claims.expect_line().await, "HELLO p1");
    person_claims
        .send("BOARD 5 10 15 20 25 30 35 40 45 50 55 60 65 70 75")
        .await;
    assert_eq!(person_claims.expect_line().await, "BOARD-OK");
    assert_eq!(person_numbers.expect_line().await, "GAME 1 HISTORY");
    person_claims.send("QUIT").await;
    assert_eq!(person_claims.expect_line().await, "GOODBYE");
    assert_eq!(person_claims.line().await, None);
    // Draws may have been queued before the QUIT; then the end.
    while let Some(line) = person_numbers.line().await {
        assert!(line.starts_with("DRAW 1 "), "got {line:?}");
    }

    let bots: Vec<(KillOnDrop, usize)> = [(1, 2), (2, 1)]
        .iter()
        .map(|(seed, games)| {
            let child = Command::new(common::binary("tombola-live-client"))
                .args(["--numbers-addr", &numbers, "--claims-addr", &claims])
                .args(["--bot", "--seed", &seed.to_string()])
                .args(["--games", &games.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start tombola-live-client");
            (KillOnDrop(child), *games)
        })
        .collect();
    let started = Instant::now();
    for (mut bot, games) in bots {
        loop {
            if let Some(status) = bot.0.try_wait().unwrap() {
                assert!(status.success(), "a bot failed");
                break;
            }
            assert!(
                started.elapsed() < SESSION_WAIT,
                "the bots did not end in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines: Vec<String> = BufReader::new(bot.0.stdout.take().unwrap())
            .lines()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            lines.len(),
            games + 1,
            "one line per game, then the end: {lines:?}"
        );
        for line in &lines[..games] {
            assert!(
                line.contains("TOMBOLA! you won") || line.contains("won by"),
                "{lines:?}"
            );
        }
        assert!(
            lines[games].ends_with(&format!("quit after {games} games")),
            "{lines:?}"
        );
    }
}

#[test]
fn help_explains_every_flag() {
    for (binary, flags) in [
        (
            "tombola-live-server",
            &[
                "--numbers-addr",
                "--claims-addr",
                "--interval-ms",
                "--pause-ms",
                "--seed",
            ][..],
        ),
        (
            "tombola-live-client",
            &[
                "--numbers-addr",
                "--claims-addr",
                "--seed",
                "--board",
                "--bot",
                "--games",
            ][..],
        ),
    ] {
        let output = Command::new(common::binary(binary))
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for flag in flags {
            assert!(help.contains(flag), "{binary} --help lacks {flag}:\n{help}");
        }
    }
}

#[test]
fn a_server_that_cannot_bind_says_why_and_fails() {
    let output = Command::new(common::binary("tombola-live-server"))
        .args([
            "--claims-addr",
            "256.0.0.1:1",
            "--numbers-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on 256.0.0.1:1"));
}

/// A player's numbers connection and a claims connection, then `signal`:
/// both are told, the server exits 0.
fn shuts_down_gracefully_on(signal: &str) {
    let (mut server, addrs) = common::start_server_binary(
        "tombola-live-server",
        &[
            "--numbers-addr",
            "127.0.0.1:0",
            "--claims-addr",
            "127.0.0.1:0",
        ],
        2,
    );
    let (numbers, welcome) = common::connect_and_read_first_line(&addrs[0]);
    assert!(welcome.starts_with("WELCOME p1 "), "got {welcome:?}");
    let claims = std::net::TcpStream::connect(&addrs[1]).unwrap();
    claims.set_read_timeout(Some(common::LINE_WAIT)).unwrap();
    let mut claims = std::io::BufReader::new(claims);
    // A reply proves the claims connection is accepted before the signal.
    std::io::Write::write_all(claims.get_mut(), b"FOO\n").unwrap();
    let mut reply = String::new();
    std::io::BufRead::read_line(&mut claims, &mut reply).unwrap();
    assert!(
        reply.starts_with("ERR unknown-command FOO"),
        "got {reply:?}"
    );
    common::signal_shuts_down_gracefully(&mut server, signal, vec![numbers, claims]);
}

#[test]
fn sigterm_tells_every_connection_and_exits_zero_within_a_second() {
    shuts_down_gracefully_on("TERM");
}

#[test]
fn sigint_tells_every_connection_and_exits_zero_within_a_second() {
    shuts_down_gracefully_on("INT");
}
