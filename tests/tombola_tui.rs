//! The lock-step client's screen state (`games::tui::tombola::App`) playing
//! a real game against the real server on 127.0.0.1: key events go in
//! through the same `Observer::answer` hook the binary uses, and what the
//! server makes of the answers they produce comes out. `t` on a board that
//! is not complete is a false claim (disqualified), `t` on a full board
//! wins, and no key at all acknowledges every draw (no winner).

mod common;

use std::time::Duration;

use games::env::{Env, Listener, TokioEnv};
use games::tombola::client::{play, Answer, Behaviour, ClientReport, Observer, Outcome};
use games::tombola::game::ServerConfig;
use games::tombola::protocol::ServerMessage;
use games::tombola::rules::{Board, NumberSet};
use games::tombola::server;
use games::tui::ratatui::backend::TestBackend;
use games::tui::ratatui::crossterm::event::{Event, KeyCode};
use games::tui::ratatui::Terminal;
use games::tui::tombola::{App, Claiming, Command};
use games::tui::{buffer_text, key};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

/// A whole test game ends well within this.
const GAME_WAIT: Duration = Duration::from_secs(30);

/// A one-player server on 127.0.0.1:0; its address and its stop switch.
async fn start_server(seed: u64) -> (String, oneshot::Sender<()>) {
    let env = TokioEnv::new();
    let listener = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("bound address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        players: 1,
        interval_ms: 1,
        reply_timeout_ms: 2000,
        ..ServerConfig::default()
    };
    tokio::spawn(server::run(
        env,
        listener,
        config,
        ChaCha8Rng::seed_from_u64(seed),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// Which key the person presses at a draw, knowing whether the board is
/// complete; `None`: no key before the think time is over.
type Person = fn(seq: u32, complete: bool) -> Option<Event>;

/// The screen state and a person at the keyboard.
struct AtTheKeyboard {
    app: App,
    board: Board,
    drawn: NumberSet,
    person: Person,
    /// The draws answered with a claim.
    claims: Vec<u32>,
}

impl Observer for AtTheKeyboard {
    fn seen(&mut self, message: &ServerMessage, _: &Board, _: &NumberSet) {
        if let ServerMessage::Draw { number, .. } = message {
            self.drawn.insert(*number);
        }
        self.app.seen(message);
    }

    fn answer(&mut self, seq: u32) -> impl std::future::Future<Output = Option<Answer>> + Send {
        let answer = self.app.ask(seq).unwrap_or_else(|| {
            let pressed = (self.person)(seq, self.board.is_covered_by(&self.drawn));
            match pressed.map(|event| self.app.event(&event)) {
                Some(Command::Answer(answer)) => answer,
                _ => self.app.think_time_over().expect("a draw was pending"),
            }
        });
        if answer == Answer::Claim {
            self.claims.push(seq);
        }
        std::future::ready(Some(answer))
    }
}

async fn play_by_hand(seed: u64, person: Person) -> (ClientReport, AtTheKeyboard) {
    let (addr, _stop) = start_server(seed).await;
    let board = Board::random(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut keyboard = AtTheKeyboard {
        app: App::new(board.clone(), Claiming::ByHand),
        board: board.clone(),
        drawn: NumberSet::default(),
        person,
        claims: Vec::new(),
    };
    let env = TokioEnv::new();
    let report = tokio::time::timeout(
        GAME_WAIT,
        play(&env, &addr, board, Behaviour::Honest, &mut keyboard),
    )
    .await
    .expect("the game ended in time")
    .expect("the session played");
    keyboard.app.finish(Ok(&report));
    (report, keyboard)
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    terminal
        .draw(|frame| app.render(frame, None))
        .expect("draw");
    buffer_text(terminal.backend().buffer()).join("\n")
}

#[tokio::test]
async fn t_before_the_board_is_complete_is_a_false_claim_and_disqualifies() {
    let (report, keyboard) = play_by_hand(1, |seq, _| {
        Some(key(if seq == 3 {
            KeyCode::Char('t')
        } else {
            KeyCode::Char(' ')
        }))
    })
    .await;
    assert_eq!(report.outcome, Outcome::Disqualified);
    assert_eq!(keyboard.claims, vec![3]);
    assert_eq!(report.draws.len(), 3);
    let text = screen(&keyboard.app);
    assert!(
        text.contains("disqualified: a false claim after 3 draws"),
        "{text}"
    );
}

#[tokio::test]
async fn t_when_the_board_is_complete_wins() {
    let (report, keyboard) = play_by_hand(2, |_, complete| {
        Some(key(if complete {
            KeyCode::Char('t')
        } else {
            KeyCode::Enter
        }))
    })
    .await;
    assert!(
        matches!(&report.outcome, Outcome::Won { winners } if winners == std::slice::from_ref(&report.id)),
        "{report:?}"
    );
    assert_eq!(keyboard.claims, vec![report.draws.len() as u32]);
    let text = screen(&keyboard.app);
    assert!(text.contains("TOMBOLA! you won game 1 after"), "{text}");
    assert!(text.contains("your board 15/15"), "{text}");
}

#[tokio::test]
async fn no_key_acknowledges_every_draw_and_nobody_wins() {
    let (report, keyboard) = play_by_hand(3, |_, _| None).await;
    assert_eq!(report.outcome, Outcome::NoWinner);
    assert_eq!(report.draws.len(), 90);
    assert!(keyboard.claims.is_empty());
}
