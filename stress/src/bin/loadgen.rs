//! `loadgen`: bots over real TCP against a live tombola or chat server on
//! this machine, with the least-possible-work reference servers to compare
//! with, and idle connections for the memory each costs. See
//! `loadgen --help` and `loadgen live --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use stress::loadgen::{self, chat, format_rss, idle, live, reference, Server};

/// Load generator for the game servers, over real TCP on 127.0.0.1.
///
/// `live` connects N players to a live tombola server and measures
/// registration time, the fan-out spread of each draw (first to last
/// player's receipt: p50, p99, max) and each player's lag behind the first
/// receipt. `chat` connects N clients to a chat server, each keeping
/// --in-flight private messages to random peers unanswered, and measures
/// messages routed per second. Both report refusals and the server's
/// resident memory (from /proc/<pid>/status, with --server-pid or when
/// loadgen starts the server itself). `idle` opens N connections that say
/// nothing and reports the server's memory per connection.
///
/// The target is one of: a running server (--addr / --numbers-addr and
/// --claims-addr, optionally --server-pid), a server binary loadgen starts
/// on free ports (--server-bin), the least-possible-work reference
/// (--reference), or --compare: the server binary and the reference one
/// after the other in the same run, with the ratio real/reference.
///
/// Every run is bounded in count and time and stops by itself.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live tombola fan-out: N players, timed receipt of every draw.
    Live(LiveArgs),
    /// Chat routing: N clients sending private messages to random peers.
    Chat(ChatArgs),
    /// Idle connections: the growth of a server's resident memory per
    /// connection that is greeted and then says nothing.
    Idle(IdleArgs),
    /// Run the least-possible-work live tombola server (what --reference
    /// starts): one task writes each draw to every socket.
    ReferenceLive {
        #[arg(long, default_value = "127.0.0.1:0")]
        numbers_addr: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:0")]
        claims_addr: SocketAddr,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// Run the least-possible-work chat router (what --reference starts):
    /// a reader task per connection, a shared map, unbounded queues,
    /// batched writes.
    ReferenceChat {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

/// Which server a run measures; shared by both workloads.
#[derive(Debug, Args)]
struct TargetArgs {
    /// Start this server binary on free ports (e.g.
    /// target/release/tombola-live-server) and measure it.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// An extra argument for --server-bin (repeat for more).
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// Measure the least-possible-work reference server instead.
    #[arg(long, conflicts_with = "server_bin")]
    reference: bool,
    /// Measure --server-bin, then the reference, and print real/reference.
    #[arg(long, requires = "server_bin")]
    compare: bool,
    /// With a running server: its process id, for its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// How many times to measure (with --compare, real and reference
    /// alternate; the ratio is of the medians).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    rounds: u64,
    /// Give up on a run after this long.
    #[arg(long, default_value_t = 120)]
    timeout_seconds: u64,
    /// Seed for boards and message targets.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
struct LiveArgs {
    /// A running server's numbers port.
    #[arg(long, default_value = "127.0.0.1:2004")]
    numbers_addr: SocketAddr,
    /// A running server's claims port.
    #[arg(long, default_value = "127.0.0.1:2005")]
    claims_addr: SocketAddr,
    /// Players to connect (two connections each).
    #[arg(long, default_value_t = 500)]
    players: usize,
    /// Draws to measure once every player has registered. A game has 90;
    /// the players say AGAIN after each, so more span several games. At
    /// least 100 make p99 more than the maximum.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    draws: u64,
    /// Milliseconds between draws (passed to a server loadgen starts; with
    /// a running server, say what it uses).
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Args)]
struct ChatArgs {
    /// A running chat server.
    #[arg(long, default_value = "127.0.0.1:2004")]
    addr: SocketAddr,
    /// Clients to connect.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Messages each client keeps sent and unanswered.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=200))]
    in_flight: u64,
    /// Seconds of routing to measure, after the warm-up.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Seconds of routing before measuring.
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Args)]
struct IdleArgs {
    /// Start this server binary on a free port and measure it. Without
    /// --server-arg, chat-server, tombola-server and tombola-live-server
    /// are started on port 0 (tombola-server with --players 1000).
    #[arg(long, required_unless_present = "server_pid")]
    server_bin: Option<PathBuf>,
    /// The arguments for --server-bin (repeat for more), instead of the
    /// defaults above; the server must print `listening on <addr>`.
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// A running server instead: its address...
    #[arg(long, default_value = "127.0.0.1:2004")]
    addr: SocketAddr,
    /// ...and its process id.
    #[arg(long, conflicts_with = "server_bin")]
    server_pid: Option<u32>,
    /// Connections measured.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=19_000))]
    connections: u64,
    /// Connections opened before measuring, so that one-time allocations
    /// are not counted.
    #[arg(long, default_value_t = 50)]
    warmup: u64,
}

/// A server to measure: one loadgen started, or one already running.
enum Subject {
    Started(Server),
    Running {
        addrs: Vec<SocketAddr>,
        pid: Option<u32>,
    },
}

impl Subject {
    fn addrs(&self) -> &[SocketAddr] {
        match self {
            Subject::Started(server) => &server.addrs,
            Subject::Running { addrs, .. } => addrs,
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Subject::Started(server) => Some(server.pid),
            Subject::Running { pid, .. } => *pid,
        }
    }

    fn name(&self) -> String {
        match self {
            Subject::Started(server) => format!("{} (pid {})", server.name, server.pid),
            Subject::Running { addrs, .. } => format!("server at {addrs:?}"),
        }
    }
}

/// The kinds of server a run may start.
#[derive(Clone, Copy)]
enum Kind {
    Real,
    Reference,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ReferenceLive {
            numbers_addr,
            claims_addr,
            interval_ms,
        } => {
            serve(async move {
                check(numbers_addr)?;
                check(claims_addr)?;
                reference::serve_live(numbers_addr, claims_addr, interval_ms.max(1))
                    .await
                    .map_err(|error| error.to_string())
            })
            .await
        }
        Command::ReferenceChat { addr } => {
            serve(async move {
                check(addr)?;
                reference::serve_chat(addr)
                    .await
                    .map_err(|error| error.to_string())
            })
            .await
        }
        Command::Live(args) => {
            raise_limit();
            run_live(args).await
        }
        Command::Chat(args) => {
            raise_limit();
            run_chat(args).await
        }
        Command::Idle(args) => {
            raise_limit();
            run_idle(args).await
        }
    };
    if let Err(error) = result {
        eprintln!("loadgen: {error}");
        std::process::exit(1);
    }
}

