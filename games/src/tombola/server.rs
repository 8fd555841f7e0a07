//! The lock-step tombola server session: sockets around the state machine
//! in `game.rs`.
//!
//! One task owns the game; every connection has a reader and a writer task
//! (see `conn.rs`) that talk to it through channels. The loop waits, with
//! `biased` priority so a seed replays exactly, on: shutdown, connection
//! events, the game's next deadline, and new connections.
//!
//! Try it: `tombola-server --addr 127.0.0.1:8000`, then in two other
//! terminals `nc 127.0.0.1 8000` and type `BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;

use rand::Rng;
use tokio::sync::mpsc;

use crate::conn::{pump, shut_down_all, spawn_connection, take_event, ConnHandle, ConnId, Input};
use crate::env::{Env, Listener};
use crate::tombola::game::{LockstepServer, ServerConfig};

/// Lines queued for one player before it counts as not reading and is
/// dropped. A whole game sends fewer than 100 lines to a player.
pub const OUTBOX_LINES_MAX: usize = 256;
/// Open connections at once under [`run`] (tests and simulations); more
/// are told `ERR server-full` and closed. The binaries use [`run_holding`]
/// with as many as the process may open (`cli::connections_allowed`).
pub const CONNECTIONS_MAX: usize = 1024;
/// Connection events waiting for the game task; readers wait when it is full.
pub const EVENTS_QUEUE_MAX: usize = 1024;
/// Pause after a failed `accept` (out of descriptors, say) before retrying.
pub const ACCEPT_RETRY_MS: u64 = 100;

/// Runs the server on `listener` until `shutdown` completes, then stops
/// accepting, sends every connection `conn::SHUTDOWN_LINE` and returns once
/// they have flushed (at most `conn::SHUTDOWN_FLUSH_MS`). It never stops on
/// its own: after a game it waits for the next players.
pub async fn run<E, R>(
    env: E,
    listener: E::Listener,
    config: ServerConfig,
    rng: R,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    E: Env,
    R: Rng,
{
    run_holding(env, listener, config, rng, CONNECTIONS_MAX, shutdown).await
}

/// [`run`] holding at most `connections_max` connections at once (the
/// binaries pass what the process may open: `cli::connections_allowed`).
pub async fn run_holding<E, R>(
    env: E,
    listener: E::Listener,
    config: ServerConfig,
    rng: R,
    connections_max: usize,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    E: Env,
    R: Rng,
{
    let mut game = LockstepServer::new(config, rng);
    let (events_tx, mut events_rx) = mpsc::channel(EVENTS_QUEUE_MAX);
    let mut conns: BTreeMap<ConnId, ConnHandle> = BTreeMap::new();
    let mut conns_opened: ConnId = 0;
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        env.record(format_args!("listen {addr}"));
    }

    loop {
        let deadline = game.poll_timeout();
        let mut answered = None;
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(event) = events_rx.recv() => {
                let now_ms = env.now_ms();
                match take_event(&mut conns, event) {
                    Some(Input::Line(conn, line)) => {
                        game.receive(now_ms, conn, &line);
                        answered = Some(conn);
                    }
                    Some(Input::Closed(conn)) => game.disconnect(now_ms, conn),
                    None => {}
                }
            }
            _ = env.sleep_until_ms(deadline.unwrap_or(0)), if deadline.is_some() => {
                game.handle_timeout(env.now_ms());
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns_opened += 1;
                    let handle = spawn_connection(&env, stream, conns_opened, events_tx.clone(), OUTBOX_LINES_MAX);
                    if conns.len() >= connections_max {
                        crate::conn::count_close(crate::conn::CloseReason::ServerFull);
                        let _ = handle.try_send("ERR server-full try again later".to_owned());
                    } else {
                        conns.insert(conns_opened, handle);
                        game.connect(env.now_ms(), conns_opened);
                    }
                }
                Err(error) => {
                    env.record(format_args!("accept-error {error}"));
                    env.sleep_ms(ACCEPT_RETRY_MS).await;
                }
            },
        }
        pump(&env, &mut game, &mut conns);
        // Only now are the line's replies in its outbox: its reader may
        // read one more line.
        if let Some(handle) = answered.take().and_then(|conn| conns.get(&conn)) {
            handle.line_handled();
        }
    }
    // Stop accepting first, then tell everyone and let them flush.
    drop(listener);
    env.record(format_args!("shutdown {} connections", conns.len()));
    shut_down_all(&env, std::mem::take(&mut conns).into_values()).await;
    Ok(())
}
