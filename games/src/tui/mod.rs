//! The terminal UIs of the three clients (ratatui over crossterm): this
//! module owns the terminal (raw mode, alternate screen, bracketed paste,
//! and putting it all back), the thread that reads key events, and the two
//! widgets both tombola clients show: the board with its marked numbers and
//! the 1-90 grid of drawn numbers.
//!
//! Each client's UI is a plain state machine ([`tombola::App`],
//! [`live::App`], [`chat::App`]): network lines and key events go in,
//! lines to send come out, and `render` draws it on any ratatui backend, so
//! tests drive them through `TestBackend` without a terminal. The binaries
//! only wire them to the sockets and the screen.

pub mod chat;
pub mod live;
pub mod tombola;

/// The UI library, for tests that render with its `TestBackend` and build
/// key events without a dependency of their own.
pub use ratatui;

use std::io::{self, IsTerminal};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use tokio::sync::mpsc;

use crate::tombola::rules::{Board, NumberSet, BOARD_NUMBERS, NUMBER_MAX};

/// True when a person sits at this process: both stdin and stdout are a
/// terminal. Otherwise the clients print plain lines (scripts and tests).
pub fn is_interactive() -> bool {
    io::stdout().is_terminal() && io::stdin().is_terminal()
}

/// The terminal in raw mode on the alternate screen; dropping it gives the
/// shell its terminal back as it was (ratatui's panic hook does the same
/// on a panic).
pub struct Terminal {
    inner: ratatui::DefaultTerminal,
}

impl Terminal {
    pub fn open() -> io::Result<Terminal> {
        let inner = ratatui::try_init()?;
        // Pasted text arrives as one event instead of a burst of keys.
        execute!(io::stdout(), event::EnableBracketedPaste)?;
        Ok(Terminal { inner })
    }

    pub fn draw(&mut self, render: impl FnOnce(&mut Frame)) -> io::Result<()> {
        self.inner.draw(render).map(|_| ())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), event::DisableBracketedPaste);
        ratatui::restore();
    }
}

