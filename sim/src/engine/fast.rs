//! The event-driven backend: the same session code as the turmoil backend,
//! over in-memory byte pipes on a tokio runtime whose clock is paused, so
//! that simulated time jumps straight to the next event instead of being
//! stepped tick by tick.
//!
//! This module owns [`FastEnv`] (the `games::env::Env` of this backend), the
//! in-memory network behind it ([`FastNet`]: listeners keyed by host and
//! port, pipes with a per-chunk latency in whole milliseconds drawn from the
//! seed, TCP order kept, links that faults partition and hold, tasks kept
//! per host so a crash aborts them) and [`simulate`] (one seeded run on a
//! paused current-thread runtime and one local task set). Hosts, faults and
//! the run's end are [`crate::engine::fast_hosts`]'s.
//!
//! Faults mean for TCP what they mean on turmoil: a segment sent into a
//! partition, or in flight when it starts, is lost and its direction of
//! the connection is dead (the reader waits forever, no end of stream); a
//! held segment waits and arrives at the release, in order; a SYN into a
//! partition is refused, a held one waits for the release.
//!
//! Determinism: one thread, tokio's clock paused (idle time is skipped by
//! tokio's auto-advance, never read from the machine), tokio's own RNG
//! seeded from the run's seed (`select!` without `biased;`), every latency
//! drawn from ChaCha8 generators derived from the seed, and only ordered
//! maps. Wire events (`RunOptions::keep_wire`) are logged by each stream's
//! [`LineTap`]. What this backend does not model: random packet loss.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use games::env::{Env, Listener};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::engine::harness::{host_rng, NetConfig};
use crate::engine::tap::LineTap;
use crate::engine::trace::{Direction, Trace};

/// Bytes a pipe holds before its writer has to wait for the reader, like a
/// socket's send buffer: a peer that never reads eventually blocks writes.
pub const PIPE_BYTES_MAX: usize = 64 * 1024;
/// Room reserved for one trace event's text (a BOARD line is about 60).
const EVENT_BYTES_TYPICAL: usize = 64;
/// First port handed out for port 0 and for the local end of connections.
pub const EPHEMERAL_PORT_FIRST: u16 = 49152;
/// Delivery time of bytes held by a `hold` fault: never, until the release.
const HELD_MS: u64 = u64::MAX;
/// Delivery time of bytes a connection lost to a partition: never.
const LOST_MS: u64 = u64::MAX - 1;
/// Tasks a host keeps handles of before the finished ones are swept out.
const HOST_TASKS_SWEEP_AT: usize = 64;
/// Pipes the network keeps (weak) handles of before dropped ones are swept.
const PIPES_SWEEP_AT: usize = 64;

/// Locks a mutex that a panicking task may have poisoned: the run is
/// single-threaded, so the data is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The run's clock: tokio's (paused) time, counted from the run's start.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: Instant,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_millis() as u64
    }

    fn instant_at(&self, time_ms: u64) -> Instant {
        self.origin + Duration::from_millis(time_ms)
    }
}

/// Whole-millisecond latencies, inclusive at both ends.
#[derive(Debug, Clone, Copy)]
struct LatencyRange {
    min_ms: u64,
    max_ms: u64,
}

impl LatencyRange {
    fn draw(&self, rng: &mut ChaCha8Rng) -> u64 {
        if self.max_ms <= self.min_ms {
            self.min_ms
        } else {
            rng.random_range(self.min_ms..=self.max_ms)
        }
    }
}

/// What a fault has done to the link between two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkState {
    #[default]
    Healthy,
    /// Segments are dropped; a connection that loses one is dead.
    Partitioned,
    /// Segments wait until the release.
    Held,
}

