//! Scenario files: every built-in file parses and is registered, bad files
//! are refused with an error naming the field and the problem, shrinking
//! reduces a failing scenario, recorded seeds replay as they say, shards
//! split a sweep without overlap, and the determinism self-check passes.

use std::path::Path;

use crate::engine::harness::RunOptions;
use crate::report::sweep::{sweep, Shard, SweepOptions};
use crate::scenario::file::{ScenarioFile, BUILTIN_FILES};
use crate::scenario::seeds::{self, SeedEntry};

#[test]
fn every_file_under_fixtures_scenarios_is_valid_and_built_in() {
    let paths = seeds::entries(Path::new("../fixtures/scenarios")).unwrap();
    assert!(!paths.is_empty());
    for path in &paths {
        let file = ScenarioFile::load(path).unwrap_or_else(|error| panic!("{error}"));
        file.check()
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            BUILTIN_FILES.iter().any(|(name, _)| *name == stem),
            "{stem} is not in crate::scenario::file::BUILTIN_FILES, so `sim list` would miss it"
        );
        assert_eq!(file.name(), stem, "a built-in is run by its file name");
        assert!(
            stem.starts_with(file.game.prefix()),
            "built-in {stem} does not start with its game's prefix {:?}",
            file.game.prefix()
        );
    }
    assert_eq!(
        paths.len(),
        BUILTIN_FILES.len(),
        "a built-in file has no fixture"
    );
}

fn error_of(text: &str) -> String {
    match ScenarioFile::parse(text, "tombola-test").and_then(|file| file.check()) {
        Ok(()) => panic!("accepted:\n{text}"),
        Err(error) => error,
    }
}

#[test]
fn bad_scenario_files_are_refused_with_the_field_and_the_problem() {
    let base = "game = \"tombola\"\n[[clients]]\nname = \"c\"\ncount = 2\n";
    let cases = [
        (format!("{base}plyers = 3\n"), "plyers"),
        ("game = \"poker\"\n".to_owned(), "poker"),
        (format!("{base}[server]\nplayrs = 3\n"), "playrs"),
        (format!("{base}[server]\nplayers = 0\n"), "server.players"),
        (format!("{base}[server]\ndraw_prefix = [91]\n"), "server.draw_prefix"),
        (format!("{base}[net]\ntick_ms = 0\n"), "net.tick_ms"),
        (format!("{base}[net]\nlatency_min_ms = 9\nlatency_max_ms = 2\n"), "net.latency_min_ms"),
        ("game = \"tombola\"\n[[clients]]\nname = \"c\"\nbehaviour = \"sneaky\"\n".to_owned(), "clients[0].behaviour"),
        ("game = \"tombola\"\n[[clients]]\nname = \"c\"\ncount = 0\n".to_owned(), "clients[0].count"),
        ("game = \"tombola\"\n[[clients]]\nname = \"C!\"\n".to_owned(), "clients[0].name"),
        ("game = \"tombola\"\n[[clients]]\nname = \"c\"\nboard = [1, 2]\n".to_owned(), "clients[0].board"),
        ("game = \"tombola\"\n[[clients]]\nname = \"server\"\n".to_owned(), "clients[0].name"),
        (format!("{base}[[faults]]\nkind = \"crash\"\nhost = \"c9\"\nat_ms = 1\n"), "faults[0]"),
        (format!("{base}[[faults]]\nkind = \"partition\"\nbetween = [\"c1\", \"server\"]\nat_ms = 9\nheal_at_ms = 1\n"), "heal_at_ms"),
        (format!("{base}[[faults]]\nkind = \"flood\"\nat_ms = 1\n"), "flood"),
        ("game = \"tombola\"\n".to_owned(), "clients"),
    ];
    for (text, field) in cases {
        let error = error_of(&text);
        assert!(
            error.contains(field),
            "error for {field} does not name it: {error}"
        );
    }
}

