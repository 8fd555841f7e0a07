//! Malformed input for adversarial simulated clients: the byte-level ways a
//! peer can break the line protocol, shared by every game.
//!
//! A game's adversarial behaviour mixes these with correct play and with
//! its own grammar mistakes (wrong words, numbers out of range), which only
//! the game knows. Everything here is a pure function of a seeded RNG, so
//! an adversarial run replays from its seed like any other. What a server
//! must answer to each kind is the game's business and is in
//! `docs/protocol.md`; the kinds themselves are the framing layer's cases:
//! a line at the length limit is a line, one byte more ends the connection,
//! a line that is not UTF-8 is refused and the stream goes on, and the
//! splitting of a line into writes never changes what it means.

use rand::Rng;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::env::Env;
use crate::framing::LINE_BYTES_MAX;

/// The most pieces one line is split into by [`write_in_pieces`]: enough to
/// put single bytes in separate segments, few enough to keep a run short.
pub const PIECES_MAX: usize = 16;

/// The longest pause between two pieces of one split line, in simulated
/// ms: long enough that the pieces arrive as separate segments.
pub const PIECE_PAUSE_MS_MAX: u64 = 3;

/// Printable ASCII that is no command of any game (lower case letters and
/// punctuation), so a line built from it is always refused as unknown.
const GARBAGE_BYTES: &[u8] = b"abcdefghijklmnopqrstuvwxyz.,;:!?-_=+*/#@~";

/// `length` bytes of garbage that is valid UTF-8, followed by `\n`.
/// With `length` = [`LINE_BYTES_MAX`] it is the longest legal line; one
/// more byte and the server must end the connection.
pub fn garbage_line(rng: &mut impl Rng, length: usize) -> Vec<u8> {
    let mut line: Vec<u8> = (0..length)
        .map(|_| GARBAGE_BYTES[rng.random_range(0..GARBAGE_BYTES.len())])
        .collect();
    line.push(b'\n');
    line
}

/// A short line that is not UTF-8 (a lone continuation byte, a truncated
/// sequence or an invalid lead byte among ASCII), followed by `\n`.
pub fn invalid_utf8_line(rng: &mut impl Rng) -> Vec<u8> {
    const BROKEN: &[&[u8]] = &[
        b"\x80",
        b"\xc3",
        b"\xe2\x82",
        b"\xff",
        b"\xfe\xfe",
        b"\xed\xa0\x80",
    ];
    let mut line = b"ACK ".to_vec();
    line.extend_from_slice(BROKEN[rng.random_range(0..BROKEN.len())]);
    line.extend_from_slice(b" x\n");
    line
}

/// Writes `bytes` in up to [`PIECES_MAX`] pieces, flushing each and pausing
/// up to [`PIECE_PAUSE_MS_MAX`] ms between them, so one line reaches the
/// server as several segments. The server must read it as the same line.
pub async fn write_in_pieces<E: Env, W: AsyncWrite + Unpin>(
    env: &E,
    writer: &mut W,
    bytes: &[u8],
    rng: &mut impl Rng,
) -> std::io::Result<()> {
    let pieces = rng.random_range(1..=PIECES_MAX.min(bytes.len().max(1)));
    let mut cuts: Vec<usize> = (0..pieces - 1)
        .map(|_| rng.random_range(1..bytes.len().max(2)))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(bytes.len())) {
        if cut <= start || cut > bytes.len() {
            continue;
        }
        writer.write_all(&bytes[start..cut]).await?;
        writer.flush().await?;
        start = cut;
        if start < bytes.len() {
            env.sleep_ms(rng.random_range(0..=PIECE_PAUSE_MS_MAX)).await;
        }
    }
    Ok(())
}

/// The longest line a server accepts: [`LINE_BYTES_MAX`] bytes of garbage.
pub fn line_at_limit(rng: &mut impl Rng) -> Vec<u8> {
    garbage_line(rng, LINE_BYTES_MAX)
}

/// A line one byte over the limit: the server must end the connection.
pub fn line_over_limit(rng: &mut impl Rng) -> Vec<u8> {
    garbage_line(rng, LINE_BYTES_MAX + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn garbage_lines_have_the_asked_length_and_are_utf8() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let line = line_at_limit(&mut rng);
        assert_eq!(line.len(), LINE_BYTES_MAX + 1);
        assert!(std::str::from_utf8(&line).is_ok());
        assert_eq!(line_over_limit(&mut rng).len(), LINE_BYTES_MAX + 2);
    }

    #[test]
    fn invalid_utf8_lines_are_never_utf8() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..100 {
            let line = invalid_utf8_line(&mut rng);
            assert!(std::str::from_utf8(&line).is_err());
            assert_eq!(line.last(), Some(&b'\n'));
        }
    }
}
