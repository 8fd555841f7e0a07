//! The live oracles over the facts: draws, claims, game ends, pairing, and
//! every client saw its games; and the rare events a run reached.

use super::*;

/// The oracles, applied to a finished run, and the races it reached. The
/// outcome's trace is left empty: the caller owns the trace.
pub(super) fn judge(
    trace: &[TraceLine],
    host_of: &BTreeMap<String, String>,
    pause_seconds: u64,
    mut violations: Vec<Violation>,
) -> RunOutcome {
    let facts = parse_facts(trace, host_of, &mut violations);
    check_lines_explained(&facts, pause_seconds, &mut violations);
    check_never_seated_after_leaving(&facts, &mut violations);
    check_over_to_every_connection(&facts, &mut violations);
    let mut outcome = RunOutcome::default();
    let liveness_failed = violations
        .iter()
        .any(|violation| violation.property == "liveness");
    for (&(incarnation, number), game) in &facts.games {
        check_draws(number, game, &mut violations);
        check_claims(incarnation, number, game, &facts.boards, &mut violations);
        if !liveness_failed {
            check_game_ends(incarnation, number, game, &facts.left, &mut violations);
        }
        if let Some(winner) = &game.over {
            outcome.games += 1;
            outcome.winners_per_game.push(usize::from(winner.is_some()));
        }
    }
    check_pairing(&facts, &mut violations);
    check_clients_saw_their_games(&facts, &mut violations);
    outcome.reached = races(&facts);
    outcome.violations = violations;
    outcome
}

/// Each game's draws are numbered 1, 2, 3, ..., distinct, in 1..=90.
pub(super) fn check_draws(number: u64, game: &GameFacts, violations: &mut Vec<Violation>) {
    let mut seen = NumberSet::default();
    for (index, &(seq, drawn, _)) in game.draws.iter().enumerate() {
        if seq as usize != index + 1 {
            violations.push(Violation::new(
                "draws-in-sequence",
                format!("game {number}: draw {} is numbered {seq}", index + 1),
            ));
        }
        if !(1..=NUMBER_MAX).contains(&drawn) || !seen.insert(drawn) {
            violations.push(Violation::new(
                "draws-distinct",
                format!("game {number}: draw {seq} is {drawn}, out of range or repeated"),
            ));
        }
    }
}
/// Every claim got the verdict the draws so far justify: the first valid
/// claim wins, a claim on an uncovered board is false, everything after the
/// win is late; the game's `over` names the winner.
pub(super) fn check_claims(
    incarnation: u32,
    number: u64,
    game: &GameFacts,
    boards: &BTreeMap<(u32, String), Board>,
    violations: &mut Vec<Violation>,
) {
    let numbers = game.numbers();
    let mut winner: Option<&str> = None;
    let mut falsely: BTreeSet<&str> = BTreeSet::new();
    for claim in &game.claims {
        let covered = boards
            .get(&(incarnation, claim.id.clone()))
            .is_some_and(|board| {
                let drawn = numbers.get(..claim.drawn).unwrap_or(&numbers);
                board.is_covered_by(&in_range(drawn).into_iter().collect())
            });
        let expected = if claim.superseded {
            ClaimVerdict::WrongGame
        } else if winner.is_some() {
            ClaimVerdict::Late
        } else if claim.after_end {
            ClaimVerdict::NoWinner
        } else if falsely.contains(claim.id.as_str()) {
            ClaimVerdict::Barred
        } else if covered {
            ClaimVerdict::Win
        } else {
            ClaimVerdict::False
        };
        if claim.verdict != expected {
            violations.push(Violation::new(
                "claim-verdicts",
                format!(
                    "game {number}: {} claimed after {} draws (board covered: {covered}) and got {}, expected {expected}",
                    claim.id, claim.drawn, claim.verdict
                ),
            ));
        }
        match claim.verdict {
            ClaimVerdict::Win if winner.is_none() => winner = Some(&claim.id),
            ClaimVerdict::False => {
                falsely.insert(&claim.id);
            }
            _ => {}
        }
    }
    if let Some(over) = &game.over {
        if over.as_deref() != winner {
            violations.push(Violation::new(
                "one-winner",
                format!("game {number}: over names {over:?}, the winning claim was {winner:?}"),
            ));
        }
        if over.is_none()
            && !game.abandoned
            && !game.interrupted
            && numbers.len() < usize::from(NUMBER_MAX)
        {
            violations.push(Violation::new(
                "one-winner",
                format!(
                    "game {number} ended with no winner after {} draws",
                    numbers.len()
                ),
            ));
        }
    }
}

