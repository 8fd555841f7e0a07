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
