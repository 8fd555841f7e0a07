//! The chat room as a state machine without I/O: who is connected, and
//! what the server answers to each line.
//!
//! Inputs go in through `connect`, `receive` and `disconnect`; the answers
//! come out of `poll_output` and one trace note per decision out of
//! `poll_note`. The room has no timers, so it takes no time either. The one
//! thing it cannot know by itself is whether a target's outgoing queue has
//! room for one more message: `receive` asks the caller's [`Mailboxes`],
//! which queues the `FROM` line there and then or says it cannot, so the
//! decision between `SENT` and `ERR recipient-busy` is atomic with the
//! queueing itself.
//!
//! Every line from a known connection gets exactly one reply
//! ([`Output::Reply`]); the shell reserves a slot in the sender's queue for
//! it before the line is read, which is why replies are never dropped.

use std::collections::{BTreeMap, VecDeque};

use crate::chat::notes::{Departure, Note};
use crate::chat::protocol::{text_bytes_max, ClientId, ClientMessage, ServerMessage};
use crate::conn::ConnId;
use crate::framing::LINE_BYTES_MAX;
use crate::wire::Refusal;

/// Where the room puts messages for other clients.
pub trait Mailboxes {
    /// Queues `line` for `conn` if its outgoing queue has room for a
    /// message, and says whether it did. Never waits.
    fn offer(&mut self, conn: ConnId, line: String) -> bool;
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The greeting of a new connection, or the one answer to the line the
    /// connection just sent.
    Reply(ConnId, ServerMessage),
    /// Flush what was sent, then close.
    Close(ConnId),
}

/// A deliberate server mistake, switched on only by a scenario's
/// `inject_bug`, so the harness can prove its oracles catch each kind.
/// None of them ever panics the server or breaks the shell's one reply per
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedBug {
    /// Off by one at a bound: a message of exactly `text_bytes_max` bytes
    /// is refused `message-too-long`.
    TooLongOffByOne,
    /// Stale state after a leave: a client that quit stays in the room's
    /// address book, so it is still listed and messages to it are busy.
    StaleAfterQuit,
    /// Wrong sender: `FROM` names the target instead of the sender.
    FromNamesTarget,
    /// Wrong reply: `CLIENTS` leaves out the client that asked.
    ListOmitsSelf,
    /// Wrong grammar: lower-case `l` and `q` are taken as `L` and `Q`.
    LowerCaseCommands,
    /// Delivered twice: every routed message is queued twice.
    DuplicateDelivery,
    /// Wrong reply: a message refused as busy is answered `SENT`.
    BusyAnsweredSent,
    /// Wrong close: a line that is not UTF-8 closes the connection after
    /// its refusal, as if it were too long.
    InvalidUtf8Closes,
    /// A race within one millisecond: `CLIENTS` is answered from a roster
    /// cached per millisecond (taken at the first event of each ms, so a
    /// room full of listers builds it once), refreshed when someone
    /// leaves but not when someone joins. The mistake is the reason given
    /// for that: the server loop takes new connections last, after every
    /// line already read, so "no `L` of the same millisecond can come
    /// after a join". That holds only while every line of the millisecond
    /// has been handed over before the connection is accepted; when the
    /// accept is taken first (a real server's reader thread can be a hair
    /// late), an `L` of the same millisecond leaves out a client already
    /// welcomed (`list-exact`).
    ///
    /// Why seeds miss it: a seeded fast run polls the first ready task,
    /// and a new connection wakes the loop one hop after the readers of
    /// the lines arriving in its millisecond, so the loop always takes
    /// those lines first; no seed of any standard chat scenario handles
    /// an `L` after a join in the same millisecond. A search that polls
    /// the loop before a reader reaches it with one deviation.
    RosterCachedPerMs,
}

impl InjectedBug {
    /// Every bug, by its name in a scenario file.
    pub const ALL: &'static [(&'static str, InjectedBug)] = &[
        ("too-long-off-by-one", InjectedBug::TooLongOffByOne),
        ("stale-after-quit", InjectedBug::StaleAfterQuit),
        ("from-names-target", InjectedBug::FromNamesTarget),
        ("list-omits-self", InjectedBug::ListOmitsSelf),
        ("lower-case-commands", InjectedBug::LowerCaseCommands),
        ("duplicate-delivery", InjectedBug::DuplicateDelivery),
        ("busy-answered-sent", InjectedBug::BusyAnsweredSent),
        ("invalid-utf8-closes", InjectedBug::InvalidUtf8Closes),
        ("roster-cached-per-ms", InjectedBug::RosterCachedPerMs),
    ];
}

