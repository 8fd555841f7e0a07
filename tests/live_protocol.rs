//! The live claims-line parser against the protocol's number grammar
//! (docs/protocol.md, "Framing"): a number is accepted exactly when it is
//! spelled the one canonical way, and stray spaces are refused, so a typo
//! is never taken for a claim on another game.

use games::live::protocol::ClientMessage;
use proptest::prelude::*;

/// The value of `token` if it is the canonical spelling of a `u64`.
fn canonical(token: &str) -> Option<u64> {
    let value: u64 = token.parse().ok()?;
    (value.to_string() == token).then_some(value)
}

const BOARD: &str = "BOARD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15";

#[test]
fn the_examples_from_the_issue_are_refused_with_their_codes() {
    for (line, code) in [
        ("TOMBOLA 01", "bad-game"),
        ("TOMBOLA 1 ", "bad-game"),
        ("TOMBOLA  1", "bad-game"),
        ("AGAIN ", "bad-arguments"),
        ("QUIT ", "bad-arguments"),
        ("AGAIN now", "bad-arguments"),
        ("BOARD 01 2 3 4 5 6 7 8 9 10 11 12 13 14 15", "bad-board"),
        (&format!("{BOARD} "), "bad-board"),
    ] {
        match ClientMessage::parse(line) {
            Err(refusal) => assert_eq!(refusal.code, code, "{line:?}"),
            Ok(message) => panic!("{line:?} was taken as {message:?}"),
        }
    }
    assert_eq!(ClientMessage::parse("AGAIN"), Ok(ClientMessage::Again));
    assert_eq!(
        ClientMessage::parse("TOMBOLA 10"),
        Ok(ClientMessage::Tombola(10))
    );
    assert!(ClientMessage::parse(BOARD).is_ok());
}

proptest! {
    #[test]
    fn tombola_takes_exactly_the_canonical_numbers(token in "[-+ 0-9x]{0,21}") {
        let line = format!("TOMBOLA {token}");
        match (ClientMessage::parse(&line), canonical(&token)) {
            (Ok(ClientMessage::Tombola(game)), Some(value)) => prop_assert_eq!(game, value),
            (Err(refusal), None) => prop_assert_eq!(refusal.code, "bad-game"),
            (parsed, expected) => prop_assert!(false, "{:?}: {:?}, expected {:?}", line, parsed, expected),
        }
    }

    #[test]
    fn again_and_quit_with_anything_after_them_are_refused(
        keyword in prop_oneof![Just("AGAIN"), Just("QUIT")],
        tail in " \\PC{0,10}",
    ) {
        let refusal = ClientMessage::parse(&format!("{keyword}{tail}")).expect_err("an argument");
        prop_assert_eq!(refusal.code, "bad-arguments");
    }
}
