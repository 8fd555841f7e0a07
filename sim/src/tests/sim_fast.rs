//! The event-driven backend (`crate::engine::fast`): the lock-step oracles pass on it
//! over a range of seeds, runs replay exactly from a seed, and what cannot
//! happen (a missing player, a missing listener) ends cleanly instead of
//! hanging.

use std::io;

use crate::engine::fast::{executor, simulate, FastNet, FastStream, OnFastBackend};
use crate::engine::harness::{failure_report, NetConfig, RunOptions, RunOutcome, Runnable};
use crate::engine::trace::Trace;
use crate::models::tombola::TombolaSpec;
use crate::models::tombola::{builtin_spec, run_spec_fast};
use crate::report::bench::{render, run_bench, Backend, BenchOptions};
use games::env::{Env, Listener};
use games::tombola::client::{self, Behaviour, ClientError};
use games::tombola::rules::Board;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STANDARD_SCENARIOS: [&str; 3] = [
    "tombola-two-players",
    "tombola-four-players-latency",
    "tombola-simultaneous-claims",
];

fn spec(name: &str) -> TombolaSpec {
    builtin_spec(name).unwrap_or_else(|| panic!("{name} is a built-in tombola scenario"))
}

fn run(name: &str, seed: u64) -> RunOutcome {
    run_spec_fast(&spec(name), seed, &RunOptions::default())
}

#[test]
fn every_standard_scenario_passes_the_lockstep_oracles_on_the_fast_backend() {
    for name in STANDARD_SCENARIOS {
        for seed in 0..40 {
            let outcome = run(name, seed);
            assert!(outcome.passed(), "{}", failure_report(name, seed, &outcome));
            assert_eq!(
                outcome.games, 1,
                "{name} seed {seed} should finish one game"
            );
        }
    }
}

