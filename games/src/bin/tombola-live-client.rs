//! `tombola-live-client`: play live tombola against `tombola-live-server`.
//!
//! On a terminal it is a full-screen game: your board with the drawn
//! numbers marked, the 1-90 grid (the numbers drawn before you joined
//! included), the game, what happened, the result of each game, and after
//! it "play again? [y/n]" with the seconds left; after "y" it counts down
//! to the next game. The client claims tombola for you as soon as the
//! board is complete (the first claim wins in live tombola).
//!
//! When stdout or stdin is not a terminal it prints plain lines instead
//! and reads the y/n answers as lines from stdin. `--bot` plays alone:
//! `--games` games, one line printed per game.

use std::io::Write;
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use games::cli::{board_line, parse_board, seed_or_clock};
use games::env::TokioEnv;
use games::live::client::{play, Behaviour, ClientConfig, Observer, View};
use games::live::game::Port;
use games::live::protocol::ServerMessage;
use games::tombola::rules::Board;
use games::tui::live::{ending_line, result_line, seconds_left, App, Command};
use games::tui::{self, Terminal};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

/// How often the screen is redrawn when nothing happens (the countdowns
/// move).
const REDRAW_INTERVAL_MS: u64 = 250;

/// Live tombola client: pairs its two connections, registers a board,
/// follows the draws (joining a running game if there is one), claims when
/// the board is complete, and asks whether to play again after each game.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server's numbers port (draws arrive here).
    #[arg(long, default_value = "127.0.0.1:2004")]
    numbers_addr: String,
    /// The server's claims port (this client talks here).
    #[arg(long, default_value = "127.0.0.1:2005")]
    claims_addr: String,
    /// Seed of the random board (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// A fixed board instead: 15 distinct numbers in 1..=90, space-separated.
    #[arg(long, value_parser = parse_board)]
    board: Option<Board>,
    /// Play without asking: no board display, one line per game.
    #[arg(long)]
    bot: bool,
    /// With --bot: how many games to play before quitting.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    games: u32,
}

/// The plain display: one line per event, the board when it changes.
#[derive(Default)]
struct Lines {
    /// The latest `NEXT`: the game and when it starts.
    next: Option<(u64, Instant)>,
}

impl Observer for Lines {
    fn seen(&mut self, _port: Port, message: &ServerMessage, view: &View<'_>) {
        match message {
            // The session reads `WELCOME` itself: `HELLO` says the pairing
            // worked.
            ServerMessage::Hello(id) => println!("connected as {id}"),
            ServerMessage::BoardOk => {
                println!("your board:\n{}", board_line(view.board, view.drawn))
            }
            // The board was just printed (registered) or is still unmarked
            // (a new game): the start needs no second copy of it.
            ServerMessage::Game { game, history } if history.is_empty() => {
                println!("game {game} starts")
            }
            ServerMessage::Game { game, history } => {
                let history: Vec<String> = history.iter().map(u8::to_string).collect();
                println!(
                    "game {game} is running; drawn so far ({}): {}\n{}",
                    history.len(),
                    history.join(" "),
                    board_line(view.board, view.drawn)
                );
            }
            ServerMessage::Draw { seq, number, .. } => {
                let hit = if view.board.contains(*number) {
                    "  hit!"
                } else {
                    ""
                };
                println!(
                    "draw {seq:>2}: {number:>2}{hit}\n{}",
                    board_line(view.board, view.drawn)
                );
            }
            ServerMessage::Win(game) => println!("your claim for game {game} wins!"),
            ServerMessage::Late { game, winner } => {
                println!("your claim for game {game} was late: {winner} was first")
            }
            ServerMessage::Over { game, winner } if view.game == Some(*game) => {
                println!("{}", result_line(view.id, *game, winner))
            }
            ServerMessage::Next { game, seconds } => {
                self.next = Some((*game, Instant::now() + Duration::from_secs(*seconds)));
                if view.asking {
                    println!("game {game} starts in {seconds} s: play again? [y/n]")
                }
            }
            ServerMessage::AgainOk => {
                if let Some((game, deadline)) = self.next {
                    println!(
                        "waiting for the next game, starts in {} s (game {game})",
                        seconds_left(deadline, Instant::now())
                    );
                }
            }
            ServerMessage::Goodbye => println!("goodbye"),
            ServerMessage::Err(refusal) => println!("server: {refusal}"),
            _ => {}
        }
        let _ = std::io::stdout().flush();
    }
}

