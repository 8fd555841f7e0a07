//! Every line a live client received, explained: the grammar refusals a
//! line earns, what a player was told, and who was seated after leaving.

use super::*;

/// The refusal codes a line that is no valid command in the client's state
/// may get (see docs/protocol.md): grammar, pairing and framing refusals.
pub(super) const GRAMMAR_REFUSALS: &[&str] = &[
    "unknown-command",
    "bad-arguments",
    "bad-board",
    "bad-game",
    "bad-token",
    "not-paired",
    "already-paired",
    "already-registered",
    "not-registered",
    "not-paused",
    "invalid-utf8",
    "line-too-long",
];

/// Stands in the pending lines for a line that was not UTF-8.
pub(super) const INVALID_UTF8: &str = "\u{1}invalid-utf8";
/// Stands in the pending lines for a line over the length limit.
pub(super) const OVER_LIMIT: &str = "\u{1}over-limit";

/// The refusal the protocol's grammar gives `line` on a claims connection
/// (paired or not), or `None` for a well-formed command, whose answer
/// depends on the game. Written from docs/protocol.md, not from the
/// server's parser: it judges the parser too.
pub(super) fn grammar_refusal(line: &str, paired: bool) -> Option<&'static str> {
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    let decimal = |word: &str| {
        !word.is_empty()
            && word.bytes().all(|byte| byte.is_ascii_digit())
            && (word == "0" || !word.starts_with('0'))
    };
    match keyword {
        "HELLO" if paired => Some("already-paired"),
        "HELLO" => {
            let token = rest.len() == 16 && rest.bytes().all(|byte| byte.is_ascii_hexdigit());
            (!token).then_some("bad-token")
        }
        "BOARD" => {
            let numbers: Vec<&str> = rest.split(' ').collect();
            let mut seen = NumberSet::default();
            let valid = numbers.len() == 15
                && numbers.iter().all(|word| {
                    decimal(word)
                        && word.parse::<u8>().is_ok_and(|number| {
                            (1..=NUMBER_MAX).contains(&number) && seen.insert(number)
                        })
                });
            (!valid).then_some("bad-board")
        }
        "TOMBOLA" => (!(decimal(rest) && rest.parse::<u64>().is_ok())).then_some("bad-game"),
        "AGAIN" | "QUIT" => (!rest.is_empty()).then_some("bad-arguments"),
        _ => Some("unknown-command"),
    }
}

/// The server's notes naming one player, consumed in order as the client's
/// lines are explained.
#[derive(Default)]
pub(super) struct PlayerNotes {
    pub(super) connected: bool,
    pub(super) paired: bool,
    pub(super) boards: usize,
    pub(super) joins: VecDeque<(usize, u64, usize)>,
    pub(super) claims: VecDeque<(u64, ClaimVerdict)>,
    pub(super) agains: usize,
    /// The trace index of its first `quit`, `goodbye` or `drop`.
    pub(super) left_at: Option<usize>,
    pub(super) sent_away: bool,
    pub(super) pairing_timeout: bool,
}

pub(super) fn player_notes(facts: &Facts, key: &(u32, String)) -> PlayerNotes {
    let mut notes = PlayerNotes::default();
    for (at, note) in facts.notes_by_id.get(key).into_iter().flatten() {
        match note {
            Note::Connect { .. } => notes.connected = true,
            Note::Pair { .. } => notes.paired = true,
            Note::Board { .. } => notes.boards += 1,
            Note::Join { game, history, .. } => notes.joins.push_back((*at, *game, *history)),
            Note::Claim { game, verdict, .. } => notes.claims.push_back((*game, *verdict)),
            Note::Again { .. } => notes.agains += 1,
            Note::Quit { .. } | Note::Goodbye { .. } | Note::Drop { .. } => {
                notes.left_at.get_or_insert(*at);
                notes.sent_away |= matches!(note, Note::Goodbye { .. });
                notes.pairing_timeout |= matches!(
                    note,
                    Note::Drop {
                        reason: DropReason::PairingTimeout,
                        ..
                    }
                );
            }
            _ => {}
        }
    }
    notes
}

