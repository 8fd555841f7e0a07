//! How one seed of a chat spec starts its hosts, on any backend: the
//! server (not waited for; it draws nothing) and one host per client host
//! (waited for), each of whose sessions makes its connections one after
//! another, each connection with its own trace name and RNG stream
//! ([`connection_name`]).

use games::chat::client::{self, ClientError, End};
use games::chat::room::ChatRoom;
use games::chat::server;
use games::env::Env;

use crate::engine::backend::{HostContext, HostSpec, Model};
use crate::engine::harness::{host_rng, NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::models::chat::{
    connection_name, judge_with, ChatSpec, SessionSpec, RECONNECT_PAUSE_MS, SERVER_NAME,
    SERVER_PORT,
};
use crate::scenario::faults::Fault;

impl Model for ChatSpec {
    fn net(&self) -> &NetConfig {
        &self.net
    }

    fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn swarm(&self) -> bool {
        self.swarm
    }

    fn swarm_targets(&self) -> Vec<String> {
        self.sessions
            .iter()
            .map(|session| session.name.clone())
            .collect()
    }

    fn on_hosts(&self, fault: &Fault) -> Fault {
        ChatSpec::on_hosts(self, fault)
    }

    fn hosts<E: Env>(&self, seed: u64) -> Vec<HostSpec<E>> {
        let mut hosts = Vec::new();
        let config = self.server.clone();
        let bug = self.bug;
        hosts.push(HostSpec::new(SERVER_NAME, false, move |_, host| {
            let env: E = host.env(SERVER_NAME);
            let config = config.clone();
            Box::pin(async move {
                let listener = env.bind(&format!("0.0.0.0:{SERVER_PORT}")).await?;
                let room = ChatRoom::with_bug(bug);
                server::run_room(env, listener, config, room, std::future::pending()).await?;
                Ok(())
            })
        }));
        for host_name in self.hosts() {
            let sessions: Vec<SessionSpec> = self
                .sessions
                .iter()
                .filter(|session| session.host == host_name)
                .cloned()
                .collect();
            hosts.push(HostSpec::new(&host_name, true, move |incarnation, host| {
                let sessions = sessions.clone();
                Box::pin(async move {
                    let mut tasks = Vec::new();
                    for session in sessions {
                        tasks.push(host.spawn(run_session(
                            host.clone(),
                            session,
                            seed,
                            incarnation,
                        )));
                    }
                    for task in tasks {
                        task.await?;
                    }
                    Ok(())
                })
            }));
        }
        hosts
    }

    fn judge(&self, lines: &[TraceLine], violations: Vec<Violation>) -> RunOutcome {
        judge_with(lines, violations, &self.topology())
    }

    fn end_of_run_properties(&self) -> &'static [&'static str] {
        super::END_OF_RUN_PROPERTIES
    }
}

/// One session on its host: its connections, one after another.
async fn run_session<E: Env>(
    host: HostContext<E>,
    session: SessionSpec,
    seed: u64,
    incarnation: u32,
) {
    // Its behaviour, join time and every random decision come from its
    // plan: the seed's own unless a search chose another.
    let plan = host.bot_stream(&session.name);
    let (behaviour, join_at_ms) = session.planned(seed, &plan);
    if incarnation == 1 && join_at_ms > 0 {
        host.env(&session.name).sleep_ms(join_at_ms).await;
    }
    let addr = format!("{SERVER_NAME}:{SERVER_PORT}");
    for attempt in 1..=session.reconnects + 1 {
        let name = connection_name(&session.name, incarnation, attempt);
        let env = host.env(&name);
        let mut rng = host_rng(seed, &connection_name(&plan, incarnation, attempt));
        let result = client::run_bounded(
            &env,
            &addr,
            &behaviour,
            &mut rng,
            Some(session.silence_timeout_ms),
        )
        .await;
        match result {
            Ok(report) if matches!(report.end, End::Bye | End::HangUp) => return,
            Ok(_) | Err(ClientError::Silent(_)) => {}
            Err(error) => env.record(format_args!("error {error}")),
        }
        if attempt <= session.reconnects {
            env.sleep_ms(RECONNECT_PAUSE_MS).await;
        }
    }
}
