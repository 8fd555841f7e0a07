//! The live tombola workload: N players register over real TCP (numbers
//! and claims connection each), then every draw's receipt is timed at every
//! player.
//!
//! Measured: registration (per player, from its first connect to
//! `BOARD-OK`, and for all), the fan-out spread of each draw (the first to
//! the last player's receipt), each player's lag behind the first receipt
//! of the same draw, refusals, and the server's resident memory. Only draws
//! that come after every player registered and that every remaining player
//! received count, so late joiners do not skew the spread.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{progress, Percentiles, CONNECTS_IN_FLIGHT_MAX};

/// How long one player may take to connect, pair and register.
const REGISTRATION_TIMEOUT_MS: u64 = 30_000;
/// How much longer than the draws' intervals a run waits for them before
/// it gives up, in percent: room for the pause between games and a busy
/// machine.
const DRAW_WAIT_PERCENT: u64 = 150;
/// And a fixed allowance on top (a pause between games is 1 s when loadgen
/// starts the server).
const DRAW_WAIT_EXTRA_MS: u64 = 5_000;

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Workload {
    pub numbers_addr: SocketAddr,
    pub claims_addr: SocketAddr,
    pub players: usize,
    /// Draws to measure after every player registered.
    pub draws: u64,
    /// The server's interval, to know how long to wait.
    pub interval_ms: u64,
    pub seed: u64,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub registered: usize,
    /// Players refused or failed before registering, with the first reason.
    pub refused: usize,
    pub first_refusal: Option<String>,
    pub registration_all: Duration,
    pub registration_each: Percentiles,
    /// Players lost after registering.
    pub lost: usize,
    pub draws_measured: usize,
    /// Draws after registration that some remaining player did not get.
    pub draws_incomplete: usize,
    pub spread: Percentiles,
    pub lag: Percentiles,
}

/// What one player saw.
#[derive(Default)]
struct Seen {
    registered_after: Option<Duration>,
    registered_at: Option<Instant>,
    refusal: Option<String>,
    lost: bool,
    /// `(game, seq)` of each draw and when it arrived.
    draws: Vec<((u64, u32), Instant)>,
}