async fn serve(
    server: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    raise_limit();
    server.await
}

fn check(addr: SocketAddr) -> Result<SocketAddr, String> {
    loadgen::check_local(addr)
}

fn raise_limit() {
    match loadgen::raise_open_files_limit() {
        Ok(limit) => eprintln!("loadgen: open files limit {limit}"),
        Err(error) => eprintln!("loadgen: cannot raise the open files limit: {error}"),
    }
}

/// How the idle workload starts the server binaries it knows.
fn idle_server_args(name: &str) -> Option<Vec<String>> {
    let args: &[&str] = match name {
        "chat-server" => &["--addr", "127.0.0.1:0"],
        "tombola-server" => &["--addr", "127.0.0.1:0", "--players", "1000"],
        "tombola-live-server" => &[
            "--numbers-addr",
            "127.0.0.1:0",
            "--claims-addr",
            "127.0.0.1:0",
        ],
        _ => return None,
    };
    Some(args.iter().map(|arg| arg.to_string()).collect())
}

async fn run_idle(args: IdleArgs) -> Result<(), String> {
    let (started, addr, pid, name) = match &args.server_bin {
        Some(program) => {
            let name = program
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let server_args = if args.server_arg.is_empty() {
                idle_server_args(&name).ok_or_else(|| {
                    format!("{name}: say how to start it on port 0 with --server-arg")
                })?
            } else {
                args.server_arg.clone()
            };
            let server = Server::start(&name, program, &server_args, 1).await?;
            let (addr, pid) = (server.addrs[0], server.pid);
            (Some(server), addr, pid, name)
        }
        None => {
            let pid = args.server_pid.expect("clap requires --server-pid here");
            (
                None,
                check(args.addr)?,
                pid,
                format!("server at {}", args.addr),
            )
        }
    };
    let workload = idle::Workload {
        addr,
        pid,
        warmup: args.warmup as usize,
        connections: args.connections as usize,
    };
    let outcome = idle::run(&workload).await?;
    println!(
        "idle connections: {name} (pid {pid}), {} connections after {} warm-up",
        args.connections, args.warmup
    );
    println!(
        "  held          {}; refused {}{}",
        outcome.held,
        outcome.refused,
        outcome
            .first_refusal
            .as_ref()
            .map(|refusal| format!(" (first: {refusal})"))
            .unwrap_or_default()
    );
    println!(
        "  server RSS    {} KiB -> {} KiB: {:.2} KiB per connection",
        outcome.rss_before_kib,
        outcome.rss_after_kib,
        outcome.kib_per_connection()
    );
    drop(started);
    Ok(())
}

