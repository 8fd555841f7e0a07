//! One server-side connection as two small tasks: a reader that turns bytes
//! into [`ConnEvent`]s for the game, and a writer that drains the
//! connection's bounded outbox onto the socket.
//!
//! Framing errors are answered by the shell through [`take_event`], the same
//! way for every game and in turn with the replies to the lines before them:
//! `ERR invalid-utf8` keeps the connection, `ERR line-too-long` ends it.
//! Game logic only ever sees whole UTF-8 lines and a final `Closed`.
//!
//! Backpressure: the reader reads the next line only when the outbox has
//! room for the replies to every line it has read and the game has not yet
//! answered, so a client that does not read its replies is simply not read
//! from (the protocol's rule) and a client that pipelines gets every reply;
//! the game itself never waits on a slow client. A line counts as answered
//! only once its replies are in the outbox ([`ConnHandle::line_handled`]
//! after [`pump`]), never earlier.
//! Closing is bounded: once a connection is closed, its tasks flush what is
//! queued and drain input for at most [`CLOSE_GRACE_MS`], then end.
//! Shutting down ([`shut_down_all`]) tells every connection
//! [`SHUTDOWN_LINE`], closes it, and waits at most [`SHUTDOWN_FLUSH_MS`]
//! for the writers to flush.

use futures::StreamExt;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::codec::FramedRead;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::env::Env;
use crate::framing::{Frame, FrameError, LineCodec};

/// What a game state machine asks its shell to do with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<M> {
    /// Queue one line.
    Send(ConnId, M),
    /// Flush what was sent, then close.
    Close(ConnId),
}

/// A game state machine without I/O whose outputs [`pump`] carries to the
/// connections: the one place where every game's shell meets its sockets.
pub trait GameCore {
    type Message: std::fmt::Display;
    /// The game's typed trace note; its text is what is recorded.
    type Note: std::fmt::Display;
    fn poll_delivery(&mut self) -> Option<Delivery<Self::Message>>;
    /// The next thing that happened, as one trace event.
    fn poll_note(&mut self) -> Option<Self::Note>;
    /// A connection let its outbox fill with lines it did not ask for and
    /// was closed: the game forgets it.
    fn not_reading(&mut self, now_ms: u64, conn: ConnId);
}

/// Carries a game's deliveries to its connections and its notes to the
/// environment's record, until nothing is left.
pub fn pump<E: Env, G: GameCore>(
    env: &E,
    game: &mut G,
    conns: &mut std::collections::BTreeMap<ConnId, ConnHandle>,
) {
    loop {
        while let Some(note) = game.poll_note() {
            env.record(format_args!("{note}"));
        }
        let mut not_reading = Vec::new();
        while let Some(delivery) = game.poll_delivery() {
            match delivery {
                Delivery::Send(conn, message) => {
                    if let Some(handle) = conns.get(&conn) {
                        if let Err(QueueError::Full) = handle.try_send(message.to_string()) {
                            not_reading.push(conn);
                        }
                    }
                }
                Delivery::Close(conn) => {
                    conns.remove(&conn);
                }
            }
        }
        if not_reading.is_empty() {
            return;
        }
        for conn in not_reading {
            if conns.remove(&conn).is_some() {
                game.not_reading(env.now_ms(), conn);
            }
        }
    }
}

/// Identifies one connection for the lifetime of a server; never reused, so
/// a late event from a closed connection can never be taken for a new one.
pub type ConnId = u64;

/// How long a closed connection may take to flush its last lines and see
/// the peer's end of stream before its tasks are dropped.
pub const CLOSE_GRACE_MS: u64 = 2_000;

/// What a connection reports to the game task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// A complete, non-empty UTF-8 line.
    Line(ConnId, String),
    /// A complete line that was not UTF-8: answered by [`take_event`], in
    /// turn with the replies to the lines before it; the connection goes on.
    InvalidUtf8(ConnId),
    /// More than `LINE_BYTES_MAX` bytes without a terminator: answered by
    /// [`take_event`], which then closes the connection.
    LineTooLong(ConnId),
    /// The peer closed, reset, or broke the framing; no more events follow.
    Closed(ConnId),
}

/// The refusal of a line that is not UTF-8.
pub const INVALID_UTF8_REFUSAL: &str = "ERR invalid-utf8 line dropped";

/// The refusal of an over-long line, after which the connection closes.
pub fn line_too_long_refusal() -> String {
    format!(
        "ERR line-too-long over {} bytes, closing",
        crate::framing::LINE_BYTES_MAX
    )
}

/// A connection event the game must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Hand the line to the game, [`pump`], then call
    /// [`ConnHandle::line_handled`] (in that order, so the reader reads on
    /// only once the replies are queued).
    Line(ConnId, String),
    /// The connection is gone (its handle already dropped): tell the game.
    Closed(ConnId),
}

