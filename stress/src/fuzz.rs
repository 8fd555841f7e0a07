//! Fuzz targets on the stable toolchain: seeded random bytes and mutations
//! of valid lines, fed to every line parser, both line codecs and the three
//! sans-IO game state machines.
//!
//! This module owns the input generator ([`Gen`]), the targets
//! ([`TARGETS`]) and the runner ([`run`]). Nothing here needs an install
//! step (no nightly, no cargo-afl): a target is a plain function of a
//! seeded generator, so any finding replays from its case seed. Each target
//! asserts that nothing panics and checks invariants that are cheap:
//! parsers round-trip what they accept, codecs frame the same however the
//! bytes are split, and the state machines only write lines that parse,
//! fit the line limit, go to open connections, and (chat) answer every line
//! exactly once.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::codec::Decoder;

use games::chat;
use games::conn::{ConnId, Delivery};
use games::framing::{Frame, LineCodec, LINE_BYTES_MAX};
use games::live;
use games::tombola;

/// Words the generator remembers from what a machine said (tokens, ids,
/// sequence numbers), so that mutations can reuse them; a ring this long
/// keeps the recent ones without growing.
const DICTIONARY_WORDS_MAX: usize = 64;
/// Parser inputs per case: enough to make the per-case generator setup
/// negligible, few enough that a replayed case is short to read.
const PARSER_INPUTS_PER_CASE: u64 = 64;
/// Client lines fed to one fresh state machine before it is dropped: long
/// enough to get through registration and into games, short enough that
/// many different starts are tried.
const MACHINE_LINES_PER_CASE: u64 = 300;
/// Connections one state machine case opens at most at once: enough for
/// games with several players, few enough that lines hit the same players.
const MACHINE_CONNECTIONS_MAX: usize = 6;
/// Steps a finding's replay shows (the end of the case, which holds the
/// failing input).
const REPORT_STEPS_MAX: usize = 40;
/// Timer expiries handled at one instant before a machine counts as
/// spinning (a timer that is always due would stall its server).
const TIMER_EXPIRIES_AT_ONCE_MAX: u32 = 1_000;

/// Numbers that sit on the grammar's edges: zero, leading zeros, signs,
/// the board's range, integer overflow, and digits that are not ASCII.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "00",
    "01",
    "1",
    "2",
    "9",
    "10",
    "15",
    "16",
    "89",
    "90",
    "91",
    "99",
    "100",
    "255",
    "256",
    "-1",
    "+1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1e3",
    "0x10",
    "\u{0663}",
    "\u{ff11}",
];

/// Bytes that break things: separators, terminators, NUL, bytes that are
/// never UTF-8, the start of a multi-byte character, and a few ordinary ones.
const EDGE_BYTES: &[u8] = &[
    b' ', b' ', b'\r', b'\n', b'\t', 0, 0xff, 0xc3, 0x80, b'0', b'1', b'9', b':', b'[', b']', b'.',
    b'-', b'+', b'a', b'Z',
];

/// A seeded source of lines: random bytes, valid lines, and valid lines
/// with a few mutations.
pub struct Gen {
    rng: ChaCha8Rng,
    dictionary: Vec<String>,
    next_word: usize,
    /// The case's inputs, kept only while a finding is replayed.
    log: Option<Vec<String>>,
    /// A board the machine draws first (its `draw_prefix`), when the case
    /// chose one: boards sent are often this one, so claims can win.
    winning_board: Option<Vec<u8>>,
    /// Percent of inputs sent as the valid line, unchanged. Machine cases
    /// pick it per case: careful players get deep into games, careless
    /// ones hit the refusals.
    clean_percent: usize,
}

