//! The chat client's screen: the messages, who is in the room, and an
//! input line that takes every key. Keys and pasted text are edited into
//! the line in the order they come (nothing is read "until the next key"),
//! Enter sends it; `help` is answered here and never sent. The room pane
//! shows the last `L` answer; the header says who you are and whether the
//! connection is open.

use ratatui::crossterm::event::{Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::chat::protocol::ServerMessage;
use crate::framing::LINE_BYTES_MAX;
use crate::tui;

/// The reminder `help` shows.
pub const HELP: &str = "\
commands:
  L                  list the clients in the room (you included)
  <ip:port> <msg>    send <msg> to that client, e.g. 127.0.0.1:50000 hello
  Q                  leave the room
  help               this text (not sent to the server)";

/// Lines kept in the messages pane; older ones scroll away.
const MESSAGES_KEPT: usize = 1000;

/// Columns of the room pane.
const ROOM_WIDTH: u16 = 24;

/// What the UI asks the client to do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this line to the server.
    Send(String),
    /// End the program.
    Exit,
}

/// How a server line reads for a person (also the plain client's output).
pub fn describe(line: &str) -> String {
    // `BYE` may carry a reason (`BYE server-shutdown`): any `BYE` is the
    // server's goodbye.
    match line.strip_prefix("BYE ").map(str::trim) {
        Some("server-shutdown") => return "* bye: the server is shutting down".to_owned(),
        Some(reason) => return format!("* bye ({reason})"),
        None => {}
    }
    match ServerMessage::parse(line) {
        Some(ServerMessage::Welcome(id)) => format!("* you are {id} (type help)"),
        Some(ServerMessage::Clients(ids)) => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            format!("* in the room: {}", ids.join(" "))
        }
        Some(ServerMessage::From { from, text }) => format!("[{from}] {text}"),
        Some(ServerMessage::Sent(to)) => format!("* sent to {to}"),
        Some(ServerMessage::Bye) => "* bye".to_owned(),
        Some(ServerMessage::Err(refusal)) => format!("! {} {}", refusal.code, refusal.detail),
        None => format!("? {line}"),
    }
}

/// True for the server's goodbye, with or without a reason.
pub fn is_bye(line: &str) -> bool {
    line == "BYE" || line.starts_with("BYE ")
}

/// The chat client's screen state.
#[derive(Debug, Clone, Default)]
pub struct App {
    id: Option<String>,
    room: Vec<String>,
    messages: Vec<String>,
    /// The line being typed, and the cursor in it (in characters).
    input: String,
    cursor: usize,
    /// This client sent `Q`.
    left: bool,
    /// The server said `BYE`.
    said_bye: bool,
    /// The connection ended: why.
    closed: Option<String>,
}

impl App {
    pub fn new() -> App {
        App::default()
    }

    /// The line being typed.
    pub fn input(&self) -> &str {
        &self.input
    }

    fn show(&mut self, line: String) {
        self.messages.extend(line.lines().map(str::to_owned));
        if self.messages.len() > MESSAGES_KEPT {
            let extra = self.messages.len() - MESSAGES_KEPT;
            self.messages.drain(..extra);
        }
    }

    /// A line from the server.
    pub fn server_line(&mut self, line: &str) {
        match ServerMessage::parse(line) {
            Some(ServerMessage::Welcome(id)) => self.id = Some(id.to_string()),
            Some(ServerMessage::Clients(ids)) => {
                self.room = ids.iter().map(ToString::to_string).collect()
            }
            _ => {}
        }
        self.said_bye |= is_bye(line);
        self.show(describe(line));
    }

    /// The connection ended (`reason` if it failed).
    pub fn closed(&mut self, reason: Option<String>) {
        let line = match reason {
            Some(error) => format!("connection lost: {error}"),
            None if self.said_bye => "the server said goodbye".to_owned(),
            None => "the server closed the connection".to_owned(),
        };
        self.show(format!("* {line}"));
        self.closed = Some(line);
    }

    /// Why the connection ended, once it has.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// True once the program should end: after `Q` answered by `BYE` and
    /// the end of the connection (there is nothing more to see).
    pub fn done(&self) -> bool {
        self.closed.is_some() && self.left && self.said_bye
    }