/// Turns one connection event into what the game must see, answering
/// framing errors itself. Events of connections the shell no longer holds
/// are dropped. Because every event of a connection comes through here in
/// the order the reader produced it, every line's reply, framing refusals
/// included, goes out in the order the lines came in.
pub fn take_event(
    conns: &mut std::collections::BTreeMap<ConnId, ConnHandle>,
    event: ConnEvent,
) -> Option<Input> {
    match event {
        ConnEvent::Line(conn, line) => conns.contains_key(&conn).then_some(Input::Line(conn, line)),
        ConnEvent::InvalidUtf8(conn) => {
            let handle = conns.get(&conn)?;
            // The reader counted this line as in flight, so its reply has
            // room; `Full` cannot happen and `Closed` means it is gone.
            let _ = handle.try_send(INVALID_UTF8_REFUSAL.to_owned());
            handle.line_handled();
            None
        }
        ConnEvent::LineTooLong(conn) => {
            let handle = conns.remove(&conn)?;
            let _ = handle.try_send(line_too_long_refusal());
            handle.close();
            Some(Input::Closed(conn))
        }
        ConnEvent::Closed(conn) => conns.remove(&conn).map(|_| Input::Closed(conn)),
    }
}

/// The one line every connected client gets when the server shuts down
/// (SIGINT or SIGTERM); nothing follows it and the connection ends.
pub const SHUTDOWN_LINE: &str = "BYE server-shutdown";
/// How long a server that is shutting down waits for its connections to
/// flush their last lines (the shutdown line among them) before it exits:
/// short enough that a server exits within a second of the signal, long
/// enough for a few kernel buffers' worth on a loaded machine. A client
/// that does not read is not waited for beyond this.
pub const SHUTDOWN_FLUSH_MS: u64 = 500;

/// Tells every connection [`SHUTDOWN_LINE`] (if its outbox has room),
/// closes them all, and waits until their writers have flushed and ended,
/// or [`SHUTDOWN_FLUSH_MS`], whichever comes first.
pub async fn shut_down_all<E: Env>(env: &E, conns: impl IntoIterator<Item = ConnHandle>) {
    let flushed: Vec<_> = conns.into_iter().map(ConnHandle::shut_down).collect();
    wait_flushed(env, flushed).await;
}

/// Waits for every writer-ended signal, or [`SHUTDOWN_FLUSH_MS`].
pub async fn wait_flushed<E: Env>(env: &E, flushed: Vec<WriterEnded>) {
    let all = futures::future::join_all(flushed);
    tokio::select! {
        biased;
        _ = all => {}
        _ = env.sleep_ms(SHUTDOWN_FLUSH_MS) => {}
    }
}

/// Resolves once a connection's writer task has ended (flushed and closed
/// its side, failed, or been dropped).
pub type WriterEnded = oneshot::Receiver<()>;

/// Lines one connection may have read and not yet seen handled.
pub const LINES_IN_FLIGHT_MAX: usize = 4;
/// Most replies a game sends to one line (a board: `BOARD-OK` and
/// `WAITING`; a false claim: two refusals; ...).
pub const REPLIES_PER_LINE_MAX: usize = 4;

/// The game's handle on one connection. Dropping it closes the connection.
#[derive(Debug)]
pub struct ConnHandle {
    outbox: mpsc::Sender<String>,
    /// Lines the reader may still read before the game acknowledges one.
    in_flight: Arc<Semaphore>,
    writer_ended: WriterEnded,
    _closing: DropGuard,
}

/// Why a line could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// The outbox already holds its maximum number of lines.
    Full,
    /// The connection's writer has ended.
    Closed,
}

impl ConnHandle {
    /// Queues one line without waiting.
    pub fn try_send(&self, line: String) -> Result<(), QueueError> {
        self.outbox.try_send(line).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => QueueError::Full,
            mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
        })
    }

    /// Lines that can still be queued before the outbox is full.
    pub fn room(&self) -> usize {
        self.outbox.capacity()
    }

    /// The game has handled one line of this connection and queued its
    /// replies: the reader may read one more.
    pub fn line_handled(&self) {
        self.in_flight.add_permits(1);
    }

    /// Flushes what is queued, then closes the connection.
    pub fn close(self) {}

    /// Queues [`SHUTDOWN_LINE`] if there is room, then closes the
    /// connection; the result resolves once its writer has ended.
    pub fn shut_down(self) -> WriterEnded {
        let _ = self.try_send(SHUTDOWN_LINE.to_owned());
        self.writer_ended
    }
}

