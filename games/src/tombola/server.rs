//! The lock-step tombola server session: sockets around the state machine
//! in `game.rs`.
//!
//! One task owns the game; every connection has a reader and a writer task
//! that talk to it through channels. The loop itself, with its limits,
//! backpressure, reply order and shutdown, is `conn::serve`, shared with the
//! live server.
//!
//! Try it: `tombola-server --addr 127.0.0.1:8000`, then in two other
//! terminals `nc 127.0.0.1 8000` and type `BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use rand::Rng;

use crate::conn::{serve, ConnId, Offers, ServedGame};
use crate::env::{Env, Listener};
use crate::tombola::game::{LockstepServer, ServerConfig};

/// Lines queued for one player before it counts as not reading and is
/// dropped. A whole game sends fewer than 100 lines to a player.
pub const OUTBOX_LINES_MAX: usize = 256;
/// Open connections at once under [`run`] (tests and simulations); more
/// are told `ERR server-full` and closed. The binaries use [`run_holding`]
/// with as many as the process may open (`cli::connections_allowed`).
pub const CONNECTIONS_MAX: usize = 1024;
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
    if let Ok(addr) = listener.local_addr() {
        env.record(format_args!("listen {addr}"));
    }
    serve(
        &env,
        &mut game,
        (listener, ()),
        None,
        OUTBOX_LINES_MAX,
        connections_max,
        shutdown,
    )
    .await;
    Ok(())
}

impl<R: Rng> ServedGame for LockstepServer<R> {
    type Port = ();
    fn connect(&mut self, now_ms: u64, conn: ConnId, _port: (), _peer: SocketAddr) {
        LockstepServer::connect(self, now_ms, conn)
    }
    fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str, _offers: &mut Offers<'_>) {
        LockstepServer::receive(self, now_ms, conn, line)
    }
    fn disconnect(&mut self, now_ms: u64, conn: ConnId) {
        LockstepServer::disconnect(self, now_ms, conn)
    }
    fn poll_timeout(&self) -> Option<u64> {
        LockstepServer::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        LockstepServer::handle_timeout(self, now_ms)
    }
}
