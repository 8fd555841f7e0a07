//! The live tombola server session: two listeners around the state machine
//! in `game.rs`.
//!
//! One task owns the game, every player and both of each player's
//! connections; every connection has a reader and a writer task (see
//! `conn.rs`) that talk to it through channels. The loop waits, with
//! `biased` priority so a seed replays exactly, on: shutdown, connection
//! events, the game's next deadline, and new connections on either port.
//!
//! Try it: `tombola-live-server`, then `nc 127.0.0.1 2004` (you get
//! `WELCOME p1 <token>` and, later, the draws) and in a second terminal
//! `nc 127.0.0.1 2005`, where you type `HELLO <token>`, then
//! `BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15`, and `TOMBOLA 1` when your
//! board is full.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;

use rand::Rng;
use tokio::sync::mpsc;

use crate::conn::{pump, shut_down_all, spawn_connection, take_event, ConnHandle, ConnId, Input};
use crate::env::{Env, Listener};
use crate::live::game::{LiveServer, Port, ServerConfig};

/// Lines queued for one connection before its player counts as not reading
/// and is dropped. A whole game sends about 95 lines to a player's numbers
/// connection; a claims connection is only written in answer to its lines.
pub const OUTBOX_LINES_MAX: usize = 256;
/// Open connections at once under [`run`] (tests and simulations), both
/// ports together (a player holds two); more are told `ERR server-full`
/// and closed. The binaries use [`run_holding`] with as many as the
/// process may open (`cli::connections_allowed`).
pub const CONNECTIONS_MAX: usize = 1024;
/// Connection events waiting for the game task; readers wait when it is full.
pub const EVENTS_QUEUE_MAX: usize = 1024;
/// Pause after a failed `accept` (out of descriptors, say) before retrying.
pub const ACCEPT_RETRY_MS: u64 = 100;

/// Runs the server on its two listeners until `shutdown` completes, then
/// stops accepting, sends every connection `conn::SHUTDOWN_LINE` and
/// returns once they have flushed (at most `conn::SHUTDOWN_FLUSH_MS`). It
/// never stops on its own: after a game it pauses and plays the next.
pub async fn run<E, R>(
    env: E,
    numbers: E::Listener,
    claims: E::Listener,
    config: ServerConfig,
    rng: R,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    E: Env,
    R: Rng,
{
    run_holding(env, numbers, claims, config, rng, CONNECTIONS_MAX, shutdown).await
}

/// [`run`] holding at most `connections_max` connections at once (the
/// binaries pass what the process may open: `cli::connections_allowed`).
pub async fn run_holding<E, R>(
    env: E,
    numbers: E::Listener,
    claims: E::Listener,
    config: ServerConfig,
    rng: R,
    connections_max: usize,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    E: Env,
    R: Rng,
{
    let mut game = LiveServer::new(config, rng);
    let (events_tx, mut events_rx) = mpsc::channel(EVENTS_QUEUE_MAX);
    let mut conns: BTreeMap<ConnId, ConnHandle> = BTreeMap::new();
    let mut conns_opened: ConnId = 0;
    tokio::pin!(shutdown);
    if let (Ok(numbers_addr), Ok(claims_addr)) = (numbers.local_addr(), claims.local_addr()) {
        env.record(format_args!(
            "listen numbers {numbers_addr} claims {claims_addr}"
        ));
    }

    loop {
        let deadline = game.poll_timeout();
        let mut answered = None;
        let accepted = tokio::select! {
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
                None
            }
            _ = env.sleep_until_ms(deadline.unwrap_or(0)), if deadline.is_some() => {
                game.handle_timeout(env.now_ms());
                None
            }
            accepted = numbers.accept() => Some((accepted, Port::Numbers)),
            accepted = claims.accept() => Some((accepted, Port::Claims)),
        };
        match accepted {
            None => {}
            Some((Ok((stream, _peer)), port)) => {
                conns_opened += 1;
                let handle = spawn_connection(
                    &env,
                    stream,
                    conns_opened,
                    events_tx.clone(),
                    OUTBOX_LINES_MAX,
                );
                if conns.len() >= connections_max {
                    crate::conn::count_close(crate::conn::CloseReason::ServerFull);
                    let _ = handle.try_send("ERR server-full try again later".to_owned());
                } else {
                    conns.insert(conns_opened, handle);
                    game.connect(env.now_ms(), conns_opened, port);
                }
            }
            Some((Err(error), port)) => {
                env.record(format_args!("accept-error {port:?} {error}"));
                env.sleep_ms(ACCEPT_RETRY_MS).await;
            }
        }
        pump(&env, &mut game, &mut conns);
        // Only now are the line's replies in its outbox: its reader may
        // read one more line.
        if let Some(handle) = answered.take().and_then(|conn| conns.get(&conn)) {
            handle.line_handled();
        }
    }
    // Stop accepting first, then tell everyone and let them flush.
    drop(numbers);
    drop(claims);
    env.record(format_args!("shutdown {} connections", conns.len()));
    shut_down_all(&env, std::mem::take(&mut conns).into_values()).await;
    Ok(())
}
