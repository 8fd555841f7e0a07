//! Line framing shared by every game: bytes in, typed line events out.
//!
//! One message is one `\n`-terminated line; a `\r` before the `\n` is dropped
//! so telnet works. A line longer than [`LINE_BYTES_MAX`] is an error that
//! ends the connection; a line that is not UTF-8 is reported as such and the
//! stream goes on. Lines are split as tokio-util's `LinesCodec` splits
//! them (with a maximum length), by a codec of our own that copies each
//! line out of the buffer once; tokio-util frames the stream around it.

use bytes::BytesMut;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{Decoder, Encoder};

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
///
/// It splits lines as tokio-util's `LinesCodec` (with a maximum length of
/// the limit plus one byte) did, and a property test holds it to that
/// codec, but copies each line straight out of the buffer: `LinesCodec`
/// split the line off as a shared `BytesMut` (a reference count taken and
/// dropped per line), then validated and copied it. Protocol lines are
/// ASCII, which is checked a word at a time; only other lines go through
/// the full UTF-8 check. That was a tenth of a 1,000-player room's
/// clients' work.
#[derive(Debug)]
pub struct LineCodec {
    line_bytes_max: usize,
    /// Bytes at the front of the buffer already searched for a newline
    /// without finding one (the next search starts after them).
    searched_bytes: usize,
    /// After a line over the limit: its bytes are dropped up to its
    /// newline.
    discarding: bool,
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
        Self {
            line_bytes_max,
            searched_bytes: 0,
            discarding: false,
        }
    }

    /// The next line or line event; `Some(None)` is an empty line, which
    /// is skipped.
    fn split(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Frame>>, FrameError> {
        use bytes::Buf;
        // A line may be one byte longer than the limit before its newline,
        // so that a maximal line followed by "\r\n" still fits; the exact
        // limit is checked after the `\r` is dropped.
        let searched_max = self.line_bytes_max + 1;
        loop {
            let read_to = (searched_max + 1).min(buf.len());
            let newline = memchr::memchr(b'\n', &buf[self.searched_bytes..read_to])
                .map(|offset| offset + self.searched_bytes);
            match (self.discarding, newline) {
                (true, Some(index)) => {
                    buf.advance(index + 1);
                    self.discarding = false;
                    self.searched_bytes = 0;
                }
                (true, None) => {
                    buf.advance(read_to);
                    self.searched_bytes = 0;
                    if buf.is_empty() {
                        return Ok(None);
                    }
                }
                (false, Some(index)) => {
                    self.searched_bytes = 0;
                    let line = match &buf[..index] {
                        [line @ .., b'\r'] => line,
                        line => line,
                    };
                    let frame = if line.len() > self.line_bytes_max {
                        Err(FrameError::LineTooLong)
                    } else if line.is_empty() {
                        Ok(Some(None))
                    } else if line.is_ascii() {
                        // SAFETY: every byte is ASCII, so the bytes are UTF-8.
                        let text = unsafe { String::from_utf8_unchecked(with_prefix_room(line)) };
                        Ok(Some(Some(Frame::Line(text))))
                    } else {
                        match String::from_utf8(with_prefix_room(line)) {
                            Ok(text) => Ok(Some(Some(Frame::Line(text)))),
                            Err(_) => Ok(Some(Some(Frame::InvalidUtf8))),
                        }
                    };
                    buf.advance(index + 1);
                    return frame;
                }
                (false, None) if buf.len() > searched_max => {
                    self.discarding = true;
                    return Err(FrameError::LineTooLong);
                }
                (false, None) => {
                    self.searched_bytes = read_to;
                    return Ok(None);
                }
            }
        }
    }
}

/// `line` in a buffer of its own with room for the verb that a recording
/// session puts in front of it ([`crate::env::LINE_PREFIX_BYTES`]), so
/// that a simulation's trace takes the line's own buffer
/// ([`crate::env::Env::record_line_owned`]) instead of copying it.
fn with_prefix_room(line: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(line.len() + crate::env::LINE_PREFIX_BYTES);
    bytes.extend_from_slice(line);
    bytes
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
                self.searched_bytes = 0;
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

    /// The codec this one replaced: tokio-util's `LinesCodec` with the
    /// protocol's rules on top, kept as the reference it must match.
    struct LinesCodecReference {
        inner: tokio_util::codec::LinesCodec,
        line_bytes_max: usize,
    }

    impl LinesCodecReference {
        fn reading_up_to(line_bytes_max: usize) -> Self {
            Self {
                inner: tokio_util::codec::LinesCodec::new_with_max_length(line_bytes_max + 1),
                line_bytes_max,
            }
        }

        fn split(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Frame>>, FrameError> {
            use tokio_util::codec::LinesCodecError;
            let before_bytes = buf.len();
            let byte_over_limit = buf.get(self.line_bytes_max).copied();
            match self.inner.decode(buf) {
                Ok(None) => Ok(None),
                Ok(Some(line)) if line.len() > self.line_bytes_max => Err(FrameError::LineTooLong),
                Ok(Some(line)) if line.is_empty() => Ok(Some(None)),
                Ok(Some(line)) => Ok(Some(Some(Frame::Line(line)))),
                Err(LinesCodecError::MaxLineLengthExceeded) => Err(FrameError::LineTooLong),
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

    impl Decoder for LinesCodecReference {
        type Item = Frame;
        type Error = FrameError;

        fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
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
                    buf.clear();
                    Ok(None)
                }
            }
        }
    }

    /// Feeds `chunks` one after another, decoding all it can after each,
    /// then decodes the end of the stream once. Returns each event with the
    /// bytes left in the buffer after it, up to the first error: a framing
    /// error ends the connection (tokio-util's `FramedRead` ends its stream
    /// after one), so nothing after it is ever read. (After an error, the
    /// reference took an invalid line that followed a dropped long line in
    /// the same call for a long line as well; this codec does not.)
    fn events(
        chunks: &[Vec<u8>],
        codec: &mut impl Decoder<Item = Frame, Error = FrameError>,
    ) -> Vec<(Result<Frame, String>, usize)> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => out.push((Ok(frame), buf.len())),
                    Ok(None) => break,
                    Err(error) => {
                        out.push((Err(error.to_string()), buf.len()));
                        return out;
                    }
                }
            }
        }
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => out.push((Ok(frame), buf.len())),
            Ok(None) => out.push((Err("end".to_owned()), buf.len())),
            Err(error) => out.push((Err(error.to_string()), buf.len())),
        }
        out
    }

    #[test]
    fn after_a_line_over_the_limit_its_rest_is_dropped_and_the_next_line_is_read() {
        let mut codec = LineCodec::reading_up_to(5);
        let mut buf = BytesMut::from(&b"\r\r\r\r\ra\r\n\xff\nok\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::LineTooLong)
        ));
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::InvalidUtf8));
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Line("ok".into()))
        );
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn lines_split_exactly_as_the_lines_codec_with_the_protocol_rules_split_them(
            line_bytes_max in 1usize..12,
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'\n', b'\r', b'a', b'Z', b' ', 0xff, 0xc3, 0xa9]),
                    0..24,
                ),
                0..6,
            ),
        ) {
            let got = events(&chunks, &mut LineCodec::reading_up_to(line_bytes_max));
            let reference = events(&chunks, &mut LinesCodecReference::reading_up_to(line_bytes_max));
            proptest::prop_assert_eq!(got, reference);
        }
    }
}
