//! One connection's queue of outgoing lines and every signal between the
//! three parties that share it (the game, the connection's reader task and
//! its writer task), in one small allocation that holds no buffer while
//! the connection is idle.
//!
//! It replaces a bounded tokio channel plus a semaphore, a notify, a
//! oneshot and a cancellation token: each of those is its own allocation,
//! and the channel allocates a block of slots up front, so together they
//! cost an idle connection about a kilobyte. Here the lines live in a
//! `VecDeque` that the writer takes whole for each write, so an idle
//! connection has no line storage at all, and the wake-ups are one waker
//! slot per task.
//!
//! What it keeps count of, under one lock:
//! - the queued lines, at most `lines_max` together with the reserved
//!   places (a chat reader reserves the place of a line's reply before
//!   reading the line);
//! - the lines the reader has read and the game has not yet handled
//!   (`conn.rs` reads on only while the replies to all of them would fit);
//! - whether the game has let the connection go (closing: the writer
//!   flushes and ends, the reader only drains) and whether the writer has
//!   ended (nothing more can be sent).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Why a line could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// The outbox already holds its maximum number of lines.
    Full,
    /// The connection's writer has ended.
    Closed,
}

/// A shared handle on one connection's outbox; cheap to clone (one
/// reference count), and the state is freed with the last clone.
#[derive(Debug, Clone)]
pub(crate) struct Outbox(Arc<Mutex<State>>);

#[derive(Debug)]
struct State {
    lines: VecDeque<String>,
    lines_max: usize,
    /// Places promised to lines not queued yet ([`ReplySlot`]s).
    reserved: usize,
    /// Lines read and not yet handled by the game.
    in_flight: usize,
    /// The game has let the connection go.
    closing: bool,
    /// The writer task has ended (or will never start).
    writer_ended: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Whoever waits for the writer to end (a shutdown).
    ended: Option<Waker>,
}

/// Which task is waiting: each has one waker slot, which every future
/// that task polls on this outbox shares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    Reader,
    Writer,
}

