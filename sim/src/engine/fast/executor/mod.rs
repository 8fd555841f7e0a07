//! The fast backend's scheduler: the run's tasks, the queue of tasks ready
//! to be polled, and simulated time with its timers, all on one thread.
//!
//! tokio's paused clock did this job before, at a price: every read of the
//! time asked the machine's clock (tokio adds its pause offset to a real
//! `Instant`), every timer went through tokio's wheel, and every wake
//! through atomic task states. Those were a third of a lock-step game's
//! cost. Here time is a number that only [`block_on`]'s loop moves: when
//! no task is ready, it jumps to the earliest timer and wakes every timer
//! due then, in the order they were set. Ready tasks are polled first in,
//! first out. Nothing here reads the machine's clock or a random source,
//! so a run is decided by what its tasks do.
//!
//! The loop runs inside one poll of a tokio current-thread runtime built
//! with the run's seed, so `tokio::sync` and an unbiased `tokio::select!`
//! (which draws from the runtime's seeded generator) work as before. That
//! runtime has no timer driver: a `tokio::time` call on this backend
//! panics at once instead of waiting on a clock that never moves.
//!
//! Which ready task is polled next, every latency, whether and when each
//! fault fires and a game server's stream of draws are the run's
//! [`choice`]s: a seeded run takes the first ready task, fires every fault
//! on time and draws from the seed's own stream.
//!
//! Wakers carry the task's slot, the slot's generation and the run's
//! number, so a waker that outlives its task, or its run, wakes nothing.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use rand_chacha::ChaCha8Rng;

use super::choice::{self, Choices};
use timers::{TimerKey, Timers};

mod timers;

type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Bits of a waker's key that hold the task's slot.
const SLOT_BITS: u32 = 24;
/// Bits that hold the slot's generation (bumped each time it is reused).
const GENERATION_BITS: u32 = 24;
/// The slot number that stands for the run's root future.
const ROOT_SLOT: u32 = (1 << SLOT_BITS) - 1;
/// Tasks alive at once; far above a 1,000-player room's few thousand.
const TASKS_MAX: usize = ROOT_SLOT as usize;

/// A task's address: its slot, the slot's generation and the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskKey {
    slot: u32,
    generation: u32,
    run: u16,
}

impl TaskKey {
    fn pack(self) -> u64 {
        (u64::from(self.run) << (SLOT_BITS + GENERATION_BITS))
            | (u64::from(self.generation) << SLOT_BITS)
            | u64::from(self.slot)
    }

    fn unpack(bits: u64) -> TaskKey {
        TaskKey {
            slot: (bits & ((1 << SLOT_BITS) - 1)) as u32,
            generation: ((bits >> SLOT_BITS) & ((1 << GENERATION_BITS) - 1)) as u32,
            run: (bits >> (SLOT_BITS + GENERATION_BITS)) as u16,
        }
    }
}

/// How a task ended, for whoever awaits its [`JoinHandle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    Finished,
    /// A crash of its host stopped it.
    Aborted,
    /// It panicked; the message.
    Panicked(String),
}

#[derive(Default)]
struct JoinState {
    end: Option<TaskEnd>,
    waiter: Option<Waker>,
}

struct Slot {
    generation: u32,
    /// `None` while the task is being polled, or once it ended.
    future: Option<TaskFuture>,
    alive: bool,
    queued: bool,
    /// A crash stopped it while it was being polled: drop it after.
    aborted: bool,
    join: Option<Rc<RefCell<JoinState>>>,
}

struct Scheduler {
    run: u16,
    now_ms: Cell<u64>,
    ready: RefCell<VecDeque<TaskKey>>,
    root_queued: Cell<bool>,
    slots: RefCell<Vec<Slot>>,
    free_slots: RefCell<Vec<u32>>,
    timers: RefCell<Timers>,
    /// Which ready task runs next, and every latency: see [`choice`].
    choices: RefCell<Choices>,
    /// What the backend adds to a moment's fingerprint (see
    /// [`set_fingerprint_hook`]).
    fingerprint_hook: RefCell<Option<Box<dyn FnMut() -> u64>>>,
    /// The task waiting in [`moment_left`] to look at the run between two
    /// moments, if one is.
    moment_waiter: RefCell<Option<Waker>>,
    /// How many moments were offered to a [`moment_left`] waiter.
    moments_offered: Cell<u64>,
    /// Whether the moment being left was offered already (cleared when
    /// time moves on).
    moment_offered: Cell<bool>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Scheduler>>> = const { RefCell::new(None) };
    static RUNS: Cell<u16> = const { Cell::new(0) };
}

