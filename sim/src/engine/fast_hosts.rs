//! The fast backend as a [`Backend`]: hosts of a run as groups of tasks on
//! the in-memory network of [`crate::engine::fast`], the scenario's faults
//! applied on schedule with the same TCP meaning as on turmoil (see
//! `crate::scenario::faults`), and [`OnFastBackend`], which makes any
//! scenario file runnable here for `sim run` and `sim sweep`.
//!
//! A host is every task its software and its sessions started: a crash
//! aborts them all (their listeners and connections are dropped, peers
//! read the end of stream), a restart calls the software again with the
//! next incarnation. The run ends when every waited-for host is done and
//! no restart is pending, or past `net.duration_ms` (a `liveness`
//! violation naming the unfinished hosts, in turmoil's words).

use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::backend::{
    unfinished, Backend, HostContext, HostSpec, Software, StreamChoice, Watch,
};
use crate::engine::fast::choice::{self, ChoiceKind, Deviation};
use crate::engine::fast::executor::{self, TaskEnd};
use crate::engine::fast::{simulate, FastEnv, FastNet, LinkState};
use crate::engine::harness::{NetConfig, RunOptions, RunOutcome, Runnable, Violation};
use crate::engine::trace::Trace;
use crate::scenario::faults::{schedule, Action, Fault, SessionBook};
use crate::scenario::file::ScenarioFile;

/// How late a fault may fire, in one-way latencies at the run's maximum
/// (two: one round trip). Whether and when it fires is a choice of the run
/// (see `engine::fast::choice`): a crash that may land anywhere within one
/// exchange of lines can land between any two of them.
pub const FAULT_DELAY_LATENCIES: u64 = 2;

/// The event-driven in-memory backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fast;

/// One host of a run on the fast backend.
struct Host {
    name: String,
    waited: bool,
    software: Software<FastEnv>,
    incarnation: u32,
}

/// What the hosts tell the driver: a waited-for host finished, or one's
/// software failed (which ends the run, as on turmoil).
#[derive(Default)]
struct Reports {
    changed: tokio::sync::Notify,
    failure: RefCell<Option<String>>,
}

fn start(host: &mut Host, net: &FastNet, book: &SessionBook, reports: &Rc<Reports>) {
    host.incarnation += 1;
    if host.waited {
        book.start(&host.name);
    }
    let (make_net, spawn_net) = (net.clone(), net.clone());
    let (make_host, spawn_host) = (host.name.clone(), host.name.clone());
    let context = HostContext::new(
        move |session: &str| make_net.session(&make_host, session),
        move |task| {
            let task = executor::spawn(task);
            spawn_net.track(&spawn_host, task.key());
            Box::pin(async move {
                match task.await {
                    TaskEnd::Finished => Ok(()),
                    TaskEnd::Aborted => Err("the task was stopped by a crash of its host".into()),
                    TaskEnd::Panicked(message) => Err(format!("a task panicked: {message}").into()),
                }
            })
        },
        |kind, streams| {
            let kind = match kind {
                StreamChoice::ServerDraws => ChoiceKind::ServerDraws,
                StreamChoice::BotPlan => ChoiceKind::BotPlan,
            };
            executor::choose_stream(kind, streams)
        },
    );
    let running = (host.software)(host.incarnation, context);
    let (book, reports, name, waited) = (
        book.clone(),
        reports.clone(),
        host.name.clone(),
        host.waited,
    );
    let main = executor::spawn_detached(async move {
        match running.await {
            Ok(()) => {
                if waited {
                    book.finish(&name);
                }
            }
            Err(error) => {
                reports
                    .failure
                    .borrow_mut()
                    .get_or_insert_with(|| format!("host {name} failed: {error}"));
            }
        }
        reports.changed.notify_one();
    });
    net.track(&host.name, main);
}

impl Backend for Fast {
    type Env = FastEnv;