impl Gen {
    fn new(case_seed: u64, recording: bool) -> Gen {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(case_seed),
            dictionary: Vec::new(),
            next_word: 0,
            log: recording.then(Vec::new),
            winning_board: None,
            clean_percent: 30,
        }
    }

    /// Keeps what happened, only while replaying a finding.
    fn record(&mut self, step: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(step());
        }
    }

    fn below(&mut self, bound: usize) -> usize {
        self.rng.random_range(0..bound.max(1))
    }

    fn percent(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Remembers the tokens of a line the machine wrote.
    fn learn(&mut self, line: &str) {
        for token in line.split(' ').filter(|token| !token.is_empty()).take(8) {
            if self.dictionary.len() < DICTIONARY_WORDS_MAX {
                self.dictionary.push(token.to_owned());
            } else {
                self.dictionary[self.next_word] = token.to_owned();
                self.next_word = (self.next_word + 1) % DICTIONARY_WORDS_MAX;
            }
        }
    }

    /// A remembered word, or an edge number when nothing is remembered.
    fn word(&mut self) -> String {
        if self.dictionary.is_empty() || self.percent(30) {
            self.pick(EDGE_NUMBERS).to_string()
        } else {
            let index = self.below(self.dictionary.len());
            self.dictionary[index].clone()
        }
    }

    /// Fifteen distinct numbers in 1..=90 in random order, sometimes with a
    /// flaw (fourteen, a repeat, an out-of-range one).
    fn board_numbers(&mut self) -> String {
        let use_winning = self.percent(70);
        let mut numbers: Vec<u32> = match &self.winning_board {
            Some(board) if use_winning => board.iter().map(|&n| n as u32).collect(),
            _ => rand::seq::index::sample(&mut self.rng, 90, 15)
                .into_iter()
                .map(|index| index as u32 + 1)
                .collect(),
        };
        match self.below(10) {
            0 => {
                numbers.pop();
            }
            1 => numbers[14] = numbers[0],
            2 => numbers[3] = 91,
            _ => {}
        }
        numbers
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Half the cases draw a known board first, so that a claim can win
    /// and games end with a winner, not only by running out or emptying.
    fn draw_prefix(&mut self) -> Vec<u8> {
        if self.percent(50) {
            let mut board: Vec<u8> = rand::seq::index::sample(&mut self.rng, 90, 15)
                .into_iter()
                .map(|index| index as u8 + 1)
                .collect();
            board.sort_unstable();
            self.winning_board = Some(board.clone());
            board
        } else {
            Vec::new()
        }
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let length = if self.percent(3) {
            self.rng
                .random_range(LINE_BYTES_MAX - 4..=LINE_BYTES_MAX + 4)
        } else {
            self.below(48)
        };
        (0..length)
            .map(|_| {
                if self.percent(50) {
                    *self.pick(EDGE_BYTES)
                } else {
                    self.rng.random()
                }
            })
            .collect()
    }

    /// One input: random bytes (10%), `valid` as it is (`clean_percent`),
    /// or `valid` with one to four mutations.
    fn input(&mut self, keywords: &[&str], valid: &str) -> Vec<u8> {
        let roll = self.below(100);
        if roll < 10 {
            return self.random_bytes();
        }
        let mut bytes = valid.as_bytes().to_vec();
        if roll < 10 + self.clean_percent {
            return bytes;
        }
        for _ in 0..self.rng.random_range(1..=4) {
            self.mutate(&mut bytes, keywords);
        }
        bytes
    }

    fn mutate(&mut self, bytes: &mut Vec<u8>, keywords: &[&str]) {
        let at = self.below(bytes.len() + 1);
        match self.below(9) {
            // Truncate.
            0 => bytes.truncate(at),
            // Splice: keep a prefix, append a word and more.
            1 => {
                bytes.truncate(at);
                let word = self.word();
                bytes.extend_from_slice(word.as_bytes());
                if self.percent(50) {
                    bytes.push(b' ');
                    let word = self.word();
                    bytes.extend_from_slice(word.as_bytes());
                }
            }
            // Flip one bit.
            2 if !bytes.is_empty() => {
                let index = at.min(bytes.len() - 1);
                bytes[index] ^= 1 << self.below(8);
            }
            // Insert a keyword, with or without a space.
            3 => {
                let mut insert = self.pick(keywords).as_bytes().to_vec();
                if self.percent(70) {
                    insert.push(b' ');
                }
                bytes.splice(at..at, insert);
            }
            // Insert a number or a remembered word.
            4 => {
                let word = self.word();
                bytes.splice(at..at, word.bytes());
            }
            // Insert or overwrite one edge byte.
            5 => {
                let byte = *self.pick(EDGE_BYTES);
                if at < bytes.len() && self.percent(50) {
                    bytes[at] = byte;
                } else {
                    bytes.insert(at, byte);
                }
            }
            // Delete a range.
            6 => {
                let end = (at + self.below(6) + 1).min(bytes.len());
                bytes.drain(at..end);
            }
            // Duplicate a range (doubles spaces, repeats numbers).
            7 => {
                let end = (at + self.below(8) + 1).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            // Replace one space-separated token with a word.
            _ => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                let mut tokens: Vec<String> = text.split(' ').map(str::to_owned).collect();
                let index = self.below(tokens.len());
                tokens[index] = self.word();
                *bytes = tokens.join(" ").into_bytes();
            }
        }
    }
}

/// Input bytes as a parser or machine takes them: UTF-8 as it is, anything
/// else with replacement characters (the framing drops such lines before a
/// game sees them, but the parsers should not care).
fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One fuzz target: a name and one case of it (a batch of inputs from one
/// case seed). A case returns how many inputs it ran, or a broken invariant.
pub struct Target {
    pub name: &'static str,
    /// What is fed and what is checked.
    pub about: &'static str,
    case: fn(&mut Gen) -> Result<u64, String>,
}

/// Every target, in the order `fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "line-codec",
        about: "framing::LineCodec on random bytes split at random points",
        case: line_codec_case,
    },
    Target {
        name: "chat-server-line-codec",
        about: "chat::protocol::ServerLineCodec, the same way",
        case: server_line_codec_case,
    },
    Target {
        name: "tombola-client-parser",
        about: "tombola::protocol::ClientMessage::parse, round trip",
        case: |gen| {
            parser_case(gen, TOMBOLA_KEYWORDS, tombola_valid_line, |line| {
                tombola::protocol::ClientMessage::parse(line).ok()
            })
        },
    },
    Target {
        name: "tombola-server-parser",
        about: "tombola::protocol::ServerMessage::parse, round trip",
        case: |gen| {
            parser_case(
                gen,
                TOMBOLA_SERVER_KEYWORDS,
                tombola_server_valid_line,
                tombola::protocol::ServerMessage::parse,
            )
        },
    },
    Target {
        name: "live-client-parser",
        about: "live::protocol::ClientMessage::parse, round trip",
        case: |gen| {
            parser_case(gen, LIVE_KEYWORDS, live_valid_line, |line| {
                live::protocol::ClientMessage::parse(line).ok()
            })
        },
    },
    Target {
        name: "live-server-parser",
        about: "live::protocol::ServerMessage::parse, round trip",
        case: |gen| {
            parser_case(
                gen,
                LIVE_SERVER_KEYWORDS,
                live_server_valid_line,
                live::protocol::ServerMessage::parse,
            )
        },
    },
    Target {
        name: "chat-client-parser",
        about: "chat::protocol::ClientMessage::parse, round trip",
        case: |gen| {
            parser_case(gen, CHAT_KEYWORDS, chat_valid_line, |line| {
                chat::protocol::ClientMessage::parse(line).ok()
            })
        },
    },
    Target {
        name: "chat-server-parser",
        about: "chat::protocol::ServerMessage::parse, round trip",
        case: |gen| {
            parser_case(
                gen,
                CHAT_SERVER_KEYWORDS,
                chat_server_valid_line,
                chat::protocol::ServerMessage::parse,
            )
        },
    },
    Target {
        name: "tombola-game",
        about: "tombola::game::LockstepServer fed arbitrary client lines",
        case: tombola_game_case,
    },
    Target {
        name: "live-game",
        about: "live::game::LiveServer fed arbitrary lines on both ports",
        case: live_game_case,
    },
    Target {
        name: "chat-room",
        about: "chat::room::ChatRoom fed arbitrary client lines",
        case: chat_room_case,
    },
];

