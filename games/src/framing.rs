//! Line framing shared by every game: bytes in, typed line events out.
//!
//! One message is one `\n`-terminated line; a `\r` before the `\n` is dropped
//! so telnet works. A line longer than [`LINE_BYTES_MAX`] is an error that
//! ends the connection; a line that is not UTF-8 is reported as such and the
//! stream goes on. The splitting itself is tokio-util's `LinesCodec`
//! with a maximum length; this module only adds the protocol's rules on
//! top of it.

use bytes::BytesMut;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// The longest line, in bytes before the terminator, that any peer may send.
pub const LINE_BYTES_MAX: usize = 1024;

/// What the reader side of a connection produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete UTF-8 line without its terminator (never empty).
    Line(String),
    /// A complete line that was not valid UTF-8; it is dropped.
    InvalidUtf8,
}

/// A framing failure that ends the connection.
#[derive(Debug)]
pub enum FrameError {
    /// More than [`LINE_BYTES_MAX`] bytes arrived without a terminator.
    LineTooLong,
    Io(std::io::Error),
}

impl From<std::io::Error> for FrameError {
    fn from(error: std::io::Error) -> Self {
        FrameError::Io(error)
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::LineTooLong => write!(f, "line longer than {LINE_BYTES_MAX} bytes"),
            FrameError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The protocol's line codec: decodes [`Frame`]s, encodes `String` lines.
#[derive(Debug)]
pub struct LineCodec {
    inner: LinesCodec,
    line_bytes_max: usize,
}

impl LineCodec {
    /// Reads lines of at most [`LINE_BYTES_MAX`] bytes: what every server
    /// reads from its clients.
    pub fn new() -> Self {
        Self::reading_up_to(LINE_BYTES_MAX)
    }

    /// Reads lines of at most `line_bytes_max` bytes: for a client whose
    /// server may send a longer line (a `START` naming every player).
    pub fn reading_up_to(line_bytes_max: usize) -> Self {
        // One extra byte so that a maximal line followed by "\r\n" still fits;
        // the exact limit is checked after the `\r` is dropped.
        Self {
            inner: LinesCodec::new_with_max_length(line_bytes_max + 1),
            line_bytes_max,
        }
    }

    /// One line out of `buf`, `\r` dropped: `Ok(None)` for an empty line.
    /// tokio-util's `LinesCodec` splits (its search for the `\n` is a
    /// `memchr`; the general-delimiter codec used before tested every byte
    /// against a list of delimiters, a tenth of a 1,000-player room's CPU).
    fn split(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Frame>>, FrameError> {
        let before_bytes = buf.len();
        // The last byte of a line one byte over the limit: whether it is
        // the `\r` that brings the line back to the limit. Read now, since
        // a line that is not UTF-8 is gone from `buf` when we learn so.
        let byte_over_limit = buf.get(self.line_bytes_max).copied();
        match self.inner.decode(buf) {
            Ok(None) => Ok(None),
            Ok(Some(line)) if line.len() > self.line_bytes_max => Err(FrameError::LineTooLong),
            Ok(Some(line)) if line.is_empty() => Ok(Some(None)),
            Ok(Some(line)) => Ok(Some(Some(Frame::Line(line)))),
            Err(LinesCodecError::MaxLineLengthExceeded) => Err(FrameError::LineTooLong),
            // The codec's only error besides the length: the line it took
            // out of `buf` (with its `\n`) is not UTF-8.
            Err(LinesCodecError::Io(_)) => {
                let taken_bytes = before_bytes - buf.len() - 1;
                let over_limit =
                    taken_bytes > self.line_bytes_max && byte_over_limit != Some(b'\r');
                if over_limit {
                    Err(FrameError::LineTooLong)
                } else {
                    Ok(Some(Some(Frame::InvalidUtf8)))
                }
            }
        }
    }
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Empty lines are skipped without an answer, so keep splitting until a
        // non-empty line or the end of what has arrived.
        loop {
            match self.split(buf)? {
                None => return Ok(None),
                Some(Some(frame)) => return Ok(Some(frame)),
                Some(None) => {}
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                // A peer that vanished mid-line did not send that line: the
                // unterminated rest is dropped rather than acted on.
                buf.clear();
                Ok(None)
            }
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = FrameError;

    fn encode(&mut self, line: String, buf: &mut BytesMut) -> Result<(), FrameError> {
        debug_assert!(!line.contains('\n'), "a line never contains its terminator");
        buf.reserve(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\n");
        Ok(())
    }
}

/// Bytes one read may take from the socket: a buffer on the stack of the
/// task while it reads, never kept in the connection. Big enough for a few
/// lines at a time, so a pipelining client costs few reads.
pub const READ_CHUNK_BYTES: usize = 4096;

/// Reads [`Frame`]s from a byte stream, like tokio-util's `FramedRead`, but
/// holds no buffer while idle: bytes are read into a buffer on the stack and
/// kept on the heap only while they hold an unfinished line (or lines not
/// yet taken); once everything read is taken, that memory is released. An
/// idle server connection thus costs no read buffer.
#[derive(Debug)]
pub struct LineReader<R> {
    read: R,
    codec: LineCodec,
    pending: BytesMut,
    ended: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(read: R, codec: LineCodec) -> Self {
        Self {
            read,
            codec,
            pending: BytesMut::new(),
            ended: false,
        }
    }

    /// The next frame; `None` once the stream has ended (an unterminated
    /// tail is dropped, as [`LineCodec::decode_eof`] says). After an error
    /// the caller stops reading.
    pub async fn next(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            if self.ended {
                return self.codec.decode_eof(&mut self.pending).transpose();
            }
            if let Some(frame) = self.codec.decode(&mut self.pending).transpose() {
                return Some(frame);
            }
            if self.pending.is_empty() && self.pending.capacity() > 0 {
                self.pending = BytesMut::new();
            }
            let Self { read, pending, .. } = self;
            let read = std::future::poll_fn(|cx| {
                // Uninitialised: the read fills what it returns, and zeroing
                // 4 KiB before every read showed in the servers' profiles.
                let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
                let mut buf = ReadBuf::uninit(&mut chunk);
                match Pin::new(&mut *read).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        pending.extend_from_slice(buf.filled());
                        Poll::Ready(Ok(buf.filled().len()))
                    }
                    Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            match read {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(error) => return Some(Err(FrameError::Io(error))),
            }
        }
    }

    /// The stream, for draining what is left.
    pub fn into_inner(self) -> R {
        self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Result<Frame, String>> {
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(error) => {
                    out.push(Err(error.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn carriage_returns_and_empty_lines_are_dropped() {
        assert_eq!(
            decode_all(b"L\r\n\n\r\nQ\n"),
            vec![Ok(Frame::Line("L".into())), Ok(Frame::Line("Q".into()))]
        );
    }

    #[test]
    fn invalid_utf8_is_reported_and_the_stream_goes_on() {
        assert_eq!(
            decode_all(b"\xff\xfe\nL\n"),
            vec![Ok(Frame::InvalidUtf8), Ok(Frame::Line("L".into()))]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes_and_one_more_byte_fails() {
        let mut exact = vec![b'a'; LINE_BYTES_MAX];
        exact.extend_from_slice(b"\r\n");
        assert_eq!(
            decode_all(&exact),
            vec![Ok(Frame::Line("a".repeat(LINE_BYTES_MAX)))]
        );
        let mut over = vec![b'a'; LINE_BYTES_MAX + 1];
        over.push(b'\n');
        assert!(matches!(decode_all(&over)[..], [Err(_)]));
        let endless = vec![b'a'; LINE_BYTES_MAX * 3];
        assert!(matches!(decode_all(&endless)[..], [Err(_)]));
    }

    #[tokio::test]
    async fn a_line_reader_reads_lines_split_anywhere_and_releases_its_buffer_between_them() {
        let (mut client, server) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            client
                .write_all(b"L\r\n\nQ hello\n\xff\nhalf")
                .await
                .unwrap();
        });
        let mut reader = LineReader::new(server, LineCodec::new());
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            Frame::Line("L".into())
        );
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            Frame::Line("Q hello".into())
        );
        assert_eq!(reader.next().await.unwrap().unwrap(), Frame::InvalidUtf8);
        writer.await.unwrap();
        assert!(reader.next().await.is_none(), "the tail is not a line");
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = LineReader::new(server, LineCodec::new());
        tokio::io::AsyncWriteExt::write_all(&mut client, b"L\n")
            .await
            .unwrap();
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            Frame::Line("L".into())
        );
        let idle = tokio::time::timeout(std::time::Duration::from_millis(10), reader.next());
        assert!(idle.await.is_err(), "nothing more has come");
        assert_eq!(
            reader.pending.capacity(),
            0,
            "an idle reader holds no buffer"
        );
        let mut endless = vec![b'a'; LINE_BYTES_MAX * 3];
        endless.push(b'\n');
        let (mut client, server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = tokio::io::AsyncWriteExt::write_all(&mut client, &endless).await;
        });
        let mut reader = LineReader::new(server, LineCodec::new());
        assert!(matches!(
            reader.next().await,
            Some(Err(FrameError::LineTooLong))
        ));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_held_to_the_same_limit() {
        let mut exact = vec![0xff; LINE_BYTES_MAX];
        exact.extend_from_slice(b"\r\nL\n");
        assert_eq!(
            decode_all(&exact),
            vec![Ok(Frame::InvalidUtf8), Ok(Frame::Line("L".into()))]
        );
        let mut over = vec![0xff; LINE_BYTES_MAX + 1];
        over.extend_from_slice(b"\nL\n");
        assert_eq!(
            decode_all(&over),
            vec![Err(FrameError::LineTooLong.to_string())]
        );
        let mut over_with_return = vec![0xff; LINE_BYTES_MAX + 1];
        over_with_return.extend_from_slice(b"\r\nL\n");
        assert_eq!(
            decode_all(&over_with_return),
            vec![Err(FrameError::LineTooLong.to_string())]
        );
    }

    #[test]
    fn an_unterminated_tail_at_end_of_stream_is_not_a_line() {
        assert_eq!(
            decode_all(b"L\nhalf a li"),
            vec![Ok(Frame::Line("L".into()))]
        );
    }
}
