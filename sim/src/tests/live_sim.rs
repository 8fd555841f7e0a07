//! The live scenarios under the simulation, all of them scenario files
//! (`fixtures/scenarios/live-*.toml`): every scenario passes its oracles on
//! the first seeds, a sweep reaches the races it exists for (faults and
//! swarm included), runs are deterministic, either player can win the
//! simultaneous claim depending on the seed, pinned seeds match their
//! snapshots, a bad live file is refused with an error naming the field,
//! and shrink works on a live file.

use std::collections::BTreeSet;

use crate::engine::harness::{failure_report, RunOptions, RunOutcome, Runnable};
use crate::report::sweep::{sweep_builtins, SweepOptions};
use crate::scenario::file::ScenarioFile;
use crate::scenario::registry;

fn scenario(name: &str) -> Box<dyn Runnable> {
    registry::lookup(name).unwrap_or_else(|error| panic!("{error}"))
}

fn live_scenarios() -> Vec<Box<dyn Runnable>> {
    registry::everything()
        .into_iter()
        .filter(|scenario| scenario.name().starts_with("live-"))
        .collect()
}

fn run(scenario: &dyn Runnable, seed: u64) -> RunOutcome {
    scenario.run(seed, &RunOptions::default())
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../../../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

const LIVE_SCENARIOS: [&str; 9] = [
    "live-late-joiners",
    "live-late-joiner-wins-from-history",
    "live-simultaneous-claims",
    "live-join-at-the-win",
    "live-pairing-race",
    "live-mixed-players",
    "live-faults",
    "live-swarm",
    "live-mischief",
];

#[test]
fn the_live_scenarios_are_built_in_files_listed_once() {
    let names: Vec<String> = live_scenarios()
        .iter()
        .map(|scenario| scenario.name().to_owned())
        .collect();
    assert_eq!(names, LIVE_SCENARIOS);
    for name in LIVE_SCENARIOS {
        let file = crate::scenario::file::builtin(name)
            .unwrap_or_else(|| panic!("{name} is a built-in file"));
        file.check()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}

#[test]
fn every_live_scenario_passes_its_oracles_on_the_first_seeds() {
    for scenario in live_scenarios() {
        for seed in 0..2 {
            let outcome = run(scenario.as_ref(), seed);
            assert!(
                outcome.passed(),
                "{}",
                failure_report(scenario.name(), seed, &outcome)
            );
            assert!(
                outcome.games >= 1,
                "{} seed {seed} finished no game",
                scenario.name()
            );
        }
    }
}

#[test]
fn the_same_seed_twice_gives_the_identical_trace() {
    // Whole traces, crashes included: a crash drops a host's tasks in the
    // order they were started (see `Env::spawn`), so it replays too.
    for (name, seed) in [
        ("live-late-joiners", 1),
        ("live-mixed-players", 2),
        ("live-faults", 3),
        ("live-swarm", 4),
        ("live-mischief", 5),
    ] {
        let scenario = scenario(name);
        assert_eq!(
            run(scenario.as_ref(), seed).report(),
            run(scenario.as_ref(), seed).report(),
            "{name} seed {seed} replayed differently"
        );
    }
}

#[test]
fn either_player_can_win_the_simultaneous_claim_depending_on_the_seed() {
    let scenario = scenario("live-simultaneous-claims");
    let mut winners = BTreeSet::new();
    for seed in 0..20 {
        let outcome = run(scenario.as_ref(), seed);
        assert!(
            outcome.reached.contains("simultaneous-claim"),
            "seed {seed}"
        );
        for line in &outcome.trace {
            if line.text == "recv WIN 1" {
                winners.insert(line.host.to_string());
            }
        }
    }
    let expected: BTreeSet<String> = ["c1".to_owned(), "c2".to_owned()].into();
    assert_eq!(winners, expected, "both racing players won on some seed");
}

#[test]
fn pinned_seed_of_the_simultaneous_claim_scenario_matches_its_snapshot() {
    snapshot(
        "live_simultaneous_claims_seed_1",
        run(scenario("live-simultaneous-claims").as_ref(), 1).report(),
    );
}

#[test]
fn pinned_seed_of_the_win_from_history_scenario_matches_its_snapshot() {
    snapshot(
        "live_late_joiner_wins_from_history_seed_1",
        run(scenario("live-late-joiner-wins-from-history").as_ref(), 1).report(),
    );
}

/// Under faults the trace says what happened: the crashed client came
/// back as a new player and joined the running game from its history, the
/// partitioned one gave up on its dead link, and after the server's restart
/// a restarted client played with the new server incarnation, whose game
/// numbers start again at 1.
#[test]
fn the_faults_scenario_restarts_clients_and_the_server() {
    let outcome = run(scenario("live-faults").as_ref(), 1);
    assert!(
        outcome.passed(),
        "{}",
        failure_report("live-faults", 1, &outcome)
    );
    let lines: Vec<String> = outcome
        .trace
        .iter()
        .map(|line| format!("{} {}", line.host, line.text))
        .collect();
    let position = |wanted: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(wanted))
            .unwrap_or_else(|| panic!("no line {wanted:?}"))
    };
    assert!(position("sim restart c3") < position("c3 recv# GAME 1 HISTORY 40"));
    assert!(position("sim heal c2 server") < position("c2 gave-up silent"));
    let restart = position("sim restart server");
    assert!(lines[restart..].iter().any(|line| line == "server start 1"));
    assert!(lines[restart..]
        .iter()
        .any(|line| line.starts_with("c4 result quit games 3")));
}

