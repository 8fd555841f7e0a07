//! The environment a session runs in: a clock and a network.
//!
//! Sessions never touch `tokio::net` or `std::time` themselves; they ask an
//! [`Env`] for the time, for timers, for listeners and for connections. The
//! real binaries use [`TokioEnv`] (tokio TCP and the machine's clock); the
//! simulation crate implements the same trait over turmoil's simulated TCP
//! and simulated time, so the very same session code runs in both. Randomness
//! is not part of the environment: callers hand sessions a seeded RNG.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to one peer: what `connect` returns and `accept` yields.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A stream that splits into a half that reads and a half that writes, for
/// a connection's two tasks. Real and turmoil streams split with
/// `tokio::io::split` (a lock around the stream, taken at every read and
/// write); the simulation's in-memory stream splits into halves that share
/// no lock, since a simulated game does little else but read and write.
pub trait SplitStream: Stream + Sized {
    type ReadHalf: AsyncRead + Send + Unpin + 'static;
    type WriteHalf: AsyncWrite + Send + Unpin + 'static;

    fn into_halves(self) -> (Self::ReadHalf, Self::WriteHalf);
}

impl SplitStream for tokio::net::TcpStream {
    type ReadHalf = tokio::io::ReadHalf<Self>;
    type WriteHalf = tokio::io::WriteHalf<Self>;

    /// `tokio::io::split`, not `into_split`: dropping the write half alone
    /// must not shut the socket's sending side down.
    fn into_halves(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::io::split(self)
    }
}

impl SplitStream for tokio::io::DuplexStream {
    type ReadHalf = tokio::io::ReadHalf<Self>;
    type WriteHalf = tokio::io::WriteHalf<Self>;

    fn into_halves(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::io::split(self)
    }
}

/// A bound socket that hands out incoming connections.
pub trait Listener: Send + 'static {
    type Stream: Stream;

    /// Waits for the next incoming connection and returns it with the
    /// peer's address as this side sees it.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address this listener is bound to (the real port after binding
    /// port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Which way a recorded protocol line went ([`Env::record_line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineDirection {
    Sent,
    Received,
}

impl LineDirection {
    /// The word a trace writes before the line.
    pub fn verb(self) -> &'static str {
        match self {
            LineDirection::Sent => "send",
            LineDirection::Received => "recv",
        }
    }

    /// `<verb> <line>`, in a string of exactly that length.
    pub fn with_line(self, line: &str) -> String {
        let verb = self.verb();
        let mut text = String::with_capacity(verb.len() + 1 + line.len());
        text.push_str(verb);
        text.push(' ');
        text.push_str(line);
        text
    }
}

/// Clock, timers and network for one session, plus a place to record what
/// the session does.
pub trait Env: Clone + Send + Sync + 'static {
    type Stream: SplitStream;
    type Listener: Listener<Stream = Self::Stream>;

    /// Milliseconds since this environment's origin. Monotonic.
    fn now_ms(&self) -> u64;

    /// Completes once `now_ms() >= deadline_ms`.
    fn sleep_until_ms(&self, deadline_ms: u64) -> impl Future<Output = ()> + Send;

    /// Binds a listener. `addr` is `host:port`; port 0 picks a free port.
    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Opens a connection to `host:port`.
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Starts a background task of this session (a connection's reader or
    /// writer). Real: `tokio::spawn`. Simulated: the host's own local task
    /// set, whose tasks a crash drops in the order they were started; tasks
    /// on tokio's shared list would be dropped in an order that depends on
    /// process-wide task ids, which differs between two runs of one seed.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Records one event of this session (a line sent or received, a
    /// decision taken). The simulation turns these into its trace; the real
    /// environment drops them unless asked to log.
    fn record(&self, event: std::fmt::Arguments<'_>);

    /// Records a protocol line this session sent or received, as
    /// `send <line>` or `recv <line>`: what [`Env::record`] of that text
    /// records. Its own method because it is most of what a session
    /// records: a simulation builds the text without the formatting
    /// machinery.
    fn record_line(&self, direction: LineDirection, line: &str) {
        self.record(format_args!("{} {line}", direction.verb()));
    }

    /// Sleeps for `duration_ms` from now.
    fn sleep_ms(&self, duration_ms: u64) -> impl Future<Output = ()> + Send {
        self.sleep_until_ms(self.now_ms().saturating_add(duration_ms))
    }
}

/// Real TCP and the machine's clock, through tokio.
#[derive(Clone, Debug)]
pub struct TokioEnv {
    origin: tokio::time::Instant,
    /// Prefix for events written to stderr; `None` keeps them silent.
    log_name: Option<std::sync::Arc<str>>,
}

impl TokioEnv {
    /// An environment whose clock starts now and whose events are dropped.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            log_name: None,
        }
    }

    /// The same, but every recorded event is printed to stderr after `name`.
    pub fn logging(name: &str) -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            log_name: Some(name.into()),
        }
    }
}

impl Default for TokioEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// A tokio TCP listener seen through the [`Listener`] trait.
#[derive(Debug)]
pub struct TokioListener(tokio::net::TcpListener);

impl Listener for TokioListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        // Game lines are tiny and latency matters more than batching.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Env for TokioEnv {
    type Stream = tokio::net::TcpStream;
    type Listener = TokioListener;

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        tokio::time::sleep_until(self.origin + Duration::from_millis(deadline_ms)).await
    }

    async fn bind(&self, addr: &str) -> io::Result<Self::Listener> {
        Ok(TokioListener(tokio::net::TcpListener::bind(addr).await?))
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task);
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        if let Some(name) = &self.log_name {
            eprintln!("{:>8} {name:<10} {event}", self.now_ms());
        }
    }
}