    fn run_hosts(
        &self,
        seed: u64,
        net: &NetConfig,
        faults: &[Fault],
        trace: &Trace,
        hosts: Vec<HostSpec<FastEnv>>,
        watch: Watch<'_>,
    ) -> Vec<Violation> {
        simulate(seed, net, trace, |network| async move {
            // Whether each fault happens, and up to a round trip late: a
            // choice of the run (every fault on time in a seeded run),
            // taken before anything runs.
            let delay_max_ms = FAULT_DELAY_LATENCIES * net.latency_max_ms;
            let delayed: Vec<Fault> = faults
                .iter()
                .filter_map(|fault| {
                    executor::choose_fault(delay_max_ms).map(|delay_ms| fault.delayed(delay_ms))
                })
                .collect();
            let actions = schedule(&delayed, net.latency_max_ms);
            let book = SessionBook::default();
            let reports = Rc::new(Reports::default());
            for host in &hosts {
                if let Some(class) = &host.class {
                    network.set_class(&host.name, class);
                }
            }
            let mut hosts: Vec<Host> = hosts
                .into_iter()
                .map(|host| Host {
                    name: host.name,
                    waited: host.waited,
                    software: host.software,
                    incarnation: 0,
                })
                .collect();
            for host in &hosts {
                if host.waited {
                    book.expect(&host.name);
                }
            }
            for host in &mut hosts {
                start(host, &network, &book, &reports);
            }
            let mut next = 0;
            loop {
                let now_ms = network.now_ms();
                while let Some((at_ms, action)) = actions.get(next) {
                    if *at_ms > now_ms {
                        break;
                    }
                    match action {
                        Action::Partition(a, b) => network.set_link(a, b, LinkState::Partitioned),
                        Action::Repair(a, b) | Action::Release(a, b) => {
                            network.set_link(a, b, LinkState::Healthy)
                        }
                        Action::Hold(a, b) => network.set_link(a, b, LinkState::Held),
                        Action::Crash(name) => {
                            network.crash(name);
                            book.crashed(name);
                        }
                        Action::Restart(name) => {
                            if let Some(host) = hosts.iter_mut().find(|host| host.name == *name) {
                                network.crash(name);
                                start(host, &network, &book, &reports);
                            }
                        }
                        Action::MaxLatency(max_ms) => network.set_max_latency(*max_ms),
                    }
                    trace.record(now_ms, "sim", action.describe());
                    next += 1;
                }
                if let Some(failure) = reports.failure.borrow_mut().take() {
                    return vec![unfinished(&failure)];
                }
                let restart_pending = actions[next..]
                    .iter()
                    .any(|(_, action)| matches!(action, Action::Restart(_)));
                if book.all_done() && !restart_pending {
                    return Vec::new();
                }
                if now_ms > net.duration_ms {
                    return vec![unfinished(&format!(
                        "still running after {} ms of simulated time (net.duration_ms); unfinished: {}",
                        net.duration_ms,
                        book.unfinished().join(", ")
                    ))];
                }
                let wake_ms = actions.get(next).map_or(net.duration_ms + 1, |(at_ms, _)| {
                    (*at_ms).min(net.duration_ms + 1)
                });
                let mut sleep = std::pin::pin!(executor::sleep_until(wake_ms));
                loop {
                    tokio::select! {
                        biased;
                        () = reports.changed.notified() => break,
                        () = &mut sleep => break,
                        // Between two moments, when watched: a look that
                        // changes nothing, then back to waiting.
                        () = executor::moment_left(), if watch.is_some() => {
                            if watch.is_some_and(|stop| stop(trace)) {
                                return Vec::new();
                            }
                        }
                    }
                }
            }
        })
    }
}

/// A scenario file of any game run on the fast backend, as a [`Runnable`]
/// for `sim run --backend fast` and `sim sweep --backend fast`.
#[derive(Debug, Clone)]
pub struct OnFastBackend {
    file: ScenarioFile,
    /// Set for a run driven by choices (see `engine::fast::choice`): the
    /// choices that are not the default.
    choices: Option<Vec<Deviation>>,
}

impl OnFastBackend {
    /// Wraps a scenario file, checking its game-specific parts.
    pub fn new(file: ScenarioFile) -> Result<OnFastBackend, String> {
        file.check()
            .map_err(|error| format!("{}: {error}", file.name()))?;
        Ok(OnFastBackend {
            file,
            choices: None,
        })
    }

    /// A checked scenario file whose runs take their choices from
    /// `choices` (the deviations from the defaults) when given, else from
    /// the seed.
    pub fn driven(file: ScenarioFile, choices: Option<Vec<Deviation>>) -> OnFastBackend {
        OnFastBackend { file, choices }
    }

    /// A built-in scenario file by name, or a scenario file by path.
    #[cfg(test)]
    pub fn lookup(name_or_path: &str) -> Result<OnFastBackend, String> {
        let path = std::path::Path::new(name_or_path);
        let file = if name_or_path.ends_with(".toml") || path.exists() {
            ScenarioFile::load(path)?
        } else {
            crate::scenario::file::builtin(name_or_path).ok_or_else(|| {
                format!("no built-in scenario file named {name_or_path:?} (the fast backend runs scenario files only)")
            })?
        };
        OnFastBackend::new(file)
    }
}

impl Runnable for OnFastBackend {
    fn name(&self) -> &str {
        self.file.name()
    }

    fn summary(&self) -> &str {
        &self.file.summary
    }

    fn must_reach(&self) -> Vec<String> {
        self.file.must_reach.clone()
    }

    fn run(&self, seed: u64, options: &RunOptions) -> RunOutcome {
        match &self.choices {
            None => self.file.run_on(&Fast, seed, options),
            Some(choices) => choice::drive(choices, || self.file.run_on(&Fast, seed, options)).0,
        }
    }
}
