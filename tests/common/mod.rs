//! Helpers shared by the integration tests: a raw line client (what `nc`
//! does), locating the built binaries, and bounded waits.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long a test waits for one expected line before failing.
pub const LINE_WAIT: Duration = Duration::from_secs(10);

/// A plain TCP client that writes raw bytes and reads lines, like `nc`.
pub struct RawClient {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl RawClient {
    pub async fn connect(addr: &str) -> RawClient {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the test server");
        let (read_half, write_half) = stream.into_split();
        RawClient {
            reader: BufReader::new(read_half),
            writer: write_half,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .await
            .expect("write to the test server");
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// The next line without its terminator, or `None` at end of stream.
    pub async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(LINE_WAIT, self.reader.read_line(&mut line))
            .await
            .expect("the server answered in time");
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
        }
    }

    /// The next line, which must exist.
    pub async fn expect_line(&mut self) -> String {
        self.line()
            .await
            .expect("a line, not the end of the stream")
    }
}

/// Path of a binary built by `cargo build --bins` next to the test binary.
pub fn binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (make test does)",
        path.display()
    );
    path
}

/// A child process that is killed and reaped when the test lets go of it,
/// pass or fail, so no test leaves a server running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How soon after SIGINT or SIGTERM a server must have exited (the
/// protocol's promise; see `conn::SHUTDOWN_FLUSH_MS`).
pub const SHUTDOWN_EXIT_WAIT: Duration = Duration::from_secs(1);

/// Starts a server binary with `args`; returns it and the addresses it
/// announces on its first `lines` stdout lines.
pub fn start_server_binary(name: &str, args: &[&str], lines: usize) -> (KillOnDrop, Vec<String>) {
    use std::io::BufRead;
    let mut server = KillOnDrop(
        std::process::Command::new(binary(name))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start {name}: {error}")),
    );
    let mut stdout = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let addrs = (0..lines)
        .map(|_| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("{name} announced {line:?}"))
                .to_owned()
        })
        .collect();
    (server, addrs)
}

/// A blocking client of a server process that has read its first line.
pub fn connect_and_read_first_line(
    addr: &str,
) -> (std::io::BufReader<std::net::TcpStream>, String) {
    use std::io::BufRead;
    let stream = std::net::TcpStream::connect(addr).expect("connect to the server process");
    stream.set_read_timeout(Some(LINE_WAIT)).unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("a first line");
    (reader, line.trim_end().to_owned())
}

/// Sends `signal` (`INT` or `TERM`) to `server` and checks the shutdown
/// promise: the server exits with status 0 within [`SHUTDOWN_EXIT_WAIT`],
/// and every client in `clients` reads exactly `BYE server-shutdown`
/// followed by the end of the stream.
pub fn signal_shuts_down_gracefully(
    server: &mut KillOnDrop,
    signal: &str,
    clients: Vec<std::io::BufReader<std::net::TcpStream>>,
) {
    use std::io::BufRead;
    let pid = server.0.id().to_string();
    let sent = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid}");
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            sent.elapsed() < SHUTDOWN_EXIT_WAIT,
            "still running {SHUTDOWN_EXIT_WAIT:?} after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        exit.code(),
        Some(0),
        "exit status after SIG{signal}: {exit}"
    );
    for (index, mut client) in clients.into_iter().enumerate() {
        let mut rest = Vec::new();
        loop {
            let mut line = String::new();
            match client.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => rest.push(line.trim_end().to_owned()),
                Err(error) => panic!("client {index} after SIG{signal}: {error} (read {rest:?})"),
            }
        }
        assert_eq!(
            rest,
            vec!["BYE server-shutdown".to_owned()],
            "client {index} after SIG{signal}"
        );
    }
}
