//! Recorded seeds: failures worth keeping, as files under `fixtures/seeds/`
//! that `make test` replays. Each holds a whole scenario, the seed, and
//! what must happen: `pass` for a bug that was fixed and must stay fixed,
//! `fail` with the property for a run the oracles must keep catching (an
//! injected bug, say). `sim shrink --save` writes them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::harness::{RunOptions, RunOutcome};
use crate::scenario::file::ScenarioFile;

/// What a recorded seed must do when replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Pass,
    Fail,
}

impl Expect {
    /// The word a file says: `pass` or `fail`.
    pub fn word(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
        }
    }
}

/// The backend a recorded seed replays on: the one it was found on, since
/// a seed's timing (and so its run) is each backend's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordedBackend {
    #[default]
    Turmoil,
    Fast,
}

impl RecordedBackend {
    /// The word a file and `--backend` say: `turmoil` or `fast`.
    pub fn word(self) -> &'static str {
        match self {
            RecordedBackend::Turmoil => "turmoil",
            RecordedBackend::Fast => "fast",
        }
    }

    fn is_turmoil(&self) -> bool {
        *self == RecordedBackend::Turmoil
    }
}

/// One recorded seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedEntry {
    /// Why this seed is kept.
    #[serde(default)]
    pub why: String,
    pub seed: u64,
    pub expect: Expect,
    /// With `expect = "fail"`: the property that must break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Where it replays; `turmoil` unless the file says `backend = "fast"`.
    #[serde(default, skip_serializing_if = "RecordedBackend::is_turmoil")]
    pub backend: RecordedBackend,
    /// On the fast backend: a run driven by choices instead of the seed's
    /// (what `sim explore` finds): every choice is the default except these
    /// `[position, value]` pairs (`choices = []`: all the defaults). Absent
    /// for a seeded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<crate::engine::fast::choice::Deviation>>,
    pub scenario: ScenarioFile,
}

impl SeedEntry {
    pub fn load(path: &Path) -> Result<SeedEntry, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let mut entry: SeedEntry =
            toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        if entry.scenario.name.is_none() {
            entry.scenario.name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .map(str::to_owned);
        }
        let reparsed = toml::to_string(&entry.scenario).map_err(|error| error.to_string())?;
        entry.scenario = ScenarioFile::parse(&reparsed, entry.scenario.name())
            .map_err(|error| format!("{}: scenario: {error}", path.display()))?;
        let choices = entry.choices.as_deref().unwrap_or_default();
        if entry.choices.is_some() && entry.backend != RecordedBackend::Fast {
            return Err(format!(
                "{}: choices replay on the fast backend only: add backend = \"fast\"",
                path.display()
            ));
        }
        if !choices.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Err(format!(
                "{}: choices must be [position, value] pairs in increasing position",
                path.display()
            ));
        }
        if entry.expect == Expect::Fail && entry.property.is_none() {
            return Err(format!(
                "{}: expect = \"fail\" needs the property that must break",
                path.display()
            ));
        }
        Ok(entry)
    }

    /// The file text `sim shrink --save` writes.
    pub fn to_text(&self) -> String {
        toml::to_string(self).expect("a seed entry serializes")
    }

    /// Runs the seed with `options`, whatever it breaks.
    pub fn run_with(&self, options: &RunOptions) -> RunOutcome {
        match self.backend {
            RecordedBackend::Turmoil => self.scenario.run(self.seed, options),
            RecordedBackend::Fast => crate::engine::harness::Runnable::run(
                &crate::engine::fast_hosts::OnFastBackend::driven(
                    self.scenario.clone(),
                    self.choices.clone(),
                ),
                self.seed,
                options,
            ),
        }
    }

    /// Replays the seed; `Err` says how it did not do what was expected.
    pub fn replay(&self) -> Result<RunOutcome, String> {
        let outcome = self.run_with(&RunOptions::default());
        let broken: Vec<&str> = outcome
            .violations
            .iter()
            .map(|violation| violation.property.as_str())
            .collect();
        match (self.expect, &self.property) {
            (Expect::Pass, _) if broken.is_empty() => Ok(outcome),
            (Expect::Pass, _) => Err(format!("expected a pass, broke {}", broken.join(", "))),
            (Expect::Fail, Some(property)) if broken.contains(&property.as_str()) => Ok(outcome),
            (Expect::Fail, property) => Err(format!(
                "expected {} to break, broke [{}]",
                property.as_deref().unwrap_or("?"),
                broken.join(", ")
            )),
        }
    }
}

/// The `.toml` files in `dir`, sorted.
pub fn entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|error| format!("{}: {error}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    paths.sort();
    Ok(paths)
}
