//! The live client's screen: the board, the 1-90 grid (numbers drawn before
//! it joined included), the game and the claims, what happened, the result
//! of each game, and the question whether to play the next one, with the
//! time left before it starts (and after "yes", the time until it starts).
//! The client claims by itself as soon as the board is complete.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{Event, KeyCode};
use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::live::client::{Ending, LiveReport};
use crate::live::protocol::ServerMessage;
use crate::tombola::rules::{Board, NumberSet};
use crate::tui;

/// Where the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    /// Registered, no game yet.
    Registered,
    Playing {
        game: u64,
    },
    /// A game ended; the question "play again?" is open until `deadline`.
    Asking {
        next_game: u64,
        deadline: Instant,
    },
    /// "yes" was answered; the next game starts at `deadline`.
    WaitingNext {
        next_game: u64,
        deadline: Instant,
    },
    /// The session ended: the last line.
    Ended(String),
}

/// What a key asks the client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Nothing,
    /// Answer "play again?": true is `AGAIN`, false is `QUIT`.
    Again(bool),
    /// End the program now.
    Quit,
}

/// Lines kept in the events pane.
const EVENTS_KEPT: usize = 200;

/// The live client's screen state.
#[derive(Debug, Clone)]
pub struct App {
    id: Option<String>,
    board: Board,
    game: Option<u64>,
    drawn: NumberSet,
    last: Option<u8>,
    /// Numbers drawn before this client joined the current game.
    history: usize,
    phase: Phase,
    /// The latest `NEXT`: the game and when it starts.
    next: Option<(u64, Instant)>,
    /// The last game's result line.
    result: Option<String>,
    wins: u32,
    games: u32,
    events: Vec<String>,
}

