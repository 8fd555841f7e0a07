//! The lock-step server at its largest: a game of `PLAYERS_MAX` players on
//! the simulator's fast backend starts, plays and ends, though its `START`
//! line is far longer than a client's own line limit.

use crate::engine::harness::RunOptions;
use crate::models::tombola::{builtin_spec, run_spec_fast};
use games::framing::LINE_BYTES_MAX;
use games::tombola::game::PLAYERS_MAX;

#[test]
fn a_game_of_the_most_players_the_server_accepts_starts_and_ends() {
    let mut spec = builtin_spec("tombola-two-players").expect("a built-in scenario");
    let template = spec.players[0].clone();
    spec.server.players = PLAYERS_MAX;
    spec.players = (1..=PLAYERS_MAX)
        .map(|index| {
            let mut player = template.clone();
            player.name = format!("c{index}");
            player
        })
        .collect();
    let outcome = run_spec_fast(&spec, 1, &RunOptions::default());
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert_eq!(outcome.games, 1, "the game started and ended");
    let trace = outcome.trace_text();
    let start = trace
        .lines()
        .find(|line| line.contains("recv START "))
        .expect("a player received START");
    assert!(
        start.len() > LINE_BYTES_MAX,
        "the START line ({} bytes) is longer than a client's own lines",
        start.len()
    );
}
