//! One server-side connection as two small tasks: a reader that turns bytes
//! into [`ConnEvent`]s for the game, and a writer that drains the
//! connection's bounded outbox onto the socket.
//!
//! [`serve`] is the one server loop of all three games: accept, hand lines
//! to the game's state machine, carry its deliveries, shut down. Framing
//! errors are answered in turn with the replies to the lines before them,
//! by the shell (the same text for every game) or by a game that notes
//! them itself (chat): `ERR invalid-utf8` keeps the connection,
//! `ERR line-too-long` ends it.
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

use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::env::Env;
use crate::framing::{Frame, FrameError, LineCodec, LineReader};
use crate::outbox::{Outbox, ReadPermit, Side, WriterGuard};

mod table;
pub use crate::outbox::{QueueError, WriterEnded};
pub use table::Connections;

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
    /// Compared with the message before it, so that a line sent to many
    /// connections at once is rendered once (see [`pump`]).
    type Message: std::fmt::Display + PartialEq;
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
/// environment's record, until nothing is left. The first line sent to
/// `reply_to` (the connection whose line the game just handled) goes into
/// the place its reader reserved for it, if it reserved one; the result
/// says whether such a line was sent.
pub fn pump<E: Env, G: GameCore>(
    env: &E,
    game: &mut G,
    conns: &mut Connections,
    mut reply_to: Option<ConnId>,
) -> bool {
    let mut replied = false;
    // The last message rendered, with its line: a game tells many
    // connections the same thing in a row (a draw, a 1,000-player room's
    // WAITING and START), and copying the line costs a fraction of
    // formatting it again.
    let mut last: Option<(G::Message, String)> = None;
    loop {
        while let Some(note) = game.poll_note() {
            env.record(format_args!("{note}"));
        }
        let mut not_reading = Vec::new();
        while let Some(delivery) = game.poll_delivery() {
            match delivery {
                Delivery::Send(conn, message) => {
                    if let Some(handle) = conns.get(&conn) {
                        let line = match &last {
                            Some((rendered, line)) if *rendered == message => line.clone(),
                            _ => {
                                let line = render(&message);
                                last = Some((message, line.clone()));
                                line
                            }
                        };
                        let sent = if reply_to == Some(conn) {
                            reply_to = None;
                            replied = true;
                            handle.outbox.send_reserved(line)
                        } else {
                            handle.try_send(line)
                        };
                        if let Err(QueueError::Full) = sent {
                            not_reading.push(conn);
                        }
                    }
                }
                Delivery::Close(conn) => {
                    if conns.remove(&conn).is_some() {
                        count_close(CloseReason::ByGame);
                    }
                }
            }
        }
        if not_reading.is_empty() {
            return replied;
        }
        for conn in not_reading {
            if conns.remove(&conn).is_some() {
                count_close(CloseReason::NotReading);
                game.not_reading(env.now_ms(), conn);
            }
        }
    }
}

/// Room a rendered line starts with: most server lines fit, so writing one
/// takes one allocation instead of several as the string grows.
pub const RENDERED_LINE_CAPACITY_BYTES: usize = 64;

/// A message as the line that goes on the wire.
fn render(message: &impl std::fmt::Display) -> String {
    use std::fmt::Write;
    let mut line = String::with_capacity(RENDERED_LINE_CAPACITY_BYTES);
    let _ = write!(line, "{message}");
    line
}

/// Identifies one connection for the lifetime of a server; never reused, so
/// a late event from a closed connection can never be taken for a new one.
pub type ConnId = u64;

