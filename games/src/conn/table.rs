//! The server's open connections by id: what its game task looks up for
//! every line it delivers (a 1,000-player room's registrations deliver half
//! a million `WAITING` lines, each a lookup).
//!
//! Ids come from a counter and are never reused, so the connections are
//! kept in a vector in id order: a new connection is appended, a lookup
//! first tries the place the id would have if no connection had closed
//! (right while none has), then searches by halves below it. Iteration is
//! in id order, as the `BTreeMap` it replaced gave it, so the order in
//! which a server shuts its connections down is unchanged. A lookup in the
//! tree cost about 115 instructions at 1,000 connections.

use super::{ConnHandle, ConnId};

/// Open connections, in id order, each with its handle (a
/// [`ConnHandle`] in a server).
#[derive(Debug)]
pub struct Connections<Handle = ConnHandle> {
    entries: Vec<(ConnId, Handle)>,
}

impl<Handle> Default for Connections<Handle> {
    fn default() -> Self {
        Connections {
            entries: Vec::new(),
        }
    }
}

impl<Handle> Connections<Handle> {
    /// Where `conn` is, or where it would go.
    fn position(&self, conn: ConnId) -> Result<usize, usize> {
        let Some(&(first, _)) = self.entries.first() else {
            return Err(0);
        };
        let Some(offset) = conn.checked_sub(first) else {
            return Err(0);
        };
        // Ids are unique and sorted, so `conn` sits at most `offset` places
        // after the first: exactly there while no earlier one has closed.
        let guess = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.entries.get(guess) {
            Some(&(id, _)) if id == conn => Ok(guess),
            _ => {
                let end = guess.min(self.entries.len());
                self.entries[..end].binary_search_by_key(&conn, |&(id, _)| id)
            }
        }
    }

    /// The connection `conn`, if it is open.
    pub fn get(&self, conn: &ConnId) -> Option<&Handle> {
        let index = self.position(*conn).ok()?;
        Some(&self.entries[index].1)
    }

    pub fn contains_key(&self, conn: &ConnId) -> bool {
        self.position(*conn).is_ok()
    }

    /// Adds `conn`, or replaces the handle it had (returned).
    pub fn insert(&mut self, conn: ConnId, handle: Handle) -> Option<Handle> {
        if self.entries.last().is_none_or(|&(last, _)| last < conn) {
            self.entries.push((conn, handle));
            return None;
        }
        match self.position(conn) {
            Ok(index) => Some(std::mem::replace(&mut self.entries[index].1, handle)),
            Err(index) => {
                self.entries.insert(index, (conn, handle));
                None
            }
        }
    }

    /// Takes `conn` out, if it was open.
    pub fn remove(&mut self, conn: &ConnId) -> Option<Handle> {
        let index = self.position(*conn).ok()?;
        Some(self.entries.remove(index).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every handle, in id order.
    pub fn into_values(self) -> impl Iterator<Item = Handle> {
        self.entries.into_iter().map(|(_, handle)| handle)
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
            2 => (0usize..64).prop_map(Step::Close),
            1 => (0usize..64).prop_map(Step::Reopen),
            3 => (0u64..80).prop_map(Step::Look),
        ]
    }

    proptest! {
        #[test]
        fn the_table_answers_every_lookup_as_a_tree_map_would(
            steps in proptest::collection::vec(step(), 0..200),
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
