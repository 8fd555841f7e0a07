//! The chat room on real TCP and the real clock, judged by the
//! simulation's own chat oracles: four bots talk through the real server
//! session, every line is recorded into a trace, and the trace passes the
//! same oracles a simulated run does.

use std::sync::Arc;
use std::time::Duration;

use games::chat::client::{self, Behaviour, BotReport, End, Farewell, TalkPlan};
use games::chat::server::{self, ServerConfig};
use games::env::{Env, Listener, TokioEnv};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

use crate::engine::trace::Trace;

/// A whole test conversation must end well within this.
const TALK_WAIT: Duration = Duration::from_secs(20);

/// Real TCP and the real clock, recording into a shared trace under its own
/// name, so a real run can be judged like a simulated one.
#[derive(Clone)]
struct Recorder {
    inner: TokioEnv,
    name: Arc<str>,
    trace: Trace,
}

impl Recorder {
    fn new(inner: &TokioEnv, name: &str, trace: &Trace) -> Recorder {
        Recorder {
            inner: inner.clone(),
            name: name.into(),
            trace: trace.clone(),
        }
    }
}

impl Env for Recorder {
    type Stream = <TokioEnv as Env>::Stream;
    type Listener = <TokioEnv as Env>::Listener;

    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    async fn sleep_until_ms(&self, deadline_ms: u64) {
        self.inner.sleep_until_ms(deadline_ms).await
    }

    async fn bind(&self, addr: &str) -> std::io::Result<Self::Listener> {
        self.inner.bind(addr).await
    }

    async fn connect(&self, addr: &str) -> std::io::Result<Self::Stream> {
        self.inner.connect(addr).await
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.spawn(task)
    }

    fn record(&self, event: std::fmt::Arguments<'_>) {
        self.trace
            .record(self.inner.now_ms(), &self.name, event.to_string());
    }
}

/// stop switch.
async fn start_server<E: Env>(env: E, config: ServerConfig) -> (String, oneshot::Sender<()>) {
    let listener = env.bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("bound address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run(env, listener, config, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_bots_on_real_tcp_pass_the_same_oracles_as_the_simulation() {
    let trace = Trace::new();
    let clock = TokioEnv::new();
    let (addr, _stop) = start_server(
        Recorder::new(&clock, "server", &trace),
        ServerConfig::default(),
    )
    .await;
    let mut bots = Vec::new();
    for index in 0..4u64 {
        let env = Recorder::new(&clock, &format!("c{index}"), &trace);
        let addr = addr.clone();
        bots.push(tokio::spawn(async move {
            let plan = TalkPlan {
                commands: 30,
                pause_min_ms: 0,
                pause_max_ms: 3,
                list_percent: 20,
                duration_ms: None,
                linger_ms: 150,
                farewell: Farewell::Quit,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(index);
            client::run(&env, &addr, &Behaviour::Talker(plan), &mut rng).await
        }));
    }
    let mut reports: Vec<BotReport> = Vec::new();
    for bot in bots {
        let report = tokio::time::timeout(TALK_WAIT, bot)
            .await
            .expect("the bot finished in time")
            .expect("the bot task ran")
            .expect("the bot talked");
        reports.push(report);
    }
    let outcome = crate::models::chat::judge(trace.lines(), Vec::new());
    assert!(
        outcome.passed(),
        "{:?}\n{}",
        outcome.violations,
        outcome.trace_text()
    );
    assert_eq!(outcome.games, 4);
    let sent: u32 = reports.iter().map(|report| report.sent).sum();
    let received: u32 = reports.iter().map(|report| report.received).sum();
    assert!(sent > 0, "some messages were sent");
    // Every bot quit after a linger long enough for everything to arrive,
    // and the oracle already matched each FROM with its SENT.
    assert_eq!(sent, received);
    assert!(reports.iter().all(|report| report.end == End::Bye));
}
