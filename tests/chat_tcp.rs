//! The chat room on real TCP (127.0.0.1, port 0): a raw client types the
//! way `nc` does, and bad or stubborn clients get the documented answers
//! without disturbing anyone else. (Bots on real TCP judged by the
//! simulation's oracles: `sim/src/tests/chat_real_tcp.rs`.)

mod common;

use std::time::Duration;

use common::RawClient;
use games::chat::client::{self, Behaviour, End, Farewell, TalkPlan};
use games::chat::server::{self, ServerConfig};
use games::env::{Env, Listener, TokioEnv};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncBufReadExt;
use tokio::sync::oneshot;

/// A whole test conversation must end well within this.
const TALK_WAIT: Duration = Duration::from_secs(20);

/// Starts a server on 127.0.0.1:0 with `env`; returns its address and a
/// stop switch.
async fn start_server<E: Env>(env: E, config: ServerConfig) -> (String, oneshot::Sender<()>) {
    let listener = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("bound address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run(env, listener, config, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Waits for a line and checks it.
async fn expect(client: &mut RawClient, expected: &str) {
    assert_eq!(client.expect_line().await, expected);
}

/// The id in a `WELCOME <id>` line.
async fn welcome(client: &mut RawClient) -> String {
    let line = client.expect_line().await;
    line.strip_prefix("WELCOME ")
        .unwrap_or_else(|| panic!("expected WELCOME, got {line:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_typing_like_nc_gets_every_answer_in_order() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    let mut alice = RawClient::connect(&addr).await;
    let alice_id = welcome(&mut alice).await;
    let mut bob = RawClient::connect(&addr).await;
    let bob_id = welcome(&mut bob).await;
    // The id is the address the server sees, which is the client's own.
    assert_eq!(alice_id, alice.writer.local_addr().unwrap().to_string());

    alice.send_raw(b"L\r\n\r\n").await;
    let mut sorted = [alice_id.clone(), bob_id.clone()];
    sorted.sort_by_key(|id| id.parse::<std::net::SocketAddr>().unwrap());
    expect(&mut alice, &format!("CLIENTS {} {}", sorted[0], sorted[1])).await;

    // Spaces at either end, doubled spaces and any UTF-8 arrive as typed.
    let text = "  ciao,  città! 🎲 tab\there  ";
    alice
        .send_raw(format!("{bob_id} {text}\r\n").as_bytes())
        .await;
    expect(&mut alice, &format!("SENT {bob_id}")).await;
    expect(&mut bob, &format!("FROM {alice_id} {text}")).await;

    alice.send("127.0.0.1:1 anyone?").await;
    alice.send(&bob_id).await;
    alice.send("hello bob").await;
    alice.send("L please").await;
    expect(&mut alice, "ERR no-such-client 127.0.0.1:1").await;
    expect(&mut alice, &format!("ERR empty-message {bob_id}")).await;
    expect(&mut alice, "ERR unknown-command hello").await;
    expect(&mut alice, "ERR bad-arguments L takes no arguments").await;

    bob.send("Q").await;
    expect(&mut bob, "BYE").await;
    assert_eq!(bob.line().await, None, "the server closes after BYE");
    alice.send(&format!("{bob_id} are you there?")).await;
    expect(&mut alice, &format!("ERR no-such-client {bob_id}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_closes_only_that_connection() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    let mut rude = RawClient::connect(&addr).await;
    welcome(&mut rude).await;
    let mut polite = RawClient::connect(&addr).await;
    let polite_id = welcome(&mut polite).await;

    let mut long = vec![b'x'; 3000];
    long.push(b'\n');
    rude.send_raw(&long).await;
    let refusal = rude.expect_line().await;
    assert!(refusal.starts_with("ERR line-too-long"), "got {refusal:?}");
    assert_eq!(rude.line().await, None, "the connection is closed");

    polite.send("L").await;
    expect(&mut polite, &format!("CLIENTS {polite_id}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_answered_in_turn_and_the_connection_stays() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    let mut client = RawClient::connect(&addr).await;
    let id = welcome(&mut client).await;
    client.send_raw(b"L\n\xff\xfe hi\nL\n").await;
    expect(&mut client, &format!("CLIENTS {id}")).await;
    expect(&mut client, "ERR invalid-utf8 line dropped").await;
    expect(&mut client, &format!("CLIENTS {id}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_without_reading_loses_no_reply() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    // A full room makes every `CLIENTS` reply long, so that the replies
    // overflow the sockets' buffers and the server's outbox for real.
    let mut crowd = Vec::new();
    for _ in 0..40 {
        let mut member = RawClient::connect(&addr).await;
        welcome(&mut member).await;
        crowd.push(member);
    }
    let mut client = RawClient::connect(&addr).await;
    welcome(&mut client).await;
    client.send("L").await;
    let list = client.expect_line().await;
    assert!(list.starts_with("CLIENTS ") && list.split(' ').count() == 42);
    // Far more commands than the outbox holds, all written before reading.
    let commands = 20_000;
    let mut writer = client.writer;
    let writing = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        writer.write_all(&b"L\n".repeat(commands)).await.unwrap();
        writer
    });
    // Long enough for the outbox to fill and the server to stop reading.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut reader = client.reader;
    for index in 0..commands {
        let mut line = String::new();
        tokio::time::timeout(common::LINE_WAIT, reader.read_line(&mut line))
            .await
            .expect("the reply came in time")
            .expect("the connection is open");
        assert_eq!(line, format!("{list}\n"), "reply {index}");
    }
    writing.await.expect("every command was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_gets_others_recipient_busy_and_the_room_keeps_working() {
    let config = ServerConfig {
        outbox_lines_max: 8,
        ..ServerConfig::default()
    };
    let (addr, _stop) = start_server(TokioEnv::new(), config).await;
    let mut deaf = RawClient::connect(&addr).await;
    let deaf_id = welcome(&mut deaf).await;
    let mut sender = RawClient::connect(&addr).await;
    let sender_id = welcome(&mut sender).await;
    let mut other = RawClient::connect(&addr).await;
    let other_id = welcome(&mut other).await;

    // Big messages fill the socket buffers quickly; send in batches and read
    // every reply, until the first refusal.
    let text = "z".repeat(1000);
    let batch = 100;
    let mut sent = 0;
    let mut busy = false;
    while !busy {
        assert!(sent < 100_000, "the deaf client's queue never filled");
        let mut lines = String::new();
        for _ in 0..batch {
            lines.push_str(&format!("{deaf_id} {text}\n"));
        }
        sender.send_raw(lines.as_bytes()).await;
        for _ in 0..batch {
            let reply = sender.expect_line().await;
            if reply == format!("SENT {deaf_id}") {
                sent += 1;
            } else {
                assert_eq!(reply, format!("ERR recipient-busy {deaf_id}"));
                busy = true;
            }
        }
    }
    assert!(sent > 0);

    // The room goes on: others talk, list, and are answered at once.
    other.send(&format!("{sender_id} still here?")).await;
    expect(&mut other, &format!("SENT {sender_id}")).await;
    expect(&mut sender, &format!("FROM {other_id} still here?")).await;

    // Once the deaf client goes, messages to it are refused as unknown.
    drop(deaf);
    let gone = async {
        loop {
            other.send("L").await;
            let list = other.expect_line().await;
            if !list.contains(&deaf_id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(TALK_WAIT, gone)
        .await
        .expect("the server noticed the deaf client left");
    sender.send(&format!("{deaf_id} hello?")).await;
    expect(&mut sender, &format!("ERR no-such-client {deaf_id}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_lists_a_room_whose_list_is_longer_than_a_client_line() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    // 80 ids of at least 15 bytes make a `CLIENTS` line over 1024 bytes.
    let mut crowd = Vec::new();
    for _ in 0..80 {
        let mut member = RawClient::connect(&addr).await;
        welcome(&mut member).await;
        crowd.push(member);
    }
    let mut probe = RawClient::connect(&addr).await;
    welcome(&mut probe).await;
    probe.send("L").await;
    let list = probe.expect_line().await;
    assert!(
        list.len() > games::framing::LINE_BYTES_MAX,
        "{} bytes",
        list.len()
    );

    let plan = TalkPlan {
        commands: 3,
        pause_min_ms: 0,
        pause_max_ms: 0,
        list_percent: 100,
        duration_ms: None,
        linger_ms: 0,
        farewell: Farewell::Quit,
    };
    let report = tokio::time::timeout(
        TALK_WAIT,
        client::run(
            &TokioEnv::new(),
            &addr,
            &Behaviour::Talker(plan),
            &mut ChaCha8Rng::seed_from_u64(5),
        ),
    )
    .await
    .expect("the bot finished in time")
    .expect("the bot read the long lists");
    assert_eq!((report.commands, report.end), (3, End::Bye));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_good_and_bad_lines_are_answered_in_the_order_sent() {
    let (addr, _stop) = start_server(TokioEnv::new(), ServerConfig::default()).await;
    let mut client = RawClient::connect(&addr).await;
    let id = welcome(&mut client).await;
    // Everything in one write, so the server reads it all at once: a
    // framing refusal must not overtake the replies to the lines before it.
    let mut input = b"FOO\n\xff\nL\n\xfe\xfd\nL x\n".to_vec();
    input.extend(vec![b'A'; 2000]);
    input.push(b'\n');
    client.send_raw(&input).await;
    expect(&mut client, "ERR unknown-command FOO").await;
    expect(&mut client, "ERR invalid-utf8 line dropped").await;
    expect(&mut client, &format!("CLIENTS {id}")).await;
    expect(&mut client, "ERR invalid-utf8 line dropped").await;
    expect(&mut client, "ERR bad-arguments L takes no arguments").await;
    let refusal = client.expect_line().await;
    assert!(refusal.starts_with("ERR line-too-long"), "got {refusal:?}");
    assert_eq!(client.line().await, None, "closed after line-too-long");
}