fn with_current<T>(body: impl FnOnce(&Scheduler) -> T) -> T {
    CURRENT.with(|current| {
        let current = current.borrow();
        let scheduler = current
            .as_ref()
            .expect("the fast backend's scheduler is used inside its run (engine::fast::simulate)");
        body(scheduler)
    })
}

fn try_with_current(body: impl FnOnce(&Scheduler)) {
    CURRENT.with(|current| {
        if let Ok(current) = current.try_borrow() {
            if let Some(scheduler) = current.as_ref() {
                body(scheduler);
            }
        }
    });
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_raw, drop_raw);

fn raw_waker(key: TaskKey) -> RawWaker {
    RawWaker::new(key.pack() as usize as *const (), &VTABLE)
}

unsafe fn clone_raw(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake_raw(data: *const ()) {
    let key = TaskKey::unpack(data as usize as u64);
    try_with_current(|scheduler| scheduler.wake(key));
}

unsafe fn drop_raw(_: *const ()) {}

fn waker(key: TaskKey) -> Waker {
    // SAFETY: the data is a plain number, never dereferenced; the vtable's
    // functions only read it, so every contract of `RawWaker` holds.
    unsafe { Waker::from_raw(raw_waker(key)) }
}

impl Scheduler {
    fn wake(&self, key: TaskKey) {
        if key.run != self.run {
            return;
        }
        if key.slot == ROOT_SLOT {
            if !self.root_queued.replace(true) {
                self.ready.borrow_mut().push_back(key);
            }
            return;
        }
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(key.slot as usize) else {
            return;
        };
        if slot.generation == key.generation && slot.alive && !slot.queued {
            slot.queued = true;
            self.ready.borrow_mut().push_back(key);
        }
    }

    fn spawn(&self, future: TaskFuture, join: Option<Rc<RefCell<JoinState>>>) -> TaskKey {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free_slots.borrow_mut().pop() {
            Some(index) => index,
            None => {
                assert!(slots.len() < TASKS_MAX, "more than {TASKS_MAX} tasks alive");
                slots.push(Slot {
                    generation: 0,
                    future: None,
                    alive: false,
                    queued: false,
                    aborted: false,
                    join: None,
                });
                (slots.len() - 1) as u32
            }
        };
        let slot = &mut slots[index as usize];
        slot.future = Some(future);
        slot.alive = true;
        slot.queued = true;
        slot.aborted = false;
        slot.join = join;
        let key = TaskKey {
            slot: index,
            generation: slot.generation,
            run: self.run,
        };
        self.ready.borrow_mut().push_back(key);
        key
    }

    /// Frees a task's slot and tells its awaiter; returns its future (to be
    /// dropped by the caller, outside every borrow).
    fn end(&self, key: TaskKey, end: TaskEnd) -> Option<TaskFuture> {
        let (future, join) = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[key.slot as usize];
            if slot.generation != key.generation || !slot.alive {
                return None;
            }
            slot.alive = false;
            slot.queued = false;
            slot.generation = (slot.generation + 1) & ((1 << GENERATION_BITS) - 1);
            (slot.future.take(), slot.join.take())
        };
        self.free_slots.borrow_mut().push(key.slot);
        if let Some(join) = join {
            let waiter = {
                let mut join = join.borrow_mut();
                join.end = Some(end);
                join.waiter.take()
            };
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        }
        future
    }

    fn is_alive(&self, key: TaskKey) -> bool {
        let slots = self.slots.borrow();
        slots
            .get(key.slot as usize)
            .is_some_and(|slot| slot.generation == key.generation && slot.alive)
    }

    /// Polls one ready task.
    fn poll_task(&self, key: TaskKey) {
        let future = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[key.slot as usize];
            if slot.generation != key.generation || !slot.alive {
                return;
            }
            slot.queued = false;
            slot.future.take()
        };
        let Some(mut future) = future else {
            return;
        };
        let waker = waker(key);
        let mut context = Context::from_waker(&waker);
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context)));
        let end = match polled {
            Ok(Poll::Ready(())) => Some(TaskEnd::Finished),
            Ok(Poll::Pending) => None,
            Err(panic) => Some(TaskEnd::Panicked(panic_message(&*panic))),
        };
        let aborted = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[key.slot as usize];
            match end {
                None if !slot.aborted => {
                    slot.future = Some(future);
                    return;
                }
                _ => slot.aborted,
            }
        };
        let end = if aborted {
            TaskEnd::Aborted
        } else {
            end.unwrap_or(TaskEnd::Finished)
        };
        self.end(key, end);
        drop(future);
    }

    /// Moves time to the earliest timer and wakes every timer due then.
    /// Returns false when no timer is pending.
    fn advance(&self) -> bool {
        // A task that watches the run between moments (`moment_left`) looks
        // first, once per moment; it only reads, so the run goes on the same.
        if !self.moment_offered.get() {
            if let Some(waiter) = self.moment_waiter.borrow_mut().take() {
                self.moment_offered.set(true);
                self.moments_offered.set(self.moments_offered.get() + 1);
                waiter.wake();
                return true;
            }
        }
        self.moment_offered.set(false);
        if self.choices.borrow().wants_fingerprint() {
            let backend = self
                .fingerprint_hook
                .borrow_mut()
                .as_mut()
                .map_or(0, |hook| hook());
            let timers = self.timers.borrow().digest();
            self.choices
                .borrow_mut()
                .fingerprint(self.now_ms.get(), backend.wrapping_add(timers));
        }
        let mut due = Vec::new();
        {
            let mut timers = self.timers.borrow_mut();
            let Some(deadline_ms) = timers.next_deadline_ms() else {
                return false;
            };
            self.now_ms.set(self.now_ms.get().max(deadline_ms));
            timers.take_due(self.now_ms.get(), &mut due);
        }
        for waker in due {
            waker.wake();
        }
        true
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Keeps the scheduler current for the run. At the end, even on a panic,
/// it drops the tasks still running, in the order their slots were made,
/// while the scheduler is still current (a dropped task may wake another
/// or read the clock), and then clears it.
struct Entered(Rc<Scheduler>);

impl Drop for Entered {
    fn drop(&mut self) {
        let scheduler = &self.0;
        let mut slot = 0;
        while slot < scheduler.slots.borrow().len() {
            let key = TaskKey {
                slot: slot as u32,
                generation: scheduler.slots.borrow()[slot].generation,
                run: scheduler.run,
            };
            let future = scheduler.end(key, TaskEnd::Aborted);
            drop(future);
            slot += 1;
        }
        scheduler.fingerprint_hook.borrow_mut().take();
        choice::finished(std::mem::take(&mut *scheduler.choices.borrow_mut()));
        let current = CURRENT.with(|current| current.borrow_mut().take());
        drop(current);
    }
}

/// Runs `root` and every task it spawns on a fresh scheduler whose clock
/// starts at 0 ms, until `root` is done; then drops the tasks still
/// running. Panics if every task waits and
/// no timer is pending (nothing could ever happen again).
pub fn block_on<F: Future>(root: F) -> F::Output {
    let run = RUNS.with(|runs| {
        let run = runs.get().wrapping_add(1);
        runs.set(run);
        run
    });
    let scheduler = Rc::new(Scheduler {
        run,
        now_ms: Cell::new(0),
        ready: RefCell::new(VecDeque::new()),
        root_queued: Cell::new(false),
        slots: RefCell::new(Vec::new()),
        free_slots: RefCell::new(Vec::new()),
        timers: RefCell::new(Timers::default()),
        choices: RefCell::new(choice::starting()),
        fingerprint_hook: RefCell::new(None),
        moment_waiter: RefCell::new(None),
        moments_offered: Cell::new(0),
        moment_offered: Cell::new(false),
    });
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        assert!(
            current.is_none(),
            "a fast-backend run cannot start inside another"
        );
        *current = Some(scheduler.clone());
    });
    let entered = Entered(scheduler.clone());
    let root_key = TaskKey {
        slot: ROOT_SLOT,
        generation: 0,
        run,
    };
    let root_waker = waker(root_key);
    let mut root = std::pin::pin!(root);
    scheduler.wake(root_key);
    let output = loop {
        let next = {
            let mut ready = scheduler.ready.borrow_mut();
            let index = scheduler
                .choices
                .borrow_mut()
                .order(ready.len(), scheduler.now_ms.get());
            // A seeded run always takes the first: the plain pop, not the
            // general removal's shifting of one side of the ring.
            if index == 0 {
                ready.pop_front()
            } else {
                ready.remove(index)
            }
        };
        match next {
            Some(key) if key.slot == ROOT_SLOT => {
                scheduler.root_queued.set(false);
                let mut context = Context::from_waker(&root_waker);
                if let Poll::Ready(output) = root.as_mut().poll(&mut context) {
                    break output;
                }
            }
            Some(key) => scheduler.poll_task(key),
            None => assert!(
                scheduler.advance(),
                "the simulated run stalled at {} ms: every task waits and no timer is pending",
                scheduler.now_ms.get()
            ),
        }
    };
    drop(entered);
    output
}

