//! Small helpers the binaries share: the seed a run uses, and printing the
//! bound address the way tests and scripts expect.

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

/// Completes on Ctrl-C (or never, if the signal cannot be installed).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
