//! Small helpers the binaries share: the seed a run uses, printing the
//! bound address the way tests and scripts expect, and a tombola board on
//! the command line and on screen.

use std::io::Write;
use std::net::SocketAddr;

/// The seed to use: the one given, or one made from the clock and printed
/// to stderr so that the run can be repeated. Only binaries call this; the
/// simulation always passes its seed explicitly.
pub fn seed_or_clock(seed: Option<u64>, program: &str) -> u64 {
    seed.unwrap_or_else(|| {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        eprintln!("{program}: using --seed {seed}");
        seed
    })
}

/// Prints `listening on <ip:port>` on stdout and flushes, so a script that
/// started the server on port 0 can read the real port from the first line.
pub fn announce_listening(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {addr}");
    let _ = stdout.flush();
}

/// Installs handlers for SIGINT and SIGTERM now, and returns a future that
/// completes on the first of them. Servers call it before they announce
/// their address, so a signal sent as soon as the address is known is
/// always caught (never the default action, which kills the process). If
/// a handler cannot be installed, that signal keeps its default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    async move {
        tokio::select! {
            biased;
            Some(_) = next_signal(&mut interrupt) => {}
            Some(_) = next_signal(&mut terminate) => {}
            else => std::future::pending::<()>().await,
        }
    }
}

async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => None,
    }
}

/// Descriptors a server keeps for itself beyond its connections: stdio
/// (3), its listeners (up to 2), the runtime's own (epoll, wake-up and
/// signal pipes, a few), a log file, and spare for a connection being
/// accepted while full. Without this margin a full server could not even
/// accept a connection to refuse it.
pub const DESCRIPTORS_RESERVED: usize = 32;

/// Raises this process's soft limit on open files to its hard limit and
/// returns how many connections a server may hold: that limit less
/// [`DESCRIPTORS_RESERVED`] (and at least 1). Read once at start, before
/// any connection exists; if the limit cannot be read, `fallback`.
pub fn connections_allowed(fallback: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return fallback;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    let open_files = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    open_files.saturating_sub(DESCRIPTORS_RESERVED).max(1)
}

/// Parses `--board "n1 n2 ... n15"` (any whitespace, any order).
pub fn parse_board(text: &str) -> Result<crate::tombola::rules::Board, String> {
    let numbers: Result<Vec<u8>, _> = text.split_whitespace().map(str::parse).collect();
    let numbers = numbers.map_err(|error| format!("not a number list: {error}"))?;
    crate::tombola::rules::Board::new(&numbers).map_err(|error| error.to_string())
}

/// A board on one line, drawn numbers marked `[nn]`, then how many are.
pub fn board_line(
    board: &crate::tombola::rules::Board,
    drawn: &crate::tombola::rules::NumberSet,
) -> String {
    let cells: Vec<String> = board
        .numbers()
        .iter()
        .map(|&number| {
            if drawn.contains(number) {
                format!("[{number:>2}]")
            } else {
                format!(" {number:>2} ")
            }
        })
        .collect();
    let marked = board
        .numbers()
        .iter()
        .filter(|&&number| drawn.contains(number))
        .count();
    format!(
        "{}   {marked}/{}",
        cells.join(""),
        crate::tombola::rules::BOARD_NUMBERS
    )
}
