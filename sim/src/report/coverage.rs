//! What a run covered, as a set of features a search can count: the
//! measure `sim hunt` steers by and compares with random seeds.
//!
//! A feature is a fact about the trace that does not depend on who the
//! players were, so runs that differ only in names or numbers count the
//! same:
//! - each rare event the oracles report;
//! - each **transition** of one host, from one kind of line to the next
//!   (`server: board -> start`, `client: recv DRAW -> send TOMBOLA`): the
//!   steps the state machines took, as seen in their notes;
//! - each **interleaving at one moment**: two lines of two hosts noted in
//!   the same simulated ms, in that order (`server: claim` then `client:
//!   recv WELCOME`): where races live;
//! - for each kind of line, how many there were, in buckets (1, 2, 3, 4-7,
//!   8-15, ...), as fuzzers count loop iterations.
//!
//! A line's kind is its first word, and for `send` and `recv` lines the
//! command word after it (`recv DRAW`; a chat message is `msg`). A host is
//! `server`, `sim` (the harness) or `client`. Features are hashed with
//! fixed keys, so the same run gives the same features on every machine.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::engine::trace::TraceLine;

/// One feature, hashed.
pub type Feature = u64;

/// The role of a host in a trace: clients are interchangeable.
fn role(host: &str) -> &str {
    match host {
        "server" | "sim" => host,
        _ => "client",
    }
}

/// A line's kind: its first word, with the command word of a `send` or
/// `recv`.
fn kind(text: &str) -> (&str, &str) {
    let mut words = text.split(' ');
    let first = words.next().unwrap_or("");
    if first == "send" || first.starts_with("recv") {
        let command = words.next().unwrap_or("");
        let is_command = !command.is_empty()
            && command
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte == b'-');
        return (first, if is_command { command } else { "msg" });
    }
    (first, "")
}

fn hashed(parts: impl Hash) -> Feature {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// The bucket of a count, as coverage-guided fuzzers count hits.
fn bucket(count: u64) -> u8 {
    match count {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4..=7 => 4,
        8..=15 => 5,
        16..=31 => 6,
        32..=127 => 7,
        _ => 8,
    }
}

/// The features of one run.
#[cfg(test)]
pub fn features(trace: &[TraceLine], reached: &BTreeSet<String>) -> BTreeSet<Feature> {
    let mut features = BTreeSet::new();
    walk(trace, reached, |feature, _| {
        features.insert(feature);
    });
    features
}

/// Calls `emit` with each feature of the run and a way to describe it.
fn walk(
    trace: &[TraceLine],
    reached: &BTreeSet<String>,
    mut emit: impl FnMut(Feature, &dyn Fn() -> String),
) {
    for event in reached {
        emit(hashed(("event", event)), &|| format!("event {event}"));
    }
    let mut last_kind: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let mut counts: BTreeMap<(&str, (&str, &str)), u64> = BTreeMap::new();
    let mut previous: Option<(&TraceLine, (&str, &str))> = None;
    for line in trace {
        let this = kind(&line.text);
        let who = role(&line.host);
        let before = last_kind.insert(line.host.as_str(), this);
        emit(hashed(("step", who, before, this)), &|| {
            format!("step {who}: {before:?} -> {this:?}")
        });
        *counts.entry((who, this)).or_default() += 1;
        if let Some((earlier, earlier_kind)) = previous {
            if earlier.time_ms == line.time_ms && earlier.host != line.host {
                let earlier_role = role(&earlier.host);
                emit(
                    hashed(("moment", earlier_role, earlier_kind, who, this)),
                    &|| format!("moment {earlier_role} {earlier_kind:?} then {who} {this:?}"),
                );
            }
        }
        previous = Some((line, this));
    }
    for (key, count) in counts {
        let bucket = bucket(count);
        emit(hashed(("count", key, bucket)), &|| {
            format!("count {key:?} bucket {bucket}")
        });
    }
}

/// Features seen so far, with how many runs had each and what each is.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    hits: BTreeMap<Feature, u64>,
    names: BTreeMap<Feature, String>,
}