/// Simulated milliseconds since the run started.
pub fn now_ms() -> u64 {
    with_current(|scheduler| scheduler.now_ms.get())
}

/// Starts a task that nobody awaits.
pub fn spawn_detached(future: impl Future<Output = ()> + 'static) -> TaskKey {
    with_current(|scheduler| scheduler.spawn(Box::pin(future), None))
}

/// Starts a task; awaiting the handle waits for its end.
pub fn spawn(future: impl Future<Output = ()> + 'static) -> JoinHandle {
    let join = Rc::new(RefCell::new(JoinState::default()));
    let key = with_current(|scheduler| scheduler.spawn(Box::pin(future), Some(join.clone())));
    JoinHandle { key, join }
}

/// Stops a task: its future is dropped now (or, if it is the task being
/// polled, as soon as its poll returns). A task that already ended is left
/// alone.
pub fn abort(key: TaskKey) {
    let future = with_current(|scheduler| {
        {
            let mut slots = scheduler.slots.borrow_mut();
            let slot = slots.get_mut(key.slot as usize)?;
            if slot.generation != key.generation || !slot.alive {
                return None;
            }
            if slot.future.is_none() {
                // Being polled right now.
                slot.aborted = true;
                return None;
            }
        }
        scheduler.end(key, TaskEnd::Aborted)
    });
    drop(future);
}