/// Why the server side ended connections, counted over the whole process.
/// A debugging aid, never part of a trace (so simulated runs replay the
/// same): a test that sees a connection end can print [`close_counts`] and
/// tell which of the paths below ended it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloseCounts {
    /// The game sent a connection more lines than its outbox holds
    /// ([`GameCore::not_reading`]).
    pub not_reading: u64,
    /// The game closed the connection ([`Delivery::Close`]).
    pub by_game: u64,
    /// An over-long line ended the connection.
    pub line_too_long: u64,
    /// The peer closed its end (the reader saw end of stream).
    pub peer_closed: u64,
    /// Reading failed (a reset, say).
    pub read_failed: u64,
    /// Writing failed (a reset, say).
    pub write_failed: u64,
    /// The server was full and refused the connection.
    pub server_full: u64,
    /// The server shut down.
    pub shutdown: u64,
}

/// The counters behind [`close_counts`], one per field of [`CloseCounts`].
#[derive(Debug)]
pub(crate) enum CloseReason {
    NotReading,
    ByGame,
    LineTooLong,
    PeerClosed,
    ReadFailed,
    WriteFailed,
    ServerFull,
    Shutdown,
}

static CLOSE_COUNTERS: [std::sync::atomic::AtomicU64; 8] =
    [const { std::sync::atomic::AtomicU64::new(0) }; 8];

