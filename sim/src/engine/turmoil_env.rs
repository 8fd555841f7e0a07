//! The simulated environment: turmoil's TCP and turmoil's clock behind the
//! same [`Env`] trait the real binaries use, plus the trace every session
//! writes into.
//!
//! turmoil already drives `tokio::time` in simulated time on each host, so
//! timers are tokio's; `now_ms` reads the simulation's elapsed time so that
//! every host's trace lines share one time axis.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use games::env::{Env, Listener};

use crate::engine::tap::TappedStream;
use crate::engine::trace::Trace;

/// One session's view of the simulation: its name in the trace and the
/// shared trace. Several sessions may share one turmoil host, each with its
/// own name.
#[derive(Clone, Debug)]
pub struct SimEnv {
    name: Arc<str>,
    trace: Trace,
}

impl SimEnv {
    pub fn new(name: &str, trace: &Trace) -> SimEnv {
        SimEnv {
            name: name.into(),
            trace: trace.clone(),
        }
    }
}

/// A simulated connection, tapped so a picture of the run can be drawn.
pub type SimStream = TappedStream<turmoil::net::TcpStream>;

impl games::env::SplitStream for SimStream {
    type ReadHalf = tokio::io::ReadHalf<SimStream>;
    type WriteHalf = tokio::io::WriteHalf<SimStream>;

    fn into_halves(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::io::split(self)
    }
}

/// A turmoil listener seen through the [`Listener`] trait.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    name: Arc<str>,
    trace: Trace,
}

fn tap(stream: turmoil::net::TcpStream, name: &str, trace: &Trace) -> SimStream {
    let local = stream
        .local_addr()
        .map(|addr| addr.to_string())
        .unwrap_or_default();
    let peer = stream
        .peer_addr()
        .map(|addr| addr.to_string())
        .unwrap_or_default();
    TappedStream::new(stream, name, local, peer, trace.clone())
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((tap(stream, &self.name, &self.trace), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Simulated milliseconds since the simulation started.
pub fn sim_now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

impl Env for SimEnv {
    type Stream = SimStream;
    type Listener = SimListener;

    fn now_ms(&self) -> u64 {
        sim_now_ms()
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        let now_ms = sim_now_ms();
        if deadline_ms > now_ms {
            tokio::time::sleep(Duration::from_millis(deadline_ms - now_ms)).await;
        }
    }

    async fn bind(&self, addr: &str) -> io::Result<Self::Listener> {
        let inner = turmoil::net::TcpListener::bind(addr).await?;
        Ok(SimListener {
            inner,
            name: self.name.clone(),
            trace: self.trace.clone(),
        })
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let stream = turmoil::net::TcpStream::connect(addr).await?;
        Ok(tap(stream, &self.name, &self.trace))
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        tokio::task::spawn_local(task);
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        self.trace
            .record(sim_now_ms(), &self.name, event.to_string());
    }

    fn record_line(&self, direction: games::env::LineDirection, line: &str) {
        self.trace
            .record(sim_now_ms(), &self.name, direction.with_line(line));
    }
}
