//! The chat room's wire protocol: one typed message per line, parsed and
//! encoded next to its definition. See the "Chat room" section of
//! docs/protocol.md for the decisions taken where the brief is silent.
//!
//! A client's id is its address as the server sees it (`ip:port`), so ids
//! are [`SocketAddr`]s and are always written in Rust's canonical spelling;
//! a target token is only taken as an id when it is spelled exactly that way.

use std::fmt;
use std::net::SocketAddr;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::framing::{Frame, FrameError, LineCodec, LINE_BYTES_MAX};
use crate::wire::{self, Refusal};

/// The longest id as text: `[<full IPv6>%<scope id>]:65535`.
pub const ID_BYTES_MAX: usize = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535".len();

/// The most clients a room may hold, so that its `CLIENTS` line stays
/// within [`SERVER_LINE_BYTES_MAX`] (about 1.2 MB with the longest ids;
/// about 160 KB for 10,000 IPv4 clients). It is the open-file limit of a
/// process on the machines this runs on (20,000): a room never holds more
/// connections than the process can open anyway.
pub const ROOM_CLIENTS_MAX: usize = 20_000;

/// The longest line a chat server sends. Every line but `CLIENTS` keeps to
/// [`LINE_BYTES_MAX`]; a full room's `CLIENTS` cannot, so clients read
/// server lines up to this bound instead.
pub const SERVER_LINE_BYTES_MAX: usize = "CLIENTS".len() + ROOM_CLIENTS_MAX * (1 + ID_BYTES_MAX);

/// A client's id: its address as the server sees it.
pub type ClientId = SocketAddr;

/// Parses an id; only the canonical spelling (what `Display` writes, and so
/// what the server sends in `WELCOME` and `CLIENTS`) is an id.
pub fn parse_id(token: &str) -> Option<ClientId> {
    let id: ClientId = token.parse().ok()?;
    let canonical = match id {
        SocketAddr::V4(addr) => {
            let mut text = [0u8; V4_ID_BYTES_MAX];
            let len = write_v4(addr, &mut text);
            text[..len] == *token.as_bytes()
        }
        SocketAddr::V6(_) => id.to_string() == token,
    };
    canonical.then_some(id)
}

/// The longest message text `from` may send: its `FROM` line must still fit
/// in [`LINE_BYTES_MAX`], the limit every line on the wire keeps.
pub fn text_bytes_max(from: ClientId) -> usize {
    let id_bytes = match from {
        SocketAddr::V4(addr) => write_v4(addr, &mut [0u8; V4_ID_BYTES_MAX]),
        SocketAddr::V6(_) => from.to_string().len(),
    };
    LINE_BYTES_MAX.saturating_sub("FROM ".len() + id_bytes + 1)
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `L`: who is in the room.
    List,
    /// `Q`: leave the room.
    Quit,
    /// `<ip:port> <text>`: a private message. The text is everything after
    /// the first space, byte for byte, and never empty.
    Send { to: ClientId, text: String },
}

impl ClientMessage {
    /// Parses one line; a refusal says exactly what is wrong.
    pub fn parse(line: &str) -> Result<ClientMessage, Refusal> {
        let (first, rest) = wire::keyword(line);
        match first {
            "L" | "Q" if line.len() > first.len() => Err(Refusal::new(
                "bad-arguments",
                format!("{first} takes no arguments"),
            )),
            "L" => Ok(ClientMessage::List),
            "Q" => Ok(ClientMessage::Quit),
            _ => match parse_id(first) {
                Some(to) if rest.is_empty() => Err(Refusal::new("empty-message", to.to_string())),
                Some(to) => Ok(ClientMessage::Send {
                    to,
                    text: rest.to_owned(),
                }),
                // A word with a colon was meant as an address: say what
                // is wrong with it rather than that it is no command.
                None if first.contains(':') => Err(Refusal::new(
                    "bad-address",
                    format!(
                        "{} is no ip:port (e.g. 127.0.0.1:5000, as L lists them)",
                        wire::first_token(line)
                    ),
                )),
                None => Err(wire::unknown_command(line, &["L", "Q"])),
            },
        }
    }
}

