//! The trace of a live run read back as facts: games, claims, joins and
//! what each client saw, keyed by server incarnation.

use super::*;

/// A game's key: (server incarnation, game number).
pub(super) type GameKey = (u32, u64);

/// A claim as the server judged it.
#[derive(Debug, Clone)]
pub(super) struct ClaimNote {
    pub(super) id: String,
    pub(super) verdict: ClaimVerdict,
    /// How many numbers of the game had been drawn when it was judged.
    pub(super) drawn: usize,
    /// The game had ended (`over` or `abandon`) when it was judged.
    pub(super) after_end: bool,
    /// A later game had started when it was judged.
    pub(super) superseded: bool,
}

/// A registration into a running game.
#[derive(Debug, Clone)]
pub(super) struct JoinNote {
    pub(super) id: String,
    pub(super) history: usize,
    pub(super) time_ms: u64,
    /// Draws of the game the server had noted when the join was noted.
    pub(super) drawn: usize,
}

/// One game as the server's notes tell it.
#[derive(Debug, Default, Clone)]
pub(super) struct GameFacts {
    /// `(seq, number, time_ms)` in the order drawn.
    pub(super) draws: Vec<(u32, u8, u64)>,
    /// The trace index of each draw's note, in the same order.
    pub(super) draw_at: Vec<usize>,
    /// The trace index of the `over` note.
    pub(super) over_at: Option<usize>,
    /// The simulated time of the `over` note.
    pub(super) over_ms: Option<u64>,
    pub(super) joins: Vec<JoinNote>,
    pub(super) claims: Vec<ClaimNote>,
    /// `Some(winner)` once over.
    pub(super) over: Option<Option<String>>,
    pub(super) abandoned: bool,
    /// The server crashed while this game ran.
    pub(super) interrupted: bool,
}

impl GameFacts {
    pub(super) fn numbers(&self) -> Vec<u8> {
        self.draws.iter().map(|&(_, number, _)| number).collect()
    }

    pub(super) fn ended(&self) -> bool {
        self.over.is_some() || self.abandoned || self.interrupted
    }
}

/// One game as one client incarnation saw it.
#[derive(Debug, Default, Clone)]
pub(super) struct SeenGame {
    /// It received `GAME <game> HISTORY ...`: it played this game. `OVER`
    /// and `NEXT` go to every numbers connection, so a client can see the
    /// end of a game it never entered.
    pub(super) entered: bool,
    pub(super) history: Vec<u8>,
    /// `(seq, number)` of each `DRAW` after the history.
    pub(super) draws: Vec<(u32, u8)>,
    pub(super) over: Option<Option<String>>,
    /// Winners named by `LATE` answers.
    pub(super) late_winners: Vec<String>,
}

/// What one client incarnation's lines say.
#[derive(Debug, Default, Clone)]
pub(super) struct ClientFacts {
    pub(super) name: String,
    /// The server incarnation it talked to.
    pub(super) server: u32,
    pub(super) welcome_id: Option<String>,
    pub(super) hello_id: Option<String>,
    pub(super) games: BTreeMap<u64, SeenGame>,
    /// Claims it sent after it had seen `OVER` for that game.
    pub(super) claims_after_over: usize,
    pub(super) error: Option<String>,
    /// It ended without the server's word: it gave up on a silent server,
    /// or it crashed.
    pub(super) cut_off: bool,
    /// A crash or a partition touched it (or the server) before its end.
    pub(super) faulted: bool,
    /// Its `WELCOME` came from a server incarnation that had crashed
    /// before the line arrived (it was held in the network), so `server`
    /// names that incarnation and the token is unknown to the new one.
    pub(super) welcomed_by_gone_server: bool,
    /// Its `send`, `recv`, `recv#`, `leave` and `result` lines with their
    /// trace index, for the line-by-line oracle.
    pub(super) lines: Vec<(usize, String)>,
}

