//! `tombola-client`: play lock-step tombola against `tombola-server`.
//!
//! On a terminal it is a full-screen game: your board with the drawn
//! numbers marked, the 1-90 grid of drawn numbers, the players, what
//! happened, and the result. You claim: each draw waits up to `--think-ms`
//! for your key (`t` claims TOMBOLA, space says next); a claim your board
//! does not cover is a false claim, and the server disqualifies you for
//! it. `--auto` claims for you as soon as the board is complete.
//!
//! When stdout or stdin is not a terminal (scripts, tests) it prints plain
//! lines instead (the board after every draw) and claims by itself.
//! `--bot` plays the same way and prints a single line at the end.

use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use games::cli::{board_line, parse_board, seed_or_clock};
use games::env::TokioEnv;
use games::tombola::client::{play, Answer, Behaviour, ClientError, ClientReport, Observer};
use games::tombola::protocol::ServerMessage;
use games::tombola::rules::{Board, NumberSet};
use games::tui::tombola::{outcome_line, App, Claiming, Command};
use games::tui::{self, Terminal};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, oneshot};

/// How long a draw waits for your key by default: long enough to notice a
/// full board and press `t`, well under the server's default 5000 ms
/// `--reply-timeout-ms`.
const THINK_MS: u64 = 1500;

/// How often the screen is redrawn when nothing happens (the countdown of
/// the think time moves).
const REDRAW_INTERVAL_MS: u64 = 100;

/// Lock-step tombola client: registers a board, answers every draw; you
/// claim (or it claims with --auto) when the board is complete.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: String,
    /// Seed of the random board (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// A fixed board instead: 15 distinct numbers in 1..=90, space-separated.
    #[arg(long, value_parser = parse_board)]
    board: Option<Board>,
    /// Claim automatically as soon as the board is complete (on a
    /// terminal, you claim with `t` otherwise).
    #[arg(long)]
    auto: bool,
    /// How long each draw waits for your key before it is acknowledged by
    /// itself, in milliseconds; keep it under the server's
    /// --reply-timeout-ms.
    #[arg(long, default_value_t = THINK_MS)]
    think_ms: u64,
    /// Play without the board display; print one line with the result.
    #[arg(long)]
    bot: bool,
}

/// Prints the board after every draw (plain output).
struct Lines;

impl Observer for Lines {
    fn seen(&mut self, message: &ServerMessage, board: &Board, drawn: &NumberSet) {
        match message {
            ServerMessage::Welcome(id) => println!(
                "connected as {id}; your board:\n{}",
                board_line(board, drawn)
            ),
            ServerMessage::Waiting { have, need } => {
                println!("waiting for players: {have} of {need}")
            }
            ServerMessage::Start { game, players } => {
                println!("game {game} starts: {}", players.join(" "))
            }
            ServerMessage::Draw { seq, number } => {
                let mut after = *drawn;
                after.insert(*number);
                let hit = if board.contains(*number) {
                    "  hit!"
                } else {
                    ""
                };
                println!(
                    "draw {seq:>2}: {number:>2}{hit}\n{}",
                    board_line(board, &after)
                );
            }
            ServerMessage::Err(refusal) => println!("server: {refusal}"),
            _ => {}
        }
    }
}

/// What the session tells the screen.
enum Update {
    Seen(ServerMessage),
    /// A draw waits for the person's answer.
    Ask(u32, oneshot::Sender<Answer>),
}

/// The session's observer on a terminal: passes every line to the screen
/// and, when the person claims, asks the screen for each answer.
struct Bridge {
    updates: mpsc::UnboundedSender<Update>,
    claiming: Claiming,
}

impl Observer for Bridge {
    fn seen(&mut self, message: &ServerMessage, _: &Board, _: &NumberSet) {
        let _ = self.updates.send(Update::Seen(message.clone()));
    }