/// One direction of a connection.
///
/// Bytes are kept in one ring buffer with, beside it, runs of (delivery
/// time, byte count) in the order written, so a write costs one copy and no
/// allocation once the buffers have grown.
struct Pipe {
    bytes: VecDeque<u8>,
    /// Delivery times never decrease along the queue (TCP keeps order).
    runs: VecDeque<(u64, usize)>,
    last_delivery_ms: u64,
    /// When the writer's end of stream reaches the reader.
    end_ms: Option<u64>,
    /// The reading end was dropped: writes fail from now on.
    reader_gone: bool,
    /// Set only while the reader waits with nothing in flight.
    reader_waker: Option<Waker>,
    /// Set only while the writer waits for room.
    writer_waker: Option<Waker>,
    /// This direction's own generator, so latencies on one connection do
    /// not depend on how traffic on the others interleaves.
    rng: ChaCha8Rng,
    latency: LatencyRange,
    /// The link between the two hosts, as the faults left it.
    link: LinkState,
    /// A segment was lost to a partition: nothing more ever arrives (TCP
    /// without retransmission, as on turmoil).
    dead: bool,
}

/// What a reader finds in its pipe.
enum ReadState {
    /// Some bytes were copied.
    Read,
    /// The writer's end of stream has arrived.
    End,
    /// Nothing has arrived yet; the next bytes (or the end) arrive then.
    WaitUntil(u64),
    /// Nothing is in flight.
    Idle,
}

impl Pipe {
    fn new(seed: u64, latency: LatencyRange) -> Pipe {
        Pipe {
            bytes: VecDeque::new(),
            runs: VecDeque::new(),
            last_delivery_ms: 0,
            end_ms: None,
            reader_gone: false,
            reader_waker: None,
            writer_waker: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            latency,
            link: LinkState::Healthy,
            dead: false,
        }
    }

    /// A partition starts: what is still in flight is lost, and with it
    /// the connection (in this direction).
    fn partition(&mut self, now_ms: u64) {
        self.link = LinkState::Partitioned;
        let in_flight = self
            .runs
            .iter()
            .any(|&(delivery_ms, _)| delivery_ms > now_ms)
            || self.end_ms.is_some_and(|end_ms| end_ms > now_ms);
        if in_flight {
            self.lose(now_ms);
        }
    }

    /// Drops every byte not yet delivered at `now_ms` and kills the pipe.
    fn lose(&mut self, now_ms: u64) {
        let delivered: usize = self
            .runs
            .iter()
            .filter(|&&(delivery_ms, _)| delivery_ms <= now_ms)
            .map(|&(_, length)| length)
            .sum();
        self.bytes.truncate(delivered);
        self.runs.retain(|&(delivery_ms, _)| delivery_ms <= now_ms);
        if self.end_ms.is_some_and(|end_ms| end_ms > now_ms) {
            self.end_ms = Some(LOST_MS);
        }
        self.dead = true;
    }

    /// A hold starts: what is in flight waits for the release.
    fn hold(&mut self, now_ms: u64) {
        self.link = LinkState::Held;
        for run in &mut self.runs {
            if run.0 > now_ms && run.0 < LOST_MS {
                run.0 = HELD_MS;
            }
        }
        if self
            .end_ms
            .is_some_and(|end_ms| end_ms > now_ms && end_ms < LOST_MS)
        {
            self.end_ms = Some(HELD_MS);
        }
    }

    /// The link is healthy again; held bytes arrive now, in order (as
    /// turmoil delivers held messages at the release). Returns the reader
    /// to wake.
    fn heal(&mut self, now_ms: u64) -> Option<Waker> {
        self.link = LinkState::Healthy;
        let mut released = false;
        for run in &mut self.runs {
            if run.0 == HELD_MS {
                run.0 = now_ms;
                released = true;
            }
        }
        if self.end_ms == Some(HELD_MS) {
            self.end_ms = Some(now_ms);
            released = true;
        }
        if released {
            self.last_delivery_ms = self.last_delivery_ms.max(now_ms);
            self.reader_waker.take()
        } else {
            None
        }
    }