/// `--bot`: one line per game.
struct BotLines;

impl Observer for BotLines {
    fn seen(&mut self, _port: Port, message: &ServerMessage, view: &View<'_>) {
        if let ServerMessage::Over { game, winner } = message {
            if view.game == Some(*game) {
                println!(
                    "{} {} after {} numbers",
                    view.id,
                    result_line(view.id, *game, winner),
                    view.drawn.len()
                );
            }
        }
    }
}

/// Forwards the player's yes/no answers from stdin; end of input closes
/// the channel, which the session takes as `QUIT`.
fn stdin_answers() -> mpsc::Receiver<bool> {
    let (answers, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = match line.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => true,
                "n" | "no" | "q" | "quit" => false,
                _ => {
                    println!("answer y or n");
                    continue;
                }
            };
            if answers.send(answer).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// The session's observer on a terminal: every line goes to the screen.
struct Bridge {
    updates: mpsc::UnboundedSender<(ServerMessage, bool)>,
}

impl Observer for Bridge {
    fn seen(&mut self, _port: Port, message: &ServerMessage, view: &View<'_>) {
        let _ = self.updates.send((message.clone(), view.asking));
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let board = match args.board {
        Some(board) => board,
        None => Board::random(&mut ChaCha8Rng::seed_from_u64(seed_or_clock(
            args.seed,
            "tombola-live-client",
        ))),
    };
    let env = TokioEnv::new();
    let mut config = ClientConfig {
        numbers_addr: args.numbers_addr,
        claims_addr: args.claims_addr,
        board,
        behaviour: Behaviour::Ask,
    };
    let result = if args.bot {
        config.behaviour = Behaviour::Honest { games: args.games };
        play(&env, &config, &mut BotLines, None).await
    } else if !tui::is_interactive() {
        play(&env, &config, &mut Lines::default(), Some(stdin_answers())).await
    } else {
        return match on_terminal(&env, &config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("tombola-live-client: {error}");
                ExitCode::FAILURE
            }
        };
    };
    let code = match result {
        Ok(report) => {
            println!("{}", ending_line(&report));
            0
        }
        Err(error) => {
            eprintln!("tombola-live-client: {error}");
            1
        }
    };
    // Exit here: returning would drop the runtime, which waits for its
    // blocking read of stdin, and stdin may stay open (a pipe) after the
    // session ended.
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// The full-screen game; the last line is printed again after the terminal
/// is restored, so it stays in the scrollback.
async fn on_terminal(env: &TokioEnv, config: &ClientConfig) -> std::io::Result<()> {
    let (updates, mut updates_rx) = mpsc::unbounded_channel();
    let mut bridge = Bridge { updates };
    let (answers, answers_rx) = mpsc::channel(1);
    let mut app = App::new(config.board.clone());
    let mut session = pin!(play(env, config, &mut bridge, Some(answers_rx)));
    let mut terminal = Terminal::open()?;
    let mut events = tui::terminal_events();
    let mut redraw = tokio::time::interval(Duration::from_millis(REDRAW_INTERVAL_MS));
    let mut running = true;
    let mut last_line = None;
    loop {
        tokio::select! {
            biased;
            event = events.recv() => {
                let Some(event) = event else { break };
                match app.event(&event) {
                    Command::Nothing => {}
                    Command::Again(again) => {
                        let _ = answers.try_send(again);
                    }
                    Command::Quit => {
                        if running {
                            last_line = Some("left before the end of the session".to_owned());
                        }
                        break;
                    }
                }
            }
            update = updates_rx.recv() => {
                if let Some((message, asking)) = update {
                    app.seen(&message, asking, Instant::now());
                }
            }
            result = &mut session, if running => {
                running = false;
                while let Ok((message, asking)) = updates_rx.try_recv() {
                    app.seen(&message, asking, Instant::now());
                }
                let line = match result {
                    Ok(report) => {
                        app.finish(Ok(&report));
                        ending_line(&report)
                    }
                    Err(error) => {
                        let line = format!("tombola-live-client: {error}");
                        app.finish(Err(line.clone()));
                        line
                    }
                };
                last_line = Some(line);
            }
            _ = redraw.tick() => {}
        }
        terminal.draw(|frame| app.render(frame, Instant::now()))?;
    }
    drop(terminal);
    if let Some(line) = last_line {
        writeln!(std::io::stdout().lock(), "{line}")?;
    }
    Ok(())
}
