//! One direction of an in-memory connection ([`Pipe`]: bytes in flight
//! with their delivery times, the link's fault state) and one end of a
//! connection ([`FastStream`]).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::executor::{self, Sleep};
use crate::engine::tap::LineTap;
use crate::engine::trace::Direction;

/// Bytes a pipe holds before its writer has to wait for the reader, like a
/// socket's send buffer: a peer that never reads eventually blocks writes.
pub const PIPE_BYTES_MAX: usize = 64 * 1024;
/// Delivery time of bytes held by a `hold` fault: never, until the release.
const HELD_MS: u64 = u64::MAX;
/// Delivery time of bytes a connection lost to a partition: never.
const LOST_MS: u64 = u64::MAX - 1;

/// Locks a mutex that a panicking task may have poisoned: the run is
/// single-threaded, so the data is still whole.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whole-millisecond latencies, inclusive at both ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct LatencyRange {
    pub(super) min_ms: u64,
    pub(super) max_ms: u64,
}

impl LatencyRange {
    /// One latency: a choice of the run (see `choice`), drawn from `rng`
    /// in a seeded run.
    pub(super) fn draw(&self, rng: &mut ChaCha8Rng) -> u64 {
        executor::choose_latency(rng, self.min_ms, self.max_ms)
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
pub(super) struct Pipe {
    pub(super) bytes: VecDeque<u8>,
    /// Delivery times never decrease along the queue (TCP keeps order).
    pub(super) runs: VecDeque<(u64, usize)>,
    pub(super) last_delivery_ms: u64,
    /// When the writer's end of stream reaches the reader.
    pub(super) end_ms: Option<u64>,
    /// The reading end was dropped: writes fail from now on.
    pub(super) reader_gone: bool,
    /// Set only while the reader waits with nothing in flight.
    pub(super) reader_waker: Option<Waker>,
    /// Set only while the writer waits for room.
    pub(super) writer_waker: Option<Waker>,
    /// This direction's own generator, so latencies on one connection do
    /// not depend on how traffic on the others interleaves.
    pub(super) rng: ChaCha8Rng,
    pub(super) latency: LatencyRange,
    /// The link between the two hosts, as the faults left it.
    pub(super) link: LinkState,
    /// A segment was lost to a partition: nothing more ever arrives (TCP
    /// without retransmission, as on turmoil).
    pub(super) dead: bool,
}

/// What a reader finds in its pipe.
pub(super) enum ReadState {
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
    pub(super) fn new(seed: u64, latency: LatencyRange) -> Pipe {
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
    pub(super) fn partition(&mut self, now_ms: u64) {
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
    pub(super) fn lose(&mut self, now_ms: u64) {
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
    pub(super) fn hold(&mut self, now_ms: u64) {
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
    pub(super) fn heal(&mut self, now_ms: u64) -> Option<Waker> {
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
    pub(super) fn send_time_ms(&mut self, now_ms: u64) -> Option<u64> {
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
    pub(super) fn delivery_ms(&mut self, now_ms: u64) -> u64 {
        let arrival_ms = now_ms + self.latency.draw(&mut self.rng);
        self.last_delivery_ms = self.last_delivery_ms.max(arrival_ms);
        self.last_delivery_ms
    }

    pub(super) fn read_due(&mut self, now_ms: u64, buf: &mut ReadBuf<'_>) -> ReadState {
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
    pub(super) fn write(&mut self, now_ms: u64, data: &[u8]) -> Option<usize> {
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

    /// The idle reader to wake for what was just written, and when: at its
    /// delivery, so the reader is not polled before there is something to
    /// read. `None` when nobody waits or nothing can arrive (held or lost
    /// bytes: the fault's end wakes the reader).
    pub(super) fn reader_to_wake(&mut self) -> Option<(Waker, u64)> {
        match self.runs.front() {
            Some(&(delivery_ms, _)) if delivery_ms < LOST_MS => {
                Some((self.reader_waker.take()?, delivery_ms))
            }
            _ => None,
        }
    }

    /// Sends the end of stream (once); returns the reader to wake.
    pub(super) fn close_write(&mut self, now_ms: u64) -> Option<Waker> {
        if self.end_ms.is_none() {
            self.end_ms = Some(self.send_time_ms(now_ms).unwrap_or(LOST_MS));
        }
        self.reader_waker.take()
    }
}

/// The two pipes of one end of a connection, shared by its read and write
/// halves: the last half to go closes both directions, as dropping the
/// whole stream does.
struct Ends {
    inbound: Arc<Mutex<Pipe>>,
    outbound: Arc<Mutex<Pipe>>,
    /// The read half's delivery timer once the read half is gone and the
    /// write half is not: it is dropped (cancelled) with the stream, after
    /// the close, as it was before the stream could be split.
    parked_timer: Mutex<Option<Sleep>>,
}

impl Drop for Ends {
    fn drop(&mut self) {
        // Dropping an end closes both directions: the peer reads the end of
        // stream after the usual latency, and its writes fail from now on.
        let now_ms = executor::now_ms();
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

/// Logs the lines crossing one end when the trace keeps the wire; shared
/// by the two halves (only then is there a lock to take).
type SharedTap = Option<Arc<Mutex<LineTap>>>;

/// One end of an in-memory connection: a read half and a write half that
/// its `SplitStream::into_halves` hands to two tasks. Unlike
/// `tokio::io::split`, the halves share no lock around the stream: each
/// pipe has its own.
pub struct FastStream {
    // Dropped in this order: the read half last, so that the close comes
    // before its delivery timer is cancelled.
    write: FastWriteHalf,
    read: FastReadHalf,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
}

/// The reading half of a [`FastStream`].
pub struct FastReadHalf {
    ends: Arc<Ends>,
    /// Wakes this reader when the next bytes in flight arrive; made on the
    /// first wait and reset after.
    delivery_timer: Option<Sleep>,
    tap: SharedTap,
}

/// The writing half of a [`FastStream`].
pub struct FastWriteHalf {
    ends: Arc<Ends>,
    tap: SharedTap,
}

impl FastStream {
    /// One end reading `inbound` and writing `outbound`.
    pub(super) fn new(
        inbound: Arc<Mutex<Pipe>>,
        outbound: Arc<Mutex<Pipe>>,
        local: SocketAddr,
        peer: SocketAddr,
        tap: Option<LineTap>,
    ) -> FastStream {
        let ends = Arc::new(Ends {
            inbound,
            outbound,
            parked_timer: Mutex::new(None),
        });
        let tap = tap.map(|tap| Arc::new(Mutex::new(tap)));
        FastStream {
            write: FastWriteHalf {
                ends: ends.clone(),
                tap: tap.clone(),
            },
            read: FastReadHalf {
                ends,
                delivery_timer: None,
                tap,
            },
            local,
            peer,
        }
    }

    /// Logs this end's lines with `tap` from now on.
    pub(super) fn set_tap(&mut self, tap: Option<LineTap>) {
        let tap = tap.map(|tap| Arc::new(Mutex::new(tap)));
        self.write.tap = tap.clone();
        self.read.tap = tap;
    }
}

impl Drop for FastReadHalf {
    fn drop(&mut self) {
        // The timer lives as long as the whole stream did before it could
        // be split: when the write half is still there, park it in the
        // shared ends, which drop it after closing.
        if let Some(timer) = self.delivery_timer.take() {
            if Arc::strong_count(&self.ends) > 1 {
                *lock(&self.ends.parked_timer) = Some(timer);
            } else {
                self.delivery_timer = Some(timer);
            }
        }
    }
}

impl games::env::SplitStream for FastStream {
    type ReadHalf = FastReadHalf;
    type WriteHalf = FastWriteHalf;

    /// The read half and the write half, for two tasks.
    fn into_halves(self) -> (FastReadHalf, FastWriteHalf) {
        (self.read, self.write)
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

pub(super) fn broken_pipe(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_owned())
}

impl AsyncRead for FastStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncWrite for FastStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}

impl AsyncRead for FastReadHalf {
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
                let mut pipe = lock(&this.ends.inbound);
                let now_ms = executor::now_ms();
                let before = buf.filled().len();
                match pipe.read_due(now_ms, buf) {
                    ReadState::Read => {
                        if let Some(tap) = &this.tap {
                            lock(tap).log(now_ms, Direction::Received, &buf.filled()[before..]);
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
            let timer = this
                .delivery_timer
                .get_or_insert_with(|| executor::sleep_until(wake_at_ms));
            timer.reset(wake_at_ms);
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for FastWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let now_ms = executor::now_ms();
        let reader = {
            let mut pipe = lock(&self.ends.outbound);
            if pipe.reader_gone {
                return Poll::Ready(Err(broken_pipe("the peer closed the connection")));
            }
            if pipe.end_ms.is_some() {
                return Poll::Ready(Err(broken_pipe("write after shutdown")));
            }
            match pipe.write(now_ms, data) {
                Some(count) => (count, pipe.reader_to_wake()),
                None => {
                    pipe.writer_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        let (count, reader) = reader;
        if let Some((reader, delivery_ms)) = reader {
            executor::wake_at(delivery_ms, reader);
        }
        let this = self.get_mut();
        if let Some(tap) = &this.tap {
            lock(tap).log(now_ms, Direction::Sent, &data[..count]);
        }
        Poll::Ready(Ok(count))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let now_ms = executor::now_ms();
        let reader = lock(&self.ends.outbound).close_write(now_ms);
        if let Some(reader) = reader {
            reader.wake();
        }
        Poll::Ready(Ok(()))
    }
}
