//! The turmoil backend: each host of a run is a turmoil host (so a fault
//! can crash and restart it), each session an [`SimEnv`] on it, and the
//! fault driver [`crate::scenario::faults::drive`] steps the simulation.

use std::cell::Cell;
use std::rc::Rc;

use crate::engine::backend::{unfinished, Backend, HostContext, HostSpec, Watch};
use crate::engine::harness::{build_sim, NetConfig, Violation};
use crate::engine::trace::Trace;
use crate::engine::turmoil_env::SimEnv;
use crate::scenario::faults::{drive, Fault, SessionBook};

/// turmoil's simulated TCP, stepped tick by tick.
#[derive(Debug, Clone, Copy, Default)]
pub struct Turmoil;

impl Backend for Turmoil {
    type Env = SimEnv;

    fn run_hosts(
        &self,
        seed: u64,
        net: &NetConfig,
        faults: &[Fault],
        trace: &Trace,
        hosts: Vec<HostSpec<SimEnv>>,
        watch: Watch<'_>,
    ) -> Vec<Violation> {
        let mut sim = build_sim(seed, net);
        let book = SessionBook::default();
        for host in hosts {
            let HostSpec {
                name,
                waited,
                software,
                ..
            } = host;
            if waited {
                book.expect(&name);
            }
            let starts = Rc::new(Cell::new(0u32));
            let (book, trace, host_name) = (book.clone(), trace.clone(), name.clone());
            sim.host(name, move || {
                starts.set(starts.get() + 1);
                let incarnation = starts.get();
                if waited {
                    book.start(&host_name);
                }
                let session_trace = trace.clone();
                let context = HostContext::new(
                    move |session: &str| SimEnv::new(session, &session_trace),
                    |task| {
                        let task = tokio::task::spawn_local(task);
                        Box::pin(async move { task.await.map_err(Into::into) })
                    },
                    // Turmoil makes no choices: the seed's own stream.
                    |_, _| 0,
                );
                let running = software(incarnation, context);
                let (book, host_name) = (book.clone(), host_name.clone());
                async move {
                    running.await?;
                    if waited {
                        book.finish(&host_name);
                    }
                    Ok(())
                }
            });
        }
        match drive(&mut sim, faults, net, trace, &book, watch) {
            Ok(()) => Vec::new(),
            Err(error) => vec![unfinished(&error)],
        }
    }
}