impl Coverage {
    /// Counts one run's features; returns them and how many were new.
    pub fn add_run(
        &mut self,
        trace: &[TraceLine],
        reached: &BTreeSet<String>,
    ) -> (BTreeSet<Feature>, usize) {
        let mut features = BTreeSet::new();
        let (hits, names) = (&self.hits, &mut self.names);
        walk(trace, reached, |feature, describe| {
            if features.insert(feature) && !hits.contains_key(&feature) {
                names.entry(feature).or_insert_with(describe);
            }
        });
        let new = self.add(&features);
        (features, new)
    }

    /// Counts one run's features; returns how many were new.
    pub fn add(&mut self, features: &BTreeSet<Feature>) -> usize {
        let mut new = 0;
        for &feature in features {
            let hits = self.hits.entry(feature).or_default();
            if *hits == 0 {
                new += 1;
            }
            *hits += 1;
        }
        new
    }

    /// Distinct features seen.
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// How rare a run's features are: the sum of 1 / hits over them, so a
    /// run with features few runs had weighs most.
    pub fn rarity(&self, features: &BTreeSet<Feature>) -> f64 {
        features
            .iter()
            .map(|feature| 1.0 / self.hits.get(feature).copied().unwrap_or(1).max(1) as f64)
            .sum()
    }

    /// What this coverage has that `other` has not, described, with the
    /// runs that had each.
    pub fn beyond(&self, other: &Coverage) -> Vec<(String, u64)> {
        let mut beyond: Vec<(String, u64)> = self
            .hits
            .iter()
            .filter(|(feature, _)| !other.hits.contains_key(feature))
            .map(|(feature, hits)| {
                let name = self
                    .names
                    .get(feature)
                    .cloned()
                    .unwrap_or_else(|| format!("feature {feature:016x}"));
                (name, *hits)
            })
            .collect();
        beyond.sort();
        beyond
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time_ms: u64, host: &str, text: &str) -> TraceLine {
        TraceLine {
            time_ms,
            host: host.into(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn runs_that_differ_only_in_names_and_numbers_cover_the_same() {
        let one = vec![
            line(1, "server", "board p1 1 2 3"),
            line(3, "c1", "recv DRAW 1 7"),
            line(3, "server", "claim p1 1 win"),
        ];
        let two = vec![
            line(5, "server", "board p2 4 5 6"),
            line(9, "c7", "recv DRAW 3 88"),
            line(9, "server", "claim p2 4 win"),
        ];
        assert_eq!(
            features(&one, &BTreeSet::new()),
            features(&two, &BTreeSet::new())
        );
    }

    #[test]
    fn the_same_lines_at_one_moment_are_a_feature_apart_ones_are_not() {
        let together = vec![
            line(3, "c1", "recv DRAW 1 7"),
            line(3, "server", "claim p1 1 win"),
        ];
        let apart = vec![
            line(3, "c1", "recv DRAW 1 7"),
            line(4, "server", "claim p1 1 win"),
        ];
        let together = features(&together, &BTreeSet::new());
        let apart = features(&apart, &BTreeSet::new());
        assert!(apart.is_subset(&together));
        assert_eq!(together.len(), apart.len() + 1);
    }

    #[test]
    fn counts_fall_in_buckets_and_rare_events_are_features() {
        let three: Vec<TraceLine> = (0..3).map(|ms| line(ms, "server", "draw 1")).collect();
        let five: Vec<TraceLine> = (0..5).map(|ms| line(ms, "server", "draw 1")).collect();
        let six: Vec<TraceLine> = (0..6).map(|ms| line(ms, "server", "draw 1")).collect();
        assert_ne!(
            features(&three, &BTreeSet::new()),
            features(&five, &BTreeSet::new())
        );
        assert_eq!(
            features(&five, &BTreeSet::new()),
            features(&six, &BTreeSet::new())
        );
        let event: BTreeSet<String> = ["simultaneous-claim".to_owned()].into();
        let mut coverage = Coverage::default();
        let (covered, new) = coverage.add_run(&five, &BTreeSet::new());
        assert_eq!(new, covered.len());
        assert_eq!(coverage.add_run(&six, &event).1, 1);
        assert_eq!(coverage.add_run(&six, &event).1, 0);
        let mut fewer = Coverage::default();
        fewer.add_run(&five, &BTreeSet::new());
        assert_eq!(
            coverage.beyond(&fewer),
            vec![("event simultaneous-claim".to_owned(), 2)]
        );
    }
}
