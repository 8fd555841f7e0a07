//! The chat oracles over the facts: faults, membership, replies in order,
//! delivery exactly once; and the rare events a run reached.

use super::*;

/// The oracles, applied to a finished run's trace. Public so that a run on
/// real TCP, traced the same way, is judged by the very same code.
#[cfg(test)]
pub fn judge(trace: Vec<TraceLine>, violations: Vec<Violation>) -> RunOutcome {
    let mut outcome = judge_with(&trace, violations, &Topology::default());
    outcome.trace = trace;
    outcome
}

/// [`judge`] for a simulated run, which knows the sessions' hosts (to
/// tell which faults touched which connection). The outcome's trace is
/// left empty: the caller owns the trace.
pub fn judge_with(
    trace: &[TraceLine],
    mut violations: Vec<Violation>,
    topology: &Topology,
) -> RunOutcome {
    let facts = parse_facts(trace, topology, &mut violations);
    let mut outcome = RunOutcome::default();
    check_membership(trace, &facts, &mut violations, &mut outcome);
    check_replies(&facts, &mut violations);
    check_delivery(&facts, &mut violations, &mut outcome);
    check_faults(&facts, &mut violations, &mut outcome);
    reach_mischief(&facts, &mut outcome);
    outcome.games = facts
        .sessions
        .values()
        .filter(|session| session.end.is_some())
        .count() as u64;
    outcome.violations = violations;
    outcome
}

/// The rare events of malformed input: each kind of bad line answered
/// (the replies themselves are judged by `check_replies`).
pub(super) fn reach_mischief(facts: &Facts, outcome: &mut RunOutcome) {
    for session in facts.sessions.values() {
        let Some((_, id)) = &session.id else {
            continue;
        };
        let text_max = id.parse::<ClientId>().ok().map(text_bytes_max);
        let mut bad_in_a_row = 0;
        for (index, (command, reply)) in session.commands.iter().zip(&session.replies).enumerate() {
            let refused = reply.starts_with("ERR ");
            if session.split.contains(&index) {
                outcome.reached.insert("split-line-answered".to_owned());
            }
            let bad = match command {
                Command::InvalidUtf8 if refused => {
                    outcome.reached.insert("refused-invalid-utf8".to_owned());
                    true
                }
                Command::TooLong if refused => {
                    outcome.reached.insert("refused-line-too-long".to_owned());
                    true
                }
                Command::Line(line) => match ClientMessage::parse(line) {
                    Err(_) if refused => {
                        outcome.reached.insert("refused-bad-line".to_owned());
                        if line.len() == LINE_BYTES_MAX {
                            outcome.reached.insert("line-at-limit-answered".to_owned());
                        }
                        true
                    }
                    Ok(ClientMessage::Send { text, .. }) if Some(text.len()) == text_max => {
                        if reply.starts_with("SENT ") {
                            outcome.reached.insert("message-at-max-routed".to_owned());
                        }
                        false
                    }
                    Ok(ClientMessage::Send { .. })
                        if reply.starts_with("ERR message-too-long ") =>
                    {
                        outcome
                            .reached
                            .insert("message-too-long-refused".to_owned());
                        false
                    }
                    _ => false,
                },
                _ => false,
            };
            bad_in_a_row = if bad { bad_in_a_row + 1 } else { 0 };
            if bad_in_a_row >= 3 {
                outcome.reached.insert("burst-of-bad-lines".to_owned());
            }
        }
        if session.half_closed && session.end.as_deref() == Some("closed") {
            outcome.reached.insert("half-closed".to_owned());
        }
    }
}

