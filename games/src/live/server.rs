//! The live tombola server session: two listeners around the state machine
//! in `game.rs`.
//!
//! One task owns the game, every player and both of each player's
//! connections; every connection has a reader and a writer task that talk
//! to it through channels. The loop itself, with its limits, backpressure,
//! reply order and shutdown, is `conn::serve`, shared with the lock-step
//! server; new connections are taken from either port.
//!
//! Try it: `tombola-live-server`, then `nc 127.0.0.1 2004` (you get
//! `WELCOME p1 <token>` and, later, the draws) and in a second terminal
//! `nc 127.0.0.1 2005`, where you type `HELLO <token>`, then
//! `BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15`, and `TOMBOLA 1` when your
//! board is full.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use rand::Rng;

use crate::conn::{serve, ConnId, Offers, ServedGame};
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
    if let (Ok(numbers_addr), Ok(claims_addr)) = (numbers.local_addr(), claims.local_addr()) {
        env.record(format_args!(
            "listen numbers {numbers_addr} claims {claims_addr}"
        ));
    }
    serve(
        &env,
        &mut game,
        (numbers, Port::Numbers),
        Some((claims, Port::Claims)),
        OUTBOX_LINES_MAX,
        connections_max,
        shutdown,
    )
    .await;
    Ok(())
}

impl<R: Rng> ServedGame for LiveServer<R> {
    type Port = Port;
    fn connect(&mut self, now_ms: u64, conn: ConnId, port: Port, _peer: SocketAddr) {
        LiveServer::connect(self, now_ms, conn, port)
    }
    fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str, _offers: &mut Offers<'_>) {
        LiveServer::receive(self, now_ms, conn, line)
    }
    fn disconnect(&mut self, now_ms: u64, conn: ConnId) {
        LiveServer::disconnect(self, now_ms, conn)
    }
    fn poll_timeout(&self) -> Option<u64> {
        LiveServer::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        LiveServer::handle_timeout(self, now_ms)
    }
}