#[test]
fn a_file_of_ones_own_may_have_any_name_and_its_real_error_is_reported() {
    // The README's example name, and a name of another game's prefix.
    for name in ["my-scenario", "beh", "chat-x"] {
        let text = "game = \"tombola\"\n[[clients]]\nname = \"c\"\ncount = 2\n";
        let file = ScenarioFile::parse(text, name).unwrap_or_else(|error| panic!("{error}"));
        file.check().unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(file.name(), name);
    }
    let text = "game = \"tombola\"\n[[clients]]\nname = \"c\"\nbehaviour = \"sneaky\"\n";
    let error = ScenarioFile::parse(text, "beh")
        .and_then(|file| file.check())
        .unwrap_err();
    assert!(error.contains("clients[0].behaviour"), "{error}");
    assert!(!error.contains("must start with"), "{error}");
}

#[test]
fn a_file_runs_the_same_as_its_built_in_name() {
    let from_name = crate::scenario::registry::lookup("tombola-simultaneous-claims").unwrap();
    let from_path =
        crate::scenario::registry::lookup("../fixtures/scenarios/tombola-simultaneous-claims.toml")
            .unwrap();
    let options = RunOptions::default();
    assert_eq!(
        from_name.run(4, &options).report(),
        from_path.run(4, &options).report()
    );
}

#[test]
fn shrinking_an_injected_bug_keeps_the_broken_property_and_drops_the_noise() {
    let text = r#"
name = "tombola-shrink-me"
game = "tombola"
[server]
players = 4
inject_bug = "first-claim-only"
draw_prefix = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
               16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 15]
[net]
latency_max_ms = 20
duration_ms = 15000
[[clients]]
name = "a"
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "b"
board = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
[[clients]]
name = "extra"
count = 2
[[faults]]
kind = "latency-spike"
at_ms = 100
until_ms = 200
max_ms = 40
[[faults]]
kind = "hold"
between = ["extra1", "server"]
at_ms = 50
release_at_ms = 60
"#;
    let file = ScenarioFile::parse(text, "tombola-shrink-me").unwrap();
    let before = file.run(1, &RunOptions::default());
    assert!(
        before
            .violations
            .iter()
            .any(|violation| violation.property == "winners-exact"),
        "{}",
        before.report()
    );
    let shrunk = crate::scenario::shrink::shrink(&file, 1, |_| {}).unwrap();
    assert_eq!(shrunk.property, "winners-exact");
    assert!(
        shrunk.file.faults.is_empty(),
        "faults left: {:?}",
        shrunk.file.faults
    );
    assert_eq!(
        shrunk.file.client_names(),
        vec!["a".to_owned(), "b".to_owned()],
        "only the two racing boards are needed"
    );
    assert!(!shrunk.file.net.random_host_order);
    assert_eq!(
        shrunk.file.net.latency_max_ms,
        shrunk.file.net.latency_min_ms
    );
    let after = shrunk.file.run(1, &RunOptions::default());
    assert!(after
        .violations
        .iter()
        .any(|violation| violation.property == "winners-exact"));
    assert!(!shrunk.steps.is_empty());
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let file = crate::scenario::file::builtin("tombola-two-players").unwrap();
    let error = crate::scenario::shrink::shrink(&file, 1, |_| {}).unwrap_err();
    assert!(error.contains("nothing to shrink"), "{error}");
}

#[test]
fn every_recorded_seed_replays_as_it_says() {
    let paths = seeds::entries(Path::new("../fixtures/seeds")).unwrap();
    assert!(!paths.is_empty(), "fixtures/seeds holds no recorded seed");
    for path in paths {
        let entry = SeedEntry::load(&path).unwrap_or_else(|error| panic!("{error}"));
        let first = entry
            .replay()
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let second = entry.replay().unwrap();
        assert_eq!(
            first.report(),
            second.report(),
            "{} replays differently",
            path.display()
        );
    }
}

