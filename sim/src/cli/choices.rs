//! The commands over a fast-backend run's choices: `sim explore`, `sim
//! hunt` and `sim shrink --backend fast`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{fail, note, out};
use crate::engine::fast::choice::Deviation;
use crate::engine::harness::replay_command;
use crate::report::explore::ExploreOptions;
use crate::report::hunt::HuntOptions;
use crate::scenario::registry;
use crate::scenario::seeds::{Expect, SeedEntry};
use crate::scenario::shrink_choices::SHRINK_CHOICE_RUNS_MAX;

/// `sim explore`: the search's report, and the first violation saved as a
/// recorded seed with its choices.
pub(super) fn explore(
    scenario: &str,
    seed: Option<u64>,
    mut options: ExploreOptions,
    save: Option<PathBuf>,
) -> ExitCode {
    let (file, seed) = match resolve(scenario, seed) {
        Ok(found) => found,
        Err(status) => return status,
    };
    options.seed = seed;
    let bound = options.bound;
    let explored = crate::report::explore::explore(&file, &options);
    out(&crate::report::explore::render(
        file.name(),
        &options,
        &explored,
    ));
    let Some((deviations, outcome)) = explored.violation else {
        return ExitCode::SUCCESS;
    };
    let why = format!(
        "sim explore {} --seed {seed} --bound {bound}: a run {} away from the default breaks",
        file.name(),
        choices(deviations.len())
    );
    let path =
        save.unwrap_or_else(|| PathBuf::from(format!("explore-{}-seed{seed}.toml", file.name())));
    report_violation(&file, seed, Some(deviations), &outcome, &why, &path)
}

/// `sim hunt`: the hunt's report beside the random sweep's, and the first
/// violation saved as a recorded seed with its choices.
pub(super) fn hunt(
    scenario: &str,
    seed: Option<u64>,
    mut options: HuntOptions,
    save: Option<PathBuf>,
) -> ExitCode {
    let (file, seed) = match resolve(scenario, seed) {
        Ok(found) => found,
        Err(status) => return status,
    };
    options.seed = seed;
    let hunted = crate::report::hunt::hunt(&file, &options);
    out(&crate::report::hunt::render(file.name(), &options, &hunted));
    let found = [
        ("hunt", hunted.hunt.violation),
        ("random", hunted.random.and_then(|random| random.violation)),
    ];
    let mut status = ExitCode::SUCCESS;
    for (search, violation) in found {
        let Some((input, outcome)) = violation else {
            continue;
        };
        let why = match &input.deviations {
            Some(deviations) => format!(
                "sim hunt {}: a run of seed {} with {} other than the default breaks",
                file.name(),
                input.seed,
                choices(deviations.len())
            ),
            None => format!(
                "sim hunt {}: the random sweep's seed {} breaks",
                file.name(),
                input.seed
            ),
        };
        let path = match &save {
            // Both searches may find one: the random sweep's gets its own
            // name beside the hunt's.
            Some(path) if search == "random" => path.with_file_name(format!(
                "{}-random.toml",
                path.file_stem().unwrap_or_default().to_string_lossy()
            )),
            Some(path) => path.clone(),
            None => PathBuf::from(format!("{search}-{}-seed{}.toml", file.name(), input.seed)),
        };
        status = report_violation(&file, input.seed, input.deviations, &outcome, &why, &path);
    }
    status
}

/// The scenario a search runs, and its seed: `--seed`, else a recorded
/// seed's own, else 0 (a recorded seed's choices are not used: a search
/// starts from the default run).
fn resolve(
    scenario: &str,
    seed: Option<u64>,
) -> Result<(crate::scenario::file::ScenarioFile, u64), ExitCode> {
    let resolved = registry::resolve(scenario).map_err(fail)?;
    let seed = seed.or(resolved.recorded_seed).unwrap_or(0);
    Ok((resolved.file, seed))
}