#[test]
fn the_same_seed_twice_gives_the_identical_trace() {
    for name in STANDARD_SCENARIOS {
        for seed in [0, 7, 12_345] {
            let first = run(name, seed).report();
            let second = run(name, seed).report();
            assert_eq!(first, second, "{name} seed {seed} replayed differently");
        }
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let traces: Vec<String> = (0..6)
        .map(|seed| run("tombola-four-players-latency", seed).trace_text())
        .collect();
    for (index, trace) in traces.iter().enumerate() {
        for other in &traces[index + 1..] {
            assert_ne!(trace, other, "two seeds gave the same trace");
        }
    }
}

#[test]
fn the_simultaneous_claim_scenario_gives_two_winners_on_the_fast_backend() {
    for seed in 0..10 {
        let outcome = run("tombola-simultaneous-claims", seed);
        assert_eq!(outcome.winners_per_game, vec![2], "seed {seed}");
        assert!(
            outcome.reached.contains("simultaneous-claim"),
            "seed {seed}"
        );
    }
}

#[test]
fn latency_stays_inside_the_configured_range_in_whole_milliseconds() {
    // Four players on 1-30 ms: a draw reaches every player at most 30 ms
    // after the server logged it, and no sooner than 1 ms.
    let outcome = run("tombola-four-players-latency", 3);
    let draws: Vec<(u64, &str)> = outcome
        .trace
        .iter()
        .filter(|line| line.host == "server" && line.text.starts_with("draw "))
        .map(|line| (line.time_ms, &line.text["draw ".len()..]))
        .collect();
    assert!(!draws.is_empty());
    for line in outcome.trace.iter().filter(|line| line.host != "server") {
        let Some(received) = line.text.strip_prefix("recv DRAW ") else {
            continue;
        };
        let (sent_ms, _) = draws
            .iter()
            .find(|(_, draw)| *draw == received)
            .unwrap_or_else(|| {
                panic!(
                    "{} received a draw the server never made: {received}",
                    line.host
                )
            });
        let latency_ms = line.time_ms - sent_ms;
        assert!(
            (1..=30).contains(&latency_ms),
            "{} received draw {received} after {latency_ms} ms",
            line.host
        );
    }
}

#[test]
fn a_player_that_never_joins_ends_in_a_liveness_violation_not_a_hang() {
    let mut spec = spec("tombola-two-players");
    spec.players.truncate(1);
    spec.net.duration_ms = 20_000;
    // The server's registration timeout would end the lone player's wait
    // (ERR not-enough-players); past the duration, the wait is a hang the
    // fast backend must report.
    spec.server.registration_timeout_ms = 60_000;
    // The client waits for START as long as the harness derives from the
    // server's registration timeout (see `PlayerSpec::start_timeout_ms`).
    for player in &mut spec.players {
        player.start_timeout_ms = spec.server.registration_timeout_ms + player.silence_timeout_ms;
    }
    let outcome = run_spec_fast(&spec, 1, &RunOptions::default());
    let liveness: Vec<_> = outcome
        .violations
        .iter()
        .filter(|violation| violation.property == "liveness")
        .collect();
    assert_eq!(liveness.len(), 1, "{:?}", outcome.violations);
    assert!(
        liveness[0].detail.contains("20000 ms"),
        "{}",
        liveness[0].detail
    );
    assert!(liveness[0].detail.contains("c1"), "{}", liveness[0].detail);
    assert_eq!(outcome.games, 0);
}

#[test]
fn connecting_where_nothing_listens_is_refused() {
    let trace = Trace::new();
    let (error, refused_at_ms) = simulate(5, &NetConfig::default(), &trace, |net| async move {
        let env = net.env("c1");
        let error = env
            .connect("server:8000")
            .await
            .expect_err("nothing listens");
        (error, env.now_ms())
    });
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    // A round trip of 1-5 ms each way.
    assert!(
        (2..=10).contains(&refused_at_ms),
        "refused at {refused_at_ms} ms"
    );
}

#[test]
fn a_client_session_without_a_server_reports_a_clean_error() {
    let trace = Trace::new();
    let result = simulate(6, &NetConfig::default(), &trace, |net| async move {
        let env = net.env("c1");
        let board = Board::new(&(1..=15).collect::<Vec<u8>>()).expect("a valid board");
        client::play(&env, "server:8000", board, Behaviour::Honest, &mut ()).await
    });
    match result {
        Err(ClientError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("expected a refused connection, got {other:?}"),
    }
}

#[test]
fn bytes_arrive_in_order_and_a_dropped_end_gives_the_other_end_eof() {
    let trace = Trace::new();
    let net_config = NetConfig {
        latency_min_ms: 1,
        latency_max_ms: 50,
        ..NetConfig::default()
    };
    let received = simulate(9, &net_config, &trace, |net| async move {
        let server = net.env("server");
        let listener = server
            .bind("0.0.0.0:9000")
            .await
            .expect("port 9000 is free");
        let client = net.env("c1");
        let writer = executor::spawn(async move {
            let mut stream = client
                .connect("server:9000")
                .await
                .expect("the server listens");
            for index in 0..200u32 {
                stream
                    .write_all(format!("{index},").as_bytes())
                    .await
                    .expect("write");
                if index % 7 == 0 {
                    client.sleep_ms(1).await;
                }
            }
            // Dropping the stream is the end of stream for the reader.
        });
        let (mut stream, _) = listener.accept().await.expect("one connection");
        let mut received = String::new();
        stream
            .read_to_string(&mut received)
            .await
            .expect("read to the end");
        assert_eq!(
            writer.await,
            executor::TaskEnd::Finished,
            "the writer finished"
        );
        received
    });
    let expected: String = (0..200).map(|index| format!("{index},")).collect();
    assert_eq!(received, expected);
}

/// A connection from `c1` to a listener on `server`: (c1's end, the
/// server's end).
async fn connected(net: &FastNet) -> (FastStream, FastStream) {
    let listener = net
        .env("server")
        .bind("0.0.0.0:9000")
        .await
        .expect("port 9000 is free");
    let stream = net
        .env("c1")
        .connect("server:9000")
        .await
        .expect("the server listens");
    let (peer, _) = listener.accept().await.expect("one connection");
    (stream, peer)
}

#[test]
fn split_halves_close_the_connection_only_when_both_are_gone() {
    use games::env::SplitStream;
    let trace = Trace::new();
    let (written_after_read_half_dropped, server_read) =
        simulate(4, &NetConfig::default(), &trace, |net| async move {
            let (stream, server_stream) = connected(&net).await;
            let (read_half, mut write_half) = stream.into_halves();
            let (mut server_read_half, mut server_write_half) = server_stream.into_halves();
            // The client's read half goes first: its write half still
            // writes, and the server still reads, as with one whole stream.
            drop(read_half);
            let written = write_half.write_all(b"after\n").await.is_ok();
            server_write_half
                .write_all(b"unread\n")
                .await
                .expect("the client end is still open");
            drop(write_half);
            // Both halves gone: the server reads the line, then the end.
            let mut received = String::new();
            server_read_half
                .read_to_string(&mut received)
                .await
                .expect("read to the end");
            (written, received)
        });
    assert!(written_after_read_half_dropped, "the write half wrote");
    assert_eq!(server_read, "after\n");
}

#[test]
fn binding_a_port_twice_fails_and_dropping_a_listener_frees_it() {
    let trace = Trace::new();
    simulate(3, &NetConfig::default(), &trace, |net| async move {
        let server = net.env("server");
        let first = server.bind("0.0.0.0:8000").await.expect("free");
        let again = server.bind("server:8000").await.map(|_| ());
        assert_eq!(
            again.map_err(|error| error.kind()),
            Err(io::ErrorKind::AddrInUse)
        );
        assert_eq!(first.local_addr().expect("bound").port(), 8000);
        drop(first);
        let error = net.env("c1").connect("server:8000").await.map(|_| ());
        assert_eq!(
            error.map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionRefused)
        );
        server.bind("0.0.0.0:8000").await.expect("free again");
    });
}

#[test]
fn the_bench_measures_a_scenario_file_given_by_its_path_under_the_files_name() {
    let options = BenchOptions {
        seeds: 3,
        turmoil_seeds: 1,
        jobs: 1,
        scenarios: vec!["../fixtures/scenarios/tombola-simultaneous-claims.toml".to_owned()],
        backends: vec![Backend::Fast],
        repeat: 1,
    };
    let rows = run_bench(&options).expect("a scenario file");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].scenario, "tombola-simultaneous-claims");
    assert_eq!((rows[0].games, rows[0].failed_seeds), (3, 0));
    let missing = BenchOptions {
        scenarios: vec!["../fixtures/bench/no-such-file.toml".to_owned()],
        ..options
    };
    let error = run_bench(&missing).expect_err("no such file");
    assert!(error.contains("no-such-file.toml"), "{error}");
}