impl fmt::Display for ClientMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMessage::List => write!(f, "L"),
            ClientMessage::Quit => write!(f, "Q"),
            ClientMessage::Send { to, text } => write!(f, "{to} {text}"),
        }
    }
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `WELCOME <id>`: the first line of every connection.
    Welcome(ClientId),
    /// `CLIENTS <id> ...`: every connected client, sorted, self included.
    Clients(Vec<ClientId>),
    /// `FROM <sender> <text>`: a message for this client.
    From { from: ClientId, text: String },
    /// `SENT <ip:port>`: the message is queued for the target.
    Sent(ClientId),
    /// `BYE`: the answer to `Q`; the server closes the connection after it.
    Bye,
    /// `ERR <code> <detail>`
    Err(Refusal),
}

impl ServerMessage {
    pub fn parse(line: &str) -> Option<ServerMessage> {
        let (keyword, rest) = wire::keyword(line);
        let message = match keyword {
            "WELCOME" => ServerMessage::Welcome(parse_id(rest)?),
            "CLIENTS" => {
                let ids = if rest.is_empty() {
                    Vec::new()
                } else {
                    rest.split(' ').map(parse_id).collect::<Option<Vec<_>>>()?
                };
                if line.len() == keyword.len() || !ids.is_empty() {
                    ServerMessage::Clients(ids)
                } else {
                    return None;
                }
            }
            "FROM" => {
                let (from, text) = rest.split_once(' ')?;
                if text.is_empty() {
                    return None;
                }
                ServerMessage::From {
                    from: parse_id(from)?,
                    text: text.to_owned(),
                }
            }
            "SENT" => ServerMessage::Sent(parse_id(rest)?),
            "BYE" if line == "BYE" => ServerMessage::Bye,
            "ERR" => ServerMessage::Err(Refusal::parse(rest)?),
            _ => return None,
        };
        Some(message)
    }

    /// Whether this line answers one of the client's own commands (every
    /// command gets exactly one such line), as opposed to `WELCOME` and
    /// `FROM`, which the server sends on its own.
    pub fn is_reply(&self) -> bool {
        !matches!(self, ServerMessage::Welcome(_) | ServerMessage::From { .. })
    }
}

/// A client id written as `SocketAddr` writes it, but an IPv4 one without
/// the formatting machinery: the server writes, parses and measures ids for
/// every message it routes, and the standard way was the largest part of
/// the room's own work.
struct IdText(ClientId);

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SocketAddr::V4(addr) = self.0 else {
            return write!(f, "{}", self.0);
        };
        let mut text = [0u8; V4_ID_BYTES_MAX];
        let len = write_v4(addr, &mut text);
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}

impl ServerMessage {
    /// The line of `ServerMessage::From { from, text }`, written straight
    /// from its parts into a string of the right size (the room writes one
    /// for every message it routes, and keeps `text` for its note).
    pub fn from_line(from: ClientId, text: &str) -> String {
        use fmt::Write;
        let mut line = String::with_capacity("FROM ".len() + 21 + 1 + text.len());
        let _ = write!(line, "FROM {} {text}", IdText(from));
        line
    }
}

/// The longest IPv4 id: `255.255.255.255:65535`.
const V4_ID_BYTES_MAX: usize = 21;

/// Writes an IPv4 id as `SocketAddr` writes it; returns its length.
fn write_v4(addr: std::net::SocketAddrV4, text: &mut [u8; V4_ID_BYTES_MAX]) -> usize {
    let mut len = 0;
    for (index, octet) in addr.ip().octets().into_iter().enumerate() {
        if index > 0 {
            text[len] = b'.';
            len += 1;
        }
        len = push_decimal(u16::from(octet), text, len);
    }
    text[len] = b':';
    push_decimal(addr.port(), text, len + 1)
}