/// Wakes `waker` when simulated time reaches `deadline_ms` (at once if it
/// has): a timer that nobody cancels.
pub fn wake_at(deadline_ms: u64, waker: Waker) {
    with_current(|scheduler| {
        if deadline_ms <= scheduler.now_ms.get() {
            waker.wake();
        } else {
            scheduler.timers.borrow_mut().set(deadline_ms, waker);
        }
    });
}

/// A latency in `min_ms..=max_ms`: a choice of the run, drawn from `rng`
/// in a seeded run.
pub fn choose_latency(rng: &mut ChaCha8Rng, min_ms: u64, max_ms: u64) -> u64 {
    with_current(|scheduler| {
        let now_ms = scheduler.now_ms.get();
        scheduler
            .choices
            .borrow_mut()
            .latency(rng, min_ms, max_ms, now_ms)
    })
}

/// Whether a fault happens (`None`: not) and how many ms late it fires, in
/// `0..=delay_max_ms`: a choice of the run; a seeded run fires every fault
/// on time.
pub fn choose_fault(delay_max_ms: u64) -> Option<u64> {
    with_current(|scheduler| {
        let now_ms = scheduler.now_ms.get();
        scheduler.choices.borrow_mut().fault(delay_max_ms, now_ms)
    })
}

/// Which of `streams` RNG streams a game server's draws or a bot's
/// decisions (`kind`) come from: a choice of the run, 0 (the seed's own)
/// in a seeded run.
pub fn choose_stream(kind: super::choice::ChoiceKind, streams: u32) -> u32 {
    with_current(|scheduler| {
        let now_ms = scheduler.now_ms.get();
        scheduler.choices.borrow_mut().stream(kind, streams, now_ms)
    })
}

