//! The real `tombola-server` and `tombola-client` binaries as processes:
//! the server announces its port on the first stdout line, two bots play a
//! whole game, and `--help` explains the flags.

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A whole game at a 5 ms interval ends well within this.
const GAME_WAIT: Duration = Duration::from_secs(60);

#[test]
fn two_bot_processes_play_a_game_against_the_server_process() {
    let mut server = KillOnDrop(
        Command::new(common::binary("tombola-server"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--players",
                "2",
                "--interval-ms",
                "5",
                "--seed",
                "3",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tombola-server"),
    );
    let mut first_line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {first_line:?}"))
        .to_owned();

    let bots: Vec<KillOnDrop> = [1, 2]
        .iter()
        .map(|seed| {
            KillOnDrop(
                Command::new(common::binary("tombola-client"))
                    .args(["--addr", &addr, "--bot", "--seed", &seed.to_string()])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start tombola-client"),
            )
        })
        .collect();
    let started = Instant::now();
    let mut lines = Vec::new();
    for mut bot in bots {
        loop {
            if let Some(status) = bot.0.try_wait().unwrap() {
                assert!(status.success(), "a bot failed");
                break;
            }
            assert!(
                started.elapsed() < GAME_WAIT,
                "the game did not end in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut line = String::new();
        BufReader::new(bot.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        lines.push(line);
    }
    let won = lines
        .iter()
        .filter(|line| line.contains("TOMBOLA!"))
        .count();
    assert!(won >= 1, "somebody won: {lines:?}");
    assert!(
        lines
            .iter()
            .all(|line| line.contains("TOMBOLA!") || line.contains("won by")),
        "{lines:?}"
    );
}

#[test]
fn help_explains_every_flag() {
    for (binary, flags) in [
        (
            "tombola-server",
            &[
                "--addr",
                "--players",
                "--interval-ms",
                "--reply-timeout-ms",
                "--seed",
            ][..],
        ),
        (
            "tombola-client",
            &["--addr", "--seed", "--board", "--bot"][..],
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
    let output = Command::new(common::binary("tombola-server"))
        .args(["--addr", "256.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on 256.0.0.1:1"));
}

/// Two connected players, then `signal`: both are told, the server exits 0.
fn shuts_down_gracefully_on(signal: &str) {
    let (mut server, addrs) = common::start_server_binary(
        "tombola-server",
        &["--addr", "127.0.0.1:0", "--players", "3"],
        1,
    );
    let clients = (1..=2)
        .map(|index| {
            let (client, welcome) = common::connect_and_read_first_line(&addrs[0]);
            assert_eq!(welcome, format!("WELCOME p{index}"));
            client
        })
        .collect();
    common::signal_shuts_down_gracefully(&mut server, signal, clients);
}

#[test]
fn sigterm_tells_every_player_and_exits_zero_within_a_second() {
    shuts_down_gracefully_on("TERM");
}

#[test]
fn sigint_tells_every_player_and_exits_zero_within_a_second() {
    shuts_down_gracefully_on("INT");
}

#[test]
fn the_server_process_holds_more_connections_than_the_old_fixed_cap() {
    // More than 1,024 (the old CONNECTIONS_MAX); this process needs as many
    // descriptors as the server, so it raises its own limit the same way.
    const CLIENTS: usize = 1_500;
    let allowed = games::cli::connections_allowed(0);
    if allowed < 2 * CLIENTS + 64 {
        panic!("this machine allows only {allowed} open files per process");
    }
    let (_server, addrs) = common::start_server_binary(
        "tombola-server",
        &["--addr", "127.0.0.1:0", "--players", "1000"],
        1,
    );
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|index| {
            let (client, welcome) = common::connect_and_read_first_line(&addrs[0]);
            assert_eq!(welcome, format!("WELCOME p{index}"));
            client
        })
        .collect();
    assert_eq!(clients.len(), CLIENTS);
}
