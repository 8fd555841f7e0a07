//! The server's open connections by id: what its game task looks up for
//! every line it delivers (a 1,000-player room's registrations deliver half
//! a million `WAITING` lines, each a lookup).
//!
//! Ids come from a counter and are never reused, so the connections are
//! kept in a vector in id order: a new connection is appended, a lookup
//! first tries the place the id would have if no slot had been dropped
//! (right until the first compaction), then searches by halves below it.
//! A closed connection leaves an empty slot, so that closing is not a
//! shift of every later entry (20,000 connections closing one by one would
//! move gigabytes); the slots are dropped together once they outnumber the
//! open connections, which keeps closing O(1) amortized. Iteration is in
//! id order, as the `BTreeMap` it replaced gave it, so the order in which a
//! server shuts its connections down is unchanged. A lookup in the tree
//! cost about 115 instructions at 1,000 connections.

use super::{ConnHandle, ConnId};

/// Empty slots that never trigger a compaction on their own: a small table
/// is not worth compacting.
pub const EMPTY_SLOTS_KEPT_MIN: usize = 64;

/// Open connections, in id order, each with its handle (a
/// [`ConnHandle`] in a server).
#[derive(Debug)]
pub struct Connections<Handle = ConnHandle> {
    /// In id order; a closed connection's slot is empty until the next
    /// compaction.
    slots: Vec<(ConnId, Option<Handle>)>,
    open: usize,
}

impl<Handle> Default for Connections<Handle> {
    fn default() -> Self {
        Connections {
            slots: Vec::new(),
            open: 0,
        }
    }
}

impl<Handle> Connections<Handle> {
    /// Where `conn`'s slot is, or where it would go.
    fn position(&self, conn: ConnId) -> Result<usize, usize> {
        let Some(&(first, _)) = self.slots.first() else {
            return Err(0);
        };
        let Some(offset) = conn.checked_sub(first) else {
            return Err(0);
        };
        // Ids are unique and sorted, so `conn` sits at most `offset` places
        // after the first: exactly there while no slot has been dropped.
        let guess = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.slots.get(guess) {
            Some(&(id, _)) if id == conn => Ok(guess),
            _ => {
                let end = guess.min(self.slots.len());
                self.slots[..end].binary_search_by_key(&conn, |&(id, _)| id)
            }
        }
    }

    /// The connection `conn`, if it is open.
    pub fn get(&self, conn: &ConnId) -> Option<&Handle> {
        let index = self.position(*conn).ok()?;
        self.slots[index].1.as_ref()
    }

    pub fn contains_key(&self, conn: &ConnId) -> bool {
        self.get(conn).is_some()
    }

    /// Adds `conn`, or replaces the handle it had (returned).
    pub fn insert(&mut self, conn: ConnId, handle: Handle) -> Option<Handle> {
        if self.slots.last().is_none_or(|&(last, _)| last < conn) {
            self.slots.push((conn, Some(handle)));
            self.open += 1;
            return None;
        }
        match self.position(conn) {
            Ok(index) => {
                let before = self.slots[index].1.replace(handle);
                if before.is_none() {
                    self.open += 1;
                }
                before
            }
            Err(index) => {
                self.slots.insert(index, (conn, Some(handle)));
                self.open += 1;
                None
            }
        }
    }

    /// Takes `conn` out, if it was open.
    pub fn remove(&mut self, conn: &ConnId) -> Option<Handle> {
        let index = self.position(*conn).ok()?;
        let handle = self.slots[index].1.take()?;
        self.open -= 1;
        let empty = self.slots.len() - self.open;
        if empty > self.open.max(EMPTY_SLOTS_KEPT_MIN) {
            self.slots.retain(|(_, handle)| handle.is_some());
        }
        Some(handle)
    }

    pub fn len(&self) -> usize {
        self.open
    }

    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// Every handle, in id order.
    pub fn into_values(self) -> impl Iterator<Item = Handle> {
        self.slots.into_iter().filter_map(|(_, handle)| handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Step {
        Open,
        Close(usize),
        Reopen(usize),
        Look(ConnId),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Open),
            3 => (0usize..600).prop_map(Step::Close),
            1 => (0usize..600).prop_map(Step::Reopen),
            3 => (0u64..400).prop_map(Step::Look),
        ]
    }

    #[test]
    fn closed_connections_never_leave_more_empty_slots_than_open_ones_and_the_minimum() {
        let mut table: Connections<ConnId> = Connections::default();
        for conn in 1..=10_000 {
            table.insert(conn, conn);
        }
        // Close all but every tenth, from the front, as a crowd leaving.
        for conn in (1..=10_000).filter(|conn| conn % 10 != 0) {
            assert_eq!(table.remove(&conn), Some(conn));
            let empty = table.slots.len() - table.len();
            assert!(empty <= table.len().max(EMPTY_SLOTS_KEPT_MIN));
        }
        assert_eq!(table.len(), 1_000);
        assert!(table.slots.len() <= 2 * 1_000);
        assert_eq!(table.get(&5_000), Some(&5_000));
        assert_eq!(table.get(&5_001), None);
    }

    proptest! {
        #[test]
        fn the_table_answers_every_lookup_as_a_tree_map_would(
            steps in proptest::collection::vec(step(), 0..600),
        ) {
            // Each connection's "handle" is its own id, so a lookup that
            // finds the wrong entry shows.
            let mut table: Connections<ConnId> = Connections::default();
            let mut tree: BTreeMap<ConnId, ConnId> = BTreeMap::new();
            let mut next: ConnId = 1;
            for step in steps {
                match step {
                    Step::Open => {
                        prop_assert!(table.insert(next, next).is_none());
                        tree.insert(next, next);
                        next += 1;
                    }
                    Step::Close(_) if tree.is_empty() => {}
                    Step::Reopen(_) if next == 1 => {}
                    Step::Close(nth) => {
                        let conn = *tree.keys().nth(nth % tree.len()).unwrap();
                        tree.remove(&conn);
                        let removed = table.remove(&conn);
                        prop_assert_eq!(removed, Some(conn));
                        prop_assert!(table.remove(&conn).is_none());
                    }
                    Step::Reopen(nth) => {
                        // An id given out before, open or not, inserted out
                        // of order (a server never does; the table still
                        // keeps its order).
                        let conn = (nth as ConnId % (next - 1)) + 1;
                        let had = tree.insert(conn, conn).is_some();
                        prop_assert_eq!(table.insert(conn, conn).is_some(), had);
                    }
                    Step::Look(conn) => {
                        prop_assert_eq!(table.contains_key(&conn), tree.contains_key(&conn));
                        prop_assert_eq!(
                            table.get(&conn).copied(),
                            tree.get(&conn).copied()
                        );
                    }
                }
                prop_assert_eq!(table.len(), tree.len());
            }
            let order: Vec<ConnId> = table.into_values().collect();
            prop_assert_eq!(order, tree.into_keys().collect::<Vec<_>>());
        }
    }
}