impl App {
    pub fn new(board: Board) -> App {
        App {
            id: None,
            board,
            game: None,
            drawn: NumberSet::default(),
            last: None,
            history: 0,
            phase: Phase::Connecting,
            next: None,
            result: None,
            wins: 0,
            games: 0,
            events: Vec::new(),
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    fn note(&mut self, line: String) {
        self.events.push(line);
        if self.events.len() > EVENTS_KEPT {
            self.events.remove(0);
        }
    }

    /// A line from the server, seen at `now`; `asking` is true when the
    /// client waits for the person's answer to "play again?".
    pub fn seen(&mut self, message: &ServerMessage, asking: bool, now: Instant) {
        match message {
            // The session reads `WELCOME` itself; `HELLO <id>` on the claims
            // port confirms the same id once the two connections are paired.
            ServerMessage::Welcome { id, .. } | ServerMessage::Hello(id) => {
                if self.id.is_none() {
                    self.id = Some(id.clone());
                    self.note(format!("connected as {id}"));
                }
            }
            ServerMessage::BoardOk => {
                self.phase = Phase::Registered;
                self.note("board registered; waiting for a game".to_owned());
            }
            ServerMessage::Game { game, history } => {
                self.game = Some(*game);
                self.drawn = NumberSet::default();
                for &number in history {
                    self.drawn.insert(number);
                }
                self.last = history.last().copied();
                self.history = history.len();
                self.result = None;
                self.phase = Phase::Playing { game: *game };
                if history.is_empty() {
                    self.note(format!("game {game} starts"));
                } else {
                    self.note(format!(
                        "game {game} is running: {} numbers drawn before you joined",
                        history.len()
                    ));
                }
            }
            ServerMessage::Draw { number, .. } => {
                self.drawn.insert(*number);
                self.last = Some(*number);
            }
            ServerMessage::Win(game) => {
                self.note(format!("your claim for game {game} wins!"));
            }
            ServerMessage::Late { game, winner } => self.note(format!(
                "your claim for game {game} was late: {winner} was first"
            )),
            ServerMessage::Over { game, winner } if self.game == Some(*game) => {
                let line = result_line(self.id.as_deref().unwrap_or(""), *game, winner);
                self.games += 1;
                if winner.is_some() && winner.as_deref() == self.id.as_deref() {
                    self.wins += 1;
                }
                self.note(line.clone());
                self.result = Some(line);
            }
            ServerMessage::Over { .. } => {}
            ServerMessage::Next { game, seconds } => {
                let deadline = now + Duration::from_secs(*seconds);
                self.next = Some((*game, deadline));
                if asking {
                    self.phase = Phase::Asking {
                        next_game: *game,
                        deadline,
                    };
                }
            }
            ServerMessage::AgainOk => {
                if let Some((next_game, deadline)) = self.next {
                    self.phase = Phase::WaitingNext {
                        next_game,
                        deadline,
                    };
                    let seconds = seconds_left(deadline, now);
                    self.note(format!("waiting for the next game, starts in {seconds} s"));
                }
            }
            ServerMessage::Goodbye => self.note("goodbye".to_owned()),
            ServerMessage::Err(refusal) => {
                self.note(format!("server: {} {}", refusal.code, refusal.detail))
            }
        }
    }

    /// A terminal event.
    pub fn event(&mut self, event: &Event) -> Command {
        let Some(key) = tui::pressed(event) else {
            return Command::Nothing;
        };
        if tui::is_interrupt(&key) {
            return Command::Quit;
        }
        match (&self.phase, key.code) {
            (Phase::Ended(_), _) => Command::Quit,
            (Phase::Asking { .. }, KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter) => {
                self.phase = Phase::Registered;
                Command::Again(true)
            }
            (
                Phase::Asking { .. },
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q'),
            ) => {
                self.phase = Phase::Registered;
                Command::Again(false)
            }
            (_, KeyCode::Char('q') | KeyCode::Esc) => Command::Quit,
            _ => Command::Nothing,
        }
    }

    /// The session ended.
    pub fn finish(&mut self, result: Result<&LiveReport, String>) {
        let line = match result {
            Ok(report) => ending_line(report),
            Err(error) => error,
        };
        self.phase = Phase::Ended(line);
    }

    /// Draws the screen at time `now` (for the countdowns).
    pub fn render(&self, frame: &mut Frame, now: Instant) {
        let [top, middle, events, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(tui::GRID_HEIGHT),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let [left, right] = Layout::horizontal([
            // Wide enough for the longest result line in the game pane.
            Constraint::Length(tui::BOARD_WIDTH + 10),
            Constraint::Length(tui::GRID_WIDTH),
        ])
        .areas(middle);
        let [board, info] =
            Layout::vertical([Constraint::Length(tui::BOARD_HEIGHT), Constraint::Min(2)])
                .areas(left);

        let who = self.id.as_deref().unwrap_or("-");
        let state = match &self.phase {
            Phase::Connecting => "connecting".to_owned(),
            Phase::Registered => "waiting for a game".to_owned(),
            Phase::Playing { game } => match self.last {
                Some(number) => format!("game {game} · number {}: {number}", self.drawn.len()),
                None => format!("game {game} · starting"),
            },
            Phase::Asking { .. } => "play again?".to_owned(),
            Phase::WaitingNext {
                next_game,
                deadline,
            } => format!(
                "waiting for the next game, starts in {} s (game {next_game})",
                seconds_left(*deadline, now)
            ),
            Phase::Ended(_) => "ended".to_owned(),
        };
        tui::header(frame, top, format!(" live tombola · {who} · {state}"));
        tui::board(frame, board, &self.board, &self.drawn);
        tui::grid(frame, right, &self.drawn, self.last, &self.board);
        let mut lines = vec![
            format!(
                "game: {}",
                self.game.map_or("-".to_owned(), |g| g.to_string())
            ),
            format!("joined after: {} numbers", self.history),
            format!("games: {}  won: {}", self.games, self.wins),
        ];
        if let Some(result) = &self.result {
            lines.push(result.clone());
        }
        frame.render_widget(
            Paragraph::new(lines.join("\n"))
                .block(Block::default().borders(Borders::ALL).title(" game ")),
            info,
        );
        tui::log(frame, events, "events", &self.events);
        let keys = match &self.phase {
            Phase::Ended(_) => " any key: exit".to_owned(),
            Phase::Asking { deadline, .. } => format!(
                " play again? y = yes, n = no ({} s left)",
                seconds_left(*deadline, now)
            ),
            _ => " the client claims for you  q = quit".to_owned(),
        };
        tui::footer(frame, bottom, keys);
        match &self.phase {
            Phase::Ended(line) => tui::result_box(
                frame,
                events,
                "the end",
                &[line.clone(), String::new(), "press any key".to_owned()],
            ),
            Phase::Asking {
                next_game,
                deadline,
            } => {
                let result = self.result.clone().unwrap_or_default();
                tui::result_box(
                    frame,
                    events,
                    "game over",
                    &[
                        result,
                        String::new(),
                        format!(
                            "game {next_game} starts in {} s: play again? [y/n]",
                            seconds_left(*deadline, now)
                        ),
                    ],
                )
            }
            _ => {}
        }
    }
}

/// Whole seconds from `now` to `deadline`, rounded up (0 once passed).
pub fn seconds_left(deadline: Instant, now: Instant) -> u64 {
    let left = deadline.saturating_duration_since(now);
    left.as_millis().div_ceil(1000) as u64
}

/// One game's result for a person.
pub fn result_line(id: &str, game: u64, winner: &Option<String>) -> String {
    match winner {
        Some(winner) if winner == id => format!("game {game} over: TOMBOLA! you won"),
        Some(winner) => format!("game {game} over: won by {winner}"),
        None => format!("game {game} over: no winner"),
    }
}

/// How the session ended, for a person.
pub fn ending_line(report: &LiveReport) -> String {
    let ending = match report.ending {
        Ending::Quit => "quit",
        Ending::SentAway => "sent away (no AGAIN in time)",
        Ending::Left => "left",
        Ending::Closed => "the server closed the connection",
    };
    format!("{}: {ending} after {} games", report.id, report.games.len())
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

    fn screen(app: &App, now: Instant) -> String {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
        terminal.draw(|frame| app.render(frame, now)).expect("draw");
        buffer_text(terminal.backend().buffer()).join("\n")
    }

    fn joined(now: Instant) -> App {
        let mut app = App::new(board());
        app.seen(&ServerMessage::Hello("p1".to_owned()), false, now);
        app.seen(&ServerMessage::BoardOk, false, now);
        app.seen(
            &ServerMessage::Game {
                game: 2,
                history: vec![47, 5],
            },
            false,
            now,
        );
        app
    }

    #[test]
    fn a_late_joiner_sees_the_numbers_drawn_before_it_joined() {
        let now = Instant::now();
        let mut app = joined(now);
        app.seen(
            &ServerMessage::Draw {
                game: 2,
                seq: 3,
                number: 90,
            },
            false,
            now,
        );
        let text = screen(&app, now);
        assert!(
            text.contains("live tombola · p1 · game 2 · number 3: 90"),
            "{text}"
        );
        assert!(text.contains("[47]"), "{text}");
        assert!(text.contains("[90]"), "{text}");
        assert!(text.contains("your board 2/15"), "{text}");
        assert!(text.contains("drawn 3/90"), "{text}");
        assert!(text.contains("joined after: 2 numbers"), "{text}");
        // The board shows once: its title appears a single time.
        assert_eq!(text.matches("your board").count(), 1, "{text}");
    }

    #[test]
    fn after_yes_the_screen_counts_down_to_the_next_game() {
        let start = Instant::now();
        let mut app = joined(start);
        let over = ServerMessage::Over {
            game: 2,
            winner: Some("p7".to_owned()),
        };
        app.seen(&over, true, start);
        app.seen(
            &ServerMessage::Next {
                game: 3,
                seconds: 20,
            },
            true,
            start,
        );
        let text = screen(&app, start + Duration::from_secs(2));
        assert!(text.contains("game 2 over: won by p7"), "{text}");
        assert!(
            text.contains("game 3 starts in 18 s: play again? [y/n]"),
            "{text}"
        );
        assert_eq!(app.event(&key(KeyCode::Char('y'))), Command::Again(true));
        app.seen(
            &ServerMessage::AgainOk,
            false,
            start + Duration::from_secs(3),
        );
        let text = screen(&app, start + Duration::from_millis(5_500));
        assert!(
            text.contains("waiting for the next game, starts in 15 s (game 3)"),
            "{text}"
        );
        assert!(
            text.contains("waiting for the next game, starts in 17 s"),
            "the events pane keeps the moment of AGAIN-OK: {text}"
        );
    }

    #[test]
    fn a_game_you_won_says_so_with_the_id_from_the_pairing() {
        let now = Instant::now();
        let mut app = joined(now);
        app.seen(&ServerMessage::Win(2), false, now);
        let over = ServerMessage::Over {
            game: 2,
            winner: Some("p1".to_owned()),
        };
        app.seen(&over, true, now);
        app.seen(
            &ServerMessage::Next {
                game: 3,
                seconds: 20,
            },
            true,
            now,
        );
        let text = screen(&app, now);
        assert!(text.contains("live tombola · p1 · play again?"), "{text}");
        assert!(text.contains("game 2 over: TOMBOLA! you won"), "{text}");
        assert!(text.contains("games: 1  won: 1"), "{text}");
    }

    #[test]
    fn no_answers_play_again_with_quit() {
        let start = Instant::now();
        let mut app = joined(start);
        app.seen(
            &ServerMessage::Over {
                game: 2,
                winner: None,
            },
            true,
            start,
        );
        app.seen(
            &ServerMessage::Next {
                game: 3,
                seconds: 20,
            },
            true,
            start,
        );
        assert_eq!(app.event(&key(KeyCode::Char('t'))), Command::Nothing);
        assert_eq!(app.event(&key(KeyCode::Char('n'))), Command::Again(false));
        // Answered once: a second n is not a second answer.
        assert_eq!(app.event(&key(KeyCode::Char('n'))), Command::Nothing);
    }

    #[test]
    fn the_end_screen_says_how_the_session_ended() {
        let now = Instant::now();
        let mut app = joined(now);
        let report = LiveReport {
            id: "p1".to_owned(),
            games: Vec::new(),
            ending: Ending::Quit,
        };
        app.finish(Ok(&report));
        let text = screen(&app, now);
        assert!(text.contains("p1: quit after 0 games"), "{text}");
        assert_eq!(app.event(&key(KeyCode::Char('x'))), Command::Quit);
    }
}
