//! The lock-step client's screen: the board, the 1-90 grid, the players of
//! the game, what happened, and the result. By hand (the default) the
//! answer to each draw waits for the person: `t` claims tombola (a claim
//! the draws do not cover is a false claim, and the server disqualifies
//! for it), space or Enter says "next"; with no key before the think time
//! runs out the client acknowledges the draw by itself. `--auto` claims as
//! soon as the board is complete, as the bot does.

use ratatui::crossterm::event::{Event, KeyCode};
use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tombola::client::{Answer, ClientReport, Outcome};
use crate::tombola::protocol::ServerMessage;
use crate::tombola::rules::{Board, NumberSet};
use crate::tui;

/// Who decides the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claiming {
    /// The person, with `t`.
    ByHand,
    /// The client, as soon as the board is complete (`--auto`).
    Auto,
}

/// Where the game is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Waiting {
        have: usize,
        need: usize,
    },
    Playing {
        game: u64,
    },
    /// The session ended: the result line.
    Ended(String),
}

/// What a key asks the client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Nothing to send.
    Nothing,
    /// Send this answer to the draw waiting for one.
    Answer(Answer),
    /// Leave (close the connection) and end the program.
    Quit,
}

/// Lines kept in the events pane; older ones scroll away.
const EVENTS_KEPT: usize = 200;

/// The lock-step client's screen state.
#[derive(Debug, Clone)]
pub struct App {
    pub claiming: Claiming,
    id: Option<String>,
    board: Board,
    drawn: NumberSet,
    /// The last draw: its sequence number and number.
    last: Option<(u32, u8)>,
    players: Vec<String>,
    phase: Phase,
    events: Vec<String>,
    /// The draw whose answer waits for the person.
    pending: Option<u32>,
    /// `t` was pressed with no draw waiting: the next draw is claimed.
    claim_queued: bool,
}