/// Every line every client received is explained by what it sent and what
/// the server recorded (`line-explained`):
/// - numbers port: `WELCOME <id> <token>` first, for an id the server
///   connected; `GAME <g> HISTORY ...` for a `join` of this player, equal to
///   the server's first draws of that game; `DRAW <g> <seq> <n>` only in a
///   game it entered, equal to the server's draw `seq`, drawn after its join;
///   `OVER` as the server ended that game; `NEXT <g+1> IN <pause>` right
///   after `OVER <g>`; `GOODBYE` only to a player sent away; nothing but
///   lines the server sent before the player left, nothing after `GOODBYE`;
/// - claims port: one reply per line sent, in order: `HELLO <own id>` when
///   paired, `BOARD-OK` for a recorded board, to `TOMBOLA` the reply that
///   matches the verdict the server recorded for that claim (`WIN` only for
///   `win`, `LATE <g> <recorded winner>`, `ERR false-claim|claim-barred|
///   game-over|wrong-game <g>`), `AGAIN-OK` for a recorded `again`,
///   `GOODBYE` to `QUIT`, a grammar refusal to anything else; nothing after
///   `GOODBYE`, nothing unasked but a sent-away `GOODBYE` or a
///   `pairing-timeout`.
///
/// A connection the server refused at its connection bound gets
/// `ERR server-full try again later` as its first line and nothing more,
/// and only as many of those as the server noted `full` before them.
///
/// A session the server closed without a fault, with a line still
/// unanswered and no `GOODBYE`, broke `reply-missing`.
pub(super) fn check_lines_explained(
    facts: &Facts,
    pause_seconds: u64,
    violations: &mut Vec<Violation>,
) {
    for client in &facts.clients {
        let name = &client.name;
        let mut fail = |property: &str, detail: String| {
            violations.push(Violation::new(property, format!("{name}: {detail}")));
        };
        let id = client.welcome_id.clone().unwrap_or_default();
        let key = (client.server, id.clone());
        let mut notes = player_notes(facts, &key);
        let game_of = |game: u64| facts.games.get(&(client.server, game));
        let mut numbers_lines = 0usize;
        let mut numbers_goodbye = false;
        let mut claims_goodbye = false;
        // The server refused the connection at its bound (`SERVER_FULL`).
        let mut numbers_refused = false;
        let mut claims_refused = false;
        // The game entered and the trace index of its join note.
        let mut entered: BTreeMap<u64, usize> = BTreeMap::new();
        // The previous line on the numbers port (borrowed, not copied: this
        // runs for every line a client receives).
        let mut previous_numbers: &str = "";
        let mut pending: VecDeque<String> = VecDeque::new();
        let mut left_on_purpose = false;
        // The claims connection was paired (a `HELLO <id>` came back).
        let mut paired = false;
        let mut closed = false;
        for (at, text) in &client.lines {
            let left_before = |noted_at: usize| notes.left_at.is_none_or(|left| noted_at < left);
            if let Some(sent) = text
                .strip_prefix("send ")
                .or_else(|| text.strip_prefix("send-in-pieces "))
            {
                if !sent.is_empty() {
                    pending.push_back(sent.to_owned());
                }
                continue;
            }
            if text.starts_with("send-invalid-utf8 ") {
                pending.push_back(INVALID_UTF8.to_owned());
                continue;
            }
            if text.starts_with("send-over-limit ") {
                pending.push_back(OVER_LIMIT.to_owned());
                continue;
            }
            if text == "half-close" {
                continue;
            }
            if text == "leave" {
                left_on_purpose = true;
                continue;
            }
            if text.starts_with("result closed") || text.starts_with("error server closed") {
                closed = true;
                continue;
            }
            if let Some(line) = text.strip_prefix("recv# ") {
                let words: Vec<&str> = line.split(' ').collect();
                numbers_lines += 1;
                if numbers_refused {
                    fail(
                        "line-explained",
                        format!("numbers port got {line:?} after {SERVER_FULL:?}"),
                    );
                    continue;
                }
                if numbers_lines == 1 && line == SERVER_FULL {
                    numbers_refused = true;
                    if !facts.full_explained.contains(at) {
                        fail(
                            "line-explained",
                            format!("numbers port got {line:?} (trace line {at}) with no `full` noted by the server before it"),
                        );
                    }
                    continue;
                }
                if numbers_goodbye {
                    fail(
                        "line-explained",
                        format!("numbers port got {line:?} after GOODBYE"),
                    );
                    continue;
                }
                let after_over = previous_numbers;
                previous_numbers = line;
                if numbers_lines == 1 {
                    let welcomed = matches!(words[..], ["WELCOME", welcome_id, token]
                        if welcome_id == id && token.len() == 16
                            && token.bytes().all(|byte| byte.is_ascii_hexdigit()));
                    if !welcomed || !notes.connected {
                        fail(
                            "line-explained",
                            format!("the first line on the numbers port is {line:?}, not the WELCOME of a connected id"),
                        );
                    }
                    continue;
                }
                let explained = match words[..] {
                    ["GAME", game, "HISTORY", ..] => {
                        let game: u64 = number(game);
                        let history: Vec<u8> = words[3..].iter().map(|word| number(word)).collect();
                        match notes.joins.pop_front() {
                            Some((join_at, joined, count))
                                if joined == game
                                    && count == history.len()
                                    && left_before(join_at) =>
                            {
                                let server =
                                    game_of(game).map(GameFacts::numbers).unwrap_or_default();
                                entered.insert(game, join_at);
                                server.get(..count) == Some(&history[..])
                            }
                            _ => false,
                        }
                    }
                    ["DRAW", game, seq, drawn] => {
                        let (game, seq, drawn): (u64, usize, u8) =
                            (number(game), number(seq), number(drawn));
                        match (entered.get(&game), game_of(game)) {
                            (Some(&join_at), Some(facts_of_game)) => {
                                let index = seq.wrapping_sub(1);
                                let noted =
                                    facts_of_game.draws.get(index).map(|&(_, number, _)| number);
                                let noted_at =
                                    facts_of_game.draw_at.get(index).copied().unwrap_or(0);
                                seq >= 1
                                    && noted == Some(drawn)
                                    && noted_at > join_at
                                    && left_before(noted_at)
                            }
                            _ => false,
                        }
                    }
                    ["OVER", game, "WINNER", _] | ["OVER", game, "NOWINNER"] => {
                        let told = words.get(3).map(|winner| (*winner).to_owned());
                        game_of(number(game)).is_some_and(|game| {
                            game.over == Some(told) && game.over_at.is_some_and(left_before)
                        })
                    }
                    ["NEXT", next, "IN", seconds] => {
                        let next: u64 = number(next);
                        let mut before = after_over.split(' ');
                        before.next() == Some("OVER")
                            && before.next().map(|game| number::<u64>(game) + 1) == Some(next)
                            && number::<u64>(seconds) == pause_seconds
                            && *seconds == number::<u64>(seconds).to_string()
                    }
                    ["GOODBYE"] => {
                        numbers_goodbye = true;
                        notes.sent_away
                    }
                    ["ERR", "pairing-timeout", ..] => notes.pairing_timeout,
                    _ => false,
                };
                if !explained {
                    fail(
                        "line-explained",
                        format!("numbers port got {line:?} (trace line {at}), which the server's notes do not explain"),
                    );
                }
                continue;
            }
            let Some(line) = text.strip_prefix("recv ") else {
                continue;
            };
            if claims_goodbye {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} after GOODBYE"),
                );
                continue;
            }
            if claims_refused {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} after {SERVER_FULL:?}"),
                );
                continue;
            }
            if line == SERVER_FULL && !paired {
                // Refused as it connected: what it sent is never answered.
                claims_refused = true;
                pending.clear();
                if !facts.full_explained.contains(at) {
                    fail(
                        "line-explained",
                        format!("claims port got {line:?} (trace line {at}) with no `full` noted by the server before it"),
                    );
                }
                continue;
            }
            let words: Vec<&str> = line.split(' ').collect();
            let quitting = pending.front().is_some_and(|sent| sent == "QUIT");
            if line == "GOODBYE" && !quitting && notes.sent_away {
                // Sent away at the end of the pause: whatever it still had
                // in flight is never answered.
                claims_goodbye = true;
                pending.clear();
                continue;
            }
            if words.first() == Some(&"ERR") && words.get(1) == Some(&"pairing-timeout") {
                if !notes.pairing_timeout {
                    fail(
                        "line-explained",
                        format!("claims port got {line:?} with no pairing timeout noted"),
                    );
                }
                continue;
            }
            let Some(sent) = pending.pop_front() else {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} (trace line {at}) with no line of its own to answer"),
                );
                continue;
            };
            let asked: Vec<&str> = sent.split(' ').collect();
            let refusal =
                |codes: &[&str]| matches!(words[..], ["ERR", code, ..] if codes.contains(&code));
            let expected_refusal = if sent == INVALID_UTF8 {
                Some("invalid-utf8")
            } else if sent == OVER_LIMIT {
                // The server ends the connection after this refusal.
                claims_goodbye = true;
                Some("line-too-long")
            } else {
                grammar_refusal(&sent, paired)
            };
            let explained = match (expected_refusal, &asked[..]) {
                (Some(code), _) => refusal(&[code]),
                (None, asked) => match asked {
                    ["HELLO", _] => match words[..] {
                        ["HELLO", hello_id] => {
                            paired = hello_id == id && notes.paired;
                            paired
                        }
                        _ => refusal(&["bad-token", "already-paired"]),
                    },
                    ["BOARD", ..] => match words[..] {
                        ["BOARD-OK"] if notes.boards > 0 => {
                            notes.boards -= 1;
                            true
                        }
                        _ => refusal(&["bad-board", "already-registered", "not-paired"]),
                    },
                    ["TOMBOLA", claimed] => {
                        let claimed: u64 = number(claimed);
                        match notes.claims.pop_front() {
                            Some((game, verdict)) if game == claimed => {
                                match (verdict, &words[..]) {
                                    (ClaimVerdict::Win, ["WIN", won]) => number::<u64>(won) == game,
                                    (ClaimVerdict::Late, ["LATE", late, winner]) => {
                                        number::<u64>(late) == game
                                            && game_of(game).and_then(|game| game.over.clone())
                                                == Some(Some((*winner).to_owned()))
                                    }
                                    (ClaimVerdict::False, ["ERR", "false-claim", refused])
                                    | (
                                        ClaimVerdict::Barred,
                                        ["ERR", "claim-barred", refused, ..],
                                    )
                                    | (ClaimVerdict::NoWinner, ["ERR", "game-over", refused, ..])
                                    | (
                                        ClaimVerdict::WrongGame,
                                        ["ERR", "wrong-game", refused, ..],
                                    ) => number::<u64>(refused) == game,
                                    _ => false,
                                }
                            }
                            Some(other) => {
                                notes.claims.push_front(other);
                                false
                            }
                            None => refusal(&["not-registered", "not-paired", "bad-game"]),
                        }
                    }
                    ["AGAIN"] => match words[..] {
                        ["AGAIN-OK"] if notes.agains > 0 => {
                            notes.agains -= 1;
                            true
                        }
                        _ => refusal(&["not-paused", "not-registered", "not-paired"]),
                    },
                    ["QUIT"] => {
                        claims_goodbye = line == "GOODBYE";
                        claims_goodbye
                    }
                    _ => refusal(GRAMMAR_REFUSALS),
                },
            };
            if !explained {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} (trace line {at}) in answer to {sent:?}, which the server's notes do not explain"),
                );
            }
        }
        let ended_by_server = closed && !numbers_goodbye && !claims_goodbye;
        if ended_by_server && !left_on_purpose && !client.faulted && !client.cut_off {
            if let Some(sent) = pending.front() {
                fail(
                    "reply-missing",
                    format!(
                        "the server closed the session with {sent:?} unanswered and no GOODBYE"
                    ),
                );
            }
        }
    }
}