/// A game ends (`over` or `abandon`, or cut by a server crash) unless
/// every player in it left, or was cut off (its client crashed or gave up
/// on a dead link) before the run ended.
pub(super) fn check_game_ends(
    incarnation: u32,
    number: u64,
    game: &GameFacts,
    left: &BTreeSet<(u32, String)>,
    violations: &mut Vec<Violation>,
) {
    if game.ended() {
        return;
    }
    let staying: Vec<&str> = game
        .joins
        .iter()
        .map(|join| join.id.as_str())
        .filter(|id| !left.contains(&(incarnation, (*id).to_owned())))
        .collect();
    if !staying.is_empty() {
        violations.push(Violation::new(
            "game-ends",
            format!("game {number} never ended; still in it: {staying:?}"),
        ));
    }
}

/// Each client's claims connection was paired with its own numbers
/// connection: the id in `WELCOME` is the id in `HELLO`.
///
/// A client ends in an error only where a fault explains it: a connection
/// that failed or closed after a crash or partition touched the client or
/// the server, or a `bad-token` refusal of a token whose server crashed
/// while its `WELCOME` was held in the network. A broken protocol or any
/// other refusal is always a violation.
pub(super) fn check_pairing(facts: &Facts, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let name = &client.name;
        if let (Some(welcome), Some(hello)) = (&client.welcome_id, &client.hello_id) {
            if welcome != hello {
                violations.push(Violation::new(
                    "paired-by-token",
                    format!("{name} was welcomed as {welcome} but paired as {hello}"),
                ));
            }
        }
        if let Some(error) = &client.error {
            let connection = error.starts_with("error connection failed")
                || error.starts_with("error server closed the connection");
            if connection && client.faulted {
                continue;
            }
            // The restarted server rightly refuses a token of the server
            // that welcomed the client and then crashed.
            if client.welcomed_by_gone_server && error.contains("ERR bad-token") {
                continue;
            }
            // A server at its connection bound refuses the connection
            // (`try again later`): a documented refusal, not an error,
            // when a `full` note explains the line (`line-explained`
            // checks that).
            let refused_full = error.ends_with(SERVER_FULL)
                && client.lines.iter().any(|(at, text)| {
                    facts.full_explained.contains(at) && text.ends_with(SERVER_FULL)
                });
            if refused_full {
                continue;
            }
            violations.push(Violation::new("client-error", format!("{name}: {error}")));
        }
    }
}

