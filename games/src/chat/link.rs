//! One chat connection as a reader task and a writer task, like `conn.rs`,
//! with one difference the chat room needs: every line the reader hands to
//! the room comes with a slot already reserved in that connection's outbox
//! for its reply.
//!
//! `conn.rs` reads the next line once the outbox has room, but lines read
//! and not yet handled are not counted, so a client that pipelines many
//! commands without reading could find the outbox full by the time its
//! replies are made. Here the reservation travels with the line
//! ([`LinkEvent::Received`]), so a reply always fits, a client that does not
//! read its replies stops being read (at most `outbox_lines_max` of its
//! lines are in flight), and the room task never waits on anyone. Messages
//! from other clients use [`LinkHandle::offer`], which keeps
//! [`REPLY_HEADROOM_LINES`] free so a client buried in incoming messages
//! can still be read from. Framing errors are not answered here but by
//! the room, in turn with the replies to the lines before them.
//!
//! Closing follows `conn.rs`: the writer flushes what is queued and ends
//! the stream; the reader drains (and ignores) input so the last lines are
//! not lost to a TCP reset; both are stopped [`CLOSE_GRACE_MS`] after the
//! handle is dropped at the latest.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::conn::{
    count_close, grace_after, spawn_writer, CloseReason, ConnId, QueueError, WriterEnded,
    SHUTDOWN_LINE,
};
use crate::env::Env;
use crate::framing::{Frame, FrameError, LineCodec, LineReader, LINE_BYTES_MAX};
pub use crate::outbox::ReplySlot;
use crate::outbox::{Outbox, Side, WriterGuard};

/// Outbox lines kept free of other clients' messages, so that a client
/// whose outbox is full of incoming messages can still send a few commands
/// and get their replies without first reading everything.
pub const REPLY_HEADROOM_LINES: usize = 4;

/// What the reader got from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A complete, non-empty UTF-8 line.
    Line(String),
    /// A complete line that was not UTF-8; the connection goes on.
    InvalidUtf8,
    /// More than `LINE_BYTES_MAX` bytes without a terminator; the reader
    /// has stopped and the connection must close.
    LineTooLong,
}

/// What a connection reports to the room task.
#[derive(Debug)]
pub enum LinkEvent {
    /// Something the peer sent, with the slot for its one reply. Framing
    /// errors travel this way too, so that every reply, theirs included,
    /// goes out in the order the lines came in.
    Received(ConnId, Received, ReplySlot),
    /// The peer closed, reset, or broke the framing; nothing follows.
    Closed(ConnId),
}

/// The room's handle on one connection. Dropping it closes the connection.
#[derive(Debug)]
pub struct LinkHandle {
    outbox: Outbox,
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

impl LinkHandle {
    /// Queues a line the connection did not ask for (a message from another
    /// client) if the outbox has room beyond the reply headroom.
    pub fn offer(&self, line: String) -> bool {
        self.outbox.room() > REPLY_HEADROOM_LINES && self.outbox.try_send(line).is_ok()
    }

    /// Queues a line without waiting.
    pub fn try_send(&self, line: String) -> Result<(), QueueError> {
        self.outbox.try_send(line)
    }

    /// Queues [`SHUTDOWN_LINE`] if there is room, then closes the
    /// connection; the result resolves once its writer has ended.
    pub fn shut_down(self) -> WriterEnded {
        count_close(CloseReason::Shutdown);
        let _ = self.try_send(SHUTDOWN_LINE.to_owned());
        self.outbox.writer_ended()
    }
}

/// A connection whose outbox exists but whose tasks have not started, so
/// the greeting can be queued first: it then always fits and always comes
/// first.
#[derive(Debug)]
pub struct PendingLink {
    /// Marks the writer ended when the writer task ends (or never starts).
    writer: WriterGuard,
}

/// Creates the outbox of a new connection: `outbox_lines_max` lines at most.
pub fn open(outbox_lines_max: usize) -> (LinkHandle, PendingLink) {
    assert!(
        outbox_lines_max > REPLY_HEADROOM_LINES,
        "an outbox must have room for messages beyond the reply headroom"
    );
    let outbox = Outbox::new(outbox_lines_max);
    let pending = PendingLink {
        writer: WriterGuard(outbox.clone()),
    };
    (LinkHandle { outbox }, pending)
}

impl PendingLink {
    /// Starts the reader and writer tasks over `stream`.
    pub fn start<E: Env>(
        self,
        env: &E,
        stream: E::Stream,
        conn: ConnId,
        events: mpsc::Sender<LinkEvent>,
    ) {
        let (read_half, write_half) = tokio::io::split(stream);
        let outbox = self.writer.0.clone();
        let reader = read_loop(read_half, conn, events, outbox.clone());
        let grace = grace_after(env.clone(), outbox, Side::Reader);
        env.spawn(async move {
            tokio::select! {
                biased;
                _ = grace => {}
                _ = reader => {}
            }
        });
        spawn_writer(env, write_half, self.writer);
    }
}

async fn read_loop<R: AsyncRead + Send + Unpin>(
    read_half: R,
    conn: ConnId,
    events: mpsc::Sender<LinkEvent>,
    outbox: Outbox,
) {
    let mut frames = LineReader::new(read_half, LineCodec::new());
    loop {
        // Reserve the reply's place before reading the line it answers
        // (none once the connection is closing or its writer has ended).
        let Some(slot) = outbox.reserve().await else {
            break;
        };
        let frame = tokio::select! {
            biased;
            _ = outbox.closing(Side::Reader) => break,
            frame = frames.next() => frame,
        };
        let (received, last) = match frame {
            Some(Ok(Frame::Line(line))) => (Received::Line(line), false),
            Some(Ok(Frame::InvalidUtf8)) => (Received::InvalidUtf8, false),
            Some(Err(FrameError::LineTooLong)) => (Received::LineTooLong, true),
            Some(Err(FrameError::Io(_))) => {
                count_close(CloseReason::ReadFailed);
                break;
            }
            None => {
                count_close(CloseReason::PeerClosed);
                break;
            }
        };
        if events
            .send(LinkEvent::Received(conn, received, slot))
            .await
            .is_err()
        {
            return;
        }
        if last {
            break;
        }
    }
    let _ = events.send(LinkEvent::Closed(conn)).await;
    // The outbox is no longer held from here, so the writer can finish. Keep
    // reading and ignoring until the peer closes (bounded by the grace
    // period): closing a socket with unread input resets the connection,
    // and a reset can destroy the last lines before the peer reads them.
    let mut read_half = frames.into_inner();
    let mut scratch = vec![0u8; LINE_BYTES_MAX];
    while let Ok(read) = read_half.read(&mut scratch).await {
        if read == 0 {
            break;
        }
    }
}
