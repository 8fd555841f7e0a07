//! The least-possible-work servers: what a server does when it does
//! nothing but the workload, so that a real server's figures can be given
//! as a ratio to them, measured by the same bots in the same run.
//!
//! - Live fan-out: one task owns every numbers socket and writes each line
//!   to every socket in turn. It speaks just enough of the live protocol
//!   for the load generator's bots (`WELCOME`, `HELLO`, `BOARD-OK`,
//!   `GAME ... HISTORY`, `DRAW`, `AGAIN-OK`), checks nothing, and never
//!   ends a game early.
//! - Chat routing: one reader task per connection, a shared map from id to
//!   an unbounded queue, and one writer per connection that writes every
//!   queued line in one batch. No bounds, no `recipient-busy`: less work
//!   than any server that keeps the protocol's guarantees can do.
//!
//! Neither is a server to run for people: they are unbounded on purpose.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Prints where a listener listens, the way the real servers do.
fn announce(listener: &TcpListener) -> std::io::Result<()> {
    games::cli::announce_listening(listener.local_addr()?);
    Ok(())
}

/// Registered players waiting to be added by the draw task.
type Joining = mpsc::UnboundedSender<OwnedWriteHalf>;
/// Numbers connections waiting for their `HELLO`, by token.
type Unpaired = Arc<Mutex<HashMap<String, (String, OwnedWriteHalf)>>>;

/// The live fan-out reference on two listeners; runs until killed.
pub async fn serve_live(
    numbers_addr: SocketAddr,
    claims_addr: SocketAddr,
    interval_ms: u64,
) -> std::io::Result<()> {
    let numbers = TcpListener::bind(numbers_addr).await?;
    let claims = TcpListener::bind(claims_addr).await?;
    announce(&numbers)?;
    announce(&claims)?;
    serve_live_on(numbers, claims, interval_ms).await;
    Ok(())
}

/// The live fan-out reference on listeners already bound.
pub async fn serve_live_on(numbers: TcpListener, claims: TcpListener, interval_ms: u64) {
    let unpaired: Unpaired = Arc::default();
    let (joining, joined) = mpsc::unbounded_channel();
    tokio::spawn(draw_task(joined, interval_ms));
    let accept_numbers = {
        let unpaired = unpaired.clone();
        async move {
            let mut next_player = 0u64;
            loop {
                let Ok((socket, _)) = numbers.accept().await else {
                    continue;
                };
                let _ = socket.set_nodelay(true);
                next_player += 1;
                let id = format!("p{next_player}");
                let token = format!("{next_player:016x}");
                let (read, write) = socket.into_split();
                // Never read: the numbers port only broadcasts. Dropping the
                // read half leaves the connection open.
                drop(read);
                // The token is stored before the client can read it, so its
                // HELLO always finds it; a fresh socket's buffer takes one
                // short line without waiting.
                let welcome = format!("WELCOME {id} {token}\n");
                let mut unpaired = unpaired.lock().unwrap();
                if matches!(write.try_write(welcome.as_bytes()), Ok(written) if written == welcome.len())
                {
                    unpaired.insert(token, (id, write));
                }
            }
        }
    };
    let accept_claims = async move {
        loop {
            let Ok((socket, _)) = claims.accept().await else {
                continue;
            };
            let _ = socket.set_nodelay(true);
            tokio::spawn(claims_task(socket, unpaired.clone(), joining.clone()));
        }
    };
    tokio::join!(accept_numbers, accept_claims);
}

async fn claims_task(socket: TcpStream, unpaired: Unpaired, joining: Joining) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut numbers = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let reply = match keyword {
            "HELLO" => match unpaired.lock().unwrap().remove(rest) {
                Some((id, numbers_write)) => {
                    numbers = Some(numbers_write);
                    format!("HELLO {id}")
                }
                None => "ERR bad-token".into(),
            },
            "BOARD" => match numbers.take() {
                Some(numbers_write) => {
                    let _ = joining.send(numbers_write);
                    "BOARD-OK".into()
                }
                None => "ERR not-paired".into(),
            },
            "AGAIN" => "AGAIN-OK".into(),
            "QUIT" => "GOODBYE".into(),
            _ => "ERR unknown-command".into(),
        };
        if write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Draws forever: one task, every line written to every socket in turn.
