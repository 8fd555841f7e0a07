//! The chat routing workload: N clients connect over real TCP, learn each
//! other's ids from their `WELCOME`s, and each keeps a set number of
//! private messages in flight to random peers: every reply (`SENT` or a
//! refusal) lets it send the next one.
//!
//! Measured over a window after a warm-up: `FROM` lines delivered per
//! second (messages routed), `SENT` replies per second, refusals
//! (`recipient-busy` and others), connection refusals (`server-full`), and
//! how long it took every client to connect.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{progress, Percentiles, CONNECTS_IN_FLIGHT_MAX};

/// How long one client may take to connect and be welcomed.
const CONNECT_TIMEOUT_MS: u64 = 30_000;
/// The text of every message: short, like a chat line.
const MESSAGE_TEXT: &str = "hello from the load generator";

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Workload {
    pub addr: SocketAddr,
    pub clients: usize,
    /// Messages each client keeps sent and not yet answered.
    pub in_flight: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub seed: u64,
}

/// Counters every client adds to.
#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    given_up: AtomicU64,
    sent: AtomicU64,
    delivered: AtomicU64,
    busy: AtomicU64,
    other_refusals: AtomicU64,
    lost: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> [u64; 4] {
        [
            self.sent.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
            self.busy.load(Ordering::Relaxed),
            self.other_refusals.load(Ordering::Relaxed),
        ]
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub connected: usize,
    pub refused: usize,
    pub first_refusal: Option<String>,
    pub connect_all: Duration,
    pub connect_each: Percentiles,
    pub window: Duration,
    pub sent_per_second: f64,
    pub delivered_per_second: f64,
    pub busy: u64,
    pub other_refusals: u64,
    /// Clients whose connection ended during the run.
    pub lost: u64,
}

/// Runs the workload once; bounded by `timeout`.
pub async fn run(workload: &Workload, timeout: Duration) -> Result<Outcome, String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let (peers_send, peers) = watch::channel(Arc::new(Vec::<String>::new()));
    let connecting = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT_MAX));
    let mut connects = Vec::new();
    for index in 0..workload.clients {
        let workload = workload.clone();
        let counters = counters.clone();
        let connecting = connecting.clone();
        connects.push(tokio::spawn(async move {
            // Waiting for a turn to connect is not part of connecting.
            let connected = match connecting.acquire().await {
                Ok(_permit) => tokio::time::timeout(
                    Duration::from_millis(CONNECT_TIMEOUT_MS),
                    connect(workload.addr),
                )
                .await
                .unwrap_or_else(|_| Err("connect timed out".into())),
                Err(error) => Err(error.to_string()),
            };
            match &connected {
                Ok(_) => counters.connected.fetch_add(1, Ordering::Relaxed),
                Err(_) => counters.given_up.fetch_add(1, Ordering::Relaxed),
            };
            (index, connected)
        }));
    }
    let bar = progress(workload.clients as u64, "connecting");
    let mut clients = Vec::new();
    let mut refusals = Vec::new();
    for connect in connects {
        bar.set_position(counters.connected.load(Ordering::Relaxed));
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, connect).await {
            Ok(Ok((index, Ok(client)))) => clients.push((index, client)),
            Ok(Ok((_, Err(refusal)))) => refusals.push(refusal),
            Ok(Err(error)) => refusals.push(error.to_string()),
            Err(_) => refusals.push("run timed out while connecting".into()),
        }
    }
    bar.finish_and_clear();
    let connect_all = started.elapsed();
    let connect_each = Percentiles::of(clients.iter().map(|(_, client)| client.2).collect());
    let ids: Vec<String> = clients.iter().map(|(_, client)| client.1.clone()).collect();
    let connected = clients.len();
    let mut tasks = Vec::new();
    for (index, (reader, _, _)) in clients {
        let rng = ChaCha8Rng::seed_from_u64(workload.seed ^ index as u64);
        tasks.push(tokio::spawn(client(
            reader,
            rng,
            workload.in_flight,
            peers.clone(),
            counters.clone(),
            stop.clone(),
        )));
    }
    let _ = peers_send.send(Arc::new(ids));
    let window_start = Instant::now() + workload.warmup;
    let window_end = (window_start + workload.window).min(deadline);
    tokio::time::sleep_until(window_start.into()).await;
    let before = counters.snapshot();
    let measured_from = Instant::now();
    let bar = progress(workload.window.as_secs(), "routing");
    while Instant::now() < window_end {
        bar.set_position(measured_from.elapsed().as_secs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = counters.snapshot();
    let window = measured_from.elapsed();
    bar.finish_and_clear();
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    let per_second = |index: usize| (after[index] - before[index]) as f64 / window.as_secs_f64();
    Ok(Outcome {
        connected,
        refused: refusals.len(),
        first_refusal: refusals.into_iter().next(),
        connect_all,
        connect_each,
        window,
        sent_per_second: per_second(0),
        delivered_per_second: per_second(1),
        busy: after[2] - before[2],
        other_refusals: after[3] - before[3],
        lost: counters.lost.load(Ordering::Relaxed),
    })
}

/// Connects and reads the `WELCOME`: the reader, the id, how long it took.
async fn connect(addr: SocketAddr) -> Result<(BufReader<TcpStream>, String, Duration), String> {
    let started = Instant::now();
    let socket = TcpStream::connect(addr)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let _ = socket.set_nodelay(true);
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(0) => return Err("closed before WELCOME".into()),
        Ok(_) => {}
        Err(error) => return Err(error.to_string()),
    }
    let line = line.trim_end();
    match line.strip_prefix("WELCOME ") {
        Some(id) => {
            let id = id.to_owned();
            Ok((reader, id, started.elapsed()))
        }
        None => Err(line.to_owned()),
    }
}

/// One client: keeps `in_flight` messages unanswered, counts what comes
/// back, and writes the next messages in one batch whenever it has read
/// everything that arrived.
async fn client(
    mut reader: BufReader<TcpStream>,
    mut rng: ChaCha8Rng,
    in_flight_max: usize,
    mut peers: watch::Receiver<Arc<Vec<String>>>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    let _ = peers.wait_for(|peers| !peers.is_empty()).await;
    let peers = peers.borrow().clone();
    let mut in_flight = 0;
    let mut batch = String::new();
    let mut line = String::new();
    loop {
        if !stop.is_cancelled() && reader.buffer().is_empty() {
            while in_flight < in_flight_max {
                let peer = &peers[rng.random_range(0..peers.len())];
                let _ = writeln!(batch, "{peer} {MESSAGE_TEXT}");
                in_flight += 1;
            }
            if !batch.is_empty() {
                if reader.get_mut().write_all(batch.as_bytes()).await.is_err() {
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                batch.clear();
            }
        }
        line.clear();
        let read = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            read = reader.read_line(&mut line) => read,
        };
        if !matches!(read, Ok(length) if length > 0) {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let counter = if line.starts_with("FROM ") {
            &counters.delivered
        } else {
            in_flight = in_flight.saturating_sub(1);
            if line.starts_with("SENT ") {
                &counters.sent
            } else if line.starts_with("ERR recipient-busy") {
                &counters.busy
            } else {
                &counters.other_refusals
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