/// Writes `value` in decimal at `at`; returns where it ended.
fn push_decimal(value: u16, text: &mut [u8; V4_ID_BYTES_MAX], at: usize) -> usize {
    let mut digits = [0u8; 5];
    let mut count = 0;
    let mut rest = value;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (offset, digit) in digits[..count].iter().rev().enumerate() {
        text[at + offset] = *digit;
    }
    at + count
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMessage::Welcome(id) => write!(f, "WELCOME {}", IdText(*id)),
            ServerMessage::Clients(ids) => {
                write!(f, "CLIENTS")?;
                for id in ids {
                    write!(f, " {}", IdText(*id))?;
                }
                Ok(())
            }
            ServerMessage::From { from, text } => write!(f, "FROM {} {text}", IdText(*from)),
            ServerMessage::Sent(to) => write!(f, "SENT {}", IdText(*to)),
            ServerMessage::Bye => write!(f, "BYE"),
            ServerMessage::Err(refusal) => write!(f, "{refusal}"),
        }
    }
}

/// How a chat client frames what the server sends: a
/// [`LineCodec`](crate::framing::LineCodec) whose lines may be as long as
/// [`SERVER_LINE_BYTES_MAX`]. It encodes the client's lines the same way.
#[derive(Debug)]
pub struct ServerLineCodec {
    inner: LineCodec,
}

impl ServerLineCodec {
    pub fn new() -> Self {
        ServerLineCodec {
            inner: LineCodec::reading_up_to(SERVER_LINE_BYTES_MAX),
        }
    }
}

impl Default for ServerLineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for ServerLineCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        self.inner.decode(buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        self.inner.decode_eof(buf)
    }
}

impl Encoder<String> for ServerLineCodec {
    type Error = FrameError;

    fn encode(&mut self, line: String, buf: &mut BytesMut) -> Result<(), FrameError> {
        self.inner.encode(line, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    proptest! {
        #[test]
        fn an_id_is_written_exactly_as_its_socket_address_writes(
            ip in any::<[u8; 4]>(),
            port in any::<u16>(),
            v6 in any::<[u16; 8]>(),
        ) {
            let v4 = SocketAddr::from((ip, port));
            prop_assert_eq!(IdText(v4).to_string(), v4.to_string());
            let from = ServerMessage::From { from: v4, text: "hi there".to_owned() };
            prop_assert_eq!(ServerMessage::from_line(v4, "hi there"), from.to_string());
            let v6 = SocketAddr::from((std::net::Ipv6Addr::from(v6), port));
            prop_assert_eq!(IdText(v6).to_string(), v6.to_string());
            prop_assert_eq!(parse_id(&v4.to_string()), Some(v4));
            prop_assert_eq!(parse_id(&v6.to_string()), Some(v6));
            prop_assert_eq!(
                text_bytes_max(v4),
                LINE_BYTES_MAX - "FROM ".len() - v4.to_string().len() - 1
            );
        }
    }

    fn id() -> impl Strategy<Value = ClientId> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
            (any::<[u16; 8]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
        ]
    }

    /// Any non-empty text without a line terminator, spaces and all.
    fn text() -> impl Strategy<Value = String> {
        "[^\n]{1,80}"
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            Just(ClientMessage::List),
            Just(ClientMessage::Quit),
            (id(), text()).prop_map(|(to, text)| ClientMessage::Send { to, text }),
        ]
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            id().prop_map(ServerMessage::Welcome),
            proptest::collection::vec(id(), 0..6).prop_map(ServerMessage::Clients),
            (id(), text()).prop_map(|(from, text)| ServerMessage::From { from, text }),
            id().prop_map(ServerMessage::Sent),
            Just(ServerMessage::Bye),
            ("[a-z][a-z-]{0,15}", "[ -~]{0,40}")
                .prop_map(|(code, detail)| ServerMessage::Err(Refusal::new(&code, detail))),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_survive_encode_then_parse(message in client_message()) {
            prop_assert_eq!(ClientMessage::parse(&message.to_string()), Ok(message));
        }

        #[test]
        fn server_messages_survive_encode_then_parse(message in server_message()) {
            prop_assert_eq!(ServerMessage::parse(&message.to_string()), Some(message));
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = ClientMessage::parse(&line);
            let _ = ServerMessage::parse(&line);
        }

        #[test]
        fn a_message_is_everything_after_the_first_space(to in id(), text in text()) {
            let line = format!("{to} {text}");
            prop_assert_eq!(ClientMessage::parse(&line), Ok(ClientMessage::Send { to, text }));
        }
    }