/// Runs the workload once; bounded by `timeout`.
pub async fn run(workload: &Workload, timeout: Duration) -> Result<Outcome, String> {
    let started = Instant::now();
    let stop = CancellationToken::new();
    let registered = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    // Draws the first registered player received after everyone registered.
    let draws_seen = Arc::new(AtomicU64::new(0));
    let everyone_in = CancellationToken::new();
    let connecting = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT_MAX));
    let mut bots = Vec::new();
    for index in 0..workload.players {
        let bot = Bot {
            workload: workload.clone(),
            index,
            stop: stop.clone(),
            everyone_in: everyone_in.clone(),
            registered: registered.clone(),
            finished: finished.clone(),
            draws_seen: draws_seen.clone(),
            connecting: connecting.clone(),
        };
        bots.push(tokio::spawn(bot.run()));
    }
    let bar = progress(workload.players as u64, "registering");
    let deadline = started + timeout;
    // Registration: until every player registered or gave up.
    loop {
        let done = registered.load(Ordering::Relaxed) + finished.load(Ordering::Relaxed);
        bar.set_position(registered.load(Ordering::Relaxed));
        if done >= workload.players as u64 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bar.finish_and_clear();
    let registered_count = registered.load(Ordering::Relaxed);
    let everyone_at = Instant::now();
    everyone_in.cancel();
    if registered_count > 0 {
        let bar = progress(workload.draws, "draws");
        let draws_deadline = (everyone_at
            + Duration::from_millis(
                workload.interval_ms * workload.draws * DRAW_WAIT_PERCENT / 100
                    + DRAW_WAIT_EXTRA_MS,
            ))
        .min(deadline);
        while draws_seen.load(Ordering::Relaxed) < workload.draws && Instant::now() < draws_deadline
        {
            bar.set_position(draws_seen.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bar.finish_and_clear();
        // The last draw reaches the slowest players a little later.
        tokio::time::sleep(Duration::from_millis(workload.interval_ms / 2)).await;
    }
    stop.cancel();
    let mut seen = Vec::new();
    for bot in bots {
        seen.push(bot.await.unwrap_or_default());
    }
    Ok(summarize(seen, started, everyone_at))
}

fn summarize(seen: Vec<Seen>, started: Instant, everyone_at: Instant) -> Outcome {
    let registration_all = seen
        .iter()
        .filter_map(|seen| seen.registered_at)
        .max()
        .map(|at| at - started)
        .unwrap_or_default();
    let registered: Vec<&Seen> = seen
        .iter()
        .filter(|seen| seen.registered_after.is_some())
        .collect();
    let refused = seen.len() - registered.len();
    let first_refusal = seen.iter().find_map(|seen| seen.refusal.clone());
    let remaining: Vec<&&Seen> = registered.iter().filter(|seen| !seen.lost).collect();
    // Receipts of each draw that started after everyone registered.
    let mut receipts: BTreeMap<(u64, u32), Vec<Instant>> = BTreeMap::new();
    for player in &remaining {
        for &(draw, at) in &player.draws {
            receipts.entry(draw).or_default().push(at);
        }
    }
    let mut spreads = Vec::new();
    let mut lags = Vec::new();
    let mut draws_incomplete = 0;
    for at in receipts.values() {
        let first = *at.iter().min().expect("a draw has a receipt");
        if first < everyone_at {
            continue;
        }
        if at.len() < remaining.len() {
            draws_incomplete += 1;
            continue;
        }
        let last = *at.iter().max().expect("a draw has a receipt");
        spreads.push(last - first);
        lags.extend(at.iter().map(|&receipt| receipt - first));
    }
    Outcome {
        registered: registered.len(),
        refused,
        first_refusal,
        registration_all,
        registration_each: Percentiles::of(
            registered
                .iter()
                .filter_map(|seen| seen.registered_after)
                .collect(),
        ),
        lost: registered.len() - remaining.len(),
        draws_measured: spreads.len(),
        draws_incomplete,
        spread: Percentiles::of(spreads),
        lag: Percentiles::of(lags),
    }
}

struct Bot {
    workload: Workload,
    index: usize,
    stop: CancellationToken,
    everyone_in: CancellationToken,
    registered: Arc<AtomicU64>,
    finished: Arc<AtomicU64>,
    draws_seen: Arc<AtomicU64>,
    connecting: Arc<Semaphore>,
}

impl Bot {
    async fn run(self) -> Seen {
        let mut seen = Seen::default();
        // Waiting for a turn to connect is not part of registering.
        let registration = match self.connecting.clone().acquire_owned().await {
            Ok(permit) => tokio::time::timeout(
                Duration::from_millis(REGISTRATION_TIMEOUT_MS),
                self.register(permit),
            )
            .await
            .unwrap_or_else(|_| Err("registration timed out".into())),
            Err(error) => Err(error.to_string()),
        };
        let (numbers, claims, registered_after) = match registration {
            Ok(connections) => connections,
            Err(refusal) => {
                seen.refusal = Some(refusal);
                self.finished.fetch_add(1, Ordering::Relaxed);
                return seen;
            }
        };
        seen.registered_after = Some(registered_after);
        seen.registered_at = Some(Instant::now());
        let rank = self.registered.fetch_add(1, Ordering::Relaxed);
        let counting = rank == 0;
        let (claims_read, mut claims_write) = claims.into_split();
        // Replies on the claims port are read and dropped.
        let claims_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(claims_read).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
        });
        let mut lines = numbers.lines();
        loop {
            let line = tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                line = lines.next_line() => line,
            };
            let Ok(Some(line)) = line else {
                seen.lost = true;
                break;
            };
            let at = Instant::now();
            let mut words = line.split(' ');
            match words.next() {
                Some("DRAW") => {
                    let game = words.next().and_then(|word| word.parse().ok());
                    let seq = words.next().and_then(|word| word.parse().ok());
                    if let (Some(game), Some(seq)) = (game, seq) {
                        seen.draws.push(((game, seq), at));
                        if counting && self.everyone_in.is_cancelled() {
                            self.draws_seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // A game ended (after 90 draws): play the next one.
                Some("NEXT") if claims_write.write_all(b"AGAIN\n").await.is_err() => {
                    seen.lost = true;
                    break;
                }
                Some("GOODBYE") | Some("ERR") => {
                    seen.lost = true;
                    break;
                }
                _ => {}
            }
        }
        claims_reader.abort();
        seen
    }

    /// Connects both ports, pairs and registers a board; the connections
    /// and how long it took, or why it failed.
    async fn register(
        &self,
        permit: OwnedSemaphorePermit,
    ) -> Result<(BufReader<TcpStream>, TcpStream, Duration), String> {
        let started = Instant::now();
        let numbers = TcpStream::connect(self.workload.numbers_addr)
            .await
            .map_err(|error| format!("numbers connect: {error}"))?;
        let _ = numbers.set_nodelay(true);
        let mut numbers = BufReader::new(numbers);
        let welcome = read_line(&mut numbers).await?;
        let token = match welcome.split(' ').collect::<Vec<_>>()[..] {
            ["WELCOME", _, token] => token.to_owned(),
            _ => return Err(format!("numbers: {welcome}")),
        };
        let claims = TcpStream::connect(self.workload.claims_addr)
            .await
            .map_err(|error| format!("claims connect: {error}"))?;
        let _ = claims.set_nodelay(true);
        drop(permit);
        let mut claims = BufReader::new(claims);
        let mut rng = ChaCha8Rng::seed_from_u64(self.workload.seed ^ self.index as u64);
        let board: Vec<String> = sample(&mut rng, 90, 15)
            .into_iter()
            .map(|index| (index + 1).to_string())
            .collect();
        let request = format!("HELLO {token}\nBOARD {}\n", board.join(" "));
        claims
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("claims write: {error}"))?;
        let hello = read_line(&mut claims).await?;
        if !hello.starts_with("HELLO ") {
            return Err(format!("claims: {hello}"));
        }
        let board_ok = read_line(&mut claims).await?;
        if board_ok != "BOARD-OK" {
            return Err(format!("claims: {board_ok}"));
        }
        // The numbers reader is kept with what it has buffered (a game's
        // history may be there already); the claims port says nothing more
        // until the bot speaks, so its buffer is empty.
        Ok((numbers, claims.into_inner(), started.elapsed()))
    }
}

async fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(0) => Err("closed".into()),
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_owned()),
        Err(error) => Err(error.to_string()),
    }
}