impl std::str::FromStr for InjectedBug {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        InjectedBug::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, bug)| *bug)
            .ok_or_else(|| {
                let names: Vec<&str> = InjectedBug::ALL.iter().map(|(name, _)| *name).collect();
                format!("unknown bug {text:?} (known: {})", names.join(", "))
            })
    }
}

/// The chat room's whole state.
#[derive(Debug, Default)]
pub struct ChatRoom {
    /// Connected clients by connection.
    ids: BTreeMap<ConnId, ClientId>,
    /// The same clients by id; sorted, which is the order `CLIENTS` lists.
    conns: BTreeMap<ClientId, ConnId>,
    outputs: VecDeque<Output>,
    notes: VecDeque<Note>,
    messages_routed: u64,
    bug: Option<InjectedBug>,
    /// Only with [`InjectedBug::RosterCachedPerMs`]: the millisecond of the
    /// last event and the roster as it stood then (refreshed on leaves).
    roster: Option<(u64, Vec<ClientId>)>,
}

impl ChatRoom {
    pub fn new() -> ChatRoom {
        ChatRoom::default()
    }

    /// A room with a deliberate mistake (or none), for the harness.
    pub fn with_bug(bug: Option<InjectedBug>) -> ChatRoom {
        ChatRoom {
            bug,
            ..ChatRoom::default()
        }
    }

    /// The time of the event about to be handled. The room keeps no time
    /// and ignores it; only [`InjectedBug::RosterCachedPerMs`] uses it.
    pub fn at(&mut self, now_ms: u64) {
        if self.bug == Some(InjectedBug::RosterCachedPerMs)
            && self.roster.as_ref().is_none_or(|(ms, _)| *ms != now_ms)
        {
            self.roster = Some((now_ms, self.conns.keys().copied().collect()));
        }
    }

    /// A new connection from `peer`: it joins the room and is greeted with
    /// its id.
    pub fn connect(&mut self, conn: ConnId, peer: ClientId) {
        assert!(
            !self.ids.contains_key(&conn),
            "connection ids are never reused"
        );
        // TCP allows one live connection per address pair, so an old entry
        // with the same address is a connection whose close is still on its
        // way to us: it is gone already.
        // (Only an injected bug leaves an entry whose connection is gone.)
        if let Some(&old) = self
            .conns
            .get(&peer)
            .filter(|old| self.ids.contains_key(old))
        {
            self.leave(old, Departure::Replaced);
            self.outputs.push_back(Output::Close(old));
        }
        self.ids.insert(conn, peer);
        self.conns.insert(peer, conn);
        self.note(Note::Join { client: peer });
        self.reply(conn, ServerMessage::Welcome(peer));
    }

    /// One line from a connection. Lines from connections that are not in
    /// the room (already left) are ignored.
    pub fn receive(&mut self, conn: ConnId, line: &str, mailboxes: &mut impl Mailboxes) {
        let Some(&from) = self.ids.get(&conn) else {
            return;
        };
        let parsed = match (self.bug, line) {
            (Some(InjectedBug::LowerCaseCommands), "l") => Ok(ClientMessage::List),
            (Some(InjectedBug::LowerCaseCommands), "q") => Ok(ClientMessage::Quit),
            _ => ClientMessage::parse(line),
        };
        match parsed {
            Err(refusal) => {
                self.note(Note::Refuse {
                    client: from,
                    code: refusal.code.clone(),
                });
                self.reply(conn, ServerMessage::Err(refusal));
            }
            Ok(ClientMessage::List) => {
                let ids: Vec<ClientId> = match &self.roster {
                    Some((_, roster)) if self.bug == Some(InjectedBug::RosterCachedPerMs) => {
                        roster.clone()
                    }
                    _ => self
                        .conns
                        .keys()
                        .copied()
                        .filter(|id| self.bug != Some(InjectedBug::ListOmitsSelf) || *id != from)
                        .collect(),
                };
                self.note(Note::List {
                    client: from,
                    listed: ids.clone(),
                });
                self.reply(conn, ServerMessage::Clients(ids));
            }
            Ok(ClientMessage::Quit) => {
                self.reply(conn, ServerMessage::Bye);
                self.leave(conn, Departure::Quit);
                if self.bug == Some(InjectedBug::StaleAfterQuit) {
                    self.conns.insert(from, conn);
                }
                self.outputs.push_back(Output::Close(conn));
            }
            Ok(ClientMessage::Send { to, text }) => self.route(conn, from, to, text, mailboxes),
        }
    }