    fn answer(&mut self, seq: u32) -> impl Future<Output = Option<Answer>> + Send {
        let asked = (self.claiming == Claiming::ByHand).then(|| {
            let (reply, answer) = oneshot::channel();
            let _ = self.updates.send(Update::Ask(seq, reply));
            answer
        });
        async move {
            match asked {
                // The screen went away: acknowledge.
                Some(answer) => Some(answer.await.unwrap_or(Answer::Ack)),
                None => None,
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let board = match args.board.clone() {
        Some(board) => board,
        None => Board::random(&mut ChaCha8Rng::seed_from_u64(seed_or_clock(
            args.seed,
            "tombola-client",
        ))),
    };
    let env = TokioEnv::new();
    let result = if args.bot {
        play(&env, &args.addr, board, Behaviour::Honest, &mut ()).await
    } else if !tui::is_interactive() {
        play(&env, &args.addr, board, Behaviour::Honest, &mut Lines).await
    } else {
        return match on_terminal(&env, &args, board).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("tombola-client: {error}");
                ExitCode::FAILURE
            }
        };
    };
    match result {
        Ok(report) => {
            println!("{} {}", report.id, outcome_line(&report));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tombola-client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The full-screen game; the result line is printed again after the
/// terminal is restored, so it stays in the scrollback.
async fn on_terminal(env: &TokioEnv, args: &Args, board: Board) -> std::io::Result<()> {
    let claiming = if args.auto {
        Claiming::Auto
    } else {
        Claiming::ByHand
    };
    let (updates, mut updates_rx) = mpsc::unbounded_channel();
    let mut bridge = Bridge { updates, claiming };
    let mut app = App::new(board.clone(), claiming);
    let mut session = pin!(play(env, &args.addr, board, Behaviour::Honest, &mut bridge));
    let mut terminal = Terminal::open()?;
    let mut events = tui::terminal_events();
    let mut redraw = tokio::time::interval(Duration::from_millis(REDRAW_INTERVAL_MS));
    let mut pending: Option<(oneshot::Sender<Answer>, tokio::time::Instant)> = None;
    let mut running = true;
    let mut last_line = None;
    loop {
        tokio::select! {
            biased;
            event = events.recv() => {
                let Some(event) = event else { break };
                match app.event(&event) {
                    Command::Nothing => {}
                    Command::Answer(answer) => {
                        if let Some((reply, _)) = pending.take() {
                            let _ = reply.send(answer);
                        }
                    }
                    Command::Quit => {
                        if running {
                            last_line = Some("left before the end of the game".to_owned());
                        }
                        break;
                    }
                }
            }
            update = updates_rx.recv() => match update {
                Some(Update::Seen(message)) => app.seen(&message),
                Some(Update::Ask(seq, reply)) => match app.ask(seq) {
                    Some(answer) => { let _ = reply.send(answer); }
                    None => {
                        let deadline = tokio::time::Instant::now() + Duration::from_millis(args.think_ms);
                        pending = Some((reply, deadline));
                    }
                },
                None => {}
            },
            result = &mut session, if running => {
                running = false;
                // Lines the session saw before it ended come first.
                while let Ok(Update::Seen(message)) = updates_rx.try_recv() {
                    app.seen(&message);
                }
                let line = finish(&mut app, result);
                last_line = Some(line);
            }
            _ = sleep_until(pending.as_ref().map(|(_, deadline)| *deadline)) => {
                if let (Some((reply, _)), Some(answer)) = (pending.take(), app.think_time_over()) {
                    let _ = reply.send(answer);
                }
            }
            _ = redraw.tick() => {}
        }
        let think_left_ms = pending.as_ref().map(|(_, deadline)| {
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis() as u64
        });
        terminal.draw(|frame| app.render(frame, think_left_ms))?;
    }
    drop(terminal);
    if let Some(line) = last_line {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
    }
    Ok(())
}

fn finish(app: &mut App, result: Result<ClientReport, ClientError>) -> String {
    match result {
        Ok(report) => {
            app.finish(Ok(&report));
            format!("{} {}", report.id, outcome_line(&report))
        }
        Err(error) => {
            let line = format!("tombola-client: {error}");
            app.finish(Err(line.clone()));
            line
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
