//! `chat-client`: talk in the chat room by hand, or run a seeded bot.
//!
//! Interactive (the default): type `L` to list the room, `<ip:port> <msg>`
//! to send a message, `Q` to leave, `help` for a reminder. Incoming lines
//! are printed above the line being typed (a rustyline editor redraws it
//! intact) as they arrive. Try it against a running
//! `chat-server` from two terminals.
//!
//! `--bot --seed 7` sends seeded random messages to random peers and lists
//! the room now and then, then leaves and prints what it saw.

use std::io::{IsTerminal, Write};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use games::chat::client::{self, Behaviour, Farewell, TalkPlan};
use games::chat::protocol::{ServerLineCodec, ServerMessage};
use games::env::{Env, TokioEnv};
use games::framing::{Frame, LINE_BYTES_MAX};

/// A chat room client: interactive by default, or a seeded bot.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's address.
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

const HELP: &str = "\
commands:
  L                  list the clients in the room (you included)
  <ip:port> <msg>    send <msg> to that client, e.g. 127.0.0.1:50000 hello
  Q                  leave the room
  help               this text (not sent to the server)";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = if args.bot {
        bot(&args).await
    } else {
        interactive(&args.addr).await
    };
    if let Err(error) = result {
        eprintln!("chat-client: {error}");
        std::process::exit(1);
    }
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

/// Where server lines are shown: on a terminal, above the line being
/// typed, which rustyline redraws intact; otherwise plain stdout.
enum Screen {
    Editor(Box<dyn rustyline::ExternalPrinter + Send>),
    Plain,
}

impl Screen {
    fn show(&mut self, text: &str) {
        match self {
            Screen::Editor(printer) => {
                if printer.print(format!("{text}\n")).is_err() {
                    println!("{text}");
                }
            }
            Screen::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }
}

/// Where typed lines come from: a line editor on its own thread (it blocks
/// on the terminal), or stdin read as plain lines.
enum Keyboard {
    Editor(mpsc::UnboundedReceiver<String>, std::thread::JoinHandle<()>),
    Plain(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Keyboard {
    /// The next typed line; `None` at end of input (Ctrl-D, Ctrl-C, EOF).
    async fn next(&mut self) -> std::io::Result<Option<String>> {
        match self {
            Keyboard::Editor(typed, _) => Ok(typed.recv().await),
            Keyboard::Plain(lines) => lines.next_line().await,
        }
    }
}

/// A line editor when both ends are a terminal, plain lines otherwise.
fn open_terminal() -> (Screen, Keyboard) {
    let plain = || {
        (
            Screen::Plain,
            Keyboard::Plain(tokio::io::BufReader::new(tokio::io::stdin()).lines()),
        )
    };
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return plain();
    }
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        return plain();
    };
    let Ok(printer) = editor.create_external_printer() else {
        return plain();
    };
    let (typed_tx, typed_rx) = mpsc::unbounded_channel();
    let reader = std::thread::spawn(move || {
        while let Ok(line) = editor.readline(PROMPT) {
            let _ = editor.add_history_entry(line.as_str());
            if typed_tx.send(line).is_err() {
                break;
            }
        }
    });
    (
        Screen::Editor(Box::new(printer)),
        Keyboard::Editor(typed_rx, reader),
    )
}

const PROMPT: &str = "> ";

/// How a server line reads for a person.
fn describe(line: &str) -> String {
    if line == games::conn::SHUTDOWN_LINE {
        return "* the server is shutting down".to_owned();
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

async fn interactive(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let env = TokioEnv::new();
    let stream = env.connect(addr).await?;
    let (read_half, write_half) = tokio::io::split(stream);
    let mut server_lines = FramedRead::new(read_half, ServerLineCodec::new());
    let mut sink = FramedWrite::new(write_half, ServerLineCodec::new());
    let (mut screen, mut keyboard) = open_terminal();
    let mut keyboard_open = true;

    loop {
        tokio::select! {
            biased;
            frame = server_lines.next() => match frame {
                Some(Ok(Frame::Line(line))) => screen.show(&describe(&line)),
                Some(Ok(Frame::InvalidUtf8)) => screen.show("? (a line that is not UTF-8)"),
                Some(Err(error)) => {
                    screen.show(&format!("* connection lost: {error}"));
                    break;
                }
                None => {
                    screen.show("* the server closed the connection");
                    break;
                }
            },
            typed = keyboard.next(), if keyboard_open => {
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
                    screen.show(HELP);
                } else if line.len() > LINE_BYTES_MAX {
                    screen.show(&format!("! too long: at most {LINE_BYTES_MAX} bytes per line"));
                } else if line.is_empty() {
                    continue;
                } else {
                    sink.send(line).await?;
                }
            }
        }
    }
    if let Keyboard::Editor(typed, reader) = keyboard {
        // The editor holds the terminal in raw mode until its read returns:
        // wait for it, so the shell gets its terminal back as it was.
        if !reader.is_finished() {
            screen.show("* press Enter to exit");
        }
        drop(typed);
        let _ = reader.join();
    }
    Ok(())
}