/// A server note with its index in the trace.
pub(super) type IndexedNote = (usize, Note);

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) boards: BTreeMap<(u32, String), Board>,
    pub(super) games: BTreeMap<GameKey, GameFacts>,
    pub(super) clients: Vec<ClientFacts>,
    /// Per server incarnation: numbers connections in arrival order, and
    /// players in the order they were paired.
    pub(super) connects: BTreeMap<u32, Vec<String>>,
    /// Per server incarnation: each `connect` note's trace index and time.
    pub(super) connect_times: BTreeMap<u32, Vec<(usize, u64)>>,
    pub(super) pairs: BTreeMap<u32, Vec<String>>,
    /// Players who quit, were sent away or dropped, or whose client was
    /// cut off: (server incarnation, id).
    pub(super) left: BTreeSet<(u32, String)>,
    /// `(game, seq)` -> the latest time a client received that draw.
    pub(super) draw_received_ms: BTreeMap<(GameKey, u32), u64>,
    /// Counts of notable server decisions and harness events.
    pub(super) decisions: BTreeMap<String, usize>,
    /// Per (server incarnation, player id): the server's notes naming it
    /// (`connect`, `pair`, `board`, `join`, `claim`, `again`, `wait`,
    /// `quit`, `goodbye`, `drop`), with their trace index.
    pub(super) notes_by_id: BTreeMap<(u32, String), Vec<IndexedNote>>,
    /// Trace indices of the server's `full <peer>` lines: a connection it
    /// refused because it held `CONNECTIONS_MAX` already.
    pub(super) full_noted: Vec<usize>,
    /// Trace indices of the `ERR server-full` lines clients received that
    /// a `full` note before them explains (the k-th refusal received needs
    /// k notes before it).
    pub(super) full_explained: BTreeSet<usize>,
}

/// The line a server at its connection bound answers a new connection
/// with before closing it (`games::conn::SERVER_FULL_REFUSAL`).
pub(super) const SERVER_FULL: &str = games::conn::SERVER_FULL_REFUSAL;

/// Matches refusals received to the server's `full` notes, in order.
fn explain_full_refusals(facts: &mut Facts) {
    let mut received: Vec<usize> = facts
        .clients
        .iter()
        .flat_map(|client| client.lines.iter())
        .filter(|(_, text)| {
            text.strip_prefix("recv# ")
                .or_else(|| text.strip_prefix("recv "))
                == Some(SERVER_FULL)
        })
        .map(|&(at, _)| at)
        .collect();
    received.sort_unstable();
    for (k, at) in received.into_iter().enumerate() {
        if facts.full_noted.get(k).is_some_and(|&noted| noted < at) {
            facts.full_explained.insert(at);
        }
    }
}

pub(super) fn number<T: std::str::FromStr + Default>(word: &str) -> T {
    word.parse().unwrap_or_default()
}

pub(super) fn count(facts: &mut Facts, decision: &str) {
    *facts.decisions.entry(decision.to_owned()).or_default() += 1;
}

