//! `tombola-live-client`: play live tombola against `tombola-live-server`.
//!
//! Interactive by default: shows the board with the drawn numbers marked
//! (and the numbers drawn before it joined, when it joins a running game),
//! claims tombola as soon as the board is complete, announces the result,
//! and asks on stdin whether to play the next game. `--bot` plays alone:
//! `--games` games, one line printed per game.

use std::process::ExitCode;

use clap::Parser;
use games::cli::{board_line, parse_board, seed_or_clock};
use games::env::TokioEnv;
use games::live::client::{play, Behaviour, ClientConfig, Ending, Observer, View};
use games::live::game::Port;
use games::live::protocol::ServerMessage;
use games::tombola::rules::Board;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

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

fn result_line(id: &str, game: u64, winner: &Option<String>) -> String {
    match winner {
        Some(winner) if winner == id => format!("game {game} over: TOMBOLA! you won"),
        Some(winner) => format!("game {game} over: won by {winner}"),
        None => format!("game {game} over: no winner"),
    }
}

/// The interactive display.
struct Screen;

impl Observer for Screen {
    fn seen(&mut self, _port: Port, message: &ServerMessage, view: &View<'_>) {
        match message {
            ServerMessage::Welcome { id, .. } => println!("connected as {id}"),
            ServerMessage::BoardOk => {
                println!("your board:\n{}", board_line(view.board, view.drawn))
            }
            ServerMessage::Game { game, history } if history.is_empty() => {
                println!("game {game} starts\n{}", board_line(view.board, view.drawn))
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
            ServerMessage::Next { game, seconds } if view.asking => {
                println!("game {game} starts in {seconds} s: play again? [y/n]")
            }
            ServerMessage::Goodbye => println!("goodbye"),
            ServerMessage::Err(refusal) => println!("server: {refusal}"),
            _ => {}
        }
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
    } else {
        play(&env, &config, &mut Screen, Some(stdin_answers())).await
    };
    match result {
        Ok(report) => {
            let ending = match report.ending {
                Ending::Quit => "quit",
                Ending::SentAway => "sent away (no AGAIN in time)",
                Ending::Left => "left",
                Ending::Closed => "the server closed the connection",
            };
            println!("{}: {ending} after {} games", report.id, report.games.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tombola-live-client: {error}");
            ExitCode::FAILURE
        }
    }
}
