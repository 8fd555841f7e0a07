//! One model per game: what its scenario section says, which sessions a run
//! starts and on which hosts, and the oracles that judge its trace. The game
//! logic itself lives in the `games` crate: the same code the real binaries
//! run.
//!
//! - [`tombola`]: lock-step tombola.
//! - [`live`]: live tombola (two ports, late joiners, first claim wins).
//! - [`chat`]: the chat room.
//!
//! The registry at the end of this file is the one place that lists them.

use crate::engine::backend::Backend;
use crate::engine::harness::{RunOptions, RunOutcome};
use crate::scenario::file::ScenarioFile;

/// Declares the games: one line per game, `Variant => module`. The module
/// is the game's model folder; it provides `scenario_spec(file, seed)` (a
/// spec that implements `Model`) and `check_file(file)`. The variant,
/// lowercased, must be the module's name: it is the game's word in a
/// scenario file (`game = "chat"`) and, with a dash, the prefix of its
/// built-in scenario names (`chat-`).
macro_rules! registry {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Which game a scenario plays.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum GameKind {
            $($variant),+
        }

        impl GameKind {
            /// The prefix every built-in scenario name of this game starts
            /// with (a test holds them to it, so `sim list` groups by game).
            /// Files of one's own may be named anything: the name only
            /// labels reports, and a rule on it would hide the errors that
            /// matter.
            #[cfg(test)]
            pub fn prefix(self) -> &'static str {
                match self {
                    $(GameKind::$variant => concat!(stringify!($module), "-")),+
                }
            }

            /// Runs one seed of `file` (a scenario of this game) on
            /// `backend`; an error if the file's game part is invalid.
            pub(crate) fn run_on<B: Backend>(
                self,
                file: &ScenarioFile,
                backend: &B,
                seed: u64,
                options: &RunOptions,
            ) -> Result<RunOutcome, String> {
                match self {
                    $(GameKind::$variant => $module::scenario_spec(file, seed)
                        .map(|spec| crate::engine::backend::run(&spec, backend, seed, options))),+
                }
            }

            /// Judges `lines` (a run's trace, or a prefix of one) with the
            /// oracles of `file`'s game, as a run of `seed` would be.
            #[cfg(test)]
            pub(crate) fn judge_lines(
                self,
                file: &ScenarioFile,
                seed: u64,
                lines: Vec<crate::engine::trace::TraceLine>,
            ) -> RunOutcome {
                use crate::engine::backend::Model;
                match self {
                    $(GameKind::$variant => $module::scenario_spec(file, seed)
                        .expect("a valid scenario")
                        .judge_lines(lines, Vec::new())),+
                }
            }

            /// The safety properties `lines` (a prefix of a run of `seed`
            /// of `file`) break, in the oracles' order.
            #[cfg(test)]
            pub(crate) fn safety_broken(
                self,
                file: &ScenarioFile,
                seed: u64,
                lines: Vec<crate::engine::trace::TraceLine>,
            ) -> Vec<String> {
                match self {
                    $(GameKind::$variant => {
                        let spec = $module::scenario_spec(file, seed).expect("a valid scenario");
                        crate::engine::backend::Model::judge_lines(&spec, lines, Vec::new())
                            .violations
                            .into_iter()
                            .filter(|violation| {
                                crate::engine::first_break::is_safety(&spec, &violation.property)
                            })
                            .map(|violation| violation.property)
                            .collect()
                    }),+
                }
            }

            /// Checks the game-specific parts of `file` without running it.
            pub(crate) fn check(self, file: &ScenarioFile) -> Result<(), String> {
                match self {
                    $(GameKind::$variant => $module::check_file(file)),+
                }
            }
        }
    };
}

registry! {
    Tombola => tombola,
    Live => live,
    Chat => chat,
}