/// `host_of` names each client's host: a crash or restart of a host is one
/// of every client on it.
pub(super) fn parse_facts(
    lines: &[TraceLine],
    host_of: &BTreeMap<String, String>,
    violations: &mut Vec<Violation>,
) -> Facts {
    let mut facts = Facts::default();
    let mut incarnation = 1u32;
    let mut latest_started: u64 = 0;
    // The game running on the current server incarnation.
    let mut current: Option<GameKey> = None;
    // Client name -> index in facts.clients of its current incarnation.
    let mut latest: BTreeMap<String, usize> = BTreeMap::new();
    // Hosts a crash or partition has touched so far.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // One buffer for every line's words: a Vec per line was a malloc and
    // a free for each of them.
    let mut words: Vec<&str> = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        words.clear();
        words.extend(line.text.split(' '));
        if line.host == "sim" {
            match words[..] {
                ["crash", "server"] => {
                    touched.insert("server".to_owned());
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.interrupted = true;
                    }
                    current = None;
                }
                ["restart", "server"] => {
                    // Restarting a server that is still up (a second crash
                    // fault that fell while it was down, then its restart)
                    // crashes it first: the running game is cut.
                    touched.insert("server".to_owned());
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.interrupted = true;
                    }
                    current = None;
                    incarnation += 1;
                    latest_started = 0;
                }
                ["crash", host] => {
                    touched.insert(host.to_owned());
                    count(&mut facts, "client-crash");
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        if let Some(client) = latest
                            .get(name)
                            .and_then(|&index| facts.clients.get_mut(index))
                        {
                            client.cut_off = true;
                            if let Some(id) = &client.welcome_id {
                                facts.left.insert((client.server, id.clone()));
                            }
                        }
                    }
                }
                ["restart", host] => {
                    // A restart of a host still up cuts its clients off,
                    // as a crash does.
                    touched.insert(host.to_owned());
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        if let Some(index) = latest.remove(name) {
                            if let Some(client) = facts.clients.get_mut(index) {
                                client.cut_off = true;
                                if let Some(id) = &client.welcome_id {
                                    facts.left.insert((client.server, id.clone()));
                                }
                            }
                        }
                    }
                }
                ["partition", a, b] => {
                    touched.insert(a.to_owned());
                    touched.insert(b.to_owned());
                }
                ["heal", ..] if current.is_some() => count(&mut facts, "healed-mid-game"),
                ["release", ..] if current.is_some() => count(&mut facts, "released-mid-game"),
                _ => {}
            }
            continue;
        }
        if line.host == "server" {
            let note = match line.text.parse::<Note>() {
                Ok(note) => note,
                Err(_) if is_shell_line(&line.text) => {
                    if line.text.starts_with("full ") {
                        facts.full_noted.push(at);
                    }
                    continue;
                }
                // The server writes nothing else: a line that is neither a
                // note nor the shell's is a broken note.
                Err(_) => {
                    violations.push(Violation::new("trace-format", line.text.clone()));
                    continue;
                }
            };
            if let Some(id) = note.player() {
                let key = (incarnation, id.to_owned());
                if matches!(note, Note::Connect { .. })
                    && facts.notes_by_id.get(&key).is_some_and(|notes| {
                        notes
                            .iter()
                            .any(|(_, note)| matches!(note, Note::Connect { .. }))
                    })
                {
                    violations.push(Violation::new(
                        "ids-unique",
                        format!("the server gave the id {id} to a second numbers connection"),
                    ));
                }
                facts
                    .notes_by_id
                    .entry(key)
                    .or_default()
                    .push((at, note.clone()));
            }
            match note {
                Note::Connect { player } => {
                    facts.connects.entry(incarnation).or_default().push(player);
                    facts
                        .connect_times
                        .entry(incarnation)
                        .or_default()
                        .push((at, line.time_ms));
                }
                Note::Pair { player } => facts.pairs.entry(incarnation).or_default().push(player),
                Note::Board { player, board } => {
                    facts.boards.insert((incarnation, player), board);
                }
                Note::Start { game } => {
                    latest_started = game;
                    current = Some((incarnation, latest_started));
                    facts
                        .games
                        .insert((incarnation, latest_started), GameFacts::default());
                }
                Note::Join {
                    player,
                    game,
                    history,
                } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.joins.push(JoinNote {
                        id: player,
                        history,
                        time_ms: line.time_ms,
                        drawn: game.draws.len(),
                    });
                }
                Note::Draw { game, seq, number } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.draws.push((seq, number, line.time_ms));
                    game.draw_at.push(at);
                }
                Note::Claim {
                    player,
                    game: claimed,
                    verdict,
                } => {
                    match facts.games.get_mut(&(incarnation, claimed)) {
                        Some(game) => game.claims.push(ClaimNote {
                            id: player,
                            verdict,
                            drawn: game.draws.len(),
                            after_end: game.over.is_some() || game.abandoned,
                            superseded: claimed < latest_started,
                        }),
                        None if verdict == ClaimVerdict::WrongGame => {}
                        None => violations.push(Violation::new(
                            "claim-verdicts",
                            format!("{player} claimed game {claimed}, which never started, and got {verdict}"),
                        )),
                    }
                    count(&mut facts, verdict.as_str());
                }
                Note::Over { game, winner } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.over = Some(winner);
                    game.over_at = Some(at);
                    game.over_ms = Some(line.time_ms);
                    current = None;
                }
                Note::Abandon { game } => {
                    facts
                        .games
                        .entry((incarnation, game))
                        .or_default()
                        .abandoned = true;
                    current = None;
                }
                Note::Quit { player } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, "quit");
                }
                Note::Goodbye { player } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, "goodbye");
                }
                Note::Drop { player, reason } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, reason.as_str());
                }
                Note::Again { .. } => count(&mut facts, "again"),
                Note::Wait { .. } | Note::DropClaims { .. } | Note::Pause | Note::Idle => {}
            }
            continue;
        }
        // Looked up before inserting: the key is a new String.
        let index = match latest.get(line.host.as_str()) {
            Some(&index) => index,
            None => {
                facts.clients.push(ClientFacts {
                    name: line.host.to_string(),
                    server: incarnation,
                    ..ClientFacts::default()
                });
                latest.insert(line.host.to_string(), facts.clients.len() - 1);
                facts.clients.len() - 1
            }
        };
        let Some(client) = facts.clients.get_mut(index) else {
            continue;
        };
        client.lines.push((at, line.text.clone()));
        let host = host_of.get(&client.name).unwrap_or(&client.name);
        if touched.contains(host) || touched.contains("server") {
            client.faulted = true;
        }
        let server = client.server;
        match words[..] {
            ["recv#", "WELCOME", id, _token] => {
                client.welcome_id = Some(id.to_owned());
                // A WELCOME held in the network across a server restart
                // arrives from a server that is gone: the client talked to
                // the incarnation that connected it, and its token means
                // nothing to the new one.
                let connected_in = |incarnation: u32| {
                    facts
                        .connects
                        .get(&incarnation)
                        .is_some_and(|players| players.iter().any(|player| player == id))
                };
                if !connected_in(server) {
                    if let Some(earlier) = (1..server).rev().find(|&earlier| connected_in(earlier))
                    {
                        client.server = earlier;
                        client.welcomed_by_gone_server = true;
                        client.faulted = true;
                    }
                }
            }
            ["recv", "HELLO", id] => client.hello_id = Some(id.to_owned()),
            ["recv#", "GAME", game, "HISTORY", ..] => {
                let history = words[4..].iter().map(|word| number(word)).collect();
                let seen = client.games.entry(number(game)).or_default();
                seen.entered = true;
                seen.history = history;
            }
            ["recv#", "DRAW", game, seq, drawn] => {
                let (game, seq): (u64, u32) = (number(game), number(seq));
                let seen = client.games.entry(game).or_default();
                seen.draws.push((seq, number(drawn)));
                let latest = facts
                    .draw_received_ms
                    .entry(((server, game), seq))
                    .or_default();
                *latest = (*latest).max(line.time_ms);
            }
            ["recv#", "OVER", game, "WINNER", id] => {
                client.games.entry(number(game)).or_default().over = Some(Some(id.to_owned()));
            }
            ["recv#", "OVER", game, "NOWINNER"] => {
                client.games.entry(number(game)).or_default().over = Some(None);
            }
            ["recv", "LATE", game, id] => client
                .games
                .entry(number(game))
                .or_default()
                .late_winners
                .push(id.to_owned()),
            ["send", "TOMBOLA", game] => {
                let over = client
                    .games
                    .get(&number(game))
                    .is_some_and(|seen| seen.over.is_some());
                if over {
                    client.claims_after_over += 1;
                }
            }
            ["error", ..] => client.error = Some(line.text.clone()),
            ["gave-up", ..] => {
                client.cut_off = true;
                if let Some(id) = client.welcome_id.clone() {
                    facts.left.insert((server, id));
                }
                count(&mut facts, "gave-up");
            }
            _ => {}
        }
    }
    explain_full_refusals(&mut facts);
    facts
}

/// `numbers` without those outside 1..=90: a broken trace may note any
/// number (check_draws reports it), and the board and number-set helpers
/// take only numbers in range.
pub(super) fn in_range(numbers: &[u8]) -> Vec<u8> {
    numbers
        .iter()
        .copied()
        .filter(|number| (1..=NUMBER_MAX).contains(number))
        .collect()
}
