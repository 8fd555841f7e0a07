//! The idle workload: what a connection that says nothing costs a server.
//! Opens some warm-up connections (so one-time allocations are not
//! counted), then N more that each read their first line and stay open,
//! and reports the growth of the server's resident memory per connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::{progress, resident_kib};

/// What to open, and against which process.
#[derive(Debug, Clone)]
pub struct Workload {
    pub addr: SocketAddr,
    /// The server's process, for its resident memory.
    pub pid: u32,
    /// Connections opened before the first measurement.
    pub warmup: usize,
    /// Connections measured.
    pub connections: usize,
}

/// What the connections cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Measured connections the server greeted and kept.
    pub held: usize,
    /// Measured connections whose first line was a refusal (`ERR ...`).
    pub refused: usize,
    pub first_refusal: Option<String>,
    /// Resident memory before and after the measured connections, in KiB.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl Outcome {
    /// Growth of resident memory per held connection, in KiB.
    pub fn kib_per_connection(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.held.max(1) as f64
    }
}

/// How long the server gets to settle before each measurement.
const SETTLE_MS: u64 = 500;
/// How long one connection may take to be greeted.
const FIRST_LINE_TIMEOUT_MS: u64 = 10_000;

/// Opens the connections one at a time, each until its first line, and
/// measures. The connections are closed when this returns.
pub async fn run(workload: &Workload) -> Result<Outcome, String> {
    let mut open = Vec::with_capacity(workload.warmup + workload.connections);
    for _ in 0..workload.warmup {
        open.push(connect(workload.addr).await?.0);
    }
    tokio::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    let rss = || {
        resident_kib(workload.pid)
            .map(|(now, _peak)| now)
            .ok_or_else(|| format!("no resident memory for process {}", workload.pid))
    };
    let rss_before_kib = rss()?;
    let bar = progress(workload.connections as u64, "connecting");
    let (mut held, mut refused, mut first_refusal) = (0, 0, None);
    for _ in 0..workload.connections {
        let (stream, first_line) = connect(workload.addr).await?;
        if first_line.starts_with("ERR") {
            refused += 1;
            first_refusal.get_or_insert(first_line);
        } else {
            held += 1;
            open.push(stream);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    tokio::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    let rss_after_kib = rss()?;
    Ok(Outcome {
        held,
        refused,
        first_refusal,
        rss_before_kib,
        rss_after_kib,
    })
}

/// One connection and the first line the server sent on it.
async fn connect(addr: SocketAddr) -> Result<(BufReader<TcpStream>, String), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| format!("connect {addr}: {error}"))?;
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_millis(FIRST_LINE_TIMEOUT_MS),
        stream.read_line(&mut line),
    )
    .await
    .map_err(|_| format!("{addr}: no first line in {FIRST_LINE_TIMEOUT_MS} ms"))?
    .map_err(|error| format!("{addr}: {error}"))?;
    if read == 0 {
        return Err(format!("{addr}: closed before its first line"));
    }
    Ok((stream, line.trim_end().to_owned()))
}
