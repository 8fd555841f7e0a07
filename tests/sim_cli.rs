//! The `sim` command line as a person uses it, run as a process: the replay
//! command it prints runs (through a shell) and gives the same trace, for
//! scenario files, built-ins and recorded seeds; a shrunk scenario sweeps
//! without failing for events it no longer has; recorded seeds run, shrink
//! and check; a reader that stops early ends `sim` quietly; a sweep ends
//! with a total.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The exit status `sim` ends with when its stdout is closed (128 + SIGPIPE).
const EXIT_BROKEN_PIPE: i32 = 141;

/// A two-player game whose server draws a number twice: every seed breaks
/// `draws-distinct`, and it needs a simultaneous claim it will rarely see.
const BUGGY_SCENARIO: &str = r#"
game = "tombola"
summary = "a server that repeats a draw"
must_reach = ["simultaneous-claim"]
[server]
players = 2
inject_bug = "repeat-draw"
[[clients]]
name = "c"
count = 2
"#;

/// A fresh folder for one test's files, with a space in its name so that
/// every path printed must be quoted to work in a shell.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim cli {test} {}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(common::binary("sim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The replay commands in `output`, as printed after `replay: `.
fn replay_commands(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("replay: "))
        .map(str::to_owned)
        .collect()
}

/// Runs a printed replay command through `sh`, with the `sim` binary of
/// this build standing in for `cargo run --release -p sim --`.
fn run_replay(dir: &Path, command: &str) -> Output {
    let args = command
        .strip_prefix("cargo run --release -p sim -- ")
        .unwrap_or_else(|| panic!("not a sim replay command: {command}"));
    let sim = common::binary("sim");
    Command::new("sh")
        .arg("-c")
        .arg(format!("{} {args}", single_quoted(&sim.to_string_lossy())))
        .current_dir(dir)
        .output()
        .expect("sh runs")
}

/// `text` as one shell word, whatever it holds.
fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A recorded seed file, read as any TOML reader would.
fn recorded_seed(path: &Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The trace lines of a failure report, as `sim run` prints them.
fn reported_trace(report: &str) -> Vec<String> {
    report
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("last "))
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .map(|line| line[4..].to_owned())
        .collect()
}