async fn draw_task(mut joined: mpsc::UnboundedReceiver<OwnedWriteHalf>, interval_ms: u64) {
    let mut players: Vec<OwnedWriteHalf> = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut ticks = tokio::time::interval(Duration::from_millis(interval_ms));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for game in 1u64.. {
        let mut numbers: Vec<u8> = (1..=90).collect();
        numbers.shuffle(&mut rng);
        let mut history = String::new();
        let start = format!("GAME {game} HISTORY\n");
        for player in &mut players {
            let _ = player.write_all(start.as_bytes()).await;
        }
        for (index, number) in numbers.iter().enumerate() {
            ticks.tick().await;
            while let Ok(mut player) = joined.try_recv() {
                let line = format!("GAME {game} HISTORY{history}\n");
                if player.write_all(line.as_bytes()).await.is_ok() {
                    players.push(player);
                }
            }
            let line = format!("DRAW {game} {} {number}\n", index + 1);
            let mut index_player = 0;
            while index_player < players.len() {
                if players[index_player]
                    .write_all(line.as_bytes())
                    .await
                    .is_ok()
                {
                    index_player += 1;
                } else {
                    players.swap_remove(index_player);
                }
            }
            history.push_str(&format!(" {number}"));
        }
        let end = format!("OVER {game} NOWINNER\nNEXT {} IN 0\n", game + 1);
        for player in &mut players {
            let _ = player.write_all(end.as_bytes()).await;
        }
    }
}

/// Every connected client's outgoing queue, by id.
type Mailboxes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>;

/// The chat routing reference; runs until killed.
pub async fn serve_chat(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    announce(&listener)?;
    serve_chat_on(listener).await;
    Ok(())
}

/// The chat routing reference on a listener already bound.
pub async fn serve_chat_on(listener: TcpListener) {
    let mailboxes: Mailboxes = Arc::default();
    loop {
        let Ok((socket, peer)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        tokio::spawn(chat_connection(socket, peer, mailboxes.clone()));
    }
}

async fn chat_connection(socket: TcpStream, peer: SocketAddr, mailboxes: Mailboxes) {
    let id = peer.to_string();
    let (read, write) = socket.into_split();
    let (outbox, queued) = mpsc::unbounded_channel();
    let _ = outbox.send(format!("WELCOME {id}\n"));
    mailboxes.lock().unwrap().insert(id.clone(), outbox.clone());
    let writer = tokio::spawn(batch_writer(write, queued));
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match line.as_str() {
            "L" => {
                let mut ids: Vec<String> = mailboxes.lock().unwrap().keys().cloned().collect();
                ids.sort();
                format!("CLIENTS {}\n", ids.join(" "))
            }
            "Q" => {
                let _ = outbox.send("BYE\n".into());
                break;
            }
            _ => match line.split_once(' ') {
                Some((to, text)) => {
                    let target = mailboxes.lock().unwrap().get(to).cloned();
                    match target {
                        Some(target) if target.send(format!("FROM {id} {text}\n")).is_ok() => {
                            format!("SENT {to}\n")
                        }
                        _ => format!("ERR no-such-client {to}\n"),
                    }
                }
                None => "ERR unknown-command\n".into(),
            },
        };
        if outbox.send(reply).is_err() {
            break;
        }
    }
    mailboxes.lock().unwrap().remove(&id);
    drop(outbox);
    let _ = writer.await;
}

/// Writes whatever is queued in one write: the first line, then every line
/// already waiting behind it.
async fn batch_writer(mut write: OwnedWriteHalf, mut queued: mpsc::UnboundedReceiver<String>) {
    let mut batch = String::new();
    while let Some(line) = queued.recv().await {
        batch.push_str(&line);
        while let Ok(line) = queued.try_recv() {
            batch.push_str(&line);
        }
        if write.write_all(batch.as_bytes()).await.is_err() {
            return;
        }
        batch.clear();
    }
}