/// Finds a target by name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// At least this many inputs (whole cases, so a few more).
    Inputs(u64),
    /// Until this much time has passed.
    Time(Duration),
}

/// A broken invariant or a panic, with what replays it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: &'static str,
    /// The seed of the case that failed: `fuzz --target T --case-seed S`
    /// replays it alone.
    pub case_seed: u64,
    /// The panic message and location, or the invariant that broke.
    pub what: String,
    /// The last inputs of the case, the failing one last.
    pub steps: Vec<String>,
}

impl Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: case seed {}: {}",
            self.target, self.case_seed, self.what
        )?;
        for step in &self.steps {
            writeln!(f, "  {step}")?;
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub cases: u64,
    pub elapsed: Duration,
    pub finding: Option<Finding>,
    /// For the state machines: the kinds of line they wrote (`DRAW`,
    /// `ERR false-claim`, ...), to show how deep the inputs got.
    pub reached: BTreeSet<String>,
}

/// The seed of case `index` of a run: splitmix64, so neighbouring cases
/// are unrelated.
pub fn case_seed(run_seed: u64, index: u64) -> u64 {
    let mut z = run_seed
        .wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

thread_local! {
    /// The kinds of line (keyword, and the code of a refusal) the machines
    /// wrote during the current run on this thread: how deep the fuzzing
    /// got.
    static REACHED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };

    /// Set while a case runs on this thread: its panics are recorded here
    /// instead of printed.
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the message and location of a
/// panic inside a case and leaves every other panic to the previous hook.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let fuzzing = CAUGHT.with(|caught| {
                let mut caught = caught.borrow_mut();
                match &mut *caught {
                    Some(slot) => {
                        let location = info
                            .location()
                            .map(|location| location.to_string())
                            .unwrap_or_else(|| "unknown location".into());
                        let message = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|text| text.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "non-text panic".into());
                        *slot = Some(format!("panic at {location}: {message}"));
                        true
                    }
                    None => false,
                }
            });
            if !fuzzing {
                previous(info);
            }
        }));
    });
}

/// Runs one case, catching a panic as a failure.
fn run_case(target: &Target, case_seed: u64, recording: bool) -> (Result<u64, String>, Gen) {
    install_panic_hook();
    let mut gen = Gen::new(case_seed, recording);
    CAUGHT.with(|caught| *caught.borrow_mut() = Some(None));
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.case)(&mut gen)));
    let panic = CAUGHT.with(|caught| caught.borrow_mut().take().flatten());
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(panic.unwrap_or_else(|| "panic".into())),
    };
    (result, gen)
}

/// Runs `target` from `run_seed` within `budget`; stops at the first
/// finding and replays its case to show the inputs that led to it.
pub fn run(target: &'static Target, run_seed: u64, budget: Budget) -> Report {
    let started = Instant::now();
    let mut inputs = 0;
    let mut cases = 0;
    REACHED.with(|reached| reached.borrow_mut().clear());
    let reached = || REACHED.with(|reached| reached.borrow().clone());
    loop {
        let done = match budget {
            Budget::Inputs(inputs_max) => inputs >= inputs_max,
            Budget::Time(duration) => started.elapsed() >= duration,
        };
        if done {
            return Report {
                target: target.name,
                inputs,
                cases,
                elapsed: started.elapsed(),
                finding: None,
                reached: reached(),
            };
        }
        let seed = case_seed(run_seed, cases);
        cases += 1;
        match run_case(target, seed, false).0 {
            Ok(count) => inputs += count,
            Err(what) => {
                return Report {
                    target: target.name,
                    inputs,
                    cases,
                    elapsed: started.elapsed(),
                    finding: Some(replay(target, seed, what)),
                    reached: reached(),
                }
            }
        }
    }
}

/// Runs one case again with its inputs recorded.
pub fn replay(target: &'static Target, case_seed: u64, first_what: String) -> Finding {
    let (result, gen) = run_case(target, case_seed, true);
    let what = match result {
        Err(what) => what,
        Ok(_) => format!("{first_what} (did not happen again on replay)"),
    };
    let mut steps = gen.log.unwrap_or_default();
    let skipped = steps.len().saturating_sub(REPORT_STEPS_MAX);
    steps.drain(..skipped);
    if skipped > 0 {
        steps.insert(0, format!("... {skipped} earlier steps"));
    }
    Finding {
        target: target.name,
        case_seed,
        what,
        steps,
    }
}

// ---------------------------------------------------------------- codecs

