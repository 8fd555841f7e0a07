//! The registry of built-in scenarios, all games together.

use crate::harness::Scenario;

/// Every built-in scenario, in a stable order.
pub fn all() -> Vec<Scenario> {
    let mut scenarios = crate::tombola::scenarios();
    scenarios.extend(crate::live::scenarios());
    scenarios.extend(crate::chat::scenarios());
    scenarios
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}
