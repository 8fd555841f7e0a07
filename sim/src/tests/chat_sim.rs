//! The chat scenarios under the simulation, all scenario files now: every
//! scenario passes its oracles on a few seeds, a short sweep reaches every
//! rare event each scenario exists for, runs are deterministic, a pinned
//! seed matches its snapshot, and a bad chat file is refused with an error
//! that names the field.

use crate::engine::harness::{failure_report, RunOptions, Runnable};
use crate::report::sweep::{sweep_builtins, SweepOptions};
use crate::scenario::file::ScenarioFile;
use crate::scenario::registry;

fn scenario(name: &str) -> Box<dyn Runnable> {
    registry::lookup(name).unwrap_or_else(|error| panic!("scenario {name}: {error}"))
}

fn chat_scenarios() -> Vec<Box<dyn Runnable>> {
    registry::everything()
        .into_iter()
        .filter(|scenario| scenario.name().starts_with("chat-"))
        .collect()
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../../../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn the_chat_scenarios_are_files_and_each_names_what_it_must_reach() {
    let names: Vec<String> = chat_scenarios()
        .iter()
        .map(|scenario| scenario.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "chat-small-room",
            "chat-random-talk",
            "chat-join-leave-list",
            "chat-never-reads",
            "chat-hangup-with-queued",
            "chat-faults",
            "chat-mischief",
            "chat-swarm"
        ]
    );
    for name in &names[1..] {
        assert!(
            !scenario(name).must_reach().is_empty(),
            "{name} must reach something"
        );
    }
}

#[test]
fn every_chat_scenario_passes_its_oracles_on_the_first_seeds() {
    for scenario in chat_scenarios() {
        let name = scenario.name().to_owned();
        // The fault scenarios run for seconds of simulated time: one seed.
        let seeds = if name == "chat-faults" || name == "chat-swarm" {
            0..1
        } else {
            0..3
        };
        for seed in seeds {
            let outcome = scenario.run(seed, &RunOptions::default());
            assert!(
                outcome.passed(),
                "{}",
                failure_report(&name, seed, &outcome)
            );
            assert!(
                outcome.games >= 3,
                "{name} seed {seed}: only {} sessions ended",
                outcome.games
            );
            assert!(outcome.winners_per_game.is_empty());
        }
    }
}

/// `SIM_SEEDS=500 cargo test -p sim chat_sim::a_short_sweep` for a longer sweep.
#[test]
fn a_short_sweep_of_every_chat_scenario_reaches_its_rare_events_without_violations() {
    let failures = sweep_builtins("chat-", &SweepOptions::from_env(16, 1000));
    assert!(
        failures.is_empty(),
        "sweep failures (each with its replay command):\n{failures}"
    );
}

#[test]
fn the_same_seed_twice_gives_the_identical_chat_trace() {
    for name in [
        "chat-random-talk",
        "chat-never-reads",
        "chat-faults",
        "chat-mischief",
    ] {
        let scenario = scenario(name);
        let first = scenario.run(1, &RunOptions::default()).report();
        let second = scenario.run(1, &RunOptions::default()).report();
        assert_eq!(first, second, "{name} seed 1 replayed differently");
    }
}

#[test]
fn different_seeds_give_different_chat_traces() {
    let scenario = scenario("chat-small-room");
    let traces: Vec<String> = (0..4)
        .map(|seed| scenario.run(seed, &RunOptions::default()).trace_text())
        .collect();
    for (index, trace) in traces.iter().enumerate() {
        for other in &traces[index + 1..] {
            assert_ne!(trace, other, "two seeds gave the same trace");
        }
    }
}

#[test]
fn a_client_that_never_reads_makes_messages_to_it_busy_while_the_room_goes_on() {
    let outcome = scenario("chat-never-reads").run(7, &RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        failure_report("chat-never-reads", 7, &outcome)
    );
    assert!(outcome.reached.contains("recipient-busy"));
    assert!(outcome.reached.contains("routed-after-busy"));
}