/// A player who quit, was sent away or dropped is never seated, registered
/// or judged again (`never-seated-after-leaving`).
pub(super) fn check_never_seated_after_leaving(facts: &Facts, violations: &mut Vec<Violation>) {
    for ((_, id), notes) in &facts.notes_by_id {
        let mut left = false;
        for (_, note) in notes {
            let seats = matches!(
                note,
                Note::Join { .. }
                    | Note::Wait { .. }
                    | Note::Board { .. }
                    | Note::Claim { .. }
                    | Note::Again { .. }
                    | Note::Pair { .. }
            );
            if left && seats {
                violations.push(Violation::new(
                    "never-seated-after-leaving",
                    format!("{id} left, then the server noted {:?}", note.to_string()),
                ));
                break;
            }
            left |= note.is_leaving();
        }
    }
}

/// `OVER` and `NEXT` go to every numbers connection, paired and registered
/// or not (docs/protocol.md), and a connection delivers its lines in order
/// without a gap, faults or not: a lost segment stalls or kills what comes
/// after it. So a numbers connection that received a line the server queued
/// after a game ended (a later `GAME ... HISTORY`, `DRAW`, `OVER` or
/// `GOODBYE`, placed by the server's note for it) received that game's
/// `OVER`, and right after it its `NEXT`, if the server had connected it
/// before the game ended and it had not left (`over-to-every-connection`).
/// Judged on what arrived, so it holds on every prefix of a run.
pub(super) fn check_over_to_every_connection(facts: &Facts, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let Some(id) = &client.welcome_id else {
            continue;
        };
        let Some(notes) = facts.notes_by_id.get(&(client.server, id.clone())) else {
            continue;
        };
        let Some(connected_at) = notes
            .iter()
            .find(|(_, note)| matches!(note, Note::Connect { .. }))
            .map(|&(at, _)| at)
        else {
            continue;
        };
        let left_at = notes
            .iter()
            .find(|(_, note)| note.is_leaving())
            .map(|&(at, _)| at);
        let games = facts
            .games
            .range((client.server, 0)..=(client.server, u64::MAX));
        // The games that ended while it was connected: (trace index of the
        // `over` note, game), earliest first.
        let mut ended: Vec<(usize, u64)> = games
            .filter_map(|(&(_, number), game)| game.over_at.map(|at| (at, number)))
            .filter(|&(at, _)| at > connected_at && left_at.is_none_or(|left| at < left))
            .collect();
        if ended.is_empty() {
            continue;
        }
        ended.sort_unstable();
        let mut joins = notes
            .iter()
            .filter(|(_, note)| matches!(note, Note::Join { .. }))
            .map(|&(at, _)| at);
        let game_of = |game: &str| facts.games.get(&(client.server, number(game)));
        // How many of `ended` it heard, and the game whose `OVER` was its
        // last numbers line (its `NEXT` must come next).
        let mut heard = 0usize;
        let mut awaiting_next: Option<u64> = None;
        for (at, text) in &client.lines {
            let Some(line) = text.strip_prefix("recv# ") else {
                continue;
            };
            let words: Vec<&str> = line.split(' ').collect();
            if let Some(game) = awaiting_next.take() {
                if words.first() != Some(&"NEXT") {
                    violations.push(Violation::new(
                        "over-to-every-connection",
                        format!(
                            "{}: numbers port got {line:?} (trace line {at}) right after OVER {game}, not its NEXT",
                            client.name
                        ),
                    ));
                }
            }
            // Where the server queued this line: the trace index of its note.
            let queued_at = match words[..] {
                ["GAME", ..] => joins.next(),
                ["DRAW", game, seq, _] => game_of(game).and_then(|facts_of_game| {
                    let index = number::<usize>(seq).wrapping_sub(1);
                    facts_of_game.draw_at.get(index).copied()
                }),
                ["OVER", game, ..] => game_of(game).and_then(|facts_of_game| facts_of_game.over_at),
                ["GOODBYE"] | ["ERR", "pairing-timeout", ..] => left_at,
                _ => None,
            };
            let Some(queued_at) = queued_at else {
                continue;
            };
            while let Some(&(over_at, game)) = ended.get(heard) {
                if over_at > queued_at {
                    break;
                }
                heard += 1;
                if over_at == queued_at {
                    awaiting_next = Some(game);
                } else {
                    violations.push(Violation::new(
                        "over-to-every-connection",
                        format!(
                            "{}: numbers port got {line:?} (trace line {at}) but never OVER {game}, which the server sent every numbers connection before it (trace line {over_at}; {id} connected at trace line {connected_at})",
                            client.name
                        ),
                    ));
                }
            }
        }
    }
}