/// A connection gives up (`end timeout`) or fails (`error`) only when a
/// fault touched it; and the rare events of a run with faults.
pub(super) fn check_faults(
    facts: &Facts,
    violations: &mut Vec<Violation>,
    outcome: &mut RunOutcome,
) {
    for (name, session) in &facts.sessions {
        let exposed = facts.exposed(session);
        for (index, error) in &session.errors {
            if !exposed {
                violations.push(Violation::new(
                    "client-error",
                    format!("{name} at line {index}: {error}"),
                ));
            }
        }
        if session.end.as_deref() == Some("timeout") {
            if exposed {
                outcome.reached.insert("silence-timeout".to_owned());
            } else {
                violations.push(Violation::new(
                    "replies-within-silence",
                    format!(
                        "{name} heard nothing for {} ms with no fault on its way",
                        session.silence_ms
                    ),
                ));
            }
        }
        if let Some((server, _)) = &session.id {
            if *server > 1 {
                outcome.reached.insert("server-restart-rejoined".to_owned());
            }
            if name.contains('#') {
                outcome.reached.insert("client-restart".to_owned());
            }
        }
    }
    let on_host = |host: &String| -> Vec<&Session> {
        facts
            .sessions
            .values()
            .filter(|session| session.host == *host)
            .collect()
    };
    for span in &facts.spans {
        let client = span.hosts.iter().find(|host| *host != SERVER_NAME);
        match (span.kind, client, span.to_ms) {
            ("crash", Some(_), _) => {
                outcome.reached.insert("client-crash".to_owned());
            }
            ("partition", Some(host), Some(to_ms)) => {
                // The partition cut a connection of the host, and after
                // the heal the host is in the room again.
                let cut = on_host(host)
                    .into_iter()
                    .any(|session| session.first_ms <= to_ms && session.last_ms >= span.from_ms);
                let back = on_host(host)
                    .into_iter()
                    .any(|session| session.welcomed_ms.is_some_and(|at| at >= to_ms));
                if cut && back {
                    outcome.reached.insert("partition-healed".to_owned());
                }
            }
            // A connection that was up when the hold began heard the
            // server again after the release.
            ("hold", Some(host), Some(to_ms))
                if on_host(host).into_iter().any(|session| {
                    session.welcomed_ms.is_some_and(|at| at <= span.from_ms)
                        && session.last_recv_ms.is_some_and(|at| at >= to_ms)
                }) =>
            {
                outcome.reached.insert("hold-released".to_owned());
            }
            _ => {}
        }
    }
}

/// Replays joins and leaves in trace order: `L` lists exactly the clients
/// connected at that moment, a message is routed (or refused as busy) only
/// to a connected client, `no-such-client` only for one that is not, and
/// every id the server names belongs to a session that was welcomed. A
/// server crash empties the room: its restart starts with nobody in it.
pub(super) fn check_membership(
    trace: &[TraceLine],
    facts: &Facts,
    violations: &mut Vec<Violation>,
    outcome: &mut RunOutcome,
) {
    // Session by client, for the races that need the client's view.
    let mut by_id: BTreeMap<&Key, &Session> = BTreeMap::new();
    for (name, session) in &facts.sessions {
        if let Some(key) = &session.id {
            if by_id.insert(key, session).is_some() {
                violations.push(Violation::new(
                    "ids-unique",
                    format!(
                        "{name} was welcomed as {}, an id another session had",
                        key.1
                    ),
                ));
            }
        }
    }
    let mut incarnation = 1u32;
    let mut connected: BTreeSet<ClientId> = BTreeSet::new();
    let mut ever_joined: BTreeSet<ClientId> = BTreeSet::new();
    let mut busy_seen = false;
    for (index, line) in trace.iter().enumerate() {
        if line.host == "sim" {
            if line.text == format!("crash {SERVER_NAME}") {
                connected.clear();
            } else if line.text == format!("restart {SERVER_NAME}") {
                // A restart of a server that is up (two crash faults
                // overlapping) bounces it: it too starts an empty room.
                incarnation += 1;
                connected.clear();
                ever_joined.clear();
            }
            continue;
        }
        if line.host != SERVER_NAME {
            continue;
        }
        // A line that is not a note was reported by parse_facts.
        let Ok(note) = line.text.parse::<Note>() else {
            continue;
        };
        let key = |id: &ClientId| (incarnation, id.to_string());
        match note {
            Note::Join { client: id } => {
                if !by_id.contains_key(&key(&id))
                    && !welcome_lost_to_fault(facts, &id.to_string(), line.time_ms)
                {
                    violations.push(Violation::new(
                        "joins-are-sessions",
                        format!("{id} joined but no session was welcomed as it"),
                    ));
                }
                if !connected.insert(id) {
                    violations.push(Violation::new("membership", format!("{id} joined twice")));
                }
                ever_joined.insert(id);
            }
            Note::Leave { client: id, .. } if !connected.remove(&id) => {
                violations.push(Violation::new(
                    "membership",
                    format!("{id} left without being in the room"),
                ));
            }
            Note::List {
                client: from,
                listed,
            } => {
                // Exactly the connected clients, sorted by address (the
                // set's order).
                if !listed.iter().eq(connected.iter()) {
                    let listed: Vec<String> = listed.iter().map(ToString::to_string).collect();
                    let expected: Vec<String> = connected.iter().map(ToString::to_string).collect();
                    violations.push(Violation::new(
                        "list-exact",
                        format!("at line {index} {from} was listed {listed:?}, connected were {expected:?}"),
                    ));
                }
                for id in &listed {
                    let Some(session) = by_id.get(&key(id)) else {
                        continue;
                    };
                    if session.welcomed_at.is_some_and(|at| at > index) {
                        outcome.reached.insert("list-during-join".to_owned());
                    }
                    if session.left_at.is_some_and(|at| at < index) {
                        outcome.reached.insert("list-during-leave".to_owned());
                    }
                }
            }
            Note::Route { from, to, .. } | Note::Busy { from, to } => {
                if !connected.contains(&to) || !connected.contains(&from) {
                    violations.push(Violation::new(
                        "route-to-connected",
                        format!(
                            "at line {index}: {} while {to} or {from} was not connected",
                            line.text
                        ),
                    ));
                }
                if matches!(note, Note::Busy { .. }) {
                    busy_seen = true;
                    outcome.reached.insert("recipient-busy".to_owned());
                } else {
                    if busy_seen {
                        outcome.reached.insert("routed-after-busy".to_owned());
                    }
                    if from == to {
                        outcome.reached.insert("message-to-self".to_owned());
                    }
                }
            }
            Note::Unknown { to, .. } => {
                if connected.contains(&to) {
                    violations.push(Violation::new(
                        "no-such-client-exact",
                        format!("at line {index}: {} while {to} was connected", line.text),
                    ));
                }
                if ever_joined.contains(&to) {
                    outcome.reached.insert("send-to-departed".to_owned());
                }
            }
            Note::Leave { .. } | Note::Refuse { .. } => {}
        }
    }
}

