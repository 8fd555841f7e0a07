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

use crate::trace::Trace;

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

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A turmoil listener seen through the [`Listener`] trait.
pub struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// Simulated milliseconds since the simulation started.
pub fn sim_now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

impl Env for SimEnv {
    type Stream = turmoil::net::TcpStream;
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
        Ok(SimListener(turmoil::net::TcpListener::bind(addr).await?))
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        self.trace
            .record(sim_now_ms(), &self.name, event.to_string());
    }
}
