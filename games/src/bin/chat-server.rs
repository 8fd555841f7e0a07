//! `chat-server`: the chat room on real TCP.
//!
//! Clients connect, get `WELCOME <ip:port>`, list the room with `L`, send
//! `<ip:port> <message>` to one another, and leave with `Q`. Try it with
//! `chat-server`, then `nc 127.0.0.1 2004` in two other terminals (or
//! `chat-client`). With `--addr 127.0.0.1:0` the port is picked by the
//! system; the first line on stdout always says where it listens.

use clap::Parser;
use games::chat::protocol::ROOM_CLIENTS_MAX;
use games::chat::server::{self, ServerConfig, CONNECTIONS_MAX, OUTBOX_LINES_MAX};
use games::cli::{announce_listening, connections_allowed, shutdown_signal};
use games::env::{Env, Listener, TokioEnv};

/// The chat room server: routes private messages between connected clients.
///
/// Protocol (one line each, see docs/protocol.md): `L` lists the clients,
/// `<ip:port> <message>` sends a message, `Q` leaves. A client that never
/// reads cannot stall the room: messages to it are refused with
/// `ERR recipient-busy` once its queue is full.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:2004")]
    addr: String,
    /// Lines queued per client before messages to it are refused.
    #[arg(long, default_value_t = OUTBOX_LINES_MAX)]
    outbox_lines: usize,
    /// Open connections at once; more are refused with `ERR server-full`
    /// (default: as many as the process may open, at most ROOM_CLIENTS_MAX).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=ROOM_CLIENTS_MAX as u64))]
    connections_max: Option<u64>,
    /// Print every decision (join, leave, route, busy, ...) to stderr.
    #[arg(long)]
    log: bool,
}

// One thread for the room and every connection task. The room is one
// task that touches every message, so on a multi-threaded runtime each
// message costs wake-ups across threads (the room waking writers on the
// workers, readers waking the room), which measured slower: 82-93k routed
// messages/s against 102-139k on one thread (loadgen chat, 1,000 clients,
// back to back on this 2-core machine). The live server stays
// multi-threaded: its draws fan out to thousands of sockets at once, and
// there two workers measured faster.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // Read (and raise) the descriptor limit before anything is opened.
    let allowed = connections_allowed(CONNECTIONS_MAX).min(ROOM_CLIENTS_MAX);
    let connections_max = args.connections_max.map_or(allowed, |max| max as usize);
    let headroom = games::chat::server::REPLY_HEADROOM_LINES;
    if args.outbox_lines <= headroom {
        eprintln!("chat-server: --outbox-lines must be more than {headroom}");
        std::process::exit(2);
    }
    let env = if args.log {
        TokioEnv::logging("chat")
    } else {
        TokioEnv::new()
    };
    let listener = match env.bind(&args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("chat-server: cannot listen on {}: {error}", args.addr);
            std::process::exit(1);
        }
    };
    // Before the address is announced: a signal sent as soon as it is
    // known must find its handler installed.
    let shutdown = shutdown_signal();
    announce_listening(listener.local_addr()?);
    let config = ServerConfig {
        outbox_lines_max: args.outbox_lines,
        connections_max,
    };
    server::run(env, listener, config, shutdown).await
}
