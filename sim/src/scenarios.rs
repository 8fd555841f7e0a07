//! The registry of built-in scenarios, all games together: the scenario
//! files compiled in from `fixtures/scenarios/` (see
//! [`crate::file::BUILTIN_FILES`]). `sim run` and `sim sweep` also take a
//! path to a `.toml` file.

use std::path::Path;

use crate::file::{ScenarioFile, BUILTIN_FILES};
use crate::harness::Runnable;

/// Every built-in scenario, in the order of `BUILTIN_FILES`.
pub fn everything() -> Vec<Box<dyn Runnable>> {
    BUILTIN_FILES
        .iter()
        .map(|(stem, _)| Box::new(crate::file::builtin(stem).expect("listed")) as Box<dyn Runnable>)
        .collect()
}

/// A built-in scenario by name, or a scenario file by path.
pub fn lookup(name_or_path: &str) -> Result<Box<dyn Runnable>, String> {
    let path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || path.exists() {
        let file = ScenarioFile::load(path)?;
        file.check()
            .map_err(|error| format!("{}: {error}", path.display()))?;
        return Ok(Box::new(file));
    }
    everything()
        .into_iter()
        .find(|runnable| runnable.name() == name_or_path)
        .ok_or_else(|| {
            let names: Vec<String> = everything()
                .iter()
                .map(|runnable| runnable.name().to_owned())
                .collect();
            format!(
                "no scenario named {name_or_path:?} and no such file; built-in scenarios: {}",
                names.join(", ")
            )
        })
}
