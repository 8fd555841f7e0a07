//! A sweep split over machines, as a CI matrix runs it: each shard runs
//! `sim sweep ... --shard i/n --summary shard-i.json` as its own process,
//! and `sim merge` judges the files as one sweep. The merge passes what the
//! whole sweep passes (a rare event reached by another shard counts), and
//! refuses what does not add up: a missing shard (a gap), seeds run twice
//! (an overlap), a violation in any shard (with its replay command), and
//! shards built from other code or of other scenarios.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A two-player game whose server draws a number twice: every seed breaks
/// `draws-distinct`.
const BUGGY_SCENARIO: &str = r#"
game = "tombola"
summary = "a server that repeats a draw"
[server]
players = 2
inject_bug = "repeat-draw"
[[clients]]
name = "c"
count = 2
"#;

/// A fast scenario for the tests of how shards fit together: what it
/// reaches does not matter there, only which seeds ran.
const QUICK: [&str; 3] = ["tombola-two-players", "--backend", "fast"];

/// A fresh folder for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim merge {test} {}", std::process::id()));
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

/// Runs `sim sweep SCENARIO... --seeds SEEDS [EXTRA...] --quiet --summary
/// FILE` and returns its output.
fn sweep_with_summary(
    dir: &Path,
    scenario: &[&str],
    seeds: u64,
    extra: &[&str],
    file: &str,
) -> Output {
    let seeds = seeds.to_string();
    let mut args = vec!["sweep"];
    args.extend_from_slice(scenario);
    args.extend_from_slice(&["--seeds", &seeds, "--quiet", "--summary", file]);
    args.extend_from_slice(extra);
    sim(dir, &args)
}

fn merge(dir: &Path, files: &[&str]) -> Output {
    let mut args = vec!["merge"];
    args.extend_from_slice(files);
    sim(dir, &args)
}

/// The `reached EVENT: N of M seeds` and `NOT REACHED` lines of a sweep's
/// or a merge's output.
fn reached_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| line.starts_with("reached ") || line.starts_with("NOT REACHED "))
        .map(str::to_owned)
        .collect()
}