/// Starts the reader and writer tasks of one accepted connection.
///
/// `outbox_lines_max` bounds the lines queued for this peer; `events` is the
/// game's inbox, shared by all connections (bounded, so a flood of input
/// slows the flooders' readers rather than growing memory).
pub fn spawn_connection<E: Env>(
    env: &E,
    stream: E::Stream,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    outbox_lines_max: usize,
) -> ConnHandle {
    let (read_half, write_half) = tokio::io::split(stream);
    let (outbox, outbox_rx) = mpsc::channel(outbox_lines_max);
    let closing = CancellationToken::new();
    let in_flight = Arc::new(Semaphore::new(LINES_IN_FLIGHT_MAX));
    assert!(
        outbox_lines_max >= LINES_IN_FLIGHT_MAX * REPLIES_PER_LINE_MAX,
        "an outbox holds the replies to every line in flight"
    );

    let reader = read_loop(
        read_half,
        conn,
        events,
        outbox.downgrade(),
        in_flight.clone(),
        closing.clone(),
    );
    let grace = grace_after(env.clone(), closing.clone());
    env.spawn(async move {
        tokio::select! {
            biased;
            _ = grace => {}
            _ = reader => {}
        }
    });

    let writer = write_loop(write_half, outbox_rx);
    let grace = grace_after(env.clone(), closing.clone());
    let (ended, writer_ended) = oneshot::channel();
    env.spawn(async move {
        // Dropped when the task ends or is dropped: either way it has ended.
        let _ended = ended;
        tokio::select! {
            biased;
            _ = grace => {}
            _ = writer => {}
        }
    });

    ConnHandle {
        outbox,
        in_flight,
        writer_ended,
        _closing: closing.drop_guard(),
    }
}

async fn grace_after<E: Env>(env: E, closing: CancellationToken) {
    closing.cancelled().await;
    env.sleep_ms(CLOSE_GRACE_MS).await;
}

async fn read_loop<R: AsyncRead + Send + Unpin>(
    read_half: R,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    outbox: mpsc::WeakSender<String>,
    in_flight: Arc<Semaphore>,
    closing: CancellationToken,
) {
    let mut frames =
        FramedRead::with_capacity(read_half, LineCodec::new(), READ_BUFFER_START_BYTES);
    loop {
        // Read on only when the replies to every line in flight would fit:
        // replies are never dropped, so a peer that does not read them is
        // not read from either. Once the connection is closing, input is
        // only drained, so that its last lines are not lost to a reset.
        tokio::select! {
            biased;
            _ = closing.cancelled() => {}
            room = wait_for_room(&outbox, &in_flight) => {
                if !room {
                    break;
                }
            }
        }
        match frames.next().await {
            Some(Ok(Frame::Line(line))) => {
                if events.send(ConnEvent::Line(conn, line)).await.is_err() {
                    return;
                }
            }
            // Framing errors go to the game task like lines, so their
            // refusals are queued in turn with the replies before them.
            Some(Ok(Frame::InvalidUtf8)) => {
                if events.send(ConnEvent::InvalidUtf8(conn)).await.is_err() {
                    return;
                }
            }
            Some(Err(FrameError::LineTooLong)) => {
                let _ = events.send(ConnEvent::LineTooLong(conn)).await;
                return;
            }
            Some(Err(FrameError::Io(_))) | None => break,
        }
    }
    let _ = events.send(ConnEvent::Closed(conn)).await;
}

/// Waits for a free in-flight place (taken for the next line) and for room
/// in the outbox for the replies of every line in flight. False once the
/// outbox is gone.
async fn wait_for_room(outbox: &mpsc::WeakSender<String>, in_flight: &Semaphore) -> bool {
    match in_flight.acquire().await {
        Ok(permit) => permit.forget(),
        Err(_) => return false,
    }
    let Some(outbox) = outbox.upgrade() else {
        return false;
    };
    let room = outbox
        .reserve_many(LINES_IN_FLIGHT_MAX * REPLIES_PER_LINE_MAX)
        .await
        .is_ok();
    room
}

/// Bytes a connection's read buffer starts with. An idle connection holds
/// it, so it is small; it grows for a longer line (up to `LINE_BYTES_MAX`
/// and what has arrived after it) and for a client that pipelines.
pub const READ_BUFFER_START_BYTES: usize = 256;

/// Drains a connection's outbox onto the socket, every line already queued
/// in one write. The batch buffer lives only while writing, so an idle
/// connection holds no write buffer. Shared by every game's connections
/// (chat's `link.rs` too).
pub(crate) async fn write_loop<W: AsyncWrite + Send + Unpin>(
    mut write_half: W,
    mut outbox: mpsc::Receiver<String>,
) {
    use tokio::io::AsyncWriteExt;
    while let Some(line) = outbox.recv().await {
        let mut batch = Vec::with_capacity(line.len() + 1);
        let mut push = |line: String| {
            debug_assert!(!line.contains('\n'), "a line never contains its terminator");
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
        };
        push(line);
        while let Ok(line) = outbox.try_recv() {
            push(line);
        }
        if write_half.write_all(&batch).await.is_err() || write_half.flush().await.is_err() {
            return;
        }
    }
    let _ = write_half.shutdown().await;
}