impl App {
    pub fn new(board: Board, claiming: Claiming) -> App {
        App {
            claiming,
            id: None,
            board,
            drawn: NumberSet::default(),
            last: None,
            players: Vec::new(),
            phase: Phase::Connecting,
            events: Vec::new(),
            pending: None,
            claim_queued: false,
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The draw waiting for the person's answer, if any.
    pub fn pending(&self) -> Option<u32> {
        self.pending
    }

    fn note(&mut self, line: String) {
        self.events.push(line);
        if self.events.len() > EVENTS_KEPT {
            self.events.remove(0);
        }
    }

    /// A line from the server.
    pub fn seen(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Welcome(id) => {
                self.id = Some(id.clone());
                self.note(format!("connected as {id}"));
            }
            ServerMessage::BoardOk => self.note("board registered".to_owned()),
            ServerMessage::Waiting { have, need } => {
                self.phase = Phase::Waiting {
                    have: *have,
                    need: *need,
                }
            }
            ServerMessage::Start { game, players } => {
                self.players = players.to_vec();
                self.phase = Phase::Playing { game: *game };
                self.note(format!("game {game} starts: {}", players.join(" ")));
            }
            ServerMessage::Draw { seq, number } => {
                if (1..=90).contains(number) {
                    self.drawn.insert(*number);
                }
                self.last = Some((*seq, *number));
                if self.board.contains(*number) {
                    self.note(format!("draw {seq}: {number}  hit!"));
                }
            }
            ServerMessage::Over { .. } => {}
            ServerMessage::Err(refusal) => {
                self.note(format!("server: {} {}", refusal.code, refusal.detail))
            }
        }
    }

    /// Draw `seq` waits for an answer: `Some` if it is already decided (a
    /// claim queued with `t` before the draw came), `None` if the person
    /// decides (a key, or [`App::think_time_over`]).
    pub fn ask(&mut self, seq: u32) -> Option<Answer> {
        if std::mem::take(&mut self.claim_queued) {
            self.note(format!("you claim TOMBOLA at draw {seq}"));
            return Some(Answer::Claim);
        }
        self.pending = Some(seq);
        None
    }

    /// Nobody pressed a key in time: the draw is acknowledged.
    pub fn think_time_over(&mut self) -> Option<Answer> {
        self.pending.take().map(|_| Answer::Ack)
    }

    /// A terminal event.
    pub fn event(&mut self, event: &Event) -> Command {
        let Some(key) = tui::pressed(event) else {
            return Command::Nothing;
        };
        if tui::is_interrupt(&key) {
            return Command::Quit;
        }
        if let Phase::Ended(_) = self.phase {
            // Any key leaves the result screen.
            return Command::Quit;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Command::Quit,
            KeyCode::Char('t') | KeyCode::Char('T') if self.claiming == Claiming::ByHand => {
                match self.pending.take() {
                    Some(seq) => {
                        self.note(format!("you claim TOMBOLA at draw {seq}"));
                        Command::Answer(Answer::Claim)
                    }
                    None => {
                        self.claim_queued = true;
                        self.note("your claim goes with the next draw".to_owned());
                        Command::Nothing
                    }
                }
            }
            KeyCode::Char(' ') | KeyCode::Enter => match self.pending.take() {
                Some(_) => Command::Answer(Answer::Ack),
                None => Command::Nothing,
            },
            _ => Command::Nothing,
        }
    }

    /// The session ended: the result screen.
    pub fn finish(&mut self, result: Result<&ClientReport, String>) {
        self.pending = None;
        let line = match result {
            Ok(report) => outcome_line(report),
            Err(error) => error,
        };
        self.phase = Phase::Ended(line);
    }

    /// Draws the screen; `think_left_ms` is the time left to answer the
    /// pending draw.
    pub fn render(&self, frame: &mut Frame, think_left_ms: Option<u64>) {
        let [top, middle, events, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(tui::GRID_HEIGHT),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let [left, right] = Layout::horizontal([
            Constraint::Length(tui::BOARD_WIDTH),
            Constraint::Length(tui::GRID_WIDTH),
        ])
        .areas(middle);
        let [board, players] =
            Layout::vertical([Constraint::Length(tui::BOARD_HEIGHT), Constraint::Min(2)])
                .areas(left);

        let who = self.id.as_deref().unwrap_or("-");
        let state = match &self.phase {
            Phase::Connecting => "connecting".to_owned(),
            Phase::Waiting { have, need } => format!("waiting for players: {have} of {need}"),
            Phase::Playing { game } => match self.last {
                Some((seq, number)) => format!("game {game} · draw {seq}: {number}"),
                None => format!("game {game} · starting"),
            },
            Phase::Ended(_) => "game over".to_owned(),
        };
        let mode = match self.claiming {
            Claiming::ByHand => "you claim",
            Claiming::Auto => "auto claim",
        };
        tui::header(frame, top, format!(" tombola · {who} · {state} · {mode}"));
        tui::board(frame, board, &self.board, &self.drawn);
        let last = self.last.map(|(_, number)| number);
        tui::grid(frame, right, &self.drawn, last, &self.board);
        let names: Vec<String> = self
            .players
            .iter()
            .map(|player| {
                if Some(player.as_str()) == self.id.as_deref() {
                    format!("{player} (you)")
                } else {
                    player.clone()
                }
            })
            .collect();
        frame.render_widget(
            Paragraph::new(names.join("\n"))
                .block(Block::default().borders(Borders::ALL).title(" players ")),
            players,
        );
        tui::log(frame, events, "events", &self.events);
        let keys = match (&self.phase, self.pending, self.claiming) {
            (Phase::Ended(_), _, _) => " any key: exit".to_owned(),
            (_, Some(seq), _) => {
                let left = think_left_ms.map_or(String::new(), |ms| {
                    format!(" (next by itself in {:.1} s)", ms as f64 / 1000.0)
                });
                format!(" draw {seq}: t = TOMBOLA!  space = next{left}  q = quit")
            }
            (_, None, Claiming::ByHand) if self.claim_queued => {
                " claim ready for the next draw  q = quit".to_owned()
            }
            (_, None, Claiming::ByHand) => " t = TOMBOLA!  q = quit".to_owned(),
            (_, None, Claiming::Auto) => " the client claims for you  q = quit".to_owned(),
        };
        tui::footer(frame, bottom, keys);
        if let Phase::Ended(line) = &self.phase {
            tui::result_box(
                frame,
                events,
                "result",
                &[line.clone(), String::new(), "press any key".to_owned()],
            );
        }
    }
}

/// How the game ended, for a person (also the plain client's last line).
pub fn outcome_line(report: &ClientReport) -> String {
    let game = report.game.map_or("-".to_owned(), |game| game.to_string());
    let line = match &report.outcome {
        Outcome::Won { winners } if winners.len() > 1 => {
            let others: Vec<&str> = winners
                .iter()
                .filter(|winner| **winner != report.id)
                .map(String::as_str)
                .collect();
            format!(
                "TOMBOLA! you won game {game} together with {}",
                others.join(" ")
            )
        }
        Outcome::Won { .. } => format!("TOMBOLA! you won game {game}"),
        Outcome::Lost { winners } => format!("game {game} over: won by {}", winners.join(" ")),
        Outcome::NoWinner => format!("game {game} over: no winner"),
        Outcome::Disqualified => "disqualified: a false claim".to_owned(),
        Outcome::Dropped { reason } => format!("dropped by the server: {reason}"),
        Outcome::Left => "left the game".to_owned(),
    };
    format!("{line} after {} draws", report.draws.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::{buffer_text, key};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn board() -> Board {
        Board::new(&[3, 7, 12, 18, 25, 33, 41, 47, 52, 58, 63, 70, 77, 84, 90]).expect("valid")
    }

    fn screen(app: &App, think_left_ms: Option<u64>) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
        terminal
            .draw(|frame| app.render(frame, think_left_ms))
            .expect("draw");
        buffer_text(terminal.backend().buffer())
    }

    fn started(claiming: Claiming) -> App {
        let mut app = App::new(board(), claiming);
        app.seen(&ServerMessage::Welcome("p1".to_owned()));
        app.seen(&ServerMessage::BoardOk);
        app.seen(&ServerMessage::Start {
            game: 1,
            players: vec!["p1".to_owned(), "p2".to_owned()].into(),
        });
        app
    }

    #[test]
    fn the_screen_shows_the_board_marked_the_grid_and_the_players() {
        let mut app = started(Claiming::ByHand);
        for (seq, number) in [(1, 47), (2, 5), (3, 90)] {
            app.seen(&ServerMessage::Draw { seq, number });
        }
        let text = screen(&app, None).join("\n");
        assert!(
            text.contains("tombola · p1 · game 1 · draw 3: 90"),
            "{text}"
        );
        assert!(text.contains("your board 2/15"), "{text}");
        assert!(text.contains("[47]"), "{text}");
        assert!(text.contains("[90]"), "{text}");
        assert!(text.contains("  3 "), "{text}");
        assert!(!text.contains("[ 3]"), "{text}");
        assert!(text.contains("drawn 3/90"), "{text}");
        assert!(text.contains("p1 (you)"), "{text}");
        assert!(text.contains("p2"), "{text}");
        // The grid's first row: 5 drawn, the rest dots.
        assert!(text.contains(" ·  ·  ·  ·  5  ·  ·  ·  ·  · "), "{text}");
    }

    #[test]
    fn t_on_a_pending_draw_claims_that_draw_and_space_acknowledges() {
        let mut app = started(Claiming::ByHand);
        app.seen(&ServerMessage::Draw { seq: 1, number: 47 });
        assert_eq!(app.ask(1), None);
        let text = screen(&app, Some(1200)).join("\n");
        assert!(
            text.contains("draw 1: t = TOMBOLA!  space = next (next by itself in 1.2 s)"),
            "{text}"
        );
        assert_eq!(
            app.event(&key(KeyCode::Char(' '))),
            Command::Answer(Answer::Ack)
        );
        assert_eq!(app.pending(), None);
        // A second key for the same draw sends nothing more.
        assert_eq!(app.event(&key(KeyCode::Char(' '))), Command::Nothing);
        app.seen(&ServerMessage::Draw { seq: 2, number: 3 });
        assert_eq!(app.ask(2), None);
        assert_eq!(
            app.event(&key(KeyCode::Char('t'))),
            Command::Answer(Answer::Claim)
        );
        assert_eq!(app.event(&key(KeyCode::Char('t'))), Command::Nothing);
    }

    #[test]
    fn t_between_draws_claims_the_next_draw_as_soon_as_it_comes() {
        let mut app = started(Claiming::ByHand);
        assert_eq!(app.event(&key(KeyCode::Char('t'))), Command::Nothing);
        app.seen(&ServerMessage::Draw { seq: 1, number: 47 });
        assert_eq!(app.ask(1), Some(Answer::Claim));
        assert_eq!(app.ask(2), None, "the queued claim is used once");
    }

    #[test]
    fn without_a_key_the_think_time_acknowledges_the_draw() {
        let mut app = started(Claiming::ByHand);
        assert_eq!(app.think_time_over(), None, "nothing pending");
        assert_eq!(app.ask(1), None);
        assert_eq!(app.think_time_over(), Some(Answer::Ack));
        assert_eq!(app.event(&key(KeyCode::Char('t'))), Command::Nothing);
    }

    #[test]
    fn in_auto_mode_t_does_nothing_and_q_quits() {
        let mut app = started(Claiming::Auto);
        assert_eq!(app.event(&key(KeyCode::Char('t'))), Command::Nothing);
        assert_eq!(app.event(&key(KeyCode::Char('q'))), Command::Quit);
        let text = screen(&app, None).join("\n");
        assert!(text.contains("the client claims for you"), "{text}");
    }

    #[test]
    fn the_result_screen_says_who_won_and_any_key_leaves_it() {
        let mut app = started(Claiming::ByHand);
        let report = ClientReport {
            id: "p1".to_owned(),
            game: Some(1),
            draws: vec![47; 61],
            outcome: Outcome::Won {
                winners: vec!["p1".to_owned(), "p2".to_owned()],
            },
        };
        app.finish(Ok(&report));
        let text = screen(&app, None).join("\n");
        assert!(
            text.contains("TOMBOLA! you won game 1 together with p2 after 61 draws"),
            "{text}"
        );
        assert!(text.contains("press any key"), "{text}");
        assert_eq!(app.event(&key(KeyCode::Char('x'))), Command::Quit);
    }

    #[test]
    fn a_false_claim_ends_on_a_disqualified_screen() {
        let mut app = started(Claiming::ByHand);
        let report = ClientReport {
            id: "p1".to_owned(),
            game: Some(1),
            draws: vec![47],
            outcome: Outcome::Disqualified,
        };
        app.finish(Ok(&report));
        let text = screen(&app, None).join("\n");
        assert!(
            text.contains("disqualified: a false claim after 1 draws"),
            "{text}"
        );
    }
}
