//! Properties of the chat room driven through its sans-IO state: no line of
//! any shape, from any client, panics the room, goes unanswered, or is
//! answered to someone else; and the room lists exactly who is left. (That
//! any text arrives byte for byte through the real line codec is a property
//! test beside the room, in `games/src/chat/room.rs`.)

use std::collections::BTreeMap;
use std::net::SocketAddr;

use games::chat::room::{ChatRoom, Mailboxes, Output};
use games::conn::ConnId;
use proptest::prelude::*;

/// Mailboxes that accept everything and keep it, per connection.
#[derive(Default)]
struct Inboxes(BTreeMap<ConnId, Vec<String>>);

impl Mailboxes for Inboxes {
    fn offer(&mut self, conn: ConnId, line: String) -> bool {
        self.0.entry(conn).or_default().push(line);
        true
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

proptest! {
    #[test]
    fn any_line_from_anyone_gets_exactly_one_reply_and_never_panics_the_room(
        lines in proptest::collection::vec(
            (1..=3u64, prop_oneof![
                "\\PC{0,40}",
                Just("L".to_owned()),
                Just("Q".to_owned()),
                "(10\\.0\\.0\\.[1-4]:[1-3])( \\PC{0,20})?",
            ]),
            1..40,
        ),
    ) {
        let ids = [addr("10.0.0.1:1"), addr("10.0.0.2:2"), addr("10.0.0.3:3")];
        let mut room = ChatRoom::new();
        let mut inboxes = Inboxes::default();
        for (index, id) in ids.iter().enumerate() {
            room.connect(index as ConnId + 1, *id);
        }
        std::iter::from_fn(|| room.poll_output()).for_each(drop);
        let mut connected = [true; 3];
        for (conn, line) in lines {
            room.receive(conn, &line, &mut inboxes);
            let outputs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
            let replies = outputs.iter().filter(|output| matches!(output, Output::Reply(..))).count();
            let index = conn as usize - 1;
            if connected[index] {
                prop_assert_eq!(replies, 1, "line {:?} from {}", line, conn);
                let all_to_sender = outputs.iter().all(|output| match output {
                    Output::Reply(to, _) | Output::Close(to) => *to == conn,
                });
                prop_assert!(all_to_sender, "an answer went to another client");
                if outputs.contains(&Output::Close(conn)) {
                    connected[index] = false;
                }
            } else {
                prop_assert!(outputs.is_empty(), "a client that left is not answered");
            }
        }
        let expected: Vec<SocketAddr> =
            ids.iter().zip(connected).filter(|(_, on)| *on).map(|(id, _)| *id).collect();
        prop_assert_eq!(room.clients().collect::<Vec<_>>(), expected);
    }
}

#[test]
fn l_in_a_room_of_the_most_clients_lists_them_all_in_one_line_a_client_can_read() {
    use games::chat::protocol::{ServerMessage, ROOM_CLIENTS_MAX, SERVER_LINE_BYTES_MAX};

    // The longest IPv6 ids, so the line is as long as it can ever be.
    let ids: Vec<SocketAddr> = (0..ROOM_CLIENTS_MAX)
        .map(|index| {
            let text = format!(
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:{:x}%4294967295]:{}",
                0xf000 + index / 1000,
                64_000 + index % 1000
            );
            addr(&text)
        })
        .collect();
    let mut room = ChatRoom::new();
    for (index, id) in ids.iter().enumerate() {
        room.connect(index as ConnId + 1, *id);
    }
    std::iter::from_fn(|| room.poll_output()).for_each(drop);
    room.receive(1, "L", &mut Inboxes::default());
    let outputs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    let [Output::Reply(1, list)] = &outputs[..] else {
        panic!("one reply to L, got {} outputs", outputs.len());
    };
    let line = list.to_string();
    // Clients read server lines up to SERVER_LINE_BYTES_MAX (the codec's
    // own limit is tested beside it, in games::chat::protocol).
    assert!(
        line.len() <= SERVER_LINE_BYTES_MAX,
        "{} bytes, over {SERVER_LINE_BYTES_MAX}",
        line.len()
    );
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        ServerMessage::parse(&line),
        Some(ServerMessage::Clients(sorted))
    );
}