#[test]
fn the_full_room_bench_file_is_a_room_of_the_most_players_the_server_accepts() {
    let file = crate::scenario::registry::resolve("../fixtures/bench/tombola-full-room.toml")
        .expect("the bench file loads")
        .file;
    file.check().expect("the bench file is valid");
    assert_eq!(file.client_names().len(), games::tombola::game::PLAYERS_MAX);
}

#[test]
fn the_bench_table_has_a_row_per_backend_and_thread_count_with_no_failed_seed() {
    let options = BenchOptions {
        seeds: 4,
        turmoil_seeds: 1,
        jobs: 2,
        scenarios: vec!["tombola-two-players".to_owned()],
        backends: Vec::new(),
        repeat: 1,
    };
    let rows = run_bench(&options).expect("a built-in scenario");
    let measured: Vec<(Backend, usize, u64)> = rows
        .iter()
        .map(|row| (row.backend, row.jobs, row.games))
        .collect();
    assert_eq!(
        measured,
        vec![
            (Backend::Turmoil, 1, 1),
            (Backend::Turmoil, 2, 1),
            (Backend::TurmoilShared, 1, 1),
            (Backend::TurmoilShared, 2, 1),
            (Backend::Fast, 1, 4),
            (Backend::Fast, 2, 4),
        ]
    );
    assert!(rows.iter().all(|row| row.failed_seeds == 0), "{rows:?}");
    let table = render(&rows);
    assert!(table.starts_with("scenario"), "{table}");
    assert_eq!(table.lines().count(), 7, "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|line| line.contains("1.0x")),
        "{table}"
    );
    assert!(run_bench(&BenchOptions {
        scenarios: vec!["no-such-scenario".to_owned()],
        ..BenchOptions::default()
    })
    .is_err());
}