/// Whether the server may have joined `id` (at `join_ms`) for a connection
/// whose `WELCOME` never arrived because of a fault. Either a connection
/// that was never welcomed but left trace lines was touched by a fault, or
/// the connection was cut before it wrote any trace line at all: a fault
/// touching a client host with that address (or with no known address,
/// none of its connections having been welcomed) was in force between the
/// join and the end of that host's silence bound after it, when the
/// connection would have given up on a `WELCOME` that was on its way. A
/// join no fault could have cut is never excused.
pub(super) fn welcome_lost_to_fault(facts: &Facts, id: &str, join_ms: u64) -> bool {
    let ip = id.rsplit_once(':').map_or(id, |(ip, _)| ip);
    let host_ip = |host: &str| {
        facts
            .sessions
            .values()
            .find_map(|session| match &session.id {
                Some((_, known)) if session.host == host => {
                    known.rsplit_once(':').map(|(ip, _)| ip.to_owned())
                }
                _ => None,
            })
    };
    let traced = facts.sessions.values().any(|session| {
        session.id.is_none()
            && facts.exposed(session)
            && host_ip(&session.host).is_none_or(|known| known == ip)
    });
    let cut_silently = facts.hosts.iter().any(|(host, silence_ms)| {
        host_ip(host).is_none_or(|known| known == ip)
            && facts.spans.iter().any(|span| {
                span.touches(host)
                    && span.from_ms <= join_ms.saturating_add(*silence_ms)
                    && span.to_ms.is_none_or(|to_ms| to_ms >= join_ms)
            })
    });
    traced || cut_silently
}

/// Every command gets exactly one reply, in order, and that reply is the
/// one the server's decision on that command calls for: `SENT` only for a
/// message the server queued, the same list the server noted, and so on.
pub(super) fn check_replies(facts: &Facts, violations: &mut Vec<Violation>) {
    for (name, session) in &facts.sessions {
        let Some(key) = &session.id else {
            continue;
        };
        let id = &key.1;
        let decisions = facts.decisions.get(key).map(Vec::as_slice).unwrap_or(&[]);
        if decisions.len() > session.commands.len() {
            violations.push(Violation::new(
                "decisions-are-commands",
                format!(
                    "{name} ({id}) sent {} commands, the server decided on {}",
                    session.commands.len(),
                    decisions.len()
                ),
            ));
        }
        for (command, decision) in session.commands.iter().zip(decisions) {
            if !decision.answers(command, id) {
                violations.push(Violation::new(
                    "decisions-are-commands",
                    format!("{name} ({id}) sent {command:?}, the server decided {decision:?}"),
                ));
            }
        }
        if session.replies.len() > decisions.len() {
            violations.push(Violation::new(
                "one-reply-per-command",
                format!(
                    "{name} ({id}) got {} replies to {} decided commands",
                    session.replies.len(),
                    decisions.len()
                ),
            ));
        }
        for ((reply, decision), command) in
            session.replies.iter().zip(decisions).zip(&session.commands)
        {
            let matches = match decision {
                Decision::Refuse { .. } => refusal_fits(reply, command),
                _ => *reply == decision.reply(),
            };
            if !matches {
                violations.push(Violation::new(
                    "replies-match-decisions",
                    format!(
                        "{name} ({id}) got {reply:?} to {command:?} where the server decided {decision:?}"
                    ),
                ));
            }
        }
        // The server closes a connection only after `BYE`, after the
        // refusal of a line that is too long, or when the client closed
        // its side; any other close needs a fault to explain it.
        if session.end.as_deref() == Some("closed")
            && session.final_at.is_none()
            && !session.half_closed
            && !facts.exposed(session)
        {
            violations.push(Violation::new(
                "closed-with-cause",
                format!("{name} ({id}) was closed by the server with no BYE, no line-too-long and no fault"),
            ));
        }
        // A `Q` that no fault touched is answered `BYE` before the close.
        let quit = session
            .commands
            .iter()
            .any(|command| *command == Command::Line("Q".to_owned()));
        if quit && session.end.as_deref() == Some("closed") && !facts.exposed(session) {
            violations.push(Violation::new(
                "bye-after-quit",
                format!("{name} ({id}) sent Q and the connection closed without BYE"),
            ));
        }
        // A session that said goodbye and heard it has read every reply.
        if session.end.as_deref() == Some("bye")
            && (session.replies.len() != session.commands.len()
                || decisions.len() != session.commands.len())
        {
            violations.push(Violation::new(
                "one-reply-per-command",
                format!(
                    "{name} ({id}) quit after {} commands with {} decisions and {} replies",
                    session.commands.len(),
                    decisions.len(),
                    session.replies.len()
                ),
            ));
        }
    }
}