#[test]
fn shards_split_a_sweep_without_overlap_or_gaps() {
    let scenario = crate::scenario::registry::lookup("tombola-simultaneous-claims").unwrap();
    let run = |shard: Option<Shard>| {
        let options = SweepOptions {
            start: 10,
            seeds: 7,
            jobs: 1,
            progress: false,
            check_determinism: false,
            shard,
        };
        sweep(scenario.as_ref(), &options)
    };
    let whole = run(None);
    let parts: Vec<_> = (1..=3)
        .map(|index| run(Some(Shard { index, count: 3 })))
        .collect();
    assert_eq!(
        parts.iter().map(|part| part.seeds).collect::<Vec<_>>(),
        vec![3, 2, 2]
    );
    assert_eq!(
        parts.iter().map(|part| part.games).sum::<u64>(),
        whole.games
    );
    assert!(
        "0/3".parse::<Shard>().is_err()
            && "4/3".parse::<Shard>().is_err()
            && "x".parse::<Shard>().is_err()
    );
}

#[test]
fn the_determinism_self_check_passes_on_a_fault_scenario() {
    let scenario = crate::scenario::registry::lookup("tombola-faults").unwrap();
    let options = SweepOptions {
        start: 0,
        seeds: 2,
        jobs: 1,
        progress: false,
        check_determinism: true,
        shard: None,
    };
    let summary = sweep(scenario.as_ref(), &options);
    assert!(summary.passed(), "{}", summary.render(0.0));
}

#[test]
fn a_sweep_that_never_reaches_a_required_event_fails() {
    let text = "game = \"tombola\"\nmust_reach = [\"simultaneous-claim\"]\n[[clients]]\nname = \"c\"\ncount = 2\n";
    let file = ScenarioFile::parse(text, "tombola-unreachable").unwrap();
    // Seed 0 of two random boards has a single winner, so the one-seed
    // sweep never reaches a simultaneous claim.
    let options = SweepOptions {
        start: 0,
        seeds: 1,
        jobs: 1,
        progress: false,
        check_determinism: false,
        shard: None,
    };
    let summary = sweep(&file, &options);
    assert_eq!(
        summary.winners_histogram.get(&1),
        Some(&1),
        "seed 0 has one winner"
    );
    assert!(summary.failures.is_empty());
    assert!(!summary.passed());
    assert_eq!(summary.unreached, vec!["simultaneous-claim".to_owned()]);
    assert!(summary
        .render(0.0)
        .contains("NOT REACHED simultaneous-claim"));
}

#[test]
fn a_recorded_seed_found_on_the_fast_backend_says_so_and_replays_there() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/seeds/");
    let fast = SeedEntry::load(&std::path::PathBuf::from(format!(
        "{root}tombola-swarm-937-fast.toml"
    )))
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(fast.backend, seeds::RecordedBackend::Fast);
    assert!(fast.to_text().contains("backend = \"fast\""));
    let outcome = fast.replay().unwrap_or_else(|error| panic!("{error}"));
    assert!(
        outcome
            .trace_text()
            .contains("c3       result dropped (no START within 15000 ms of silence)"),
        "the seed replays the fast run that found the gap"
    );
    // A seed without the key replays on turmoil, and is written without it.
    let turmoil = SeedEntry::load(&std::path::PathBuf::from(format!(
        "{root}tombola-swarm-947.toml"
    )))
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(turmoil.backend, seeds::RecordedBackend::Turmoil);
    assert!(!turmoil.to_text().contains("backend"));
}

#[test]
fn paths_are_quoted_for_the_shell_only_when_they_need_it() {
    use crate::engine::harness::shell_quote;
    assert_eq!(
        shell_quote("fixtures/seeds/a-b_1.toml"),
        "fixtures/seeds/a-b_1.toml"
    );
    assert_eq!(shell_quote("my scenario.toml"), "'my scenario.toml'");
    assert_eq!(shell_quote("it's.toml"), "'it'\\''s.toml'");
    assert_eq!(shell_quote("$HOME.toml"), "'$HOME.toml'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn the_replay_command_of_a_built_in_names_it() {
    assert_eq!(
        crate::engine::harness::replay_command("tombola-faults", 3),
        "cargo run --release -p sim -- run tombola-faults --seed 3"
    );
    let runnable = crate::scenario::registry::lookup("tombola-faults").unwrap();
    assert_eq!(runnable.replay_args(), "tombola-faults");
}