    /// When a segment sent now would arrive, given the link; `None` when it
    /// is lost (the pipe is dead from now on).
    fn send_time_ms(&mut self, now_ms: u64) -> Option<u64> {
        if self.dead || self.link == LinkState::Partitioned {
            self.dead = true;
            return None;
        }
        if self.link == LinkState::Held {
            return Some(HELD_MS);
        }
        Some(self.delivery_ms(now_ms))
    }

    /// When something sent now arrives: after a fresh latency, and never
    /// before what was sent earlier.
    fn delivery_ms(&mut self, now_ms: u64) -> u64 {
        let arrival_ms = now_ms + self.latency.draw(&mut self.rng);
        self.last_delivery_ms = self.last_delivery_ms.max(arrival_ms);
        self.last_delivery_ms
    }

    fn read_due(&mut self, now_ms: u64, buf: &mut ReadBuf<'_>) -> ReadState {
        let mut copied = 0;
        while let Some(&(delivery_ms, length)) = self.runs.front() {
            let count = length.min(buf.remaining());
            if delivery_ms > now_ms || count == 0 {
                break;
            }
            let (front, back) = self.bytes.as_slices();
            let from_front = count.min(front.len());
            buf.put_slice(&front[..from_front]);
            buf.put_slice(&back[..count - from_front]);
            self.bytes.drain(..count);
            if count == length {
                self.runs.pop_front();
            } else if let Some(run) = self.runs.front_mut() {
                run.1 -= count;
            }
            copied += count;
        }
        if copied > 0 {
            if let Some(writer) = self.writer_waker.take() {
                writer.wake();
            }
            return ReadState::Read;
        }
        match (self.runs.front(), self.end_ms) {
            // Held or lost: only a fault's end wakes the reader.
            (Some(&(delivery_ms, _)), _) if delivery_ms >= LOST_MS => ReadState::Idle,
            (Some(&(delivery_ms, _)), _) => ReadState::WaitUntil(delivery_ms),
            (None, Some(end_ms)) if end_ms >= LOST_MS => ReadState::Idle,
            (None, Some(end_ms)) if end_ms <= now_ms => ReadState::End,
            (None, Some(end_ms)) => ReadState::WaitUntil(end_ms),
            (None, None) => ReadState::Idle,
        }
    }

    /// Queues as much of `data` as fits; `None` when the pipe is full.
    fn write(&mut self, now_ms: u64, data: &[u8]) -> Option<usize> {
        let room = PIPE_BYTES_MAX.saturating_sub(self.bytes.len());
        if room == 0 {
            return None;
        }
        let count = room.min(data.len());
        let Some(delivery_ms) = self.send_time_ms(now_ms) else {
            // Lost on the way; the sender cannot tell.
            return Some(count);
        };
        self.bytes.extend(&data[..count]);
        match self.runs.back_mut() {
            Some((last_ms, length)) if *last_ms == delivery_ms => *length += count,
            _ => self.runs.push_back((delivery_ms, count)),
        }
        Some(count)
    }

    /// Sends the end of stream (once); returns the reader to wake.
    fn close_write(&mut self, now_ms: u64) -> Option<Waker> {
        if self.end_ms.is_none() {
            self.end_ms = Some(self.send_time_ms(now_ms).unwrap_or(LOST_MS));
        }
        self.reader_waker.take()
    }
}

/// One end of an in-memory connection.
pub struct FastStream {
    inbound: Arc<Mutex<Pipe>>,
    outbound: Arc<Mutex<Pipe>>,
    clock: Clock,
    /// Wakes this reader when the next bytes in flight arrive; made on the
    /// first wait and reset after, so waiting allocates once.
    delivery_timer: Option<Pin<Box<Sleep>>>,
    local: SocketAddr,
    peer: SocketAddr,
    /// Logs the lines crossing this end when the trace keeps the wire.
    tap: Option<LineTap>,
}

impl FastStream {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

impl std::fmt::Debug for FastStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

fn broken_pipe(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_owned())
}

