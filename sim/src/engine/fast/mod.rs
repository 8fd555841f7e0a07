//! The event-driven backend: the same session code as the turmoil backend,
//! over in-memory byte pipes on a scheduler of its own ([`executor`]) whose
//! simulated time jumps straight to the next event instead of being
//! stepped tick by tick.
//!
//! This module owns [`FastEnv`] (the `games::env::Env` of this backend), the
//! in-memory network behind it ([`FastNet`]: listeners keyed by host and
//! port, pipes with a per-chunk latency in whole milliseconds drawn from the
//! seed, TCP order kept, links that faults partition and hold, tasks kept
//! per host so a crash aborts them) and [`simulate`] (one seeded run on the
//! scheduler). Hosts, faults and
//! the run's end are [`crate::engine::fast_hosts`]'s.
//!
//! Faults mean for TCP what they mean on turmoil: a segment sent into a
//! partition, or in flight when it starts, is lost and its direction of
//! the connection is dead (the reader waits forever, no end of stream); a
//! held segment waits and arrives at the release, in order; a SYN into a
//! partition is refused, a held one waits for the release.
//!
//! Determinism: one thread, one scheduler that polls ready tasks first in,
//! first out and moves time only to the next timer (never reading the
//! machine's clock), tokio's RNG seeded from the run's seed (`select!`
//! without `biased;`), every latency
//! drawn from ChaCha8 generators derived from the seed, and only ordered
//! maps. Wire events (`RunOptions::keep_wire`) are logged by each stream's
//! [`LineTap`]. What this backend does not model: random packet loss.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use games::env::{Env, Listener};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::engine::harness::{host_rng, NetConfig};
use crate::engine::tap::LineTap;
use crate::engine::trace::Trace;

pub(crate) mod choice;
pub(crate) mod executor;
mod fingerprint;
mod pipe;

use executor::TaskKey;
#[cfg(test)]
pub use pipe::PIPE_BYTES_MAX;
use pipe::{lock, LatencyRange, Pipe};
pub use pipe::{FastStream, LinkState};

/// Room the event formatting buffer starts with (a BOARD line is about
/// 60 bytes); it grows to the longest event and is kept.
const EVENT_BYTES_TYPICAL: usize = 64;

thread_local! {
    /// Where [`FastEnv::record`] formats each event before copying it out.
    static EVENT_SCRATCH: std::cell::RefCell<String> =
        std::cell::RefCell::new(String::with_capacity(EVENT_BYTES_TYPICAL));
}
/// First port handed out for port 0 and for the local end of connections.
pub const EPHEMERAL_PORT_FIRST: u16 = 49152;
/// Tasks a host keeps handles of before the finished ones are swept out.
const HOST_TASKS_SWEEP_AT: usize = 64;
/// Pipes the network keeps (weak) handles of before dropped ones are swept.
const PIPES_SWEEP_AT: usize = 64;

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
                    let tap = LineTap::new(
                        &self.session,
                        stream.local.to_string(),
                        peer.to_string(),
                        &self.net.trace,
                    );
                    stream.set_tap(tap);
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
    /// Each host's index by name: looked up at every connect and session
    /// start (a 1,000-player room has 1,001 hosts), never iterated.
    host_indexes: fnv::FnvHashMap<String, usize>,
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
    host_tasks: Vec<Vec<TaskKey>>,
    /// The class of each host that is interchangeable with others (see
    /// `HostSpec::class`), by host name, for fingerprints. (By name: giving
    /// a host its index here would change the order of addresses.)
    classes: BTreeMap<String, String>,
    /// The host of each session, by its trace name.
    session_hosts: BTreeMap<String, usize>,
}

