//! The lock-step client-line parser against the protocol's number grammar
//! (docs/protocol.md, "Framing"): a number is accepted exactly when it is
//! spelled the one canonical way, and stray spaces are refused.

use games::tombola::protocol::ClientMessage;
use proptest::prelude::*;

/// The value of `token` if it is the canonical spelling of a `u32`.
fn canonical(token: &str) -> Option<u32> {
    let value: u32 = token.parse().ok()?;
    (value.to_string() == token).then_some(value)
}

const BOARD: [&str; 15] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];

#[test]
fn the_examples_from_the_issue_are_refused_with_their_codes() {
    let zero_padded = format!("BOARD 05 {}", BOARD[..14].join(" ").replacen("5 ", "", 1));
    for (line, code) in [
        ("ACK 02", "bad-seq"),
        ("ACK +2", "bad-seq"),
        ("ACK 2 ", "bad-seq"),
        ("ACK  2", "bad-seq"),
        ("TOMBOLA 01", "bad-seq"),
        (zero_padded.as_str(), "bad-board"),
        (&format!("BOARD {} ", BOARD.join(" ")), "bad-board"),
        (&format!("BOARD  {}", BOARD.join(" ")), "bad-board"),
    ] {
        match ClientMessage::parse(line) {
            Err(refusal) => assert_eq!(refusal.code, code, "{line:?}"),
            Ok(message) => panic!("{line:?} was taken as {message:?}"),
        }
    }
    assert_eq!(
        ClientMessage::parse(&format!("BOARD {}", BOARD.join(" "))).map(|m| m.to_string()),
        Ok(format!("BOARD {}", BOARD.join(" ")))
    );
}

proptest! {
    #[test]
    fn ack_and_tombola_take_exactly_the_canonical_numbers(
        keyword in prop_oneof![Just("ACK"), Just("TOMBOLA")],
        token in "[-+ 0-9x]{0,11}",
    ) {
        let line = format!("{keyword} {token}");
        match (ClientMessage::parse(&line), canonical(&token)) {
            (Ok(ClientMessage::Ack(seq)), Some(value)) if keyword == "ACK" => prop_assert_eq!(seq, value),
            (Ok(ClientMessage::Tombola(seq)), Some(value)) if keyword == "TOMBOLA" => prop_assert_eq!(seq, value),
            (Err(refusal), None) => prop_assert_eq!(refusal.code, "bad-seq"),
            (parsed, expected) => prop_assert!(false, "{:?}: {:?}, expected {:?}", line, parsed, expected),
        }
    }

    #[test]
    fn a_board_with_any_number_misspelled_is_refused(
        index in 0..15usize,
        spelling in prop_oneof![
            Just("0{}"), Just("+{}"), Just("{} "), Just(" {}"), Just("00{}"),
        ],
    ) {
        let mut tokens: Vec<String> = BOARD.iter().map(|token| token.to_string()).collect();
        tokens[index] = spelling.replace("{}", &tokens[index]);
        let line = format!("BOARD {}", tokens.join(" "));
        let refusal = ClientMessage::parse(&line).expect_err(&line);
        prop_assert_eq!(refusal.code, "bad-board");
    }
}
