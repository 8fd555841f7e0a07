//! The chat server session: sockets around the room in `room.rs`.
//!
//! One task owns the room; every connection has a reader and a writer task
//! (see `link.rs`) that talk to it through channels. The loop waits, with
//! `biased` priority so a seed replays exactly, on: shutdown, connection
//! events, and new connections. It never awaits a client: replies go into
//! slots reserved before their line was read, and messages for other
//! clients are offered to their outboxes without waiting, so a client that
//! never reads only ever costs its senders an `ERR recipient-busy`.
//!
//! Try it: `chat-server --addr 127.0.0.1:2004`, then in two other terminals
//! `nc 127.0.0.1 2004`, type `L`, and send `<ip:port> hello` to the other.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;

use tokio::sync::mpsc;

use crate::chat::link::{self, LinkEvent, LinkHandle, Received, ReplySlot, REPLY_HEADROOM_LINES};
use crate::chat::protocol::ROOM_CLIENTS_MAX;
use crate::chat::room::{ChatRoom, Mailboxes, Output};
use crate::conn::{self, ConnId};
use crate::env::{Env, Listener};

/// Lines queued for one client before messages to it are refused with
/// `ERR recipient-busy`. The socket's own buffers come on top of this.
pub const OUTBOX_LINES_MAX: usize = 256;
/// Open connections at once by default (tests and simulations); more are
/// told `ERR server-full` and closed. `chat-server` holds as many as the
/// process may open, up to [`ROOM_CLIENTS_MAX`] (so a `CLIENTS` line stays
/// bounded).
pub const CONNECTIONS_MAX: usize = 1024;
/// Connection events waiting for the room task; readers wait when it is full.
pub const EVENTS_QUEUE_MAX: usize = 1024;
/// Pause after a failed `accept` (out of descriptors, say) before retrying.
pub const ACCEPT_RETRY_MS: u64 = 100;

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
    mut room: ChatRoom,
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
    let (events_tx, mut events_rx) = mpsc::channel(EVENTS_QUEUE_MAX);
    let mut links = Links::default();
    let mut conns_opened: ConnId = 0;
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        env.record(format_args!("listen {addr}"));
    }

    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(event) = events_rx.recv() => match event {
                LinkEvent::Received(conn, received, slot) => {
                    // A line from a connection the room closed is dropped
                    // with its slot.
                    if links.0.contains_key(&conn) {
                        match received {
                            Received::Line(line) => room.receive(conn, &line, &mut links),
                            Received::InvalidUtf8 => room.receive_invalid_utf8(conn),
                            Received::LineTooLong => room.receive_line_too_long(conn),
                        }
                        pump(&env, &mut room, &mut links, Some((conn, slot)));
                    }
                }
                LinkEvent::Closed(conn) => {
                    if links.0.remove(&conn).is_some() {
                        room.disconnect(conn);
                        pump(&env, &mut room, &mut links, None);
                    }
                }
            },
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns_opened += 1;
                    let conn = conns_opened;
                    let (handle, pending) = link::open(config.outbox_lines_max);
                    if links.0.len() >= config.connections_max {
                        env.record(format_args!("full {peer}"));
                        crate::conn::count_close(crate::conn::CloseReason::ServerFull);
                        let _ = handle.try_send("ERR server-full try again later".to_owned());
                        pending.start(&env, stream, conn, events_tx.clone());
                        continue;
                    }
                    links.0.insert(conn, handle);
                    room.connect(conn, peer);
                    // The greeting goes into the empty outbox before the
                    // reader starts, so it is always the first line.
                    pump(&env, &mut room, &mut links, None);
                    if links.0.contains_key(&conn) {
                        pending.start(&env, stream, conn, events_tx.clone());
                    }
                }
                Err(error) => {
                    env.record(format_args!("accept-error {error}"));
                    env.sleep_ms(ACCEPT_RETRY_MS).await;
                }
            },
        }
    }
    // Stop accepting first, then tell everyone and let them flush.
    drop(listener);
    env.record(format_args!("shutdown {} connections", links.0.len()));
    let flushed = std::mem::take(&mut links.0)
        .into_values()
        .map(LinkHandle::shut_down)
        .collect();
    conn::wait_flushed(&env, flushed).await;
    Ok(())
}

/// The open connections, by connection id.
#[derive(Debug, Default)]
struct Links(BTreeMap<ConnId, LinkHandle>);

impl Mailboxes for Links {
    fn offer(&mut self, conn: ConnId, line: String) -> bool {
        self.0.get(&conn).is_some_and(|handle| handle.offer(line))
    }
}

/// Carries the room's outputs to the connections, and its notes to the
/// environment's record. `slot` is the reply slot of the line just handled.
fn pump<E: Env>(
    env: &E,
    room: &mut ChatRoom,
    links: &mut Links,
    mut slot: Option<(ConnId, ReplySlot)>,
) {
    while let Some(note) = room.poll_note() {
        env.record(format_args!("{note}"));
    }
    while let Some(output) = room.poll_output() {
        match output {
            Output::Reply(conn, message) => match slot.take() {
                Some((slot_conn, slot)) => {
                    assert_eq!(slot_conn, conn, "a reply goes to the line's sender");
                    slot.send(message.to_string());
                }
                None => {
                    // Only greetings come without a line, and they go into
                    // a fresh outbox that nobody else can fill yet.
                    let handle = links.0.get(&conn).expect("greeted connections are open");
                    handle
                        .try_send(message.to_string())
                        .expect("a fresh outbox has room for its greeting");
                }
            },
            Output::Close(conn) => {
                if links.0.remove(&conn).is_some() {
                    conn::count_close(conn::CloseReason::ByGame);
                }
            }
        }
    }
    assert!(slot.is_none(), "every line gets exactly one reply");
}
