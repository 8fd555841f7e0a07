//! The interactive clients as processes without a terminal (stdout and
//! stdin are pipes, so they print plain lines): the live client shows its
//! board once at the start and says when the next game starts after "y";
//! the chat client shows the server's `BYE` after `Q` and nothing after
//! it. The full-screen UIs themselves are tested through ratatui's
//! `TestBackend` in `games::tui`.

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Every expected line arrives well within this.
const LINE_WAIT: Duration = Duration::from_secs(20);

/// The pause between two live games here: long enough that the "starts in
/// N s" after `y` is a whole number of seconds above zero.
const PAUSE_MS: u64 = 3000;

/// A child's stdout read line by line on its own thread (reads block).
struct Output(mpsc::Receiver<String>);

impl Output {
    fn of(stdout: ChildStdout) -> Output {
        let (lines, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        Output(receiver)
    }

    /// The next line, or `None` at the end of the output.
    fn next(&self) -> Option<String> {
        match self.0.recv_timeout(LINE_WAIT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line in {LINE_WAIT:?}"),
        }
    }

    /// Every line up to the first that satisfies `want`, which is last.
    fn until(&self, want: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .next()
                .unwrap_or_else(|| panic!("output ended early after {seen:#?}"));
            let done = want(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

/// The first `listening on <addr>` lines of a server's stdout.
fn listening(server: &mut KillOnDrop, count: usize) -> Vec<String> {
    let mut stdout = BufReader::new(server.0.stdout.take().expect("piped stdout"));
    (0..count)
        .map(|_| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("server stdout");
            line.trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("announce line {line:?}"))
                .to_owned()
        })
        .collect()
}

#[test]
fn the_live_client_prints_its_board_once_at_the_start_and_after_yes_says_when_the_next_game_starts()
{
    let mut server = KillOnDrop(
        Command::new(common::binary("tombola-live-server"))
            .args([
                "--numbers-addr",
                "127.0.0.1:0",
                "--claims-addr",
                "127.0.0.1:0",
            ])
            .args(["--interval-ms", "5", "--pause-ms", &PAUSE_MS.to_string()])
            .args(["--seed", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tombola-live-server"),
    );
    let addrs = listening(&mut server, 2);
    let mut client = KillOnDrop(
        Command::new(common::binary("tombola-live-client"))
            .args(["--numbers-addr", &addrs[0], "--claims-addr", &addrs[1]])
            .args(["--seed", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tombola-live-client"),
    );
    let mut answers = client.0.stdin.take().expect("piped stdin");
    let output = Output::of(client.0.stdout.take().expect("piped stdout"));

    let start = output.until(|line| line.starts_with("draw  1:"));
    // A board line ends with how many of its 15 numbers are marked.
    let boards = start.iter().filter(|line| line.ends_with("/15")).count();
    assert_eq!(boards, 1, "one board before the first draw: {start:#?}");
    assert!(
        start.iter().any(|line| line == "game 1 starts"),
        "{start:#?}"
    );

    output.until(|line| line.ends_with("play again? [y/n]"));
    writeln!(answers, "y").expect("answer");
    let waiting = output.next().expect("a line after AGAIN-OK");
    let seconds: u64 = waiting
        .strip_prefix("waiting for the next game, starts in ")
        .and_then(|rest| rest.strip_suffix(" s (game 2)"))
        .unwrap_or_else(|| panic!("got {waiting:?}"))
        .parse()
        .expect("whole seconds");
    assert!(
        (1..=PAUSE_MS / 1000).contains(&seconds),
        "{seconds} s left of a {PAUSE_MS} ms pause"
    );
    output.until(|line| line == "game 2 starts");

    // End of input answers the next question with QUIT.
    drop(answers);
    let end = output.until(|line| line.contains("quit after 2 games"));
    assert!(end.iter().any(|line| line == "goodbye"), "{end:#?}");
}

#[test]
fn the_chat_client_shows_the_bye_after_q_and_not_a_closed_connection() {
    let mut server = KillOnDrop(
        Command::new(common::binary("chat-server"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server"),
    );
    let addr = listening(&mut server, 1).remove(0);
    let mut client = KillOnDrop(
        Command::new(common::binary("chat-client"))
            .args(["--addr", &addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start chat-client"),
    );
    let mut typed = client.0.stdin.take().expect("piped stdin");
    let output = Output::of(client.0.stdout.take().expect("piped stdout"));
    output.until(|line| line.starts_with("* you are "));
    // `L` and `Q` in one write, as fast as a paste.
    typed.write_all(b"L\nQ\n").expect("type");
    let mut rest = Vec::new();
    while let Some(line) = output.next() {
        rest.push(line);
    }
    assert_eq!(rest.len(), 2, "{rest:#?}");
    assert!(rest[0].starts_with("* in the room: "), "{rest:#?}");
    assert_eq!(rest[1], "* bye", "the BYE is the last word: {rest:#?}");
    let status = client.0.wait().expect("the client exits");
    assert!(status.success(), "{status}");
}