/// A summary file as any reader of the documented JSON sees it.
fn read_summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn shards_that_miss_a_rare_event_alone_merge_to_the_verdict_of_the_whole_sweep() {
    let dir = scratch("late joiners");
    const SEEDS: u64 = 16;
    const SHARDS: u64 = 8;
    let whole = sweep_with_summary(&dir, &["live-late-joiners"], SEEDS, &[], "whole.json");
    let whole_out = text(&whole.stdout);
    assert!(whole.status.success(), "{whole_out}");
    assert!(
        whole_out.contains("reached join-during-draw: "),
        "{whole_out}"
    );

    let mut files = Vec::new();
    let mut shards_missing_the_event = Vec::new();
    for index in 1..=SHARDS {
        let file = format!("shard-{index}.json");
        let shard = format!("{index}/{SHARDS}");
        let output = sweep_with_summary(
            &dir,
            &["live-late-joiners"],
            SEEDS,
            &["--shard", &shard],
            &file,
        );
        let stdout = text(&output.stdout);
        // A shard with a summary leaves `must_reach` to the merge.
        assert!(output.status.success(), "shard {shard}: {stdout}");
        let summary = read_summary(&dir.join(&file));
        assert_eq!(summary["scenarios"][0]["seeds_run"], SEEDS / SHARDS);
        if summary["scenarios"][0]["reached"]
            .get("join-during-draw")
            .is_none()
        {
            assert!(
                stdout.contains("not reached on this shard join-during-draw: judged at merge"),
                "{stdout}"
            );
            shards_missing_the_event.push(shard);
        }
        files.push(file);
    }
    assert!(
        !shards_missing_the_event.is_empty(),
        "every shard of {SEEDS} seeds reached join-during-draw: it is not rare any more, \
so this test shows nothing; use fewer seeds per shard"
    );

    // Without a summary, a shard that missed the event fails, and says
    // how to judge the whole sweep instead.
    let alone = sim(
        &dir,
        &[
            "sweep",
            "live-late-joiners",
            "--seeds",
            &SEEDS.to_string(),
            "--shard",
            &shards_missing_the_event[0],
            "--quiet",
        ],
    );
    let alone_out = text(&alone.stdout);
    assert_eq!(alone.status.code(), Some(1), "{alone_out}");
    assert!(
        alone_out.contains("NOT REACHED join-during-draw: no seed of shard ")
            && alone_out.contains("--summary")
            && alone_out.contains("sim merge"),
        "{alone_out}"
    );

    let file_names: Vec<&str> = files.iter().map(String::as_str).collect();
    let merged = merge(&dir, &file_names);
    let merged_out = text(&merged.stdout);
    assert!(merged.status.success(), "{merged_out}");
    assert!(merged_out.ends_with("sim merge: PASS\n"), "{merged_out}");
    assert!(
        merged_out.contains(&format!("scenario live-late-joiners seeds {SEEDS} games ")),
        "{merged_out}"
    );
    // The merge counts what the whole sweep counted, event by event.
    assert_eq!(reached_lines(&merged_out), reached_lines(&whole_out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_shard_is_reported_as_a_gap_with_its_seeds() {
    let dir = scratch("gap");
    for index in [1, 2, 4] {
        let shard = format!("{index}/4");
        let output = sweep_with_summary(
            &dir,
            &QUICK,
            8,
            &["--shard", &shard],
            &format!("shard-{index}.json"),
        );
        assert!(output.status.success(), "{}", text(&output.stdout));
    }
    let merged = merge(&dir, &["shard-1.json", "shard-2.json", "shard-4.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(out.contains("missing shards: 3/4 of seeds 0..8"), "{out}");
    assert!(
        out.contains("gap: 2 seeds (2, 6) of seeds 0..8 run by no summary"),
        "{out}"
    );
    assert!(out.ends_with("sim merge: FAIL\n"), "{out}");

    // The last shard missing is a gap too, though no seed after it ran.
    let merged = merge(&dir, &["shard-1.json", "shard-2.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(
        out.contains("missing shards: 3/4, 4/4")
            && out.contains("gap: 4 seeds (2..=3, 6..=7) of seeds 0..8"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeds_run_twice_are_reported_as_an_overlap() {
    let dir = scratch("overlap");
    for index in [1, 2] {
        let shard = format!("{index}/2");
        sweep_with_summary(
            &dir,
            &QUICK,
            6,
            &["--shard", &shard],
            &format!("shard-{index}.json"),
        );
    }
    std::fs::copy(dir.join("shard-2.json"), dir.join("shard-2-again.json")).unwrap();
    let merged = merge(
        &dir,
        &["shard-1.json", "shard-2.json", "shard-2-again.json"],
    );
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(
        out.contains("shard 2/2 given 2 times: shard-2.json, shard-2-again.json"),
        "{out}"
    );
    assert!(
        out.contains("overlap: 3 seeds (1, 3, 5) run by each of shard-2.json, shard-2-again.json"),
        "{out}"
    );
    assert!(!out.contains("gap:"), "{out}");

    // Seed ranges cut by hand (--start) that overlap.
    sweep_with_summary(&dir, &QUICK, 4, &[], "first.json");
    sweep_with_summary(&dir, &QUICK, 4, &["--start", "2"], "second.json");
    let merged = merge(&dir, &["first.json", "second.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(
        out.contains("overlap: 2 seeds (2..=3) run by each of first.json, second.json"),
        "{out}"
    );

    // Ranges that meet exactly merge to a pass.
    sweep_with_summary(&dir, &QUICK, 4, &["--start", "4"], "third.json");
    let merged = merge(&dir, &["first.json", "third.json"]);
    let out = text(&merged.stdout);
    assert!(merged.status.success(), "{out}");
    assert!(out.contains("seeds 8 games "), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_violation_in_one_shard_fails_the_merge_with_its_replay_command() {
    let dir = scratch("violation");
    std::fs::write(dir.join("buggy.toml"), BUGGY_SCENARIO).unwrap();
    let mut shard_replays = Vec::new();
    for index in [1, 2] {
        let shard = format!("{index}/2");
        let output = sweep_with_summary(
            &dir,
            &["buggy.toml"],
            4,
            &["--shard", &shard],
            &format!("shard-{index}.json"),
        );
        // A shard still fails on its own violations.
        assert_eq!(output.status.code(), Some(1));
        shard_replays.extend(
            text(&output.stdout)
                .lines()
                .filter_map(|line| line.trim().strip_prefix("replay: "))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    let merged = merge(&dir, &["shard-1.json", "shard-2.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(out.contains("failing seeds (4):"), "{out}");
    for seed in 0..4 {
        let replay = format!("cargo run --release -p sim -- run buggy.toml --seed {seed}");
        assert!(
            out.lines().any(|line| line
                .starts_with(&format!("  buggy seed {seed} broke draws-distinct"))
                && line.ends_with(&format!(": {replay}"))),
            "{out}"
        );
        assert!(shard_replays.contains(&replay), "{shard_replays:?}");
    }
    assert!(
        out.contains("FAIL buggy seed 1 (in shard-2.json)\n  broken property draws-distinct: "),
        "{out}"
    );
    assert!(out.ends_with("sim merge: FAIL\n"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_of_other_code_or_other_scenarios_are_refused() {
    let dir = scratch("other code");
    for index in [1, 2] {
        let shard = format!("{index}/2");
        sweep_with_summary(
            &dir,
            &QUICK,
            4,
            &["--shard", &shard],
            &format!("shard-{index}.json"),
        );
    }
    assert!(merge(&dir, &["shard-1.json", "shard-2.json"])
        .status
        .success());

    for (field, value) in [
        ("sources", "0123456789abcdef"),
        ("Cargo.lock", "fedcba9876543210"),
        ("commit", "0000000000000000000000000000000000000000"),
    ] {
        let mut summary = read_summary(&dir.join("shard-2.json"));
        let key = match field {
            "sources" => "sources_hash",
            "Cargo.lock" => "cargo_lock_hash",
            _ => "commit",
        };
        summary["build"][key] = Value::from(value);
        std::fs::write(dir.join("other.json"), summary.to_string()).unwrap();
        let merged = merge(&dir, &["shard-1.json", "other.json"]);
        let out = text(&merged.stdout);
        assert_eq!(merged.status.code(), Some(1), "{out}");
        assert!(
            out.contains("different code: other.json was built from other code than shard-1.json")
                && out.contains(value),
            "{field}: {out}"
        );
        // Nothing of other code is added up.
        assert!(!out.contains("scenario tombola-two-players"), "{out}");
        assert!(out.ends_with("sim merge: FAIL\n"), "{out}");
    }

    // The same path holding another scenario on another machine.
    std::fs::write(dir.join("buggy.toml"), BUGGY_SCENARIO).unwrap();
    sweep_with_summary(&dir, &["buggy.toml"], 2, &["--shard", "1/2"], "file-1.json");
    let edited = BUGGY_SCENARIO.replace("players = 2", "players = 3");
    std::fs::write(dir.join("buggy.toml"), edited).unwrap();
    sweep_with_summary(&dir, &["buggy.toml"], 2, &["--shard", "2/2"], "file-2.json");
    let merged = merge(&dir, &["file-1.json", "file-2.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(
        out.contains("different scenario files: buggy.toml in file-2.json has hash "),
        "{out}"
    );

    sweep_with_summary(
        &dir,
        &["tombola-simultaneous-claims", "--backend", "fast"],
        4,
        &["--shard", "2/2"],
        "claims.json",
    );
    let merged = merge(&dir, &["shard-1.json", "claims.json"]);
    let out = text(&merged.stdout);
    assert_eq!(merged.status.code(), Some(1), "{out}");
    assert!(
        out.contains("different scenarios: claims.json swept"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_a_summary_is_refused_with_a_reason() {
    let dir = scratch("not a summary");
    std::fs::write(dir.join("other.json"), r#"{"seeds": 4}"#).unwrap();
    std::fs::write(dir.join("broken.json"), "{").unwrap();
    for (file, reason) in [
        ("other.json", "not a sweep summary"),
        ("broken.json", "not JSON"),
        ("missing.json", "missing.json: "),
    ] {
        let merged = merge(&dir, &[file]);
        let stderr = text(&merged.stderr);
        assert_eq!(merged.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(reason), "{file}: {stderr}");
    }
    let nothing = merge(&dir, &[]);
    assert_eq!(nothing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_help_explains_summaries_and_merge() {
    let dir = scratch("help");
    let sweep = text(&sim(&dir, &["sweep", "--help"]).stdout);
    assert!(
        sweep.contains("--summary") && sweep.contains("sim merge"),
        "{sweep}"
    );
    let merge_help = text(&sim(&dir, &["merge", "--help"]).stdout);
    for words in ["gap", "overlap", "different", "replay command", "--summary"] {
        assert!(merge_help.contains(words), "{words}: {merge_help}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