#[test]
fn the_faults_file_reaches_every_fault_event_on_seed_1() {
    let outcome = scenario("chat-faults").run(1, &RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        failure_report("chat-faults", 1, &outcome)
    );
    let text = outcome.trace_text();
    for line in [
        "sim      crash server",
        "sim      restart server",
        "sim      heal c2 server",
        "c3#2     recv WELCOME",
    ] {
        assert!(text.contains(line), "no {line:?} in the trace");
    }
    for event in scenario("chat-faults").must_reach() {
        assert!(
            outcome.reached.contains(&event),
            "seed 1 did not reach {event}"
        );
    }
}

#[test]
fn pinned_seed_of_the_small_room_matches_its_snapshot() {
    snapshot(
        "chat_small_room_seed_1",
        scenario("chat-small-room")
            .run(1, &RunOptions::default())
            .report(),
    );
}

const GOOD: &str = "game = \"chat\"\n[[clients]]\nname = \"c\"\ncount = 2\n";

fn refusal(text: &str) -> String {
    let file =
        ScenarioFile::parse(text, "chat-bad").unwrap_or_else(|error| panic!("parses: {error}"));
    file.check().expect_err("a bad chat file is refused")
}

#[test]
fn a_bad_chat_file_is_refused_with_an_error_naming_the_field() {
    ScenarioFile::parse(GOOD, "chat-good")
        .unwrap()
        .check()
        .expect("a good file passes");
    let cases = [
        (
            format!("{GOOD}behaviour = \"shouter\"\n"),
            "clients[0].behaviour",
        ),
        (
            format!("{GOOD}params = {{ comands = 3 }}\n"),
            "clients[0].params",
        ),
        (
            format!("{GOOD}params = {{ list_percent = 150 }}\n"),
            "clients[0].params.list_percent",
        ),
        (
            format!("{GOOD}params = {{ commands = [5, 2] }}\n"),
            "clients[0].params.commands",
        ),
        (
            format!("{GOOD}params = {{ host = \"server\" }}\n"),
            "clients[0].params.host",
        ),
        (
            format!("{GOOD}[server]\noutbox_lines = 1\n"),
            "server.outbox_lines",
        ),
        (
            format!("{GOOD}[server]\noutbox = 8\n"),
            "server: unknown field `outbox`",
        ),
    ];
    for (text, field) in cases {
        let error = refusal(&text);
        assert!(error.starts_with(field), "{field}: {error}");
    }
    let error = refusal(&format!("{GOOD}behaviour = \"shouter\"\n"));
    assert!(
        error.contains("talker") && error.contains("never-reads"),
        "{error}"
    );
}

#[test]
fn a_bad_chat_file_given_by_path_is_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("chat-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chat-bad.toml");
    std::fs::write(&path, format!("{GOOD}params = {{ stay_ms = 5 }}\n")).unwrap();
    let error = registry::lookup(path.to_str().unwrap())
        .err()
        .expect("refused");
    assert!(
        error.contains("clients[0].params") && error.contains("stay_ms"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_chat_file_shrinks_to_one_client_and_no_faults() {
    // chat-faults cut to 2 s of simulated time cannot finish: liveness.
    let text = crate::scenario::file::BUILTIN_FILES
        .iter()
        .find(|(stem, _)| *stem == "chat-faults")
        .map(|(_, text)| text.replace("duration_ms = 30000", "duration_ms = 2000"))
        .expect("chat-faults is built in");
    let file = ScenarioFile::parse(&text, "chat-short").unwrap();
    let shrunk = crate::scenario::shrink::shrink(&file, 1, |_| {}).expect("seed 1 fails");
    assert_eq!(shrunk.property, "liveness");
    assert!(shrunk.file.faults.is_empty(), "{:?}", shrunk.file.faults);
    assert_eq!(shrunk.file.client_names(), ["c1"]);
    assert!(!shrunk.file.run(1, &RunOptions::default()).passed());
}