    /// A line that was not UTF-8: refused, and the connection stays.
    pub fn receive_invalid_utf8(&mut self, conn: ConnId) {
        let Some(&from) = self.ids.get(&conn) else {
            return;
        };
        self.note(Note::Refuse {
            client: from,
            code: "invalid-utf8".to_owned(),
        });
        self.reply(
            conn,
            ServerMessage::Err(Refusal::new("invalid-utf8", "line dropped")),
        );
        if self.bug == Some(InjectedBug::InvalidUtf8Closes) {
            self.leave(conn, Departure::LineTooLong);
            self.outputs.push_back(Output::Close(conn));
        }
    }

    /// A line longer than [`LINE_BYTES_MAX`]: refused, and the client is out.
    pub fn receive_line_too_long(&mut self, conn: ConnId) {
        let Some(&from) = self.ids.get(&conn) else {
            return;
        };
        self.note(Note::Refuse {
            client: from,
            code: "line-too-long".to_owned(),
        });
        self.reply(
            conn,
            ServerMessage::Err(Refusal::new(
                "line-too-long",
                format!("over {LINE_BYTES_MAX} bytes, closing"),
            )),
        );
        self.leave(conn, Departure::LineTooLong);
        self.outputs.push_back(Output::Close(conn));
    }

    /// The connection is gone.
    pub fn disconnect(&mut self, conn: ConnId) {
        if self.ids.contains_key(&conn) {
            self.leave(conn, Departure::Closed);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next decision taken, as one trace event (`join <id>`, ...).
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// Connected clients, sorted.
    pub fn clients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.conns.keys().copied()
    }

    /// Messages queued for their targets since the room began.
    pub fn messages_routed(&self) -> u64 {
        self.messages_routed
    }

    fn route(
        &mut self,
        conn: ConnId,
        from: ClientId,
        to: ClientId,
        text: String,
        mailboxes: &mut impl Mailboxes,
    ) {
        let Some(&target) = self.conns.get(&to) else {
            self.note(Note::Unknown { from, to });
            return self.reply(
                conn,
                ServerMessage::Err(Refusal::new("no-such-client", to.to_string())),
            );
        };
        let text_max = text_bytes_max(from);
        let too_long = if self.bug == Some(InjectedBug::TooLongOffByOne) {
            text.len() >= text_max
        } else {
            text.len() > text_max
        };
        if too_long {
            self.note(Note::Refuse {
                client: from,
                code: "message-too-long".to_owned(),
            });
            return self.reply(
                conn,
                ServerMessage::Err(Refusal::new(
                    "message-too-long",
                    format!("{to} at most {text_max} bytes"),
                )),
            );
        }
        let named = if self.bug == Some(InjectedBug::FromNamesTarget) {
            to
        } else {
            from
        };
        let line = ServerMessage::from_line(named, &text);
        if self.bug == Some(InjectedBug::DuplicateDelivery) {
            mailboxes.offer(target, line.clone());
        }
        if mailboxes.offer(target, line) {
            self.messages_routed += 1;
            self.note(Note::Route { from, to, text });
            self.reply(conn, ServerMessage::Sent(to));
        } else {
            self.note(Note::Busy { from, to });
            let reply = if self.bug == Some(InjectedBug::BusyAnsweredSent) {
                ServerMessage::Sent(to)
            } else {
                ServerMessage::Err(Refusal::new("recipient-busy", to.to_string()))
            };
            self.reply(conn, reply);
        }
    }

    fn leave(&mut self, conn: ConnId, departure: Departure) {
        let id = self.ids.remove(&conn).expect("caller checked");
        let removed = self.conns.remove(&id);
        assert!(
            removed == Some(conn) || self.bug.is_some(),
            "both maps name the same clients"
        );
        self.note(Note::Leave {
            client: id,
            departure,
        });
        if let Some((_, roster)) = &mut self.roster {
            *roster = self.conns.keys().copied().collect();
        }
    }

    fn reply(&mut self, conn: ConnId, message: ServerMessage) {
        self.outputs.push_back(Output::Reply(conn, message));
    }

    fn note(&mut self, note: Note) {
        self.notes.push_back(note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{Frame, LineCodec};
    use bytes::BytesMut;
    use proptest::prelude::*;
    use tokio_util::codec::{Decoder, Encoder};

    /// One line through the wire codec, the way both ends frame it.
    fn over_the_wire(line: &str) -> Frame {
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::new();
        codec.encode(line.to_owned(), &mut buf).unwrap();
        codec
            .decode(&mut buf)
            .unwrap()
            .expect("one whole line was encoded")
    }

    /// Message text as a person could type it: any characters but the line
    /// terminator, spaces anywhere, not ending in `\r` (which the framing
    /// takes as part of the terminator).
    fn message_text() -> impl Strategy<Value = String> {
        "[^\n]{0,60}[^\n\r]"
    }

    proptest! {
        #[test]
        fn any_message_text_arrives_byte_for_byte_from_its_true_sender(
            text in message_text(),
            from_v6 in any::<bool>(),
        ) {
            let from = if from_v6 { id("[fe80::1234:5678:9abc:def0]:65535") } else { id("10.1.2.3:40000") };
            let to = id("10.9.9.9:5");
            let mut room = ChatRoom::new();
            let mut boxes = Boxes::default();
            room.connect(1, from);
            room.connect(2, to);

            let Frame::Line(received) = over_the_wire(&format!("{to} {text}")) else {
                panic!("a UTF-8 line decodes as a line");
            };
            room.receive(1, &received, &mut boxes);

            let replies = outputs(&mut room);
            let sent = format!("1 SENT {to}");
            prop_assert_eq!(replies.last(), Some(&sent));
            prop_assert_eq!(boxes.queued.len(), 1);
            prop_assert_eq!(boxes.queued[0].0, 2);
            let Frame::Line(delivered) = over_the_wire(&boxes.queued[0].1) else {
                panic!("a FROM line decodes as a line");
            };
            prop_assert_eq!(
                ServerMessage::parse(&delivered),
                Some(ServerMessage::From { from, text: text.clone() })
            );
        }
    }

    /// Mailboxes with a fixed number of free slots per connection.
    #[derive(Default)]
    struct Boxes {
        room: BTreeMap<ConnId, usize>,
        queued: Vec<(ConnId, String)>,
    }

    impl Mailboxes for Boxes {
        fn offer(&mut self, conn: ConnId, line: String) -> bool {
            let room = self.room.entry(conn).or_insert(usize::MAX);
            if *room == 0 {
                return false;
            }
            *room -= 1;
            self.queued.push((conn, line));
            true
        }
    }

    fn id(text: &str) -> ClientId {
        text.parse().unwrap()
    }

    fn outputs(room: &mut ChatRoom) -> Vec<String> {
        std::iter::from_fn(|| room.poll_output())
            .map(|output| match output {
                Output::Reply(conn, message) => format!("{conn} {message}"),
                Output::Close(conn) => format!("{conn} close"),
            })
            .collect()
    }

    fn notes(room: &mut ChatRoom) -> Vec<String> {
        std::iter::from_fn(|| room.poll_note())
            .map(|note| note.to_string())
            .collect()
    }

    #[test]
    fn a_message_is_queued_for_the_target_and_the_sender_is_told() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        room.connect(1, id("10.0.0.1:5000"));
        room.connect(2, id("10.0.0.2:6000"));
        room.receive(1, "10.0.0.2:6000 hello  there ", &mut boxes);
        assert_eq!(
            outputs(&mut room),
            [
                "1 WELCOME 10.0.0.1:5000",
                "2 WELCOME 10.0.0.2:6000",
                "1 SENT 10.0.0.2:6000"
            ]
        );
        assert_eq!(
            boxes.queued,
            [(2, "FROM 10.0.0.1:5000 hello  there ".to_owned())]
        );
        assert_eq!(
            notes(&mut room),
            [
                "join 10.0.0.1:5000",
                "join 10.0.0.2:6000",
                "route 10.0.0.1:5000 10.0.0.2:6000 hello  there "
            ]
        );
    }

    #[test]
    fn a_full_queue_makes_the_sender_hear_recipient_busy() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        boxes.room.insert(2, 1);
        room.connect(1, id("10.0.0.1:5000"));
        room.connect(2, id("10.0.0.2:6000"));
        outputs(&mut room);
        room.receive(1, "10.0.0.2:6000 one", &mut boxes);
        room.receive(1, "10.0.0.2:6000 two", &mut boxes);
        assert_eq!(
            outputs(&mut room),
            ["1 SENT 10.0.0.2:6000", "1 ERR recipient-busy 10.0.0.2:6000"]
        );
        assert_eq!(boxes.queued.len(), 1);
        assert_eq!(room.messages_routed(), 1);
    }

    #[test]
    fn list_names_everyone_sorted_by_address_and_quit_says_bye_then_closes() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        room.connect(1, id("10.0.0.1:9000"));
        room.connect(2, id("10.0.0.1:10000"));
        room.connect(3, id("9.0.0.1:1"));
        outputs(&mut room);
        room.receive(1, "L", &mut boxes);
        room.receive(3, "Q", &mut boxes);
        room.receive(3, "L", &mut boxes);
        room.receive(2, "L", &mut boxes);
        assert_eq!(
            outputs(&mut room),
            [
                "1 CLIENTS 9.0.0.1:1 10.0.0.1:9000 10.0.0.1:10000",
                "3 BYE",
                "3 close",
                "2 CLIENTS 10.0.0.1:9000 10.0.0.1:10000"
            ]
        );
    }