/// Saves a run that broke a property as a recorded seed (with its choices,
/// if any) and prints the failure report with the command that replays it.
fn report_violation(
    file: &crate::scenario::file::ScenarioFile,
    seed: u64,
    deviations: Option<Vec<Deviation>>,
    outcome: &crate::engine::harness::RunOutcome,
    why: &str,
    path: &std::path::Path,
) -> ExitCode {
    let property = outcome
        .violations
        .first()
        .map(|violation| violation.property.clone())
        .unwrap_or_default();
    let entry = SeedEntry {
        why: format!("{why} {property}"),
        seed,
        expect: Expect::Fail,
        property: Some(property),
        backend: crate::scenario::seeds::RecordedBackend::Fast,
        choices: deviations.clone(),
        scenario: file.clone(),
    };
    if let Err(error) = std::fs::write(path, entry.to_text()) {
        return fail(format!("{}: {error}", path.display()));
    }
    let replay = replay_command(&path.to_string_lossy(), seed);
    out(&crate::engine::harness::failure_report_with(
        file.name(),
        &replay,
        seed,
        outcome,
    ));
    let differ = match &deviations {
        None => "a seeded run: its choices are the seed's".to_owned(),
        Some(deviations) if deviations.is_empty() => {
            "no choice differs from the default (the default run breaks it)".to_owned()
        }
        Some(deviations) => format!(
            "{} differ from the default: {}",
            choices(deviations.len()),
            deviations
                .iter()
                .take(DEVIATIONS_SHOWN_MAX)
                .map(|(position, value)| format!("#{position} = {value}"))
                .collect::<Vec<_>>()
                .join(", ")
                + if deviations.len() > DEVIATIONS_SHOWN_MAX {
                    ", ... (`sim shrink` makes them fewer)"
                } else {
                    ""
                }
        ),
    };
    out(&format!("  {differ}\n  saved {}\n", path.display()));
    ExitCode::from(1)
}

/// Deviations a violation's report lists.
const DEVIATIONS_SHOWN_MAX: usize = 12;

/// `sim shrink --backend fast`: the run's choices shrunk, printed as a
/// recorded seed (and saved with `--save`).
pub(super) fn shrink_on_choices(
    file: crate::scenario::file::ScenarioFile,
    seed: u64,
    start: Option<Vec<crate::engine::fast::choice::Deviation>>,
    property: Option<String>,
    save: Option<PathBuf>,
) -> ExitCode {
    let shrunk = match crate::scenario::shrink_choices::shrink_choices(
        &file,
        seed,
        start,
        property.as_deref(),
        |step| note(&format!("shrink: {step}\n")),
    ) {
        Ok(shrunk) => shrunk,
        Err(message) => return fail(message),
    };
    let count = shrunk.deviations.len();
    out(&format!(
        "shrink: {} differ from the default (from {}), in {} runs{}; seed {seed} still breaks {}\n",
        choices(count),
        shrunk.from,
        shrunk.runs,
        if shrunk.cut {
            format!(" (stopped at the limit of {SHRINK_CHOICE_RUNS_MAX} runs)")
        } else {
            String::new()
        },
        shrunk.property
    ));
    out(&crate::scenario::shrink_choices::around_deviations(
        &shrunk,
        CHOICE_WINDOW_MS,
        CHOICE_LINES_MAX,
    ));
    let entry = SeedEntry {
        why: format!(
            "shrunk on choices from {} seed {seed}: {} away from the default breaks {}",
            file.name(),
            choices(count),
            shrunk.property
        ),
        seed,
        expect: Expect::Fail,
        property: Some(shrunk.property.clone()),
        backend: crate::scenario::seeds::RecordedBackend::Fast,
        choices: Some(shrunk.deviations.clone()),
        scenario: file,
    };
    match save {
        Some(path) => {
            if let Err(error) = std::fs::write(&path, entry.to_text()) {
                return fail(format!("{}: {error}", path.display()));
            }
            note(&format!(
                "shrink: saved {}\nreplay: {}\n",
                path.display(),
                replay_command(&path.to_string_lossy(), seed)
            ));
        }
        None => {
            out(&entry.to_text());
            note(&format!(
                "shrink: the recorded seed above, saved as FILE.toml, replays with: {}\n",
                replay_command("FILE.toml", seed)
            ));
        }
    }
    ExitCode::SUCCESS
}

/// "1 choice", "3 choices".
fn choices(count: usize) -> String {
    format!("{count} choice{}", if count == 1 { "" } else { "s" })
}

/// Trace shown after each choice a shrunk run keeps: this long a window...
const CHOICE_WINDOW_MS: u64 = 20;
/// ...and at most this many lines.
const CHOICE_LINES_MAX: usize = 6;
