//! `chat-client`: talk in the chat room by hand, or run a seeded bot.
//!
//! Interactive (the default): type `L` to list the room, `<ip:port> <msg>`
//! to send a message, `Q` to leave, `help` for a reminder. On a terminal it
//! is a full-screen client: the messages, who is in the room (the last
//! `L`), and an input line that takes every key and paste in order. When
//! stdin or stdout is not a terminal it reads typed lines from stdin and
//! prints what arrives as plain lines. Try it against a running
//! `chat-server` from two terminals (`make play-chat` listens on
//! 127.0.0.1:2006, beside the live tombola server's 2004 and 2005; the
//! binaries' own default is 127.0.0.1:2004).
//!
//! `--bot --seed 7` sends seeded random messages to random peers and lists
//! the room now and then, then leaves and prints what it saw.

use std::io::Write;

use clap::Parser;
use futures::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncBufReadExt;
use tokio_util::codec::{FramedRead, FramedWrite};

use games::chat::client::{self, Behaviour, Farewell, TalkPlan};
use games::chat::protocol::ServerLineCodec;
use games::env::{Env, TokioEnv};
use games::framing::{Frame, LINE_BYTES_MAX};
use games::tui::chat::{self, App, Command};
use games::tui::{self, Terminal};

/// A chat room client: interactive by default, or a seeded bot.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's address (chat-server's default; `make play-chat`
    /// listens on 127.0.0.1:2006).
    #[arg(long, default_value = "127.0.0.1:2004")]
    addr: String,
    /// Run a bot instead of reading the keyboard.
    #[arg(long)]
    bot: bool,
    /// The bot's seed: the same seed makes the same choices.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Commands the bot sends before leaving.
    #[arg(long, default_value_t = 20)]
    commands: u32,
    /// Shortest pause before each of the bot's commands.
    #[arg(long, default_value_t = 200)]
    pause_min_ms: u64,
    /// Longest pause before each of the bot's commands.
    #[arg(long, default_value_t = 1000)]
    pause_max_ms: u64,
    /// Percent of the bot's commands that are `L`.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100))]
    list_percent: u32,
    /// The bot stops sending after this long, whatever `--commands` says.
    #[arg(long)]
    duration_ms: Option<u64>,
    /// How long the bot keeps reading after its last command.
    #[arg(long, default_value_t = 1000)]
    linger_ms: u64,
    /// Print every line the bot sends and receives to stderr.
    #[arg(long)]
    log: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = if args.bot {
        bot(&args).await
    } else {
        interactive(&args.addr).await
    };
    let code = match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("chat-client: {error}");
            1
        }
    };
    // Exit here: returning would drop the runtime, which waits for its
    // blocking read of stdin, and stdin may stay open (a pipe) after the
    // server said BYE.
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

async fn bot(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let env = if args.log {
        TokioEnv::logging("bot")
    } else {
        TokioEnv::new()
    };
    let plan = TalkPlan {
        commands: args.commands,
        pause_min_ms: args.pause_min_ms,
        pause_max_ms: args.pause_max_ms,
        list_percent: args.list_percent,
        duration_ms: args.duration_ms,
        linger_ms: args.linger_ms,
        farewell: Farewell::Quit,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let report = client::run(&env, &args.addr, &Behaviour::Talker(plan), &mut rng).await?;
    println!(
        "bot {} commands={} sent={} busy={} no-such-client={} received={} end={}",
        report.id,
        report.commands,
        report.sent,
        report.busy,
        report.no_such_client,
        report.received,
        report.end.as_str()
    );
    Ok(())
}

/// Prints a line and flushes (plain output: a script reads it at once).
fn show(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

async fn interactive(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let env = TokioEnv::new();
    let stream = env.connect(addr).await?;
    let (read_half, write_half) = tokio::io::split(stream);
    let server_lines = FramedRead::new(read_half, ServerLineCodec::new());
    let sink = FramedWrite::new(write_half, ServerLineCodec::new());
    if tui::is_interactive() {
        on_terminal(server_lines, sink).await
    } else {
        plain(server_lines, sink).await
    }
}

type ServerLines = FramedRead<tokio::io::ReadHalf<tokio::net::TcpStream>, ServerLineCodec>;
type Sink = FramedWrite<tokio::io::WriteHalf<tokio::net::TcpStream>, ServerLineCodec>;

/// Plain lines: typed lines from stdin, server lines to stdout.
async fn plain(
    mut server_lines: ServerLines,
    mut sink: Sink,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut keyboard = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut keyboard_open = true;
    let mut said_bye = false;
    loop {
        tokio::select! {
            biased;
            frame = server_lines.next() => match frame {
                Some(Ok(Frame::Line(line))) => {
                    said_bye |= chat::is_bye(&line);
                    show(&chat::describe(&line));
                }
                Some(Ok(Frame::InvalidUtf8)) => show("? (a line that is not UTF-8)"),
                Some(Err(error)) => {
                    show(&format!("* connection lost: {error}"));
                    break;
                }
                None => {
                    // After `BYE` the close is expected: the bye said it.
                    if !said_bye {
                        show("* the server closed the connection");
                    }
                    break;
                }
            },
            typed = keyboard.next_line(), if keyboard_open => {
                let line = match typed? {
                    Some(line) => line,
                    None => {
                        // End of input leaves the room politely.
                        keyboard_open = false;
                        "Q".to_owned()
                    }
                };
                let line = line.strip_suffix('\r').unwrap_or(&line).to_owned();
                if line.trim() == "help" {
                    show(chat::HELP);
                } else if line.len() > LINE_BYTES_MAX {
                    show(&format!("! too long: at most {LINE_BYTES_MAX} bytes per line"));
                } else if line.is_empty() {
                    continue;
                } else {
                    sink.send(line).await?;
                }
            }
        }
    }
    Ok(())
}

/// How often the screen is redrawn when nothing happens (a resize).
const REDRAW_INTERVAL_MS: u64 = 500;

/// The full-screen client: messages, the room, and an input line fed by
/// every key in order.
async fn on_terminal(
    mut server_lines: ServerLines,
    mut sink: Sink,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut app = App::new();
    let mut terminal = Terminal::open()?;
    let mut events = tui::terminal_events();
    let mut redraw = tokio::time::interval(std::time::Duration::from_millis(REDRAW_INTERVAL_MS));
    let mut open = true;
    'session: loop {
        tokio::select! {
            biased;
            // Keys first: typing is never held up by a busy room.
            event = events.recv() => {
                let Some(event) = event else { break };
                for command in app.event(&event) {
                    match command {
                        Command::Send(line) => {
                            if open && sink.send(line).await.is_err() {
                                open = false;
                                app.closed(Some("cannot send".to_owned()));
                            }
                        }
                        Command::Exit => break 'session,
                    }
                }
            }
            frame = server_lines.next(), if open => match frame {
                Some(Ok(Frame::Line(line))) => app.server_line(&line),
                Some(Ok(Frame::InvalidUtf8)) => app.server_line("(a line that is not UTF-8)"),
                Some(Err(error)) => {
                    open = false;
                    app.closed(Some(error.to_string()));
                }
                None => {
                    open = false;
                    app.closed(None);
                }
            },
            _ = redraw.tick() => {}
        }
        if app.done() {
            break;
        }
        terminal.draw(|frame| app.render(frame))?;
    }
    drop(terminal);
    // The last word stays on the terminal after the screen is gone.
    if app.done() {
        show("* bye");
    } else if let Some(reason) = app.closed_reason() {
        show(&format!("* {reason}"));
    }
    Ok(())
}