/// A sweep fails on any violation and on any race of a scenario's
/// `must_reach` that no seed reached. `SIM_SEEDS=500 cargo test -p sim
/// live_sim::a_seed_sweep` for a longer one.
#[test]
fn a_seed_sweep_of_every_live_scenario_finds_no_violation_and_reaches_every_race() {
    for scenario in live_scenarios() {
        assert!(
            !scenario.must_reach().is_empty(),
            "{} names its races",
            scenario.name()
        );
    }
    let failures = sweep_builtins("live-", &SweepOptions::from_env(16, 0));
    assert!(
        failures.is_empty(),
        "sweep failures (each with its replay command):\n{failures}"
    );
}

const GOOD_FILE: &str =
    "game = \"live\"\n\n[server]\npause_ms = 100\n\n[[clients]]\nname = \"c\"\ncount = 2\n";

fn refusal(text: &str) -> String {
    let file = match ScenarioFile::parse(text, "live-bad") {
        Ok(file) => file,
        Err(error) => return error,
    };
    file.check().expect_err("the file is refused")
}

#[test]
fn a_bad_live_file_is_refused_with_an_error_naming_the_field() {
    ScenarioFile::parse(GOOD_FILE, "live-good")
        .unwrap()
        .check()
        .unwrap();
    let cases = [
        (
            GOOD_FILE.replace("count = 2", "count = 2\nbehaviour = \"sneaky\""),
            "clients[0].behaviour: unknown behaviour \"sneaky\"; live knows",
        ),
        (
            GOOD_FILE.replace("pause_ms = 100", "pause_ms = 100\nplayers = 3"),
            "server: unknown field `players`",
        ),
        (
            GOOD_FILE.replace("pause_ms = 100", "interval_ms = 0"),
            "server.interval_ms",
        ),
        (
            GOOD_FILE.replace("pause_ms = 100", "draw_prefix = [1, 91]"),
            "server.draw_prefix: 91",
        ),
        (
            GOOD_FILE.replace("count = 2", "count = 2\nparams = { at_draw = 3 }"),
            "clients[0].params.at_draw",
        ),
        (
            GOOD_FILE.replace("count = 2", "count = 2\nparams = { speed = 3 }"),
            "clients[0].params: unknown parameter \"speed\"",
        ),
        (
            GOOD_FILE.replace(
                "count = 2",
                "count = 2\nbehaviour = \"quit\"\nparams = { at_draw = -1 }",
            ),
            "clients[0].params.at_draw: expected a non-negative integer",
        ),
        (
            GOOD_FILE.replace(
                "name = \"c\"\ncount = 2",
                "name = \"c1\"\nboard = [1, 2, 3]",
            ),
            "clients[0].board",
        ),
        (
            GOOD_FILE.replace("count = 2", "count = 2\nparams = { host = \"server\" }"),
            "clients[0].params.host",
        ),
        (
            GOOD_FILE.replace(
                "name = \"c\"\ncount = 2",
                "name = \"c1\"\nparams = { host = \"c2\" }\n\n[[clients]]\nname = \"c2\"",
            ),
            "clients[0].params.host: \"c2\" is the name of another client",
        ),
    ];
    for (text, expected) in cases {
        let error = refusal(&text);
        assert!(
            error.contains(expected),
            "{error:?} does not contain {expected:?}"
        );
    }
}