/// Counts one server-side close (see [`CloseCounts`]).
pub(crate) fn count_close(reason: CloseReason) {
    CLOSE_COUNTERS[reason as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many connections each path has ended so far in this process.
pub fn close_counts() -> CloseCounts {
    let count = |reason: CloseReason| {
        CLOSE_COUNTERS[reason as usize].load(std::sync::atomic::Ordering::Relaxed)
    };
    CloseCounts {
        not_reading: count(CloseReason::NotReading),
        by_game: count(CloseReason::ByGame),
        line_too_long: count(CloseReason::LineTooLong),
        peer_closed: count(CloseReason::PeerClosed),
        read_failed: count(CloseReason::ReadFailed),
        write_failed: count(CloseReason::WriteFailed),
        server_full: count(CloseReason::ServerFull),
        shutdown: count(CloseReason::Shutdown),
    }
}

/// How long a closed connection may take to flush its last lines and see
/// the peer's end of stream before its tasks are dropped.
pub const CLOSE_GRACE_MS: u64 = 2_000;

/// What a connection reports to the game task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// A complete, non-empty UTF-8 line.
    Line(ConnId, String),
    /// A complete line that was not UTF-8: answered in turn with the
    /// replies to the lines before it; the connection goes on.
    InvalidUtf8(ConnId),
    /// More than `LINE_BYTES_MAX` bytes without a terminator: answered in
    /// turn, then the connection closes.
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

/// Lines one connection may have read and not yet seen handled.
pub const LINES_IN_FLIGHT_MAX: usize = 4;
/// Most replies a game sends to one line (a board: `BOARD-OK` and
/// `WAITING`; a false claim: two refusals; ...).
pub const REPLIES_PER_LINE_MAX: usize = 4;

/// The game's handle on one connection. Dropping it closes the connection:
/// the writer flushes what is queued and ends, the reader only drains.
#[derive(Debug)]
pub struct ConnHandle {
    outbox: Outbox,
    pacing: ReadPacing,
}

/// How a connection's reader paces itself against its outbox, so that the
/// replies to the lines it has read always fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPacing {
    /// Read a line only while fewer than [`LINES_IN_FLIGHT_MAX`] are
    /// unanswered and the outbox has room for [`REPLIES_PER_LINE_MAX`]
    /// replies to each (the tombola games, whose lines get up to four
    /// replies and whose other lines go to everyone).
    InFlight,
    /// Reserve the place of a line's one reply before reading the line; the
    /// reservation travels with the line (chat: every line gets exactly
    /// one reply, and messages from other clients leave
    /// [`ServedGame::OFFER_HEADROOM_LINES`] free, so a client buried in
    /// incoming messages can still be read). After the connection ends,
    /// the reader drains input for the grace period.
    ReplySlot,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

impl ConnHandle {
    /// Queues one line without waiting.
    pub fn try_send(&self, line: String) -> Result<(), QueueError> {
        self.outbox.try_send(line)
    }

    /// Lines that can still be queued before the outbox is full.
    pub fn room(&self) -> usize {
        self.outbox.room()
    }

    /// The game has handled one line of this connection and queued its
    /// replies (`replied`: one of them went into the line's reserved
    /// place): the reader may read one more.
    pub fn line_handled(&self, replied: bool) {
        match self.pacing {
            ReadPacing::InFlight => self.outbox.line_handled(),
            ReadPacing::ReplySlot if !replied => self.outbox.release_place(),
            ReadPacing::ReplySlot => {}
        }
    }

    /// Flushes what is queued, then closes the connection.
    pub fn close(self) {}

    /// Queues [`SHUTDOWN_LINE`] if there is room, then closes the
    /// connection; the result resolves once its writer has ended.
    pub fn shut_down(self) -> WriterEnded {
        count_close(CloseReason::Shutdown);
        let _ = self.try_send(SHUTDOWN_LINE.to_owned());
        self.outbox.writer_ended()
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
    pacing: ReadPacing,
) -> ConnHandle {
    assert!(
        pacing == ReadPacing::ReplySlot
            || outbox_lines_max >= LINES_IN_FLIGHT_MAX * REPLIES_PER_LINE_MAX,
        "an outbox holds the replies to every line in flight"
    );
    let (read_half, write_half) = crate::env::SplitStream::into_halves(stream);
    let outbox = Outbox::new(outbox_lines_max);
    let grace = grace_after(env.clone(), outbox.clone(), Side::Reader);
    let reading = outbox.clone();
    env.spawn(async move {
        match pacing {
            ReadPacing::InFlight => {
                let reader = read_loop(read_half, conn, events, reading);
                tokio::select! {
                    biased;
                    _ = grace => {}
                    _ = reader => {}
                }
            }
            ReadPacing::ReplySlot => {
                let reader = read_with_reply_slots(read_half, conn, events, reading);
                tokio::select! {
                    biased;
                    _ = grace => {}
                    _ = reader => {}
                }
            }
        }
    });
    spawn_writer(env, write_half, WriterGuard(outbox.clone()));
    ConnHandle { outbox, pacing }
}

/// The reader of [`ReadPacing::ReplySlot`]: reserves the reply's place
/// before reading each line; once the connection ends (the peer closed, the
/// framing broke, or the game let it go), drains and ignores input until
/// the peer closes, bounded by the grace period: closing a socket with
/// unread input resets the connection, and a reset can destroy the last
/// lines before the peer reads them.
async fn read_with_reply_slots<R: AsyncRead + Send + Unpin>(
    read_half: R,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    outbox: Outbox,
) {
    use tokio::io::AsyncReadExt;
    let mut frames = LineReader::new(read_half, LineCodec::new());
    loop {
        if !outbox.reserve_place(Side::Reader).await {
            break;
        }
        let frame = tokio::select! {
            biased;
            _ = outbox.closing(Side::Reader) => None,
            frame = frames.next() => Some(frame),
        };
        let let_go = frame.is_none();
        let event = match frame.flatten() {
            Some(Ok(Frame::Line(line))) => ConnEvent::Line(conn, line),
            Some(Ok(Frame::InvalidUtf8)) => ConnEvent::InvalidUtf8(conn),
            Some(Err(FrameError::LineTooLong)) => ConnEvent::LineTooLong(conn),
            other => {
                match other {
                    Some(Err(FrameError::Io(_))) => count_close(CloseReason::ReadFailed),
                    None if !let_go => count_close(CloseReason::PeerClosed),
                    _ => {}
                }
                outbox.release_place();
                break;
            }
        };
        let last = matches!(event, ConnEvent::LineTooLong(_));
        if events.send(event).await.is_err() {
            return;
        }
        if last {
            break;
        }
    }
    let _ = events.send(ConnEvent::Closed(conn)).await;
    let mut read_half = frames.into_inner();
    let mut scratch = vec![0u8; crate::framing::LINE_BYTES_MAX];
    while let Ok(read) = read_half.read(&mut scratch).await {
        if read == 0 {
            break;
        }
    }
}

/// Starts a connection's writer task: it drains the outbox onto the socket
/// until the connection is closed and flushed, or [`CLOSE_GRACE_MS`] after
/// the close at the latest. `guard` marks the writer ended however the
/// task ends.
pub(crate) fn spawn_writer<E: Env, W: AsyncWrite + Send + Unpin + 'static>(
    env: &E,
    write_half: W,
    guard: WriterGuard,
) {
    let grace = grace_after(env.clone(), guard.0.clone(), Side::Writer);
    env.spawn(async move {
        let writer = write_loop(write_half, &guard.0);
        tokio::select! {
            biased;
            _ = grace => {}
            _ = writer => {}
        }
        drop(guard);
    });
}

/// Resolves [`CLOSE_GRACE_MS`] after the connection started closing.
pub(crate) async fn grace_after<E: Env>(env: E, outbox: Outbox, side: Side) {
    outbox.closing(side).await;
    // Boxed, so the timer exists only once the connection is closing and
    // an open connection's two tasks do not carry its space.
    Box::pin(env.sleep_ms(CLOSE_GRACE_MS)).await;
}

async fn read_loop<R: AsyncRead + Send + Unpin>(
    read_half: R,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    outbox: Outbox,
) {
    let mut frames = LineReader::new(read_half, LineCodec::new());
    loop {
        // Read on only when the replies to every line in flight would fit:
        // replies are never dropped, so a peer that does not read them is
        // not read from either. The room is looked at, never taken: places
        // taken while waiting would be the very places the game needs for
        // the replies to the lines already in flight. Once the connection
        // is closing, input is only drained, so that its last lines are not
        // lost to a reset.
        let permit = outbox
            .read_permit(
                LINES_IN_FLIGHT_MAX,
                LINES_IN_FLIGHT_MAX * REPLIES_PER_LINE_MAX,
            )
            .await;
        if permit == ReadPermit::End {
            break;
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
            Some(Err(FrameError::Io(_))) => {
                count_close(CloseReason::ReadFailed);
                break;
            }
            None => {
                count_close(CloseReason::PeerClosed);
                break;
            }
        }
    }
    let _ = events.send(ConnEvent::Closed(conn)).await;
}

/// Drains a connection's outbox onto the socket, every line already queued
/// in one write, until the connection is closed and nothing is left. The
/// batch buffer lives only while writing, so an idle connection holds no
/// write buffer. Shared by every game's connections.
async fn write_loop<W: AsyncWrite + Send + Unpin>(mut write_half: W, outbox: &Outbox) {
    use tokio::io::AsyncWriteExt;
    while let Some(lines) = outbox.next_batch().await {
        let bytes = lines.iter().map(|line| line.len() + 1).sum();
        let mut batch = Vec::with_capacity(bytes);
        for line in lines {
            debug_assert!(!line.contains('\n'), "a line never contains its terminator");
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
        }
        if write_half.write_all(&batch).await.is_err() || write_half.flush().await.is_err() {
            count_close(CloseReason::WriteFailed);
            return;
        }
    }
    let _ = write_half.shutdown().await;
}

/// What the shared server loop ([`serve`]) needs of a game besides
/// [`GameCore`]: the sans-IO calls every game state machine has.
pub trait ServedGame: GameCore {
    /// Which listener a connection came in on (one port: `()`).
    type Port: Copy + std::fmt::Debug;
    /// How the game's connections read (see [`ReadPacing`]).
    const READ_PACING: ReadPacing = ReadPacing::InFlight;
    /// Places [`Offers::offer`] keeps free in every outbox.
    const OFFER_HEADROOM_LINES: usize = 0;
    fn connect(&mut self, now_ms: u64, conn: ConnId, port: Self::Port, peer: SocketAddr);
    /// One line from a connection; lines for other connections that nobody
    /// asked for at this moment can be offered to their outboxes.
    fn receive(&mut self, now_ms: u64, conn: ConnId, line: &str, offers: &mut Offers<'_>);
    fn disconnect(&mut self, now_ms: u64, conn: ConnId);
    /// When [`ServedGame::handle_timeout`] next has something to do.
    fn poll_timeout(&self) -> Option<u64>;
    fn handle_timeout(&mut self, now_ms: u64);
    /// A line that was not UTF-8. By default the shell answers it with
    /// [`INVALID_UTF8_REFUSAL`]; a game that answers (and notes) it itself
    /// queues its reply and returns true.
    fn receive_invalid_utf8(&mut self, _now_ms: u64, _conn: ConnId) -> bool {
        false
    }
    /// A line longer than the limit, after which the connection closes. By
    /// default the shell refuses it ([`line_too_long_refusal`]), closes the
    /// connection and calls [`ServedGame::disconnect`]; a game that
    /// answers it itself queues its refusal, closes the connection
    /// ([`Delivery::Close`]) and returns true.
    fn receive_line_too_long(&mut self, _now_ms: u64, _conn: ConnId) -> bool {
        false
    }
}

/// Where a game queues a line that a connection did not ask for at this
/// moment (chat: a message from another client), knowing at once whether
/// it fits: the decision and the queueing are one step.
#[derive(Debug)]
pub struct Offers<'a> {
    conns: &'a Connections,
    headroom_lines: usize,
}

impl Offers<'_> {
    /// Queues `line` for `conn` if its outbox has more than the headroom
    /// free, and says whether it did. Never waits.
    pub fn offer(&mut self, conn: ConnId, line: String) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|handle| handle.outbox.offer(line, self.headroom_lines))
    }
}