impl AsyncRead for FastStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let wake_at_ms = {
                let mut pipe = lock(&this.inbound);
                // Reading tokio's clock costs more than the rest of a poll
                // that finds nothing in flight, which is most polls.
                let now_ms = if pipe.runs.is_empty() && pipe.end_ms.is_none() {
                    0
                } else {
                    this.clock.now_ms()
                };
                let before = buf.filled().len();
                match pipe.read_due(now_ms, buf) {
                    ReadState::Read => {
                        if let Some(tap) = &mut this.tap {
                            let time_ms = this.clock.now_ms();
                            tap.log(time_ms, Direction::Received, &buf.filled()[before..]);
                        }
                        return Poll::Ready(Ok(()));
                    }
                    ReadState::End => return Poll::Ready(Ok(())),
                    ReadState::WaitUntil(time_ms) => time_ms,
                    ReadState::Idle => {
                        // The next write or the end of stream wakes us.
                        match &pipe.reader_waker {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            _ => pipe.reader_waker = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            };
            let deadline = this.clock.instant_at(wake_at_ms);
            let timer = this
                .delivery_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for FastStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let now_ms = self.clock.now_ms();
        let reader = {
            let mut pipe = lock(&self.outbound);
            if pipe.reader_gone {
                return Poll::Ready(Err(broken_pipe("the peer closed the connection")));
            }
            if pipe.end_ms.is_some() {
                return Poll::Ready(Err(broken_pipe("write after shutdown")));
            }
            match pipe.write(now_ms, data) {
                Some(count) => (count, pipe.reader_waker.take()),
                None => {
                    pipe.writer_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        let (count, reader) = reader;
        if let Some(reader) = reader {
            reader.wake();
        }
        let this = self.get_mut();
        if let Some(tap) = &mut this.tap {
            tap.log(now_ms, Direction::Sent, &data[..count]);
        }
        Poll::Ready(Ok(count))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let now_ms = self.clock.now_ms();
        let reader = lock(&self.outbound).close_write(now_ms);
        if let Some(reader) = reader {
            reader.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for FastStream {
    fn drop(&mut self) {
        // Dropping an end closes both directions: the peer reads the end of
        // stream after the usual latency, and its writes fail from now on.
        let now_ms = self.clock.now_ms();
        let reader = lock(&self.outbound).close_write(now_ms);
        let writer = {
            let mut pipe = lock(&self.inbound);
            pipe.reader_gone = true;
            pipe.bytes = VecDeque::new();
            pipe.runs.clear();
            pipe.writer_waker.take()
        };
        for waker in [reader, writer].into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Connections waiting to be accepted on one listener.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<(FastStream, SocketAddr)>,
    acceptor: Option<Waker>,
}

/// A listener of the in-memory network. Dropping it unbinds the port.
pub struct FastListener {
    backlog: Arc<Mutex<Backlog>>,
    /// The session that bound it: accepted ends log under its name.
    session: Arc<str>,
    net: FastNet,
    key: (usize, u16),
    local: SocketAddr,
}

impl Listener for FastListener {
    type Stream = FastStream;

    async fn accept(&self) -> io::Result<(FastStream, SocketAddr)> {
        std::future::poll_fn(|cx| {
            let mut backlog = lock(&self.backlog);
            match backlog.queue.pop_front() {
                Some((mut stream, peer)) => {
                    stream.tap = LineTap::new(
                        &self.session,
                        stream.local.to_string(),
                        peer.to_string(),
                        &self.net.trace,
                    );
                    Poll::Ready(Ok((stream, peer)))
                }
                None => {
                    backlog.acceptor = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for FastListener {
    fn drop(&mut self) {
        {
            // A crash may have unbound the port, and a restart bound it again.
            let mut state = lock(&self.net.shared);
            if state
                .listeners
                .get(&self.key)
                .is_some_and(|backlog| Arc::ptr_eq(backlog, &self.backlog))
            {
                state.listeners.remove(&self.key);
            }
        }
        // Queued connections are dropped outside the lock: their peers see
        // the end of stream.
        let queued = std::mem::take(&mut lock(&self.backlog).queue);
        drop(queued);
    }
}

struct NetState {
    /// Host names in the order they were first used; the index gives the
    /// host's address.
    hosts: Vec<String>,
    listeners: BTreeMap<(usize, u16), Arc<Mutex<Backlog>>>,
    /// Per host, the next ephemeral port to try.
    next_ports: Vec<u16>,
    /// Draws connection set-up latencies and each pipe's own seed.
    rng: ChaCha8Rng,
    latency: LatencyRange,
    /// Links a fault has touched, by (lower, higher) host index; absent is
    /// healthy.
    links: BTreeMap<(usize, usize), LinkState>,
    /// Every pipe still alive, with the hosts it runs (from, to), for the
    /// faults to reach.
    pipes: Vec<(usize, usize, std::sync::Weak<Mutex<Pipe>>)>,
    /// Per host, the tasks its sessions started: a crash aborts them all.
    host_tasks: Vec<Vec<tokio::task::AbortHandle>>,
}

impl NetState {
    fn host_index(&mut self, name: &str) -> usize {
        if let Some(index) = self.hosts.iter().position(|host| host == name) {
            return index;
        }
        self.hosts.push(name.to_owned());
        self.next_ports.push(EPHEMERAL_PORT_FIRST);
        self.host_tasks.push(Vec::new());
        self.hosts.len() - 1
    }

    fn link(&self, a: usize, b: usize) -> LinkState {
        self.links
            .get(&(a.min(b), a.max(b)))
            .copied()
            .unwrap_or_default()
    }

    /// A new pipe from host `from` to host `to`, under the link's state.
    fn pipe(&mut self, from: usize, to: usize) -> Arc<Mutex<Pipe>> {
        let mut pipe = Pipe::new(self.rng.random(), self.latency);
        pipe.link = self.link(from, to);
        let pipe = Arc::new(Mutex::new(pipe));
        if self.pipes.len() >= PIPES_SWEEP_AT && self.pipes.len().is_power_of_two() {
            self.pipes.retain(|(_, _, pipe)| pipe.strong_count() > 0);
        }
        self.pipes.push((from, to, Arc::downgrade(&pipe)));
        pipe
    }

    /// Keeps a task's handle so a crash of `host` can abort it.
    fn track(&mut self, host: usize, task: tokio::task::AbortHandle) {
        let tasks = &mut self.host_tasks[host];
        if tasks.len() >= HOST_TASKS_SWEEP_AT && tasks.len().is_power_of_two() {
            tasks.retain(|task| !task.is_finished());
        }
        tasks.push(task);
    }

    /// The host an address's host part names, seen from host `from`.
    fn resolve(&self, from: usize, host: &str) -> Option<usize> {
        if matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]") {
            return Some(from);
        }
        if let Some(index) = self.hosts.iter().position(|name| name == host) {
            return Some(index);
        }
        let ip: IpAddr = host.parse().ok()?;
        (0..self.hosts.len()).find(|&index| host_ip(index) == ip)
    }

    fn ephemeral_port(&mut self, host: usize) -> io::Result<u16> {
        for _ in EPHEMERAL_PORT_FIRST..=u16::MAX {
            let port = self.next_ports[host];
            self.next_ports[host] = port.checked_add(1).unwrap_or(EPHEMERAL_PORT_FIRST);
            if !self.listeners.contains_key(&(host, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no ephemeral port left",
        ))
    }
}

/// The address of the host with this index: 192.168.0.1 onwards, as
/// turmoil numbers its hosts.
fn host_ip(index: usize) -> IpAddr {
    let number = index as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(
        192,
        168,
        (number / 256) as u8,
        (number % 256) as u8,
    ))
}

fn split_addr(addr: &str) -> io::Result<(&str, u16)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} is not host:port"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    Ok((host, port.parse().map_err(|_| invalid())?))
}

/// The in-memory network of one run, with its clock and trace. Cloning
/// shares it.
#[derive(Clone)]
pub struct FastNet {
    shared: Arc<Mutex<NetState>>,
    /// Wakes connects whose SYN waits on a held link.
    links_changed: Arc<tokio::sync::Notify>,
    clock: Clock,
    trace: Trace,
}

impl FastNet {
    /// Must be called inside the run's runtime, whose clock it reads.
    fn new(seed: u64, net: &NetConfig, trace: &Trace) -> FastNet {
        FastNet {
            shared: Arc::new(Mutex::new(NetState {
                hosts: Vec::new(),
                listeners: BTreeMap::new(),
                next_ports: Vec::new(),
                rng: host_rng(seed, "fast-network"),
                latency: LatencyRange {
                    min_ms: net.latency_min_ms,
                    max_ms: net.latency_max_ms.max(net.latency_min_ms),
                },
                links: BTreeMap::new(),
                pipes: Vec::new(),
                host_tasks: Vec::new(),
            })),
            links_changed: Arc::new(tokio::sync::Notify::new()),
            clock: Clock {
                origin: Instant::now(),
            },
            trace: trace.clone(),
        }
    }

    /// A session named `name` on the host of the same name.
    pub fn env(&self, name: &str) -> FastEnv {
        self.session(name, name)
    }

    /// A session named `name` (its trace name) on host `host`: several
    /// sessions may share a host, each with its own connections.
    pub fn session(&self, host: &str, name: &str) -> FastEnv {
        let host = lock(&self.shared).host_index(host);
        FastEnv {
            name: name.into(),
            host,
            net: self.clone(),
        }
    }

    /// Simulated milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The tokio instant of a simulated time, for `timeout_at` and friends.
    pub fn instant_at(&self, time_ms: u64) -> Instant {
        self.clock.instant_at(time_ms)
    }

    fn link(&self, a: usize, b: usize) -> LinkState {
        lock(&self.shared).link(a, b)
    }

    /// Sets the link between hosts `a` and `b` (by name) and applies it to
    /// every connection between them.
    pub fn set_link(&self, a: &str, b: &str, link: LinkState) {
        let now_ms = self.now_ms();
        let pipes: Vec<Arc<Mutex<Pipe>>> = {
            let mut state = lock(&self.shared);
            let (a, b) = (state.host_index(a), state.host_index(b));
            state.links.insert((a.min(b), a.max(b)), link);
            state
                .pipes
                .iter()
                .filter(|(from, to, _)| (*from, *to) == (a, b) || (*from, *to) == (b, a))
                .filter_map(|(_, _, pipe)| pipe.upgrade())
                .collect()
        };
        let mut readers = Vec::new();
        for pipe in pipes {
            let mut pipe = lock(&pipe);
            match link {
                LinkState::Partitioned => pipe.partition(now_ms),
                LinkState::Held => pipe.hold(now_ms),
                LinkState::Healthy => readers.extend(pipe.heal(now_ms)),
            }
        }
        for reader in readers {
            reader.wake();
        }
        self.links_changed.notify_waiters();
    }

    /// The largest latency of segments sent from now on.
    pub fn set_max_latency(&self, max_ms: u64) {
        let mut state = lock(&self.shared);
        state.latency.max_ms = max_ms.max(state.latency.min_ms);
        let latency = state.latency;
        for (_, _, pipe) in &state.pipes {
            if let Some(pipe) = pipe.upgrade() {
                lock(&pipe).latency = latency;
            }
        }
    }

    /// Aborts every task started on host `host` (by name): its sessions
    /// stop, its listeners and connections are dropped (peers read the end
    /// of stream).
    pub fn crash(&self, host: &str) {
        let (tasks, backlogs) = {
            let mut state = lock(&self.shared);
            let index = state.host_index(host);
            // The ports close at once: a connect arriving before the
            // aborted tasks are dropped is refused.
            let ports: Vec<(usize, u16)> = state
                .listeners
                .keys()
                .filter(|(on, _)| *on == index)
                .copied()
                .collect();
            let backlogs: Vec<Arc<Mutex<Backlog>>> = ports
                .iter()
                .filter_map(|key| state.listeners.remove(key))
                .collect();
            (std::mem::take(&mut state.host_tasks[index]), backlogs)
        };
        for task in tasks {
            task.abort();
        }
        for backlog in backlogs {
            let queued = std::mem::take(&mut lock(&backlog).queue);
            drop(queued);
        }
    }

    /// Keeps a task's handle so a crash of `host` (by name) aborts it.
    pub fn track(&self, host: &str, task: tokio::task::AbortHandle) {
        let mut state = lock(&self.shared);
        let index = state.host_index(host);
        state.track(index, task);
    }
}

/// One session's view of the in-memory network: its trace name, its host
/// and the shared network.
#[derive(Clone)]
pub struct FastEnv {
    name: Arc<str>,
    host: usize,
    net: FastNet,
}

impl std::fmt::Debug for FastEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastEnv")
            .field("name", &self.name)
            .field("host", &self.host)
            .finish()
    }
}

impl FastEnv {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn sleep_for(&self, duration_ms: u64) -> Sleep {
        tokio::time::sleep_until(self.net.clock.instant_at(self.now_ms() + duration_ms))
    }
}

impl Env for FastEnv {
    type Stream = FastStream;
    type Listener = FastListener;

    fn now_ms(&self) -> u64 {
        self.net.clock.now_ms()
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        if deadline_ms > self.now_ms() {
            tokio::time::sleep_until(self.net.clock.instant_at(deadline_ms)).await;
        }
    }

    async fn bind(&self, addr: &str) -> io::Result<FastListener> {
        let (host, port) = split_addr(addr)?;
        let mut state = lock(&self.net.shared);
        let own_name = host == state.hosts[self.host];
        let any = matches!(host, "0.0.0.0" | "::" | "[::]");
        if !(own_name || any || state.resolve(self.host, host) == Some(self.host)) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{addr}: not an address of host {}", state.hosts[self.host]),
            ));
        }
        let port = if port == 0 {
            state.ephemeral_port(self.host)?
        } else {
            port
        };
        let key = (self.host, port);
        if state.listeners.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr}: port {port} is already bound"),
            ));
        }
        let backlog = Arc::new(Mutex::new(Backlog::default()));
        state.listeners.insert(key, backlog.clone());
        Ok(FastListener {
            backlog,
            session: self.name.clone(),
            net: self.net.clone(),
            key,
            // Like a real socket (and turmoil), a wildcard bind reports the
            // wildcard address.
            local: SocketAddr::new(
                if any {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    host_ip(self.host)
                },
                port,
            ),
        })
    }

    async fn connect(&self, addr: &str) -> io::Result<FastStream> {
        let (host, port) = split_addr(addr)?;
        let (target, syn_ms, syn_ack_ms) = {
            let mut state = lock(&self.net.shared);
            let latency = state.latency;
            let syn_ms = latency.draw(&mut state.rng);
            let syn_ack_ms = latency.draw(&mut state.rng);
            (state.resolve(self.host, host), syn_ms, syn_ack_ms)
        };
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{addr}: the SYN was lost"),
            )
        };
        // A SYN sent into a partition is dropped, and turmoil's connect
        // fails at once; one in flight when a partition starts is lost too.
        if let Some(target) = target {
            if self.net.link(self.host, target) == LinkState::Partitioned {
                return Err(refused());
            }
        }
        // The listener is looked up when the SYN arrives, so a server that
        // binds a moment after a client starts connecting is found.
        self.sleep_for(syn_ms).await;
        if let Some(target) = target {
            // A held SYN arrives at the release.
            loop {
                let changed = self.net.links_changed.notified();
                match self.net.link(self.host, target) {
                    LinkState::Healthy => break,
                    LinkState::Partitioned => return Err(refused()),
                    LinkState::Held => changed.await,
                }
            }
        }
        let accepted = {
            let mut state = lock(&self.net.shared);
            match target
                .and_then(|target| Some((target, state.listeners.get(&(target, port))?.clone())))
            {
                None => None,
                Some((target, backlog)) => {
                    let local_port = state.ephemeral_port(self.host)?;
                    let to_server = state.pipe(self.host, target);
                    let to_client = state.pipe(target, self.host);
                    let client_addr = SocketAddr::new(host_ip(self.host), local_port);
                    let server_addr = SocketAddr::new(host_ip(target), port);
                    let server_end = FastStream {
                        inbound: to_server.clone(),
                        outbound: to_client.clone(),
                        clock: self.net.clock,
                        delivery_timer: None,
                        local: server_addr,
                        peer: client_addr,
                        // The accepting session's tap is set at accept.
                        tap: None,
                    };
                    let client_end = FastStream {
                        inbound: to_client,
                        outbound: to_server,
                        clock: self.net.clock,
                        delivery_timer: None,
                        local: client_addr,
                        peer: server_addr,
                        tap: LineTap::new(
                            &self.name,
                            client_addr.to_string(),
                            server_addr.to_string(),
                            &self.net.trace,
                        ),
                    };
                    Some((backlog, server_end, client_end, client_addr))
                }
            }
        };
        let Some((backlog, server_end, client_end, client_addr)) = accepted else {
            self.sleep_for(syn_ack_ms).await;
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{addr}: nothing listens there"),
            ));
        };
        let acceptor = {
            let mut backlog = lock(&backlog);
            backlog.queue.push_back((server_end, client_addr));
            backlog.acceptor.take()
        };
        if let Some(acceptor) = acceptor {
            acceptor.wake();
        }
        self.sleep_for(syn_ack_ms).await;
        Ok(client_end)
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // On the run's local task set, which polls and drops tasks in the
        // order they were started; kept per host so a crash aborts it.
        let task = tokio::task::spawn_local(task);
        lock(&self.net.shared).track(self.host, task.abort_handle());
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        // Sized for a typical event line up front: `to_string` starts from
        // the literal pieces' length and grows a few times on the way.
        let text = match event.as_str() {
            Some(text) => text.to_owned(),
            None => {
                let mut text = String::with_capacity(EVENT_BYTES_TYPICAL);
                let _ = std::fmt::Write::write_fmt(&mut text, event);
                text
            }
        };
        self.net.trace.record(self.now_ms(), &self.name, text);
    }
}

/// Runs `body` on a fresh single-threaded tokio runtime whose clock starts
/// paused at the run's origin and whose RNG is seeded from `seed`, with an
/// in-memory network configured from `net`. Idle time is skipped: the
/// clock jumps to the next timer whenever every task waits.
///
/// A body that waits on nothing but pipes with no timer pending would wait
/// forever; put a deadline on it (as [`crate::engine::fast_hosts::Fast`]
/// does).
pub fn simulate<T, F, Body>(seed: u64, net: &NetConfig, trace: &Trace, body: Body) -> T
where
    Body: FnOnce(FastNet) -> F,
    F: Future<Output = T>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()))
        .build()
        .expect("a current-thread runtime can be built");
    // Every task runs on one local task set: tasks need not be `Send`
    // (host software is written once for both backends), and they are
    // polled in a deterministic order.
    let tasks = tokio::task::LocalSet::new();
    runtime.block_on(tasks.run_until(async {
        let network = FastNet::new(seed, net, trace);
        body(network).await
    }))
}

pub use crate::engine::fast_hosts::OnFastBackend;
