//! The real `chat-server` and `chat-client` binaries as processes: the
//! server announces its port on the first stdout line, two bots talk
//! through it, the interactive client prints what arrives and leaves on
//! end of input, and `--help` explains both.

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::RawClient;

/// Every process here finishes well within this.
const PROCESS_WAIT: Duration = Duration::from_secs(20);

/// Starts `chat-server` on port 0 and returns it with its address.
fn start_server() -> (KillOnDrop, String) {
    let mut server = KillOnDrop(
        Command::new(common::binary("chat-server"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server"),
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
    (server, addr)
}

/// Waits for a process to exit successfully.
fn wait_success(child: &mut KillOnDrop, what: &str) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        assert!(
            started.elapsed() < PROCESS_WAIT,
            "{what} did not finish in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_bot_processes_talk_through_the_server_process_and_leave_politely() {
    let (_server, addr) = start_server();
    let mut bots: Vec<KillOnDrop> = [1, 2]
        .iter()
        .map(|seed| {
            KillOnDrop(
                Command::new(common::binary("chat-client"))
                    .args(["--addr", &addr, "--bot", "--seed", &seed.to_string()])
                    .args([
                        "--commands",
                        "12",
                        "--pause-min-ms",
                        "0",
                        "--pause-max-ms",
                        "10",
                    ])
                    .args(["--linger-ms", "200"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start chat-client --bot"),
            )
        })
        .collect();
    let mut summaries = Vec::new();
    for bot in &mut bots {
        wait_success(bot, "a bot");
        let mut line = String::new();
        BufReader::new(bot.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        summaries.push(line);
    }
    for summary in &summaries {
        assert!(
            summary.starts_with("bot 127.0.0.1:")
                && summary.contains(" commands=12 ")
                && summary.trim_end().ends_with(" end=bye"),
            "summary {summary:?}"
        );
    }
}

/// Reads stdout lines of the interactive client until one satisfies `want`.
fn read_until(
    lines: &mut std::io::Lines<BufReader<ChildStdout>>,
    want: impl Fn(&str) -> bool,
) -> String {
    for line in lines {
        let line = line.expect("client stdout");
        if want(&line) {
            return line;
        }
    }
    panic!("the client's output ended early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interactive_client_sends_typed_lines_and_prints_what_arrives() {
    let (_server, addr) = start_server();
    let mut client = KillOnDrop(
        Command::new(common::binary("chat-client"))
            .args(["--addr", &addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start chat-client"),
    );
    let mut stdin = client.0.stdin.take().unwrap();
    let stdout = client.0.stdout.take().unwrap();
    // Reading the child's output blocks, so it happens on its own thread.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let you = read_until(&mut lines, |line| line.starts_with("* you are "));
        lines_tx.send(you).unwrap();
        for line in lines {
            lines_tx.send(line.expect("client stdout")).unwrap();
        }
    });
    let next = || {
        lines_rx
            .recv_timeout(PROCESS_WAIT)
            .expect("the client printed in time")
    };
    let you = next();
    let client_id = you
        .strip_prefix("* you are ")
        .and_then(|rest| rest.split(' ').next())
        .expect("an id")
        .to_owned();

    let mut peer = RawClient::connect(&addr).await;
    let peer_id = peer
        .expect_line()
        .await
        .strip_prefix("WELCOME ")
        .unwrap()
        .to_owned();

    writeln!(stdin, "help").unwrap();
    assert_eq!(next(), "commands:");
    for _ in 0..4 {
        next();
    }
    writeln!(stdin, "{peer_id}  hello from the keyboard").unwrap();
    assert_eq!(next(), format!("* sent to {peer_id}"));
    assert_eq!(
        peer.expect_line().await,
        format!("FROM {client_id}  hello from the keyboard")
    );
    peer.send(&format!("{client_id} hi back, città")).await;
    assert_eq!(next(), format!("[{peer_id}] hi back, città"));

    // End of input leaves the room: Q, BYE, and the client exits.
    drop(stdin);
    assert_eq!(next(), "* bye");
    wait_success(&mut client, "the interactive client");
    reader.join().unwrap();
}

#[test]
fn help_explains_both_binaries() {
    for (binary, words) in [
        (
            "chat-server",
            ["--addr", "recipient-busy", "--outbox-lines"],
        ),
        ("chat-client", ["--addr", "--bot", "--seed"]),
    ] {
        let output = Command::new(common::binary(binary))
            .arg("--help")
            .output()
            .expect("run --help");
        assert!(output.status.success());
        let text = String::from_utf8_lossy(&output.stdout);
        for word in words {
            assert!(
                text.contains(word),
                "{binary} --help does not mention {word}:\n{text}"
            );
        }
    }
}

/// Two clients in the room, then `signal`: both are told, the server
/// exits 0.
fn shuts_down_gracefully_on(signal: &str) {
    let (mut server, addrs) =
        common::start_server_binary("chat-server", &["--addr", "127.0.0.1:0"], 1);
    let clients = (0..2)
        .map(|_| {
            let (client, welcome) = common::connect_and_read_first_line(&addrs[0]);
            assert!(welcome.starts_with("WELCOME "), "got {welcome:?}");
            client
        })
        .collect();
    common::signal_shuts_down_gracefully(&mut server, signal, clients);
}

#[test]
fn sigterm_tells_every_client_and_exits_zero_within_a_second() {
    shuts_down_gracefully_on("TERM");
}

#[test]
fn sigint_tells_every_client_and_exits_zero_within_a_second() {
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
    let (_server, addrs) =
        common::start_server_binary("chat-server", &["--addr", "127.0.0.1:0"], 1);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (client, welcome) = common::connect_and_read_first_line(&addrs[0]);
            assert!(
                welcome.starts_with("WELCOME "),
                "client {index} got {welcome:?}"
            );
            client
        })
        .collect();
    assert_eq!(clients.len(), CLIENTS);
}