#[test]
fn a_writer_waits_while_its_peer_does_not_read_and_fails_once_the_peer_is_gone() {
    let trace = Trace::new();
    simulate(4, &NetConfig::default(), &trace, |net| async move {
        let (mut stream, mut peer) = connected(&net).await;
        let chunk = vec![b'x'; 1024];
        // The pipe holds PIPE_BYTES_MAX bytes; past that, a write waits.
        let mut written = 0;
        while written < crate::engine::fast::PIPE_BYTES_MAX {
            written += stream.write(&chunk).await.expect("room in the pipe");
        }
        let blocked = executor::timeout_ms(60_000, stream.write(&chunk)).await;
        assert!(blocked.is_none(), "a write into a full pipe went through");
        let mut some = vec![0; 4096];
        let read = peer.read(&mut some).await.expect("bytes in flight");
        assert!(read > 0);
        stream
            .write_all(&chunk)
            .await
            .expect("room again after a read");
        drop(peer);
        let error = stream
            .write_all(&chunk)
            .await
            .expect_err("the peer is gone");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn a_scenario_file_runs_on_the_fast_backend_through_the_runnable_seam() {
    let runnable = OnFastBackend::lookup("tombola-simultaneous-claims").expect("a lock-step file");
    assert_eq!(runnable.name(), "tombola-simultaneous-claims");
    assert_eq!(runnable.must_reach(), vec!["simultaneous-claim".to_owned()]);
    let outcome = runnable.run(3, &RunOptions::default());
    assert!(outcome.passed(), "{}", outcome.report());
    assert!(
        OnFastBackend::lookup("tombola-faults").is_ok(),
        "faults run on the fast backend too"
    );
    assert!(OnFastBackend::lookup("no-such-scenario").is_err());
}

/// Runs one seed of any built-in scenario file on the fast backend.
fn run_file(name: &str, seed: u64, options: &RunOptions) -> RunOutcome {
    OnFastBackend::lookup(name)
        .unwrap_or_else(|error| panic!("{error}"))
        .run(seed, options)
}

#[test]
fn live_and_chat_scenarios_pass_their_oracles_on_the_fast_backend_and_replay_exactly() {
    for name in ["live-late-joiners", "live-mixed-players", "chat-small-room"] {
        for seed in 0..10 {
            let outcome = run_file(name, seed, &RunOptions::default());
            assert!(outcome.passed(), "{}", failure_report(name, seed, &outcome));
            assert!(outcome.games > 0, "{name} seed {seed} played nothing");
            let again = run_file(name, seed, &RunOptions::default());
            assert_eq!(outcome.report(), again.report(), "{name} seed {seed}");
        }
    }
}

#[test]
fn fault_scenarios_apply_their_faults_on_the_fast_backend() {
    // tombola-server-restart crashes the server and starts it again: the
    // trace shows both, and a second server incarnation writes notes.
    let outcome = run_file("tombola-server-restart", 1, &RunOptions::default());
    assert!(outcome.passed(), "{}", outcome.report());
    let sim_lines: Vec<&str> = outcome
        .trace
        .iter()
        .filter(|line| line.host == "sim")
        .map(|line| line.text.as_str())
        .collect();
    assert!(sim_lines.contains(&"crash server"), "{sim_lines:?}");
    assert!(sim_lines.contains(&"restart server"), "{sim_lines:?}");
    for name in ["tombola-faults", "live-faults", "chat-faults"] {
        let outcome = run_file(name, 2, &RunOptions::default());
        assert!(outcome.passed(), "{}", failure_report(name, 2, &outcome));
        assert!(
            outcome.trace.iter().any(|line| line.host == "sim"),
            "{name}: no fault in the trace"
        );
    }
}

#[test]
fn wire_events_are_kept_on_the_fast_backend_when_asked() {
    let options = RunOptions {
        keep_wire: true,
        ..RunOptions::default()
    };
    let outcome = run_file("tombola-two-players", 1, &options);
    assert!(outcome.passed(), "{}", outcome.report());
    assert!(!outcome.wire.is_empty());
    // Every line a client's trace says it received crossed the wire to it.
    for line in outcome.trace.iter().filter(|line| line.host == "c1") {
        let Some(received) = line.text.strip_prefix("recv ") else {
            continue;
        };
        assert!(
            outcome.wire.iter().any(|event| event.session == "c1"
                && event.line == received
                && event.direction == crate::engine::trace::Direction::Received),
            "c1 received {received:?} with no wire event"
        );
    }
    let plain = run_file("tombola-two-players", 1, &RunOptions::default());
    assert!(plain.wire.is_empty());
    assert_eq!(plain.report(), outcome.report(), "taps change nothing");
}

#[test]
fn a_partition_kills_a_connection_that_loses_a_segment_and_a_hold_delivers_at_the_release() {
    let trace = Trace::new();
    simulate(7, &NetConfig::default(), &trace, |net| async move {
        let server = net.env("server");
        let listener = server.bind("0.0.0.0:9000").await.expect("free");
        let client = net.env("c1");
        let mut stream = client.connect("server:9000").await.expect("listens");
        let (mut peer, _) = listener.accept().await.expect("one connection");

        // Held: nothing arrives during the hold, everything at the release.
        net.set_link("c1", "server", crate::engine::fast::LinkState::Held);
        stream.write_all(b"one\ntwo\n").await.expect("write");
        let mut buffer = [0u8; 64];
        let early = executor::timeout_ms(5_000, peer.read(&mut buffer)).await;
        assert!(early.is_none(), "a held segment arrived");
        net.set_link("c1", "server", crate::engine::fast::LinkState::Healthy);
        let mut received = Vec::new();
        while received.len() < 8 {
            let count = peer.read(&mut buffer).await.expect("read");
            received.extend_from_slice(&buffer[..count]);
        }
        assert_eq!(received, b"one\ntwo\n");

        // Partitioned: a segment sent now is lost, and so is everything
        // after it on that connection, even once the link heals.
        net.set_link("c1", "server", crate::engine::fast::LinkState::Partitioned);
        stream
            .write_all(b"lost\n")
            .await
            .expect("the sender cannot tell");
        let refused = client.connect("server:9000").await.map(|_| ());
        assert_eq!(
            refused.map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionRefused)
        );
        net.set_link("c1", "server", crate::engine::fast::LinkState::Healthy);
        stream.write_all(b"after\n").await.expect("write");
        let dead = executor::timeout_ms(60_000, peer.read(&mut buffer)).await;
        assert!(dead.is_none(), "a dead connection delivered bytes");
        // New connections work after the heal.
        let mut fresh = client.connect("server:9000").await.expect("healed");
        let (mut fresh_peer, _) = listener.accept().await.expect("accepted");
        fresh.write_all(b"hi\n").await.expect("write");
        let count = fresh_peer.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..count], b"hi\n");
    });
}

