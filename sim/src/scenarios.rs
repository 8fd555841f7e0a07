//! The registry of built-in scenarios, all games together: the scenario
//! files compiled in from `fixtures/scenarios/`, then the scenarios written
//! in code. `sim run` and `sim sweep` also take a path to a `.toml` file.

use std::path::Path;

use crate::file::{ScenarioFile, BUILTIN_FILES};
use crate::harness::{Runnable, Scenario};

/// The scenarios written in code, in a stable order.
pub fn all() -> Vec<Scenario> {
    let mut scenarios = crate::live::scenarios();
    scenarios.extend(crate::chat::scenarios());
    scenarios
}

/// The code scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}

/// Every built-in scenario: files first, then code, each in a stable order.
pub fn everything() -> Vec<Box<dyn Runnable>> {
    let mut runnables: Vec<Box<dyn Runnable>> = BUILTIN_FILES
        .iter()
        .map(|(stem, _)| Box::new(crate::file::builtin(stem).expect("listed")) as Box<dyn Runnable>)
        .collect();
    runnables.extend(
        all()
            .into_iter()
            .map(|scenario| Box::new(scenario) as Box<dyn Runnable>),
    );
    runnables
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
