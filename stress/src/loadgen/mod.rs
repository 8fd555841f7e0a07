//! The load generator: bots over real TCP against a server on this
//! machine, and what they measure.
//!
//! This module owns what both workloads share: starting a server process
//! and finding its ports, its resident memory, the open-files limit, and
//! percentiles. [`live`] is the draw fan-out workload, [`chat`] the private
//! message routing one, and [`reference`] the least-possible-work servers
//! the real ones are compared with, in the same run and by the same bots.
//! Everything is bounded in count and time: every wait has a deadline and a
//! run stops by itself.

pub mod chat;
pub mod idle;
pub mod live;
pub mod reference;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a started server may take to say where it listens.
const SERVER_START_TIMEOUT_MS: u64 = 10_000;
/// Connections being opened at once: the listener's backlog is finite, and
/// thousands of simultaneous SYNs would measure the backlog, not the server.
pub const CONNECTS_IN_FLIGHT_MAX: usize = 64;

/// Raises this process's open-files soft limit to the hard limit (each bot
/// holds one or two sockets) and returns the new soft limit.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Only loopback on 127.0.0.1: the tool is for this machine's servers.
pub fn check_local(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip() == std::net::Ipv4Addr::LOCALHOST {
        Ok(addr)
    } else {
        Err(format!("{addr}: only 127.0.0.1 addresses are allowed"))
    }
}

/// A server process this tool started; it is killed when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// Where it listens, in the order it announced.
    pub addrs: Vec<SocketAddr>,
    pub name: String,
}

impl Server {
    /// Starts `program args...` and reads `listening on <addr>` lines from
    /// its stdout until it announced `listeners` addresses. (A thread reads
    /// the pipe: the workspace's tokio has no process feature, and one
    /// blocking reader per server is cheap.)
    pub async fn start(
        name: &str,
        program: &std::path::Path,
        args: &[String],
        listeners: usize,
    ) -> Result<Server, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", program.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (found, mut addrs_found) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            // Every line is read to the end, so the server never blocks on
            // a full pipe; the first addresses go back to the caller.
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = found.send(addr.trim().to_owned());
                }
            }
        });
        let mut server = Server {
            child,
            pid,
            addrs: Vec::new(),
            name: name.to_owned(),
        };
        let deadline = Duration::from_millis(SERVER_START_TIMEOUT_MS);
        while server.addrs.len() < listeners {
            let addr = tokio::time::timeout(deadline, addrs_found.recv())
                .await
                .map_err(|_| format!("{name} did not say where it listens in time"))?
                .ok_or_else(|| format!("{name} exited before listening"))?;
            let addr = addr
                .parse()
                .map_err(|_| format!("{name}: bad listening address {addr:?}"))?;
            server.addrs.push(addr);
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process now and at its peak, in KiB, from
/// `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn resident_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn format_rss(pid: Option<u32>) -> String {
    match pid.and_then(resident_kib) {
        Some((now, peak)) => format!(
            "{:.1} MiB (peak {:.1} MiB)",
            now as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
        None => "unknown (no --server-pid)".into(),
    }
}

/// The 50th and 99th percentiles and the maximum of some durations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub count: usize,
}

impl Percentiles {
    /// Nearest-rank percentiles; all zero when there is nothing.
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |percent: usize| {
            let index = (samples.len() * percent).div_ceil(100).max(1) - 1;
            samples[index]
        };
        Percentiles {
            p50: rank(50),
            p99: rank(99),
            max: samples[samples.len() - 1],
            count: samples.len(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.count
        )
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(length: u64, message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(length);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let percentiles = Percentiles::of(samples);
        assert_eq!(percentiles.p50, Duration::from_millis(50));
        assert_eq!(percentiles.p99, Duration::from_millis(99));
        assert_eq!(percentiles.max, Duration::from_millis(100));
        assert_eq!(Percentiles::of(vec![]).count, 0);
        let one = Percentiles::of(vec![Duration::from_millis(7)]);
        assert_eq!((one.p50, one.p99), (Duration::from_millis(7), one.max));
    }

    #[test]
    fn only_loopback_on_127_0_0_1_is_allowed() {
        assert!(check_local("127.0.0.1:2004".parse().unwrap()).is_ok());
        assert!(check_local("10.0.0.1:2004".parse().unwrap()).is_err());
        assert!(check_local("0.0.0.0:2004".parse().unwrap()).is_err());
    }
}