    #[test]
    fn malformed_lines_get_the_documented_codes() {
        let code = |line: &str| ClientMessage::parse(line).unwrap_err().code;
        assert_eq!(code("127.0.0.1:5000"), "empty-message");
        assert_eq!(code("127.0.0.1:5000 "), "empty-message");
        assert_eq!(code("L all"), "bad-arguments");
        assert_eq!(code("L "), "bad-arguments");
        assert_eq!(code("Q now"), "bad-arguments");
        assert_eq!(code("l"), "unknown-command");
        assert_eq!(code("HELLO there"), "unknown-command");
        assert_eq!(code("127.0.0.1:05000 hi"), "bad-address");
        assert_eq!(code("127.0.0.1:99999 hi"), "bad-address");
        assert_eq!(code("localhost:5000 hi"), "bad-address");
        assert_eq!(code(" 127.0.0.1:5000 hi"), "unknown-command");
    }

    #[test]
    fn refusals_name_the_target_or_the_first_token() {
        let refusal = ClientMessage::parse("127.0.0.1:5000").unwrap_err();
        assert_eq!(refusal.to_string(), "ERR empty-message 127.0.0.1:5000");
        let refusal = ClientMessage::parse("HELLO there").unwrap_err();
        assert_eq!(refusal.to_string(), "ERR unknown-command HELLO");
    }

    #[test]
    fn leading_and_trailing_spaces_of_a_message_are_kept() {
        assert_eq!(
            ClientMessage::parse("[::1]:9   two  spaces  "),
            Ok(ClientMessage::Send {
                to: "[::1]:9".parse().unwrap(),
                text: "  two  spaces  ".to_owned()
            })
        );
    }

    #[test]
    fn the_longest_list_of_the_fullest_room_fits_a_server_line() {
        let longest: ClientId = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"
            .parse()
            .unwrap();
        assert_eq!(longest.to_string().len(), ID_BYTES_MAX);
        let line = ServerMessage::Clients(vec![longest; ROOM_CLIENTS_MAX]).to_string();
        assert_eq!(line.len(), SERVER_LINE_BYTES_MAX);
        let mut codec = ServerLineCodec::new();
        let mut buf = BytesMut::new();
        codec.encode(line.clone(), &mut buf).unwrap();
        buf.extend_from_slice(b"CLIENTS\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::Line(line)));
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Line("CLIENTS".to_owned()))
        );
        let mut over = BytesMut::from(&b"x"[..]);
        over.extend_from_slice(&vec![b'y'; SERVER_LINE_BYTES_MAX]);
        over.extend_from_slice(b"\n");
        assert!(matches!(
            codec.decode(&mut over),
            Err(FrameError::LineTooLong)
        ));
    }

    #[test]
    fn the_longest_message_still_makes_a_from_line_within_the_limit() {
        let from: ClientId = "[1234:5678:9abc:def0:1234:5678:9abc:def0]:65535"
            .parse()
            .unwrap();
        let line = ServerMessage::From {
            from,
            text: "x".repeat(text_bytes_max(from)),
        }
        .to_string();
        assert_eq!(line.len(), LINE_BYTES_MAX);
    }
}