#[test]
fn the_replay_command_of_a_file_scenario_runs_the_same_trace_through_a_shell() {
    let dir = scratch("replay");
    std::fs::write(dir.join("my scenario.toml"), BUGGY_SCENARIO).unwrap();
    let sweep = sim(
        &dir,
        &["sweep", "my scenario.toml", "--seeds", "2", "--quiet"],
    );
    assert_eq!(sweep.status.code(), Some(1), "{}", text(&sweep.stderr));
    let stdout = text(&sweep.stdout);
    let commands = replay_commands(&stdout);
    assert!(
        commands
            .iter()
            .any(|command| command.ends_with("run 'my scenario.toml' --seed 1")),
        "{stdout}"
    );
    let direct = sim(&dir, &["run", "my scenario.toml", "--seed", "1"]);
    let direct_trace = text(&direct.stdout);
    let command = commands
        .iter()
        .find(|command| command.ends_with("--seed 1"))
        .unwrap();
    let replayed = run_replay(&dir, command);
    assert_eq!(
        replayed.status.code(),
        Some(1),
        "the replay failed to run: {}",
        text(&replayed.stderr)
    );
    assert_eq!(text(&replayed.stdout), direct_trace);
    // The sweep's report of seed 1 shows the end of that same trace.
    let report = &stdout[stdout.find("FAIL my scenario seed 1").unwrap()..];
    let tail = reported_trace(report);
    assert!(!tail.is_empty(), "{report}");
    let trace_lines: Vec<&str> = direct_trace
        .lines()
        .filter(|line| !line.starts_with("violation ") && !line.starts_with("verdict "))
        .collect();
    assert!(
        trace_lines.ends_with(&tail.iter().map(String::as_str).collect::<Vec<_>>()),
        "the report's trace is not the end of the replayed trace:\n{report}"
    );
    // `sim run` prints the same replay command on stderr.
    let from_run = replay_commands(&text(&direct.stderr));
    assert_eq!(from_run, vec![command.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_replay_command_of_a_built_in_names_it_and_keeps_the_backend() {
    let dir = scratch("builtin");
    // A built-in that passes prints no replay command (the words of one are
    // checked inside the crate), so check that the fast backend still runs
    // a built-in by name.
    let fast = sim(
        &dir,
        &[
            "sweep",
            "tombola-two-players",
            "--backend",
            "fast",
            "--seeds",
            "2",
            "--quiet",
        ],
    );
    assert!(fast.status.success(), "{}", text(&fast.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shrunk_scenario_sweeps_without_required_events_and_green_once_the_bug_is_gone() {
    let dir = scratch("shrink");
    let scenario = format!(
        "{BUGGY_SCENARIO}\n[[faults]]\nkind = \"latency-spike\"\nat_ms = 100\nuntil_ms = 200\nmax_ms = 40\n"
    );
    std::fs::write(dir.join("buggy.toml"), scenario).unwrap();
    let shrink = sim(
        &dir,
        &[
            "shrink",
            "buggy.toml",
            "--seed",
            "1",
            "--save",
            "shrunk.toml",
        ],
    );
    let stderr = text(&shrink.stderr);
    assert!(shrink.status.success(), "{stderr}");
    assert!(
        stderr.contains("outside fixtures/seeds, so `make test` does not replay it"),
        "{stderr}"
    );
    assert!(!stderr.contains("make test replay"), "{stderr}");
    let saved = recorded_seed(&dir.join("shrunk.toml"));
    assert_eq!(
        saved["scenario"]["must_reach"],
        toml::Value::Array(Vec::new())
    );
    assert_eq!(saved["property"].as_str(), Some("draws-distinct"));
    // The shrunk file breaks its property at its seed, and nothing else is
    // held against it.
    let sweep = sim(&dir, &["sweep", "shrunk.toml", "--seeds", "3", "--quiet"]);
    let stdout = text(&sweep.stdout);
    assert_eq!(sweep.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("NOT REACHED"), "{stdout}");
    assert!(stdout.contains("0 required events not reached"), "{stdout}");
    assert!(stdout.contains("seed 1 broke draws-distinct:"), "{stdout}");
    // With the planted bug taken out (the fix), the shrunk file sweeps green.
    // A recorded seed sweeps as its scenario.
    let saved_text = std::fs::read_to_string(dir.join("shrunk.toml")).unwrap();
    let fixed: String = saved_text
        .lines()
        .filter(|line| !line.starts_with("inject_bug"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(fixed, saved_text);
    std::fs::write(dir.join("fixed.toml"), fixed).unwrap();
    let sweep = sim(&dir, &["sweep", "fixed.toml", "--seeds", "5", "--quiet"]);
    let stdout = text(&sweep.stdout);
    assert!(sweep.status.success(), "{stdout}{}", text(&sweep.stderr));
    assert!(stdout.ends_with("sim sweep: PASS\n"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recorded_seed_runs_with_its_own_seed_shrinks_and_checks() {
    let dir = scratch("recorded");
    let recorded =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/seeds/tombola-repeat-draw-bug.toml");
    let recorded = recorded.to_str().unwrap();
    let entry = recorded_seed(Path::new(recorded));
    let property = entry["property"].as_str().unwrap();
    let seed = entry["seed"].as_integer().unwrap();

    let run = sim(&dir, &["run", recorded]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(&format!("seed {seed}")),
        "ran another seed than the recorded one: {stderr}"
    );
    assert!(
        text(&run.stdout).contains(&format!("violation {property}")),
        "{}",
        text(&run.stdout)
    );
    let replayed = run_replay(&dir, &replay_commands(&stderr)[0]);
    assert_eq!(text(&replayed.stdout), text(&run.stdout));

    let shrink = sim(&dir, &["shrink", recorded]);
    assert!(shrink.status.success(), "{}", text(&shrink.stderr));
    assert!(text(&shrink.stderr).contains(&format!("still breaks {property}")));

    let check = sim(&dir, &["check", recorded]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    let sweep = sim(
        &dir,
        &["sweep", recorded, "--seeds", "1", "--start", "2", "--quiet"],
    );
    assert_eq!(sweep.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_takes_built_in_names_and_reports_the_real_error_of_a_file() {
    let dir = scratch("check");
    let check = sim(&dir, &["check", "tombola-faults"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(
        text(&check.stdout),
        "tombola-faults: ok (4 clients, 3 faults)\n"
    );
    std::fs::write(
        dir.join("beh.toml"),
        "game = \"tombola\"\n[[clients]]\nname = \"c\"\nbehaviour = \"sneaky\"\n",
    )
    .unwrap();
    let check = sim(&dir, &["check", "beh.toml"]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("clients[0].behaviour"), "{stderr}");
    assert!(stderr.contains("sneaky"), "{stderr}");
    let check = sim(&dir, &["check", "no-such-scenario"]);
    assert!(text(&check.stderr).contains("built-in scenarios: tombola-two-players"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `sim` with a stdout whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(common::binary("sim"))
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("sim runs")
}

#[test]
fn a_closed_stdout_ends_sim_quietly_without_a_panic() {
    for args in [
        &["sweep", "tombola-two-players", "--seeds", "2", "--quiet"][..],
        &["run", "tombola-two-players", "--seed", "1", "--json"][..],
        &["run", "tombola-two-players", "--seed", "1"][..],
        &["list"][..],
    ] {
        let output = with_closed_stdout(args);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(EXIT_BROKEN_PIPE),
            "sim {args:?}: {stderr}"
        );
        assert!(stderr.is_empty(), "sim {args:?} said: {stderr}");
    }
}

#[test]
fn a_sweep_ends_with_a_total_and_the_failing_seeds() {
    let dir = scratch("total");
    std::fs::write(dir.join("buggy.toml"), BUGGY_SCENARIO).unwrap();
    let sweep = sim(
        &dir,
        &[
            "sweep",
            "buggy.toml",
            "--seeds",
            "5",
            "--quiet",
            "--check-determinism",
        ],
    );
    let stdout = text(&sweep.stdout);
    let tail: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("failing seeds (5):"))
        .collect();
    assert_eq!(tail.len(), 1 + 5 + 2 + 1 + 1 + 1, "{stdout}");
    for (seed, line) in tail[1..6].iter().enumerate() {
        assert!(
            line.starts_with(&format!("  buggy seed {seed} broke draws-distinct"))
                && line.ends_with(&format!("run buggy.toml --seed {seed}")),
            "{line}"
        );
    }
    assert_eq!(tail[6], "required events no seed reached (1):");
    assert_eq!(tail[7], "  buggy: simultaneous-claim");
    assert_eq!(
        tail[8],
        "determinism: 5 of 5 seeds gave identical traces in both runs"
    );
    assert!(
        tail[9].starts_with("total: 1 scenarios, 5 seeds, 10 runs, 5 games, 5 failing seeds (")
            && tail[9].contains("violations), 1 required events not reached, "),
        "{}",
        tail[9]
    );
    assert_eq!(tail[10], "sim sweep: FAIL");
    // Only the first few failures are shown in full; the rest are counted.
    let shown = stdout.matches("  last ").count();
    let more: usize = stdout
        .lines()
        .find_map(|line| line.strip_prefix("... and "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count of the failures not shown: {stdout}"));
    assert!(shown >= 1 && more >= 1, "{stdout}");
    assert_eq!(shown + more, 5, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_of_no_seeds_is_refused_with_a_reason() {
    let dir = scratch("zero");
    let sweep = sim(&dir, &["sweep", "tombola-two-players", "--seeds", "0"]);
    assert_eq!(sweep.status.code(), Some(2));
    assert!(
        text(&sweep.stderr).contains("a sweep needs at least one seed"),
        "{}",
        text(&sweep.stderr)
    );
    let empty_shard = sim(
        &dir,
        &[
            "sweep",
            "tombola-two-players",
            "--seeds",
            "2",
            "--shard",
            "3/4",
        ],
    );
    assert_eq!(empty_shard.status.code(), Some(2));
    assert!(
        text(&empty_shard.stderr).contains("holds no seed"),
        "{}",
        text(&empty_shard.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_subcommand_explains_its_flags_in_help() {
    let dir = scratch("help");
    for (subcommand, flags) in [
        ("run", &["--seed", "--svg", "--json", "--backend"][..]),
        (
            "sweep",
            &[
                "--seeds",
                "--start",
                "--jobs",
                "--shard",
                "--check-determinism",
                "--quiet",
                "--backend",
            ][..],
        ),
        ("shrink", &["--seed", "--property", "--save"][..]),
        ("check", &[][..]),
        ("seeds", &[][..]),
        (
            "bench",
            &[
                "--seeds",
                "--turmoil-seeds",
                "--jobs",
                "--scenario",
                "--backend",
            ][..],
        ),
    ] {
        // `-h` puts each flag's explanation on its line, after two spaces.
        let help = sim(&dir, &[subcommand, "-h"]);
        let help = text(&help.stdout);
        for flag in flags {
            let line = help
                .lines()
                .find(|line| line.trim_start().starts_with(flag))
                .unwrap_or_else(|| panic!("sim {subcommand} -h has no {flag}:\n{help}"));
            let explanation = line
                .trim()
                .split_once("  ")
                .map_or("", |(_, explanation)| explanation.trim());
            assert!(
                !explanation.is_empty(),
                "sim {subcommand} -h: {flag} is not explained:\n{help}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_saves_its_violation_as_a_recorded_seed_whose_replay_command_breaks_the_same_property() {
    let dir = scratch("explore");
    std::fs::write(dir.join("my scenario.toml"), BUGGY_SCENARIO).unwrap();
    let explored = sim(
        &dir,
        &["explore", "my scenario.toml", "--bound", "1", "--quiet"],
    );
    let report = text(&explored.stdout);
    assert_eq!(explored.status.code(), Some(1), "{report}");
    assert!(
        report.contains("stopped at the first violation"),
        "{report}"
    );
    assert!(
        report.contains("broken property draws-distinct"),
        "{report}"
    );
    let saved = dir.join("explore-my scenario-seed0.toml");
    let entry = recorded_seed(&saved);
    assert_eq!(entry["backend"].as_str(), Some("fast"));
    assert_eq!(entry["property"].as_str(), Some("draws-distinct"));
    assert!(entry["choices"].is_array(), "{entry}");
    let replays = replay_commands(&report);
    assert_eq!(replays.len(), 1, "{report}");
    let replayed = run_replay(&dir, &replays[0]);
    assert_eq!(
        replayed.status.code(),
        Some(1),
        "{}",
        text(&replayed.stderr)
    );
    // The explore report shows the end of the very trace the replay prints
    // (the search stopped the run soon after its first broken line, and
    // says at how many lines; the replay runs it whole).
    let tail = reported_trace(&report);
    assert!(!tail.is_empty(), "{report}");
    let replayed_trace = text(&replayed.stdout);
    let trace_lines: Vec<&str> = replayed_trace
        .lines()
        .filter(|line| {
            !line.starts_with("violation ")
                && !line.starts_with("verdict ")
                && !line.starts_with("reached ")
        })
        .collect();
    let stopped_at: usize = report
        .split("the run was stopped at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|lines| lines.parse().ok())
        .unwrap_or(trace_lines.len());
    assert!(
        stopped_at <= trace_lines.len()
            && trace_lines[..stopped_at]
                .ends_with(&tail.iter().map(String::as_str).collect::<Vec<_>>()),
        "the saved choices do not replay the reported run:\n{report}"
    );
    // Choices do not replay on turmoil: asking for it is an error.
    let refused = sim(
        &dir,
        &[
            "run",
            "explore-my scenario-seed0.toml",
            "--backend",
            "turmoil",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("fast backend only"));
}

#[test]
fn explore_cut_by_its_time_budget_says_so_and_prunes_from_bound_two() {
    let dir = scratch("explore-budget");
    let explored = sim(
        &dir,
        &[
            "explore",
            "tombola-two-players",
            "--bound",
            "3",
            "--budget",
            "1s",
            "--quiet",
        ],
    );
    let report = text(&explored.stdout);
    assert_eq!(explored.status.code(), Some(0), "{report}");
    assert!(
        report.contains("NOT exhausted: stopped at --budget 1s"),
        "{report}"
    );
    assert!(report.contains("states: "), "{report}");
    let refused = sim(&dir, &["explore", "tombola-two-players", "--budget", "0s"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("a budget of zero runs nothing"));
}

#[test]
fn explore_of_a_healthy_scenario_says_the_space_within_the_bound_was_exhausted() {
    let dir = scratch("explore-healthy");
    let explored = sim(
        &dir,
        &[
            "explore",
            "chat-small-room",
            "--bound",
            "1",
            "--quiet",
            "--jobs",
            "1",
        ],
    );
    let report = text(&explored.stdout);
    assert_eq!(explored.status.code(), Some(0), "{report}");
    assert!(
        report.contains("space within the bound EXHAUSTED"),
        "{report}"
    );
    // Bound 1 runs the default run and, for each choice it made, each other
    // option once: 1 + the sum over kinds of (options - choices).
    let header = report.lines().next().expect("a header line");
    let kinds = header.split_once("choices: ").expect("choices listed").1;
    let mut expected = 1u64;
    for kind in kinds.split(", ") {
        let count: u64 = kind.split(' ').next().unwrap().parse().unwrap();
        let options: u64 = kind
            .split('(')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap();
        expected += options - count;
    }
    assert!(expected > 100, "{header}");
    assert!(report.contains(&format!("runs {expected} ")), "{report}");
}

#[test]
fn hunt_saves_its_violation_as_a_recorded_seed_whose_replay_command_breaks_the_same_property() {
    let dir = scratch("hunt");
    std::fs::write(dir.join("my scenario.toml"), BUGGY_SCENARIO).unwrap();
    let hunted = sim(
        &dir,
        &[
            "hunt",
            "my scenario.toml",
            "--budget",
            "60s",
            "--max-runs",
            "200",
            "--quiet",
        ],
    );
    let report = text(&hunted.stdout);
    assert_eq!(hunted.status.code(), Some(1), "{report}");
    assert!(
        report.contains("broken property draws-distinct"),
        "{report}"
    );
    // Both the hunt and the random sweep find the planted bug; each saves
    // its run and prints a replay command that breaks the same property.
    let replays = replay_commands(&report);
    assert_eq!(replays.len(), 2, "{report}");
    for replay in &replays {
        let replayed = run_replay(&dir, replay);
        assert_eq!(
            replayed.status.code(),
            Some(1),
            "{replay}: {}",
            text(&replayed.stderr)
        );
        assert!(
            text(&replayed.stdout).contains("draws-distinct"),
            "{replay}"
        );
    }
    let saved = dir.join("hunt-my scenario-seed0.toml");
    let entry = recorded_seed(&saved);
    assert_eq!(entry["backend"].as_str(), Some("fast"));
    assert!(entry["choices"].is_array(), "{entry}");
}

#[test]
fn hunt_of_a_healthy_scenario_prints_coverage_beside_random_seeds_and_refuses_a_bad_budget() {
    let dir = scratch("hunt-healthy");
    let hunted = sim(
        &dir,
        &[
            "hunt",
            "tombola-two-players",
            "--budget",
            "2m",
            "--max-runs",
            "100",
            "--quiet",
        ],
    );
    let report = text(&hunted.stdout);
    assert_eq!(hunted.status.code(), Some(0), "{report}");
    assert!(report.contains("hunt: 100 runs"), "{report}");
    assert!(report.contains("random: 100 runs"), "{report}");
    assert!(
        report.contains("hunt runs  features | random runs  features"),
        "{report}"
    );
    let refused = sim(&dir, &["hunt", "tombola-two-players", "--budget", "soon"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("is not a duration"));
}
