//! The commands over a fast-backend run's choices: `sim explore` and
//! `sim shrink --backend fast`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{fail, note, out};
use crate::engine::harness::replay_command;
use crate::report::explore::ExploreOptions;
use crate::scenario::registry;
use crate::scenario::seeds::{Expect, SeedEntry};
use crate::scenario::shrink_choices::SHRINK_CHOICE_RUNS_MAX;

/// `sim explore`: the search's report, and the first violation saved as a
/// recorded seed with its choices.
pub(super) fn explore(scenario: &str, options: ExploreOptions, save: Option<PathBuf>) -> ExitCode {
    let (seed, bound) = (options.seed, options.bound);
    let resolved = match registry::resolve(scenario) {
        Ok(resolved) => resolved,
        Err(message) => return fail(message),
    };
    let file = resolved.file;
    let explored = crate::report::explore::explore(&file, &options);
    out(&crate::report::explore::render(
        file.name(),
        &options,
        &explored,
    ));
    let Some((deviations, outcome)) = explored.violation else {
        return ExitCode::SUCCESS;
    };
    let property = outcome
        .violations
        .first()
        .map(|violation| violation.property.clone())
        .unwrap_or_default();
    let path =
        save.unwrap_or_else(|| PathBuf::from(format!("explore-{}-seed{seed}.toml", file.name())));
    let entry = SeedEntry {
        why: format!(
            "sim explore {} --seed {seed} --bound {bound}: a run {} away from the default breaks {property}",
            file.name(),
            choices(deviations.len())
        ),
        seed,
        expect: Expect::Fail,
        property: Some(property),
        backend: crate::scenario::seeds::RecordedBackend::Fast,
        choices: Some(deviations.clone()),
        scenario: file.clone(),
    };
    if let Err(error) = std::fs::write(&path, entry.to_text()) {
        return fail(format!("{}: {error}", path.display()));
    }
    let replay = replay_command(&path.to_string_lossy(), seed);
    out(&crate::engine::harness::failure_report_with(
        file.name(),
        &replay,
        seed,
        &outcome,
    ));
    let differ = if deviations.is_empty() {
        "no choice differs from the default (the default run breaks it)".to_owned()
    } else {
        format!(
            "{} differ from the default: {}",
            choices(deviations.len()),
            deviations
                .iter()
                .map(|(position, value)| format!("#{position} = {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out(&format!("  {differ}\n  saved {}\n", path.display()));
    ExitCode::from(1)
}

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
