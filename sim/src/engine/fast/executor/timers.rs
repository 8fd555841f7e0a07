//! The pending timers of a fast-backend run: a heap ordered by deadline
//! and by the order they were set, and a slot per timer with what it wakes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;

/// Cancelled heap entries tolerated beyond the pending timers before
/// they are swept out (sweeping a small heap would cost more than it
/// saves). A four-player game has about ten timers pending: at 64 its heap
/// held several times as many dead entries, which every push and pop
/// sifted through; 16 costs 1% fewer instructions per game (callgrind).
const STALE_ENTRIES_MIN: usize = 16;

/// A timer's address: its slot and the order number it was set with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimerKey {
    slot: u32,
    order: u64,
}

/// The pending timers: a heap ordered by (deadline, order set), and a slot
/// per timer with what it wakes. A cancelled timer empties its slot at
/// once and leaves its heap entry to be skipped when it comes up, so
/// setting and cancelling allocate nothing once the vectors have grown.
#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Per slot: the order number of the timer in it, and its waker while
    /// it is pending.
    slots: Vec<(u64, Option<Waker>)>,
    free_slots: Vec<u32>,
    next_order: u64,
}

impl Timers {
    pub(super) fn set(&mut self, deadline_ms: u64, waker: Waker) -> TimerKey {
        let order = self.next_order;
        self.next_order += 1;
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = (order, Some(waker));
                slot
            }
            None => {
                self.slots.push((order, Some(waker)));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((deadline_ms, order, slot)));
        // A timer moved again and again (a silence timeout reset by every
        // line) leaves a cancelled entry each time, far in the future:
        // drop them once they outnumber the pending ones, so the heap stays
        // within twice its pending timers.
        let pending = self.slots.len() - self.free_slots.len();
        if self.heap.len() > 2 * pending + STALE_ENTRIES_MIN {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, order, slot))| {
                matches!(slots.get(*slot as usize), Some((set, Some(_))) if set == order)
            });
        }
        TimerKey { slot, order }
    }

    /// The deadlines of every pending timer, as a hash that does not
    /// depend on the order they were set in (a state's fingerprint holds
    /// what is due when, not who set it first).
    pub(super) fn digest(&self) -> u64 {
        self.heap
            .iter()
            .filter(|Reverse((_, order, slot))| {
                matches!(self.slots.get(*slot as usize), Some((set, Some(_))) if set == order)
            })
            .map(|Reverse((deadline_ms, _, _))| super::super::choice::mix(*deadline_ms))
            .fold(0u64, u64::wrapping_add)
    }

    /// The timer's waker, if it is still pending.
    pub(super) fn pending(&mut self, key: TimerKey) -> Option<&mut Waker> {
        match self.slots.get_mut(key.slot as usize) {
            Some((order, Some(waker))) if *order == key.order => Some(waker),
            _ => None,
        }
    }

    pub(super) fn cancel(&mut self, key: TimerKey) {
        if self.pending(key).is_some() {
            self.slots[key.slot as usize].1 = None;
            self.free_slots.push(key.slot);
        }
    }

    /// The deadline of the earliest pending timer.
    pub(super) fn next_deadline_ms(&mut self) -> Option<u64> {
        while let Some(&Reverse((deadline_ms, order, slot))) = self.heap.peek() {
            if self.pending(TimerKey { slot, order }).is_some() {
                return Some(deadline_ms);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes every pending timer due at or before `now_ms`, in the
    /// order (deadline, order set), and returns what they wake.
    pub(super) fn take_due(&mut self, now_ms: u64, due: &mut Vec<Waker>) {
        while let Some(&Reverse((deadline_ms, order, slot))) = self.heap.peek() {
            if deadline_ms > now_ms {
                break;
            }
            self.heap.pop();
            let key = TimerKey { slot, order };
            if self.pending(key).is_some() {
                due.extend(self.slots[slot as usize].1.take());
                self.free_slots.push(slot);
            }
        }
    }
}
