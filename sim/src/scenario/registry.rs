//! The registry of built-in scenarios, all games together: the scenario
//! files compiled in from `fixtures/scenarios/` (see
//! [`crate::scenario::file::BUILTIN_FILES`]). The command line also takes a path to a
//! scenario file or to a recorded seed (`fixtures/seeds/*.toml`, whose
//! scenario is used); [`resolve`] turns what a person typed into a file.

use std::path::Path;

use crate::engine::harness::{shell_quote, ReplayAs, Runnable};
use crate::scenario::file::{ScenarioFile, BUILTIN_FILES};
use crate::scenario::seeds::{RecordedBackend, SeedEntry};

/// Every built-in scenario, in the order of `BUILTIN_FILES`.
pub fn everything() -> Vec<Box<dyn Runnable>> {
    BUILTIN_FILES
        .iter()
        .map(|(stem, _)| {
            Box::new(crate::scenario::file::builtin(stem).expect("listed")) as Box<dyn Runnable>
        })
        .collect()
}

/// A scenario as typed on the command line, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub file: ScenarioFile,
    /// The seed of a recorded-seed file (what `sim run FILE` runs when no
    /// `--seed` is given).
    pub recorded_seed: Option<u64>,
    /// The property a recorded seed expects to break.
    pub recorded_property: Option<String>,
    /// The backend a recorded seed replays on (turmoil unless it says).
    pub recorded_backend: Option<RecordedBackend>,
    /// The choices a recorded seed's fast run is driven by, if any.
    pub recorded_choices: Option<Vec<crate::engine::fast::choice::Deviation>>,
    /// Shell-quoted words that reach this scenario again after `sim run`:
    /// the path as typed for files, the name for built-ins.
    pub replay_args: String,
}

impl Resolved {
    /// The scenario on turmoil, replayed by the words it was typed with.
    pub fn runnable(self) -> Box<dyn Runnable> {
        Box::new(ReplayAs {
            scenario: Box::new(self.file),
            replay_args: self.replay_args,
        })
    }
}

/// Whether `name_or_path` names a file rather than a built-in scenario.
pub fn is_path(name_or_path: &str) -> bool {
    name_or_path.ends_with(".toml") || Path::new(name_or_path).exists()
}

/// A built-in scenario by name, a scenario file by path, or the scenario
/// of a recorded-seed file by path (a file with `seed` and a `[scenario]`
/// table). Files are checked (server table, behaviours) as well as parsed.
pub fn resolve(name_or_path: &str) -> Result<Resolved, String> {
    if !is_path(name_or_path) {
        let file = crate::scenario::file::builtin(name_or_path).ok_or_else(|| {
            let names: Vec<&str> = BUILTIN_FILES.iter().map(|(stem, _)| *stem).collect();
            format!(
                "no scenario named {name_or_path:?} and no such file; built-in scenarios: {}",
                names.join(", ")
            )
        })?;
        return Ok(Resolved {
            file,
            recorded_seed: None,
            recorded_property: None,
            recorded_backend: None,
            recorded_choices: None,
            replay_args: shell_quote(name_or_path),
        });
    }
    let path = Path::new(name_or_path);
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let (file, recorded_seed, recorded_property, recorded_backend, recorded_choices) =
        if is_recorded_seed(&text) {
            let entry = SeedEntry::load(path)?;
            (
                entry.scenario,
                Some(entry.seed),
                entry.property,
                Some(entry.backend),
                entry.choices,
            )
        } else {
            (ScenarioFile::load(path)?, None, None, None, None)
        };
    file.check()
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(Resolved {
        file,
        recorded_seed,
        recorded_property,
        recorded_backend,
        recorded_choices,
        replay_args: shell_quote(name_or_path),
    })
}

/// A recorded seed holds its scenario in a `[scenario]` table next to
/// `seed`; a scenario file has neither key at the top.
fn is_recorded_seed(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|table| {
        table.get("scenario").is_some_and(toml::Value::is_table) && table.contains_key("seed")
    })
}

/// A built-in scenario by name, a scenario file by path or the scenario of
/// a recorded seed by path, on turmoil.
#[cfg(test)]
pub fn lookup(name_or_path: &str) -> Result<Box<dyn Runnable>, String> {
    resolve(name_or_path).map(Resolved::runnable)
}