/// Every terminal event, in order, from a thread that blocks on the
/// terminal. The channel is unbounded so that no key is ever dropped,
/// however fast they come (a paste, a fast typist, a busy screen).
pub fn terminal_events() -> mpsc::UnboundedReceiver<Event> {
    let (events, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if events.send(event).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The key of a key press (releases and repeats reported by some terminals
/// are not presses).
pub fn pressed(event: &Event) -> Option<KeyEvent> {
    match event {
        Event::Key(key) if key.kind == KeyEventKind::Press => Some(*key),
        _ => None,
    }
}

/// Ctrl-C: raw mode turns it into a key, so every UI handles it itself.
pub fn is_interrupt(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d'))
}

/// A key press without modifiers, for tests.
pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// How a marked number stands out from the others.
fn marked_style() -> Style {
    Style::default()
        .fg(Color::Black)
        .bg(Color::Green)
        .add_modifier(Modifier::BOLD)
}

/// Board numbers per row, as on a paper tombola card (3 rows of 5).
const BOARD_ROW_NUMBERS: usize = 5;

/// Height of [`board`]: the rows and the frame.
pub const BOARD_HEIGHT: u16 = (BOARD_NUMBERS / BOARD_ROW_NUMBERS) as u16 + 2;
/// Width of [`board`]: five cells of four characters and the frame.
pub const BOARD_WIDTH: u16 = (BOARD_ROW_NUMBERS * 4) as u16 + 2;

/// The board, drawn numbers marked `[nn]` (and in colour), how many are.
pub fn board(frame: &mut Frame, area: Rect, board: &Board, drawn: &NumberSet) {
    let marked = board
        .numbers()
        .iter()
        .filter(|&&number| drawn.contains(number))
        .count();
    let lines: Vec<Line> = board
        .numbers()
        .chunks(BOARD_ROW_NUMBERS)
        .map(|row| {
            Line::from(
                row.iter()
                    .map(|&number| {
                        if drawn.contains(number) {
                            Span::styled(format!("[{number:>2}]"), marked_style())
                        } else {
                            Span::raw(format!(" {number:>2} "))
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let title = format!(" your board {marked}/{BOARD_NUMBERS} ");
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Numbers per row of [`grid`]: 1-10, 11-20, ... as on a tombola board.
const GRID_ROW_NUMBERS: u8 = 10;

/// Height of [`grid`]: nine rows and the frame.
pub const GRID_HEIGHT: u16 = (NUMBER_MAX / GRID_ROW_NUMBERS) as u16 + 2;
/// Width of [`grid`]: ten cells of three characters and the frame.
pub const GRID_WIDTH: u16 = GRID_ROW_NUMBERS as u16 * 3 + 2;

/// The 1-90 grid: a drawn number shows, one not drawn yet is a dot; the
/// last one drawn is highlighted, the player's own numbers are underlined.
pub fn grid(frame: &mut Frame, area: Rect, drawn: &NumberSet, last: Option<u8>, board: &Board) {
    let lines: Vec<Line> = (0..NUMBER_MAX / GRID_ROW_NUMBERS)
        .map(|row| {
            Line::from(
                (1..=GRID_ROW_NUMBERS)
                    .map(|column| {
                        let number = row * GRID_ROW_NUMBERS + column;
                        let mut style = Style::default();
                        if board.contains(number) {
                            style = style.add_modifier(Modifier::UNDERLINED);
                        }
                        if !drawn.contains(number) {
                            return Span::styled(" · ", style.fg(Color::DarkGray));
                        }
                        if Some(number) == last {
                            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
                        } else if board.contains(number) {
                            style = style.fg(Color::Green).add_modifier(Modifier::BOLD);
                        }
                        Span::styled(format!("{number:>2} "), style)
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let title = format!(" drawn {}/{NUMBER_MAX} ", drawn.len());
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The last lines of `lines` that fit in `area`, in a frame titled `title`.
pub fn log(frame: &mut Frame, area: Rect, title: &str, lines: &[String]) {
    let rows = usize::from(area.height.saturating_sub(2));
    let shown: Vec<Line> = lines[lines.len().saturating_sub(rows)..]
        .iter()
        .map(|line| Line::raw(line.as_str()))
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

/// One line across the top (what, who, where the game is).
pub fn header(frame: &mut Frame, area: Rect, text: String) {
    let style = Style::default().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(text).style(style), area);
}

/// One line across the bottom: what the keys do now.
pub fn footer(frame: &mut Frame, area: Rect, text: String) {
    let style = Style::default().fg(Color::Yellow);
    frame.render_widget(Paragraph::new(text).style(style), area);
}

/// A box with the result in it, in the middle of `area` (the events pane,
/// so the board and the grid stay in view) or of the screen when `area` is
/// too small; drawn over whatever is behind.
pub fn result_box(frame: &mut Frame, area: Rect, title: &str, lines: &[String]) {
    let width = lines
        .iter()
        .map(|line| line.chars().count())
        .chain([title.chars().count()])
        .max()
        .unwrap_or(0) as u16
        + 6;
    let height = lines.len() as u16 + 4;
    let area = if area.height >= height && area.width >= width {
        area
    } else {
        frame.area()
    };
    let [_, row, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, middle, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(width.min(area.width)),
        Constraint::Fill(1),
    ])
    .areas(row);
    let text: Vec<Line> = std::iter::once(Line::raw(""))
        .chain(lines.iter().map(|line| Line::raw(line.as_str())))
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .title_alignment(Alignment::Center)
        .border_style(Style::default().fg(Color::Yellow));
    frame.render_widget(Clear, middle);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .style(Style::default().add_modifier(Modifier::BOLD))
            .block(block),
        middle,
    );
}

/// The text of a rendered buffer, one string per row (for tests).
pub fn buffer_text(buffer: &ratatui::buffer::Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}