    /// A terminal event: keys edit the input line, Enter submits it, a
    /// paste is typed in as it is (each line break an Enter).
    pub fn event(&mut self, event: &Event) -> Vec<Command> {
        let mut commands = Vec::new();
        match event {
            Event::Paste(text) => {
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                let mut parts = text.split('\n').peekable();
                while let Some(part) = parts.next() {
                    self.insert(part);
                    if parts.peek().is_some() {
                        commands.extend(self.submit());
                    }
                }
            }
            _ => {
                if let Some(key) = tui::pressed(event) {
                    let control = key.modifiers.contains(KeyModifiers::CONTROL);
                    match key.code {
                        _ if tui::is_interrupt(&key) => {
                            if self.closed.is_some() || self.left {
                                commands.push(Command::Exit);
                            } else {
                                // Leave politely: `Q`, then the `BYE` ends it.
                                self.left = true;
                                commands.push(Command::Send("Q".to_owned()));
                            }
                        }
                        KeyCode::Char('u') if control => {
                            self.input.clear();
                            self.cursor = 0;
                        }
                        KeyCode::Char(c) if !control => self.insert(&c.to_string()),
                        KeyCode::Enter => commands.extend(self.submit()),
                        KeyCode::Backspace if self.cursor > 0 => {
                            self.cursor -= 1;
                            let at = self.byte_at(self.cursor);
                            self.input.remove(at);
                        }
                        KeyCode::Delete if self.cursor < self.input.chars().count() => {
                            let at = self.byte_at(self.cursor);
                            self.input.remove(at);
                        }
                        KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
                        KeyCode::Right => {
                            self.cursor = (self.cursor + 1).min(self.input.chars().count())
                        }
                        KeyCode::Home => self.cursor = 0,
                        KeyCode::End => self.cursor = self.input.chars().count(),
                        KeyCode::Esc if self.closed.is_some() => commands.push(Command::Exit),
                        _ => {}
                    }
                }
            }
        }
        commands
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.input
            .char_indices()
            .nth(chars)
            .map_or(self.input.len(), |(at, _)| at)
    }

    fn insert(&mut self, text: &str) {
        let at = self.byte_at(self.cursor);
        self.input.insert_str(at, text);
        self.cursor += text.chars().count();
    }

    /// Enter: the typed line goes to the server (or is answered here).
    fn submit(&mut self) -> Option<Command> {
        let line = std::mem::take(&mut self.input);
        self.cursor = 0;
        if self.closed.is_some() {
            return Some(Command::Exit);
        }
        if line.trim().is_empty() {
            return None;
        }
        self.show(format!("> {line}"));
        if line.trim() == "help" {
            self.show(HELP.to_owned());
            return None;
        }
        if line.len() > LINE_BYTES_MAX {
            self.show(format!(
                "! too long: at most {LINE_BYTES_MAX} bytes per line"
            ));
            return None;
        }
        if line.trim() == "Q" {
            self.left = true;
        }
        Some(Command::Send(line))
    }

    pub fn render(&self, frame: &mut Frame) {
        let [top, middle, input, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let [messages, room] =
            Layout::horizontal([Constraint::Min(20), Constraint::Length(ROOM_WIDTH)]).areas(middle);
        let who = self.id.as_deref().unwrap_or("connecting");
        let state = match &self.closed {
            Some(reason) => reason.as_str(),
            None if self.left => "leaving",
            None => "in the room",
        };
        tui::header(frame, top, format!(" chat · you are {who} · {state}"));

        // The newest messages at the bottom, long ones wrapped.
        let width = usize::from(messages.width.saturating_sub(2)).max(1);
        let wrapped: Vec<String> = self
            .messages
            .iter()
            .flat_map(|line| wrap(line, width))
            .collect();
        tui::log(frame, messages, "messages", &wrapped);

        let room_text = if self.room.is_empty() {
            "(L lists it)".to_owned()
        } else {
            self.room
                .iter()
                .map(|peer| {
                    if Some(peer.as_str()) == self.id.as_deref() {
                        format!("{peer} (you)")
                    } else {
                        peer.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        frame.render_widget(
            Paragraph::new(room_text).block(Block::default().borders(Borders::ALL).title(" room ")),
            room,
        );

        // The input line scrolls so that the cursor stays in view.
        let inner_width = usize::from(input.width.saturating_sub(2)).max(1);
        let skip = (self.cursor + 1).saturating_sub(inner_width);
        let shown: String = self.input.chars().skip(skip).take(inner_width).collect();
        let title = if self.closed.is_some() {
            " Enter or Esc: exit "
        } else {
            " > "
        };
        frame.render_widget(
            Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)),
            input,
        );
        frame.set_cursor_position((input.x + 1 + (self.cursor - skip) as u16, input.y + 1));
        let keys = " Enter send · L list · <ip:port> <message> · Q leave · help · Ctrl-C quit";
        frame.render_widget(
            Paragraph::new(keys).style(Style::default().add_modifier(Modifier::DIM)),
            bottom,
        );
    }
}

/// `line` cut into pieces of at most `width` characters.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::{buffer_text, key};
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::KeyEvent;
    use ratatui::Terminal;

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(80, 20)).expect("test backend");
        terminal.draw(|frame| app.render(frame)).expect("draw");
        buffer_text(terminal.backend().buffer()).join("\n")
    }

    fn typed(text: &str) -> Vec<Event> {
        text.chars()
            .map(|c| match c {
                '\n' => key(KeyCode::Enter),
                c => key(KeyCode::Char(c)),
            })
            .collect()
    }