impl NetState {
    fn host_index(&mut self, name: &str) -> usize {
        if let Some(&index) = self.host_indexes.get(name) {
            return index;
        }
        self.host_indexes.insert(name.to_owned(), self.hosts.len());
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
    fn track(&mut self, host: usize, task: TaskKey) {
        let tasks = &mut self.host_tasks[host];
        if tasks.len() >= HOST_TASKS_SWEEP_AT && tasks.len().is_power_of_two() {
            tasks.retain(|&task| executor::is_alive(task));
        }
        tasks.push(task);
    }

    /// The host an address's host part names, seen from host `from`.
    fn resolve(&self, from: usize, host: &str) -> Option<usize> {
        if matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]") {
            return Some(from);
        }
        if let Some(&index) = self.host_indexes.get(host) {
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

/// The in-memory network of one run, with its trace. Cloning
/// shares it.
#[derive(Clone)]
pub struct FastNet {
    shared: Arc<Mutex<NetState>>,
    /// Wakes connects whose SYN waits on a held link.
    links_changed: Arc<tokio::sync::Notify>,
    trace: Trace,
}

impl FastNet {
    fn new(seed: u64, net: &NetConfig, trace: &Trace) -> FastNet {
        FastNet {
            shared: Arc::new(Mutex::new(NetState {
                hosts: Vec::new(),
                host_indexes: fnv::FnvHashMap::default(),
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
                classes: BTreeMap::new(),
                session_hosts: BTreeMap::new(),
            })),
            links_changed: Arc::new(tokio::sync::Notify::new()),
            trace: trace.clone(),
        }
    }

    /// A session named `name` on the host of the same name.
    #[cfg(test)]
    pub fn env(&self, name: &str) -> FastEnv {
        self.session(name, name)
    }

    /// A session named `name` (its trace name) on host `host`: several
    /// sessions may share a host, each with its own connections.
    pub fn session(&self, host: &str, name: &str) -> FastEnv {
        let host = {
            let mut shared = lock(&self.shared);
            let host = shared.host_index(host);
            if !shared.session_hosts.contains_key(name) {
                shared.session_hosts.insert(name.to_owned(), host);
            }
            host
        };
        FastEnv {
            name: name.into(),
            host,
            net: self.clone(),
        }
    }

    /// Marks host `host` as interchangeable with the others of `class`
    /// (see `HostSpec::class`).
    pub fn set_class(&self, host: &str, class: &str) {
        lock(&self.shared)
            .classes
            .insert(host.to_owned(), class.to_owned());
    }

    /// Simulated milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        executor::now_ms()
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
            executor::abort(task);
        }
        for backlog in backlogs {
            let queued = std::mem::take(&mut lock(&backlog).queue);
            drop(queued);
        }
    }

    /// Keeps a task's handle so a crash of `host` (by name) aborts it.
    pub fn track(&self, host: &str, task: TaskKey) {
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
    fn sleep_for(&self, duration_ms: u64) -> executor::Sleep {
        executor::sleep_until(self.now_ms() + duration_ms)
    }
}

impl Env for FastEnv {
    type Stream = FastStream;
    type Listener = FastListener;

    fn now_ms(&self) -> u64 {
        executor::now_ms()
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        executor::sleep_until(deadline_ms).await;
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
                    // The accepting session's tap is set at accept.
                    let server_end = FastStream::new(
                        to_server.clone(),
                        to_client.clone(),
                        server_addr,
                        client_addr,
                        None,
                    );
                    let client_end = FastStream::new(
                        to_client,
                        to_server,
                        client_addr,
                        server_addr,
                        LineTap::new(
                            &self.name,
                            client_addr.to_string(),
                            server_addr.to_string(),
                            &self.net.trace,
                        ),
                    );
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
        // Kept per host so a crash aborts it.
        let task = executor::spawn_detached(task);
        lock(&self.net.shared).track(self.host, task);
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        // Formatted into a buffer kept for the thread's runs, then copied
        // into a string of exactly its length: one allocation per event,
        // and a 1,000-player room's half million lines take only the
        // bytes they need (a string grown while formatting keeps its
        // slack for the whole run, fresh memory for every game).
        let text = match event.as_str() {
            Some(text) => text.to_owned(),
            None => EVENT_SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                let _ = std::fmt::Write::write_fmt(&mut *scratch, event);
                scratch.as_str().to_owned()
            }),
        };
        self.net.trace.record(self.now_ms(), &self.name, text);
    }

    fn record_line(&self, direction: games::env::LineDirection, line: &str) {
        self.net
            .trace
            .record(self.now_ms(), &self.name, direction.with_line(line));
    }
}

/// Runs `body` on a fresh scheduler whose clock starts at 0 ms, with an
/// in-memory network configured from `net` and tokio's RNG seeded from
/// `seed`. Idle time is skipped: the clock jumps to the next timer
/// whenever every task waits.
///
/// A body that waits on nothing but pipes with no timer pending would wait
/// forever; the scheduler panics then. Put a deadline on it (as
/// [`crate::engine::fast_hosts::Fast`] does).
pub fn simulate<T, F, Body>(seed: u64, net: &NetConfig, trace: &Trace, body: Body) -> T
where
    Body: FnOnce(FastNet) -> F,
    F: Future<Output = T>,
{
    // The runtime only lends its seeded RNG (for `select!`) and its
    // context (for `tokio::sync`); it has no timer driver, so a stray
    // `tokio::time` call fails loudly. The scheduler runs inside one poll
    // of it, unconstrained by tokio's cooperative budget, which would
    // otherwise run out after 128 operations and never be refilled.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()))
        .build()
        .expect("a current-thread runtime can be built");
    runtime.block_on(tokio::task::unconstrained(async {
        executor::block_on(async {
            let network = FastNet::new(seed, net, trace);
            if executor::wants_fingerprints() {
                executor::set_fingerprint_hook(network.fingerprint_hook());
            }
            body(network).await
        })
    }))
}

pub use crate::engine::fast_hosts::OnFastBackend;
