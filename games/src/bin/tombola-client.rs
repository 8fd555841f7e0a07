//! `tombola-client`: play lock-step tombola against `tombola-server`.
//!
//! Interactive by default: shows the board with drawn numbers marked after
//! every draw, answers each draw and claims tombola as soon as the board is
//! complete, then announces the result. `--bot` plays the same way and
//! prints a single line at the end.

use std::process::ExitCode;

use clap::Parser;
use games::cli::{board_line, parse_board, seed_or_clock};
use games::env::TokioEnv;
use games::tombola::client::{play, Behaviour, Observer, Outcome};
use games::tombola::protocol::ServerMessage;
use games::tombola::rules::{Board, NumberSet};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Lock-step tombola client: registers a board, answers every draw, claims
/// when the board is complete.
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
    /// Play without the board display; print one line with the result.
    #[arg(long)]
    bot: bool,
}

/// Prints the board after every draw.
struct Screen;

impl Observer for Screen {
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

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let board = match args.board {
        Some(board) => board,
        None => Board::random(&mut ChaCha8Rng::seed_from_u64(seed_or_clock(
            args.seed,
            "tombola-client",
        ))),
    };
    let env = TokioEnv::new();
    let result = if args.bot {
        play(&env, &args.addr, board, Behaviour::Honest, &mut ()).await
    } else {
        play(&env, &args.addr, board, Behaviour::Honest, &mut Screen).await
    };
    match result {
        Ok(report) => {
            let game = report.game.map_or("-".to_owned(), |game| game.to_string());
            let line = match &report.outcome {
                Outcome::Won { winners } if winners.len() > 1 => format!(
                    "TOMBOLA! you won game {game} together with {}",
                    winners.join(" ")
                ),
                Outcome::Won { .. } => format!("TOMBOLA! you won game {game}"),
                Outcome::Lost { winners } => {
                    format!("game {game} over: won by {}", winners.join(" "))
                }
                Outcome::NoWinner => format!("game {game} over: no winner"),
                Outcome::Disqualified => "disqualified".to_owned(),
                Outcome::Dropped { reason } => format!("dropped by the server: {reason}"),
                Outcome::Left => "left the game".to_owned(),
            };
            println!("{} {line} after {} draws", report.id, report.draws.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tombola-client: {error}");
            ExitCode::FAILURE
        }
    }
}