/// What a run measures, in order: with --compare, real and reference
/// alternate for each round.
fn kinds(target: &TargetArgs) -> Vec<Option<Kind>> {
    let one = if target.reference {
        vec![Some(Kind::Reference)]
    } else if target.compare {
        vec![Some(Kind::Real), Some(Kind::Reference)]
    } else if target.server_bin.is_some() {
        vec![Some(Kind::Real)]
    } else {
        vec![None]
    };
    (0..target.rounds).flat_map(|_| one.clone()).collect()
}

async fn subject(
    kind: Option<Kind>,
    target: &TargetArgs,
    real_args: Vec<String>,
    reference_args: Vec<String>,
    running: Vec<SocketAddr>,
) -> Result<Subject, String> {
    let listeners = running.len();
    match kind {
        None => {
            for addr in &running {
                check(*addr)?;
            }
            Ok(Subject::Running {
                addrs: running,
                pid: target.server_pid,
            })
        }
        Some(Kind::Real) => {
            let program = target.server_bin.clone().expect("--server-bin is given");
            let name = program
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut args = real_args;
            args.extend(target.server_arg.iter().cloned());
            Server::start(&name, &program, &args, listeners)
                .await
                .map(Subject::Started)
        }
        Some(Kind::Reference) => {
            let program = std::env::current_exe().map_err(|error| error.to_string())?;
            Server::start("reference", &program, &reference_args, listeners)
                .await
                .map(Subject::Started)
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn run_live(args: LiveArgs) -> Result<(), String> {
    let interval = args.interval_ms.to_string();
    let real_args = [
        "--numbers-addr",
        "127.0.0.1:0",
        "--claims-addr",
        "127.0.0.1:0",
        "--interval-ms",
        &interval,
        "--pause-ms",
        "1000",
        "--seed",
        "1",
    ]
    .map(String::from)
    .to_vec();
    let reference_args = [
        "reference-live",
        "--numbers-addr",
        "127.0.0.1:0",
        "--claims-addr",
        "127.0.0.1:0",
        "--interval-ms",
        &interval,
    ]
    .map(String::from)
    .to_vec();
    let mut p99 = [Vec::new(), Vec::new()];
    let mut p50 = [Vec::new(), Vec::new()];
    for kind in kinds(&args.target) {
        let subject = subject(
            kind,
            &args.target,
            real_args.clone(),
            reference_args.clone(),
            vec![args.numbers_addr, args.claims_addr],
        )
        .await?;
        let workload = live::Workload {
            numbers_addr: subject.addrs()[0],
            claims_addr: subject.addrs()[1],
            players: args.players,
            draws: args.draws,
            interval_ms: args.interval_ms,
            seed: args.target.seed,
        };
        let outcome =
            live::run(&workload, Duration::from_secs(args.target.timeout_seconds)).await?;
        println!(
            "live fan-out: {}, {} players, {} ms between draws",
            subject.name(),
            args.players,
            args.interval_ms
        );
        println!(
            "  registration  {} registered in {:.2} s; per player {}",
            outcome.registered,
            outcome.registration_all.as_secs_f64(),
            outcome.registration_each
        );
        println!(
            "  refused       {}{}; lost after registering {}",
            outcome.refused,
            outcome
                .first_refusal
                .as_ref()
                .map(|refusal| format!(" (first: {refusal})"))
                .unwrap_or_default(),
            outcome.lost
        );
        println!(
            "  draws         {} measured, {} incomplete",
            outcome.draws_measured, outcome.draws_incomplete
        );
        println!("  spread        {}", outcome.spread);
        println!("  lag           {}", outcome.lag);
        println!("  server RSS    {}", format_rss(subject.pid()));
        if let Some(kind) = kind {
            let slot = matches!(kind, Kind::Reference) as usize;
            p99[slot].push(outcome.spread.p99.as_secs_f64());
            p50[slot].push(outcome.spread.p50.as_secs_f64());
        }
        drop(subject);
    }
    if args.target.compare {
        println!(
            "live fan-out ratio real/reference at {} players: spread p99 {:.2}x, p50 {:.2}x",
            args.players,
            median(p99[0].clone()) / median(p99[1].clone()),
            median(p50[0].clone()) / median(p50[1].clone()),
        );
    }
    Ok(())
}

async fn run_chat(args: ChatArgs) -> Result<(), String> {
    let real_args = ["--addr", "127.0.0.1:0"].map(String::from).to_vec();
    let reference_args = ["reference-chat", "--addr", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    let mut rates = [Vec::new(), Vec::new()];
    for kind in kinds(&args.target) {
        let subject = subject(
            kind,
            &args.target,
            real_args.clone(),
            reference_args.clone(),
            vec![args.addr],
        )
        .await?;
        let workload = chat::Workload {
            addr: subject.addrs()[0],
            clients: args.clients,
            in_flight: args.in_flight as usize,
            warmup: Duration::from_secs(args.warmup_seconds),
            window: Duration::from_secs(args.seconds),
            seed: args.target.seed,
        };
        let outcome =
            chat::run(&workload, Duration::from_secs(args.target.timeout_seconds)).await?;
        println!(
            "chat routing: {}, {} clients, {} in flight each",
            subject.name(),
            args.clients,
            args.in_flight
        );
        println!(
            "  connect       {} connected in {:.2} s; per client {}",
            outcome.connected,
            outcome.connect_all.as_secs_f64(),
            outcome.connect_each
        );
        println!(
            "  refused       {}{}; connections lost {}",
            outcome.refused,
            outcome
                .first_refusal
                .as_ref()
                .map(|refusal| format!(" (first: {refusal})"))
                .unwrap_or_default(),
            outcome.lost
        );
        println!(
            "  routed        {:.0} messages/s delivered, {:.0} SENT/s over {:.1} s",
            outcome.delivered_per_second,
            outcome.sent_per_second,
            outcome.window.as_secs_f64()
        );
        println!(
            "  refusals      {} recipient-busy, {} other",
            outcome.busy, outcome.other_refusals
        );
        println!("  server RSS    {}", format_rss(subject.pid()));
        if let Some(kind) = kind {
            rates[matches!(kind, Kind::Reference) as usize].push(outcome.delivered_per_second);
        }
        drop(subject);
    }
    if args.target.compare {
        println!(
            "chat routing ratio real/reference at {} clients: {:.2}x messages/s",
            args.clients,
            median(rates[0].clone()) / median(rates[1].clone())
        );
    }
    Ok(())
}