    #[test]
    fn a_departed_target_is_no_such_client_and_bad_lines_are_refused() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        room.connect(1, id("10.0.0.1:5000"));
        room.connect(2, id("10.0.0.2:6000"));
        room.disconnect(2);
        outputs(&mut room);
        room.receive(1, "10.0.0.2:6000 anyone?", &mut boxes);
        room.receive(1, "10.0.0.2:6000", &mut boxes);
        room.receive(1, "hello world", &mut boxes);
        room.receive(2, "L", &mut boxes);
        assert_eq!(
            outputs(&mut room),
            [
                "1 ERR no-such-client 10.0.0.2:6000",
                "1 ERR empty-message 10.0.0.2:6000",
                "1 ERR unknown-command hello"
            ]
        );
        assert!(boxes.queued.is_empty());
        assert_eq!(
            notes(&mut room)[2..],
            [
                "leave 10.0.0.2:6000 closed",
                "unknown 10.0.0.1:5000 10.0.0.2:6000",
                "refuse 10.0.0.1:5000 empty-message",
                "refuse 10.0.0.1:5000 unknown-command"
            ]
        );
    }

    #[test]
    fn a_message_to_oneself_is_delivered_like_any_other() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        room.connect(1, id("10.0.0.1:5000"));
        outputs(&mut room);
        room.receive(1, "10.0.0.1:5000 note to self", &mut boxes);
        assert_eq!(outputs(&mut room), ["1 SENT 10.0.0.1:5000"]);
        assert_eq!(
            boxes.queued,
            [(1, "FROM 10.0.0.1:5000 note to self".to_owned())]
        );
    }

    #[test]
    fn a_new_connection_from_a_known_address_replaces_the_dead_one() {
        let mut room = ChatRoom::new();
        room.connect(1, id("10.0.0.1:5000"));
        room.connect(2, id("10.0.0.1:5000"));
        room.disconnect(1);
        assert_eq!(
            outputs(&mut room),
            [
                "1 WELCOME 10.0.0.1:5000",
                "1 close",
                "2 WELCOME 10.0.0.1:5000"
            ]
        );
        assert_eq!(
            notes(&mut room),
            [
                "join 10.0.0.1:5000",
                "leave 10.0.0.1:5000 replaced",
                "join 10.0.0.1:5000"
            ]
        );
        assert_eq!(room.clients().collect::<Vec<_>>(), [id("10.0.0.1:5000")]);
    }

    #[test]
    fn framing_errors_are_refused_in_turn_and_a_long_line_ends_the_client() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        room.connect(1, id("10.0.0.1:5000"));
        outputs(&mut room);
        room.receive(1, "L", &mut boxes);
        room.receive_invalid_utf8(1);
        room.receive(1, "L", &mut boxes);
        room.receive_line_too_long(1);
        room.receive(1, "L", &mut boxes);
        assert_eq!(
            outputs(&mut room),
            [
                "1 CLIENTS 10.0.0.1:5000",
                "1 ERR invalid-utf8 line dropped",
                "1 CLIENTS 10.0.0.1:5000",
                "1 ERR line-too-long over 1024 bytes, closing",
                "1 close"
            ]
        );
        assert_eq!(
            notes(&mut room)[4..],
            [
                "refuse 10.0.0.1:5000 line-too-long",
                "leave 10.0.0.1:5000 line-too-long"
            ]
        );
    }

    #[test]
    fn a_message_whose_from_line_would_be_too_long_is_refused() {
        let mut room = ChatRoom::new();
        let mut boxes = Boxes::default();
        let from = id("10.0.0.1:5000");
        room.connect(1, from);
        outputs(&mut room);
        let longest = "x".repeat(text_bytes_max(from));
        room.receive(1, &format!("{from} {longest}"), &mut boxes);
        room.receive(1, &format!("{from} {longest}y"), &mut boxes);
        let replies = outputs(&mut room);
        assert_eq!(replies[0], "1 SENT 10.0.0.1:5000");
        assert!(replies[1].starts_with("1 ERR message-too-long 10.0.0.1:5000"));
        assert_eq!(boxes.queued.len(), 1);
    }

    #[test]
    fn with_the_roster_cached_per_ms_a_list_after_a_join_of_the_same_ms_leaves_the_joiner_out() {
        let bug = Some(InjectedBug::RosterCachedPerMs);
        let mut boxes = Boxes::default();
        let (a, b, c) = (id("10.0.0.1:1"), id("10.0.0.2:2"), id("10.0.0.3:3"));
        let listed = |room: &mut ChatRoom| -> Vec<String> {
            outputs(room)
                .into_iter()
                .filter(|line| line.contains("CLIENTS"))
                .collect()
        };
        // The order a seeded run takes: every line of the millisecond, then
        // the join. Each list is exact.
        let mut room = ChatRoom::with_bug(bug);
        room.at(1);
        room.connect(1, a);
        room.connect(2, b);
        room.at(7);
        room.receive(1, "L", &mut boxes);
        room.at(7);
        room.receive(2, "L", &mut boxes);
        room.at(7);
        room.connect(3, c);
        room.at(8);
        room.receive(1, "L", &mut boxes);
        assert_eq!(
            listed(&mut room),
            [
                "1 CLIENTS 10.0.0.1:1 10.0.0.2:2",
                "2 CLIENTS 10.0.0.1:1 10.0.0.2:2",
                "1 CLIENTS 10.0.0.1:1 10.0.0.2:2 10.0.0.3:3"
            ]
        );
        // A leave refreshes the roster at once.
        room.at(9);
        room.receive(2, "Q", &mut boxes);
        room.at(9);
        room.receive(1, "L", &mut boxes);
        assert_eq!(listed(&mut room), ["1 CLIENTS 10.0.0.1:1 10.0.0.3:3"]);
        // The join taken before a line of its own millisecond: with the
        // bug, that list leaves out a client already welcomed; without it,
        // the same order lists all three.
        for (with_bug, expected) in [
            (bug, "1 CLIENTS 10.0.0.1:1 10.0.0.2:2"),
            (None, "1 CLIENTS 10.0.0.1:1 10.0.0.2:2 10.0.0.3:3"),
        ] {
            let mut room = ChatRoom::with_bug(with_bug);
            room.at(1);
            room.connect(1, a);
            room.connect(2, b);
            room.at(7);
            room.connect(3, c);
            room.at(7);
            room.receive(1, "L", &mut boxes);
            assert_eq!(listed(&mut room), [expected]);
        }
    }
}
