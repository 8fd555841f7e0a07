//! `tombola-live-server`: live tombola over TCP, on two ports.
//!
//! Numbers are broadcast on the numbers port; players talk (pair, register,
//! claim, play again) on the claims port. A player may join a game that is
//! already running: it gets the numbers drawn so far, then every later one.
//! The first valid claim wins; after a pause the next game starts with the
//! players who said `AGAIN`. It never exits on its own. Try it:
//!
//! ```text
//! tombola-live-server
//! tombola-live-client                      # in other terminals
//! nc 127.0.0.1 2004                        # or by hand: WELCOME p1 <token>, then the draws
//! nc 127.0.0.1 2005                        # HELLO <token>, BOARD 1 2 ... 15, TOMBOLA 1
//! ```

use std::process::ExitCode;

use clap::Parser;
use games::cli::{announce_listening, connections_allowed, seed_or_clock, shutdown_signal};
use games::env::{Env, Listener, TokioEnv};
use games::live::game::ServerConfig;
use games::live::server;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Live tombola server. Connect to the numbers port to get `WELCOME <id>
/// <token>` and, once registered, the draws; on the claims port send `HELLO
/// <token>`, then `BOARD n1 ... n15` (15 distinct numbers in 1..=90), then
/// `TOMBOLA <game>` when every number of your board is drawn. After a game,
/// `AGAIN` keeps you in for the next one, `QUIT` leaves.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address of the numbers port (broadcast); port 0 picks a free port.
    /// The first stdout line is `listening on <ip:port>` for this port.
    #[arg(long, default_value = "127.0.0.1:2004")]
    numbers_addr: String,
    /// Address of the claims port (players talk here); port 0 picks a free
    /// port. The second stdout line is `listening on <ip:port>` for it.
    #[arg(long, default_value = "127.0.0.1:2005")]
    claims_addr: String,
    /// Time between two draws, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
    /// Pause between the end of a game and the next one, in milliseconds;
    /// players answer `AGAIN` during it.
    #[arg(long, default_value_t = 60_000)]
    pause_ms: u64,
    /// Seed of the pairing tokens and the draw order (default: from the
    /// clock, printed to stderr).
    #[arg(long)]
    seed: Option<u64>,
    /// Log every server decision to stderr.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Read (and raise) the descriptor limit before anything is opened.
    let connections_max = connections_allowed(server::CONNECTIONS_MAX);
    let env = if args.verbose {
        TokioEnv::logging("server")
    } else {
        TokioEnv::new()
    };
    let mut listeners = Vec::new();
    for addr in [&args.numbers_addr, &args.claims_addr] {
        match env.bind(addr).await {
            Ok(listener) => listeners.push(listener),
            Err(error) => {
                eprintln!("tombola-live-server: cannot listen on {addr}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let claims = listeners.pop().expect("two listeners");
    let numbers = listeners.pop().expect("two listeners");
    // Before the address is announced: a signal sent as soon as it is
    // known must find its handler installed.
    let shutdown = shutdown_signal();
    for listener in [&numbers, &claims] {
        if let Ok(addr) = listener.local_addr() {
            announce_listening(addr);
        }
    }
    let seed = seed_or_clock(args.seed, "tombola-live-server");
    let config = ServerConfig {
        interval_ms: args.interval_ms,
        pause_ms: args.pause_ms,
        ..ServerConfig::default()
    };
    let rng = ChaCha8Rng::seed_from_u64(seed);
    match server::run_holding(env, numbers, claims, config, rng, connections_max, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tombola-live-server: {error}");
            ExitCode::FAILURE
        }
    }
}