/// A live file with an injected failure (a run too short for its games)
/// shrinks to a smaller file that still breaks the same property.
#[test]
fn shrink_reduces_a_failing_live_file() {
    let text = "game = \"live\"\n\n[net]\nduration_ms = 3000\n\n[[clients]]\nname = \"c\"\ncount = 4\nparams = { games = 3 }\n\n\
                [[faults]]\nkind = \"hold\"\nbetween = [\"c1\", \"server\"]\nat_ms = 1000\nrelease_at_ms = 1300\n";
    let file = ScenarioFile::parse(text, "live-stuck").unwrap();
    let shrunk = crate::scenario::shrink::shrink(&file, 3, |_| {}).unwrap();
    assert_eq!(shrunk.property, "liveness");
    assert!(shrunk.file.client_names().len() < 4, "{:?}", shrunk.steps);
    assert!(shrunk.file.faults.is_empty(), "{:?}", shrunk.steps);
    assert!(!shrunk.file.run(3, &RunOptions::default()).passed());
}

#[test]
fn a_welcome_held_across_a_server_restart_is_from_the_gone_server_and_its_token_is_refused() {
    // live-swarm seed 6559 on the fast backend: c1's WELCOME p5 was held
    // in the network while the server crashed and restarted, arrived after
    // the restart, and the new server refused its token (`bad-token`). The
    // oracles took the WELCOME for one of the new server's and the refusal
    // for a client error; both are right behaviour of the servers.
    let scenario = crate::engine::fast::OnFastBackend::lookup("live-swarm")
        .unwrap_or_else(|error| panic!("{error}"));
    let outcome = scenario.run(6559, &crate::engine::harness::RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        crate::engine::harness::failure_report("live-swarm", 6559, &outcome)
    );
    let text = outcome.trace_text();
    assert!(text.contains("c1       recv ERR bad-token"), "{text}");
}

/// More players than the live server holds connections for (two each;
/// `games::live::server::CONNECTIONS_MAX` is 1,024): 540.
const LIVE_OVER_THE_CONNECTION_BOUND: &str = r#"
game = "live"
summary = "540 players, more than the server holds connections for"
[[clients]]
name = "a"
count = 180
join_spread_ms = 500
[[clients]]
name = "b"
count = 180
join_spread_ms = 500
[[clients]]
name = "c"
count = 180
join_spread_ms = 500
"#;

#[test]
fn a_live_room_over_the_servers_connection_bound_refuses_the_extra_connections_and_the_oracles_explain_it(
) {
    let file = ScenarioFile::parse(LIVE_OVER_THE_CONNECTION_BOUND, "live-over-the-bound")
        .expect("the scenario parses");
    let outcome = file.run_on(&crate::engine::fast_hosts::Fast, 1, &RunOptions::default());
    assert!(outcome.passed(), "{}", outcome.report());
    let refusal = games::conn::SERVER_FULL_REFUSAL;
    let refused = outcome
        .trace
        .iter()
        .filter(|line| line.text.ends_with(refusal) && line.text.starts_with("recv"))
        .count();
    let noted = outcome
        .trace
        .iter()
        .filter(|line| line.host == "server" && line.text.starts_with("full "))
        .count();
    assert!(refused > 0, "some connections were refused");
    assert!(refused <= noted, "{refused} refusals, {noted} noted");
    // Without the server's `full` notes, nothing explains the refusals.
    let unnoted: Vec<_> = outcome
        .trace
        .iter()
        .filter(|line| !(line.host == "server" && line.text.starts_with("full ")))
        .cloned()
        .collect();
    let judged = file.game.judge_lines(&file, 1, unnoted);
    assert!(
        judged.violations.iter().any(|violation| {
            violation.property == "line-explained" && violation.detail.contains("server-full")
        }),
        "{:?}",
        judged.violations.first()
    );
}