/// Every client saw each number of each of its games exactly once and in
/// order (history, then draws with no gap), all of them if it saw the end,
/// and the same winner as everyone else.
pub(super) fn check_clients_saw_their_games(facts: &Facts, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let name = &client.name;
        for (&number, seen) in &client.games {
            let Some(game) = facts.games.get(&(client.server, number)) else {
                violations.push(Violation::new(
                    "same-draws",
                    format!("{name} saw game {number}, which the server never started"),
                ));
                continue;
            };
            let server: Vec<u8> = game.numbers();
            let mut numbers = seen.history.clone();
            let mut in_order = true;
            for (index, &(seq, drawn)) in seen.draws.iter().enumerate() {
                in_order &= seq as usize == seen.history.len() + index + 1;
                numbers.push(drawn);
            }
            if !seen.entered {
                // It saw only the end of a game it was not in (`OVER` goes
                // to every numbers connection); a `DRAW` without a `GAME`
                // is judged line by line.
                if let (Some(told), Some(over)) = (&seen.over, &game.over) {
                    if told != over {
                        violations.push(Violation::new(
                            "same-winner",
                            format!("{name} was told {told:?} for game {number}, the server ended it with {over:?}"),
                        ));
                    }
                }
                continue;
            }
            let complete = seen.over.is_none() || numbers == server;
            if !in_order || !server.starts_with(&numbers) || !complete {
                violations.push(Violation::new(
                    "same-draws",
                    format!(
                        "{name} in game {number} saw history {:?} then draws {:?}; the server drew {server:?}",
                        seen.history, seen.draws
                    ),
                ));
            }
            if let (Some(told), Some(over)) = (&seen.over, &game.over) {
                if told != over {
                    violations.push(Violation::new(
                        "same-winner",
                        format!("{name} was told {told:?} for game {number}, the server ended it with {over:?}"),
                    ));
                }
            }
            for late in &seen.late_winners {
                if game.over.as_ref().and_then(Option::as_ref) != Some(late) {
                    violations.push(Violation::new(
                        "same-winner",
                        format!(
                            "{name} was told LATE {number} {late}, the server ended it with {:?}",
                            game.over
                        ),
                    ));
                }
            }
        }
    }
    for game in facts.games.values() {
        for join in &game.joins {
            if join.history != join.drawn {
                violations.push(Violation::new(
                    "history-is-the-draws-so-far",
                    format!(
                        "{} joined with a history of {} after {} draws",
                        join.id, join.history, join.drawn
                    ),
                ));
            }
        }
    }
}

/// The client sent malformed input on purpose (a mischief client).
pub(super) fn client_sent_mischief(client: &ClientFacts) -> bool {
    client.lines.iter().any(|(_, text)| {
        text.starts_with("send-")
            || text == "half-close"
            || text
                .strip_prefix("send ")
                .is_some_and(|sent| grammar_refusal(sent, true).is_some())
    })
}

