//! A stream wrapper that logs every complete line crossing it, in both
//! directions, into the run's [`Trace`] as [`WireEvent`]s. The simulated
//! environment wraps every connection in one when the trace keeps wire
//! events; the game code does not know.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::engine::trace::{Direction, Trace, WireEvent};
use crate::engine::turmoil_env::sim_now_ms;

/// Bytes of a partial line a tap keeps before it gives up on that line
/// (the framing layer refuses longer lines anyway).
const PARTIAL_LINE_BYTES_MAX: usize = 4096;

/// The lines crossing one end of a connection, cut at each newline and
/// recorded into the trace: what both backends' streams log with.
pub struct LineTap {
    session: String,
    local: String,
    peer: String,
    trace: Trace,
    sent: Vec<u8>,
    received: Vec<u8>,
}

impl LineTap {
    /// A tap for the session `session`'s end of a connection, or `None`
    /// when the trace keeps no wire events (then a stream pays one branch
    /// per read or write).
    pub fn new(session: &str, local: String, peer: String, trace: &Trace) -> Option<LineTap> {
        trace.keeps_wire().then(|| LineTap {
            session: session.to_owned(),
            local,
            peer,
            trace: trace.clone(),
            sent: Vec::new(),
            received: Vec::new(),
        })
    }

    /// Logs `bytes` that crossed at `time_ms`, one wire event per complete
    /// line.
    pub fn log(&mut self, time_ms: u64, direction: Direction, bytes: &[u8]) {
        let buffer = match direction {
            Direction::Sent => &mut self.sent,
            Direction::Received => &mut self.received,
        };
        for &byte in bytes {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(buffer.strip_suffix(b"\r").unwrap_or(buffer))
                    .into_owned();
                buffer.clear();
                self.trace.record_wire(WireEvent {
                    time_ms,
                    session: self.session.clone(),
                    local: self.local.clone(),
                    peer: self.peer.clone(),
                    direction,
                    line,
                });
            } else if buffer.len() < PARTIAL_LINE_BYTES_MAX {
                buffer.push(byte);
            }
        }
    }
}

/// A turmoil stream with a [`LineTap`].
pub struct TappedStream<S> {
    inner: S,
    tap: Option<LineTap>,
}

impl<S> TappedStream<S> {
    pub fn new(inner: S, session: &str, local: String, peer: String, trace: Trace) -> Self {
        TappedStream {
            inner,
            tap: LineTap::new(session, local, peer, &trace),
        }
    }

    fn log(&mut self, direction: Direction, bytes: &[u8]) {
        if let Some(tap) = &mut self.tap {
            tap.log(sim_now_ms(), direction, bytes);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TappedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), true) = (&result, self.tap.is_some()) {
            let fresh = buf.filled()[before..].to_vec();
            self.log(Direction::Received, &fresh);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TappedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, bytes);
        if let Poll::Ready(Ok(written)) = result {
            self.log(Direction::Sent, &bytes[..written]);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