/// What each target received from each sender is what the server queued,
/// in order, unmodified, from the true sender, and nothing else; a target
/// that quit (and so read until `BYE`) received all of it.
pub(super) fn check_delivery(
    facts: &Facts,
    violations: &mut Vec<Violation>,
    outcome: &mut RunOutcome,
) {
    // (sender, target id, text) -> how many times the sender sent it:
    // a `FROM` names exactly the session that sent that very message.
    let mut sent: BTreeMap<(&Key, &str, &str), usize> = BTreeMap::new();
    for session in facts.sessions.values() {
        let Some(key) = &session.id else {
            continue;
        };
        for command in &session.commands {
            if let Command::Line(line) = command {
                if let Some((to, text)) = line.split_once(' ') {
                    *sent.entry((key, to, text)).or_default() += 1;
                }
            }
        }
    }
    for (name, session) in &facts.sessions {
        let Some((server, id)) = &session.id else {
            continue;
        };
        let mut received: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut copies: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (from, text) in &session.received {
            received.entry(from).or_default().push(text);
            *copies.entry((from, text)).or_default() += 1;
        }
        for ((from, text), count) in &copies {
            let sender = (*server, from.to_string());
            let times = sent
                .get(&(&sender, id.as_str(), *text))
                .copied()
                .unwrap_or(0);
            if *count > times {
                violations.push(Violation::new(
                    "true-sender",
                    format!(
                        "{name} ({id}) received {text:?} from {from} {count} times, and {from} sent it to {id} {times} times"
                    ),
                ));
            }
        }
        // The k-th message from one sender arrives after the server
        // queued the k-th one, never before.
        let mut nth: BTreeMap<&str, usize> = BTreeMap::new();
        for ((from, _), at) in session.received.iter().zip(&session.received_at) {
            let k = nth.entry(from).or_default();
            let routed_at = facts
                .routed_at
                .get(&(*server, from.clone(), id.clone()))
                .and_then(|indexes| indexes.get(*k));
            if routed_at.is_some_and(|routed_at| routed_at > at) {
                violations.push(Violation::new(
                    "delivered-after-routed",
                    format!("{name} ({id}) received message {k} from {from} at line {at}, before the server queued it"),
                ));
            }
            *k += 1;
        }
        for (from, texts) in &received {
            let routed = facts
                .routed
                .get(&(*server, from.to_string(), id.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let is_prefix = texts.len() <= routed.len()
                && texts.iter().zip(routed).all(|(got, sent)| got == sent);
            if !is_prefix {
                violations.push(Violation::new(
                    "delivered-as-routed",
                    format!("{name} ({id}) received {texts:?} from {from}, the server queued {routed:?}"),
                ));
            }
        }
        for ((routed_by, from, to), routed) in &facts.routed {
            if routed_by != server || to != id {
                continue;
            }
            let got = received.get(from.as_str()).map_or(0, Vec::len);
            if got < routed.len() {
                // Only a connection that heard BYE and the close has read
                // everything; one that hung up, or that a fault cut, has not.
                match session.end.as_deref() {
                    Some("bye") => violations.push(Violation::new(
                        "delivered-all",
                        format!(
                            "{name} ({id}) quit having received {got} of the {} messages queued for it by {from}",
                            routed.len()
                        ),
                    )),
                    Some("hangup") => {
                        outcome.reached.insert("lost-on-hangup".to_owned());
                    }
                    _ if facts.exposed(session) => {
                        outcome.reached.insert("lost-to-fault".to_owned());
                    }
                    _ => {
                        outcome.reached.insert("lost-on-close".to_owned());
                    }
                }
            }
        }
    }
}
