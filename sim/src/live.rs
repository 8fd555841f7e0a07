//! Live tombola scenarios (being built).

use crate::harness::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