#[test]
fn a_crash_aborts_the_hosts_tasks_and_its_peers_read_the_end_of_stream() {
    let trace = Trace::new();
    simulate(8, &NetConfig::default(), &trace, |net| async move {
        let server = net.env("server");
        let listener = server.bind("0.0.0.0:9000").await.expect("free");
        let client = net.env("c1");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = accepted.clone();
        server.spawn(async move {
            let (stream, _) = listener.accept().await.expect("one connection");
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
            // Holds the connection (and the listener) until the crash.
            std::future::pending::<()>().await;
            drop(stream);
        });
        let mut stream = client.connect("server:9000").await.expect("listens");
        client.sleep_ms(20).await;
        assert!(accepted.load(std::sync::atomic::Ordering::Relaxed));
        net.crash("server");
        let mut buffer = [0u8; 16];
        let count = executor::timeout_ms(1_000, stream.read(&mut buffer))
            .await
            .expect("the end of stream arrives")
            .expect("a clean end");
        assert_eq!(count, 0);
        let refused = client.connect("server:9000").await.map(|_| ());
        assert_eq!(
            refused.map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionRefused)
        );
        server
            .bind("0.0.0.0:9000")
            .await
            .expect("free after the crash");
    });
}

#[test]
fn a_seed_draws_the_same_boards_and_faults_on_both_backends() {
    use crate::scenario::file::builtin;
    // The RNG streams are named per host and session, not per backend: the
    // boards the server records and the faults a swarm draws are the
    // seed's, whatever carries the messages.
    fn boards_and_faults(outcome: &RunOutcome, boards: bool) -> Vec<String> {
        let mut lines: Vec<String> = outcome
            .trace
            .iter()
            .filter_map(|line| {
                if boards && line.host == "server" && line.text.starts_with("board ") {
                    // "board p1 <numbers>": the id depends on arrival order.
                    line.text.splitn(3, ' ').nth(2).map(str::to_owned)
                } else if line.host == "sim" && line.text.starts_with("swarm ") {
                    Some(line.text.clone())
                } else {
                    None
                }
            })
            .collect();
        lines.sort();
        lines
    }
    // (In a swarm run a crash may cut a player before its board reaches
    // the server on one backend and not the other: only the draw is
    // compared there.)
    for (name, boards) in [
        ("tombola-four-players-latency", true),
        ("tombola-swarm", false),
    ] {
        let file = builtin(name).expect("a built-in scenario");
        for seed in [1, 2] {
            let on_turmoil = file.run(seed, &RunOptions::default());
            let on_fast = run_file(name, seed, &RunOptions::default());
            let expected = boards_and_faults(&on_turmoil, boards);
            assert!(!expected.is_empty(), "{name} seed {seed}");
            assert_eq!(
                expected,
                boards_and_faults(&on_fast, boards),
                "{name} seed {seed}"
            );
        }
    }
}

#[test]
fn the_bench_measures_live_and_chat_and_fault_scenarios_on_both_backends() {
    let options = BenchOptions {
        seeds: 2,
        turmoil_seeds: 1,
        jobs: 1,
        scenarios: vec!["live-faults".to_owned(), "chat-small-room".to_owned()],
        backends: Vec::new(),
        // Each row measured twice: still one row each, with its range.
        repeat: 2,
    };
    let rows = run_bench(&options).expect("built-in scenarios");
    assert!(
        rows.iter()
            .all(|row| row.spread.is_some_and(|spread| spread.measurements == 2)),
        "{rows:?}"
    );
    let measured: Vec<(&str, Backend)> = rows
        .iter()
        .map(|row| (row.scenario.as_str(), row.backend))
        .collect();
    // The shared-host runner takes lock-step tombola only: no row for it.
    assert_eq!(
        measured,
        vec![
            ("live-faults", Backend::Turmoil),
            ("live-faults", Backend::Fast),
            ("chat-small-room", Backend::Turmoil),
            ("chat-small-room", Backend::Fast),
        ]
    );
    assert!(rows.iter().all(|row| row.failed_seeds == 0), "{rows:?}");
    assert!(rows.iter().all(|row| row.games > 0), "{rows:?}");
}
