//! The chat server session: the room in `room.rs` served by the shared
//! server loop (`conn::serve`), like the tombola games.
//!
//! What chat asks of the shell: every line gets exactly one reply, whose
//! place in the sender's outbox is reserved before the line is read
//! (`ReadPacing::ReplySlot`), so replies are never dropped and a client
//! that does not read its replies simply stops being read; messages for
//! other clients are offered to their outboxes without waiting and keep
//! [`REPLY_HEADROOM_LINES`] free, so a client that never reads only ever
//! costs its senders an `ERR recipient-busy`, and a client buried in
//! incoming messages can still send a few commands. The room notes and
//! answers framing errors itself (`refuse ... invalid-utf8`).
//!
//! Try it: `chat-server --addr 127.0.0.1:2004`, then in two other terminals
//! `nc 127.0.0.1 2004`, type `L`, and send `<ip:port> hello` to the other.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::chat::notes::Note;
use crate::chat::protocol::{ServerMessage, ROOM_CLIENTS_MAX};
use crate::chat::room::{ChatRoom, Mailboxes, Output};
use crate::conn::{self, ConnId, Delivery, GameCore, Offers, ReadPacing, ServedGame};
use crate::env::{Env, Listener};

/// Outbox lines kept free of other clients' messages, so that a client
/// whose outbox is full of incoming messages can still send a few commands
/// and get their replies without first reading everything.
pub const REPLY_HEADROOM_LINES: usize = 4;

/// Lines queued for one client before messages to it are refused with
/// `ERR recipient-busy`. The socket's own buffers come on top of this.
pub const OUTBOX_LINES_MAX: usize = 256;
/// Open connections at once by default (tests and simulations); more are
/// told `ERR server-full` and closed. `chat-server` holds as many as the
/// process may open, up to [`ROOM_CLIENTS_MAX`] (so a `CLIENTS` line stays
/// bounded).
pub const CONNECTIONS_MAX: usize = 1024;
/// Server settings; the defaults are the protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Lines queued per client, replies included; must be more than
    /// [`REPLY_HEADROOM_LINES`]. Simulations make it small to reach
    /// `recipient-busy` quickly.
    pub outbox_lines_max: usize,
    /// Open connections at once; at most [`ROOM_CLIENTS_MAX`].
    pub connections_max: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            outbox_lines_max: OUTBOX_LINES_MAX,
            connections_max: CONNECTIONS_MAX,
        }
    }
}

/// Runs the chat server on `listener` until `shutdown` completes, then
/// stops accepting, sends every connection `conn::SHUTDOWN_LINE` and
/// returns once they have flushed (at most `conn::SHUTDOWN_FLUSH_MS`).
pub async fn run<E: Env>(
    env: E,
    listener: E::Listener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_room(env, listener, config, ChatRoom::new(), shutdown).await
}

/// [`run`] around a given room: the harness passes one with an injected
/// bug (see [`ChatRoom::with_bug`]).
pub async fn run_room<E: Env>(
    env: E,
    listener: E::Listener,
    config: ServerConfig,
    room: ChatRoom,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    assert!(
        config.outbox_lines_max > REPLY_HEADROOM_LINES,
        "outbox_lines_max must be more than REPLY_HEADROOM_LINES ({REPLY_HEADROOM_LINES})"
    );
    assert!(
        (1..=ROOM_CLIENTS_MAX).contains(&config.connections_max),
        "connections_max must be in 1..={ROOM_CLIENTS_MAX}"
    );
    if let Ok(addr) = listener.local_addr() {
        env.record(format_args!("listen {addr}"));
    }
    let mut game = ServedRoom(room);
    conn::serve(
        &env,
        &mut game,
        (listener, ()),
        None,
        config.outbox_lines_max,
        config.connections_max,
        shutdown,
    )
    .await;
    Ok(())
}

/// The room as the shared server loop sees it.
struct ServedRoom(ChatRoom);

impl Mailboxes for Offers<'_> {
    fn offer(&mut self, conn: ConnId, line: String) -> bool {
        Offers::offer(self, conn, line)
    }
}

impl GameCore for ServedRoom {
    type Message = ServerMessage;
    type Note = Note;

    fn poll_delivery(&mut self) -> Option<Delivery<ServerMessage>> {
        self.0.poll_output().map(|output| match output {
            Output::Reply(conn, message) => Delivery::Send(conn, message),
            Output::Close(conn) => Delivery::Close(conn),
        })
    }

    fn poll_note(&mut self) -> Option<Note> {
        self.0.poll_note()
    }

    fn not_reading(&mut self, now_ms: u64, conn: ConnId) {
        self.0.at(now_ms);
        // Replies have reserved places and greetings go into fresh
        // outboxes, so this does not happen; if it ever did, the client is
        // gone like any other that closed.
        self.0.disconnect(conn);
    }
}

impl ServedGame for ServedRoom {
    type Port = ();
    const READ_PACING: ReadPacing = ReadPacing::ReplySlot;
    const OFFER_HEADROOM_LINES: usize = REPLY_HEADROOM_LINES;

    fn connect(&mut self, now_ms: u64, conn: ConnId, _port: (), peer: SocketAddr) {
        self.0.at(now_ms);
        self.0.connect(conn, peer);
    }

    fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str, offers: &mut Offers<'_>) {
        self.0.at(now_ms);
        self.0.receive(conn, line, offers);
    }

    fn disconnect(&mut self, now_ms: u64, conn: ConnId) {
        self.0.at(now_ms);
        self.0.disconnect(conn);
    }

    fn poll_timeout(&self) -> Option<u64> {
        None
    }

    fn handle_timeout(&mut self, _now_ms: u64) {}

    fn receive_invalid_utf8(&mut self, now_ms: u64, conn: ConnId) -> bool {
        self.0.at(now_ms);
        self.0.receive_invalid_utf8(conn);
        true
    }

    fn receive_line_too_long(&mut self, now_ms: u64, conn: ConnId) -> bool {
        self.0.at(now_ms);
        self.0.receive_line_too_long(conn);
        true
    }
}