/// What the reader may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadPermit {
    /// Read one line; it counts as in flight until [`Outbox::line_handled`].
    Line,
    /// The connection is closing: read only to drain, nothing is answered.
    Drain,
    /// The writer has ended: stop.
    End,
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Outbox {
    pub(crate) fn new(lines_max: usize) -> Outbox {
        Outbox(Arc::new(Mutex::new(State {
            lines: VecDeque::new(),
            lines_max,
            reserved: 0,
            in_flight: 0,
            closing: false,
            writer_ended: false,
            reader: None,
            writer: None,
            ended: None,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did,
        // the counts are still consistent, so go on with them.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues one line without waiting.
    pub(crate) fn try_send(&self, line: String) -> Result<(), QueueError> {
        let mut state = self.state();
        if state.writer_ended {
            return Err(QueueError::Closed);
        }
        if state.free() == 0 {
            return Err(QueueError::Full);
        }
        state.lines.push_back(line);
        wake(&mut state.writer);
        Ok(())
    }

    /// Queues one line nobody asked for if more than `headroom` places
    /// are free, in one step; says whether it did.
    pub(crate) fn offer(&self, line: String, headroom: usize) -> bool {
        let mut state = self.state();
        if state.writer_ended || state.free() <= headroom {
            return false;
        }
        state.lines.push_back(line);
        wake(&mut state.writer);
        true
    }

    /// Lines that can still be queued before the outbox is full.
    pub(crate) fn room(&self) -> usize {
        self.state().free()
    }

    /// The game has handled one line read by the reader.
    pub(crate) fn line_handled(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        wake(&mut state.reader);
    }

    /// The game lets the connection go: the writer flushes what is queued
    /// and ends, the reader drains.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closing = true;
        wake(&mut state.reader);
        wake(&mut state.writer);
    }

    /// The writer has ended: nothing more can be queued, and whoever waits
    /// for it is told.
    pub(crate) fn end_writer(&self) {
        let mut state = self.state();
        state.writer_ended = true;
        state.lines = VecDeque::new();
        wake(&mut state.reader);
        wake(&mut state.ended);
    }

    /// Resolves once the game has let the connection go.
    pub(crate) fn closing(&self, side: Side) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            let mut state = self.state();
            if state.closing {
                return Poll::Ready(());
            }
            register(state.waker(side), cx);
            Poll::Pending
        })
    }

    /// For the reader: waits until it may read one more line, that is until
    /// fewer than `in_flight_max` lines are in flight and the outbox has
    /// room for `room_needed` more lines, then counts the line as in flight.
    pub(crate) fn read_permit(
        &self,
        in_flight_max: usize,
        room_needed: usize,
    ) -> impl Future<Output = ReadPermit> + '_ {
        poll_fn(move |cx| {
            let mut state = self.state();
            // Closing first: a connection let go drains its input until the
            // peer closes even once its writer has flushed and ended, since
            // a socket closed with unread input is reset, and a reset can
            // destroy the last lines before the peer reads them.
            if state.closing {
                return Poll::Ready(ReadPermit::Drain);
            }
            if state.writer_ended {
                return Poll::Ready(ReadPermit::End);
            }
            if state.in_flight < in_flight_max && state.free() >= room_needed {
                state.in_flight += 1;
                return Poll::Ready(ReadPermit::Line);
            }
            register(&mut state.reader, cx);
            Poll::Pending
        })
    }

    /// For the reader: waits for a free place and reserves it for one line
    /// (the reply to the line about to be read). False once the connection
    /// is closing or its writer has ended.
    pub(crate) fn reserve_place(&self, side: Side) -> impl Future<Output = bool> + '_ {
        poll_fn(move |cx| {
            let mut state = self.state();
            if state.writer_ended || state.closing {
                return Poll::Ready(false);
            }
            if state.free() > 0 {
                state.reserved += 1;
                return Poll::Ready(true);
            }
            register(state.waker(side), cx);
            Poll::Pending
        })
    }

    /// Gives back one reserved place that no line will use.
    pub(crate) fn release_place(&self) {
        let mut state = self.state();
        state.reserved = state.reserved.saturating_sub(1);
        wake(&mut state.reader);
    }

    /// Queues a line in a reserved place, or in a free one if none is
    /// reserved.
    pub(crate) fn send_reserved(&self, line: String) -> Result<(), QueueError> {
        let mut state = self.state();
        if state.writer_ended {
            return Err(QueueError::Closed);
        }
        if state.reserved > 0 {
            state.reserved -= 1;
        } else if state.free() == 0 {
            return Err(QueueError::Full);
        }
        state.lines.push_back(line);
        wake(&mut state.writer);
        Ok(())
    }

    /// For the writer: every line queued so far, taken out at once (waking
    /// a reader that waits for room), once there is at least one. `None`
    /// once the connection is closing and nothing is queued: places still
    /// reserved then belong to lines nobody will answer.
    pub(crate) fn next_batch(&self) -> impl Future<Output = Option<VecDeque<String>>> + '_ {
        poll_fn(move |cx| {
            let mut state = self.state();
            if !state.lines.is_empty() {
                let batch = std::mem::take(&mut state.lines);
                wake(&mut state.reader);
                return Poll::Ready(Some(batch));
            }
            if state.closing {
                return Poll::Ready(None);
            }
            register(&mut state.writer, cx);
            Poll::Pending
        })
    }

    /// Resolves once the writer has ended.
    pub(crate) fn writer_ended(&self) -> WriterEnded {
        WriterEnded(self.clone())
    }
}

impl State {
    fn free(&self) -> usize {
        self.lines_max
            .saturating_sub(self.lines.len() + self.reserved)
    }

    fn waker(&mut self, side: Side) -> &mut Option<Waker> {
        match side {
            Side::Reader => &mut self.reader,
            Side::Writer => &mut self.writer,
        }
    }
}