/// Sets what the backend adds to the fingerprint of each moment a run
/// leaves, when the run's choices ask for fingerprints (see
/// [`choice::Fingerprint`]): the part of the state the scheduler cannot
/// see (what the sessions wrote, the bytes in flight).
pub fn set_fingerprint_hook(hook: impl FnMut() -> u64 + 'static) {
    with_current(|scheduler| {
        *scheduler.fingerprint_hook.borrow_mut() = Some(Box::new(hook));
    })
}

/// Whether the current run's fingerprints count interchangeable hosts as
/// a multiset (see [`choice::Fingerprint`]).
pub fn fingerprints_symmetric() -> bool {
    with_current(|scheduler| scheduler.choices.borrow().fingerprints_symmetric())
}

/// Whether the current run asks for fingerprints (so a backend need not
/// set up its hook otherwise).
pub fn wants_fingerprints() -> bool {
    with_current(|scheduler| scheduler.choices.borrow().fingerprints_asked())
}

/// Completes when every task of the run waits and time is about to move
/// on (a moment is left), so that its task can look at the run between
/// two moments. One waiter at a time; it must only read: the run goes on
/// exactly as it would have without it.
pub fn moment_left() -> MomentLeft {
    MomentLeft { since: None }
}

/// The future of [`moment_left`].
#[derive(Debug)]
pub struct MomentLeft {
    /// The moments offered when it was first polled.
    since: Option<u64>,
}

impl Future for MomentLeft {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        with_current(|scheduler| {
            let offered = scheduler.moments_offered.get();
            match this.since {
                Some(since) if offered > since => return Poll::Ready(()),
                Some(_) => {}
                None => this.since = Some(offered),
            }
            *scheduler.moment_waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// Whether a task is still running.
pub fn is_alive(key: TaskKey) -> bool {
    with_current(|scheduler| scheduler.is_alive(key))
}

/// The end of a task started with [`spawn`].
pub struct JoinHandle {
    key: TaskKey,
    join: Rc<RefCell<JoinState>>,
}

impl JoinHandle {
    pub fn key(&self) -> TaskKey {
        self.key
    }
}

impl Future for JoinHandle {
    type Output = TaskEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskEnd> {
        let mut join = self.join.borrow_mut();
        match join.end.clone() {
            Some(end) => Poll::Ready(end),
            None => {
                join.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Completes once simulated time reaches its deadline. Dropping it cancels
/// its timer.
#[derive(Debug)]
pub struct Sleep {
    deadline_ms: u64,
    /// The timer set by the last poll.
    timer: Option<TimerKey>,
}

/// Sleeps until simulated time `deadline_ms`.
pub fn sleep_until(deadline_ms: u64) -> Sleep {
    Sleep {
        deadline_ms,
        timer: None,
    }
}

impl Sleep {
    /// Moves the deadline; the timer is set again at the next poll.
    pub fn reset(&mut self, deadline_ms: u64) {
        if deadline_ms != self.deadline_ms {
            self.cancel();
            self.deadline_ms = deadline_ms;
        }
    }

    fn cancel(&mut self) {
        if let Some(timer) = self.timer.take() {
            try_with_current(|scheduler| scheduler.timers.borrow_mut().cancel(timer));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        with_current(|scheduler| {
            let mut timers = scheduler.timers.borrow_mut();
            if scheduler.now_ms.get() >= this.deadline_ms {
                if let Some(timer) = this.timer.take() {
                    timers.cancel(timer);
                }
                return Poll::Ready(());
            }
            let pending = this.timer.and_then(|timer| timers.pending(timer));
            match pending {
                Some(waker) => {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                }
                // Not set yet (a fired timer has moved time to its
                // deadline, so the branch above took it).
                None => this.timer = Some(timers.set(this.deadline_ms, cx.waker().clone())),
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs `future` for at most `duration_ms` of simulated time; `None` when
/// the time ran out first.
#[cfg(test)]
pub async fn timeout_ms<T>(duration_ms: u64, future: impl Future<Output = T>) -> Option<T> {
    let deadline = sleep_until(now_ms().saturating_add(duration_ms));
    let mut future = std::pin::pin!(future);
    let mut deadline = std::pin::pin!(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests;