/// The refusal a full server sends a new connection before closing it.
pub const SERVER_FULL_REFUSAL: &str = "ERR server-full try again later";

/// Connection events waiting for the game task; readers wait when it is
/// full (so a flood of input slows the flooders' readers, not memory).
pub const EVENTS_QUEUE_MAX: usize = 1024;

/// Pause after a failed `accept` (out of descriptors, say) before retrying.
pub const ACCEPT_RETRY_MS: u64 = 100;

/// The one server loop of every game (lock-step and live tombola, chat):
/// accepts on `first` and, if given, `second`, queues at most
/// `outbox_lines_max` lines per connection, holds at most
/// `connections_max` connections (more get [`SERVER_FULL_REFUSAL`] and are
/// closed), hands the game every line in the order each connection sent
/// it (framing refusals answered in turn), lets a reader read on only
/// once its line's replies are queued (see [`ReadPacing`]), fires the
/// game's deadlines, and on `shutdown` stops accepting and shuts every
/// connection down ([`shut_down_all`]). The loop waits with `biased`
/// priority (shutdown, connection events, the deadline, `first`,
/// `second`) so a seed replays exactly.
pub async fn serve<E, G>(
    env: &E,
    game: &mut G,
    first: (E::Listener, G::Port),
    second: Option<(E::Listener, G::Port)>,
    outbox_lines_max: usize,
    connections_max: usize,
    shutdown: impl std::future::Future<Output = ()>,
) where
    E: Env,
    G: ServedGame,
{
    use crate::env::Listener;
    let (events_tx, mut events_rx) = mpsc::channel(EVENTS_QUEUE_MAX);
    let mut conns = Connections::default();
    let mut conns_opened: ConnId = 0;
    tokio::pin!(shutdown);
    let (first, first_port) = first;
    loop {
        let deadline = game.poll_timeout();
        let mut answered = None;
        // A connection whose reader has stopped (an over-long line) and that
        // a game answering it itself must have closed.
        let mut ended = None;
        // Built from the listener's own `Send` future, so the loop asks no
        // `Sync` of a listener (an async block holding `&second` would).
        let second_accept = match &second {
            Some((listener, port)) => {
                let port = *port;
                futures::future::Either::Left(futures::FutureExt::map(
                    listener.accept(),
                    move |accepted| (accepted, port),
                ))
            }
            None => futures::future::Either::Right(std::future::pending()),
        };
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(event) = events_rx.recv() => {
                // Every event of a connection comes through here in the
                // order its reader produced it, so every line's reply,
                // framing refusals included, goes out in the order the
                // lines came in. Events of connections already let go are
                // dropped.
                let now_ms = env.now_ms();
                match event {
                    ConnEvent::Line(conn, line) => {
                        if conns.contains_key(&conn) {
                            let mut offers = Offers {
                                conns: &conns,
                                headroom_lines: G::OFFER_HEADROOM_LINES,
                            };
                            game.receive(now_ms, conn, &line, &mut offers);
                            answered = Some(conn);
                        }
                    }
                    ConnEvent::InvalidUtf8(conn) => {
                        if conns.contains_key(&conn) {
                            if game.receive_invalid_utf8(now_ms, conn) {
                                answered = Some(conn);
                            } else if let Some(handle) = conns.get(&conn) {
                                // The reader made room for this line's
                                // reply: `Full` cannot happen, and `Closed`
                                // means it is gone.
                                let _ = handle.outbox.send_reserved(INVALID_UTF8_REFUSAL.to_owned());
                                handle.line_handled(true);
                            }
                        }
                    }
                    ConnEvent::LineTooLong(conn) => {
                        if conns.contains_key(&conn) {
                            count_close(CloseReason::LineTooLong);
                            if game.receive_line_too_long(now_ms, conn) {
                                answered = Some(conn);
                                ended = Some(conn);
                            } else if let Some(handle) = conns.remove(&conn) {
                                let _ = handle.outbox.send_reserved(line_too_long_refusal());
                                drop(handle);
                                game.disconnect(now_ms, conn);
                            }
                        }
                    }
                    ConnEvent::Closed(conn) => {
                        if conns.remove(&conn).is_some() {
                            game.disconnect(now_ms, conn);
                        }
                    }
                }
                None
            }
            _ = env.sleep_until_ms(deadline.unwrap_or(0)), if deadline.is_some() => {
                game.handle_timeout(env.now_ms());
                None
            }
            accepted = first.accept() => Some((accepted, first_port)),
            accepted = second_accept => Some(accepted),
        };
        match accepted {
            None => {}
            Some((Ok((stream, peer)), port)) => {
                conns_opened += 1;
                let handle = spawn_connection(
                    env,
                    stream,
                    conns_opened,
                    events_tx.clone(),
                    outbox_lines_max,
                    G::READ_PACING,
                );
                if conns.len() >= connections_max {
                    env.record(format_args!("full {peer}"));
                    count_close(CloseReason::ServerFull);
                    let _ = handle.try_send(SERVER_FULL_REFUSAL.to_owned());
                } else {
                    conns.insert(conns_opened, handle);
                    // The game's greeting is queued below, before the new
                    // connection's reader has run, so it always comes first.
                    game.connect(env.now_ms(), conns_opened, port, peer);
                }
            }
            Some((Err(error), port)) => {
                if second.is_some() {
                    env.record(format_args!("accept-error {port:?} {error}"));
                } else {
                    env.record(format_args!("accept-error {error}"));
                }
                env.sleep_ms(ACCEPT_RETRY_MS).await;
            }
        }
        let replied = pump(env, game, &mut conns, answered);
        // Only now are the line's replies in its outbox: its reader may
        // read one more line.
        if let Some(handle) = answered.take().and_then(|conn| conns.get(&conn)) {
            handle.line_handled(replied);
        }
        if let Some(conn) = ended.take() {
            if conns.remove(&conn).is_some() {
                game.disconnect(env.now_ms(), conn);
                pump(env, game, &mut conns, None);
            }
        }
    }
    // Stop accepting first, then tell everyone and let them flush.
    drop(first);
    drop(second);
    env.record(format_args!("shutdown {} connections", conns.len()));
    shut_down_all(env, std::mem::take(&mut conns).into_values()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, DuplexStream};

    /// Tokio's clock and tasks around in-memory pipes, so a test can give a
    /// connection socket buffers as small as it likes.
    #[derive(Clone)]
    struct PipeEnv;

    struct NoListener;

    impl crate::env::Listener for NoListener {
        type Stream = DuplexStream;
        async fn accept(&self) -> io::Result<(DuplexStream, SocketAddr)> {
            std::future::pending().await
        }
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    impl Env for PipeEnv {
        type Stream = DuplexStream;
        type Listener = NoListener;
        fn now_ms(&self) -> u64 {
            0
        }
        async fn sleep_until_ms(&self, deadline_ms: u64) {
            tokio::time::sleep(std::time::Duration::from_millis(deadline_ms)).await
        }
        async fn bind(&self, _addr: &str) -> io::Result<NoListener> {
            Err(io::ErrorKind::Unsupported.into())
        }
        async fn connect(&self, _addr: &str) -> io::Result<DuplexStream> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn spawn<F>(&self, task: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            tokio::spawn(task);
        }
        fn record(&self, _event: std::fmt::Arguments<'_>) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_pipelines_into_full_socket_buffers_gets_every_reply_and_stays_open() {
        // Socket buffers of a few bytes: the outbox fills at once, as it
        // does on real TCP once a slow client lets the kernel's buffers
        // fill. Replies to lines already read must still fit.
        let (server_side, client_side) = tokio::io::duplex(64);
        let (events_tx, mut events_rx) = mpsc::channel(16);
        let mut conns = Connections::default();
        conns.insert(
            1,
            spawn_connection(
                &PipeEnv,
                server_side,
                1,
                events_tx,
                256,
                ReadPacing::InFlight,
            ),
        );
        let lines = 20_000;
        let (client_read, mut client_write) = tokio::io::split(client_side);
        let flood = tokio::spawn(async move {
            // A server that closes early shows in the replies below.
            let _ = client_write
                .write_all("LINE\n".repeat(lines).as_bytes())
                .await;
            client_write
        });
        // The game's side as `pump` does it: one reply per line, queued
        // without waiting; a full outbox is what `pump` treats as a client
        // not reading, and closes.
        let game = tokio::spawn(async move {
            let mut answered = 0;
            let mut found_full = Vec::new();
            while answered < lines {
                let Some(event) = events_rx.recv().await else {
                    break;
                };
                // A loaded machine preempts the game task while its reader
                // runs on: lag behind the reader just when the outbox is
                // nearly full, so it reads ahead then.
                if conns
                    .get(&1)
                    .is_some_and(|handle: &ConnHandle| handle.room() < 24)
                {
                    tokio::time::sleep(std::time::Duration::from_micros(300)).await;
                }
                match event {
                    ConnEvent::Line(conn, line) if conns.contains_key(&conn) => {
                        let reply = format!("{line} {answered}");
                        if conns.get(&conn).expect("open").try_send(reply) == Err(QueueError::Full)
                        {
                            found_full.push(answered);
                            conns.remove(&conn);
                            break;
                        }
                        answered += 1;
                        conns.get(&conn).expect("open").line_handled(true);
                    }
                    _ => break,
                }
            }
            (found_full, conns)
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut reader = tokio::io::BufReader::new(client_read);
        let mut line = String::new();
        for index in 0..lines {
            line.clear();
            // Read slowly now and then, so the outbox fills again and again.
            if index % 1000 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let read = reader.read_line(&mut line).await.unwrap();
            assert!(
                read > 0,
                "connection closed after {index} replies; server-side closes: {:?}",
                close_counts()
            );
            assert_eq!(line, format!("LINE {index}\n"));
        }
        let (found_full, conns) = game.await.unwrap();
        assert_eq!(
            found_full,
            Vec::<usize>::new(),
            "replies that found the outbox full"
        );
        assert!(conns.contains_key(&1), "the connection is still open");
        drop(flood.await.unwrap());
    }
}