/// Resolves once a connection's writer task has ended (flushed and closed
/// its side, failed, or been dropped).
#[derive(Debug)]
pub struct WriterEnded(Outbox);

impl Future for WriterEnded {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.state();
        if state.writer_ended {
            return Poll::Ready(());
        }
        register(&mut state.ended, cx);
        Poll::Pending
    }
}

/// Marks the writer ended when dropped: held by the writer task (or by a
/// connection whose writer never starts), so every way out counts.
#[derive(Debug)]
pub(crate) struct WriterGuard(pub(crate) Outbox);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.0.end_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_outbox_holds_no_line_storage_and_a_batch_takes_every_line() {
        let outbox = Outbox::new(4);
        assert_eq!(outbox.state().lines.capacity(), 0);
        outbox.try_send("a".into()).unwrap();
        outbox.try_send("b".into()).unwrap();
        let batch = futures::executor::block_on(outbox.next_batch()).unwrap();
        assert_eq!(Vec::from(batch), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(outbox.state().lines.capacity(), 0);
    }

    #[test]
    fn reserved_places_count_against_the_bound_and_come_back_when_released() {
        let outbox = Outbox::new(2);
        assert!(futures::executor::block_on(
            outbox.reserve_place(Side::Reader)
        ));
        outbox.try_send("a".into()).unwrap();
        assert_eq!(outbox.try_send("b".into()), Err(QueueError::Full));
        outbox.release_place();
        assert_eq!(outbox.room(), 1);
        assert!(futures::executor::block_on(
            outbox.reserve_place(Side::Reader)
        ));
        assert_eq!(outbox.try_send("b".into()), Err(QueueError::Full));
        outbox.send_reserved("reply".into()).unwrap();
        assert_eq!(outbox.room(), 0);
        assert_eq!(outbox.send_reserved("more".into()), Err(QueueError::Full));
    }

    #[test]
    fn a_closing_writer_flushes_what_is_queued_and_ends_though_places_are_reserved() {
        let outbox = Outbox::new(2);
        assert!(futures::executor::block_on(
            outbox.reserve_place(Side::Reader)
        ));
        outbox.send_reserved("last".into()).unwrap();
        assert!(futures::executor::block_on(
            outbox.reserve_place(Side::Reader)
        ));
        outbox.close();
        assert!(!futures::executor::block_on(
            outbox.reserve_place(Side::Reader)
        ));
        let batch = futures::executor::block_on(outbox.next_batch()).unwrap();
        assert_eq!(Vec::from(batch), vec!["last".to_owned()]);
        assert!(futures::executor::block_on(outbox.next_batch()).is_none());
    }

    #[test]
    fn the_reader_reads_on_only_while_the_replies_of_every_line_in_flight_fit() {
        let outbox = Outbox::new(8);
        let permit = || futures::executor::block_on(outbox.read_permit(2, 4));
        assert_eq!(permit(), ReadPermit::Line);
        assert_eq!(permit(), ReadPermit::Line);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Box::pin(outbox.read_permit(2, 4))
            .as_mut()
            .poll(&mut cx)
            .is_pending());
        outbox.line_handled();
        for line in 0..5 {
            outbox.try_send(format!("{line}")).unwrap();
        }
        assert!(
            Box::pin(outbox.read_permit(2, 4))
                .as_mut()
                .poll(&mut cx)
                .is_pending(),
            "3 free places are fewer than 4"
        );
        // A writer that ended by itself (a failed write) stops the reader...
        let failed = Outbox::new(8);
        drop(WriterGuard(failed.clone()));
        assert_eq!(
            futures::executor::block_on(failed.read_permit(2, 4)),
            ReadPermit::End
        );
        assert_eq!(failed.try_send("late".into()), Err(QueueError::Closed));
        futures::executor::block_on(failed.writer_ended());
        // ...but a connection let go drains, its writer ended or not.
        outbox.close();
        assert_eq!(permit(), ReadPermit::Drain);
        drop(WriterGuard(outbox.clone()));
        assert_eq!(permit(), ReadPermit::Drain);
    }
}