/// The rare events this run reached, defined from the trace:
/// - `simultaneous-claim`: a game's winner and a late claimer whose boards
///   completed on the same draw;
/// - `join-during-draw`: a registration into a running game noted at the
///   same simulated ms as a draw of that game, or while the last draw of
///   its history was still on its way to some client;
/// - `late-joiner-wins-from-history`: a player whose board was already
///   complete in the history it joined with wins that game;
/// - `claim-during-pause`: a client claimed a game after it had seen that
///   game's `OVER`;
/// - `pairing-out-of-order`: claims connections were paired in another
///   order than their numbers connections arrived (arrival-order pairing
///   would have crossed them);
/// - `server-crash-mid-game`: the server crashed while a game ran;
/// - and plain counts of decisions and harness events: `false-claim`,
///   `claim-barred`, `quit`, `sent-away`, `disconnect`, `again`,
///   `several-games`, `client-crash`, `partition-healed-mid-game`,
///   `hold-released-mid-game` (a heal or release while a game ran),
///   `client-gave-up` (a client gave up on a silent server);
/// - malformed input: `refused-bad-line` (a mischief client's bad line got
///   its grammar refusal), `refused-invalid-utf8`, `refused-line-too-long`,
///   `line-in-pieces` (a line written in many small pieces), `half-close`.
pub(super) fn races(facts: &Facts) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut reach = |name: &str| {
        reached.insert(name.to_owned());
    };
    for (&(incarnation, number), game) in &facts.games {
        let numbers = game.numbers();
        let completes = |id: &str| {
            facts
                .boards
                .get(&(incarnation, id.to_owned()))
                .and_then(|board| board.completion_draw(&in_range(&numbers)))
        };
        if let Some(Some(winner)) = &game.over {
            let at = completes(winner);
            if game.claims.iter().any(|claim| {
                claim.verdict == ClaimVerdict::Late
                    && claim.id != *winner
                    && completes(&claim.id) == at
            }) {
                reach("simultaneous-claim");
            }
            let won_from_history = game.joins.iter().any(|join| {
                join.id == *winner
                    && join.history > 0
                    && facts
                        .boards
                        .get(&(incarnation, join.id.clone()))
                        .and_then(|board| {
                            // A wrong history note may count more numbers
                            // than were drawn: judged elsewhere, never a panic.
                            board.completion_draw(&in_range(numbers.get(..join.history)?))
                        })
                        .is_some()
            });
            if won_from_history {
                reach("late-joiner-wins-from-history");
            }
            // A numbers connection in the millisecond of a win: taken after
            // the winning claim (what a seeded run does with a line and a
            // connection of one ms), or before it (only a search's order).
            if let (Some(over_at), Some(over_ms)) = (game.over_at, game.over_ms) {
                for &(connect_at, connect_ms) in
                    facts.connect_times.get(&incarnation).into_iter().flatten()
                {
                    if connect_ms == over_ms {
                        reach("connect-in-winning-ms");
                        if connect_at < over_at {
                            reach("connect-before-win-in-its-ms");
                        }
                    }
                }
            }
        }
        for join in game.joins.iter().filter(|join| join.history > 0) {
            let same_ms = game
                .draws
                .iter()
                .any(|&(_, _, time_ms)| time_ms == join.time_ms);
            let in_flight = facts
                .draw_received_ms
                .get(&((incarnation, number), join.history as u32))
                .is_some_and(|&received_ms| received_ms >= join.time_ms);
            if same_ms || in_flight {
                reach("join-during-draw");
            }
        }
    }
    if facts
        .clients
        .iter()
        .any(|client| client.claims_after_over > 0)
    {
        reach("claim-during-pause");
    }
    for (incarnation, pairs) in &facts.pairs {
        let paired: BTreeSet<&String> = pairs.iter().collect();
        let arrival: Vec<&String> = facts
            .connects
            .get(incarnation)
            .into_iter()
            .flatten()
            .filter(|id| paired.contains(id))
            .collect();
        if arrival != pairs.iter().collect::<Vec<_>>() {
            reach("pairing-out-of-order");
        }
    }
    if facts.games.values().any(|game| game.interrupted) {
        reach("server-crash-mid-game");
    }
    for (decision, race) in [
        ("false", "false-claim"),
        ("barred", "claim-barred"),
        ("quit", "quit"),
        ("goodbye", "sent-away"),
        ("numbers-closed", "disconnect"),
        ("claims-closed", "disconnect"),
        ("again", "again"),
        ("client-crash", "client-crash"),
        ("healed-mid-game", "partition-healed-mid-game"),
        ("released-mid-game", "hold-released-mid-game"),
        ("gave-up", "client-gave-up"),
    ] {
        if facts
            .decisions
            .get(decision)
            .is_some_and(|&count| count > 0)
        {
            reach(race);
        }
    }
    if facts
        .games
        .values()
        .filter(|game| game.over.is_some())
        .count()
        >= 2
    {
        reach("several-games");
    }
    // Malformed input and the refusals it got.
    for client in &facts.clients {
        for (_, text) in &client.lines {
            match text.split(' ').collect::<Vec<_>>()[..] {
                ["recv", "ERR", "invalid-utf8", ..] => reach("refused-invalid-utf8"),
                ["recv", "ERR", "line-too-long", ..] => reach("refused-line-too-long"),
                ["recv", "ERR", code, ..]
                    if GRAMMAR_REFUSALS.contains(&code) && client_sent_mischief(client) =>
                {
                    reach("refused-bad-line")
                }
                ["send-in-pieces", ..] => reach("line-in-pieces"),
                ["half-close"] => reach("half-close"),
                _ => {}
            }
        }
    }
    reached
}