    fn feed(app: &mut App, events: &[Event]) -> Vec<Command> {
        events.iter().flat_map(|event| app.event(event)).collect()
    }

    #[test]
    fn a_burst_of_keys_with_enters_sends_every_line_whole() {
        let mut app = App::new();
        app.server_line("WELCOME 127.0.0.1:5000");
        // `L` and Enter together (what rustyline's printer lost), then a
        // message typed faster than any screen redraw, all in one burst.
        let sent = feed(&mut app, &typed("L\n127.0.0.1:6000 hello there\nhal"));
        assert_eq!(
            sent,
            vec![
                Command::Send("L".to_owned()),
                Command::Send("127.0.0.1:6000 hello there".to_owned())
            ]
        );
        assert_eq!(app.input(), "hal");
        let text = screen(&app);
        assert!(text.contains("│hal"), "{text}");
        assert!(text.contains("> 127.0.0.1:6000 hello there"), "{text}");
    }

    #[test]
    fn a_paste_is_typed_in_and_each_line_break_sends() {
        let mut app = App::new();
        let sent = app.event(&Event::Paste("L\r\n127.0.0.1:6000 hi\nrest".to_owned()));
        assert_eq!(
            sent,
            vec![
                Command::Send("L".to_owned()),
                Command::Send("127.0.0.1:6000 hi".to_owned())
            ]
        );
        assert_eq!(app.input(), "rest");
    }

    #[test]
    fn the_cursor_keys_edit_inside_the_line() {
        let mut app = App::new();
        feed(&mut app, &typed("helo"));
        feed(
            &mut app,
            &[
                key(KeyCode::Left),
                key(KeyCode::Char('l')),
                key(KeyCode::Home),
                key(KeyCode::Delete),
                key(KeyCode::Char('H')),
                key(KeyCode::End),
                key(KeyCode::Backspace),
                key(KeyCode::Char('o')),
            ],
        );
        assert_eq!(app.input(), "Hello");
        let control_u = Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        app.event(&control_u);
        assert_eq!(app.input(), "");
    }

    #[test]
    fn help_is_answered_here_and_never_sent() {
        let mut app = App::new();
        assert_eq!(feed(&mut app, &typed("help\n\n")), vec![]);
        assert!(screen(&app).contains("list the clients in the room"));
    }

    #[test]
    fn the_room_pane_shows_the_last_list_and_marks_you() {
        let mut app = App::new();
        app.server_line("WELCOME 127.0.0.1:5000");
        app.server_line("CLIENTS 127.0.0.1:5000 127.0.0.1:6000");
        app.server_line("FROM 127.0.0.1:6000 hi you");
        let text = screen(&app);
        assert!(
            text.contains("chat · you are 127.0.0.1:5000 · in the room"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:5000 (you)"), "{text}");
        assert!(text.contains("[127.0.0.1:6000] hi you"), "{text}");
    }

    #[test]
    fn after_q_the_bye_shows_and_the_client_is_done() {
        let mut app = App::new();
        app.server_line("WELCOME 127.0.0.1:5000");
        assert_eq!(
            feed(&mut app, &typed("Q\n")),
            vec![Command::Send("Q".to_owned())]
        );
        app.server_line("BYE");
        assert!(!app.done(), "the connection has not ended yet");
        app.closed(None);
        assert!(app.done());
        let text = screen(&app);
        assert!(text.contains("* bye"), "{text}");
        assert!(!text.contains("closed the connection"), "{text}");
    }

    #[test]
    fn a_server_shutdown_bye_shows_its_reason_and_waits_for_a_key() {
        let mut app = App::new();
        app.server_line("WELCOME 127.0.0.1:5000");
        app.server_line("BYE server-shutdown");
        app.closed(None);
        assert!(!app.done(), "the person did not leave: the screen stays");
        let text = screen(&app);
        assert!(
            text.contains("* bye: the server is shutting down"),
            "{text}"
        );
        assert!(text.contains("the server said goodbye"), "{text}");
        assert_eq!(app.event(&key(KeyCode::Esc)), vec![Command::Exit]);
    }

    #[test]
    fn a_bye_with_another_reason_shows_the_reason() {
        assert_eq!(describe("BYE idle"), "* bye (idle)");
        assert_eq!(describe("BYE"), "* bye");
        assert!(is_bye("BYE idle") && is_bye("BYE") && !is_bye("BYEBYE"));
    }

    #[test]
    fn ctrl_c_leaves_politely_then_exits() {
        let mut app = App::new();
        let control_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app.event(&control_c), vec![Command::Send("Q".to_owned())]);
        assert_eq!(app.event(&control_c), vec![Command::Exit]);
    }

    #[test]
    fn a_line_too_long_is_refused_here() {
        let mut app = App::new();
        let long = "x".repeat(LINE_BYTES_MAX + 1);
        assert_eq!(app.event(&Event::Paste(format!("{long}\n"))), vec![]);
        assert!(screen(&app).contains("too long"));
    }
}