/// Decodes `bytes` fed in the given chunk sizes, then end of stream; the
/// frames, and whether it ended in an error.
fn decode_chunked<D>(mut codec: D, bytes: &[u8], cuts: &[usize]) -> (Vec<Frame>, bool)
where
    D: Decoder<Item = Frame>,
{
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.to_vec();
    ends.push(bytes.len());
    for end in ends {
        buffer.extend_from_slice(&bytes[start..end]);
        start = end;
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

/// A stream of lines, some of them broken, some long, as one byte string.
fn stream_bytes(gen: &mut Gen, line_bytes_max: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..gen.rng.random_range(1..=6) {
        let line = match gen.below(100) {
            0 | 1 => vec![
                b'x';
                gen.rng
                    .random_range(line_bytes_max - 2..=line_bytes_max + 2)
            ],
            2..=30 => gen.random_bytes(),
            _ => gen.input(CHAT_KEYWORDS, "L"),
        };
        bytes.extend_from_slice(&line);
        match gen.below(4) {
            0 => bytes.extend_from_slice(b"\r\n"),
            1 => {}
            _ => bytes.push(b'\n'),
        }
    }
    bytes
}

fn codec_case<D: Decoder<Item = Frame>>(
    gen: &mut Gen,
    line_bytes_max: usize,
    new_codec: fn() -> D,
) -> Result<u64, String> {
    let streams = 16;
    for _ in 0..streams {
        let bytes = stream_bytes(gen, line_bytes_max);
        let mut cuts: Vec<usize> = (0..gen.below(6))
            .map(|_| gen.below(bytes.len() + 1))
            .collect();
        cuts.sort_unstable();
        gen.record(|| format!("bytes {:?} cut at {cuts:?}", BytesDebug(&bytes)));
        let whole = decode_chunked(new_codec(), &bytes, &[]);
        let split = decode_chunked(new_codec(), &bytes, &cuts);
        if whole != split {
            return Err(format!(
                "framing depends on how the bytes arrive: whole {whole:?}, split {split:?}"
            ));
        }
        for frame in &whole.0 {
            if let Frame::Line(line) = frame {
                if line.is_empty() || line.len() > line_bytes_max || line.contains('\n') {
                    return Err(format!("a frame breaks the framing rules: {line:?}"));
                }
            }
        }
    }
    Ok(streams)
}

fn line_codec_case(gen: &mut Gen) -> Result<u64, String> {
    codec_case(gen, LINE_BYTES_MAX, LineCodec::new)
}

fn server_line_codec_case(gen: &mut Gen) -> Result<u64, String> {
    // The near-limit lines are this codec's own limit (60 KB), so they are
    // rare enough to keep the target fast.
    codec_case(
        gen,
        chat::protocol::SERVER_LINE_BYTES_MAX,
        chat::protocol::ServerLineCodec::new,
    )
}

/// Bytes shown as text where printable, escaped elsewhere, and shortened
/// when long.
struct BytesDebug<'a>(&'a [u8]);

impl Debug for BytesDebug<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN_BYTES_MAX: usize = 200;
        let shown = &self.0[..self.0.len().min(SHOWN_BYTES_MAX)];
        write!(f, "b\"{}\"", shown.escape_ascii())?;
        if self.0.len() > SHOWN_BYTES_MAX {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

// --------------------------------------------------------------- parsers

const TOMBOLA_KEYWORDS: &[&str] = &["BOARD", "ACK", "TOMBOLA", "board", "ERR"];
const TOMBOLA_SERVER_KEYWORDS: &[&str] = &[
    "WELCOME", "BOARD-OK", "WAITING", "START", "DRAW", "OVER", "WINNERS", "NOWINNER", "ERR",
];
const LIVE_KEYWORDS: &[&str] = &["HELLO", "BOARD", "TOMBOLA", "AGAIN", "QUIT", "hello"];
const LIVE_SERVER_KEYWORDS: &[&str] = &[
    "WELCOME", "HELLO", "BOARD-OK", "GAME", "HISTORY", "DRAW", "WIN", "LATE", "OVER", "WINNER",
    "NOWINNER", "NEXT", "IN", "AGAIN-OK", "GOODBYE", "ERR",
];
const CHAT_KEYWORDS: &[&str] = &["L", "Q", "127.0.0.1:2004", "[::1]:2004", "0.0.0.0:0"];
const CHAT_SERVER_KEYWORDS: &[&str] = &[
    "WELCOME",
    "CLIENTS",
    "FROM",
    "SENT",
    "BYE",
    "ERR",
    "127.0.0.1:2004",
    "[::1]:9",
];

fn tombola_valid_line(gen: &mut Gen) -> String {
    match gen.below(3) {
        0 => format!("BOARD {}", gen.board_numbers()),
        1 => format!("ACK {}", gen.word()),
        _ => format!("TOMBOLA {}", gen.word()),
    }
}

fn tombola_server_valid_line(gen: &mut Gen) -> String {
    match gen.below(7) {
        0 => format!("WELCOME p{}", gen.below(2000)),
        1 => "BOARD-OK".into(),
        2 => format!("WAITING {} {}", gen.below(9), gen.below(9)),
        3 => format!("START {} p1 p2 p{}", gen.below(9), gen.below(2000)),
        4 => format!("DRAW {} {}", gen.below(91), gen.below(91)),
        5 => format!("OVER {} WINNERS p1 p{}", gen.below(9), gen.below(9)),
        _ => format!("ERR bad-seq {}", gen.word()),
    }
}

fn live_valid_line(gen: &mut Gen) -> String {
    match gen.below(6) {
        0 => format!("HELLO {:016x}", gen.rng.random::<u64>()),
        1 => format!("BOARD {}", gen.board_numbers()),
        2 => format!("TOMBOLA {}", gen.word()),
        3 => "AGAIN".into(),
        4 => "QUIT".into(),
        _ => format!("HELLO {}", gen.word()),
    }
}

fn live_server_valid_line(gen: &mut Gen) -> String {
    match gen.below(10) {
        0 => format!(
            "WELCOME p{} {:016x}",
            gen.below(99),
            gen.rng.random::<u64>()
        ),
        1 => format!("HELLO p{}", gen.below(99)),
        2 => format!("GAME {} HISTORY 4 5 {}", gen.below(9), gen.below(91)),
        3 => format!("DRAW {} {} {}", gen.below(9), gen.below(91), gen.below(91)),
        4 => format!("LATE {} p{}", gen.below(9), gen.below(99)),
        5 => format!("OVER {} WINNER p{}", gen.below(9), gen.below(99)),
        6 => format!("NEXT {} IN {}", gen.below(9), gen.below(99)),
        7 => "AGAIN-OK".into(),
        8 => format!("WIN {}", gen.below(9)),
        _ => format!("ERR wrong-game {}", gen.word()),
    }
}

fn chat_id(gen: &mut Gen) -> String {
    if gen.percent(80) {
        format!("127.0.0.1:{}", gen.rng.random::<u16>())
    } else {
        format!("[::1]:{}", gen.rng.random::<u16>())
    }
}

fn chat_valid_line(gen: &mut Gen) -> String {
    match gen.below(4) {
        0 => "L".into(),
        1 => "Q".into(),
        2 => format!("{} hello {}", chat_id(gen), gen.word()),
        _ => format!("{} {}", gen.word(), gen.word()),
    }
}

fn chat_server_valid_line(gen: &mut Gen) -> String {
    match gen.below(6) {
        0 => format!("WELCOME {}", chat_id(gen)),
        1 => format!("CLIENTS {} {}", chat_id(gen), chat_id(gen)),
        2 => format!("FROM {} hi  {}", chat_id(gen), gen.word()),
        3 => format!("SENT {}", chat_id(gen)),
        4 => "BYE".into(),
        _ => format!("ERR recipient-busy {}", chat_id(gen)),
    }
}

/// Feeds parser inputs and checks that whatever is accepted is written
/// back as a line that parses to the same message.
fn parser_case<M: PartialEq + Debug + Display>(
    gen: &mut Gen,
    keywords: &[&str],
    valid_line: fn(&mut Gen) -> String,
    parse: fn(&str) -> Option<M>,
) -> Result<u64, String> {
    for _ in 0..PARSER_INPUTS_PER_CASE {
        let valid = valid_line(gen);
        let bytes = gen.input(keywords, &valid);
        let line = text_of(&bytes);
        gen.record(|| format!("parse {line:?}"));
        if let Some(message) = parse(&line) {
            let written = message.to_string();
            let again = parse(&written);
            if again.as_ref() != Some(&message) {
                return Err(format!(
                    "round trip: {line:?} parses as {message:?}, is written as {written:?}, \
                     which parses as {again:?}"
                ));
            }
            gen.learn(&written);
        }
    }
    Ok(PARSER_INPUTS_PER_CASE)
}

// -------------------------------------------------------- state machines

/// What the framing makes of bytes a client sends (with a final `\n`):
/// the lines a game would see, and whether the connection ends on a line
/// that is too long. Machines are fed only what the framing lets through.
fn framed(bytes: &[u8]) -> (Vec<Frame>, bool) {
    let mut stream = bytes.to_vec();
    stream.push(b'\n');
    decode_chunked(LineCodec::new(), &stream, &[])
}

/// What every machine case checks about a line the machine writes: it
/// parses as a server line, it is written back the same, and it fits.
fn check_server_line<M: PartialEq + Debug + Display>(
    message: &M,
    parse: fn(&str) -> Option<M>,
    line_bytes_max: usize,
) -> Result<String, String> {
    let line = message.to_string();
    if line.len() > line_bytes_max || line.contains('\n') || line.is_empty() {
        return Err(format!(
            "server line breaks the framing ({} bytes): {:?}",
            line.len(),
            &line[..line.len().min(120)]
        ));
    }
    let mut words = line.split(' ');
    let kind = match words.next() {
        Some("ERR") => format!("ERR {}", words.next().unwrap_or_default()),
        keyword => keyword.unwrap_or_default().to_owned(),
    };
    REACHED.with(|reached| {
        let mut reached = reached.borrow_mut();
        if !reached.contains(&kind) {
            reached.insert(kind);
        }
    });
    if parse(&line).as_ref() != Some(message) {
        return Err(format!(
            "server line does not parse back: {message:?} written as {line:?}"
        ));
    }
    Ok(line)
}

/// Open connections of a machine case, with the ids handed out so far.
#[derive(Default)]
struct Connections {
    open: BTreeSet<ConnId>,
    next: ConnId,
}

impl Connections {
    fn open(&mut self) -> ConnId {
        self.next += 1;
        self.open.insert(self.next);
        self.next
    }

    fn any(&self, gen: &mut Gen) -> Option<ConnId> {
        let index = gen.below(self.open.len());
        self.open.iter().nth(index).copied()
    }

    /// A line must go to a connection that is open (the machine's own
    /// `Close` ends it too). A `Close` for a connection that is already
    /// gone is harmless: the shell has nothing left to close.
    fn check<M: Debug>(&mut self, delivery: &Delivery<M>) -> Result<(), String> {
        match delivery {
            Delivery::Send(conn, _) if !self.open.contains(conn) => Err(format!(
                "{delivery:?} for connection {conn}, which is not open"
            )),
            Delivery::Send(..) => Ok(()),
            Delivery::Close(conn) => {
                self.open.remove(conn);
                Ok(())
            }
        }
    }
}

/// Runs every due timer at `now_ms` and fails if one stays due.
fn run_timers<S>(
    now_ms: u64,
    server: &mut S,
    poll_timeout: fn(&S) -> Option<u64>,
    handle_timeout: fn(&mut S, u64),
) -> Result<(), String> {
    for _ in 0..TIMER_EXPIRIES_AT_ONCE_MAX {
        match poll_timeout(server) {
            Some(due_ms) if due_ms <= now_ms => handle_timeout(server, now_ms),
            _ => return Ok(()),
        }
    }
    Err(format!(
        "a timer stays due at {now_ms} ms after {TIMER_EXPIRIES_AT_ONCE_MAX} expiries"
    ))
}

/// What a machine case does next.
enum Step {
    Connect,
    Disconnect,
    Wait(u64),
    Line,
}

fn next_step(gen: &mut Gen, connections: &Connections) -> Step {
    let roll = gen.below(100);
    if connections.open.is_empty() || (roll < 6 && connections.open.len() < MACHINE_CONNECTIONS_MAX)
    {
        Step::Connect
    } else if roll < 8 {
        Step::Disconnect
    } else if roll < 20 {
        // Mostly short waits, sometimes long enough for reply and pairing
        // timeouts.
        Step::Wait(if gen.percent(97) {
            gen.rng.random_range(0..1_200)
        } else {
            gen.rng.random_range(0..70_000)
        })
    } else {
        Step::Line
    }
}

fn tombola_game_case(gen: &mut Gen) -> Result<u64, String> {
    let config = tombola::game::ServerConfig {
        players: gen.rng.random_range(1..=4),
        interval_ms: gen.rng.random_range(1..=1_000),
        // Mostly long enough to answer; sometimes a hair trigger.
        reply_timeout_ms: if gen.percent(80) {
            gen.rng.random_range(2_000..=5_000)
        } else {
            gen.rng.random_range(1..=2_000)
        },
        draw_prefix: gen.draw_prefix(),
        ..Default::default()
    };
    gen.record(|| format!("new {config:?}"));
    let seed = gen.rng.random();
    let mut server = tombola::game::LockstepServer::new(config, ChaCha8Rng::seed_from_u64(seed));
    let mut connections = Connections::default();
    let mut now_ms = 0;
    let mut lines = 0;
    gen.clean_percent = gen.rng.random_range(30..=85);
    // The last draw each connection saw, so valid lines can answer it, and
    // the connections that have not answered theirs yet.
    let mut last_seq: BTreeMap<ConnId, u32> = BTreeMap::new();
    let mut pending: BTreeSet<ConnId> = BTreeSet::new();
    while lines < MACHINE_LINES_PER_CASE {
        match next_step(gen, &connections) {
            Step::Connect => {
                let conn = connections.open();
                gen.record(|| format!("{now_ms} ms: connect {conn}"));
                server.connect(now_ms, conn);
            }
            Step::Disconnect => {
                if let Some(conn) = connections.any(gen) {
                    gen.record(|| format!("{now_ms} ms: disconnect {conn}"));
                    connections.open.remove(&conn);
                    server.disconnect(now_ms, conn);
                }
            }
            Step::Wait(wait_ms) => {
                now_ms += wait_ms;
                gen.record(|| format!("{now_ms} ms: timers"));
                run_timers(
                    now_ms,
                    &mut server,
                    |server| server.poll_timeout(),
                    |server, now_ms| server.handle_timeout(now_ms),
                )?;
            }
            Step::Line => {
                // Mostly a player that owes an answer to a draw, so games
                // go on long enough to be won or to run out.
                let owing = match gen.below(pending.len() + 1) {
                    index if index < pending.len() && gen.percent(80) => {
                        pending.iter().nth(index).copied()
                    }
                    _ => None,
                };
                let Some(conn) = owing.or_else(|| connections.any(gen)) else {
                    continue;
                };
                pending.remove(&conn);
                let seq = last_seq.get(&conn).copied().unwrap_or(1);
                let valid = match gen.below(8) {
                    _ if owing.is_some() && gen.percent(90) => {
                        if seq >= 15 && gen.percent(20) {
                            format!("TOMBOLA {seq}")
                        } else {
                            format!("ACK {seq}")
                        }
                    }
                    0 | 1 => format!("BOARD {}", gen.board_numbers()),
                    2..=4 => format!("ACK {seq}"),
                    5 => format!("TOMBOLA {seq}"),
                    _ => tombola_valid_line(gen),
                };
                // A player that owes an answer mostly gives it cleanly:
                // one garbled answer per draw is enough to stall a game.
                let bytes = if owing.is_some() && gen.percent(90) {
                    valid.into_bytes()
                } else {
                    gen.input(TOMBOLA_KEYWORDS, &valid)
                };
                gen.record(|| format!("{now_ms} ms: {conn} sends {:?}", BytesDebug(&bytes)));
                lines += 1;
                let (frames, too_long) = framed(&bytes);
                for frame in frames {
                    if let Frame::Line(line) = frame {
                        server.receive(now_ms, conn, &line);
                    }
                }
                if too_long {
                    connections.open.remove(&conn);
                    server.disconnect(now_ms, conn);
                }
            }
        }
        while let Some(output) = server.poll_output() {
            connections.check(&output)?;
            if let Delivery::Send(conn, message) = &output {
                let line = check_server_line(
                    message,
                    tombola::protocol::ServerMessage::parse,
                    LINE_BYTES_MAX,
                )?;
                if let tombola::protocol::ServerMessage::Draw { seq, .. } = message {
                    last_seq.insert(*conn, *seq);
                    pending.insert(*conn);
                }
                gen.learn(&line);
            }
        }
        while server.poll_note().is_some() {}
    }
    Ok(lines)
}

fn live_game_case(gen: &mut Gen) -> Result<u64, String> {
    let config = live::game::ServerConfig {
        interval_ms: gen.rng.random_range(1..=1_000),
        pause_ms: gen.rng.random_range(0..=3_000),
        pairing_timeout_ms: gen.rng.random_range(1..=70_000),
        draw_prefix: gen.draw_prefix(),
        ..live::game::ServerConfig::default()
    };
    gen.record(|| format!("new {config:?}"));
    gen.clean_percent = gen.rng.random_range(30..=85);
    let seed = gen.rng.random();
    let mut server = live::game::LiveServer::new(config, ChaCha8Rng::seed_from_u64(seed));
    let mut connections = Connections::default();
    let mut ports: BTreeMap<ConnId, live::game::Port> = BTreeMap::new();
    let mut now_ms = 0;
    let mut lines = 0;
    // Tokens handed out, and the last game a player heard of.
    let mut tokens: Vec<String> = Vec::new();
    let mut last_game = 1;
    let mut claimable = false;
    let mut paused = false;
    while lines < MACHINE_LINES_PER_CASE {
        match next_step(gen, &connections) {
            Step::Connect => {
                let conn = connections.open();
                let port = if gen.percent(50) {
                    live::game::Port::Numbers
                } else {
                    live::game::Port::Claims
                };
                ports.insert(conn, port);
                gen.record(|| format!("{now_ms} ms: connect {conn} on {port:?}"));
                server.connect(now_ms, conn, port);
            }
            Step::Disconnect => {
                if let Some(conn) = connections.any(gen) {
                    gen.record(|| format!("{now_ms} ms: disconnect {conn}"));
                    connections.open.remove(&conn);
                    server.disconnect(now_ms, conn);
                }
            }
            Step::Wait(wait_ms) => {
                now_ms += wait_ms;
                gen.record(|| format!("{now_ms} ms: timers"));
                run_timers(
                    now_ms,
                    &mut server,
                    |server| server.poll_timeout(),
                    |server, now_ms| server.handle_timeout(now_ms),
                )?;
            }
            Step::Line => {
                let Some(conn) = connections.any(gen) else {
                    continue;
                };
                // Once a game has drawn a board's worth of numbers, claims
                // come often and clean, so games are won, lost and followed
                // by pauses and `AGAIN`.
                let bytes = if claimable && gen.percent(30) {
                    format!("TOMBOLA {last_game}").into_bytes()
                } else if paused && gen.percent(30) {
                    b"AGAIN".to_vec()
                } else {
                    let valid = match gen.below(8) {
                        0 | 1 if !tokens.is_empty() => {
                            format!("HELLO {}", gen.pick(&tokens))
                        }
                        2 | 3 => format!("BOARD {}", gen.board_numbers()),
                        4 => format!("TOMBOLA {last_game}"),
                        5 => "AGAIN".into(),
                        _ => live_valid_line(gen),
                    };
                    gen.input(LIVE_KEYWORDS, &valid)
                };
                gen.record(|| format!("{now_ms} ms: {conn} sends {:?}", BytesDebug(&bytes)));
                lines += 1;
                let (frames, too_long) = framed(&bytes);
                for frame in frames {
                    if let Frame::Line(line) = frame {
                        server.receive(now_ms, conn, &line);
                    }
                }
                if too_long {
                    connections.open.remove(&conn);
                    server.disconnect(now_ms, conn);
                }
            }
        }
        while let Some(output) = server.poll_output() {
            connections.check(&output)?;
            if let Delivery::Send(_, message) = &output {
                let line = check_server_line(
                    message,
                    live::protocol::ServerMessage::parse,
                    LINE_BYTES_MAX,
                )?;
                match message {
                    live::protocol::ServerMessage::Welcome { token, .. } => {
                        tokens.push(token.clone())
                    }
                    live::protocol::ServerMessage::Draw { game, seq, .. } => {
                        last_game = *game;
                        claimable = *seq >= 15;
                        paused = false;
                    }
                    live::protocol::ServerMessage::Game { game, .. } => last_game = *game,
                    live::protocol::ServerMessage::Over { .. } => {
                        claimable = false;
                        paused = true;
                    }
                    _ => {}
                }
                gen.learn(&line);
            }
        }
        while server.poll_note().is_some() {}
    }
    Ok(lines)
}

/// Mailboxes whose room is decided by the generator's coin, so that both
/// `SENT` and `recipient-busy` happen.
struct CoinMailboxes {
    rng: ChaCha8Rng,
    /// Lines queued since the last check.
    queued: Vec<(ConnId, String)>,
}

impl chat::room::Mailboxes for CoinMailboxes {
    fn offer(&mut self, conn: ConnId, line: String) -> bool {
        let room = self.rng.random_range(0..10) < 8;
        if room {
            self.queued.push((conn, line));
        }
        room
    }
}

fn chat_room_case(gen: &mut Gen) -> Result<u64, String> {
    let mut room = chat::room::ChatRoom::new();
    let mut mailboxes = CoinMailboxes {
        rng: ChaCha8Rng::seed_from_u64(gen.rng.random()),
        queued: Vec::new(),
    };
    let mut connections = Connections::default();
    let mut peers: BTreeMap<ConnId, SocketAddr> = BTreeMap::new();
    let mut lines = 0;
    while lines < MACHINE_LINES_PER_CASE {
        let mut expected_reply = None;
        match next_step(gen, &connections) {
            Step::Connect => {
                let conn = connections.open();
                // Few distinct ports, so that an address comes back while
                // its old connection is still in the room.
                let peer = SocketAddr::from(([127, 0, 0, 1], 40_000 + gen.below(8) as u16));
                peers.insert(conn, peer);
                gen.record(|| format!("connect {conn} from {peer}"));
                room.connect(conn, peer);
                expected_reply = Some(conn);
            }
            Step::Disconnect => {
                if let Some(conn) = connections.any(gen) {
                    gen.record(|| format!("disconnect {conn}"));
                    connections.open.remove(&conn);
                    room.disconnect(conn);
                }
            }
            Step::Wait(_) | Step::Line => {
                let Some(conn) = connections.any(gen) else {
                    continue;
                };
                let valid = if gen.percent(50) {
                    let target = peers[gen.pick(&peers.keys().copied().collect::<Vec<_>>())];
                    format!("{target} {}", gen.word())
                } else {
                    chat_valid_line(gen)
                };
                let bytes = gen.input(CHAT_KEYWORDS, &valid);
                gen.record(|| format!("{conn} sends {:?}", BytesDebug(&bytes)));
                lines += 1;
                let (frames, too_long) = framed(&bytes);
                // One line at a time, so each reply is checked on its own.
                let mut frames = frames.into_iter().map(Some).collect::<Vec<_>>();
                if too_long {
                    frames.push(None);
                }
                if frames.is_empty() {
                    continue;
                }
                for frame in frames {
                    match frame {
                        Some(Frame::Line(line)) => room.receive(conn, &line, &mut mailboxes),
                        Some(Frame::InvalidUtf8) => room.receive_invalid_utf8(conn),
                        None => room.receive_line_too_long(conn),
                    }
                    check_chat_outputs(
                        gen,
                        &mut room,
                        &mut mailboxes,
                        &mut connections,
                        Some(conn),
                    )?;
                }
                continue;
            }
        }
        check_chat_outputs(
            gen,
            &mut room,
            &mut mailboxes,
            &mut connections,
            expected_reply,
        )?;
    }
    Ok(lines)
}

/// Checks what the room wrote after one input: valid server lines to open
/// connections, and exactly one reply to the connection that `replying`
/// names when the room still knew it.
fn check_chat_outputs(
    gen: &mut Gen,
    room: &mut chat::room::ChatRoom,
    mailboxes: &mut CoinMailboxes,
    connections: &mut Connections,
    expected_reply: Option<ConnId>,
) -> Result<(), String> {
    let open_before = connections.open.clone();
    // A `FROM` line goes to an open connection, parses, and fits the line
    // limit every line keeps.
    for (conn, line) in mailboxes.queued.drain(..) {
        let message = chat::protocol::ServerMessage::parse(&line)
            .ok_or_else(|| format!("queued line does not parse: {line:?}"))?;
        check_server_line(
            &message,
            chat::protocol::ServerMessage::parse,
            LINE_BYTES_MAX,
        )?;
        if message.to_string() != line {
            return Err(format!("queued line is not written canonically: {line:?}"));
        }
        if !open_before.contains(&conn) {
            return Err(format!("{line:?} queued for {conn}, which is not open"));
        }
    }
    let mut replies: BTreeMap<ConnId, u32> = BTreeMap::new();
    while let Some(output) = room.poll_output() {
        let delivery = match output {
            chat::room::Output::Reply(conn, message) => {
                *replies.entry(conn).or_default() += 1;
                let line = check_server_line(
                    &message,
                    chat::protocol::ServerMessage::parse,
                    chat::protocol::SERVER_LINE_BYTES_MAX,
                )?;
                gen.learn(&line);
                Delivery::Send(conn, message)
            }
            chat::room::Output::Close(conn) => Delivery::Close(conn),
        };
        connections.check(&delivery)?;
    }
    while room.poll_note().is_some() {}
    // Every line from a connection in the room gets exactly one reply; a
    // reply to anyone else, or two, is a bug.
    let expected: BTreeMap<ConnId, u32> = expected_reply
        .filter(|conn| open_before.contains(conn))
        .map(|conn| (conn, 1))
        .into_iter()
        .collect();
    if replies != expected {
        return Err(format!(
            "replies {replies:?} where exactly one to {expected_reply:?} was due"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking_case(gen: &mut Gen) -> Result<u64, String> {
        for _ in 0..PARSER_INPUTS_PER_CASE {
            let line = text_of(&gen.input(TOMBOLA_KEYWORDS, "ACK 1"));
            gen.record(|| format!("parse {line:?}"));
            // A planted bug: a parser that indexes past the end of a short
            // line.
            if line.starts_with("ACK") && line.len() < 5 {
                let _ = line.as_bytes()[4];
            }
        }
        Ok(PARSER_INPUTS_PER_CASE)
    }

    static PLANTED: Target = Target {
        name: "planted-panic",
        about: "a parser with a planted out-of-bounds index",
        case: panicking_case,
    };

    #[test]
    fn a_planted_panic_is_found_with_its_input_and_location() {
        let report = run(&PLANTED, 7, Budget::Inputs(100_000));
        let finding = report.finding.expect("the planted panic is found");
        assert!(finding.what.contains("fuzz.rs"), "{finding}");
        assert!(finding.what.contains("index out of bounds"), "{finding}");
        let last = finding.steps.last().expect("the failing input is shown");
        assert!(last.starts_with("parse \"ACK"), "{finding}");
    }

    #[test]
    fn the_machines_get_past_registration_into_games_and_routing() {
        let wanted: &[(&str, &[&str])] = &[
            (
                "tombola-game",
                &[
                    "START",
                    "DRAW",
                    "OVER",
                    "ERR false-claim",
                    "ERR reply-timeout",
                ],
            ),
            (
                "live-game",
                &[
                    "HELLO",
                    "BOARD-OK",
                    "GAME",
                    "DRAW",
                    "WIN",
                    "ERR false-claim",
                    "NEXT",
                ],
            ),
            (
                "chat-room",
                &["CLIENTS", "FROM", "SENT", "BYE", "ERR recipient-busy"],
            ),
        ];
        for (name, kinds) in wanted {
            let report = run(target(name).unwrap(), 3, Budget::Inputs(30_000));
            assert!(report.finding.is_none(), "{:?}", report.finding);
            for kind in *kinds {
                assert!(
                    report.reached.contains(*kind),
                    "{name} never wrote {kind}: {:?}",
                    report.reached
                );
            }
        }
    }

    #[test]
    fn a_run_replays_the_same_inputs_from_the_same_seed() {
        let twice: Vec<Vec<String>> = (0..2)
            .map(|_| {
                let (_, gen) = run_case(target("chat-room").unwrap(), 42, true);
                gen.log.unwrap()
            })
            .collect();
        assert_eq!(twice[0], twice[1]);
        assert!(twice[0].len() > 100);
    }
}
