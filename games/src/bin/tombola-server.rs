//! `tombola-server`: lock-step tombola over TCP.
//!
//! Waits for `--players` boards, then draws a number every `--interval-ms`
//! and waits for every player's answer; every valid claim on the same draw
//! wins. It never exits on its own. Try it:
//!
//! ```text
//! tombola-server --addr 127.0.0.1:8000 --players 2
//! tombola-client --addr 127.0.0.1:8000          # in two other terminals
//! nc 127.0.0.1 8000                             # or by hand (see README)
//! ```

use std::process::ExitCode;

use clap::Parser;
use games::cli::{announce_listening, connections_allowed, seed_or_clock, shutdown_signal};
use games::env::{Env, Listener, TokioEnv};
use games::tombola::game::{ServerConfig, PLAYERS_MAX};
use games::tombola::server;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Lock-step tombola server: a game starts when --players boards are
/// registered; one number is drawn per --interval-ms; every player must
/// answer (ACK or TOMBOLA) within --reply-timeout-ms or is dropped.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the first
    /// stdout line as `listening on <ip:port>`).
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: String,
    /// Players a game waits for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=PLAYERS_MAX as u64))]
    players: u64,
    /// Time between two draws, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// How long a player may take to answer a draw, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    reply_timeout_ms: u64,
    /// Seed of the draw order (default: from the clock, printed to stderr).
    #[arg(long)]
    seed: Option<u64>,
    /// Log every game event to stderr.
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
    let listener = match env.bind(&args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("tombola-server: cannot listen on {}: {error}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    // Before the address is announced: a signal sent as soon as it is
    // known must find its handler installed.
    let shutdown = shutdown_signal();
    if let Ok(addr) = listener.local_addr() {
        announce_listening(addr);
    }
    let seed = seed_or_clock(args.seed, "tombola-server");
    let config = ServerConfig {
        players: args.players as usize,
        interval_ms: args.interval_ms,
        reply_timeout_ms: args.reply_timeout_ms,
        draw_prefix: Vec::new(),
        injected_bug: None,
        ..ServerConfig::default()
    };
    match server::run_holding(
        env,
        listener,
        config,
        ChaCha8Rng::seed_from_u64(seed),
        connections_max,
        shutdown,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tombola-server: {error}");
            ExitCode::FAILURE
        }
    }
}
