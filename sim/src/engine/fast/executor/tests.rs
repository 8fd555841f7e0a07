//! The scheduler's own rules: timer order, aborts, panics, cancelled
//! timers, stale wakers and a run that can never move again.

use super::*;

#[test]
fn timers_due_at_the_same_time_fire_in_the_order_they_were_set() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let seen = order.clone();
    block_on(async move {
        let mut tasks = Vec::new();
        for (name, deadline_ms) in [("a", 20), ("b", 10), ("c", 20), ("d", 10)] {
            let seen = seen.clone();
            tasks.push(spawn(async move {
                sleep_until(deadline_ms).await;
                seen.borrow_mut().push((name, now_ms()));
            }));
        }
        for task in tasks {
            assert_eq!(task.await, TaskEnd::Finished);
        }
    });
    assert_eq!(
        *order.borrow(),
        vec![("b", 10), ("d", 10), ("a", 20), ("c", 20)]
    );
}

#[test]
fn an_aborted_task_is_dropped_at_once_and_its_handle_says_so() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let flag = Flag(dropped.clone());
    let seen = dropped.clone();
    block_on(async move {
        let task = spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        sleep_until(5).await;
        assert!(is_alive(task.key()));
        abort(task.key());
        assert!(seen.get(), "dropped by abort itself");
        assert_eq!(task.await, TaskEnd::Aborted);
    });
    assert!(dropped.get());
}

#[test]
fn a_panicking_task_ends_with_its_message_and_the_run_goes_on() {
    let end = block_on(async {
        let task = spawn(async {
            sleep_until(3).await;
            panic!("planted");
        });
        let end = task.await;
        sleep_until(7).await;
        (end, now_ms())
    });
    assert_eq!(end, (TaskEnd::Panicked("planted".to_owned()), 7));
}

#[test]
fn a_cancelled_timer_neither_wakes_nor_moves_time() {
    let now = block_on(async {
        let early = timeout_ms(1_000, sleep_until(10)).await;
        assert_eq!(early, Some(()));
        now_ms()
    });
    // The 1,000 ms timeout was dropped when the sleep won: the run
    // ended at 10 ms, not at 1,000.
    assert_eq!(now, 10);
}

#[test]
fn a_stale_waker_from_an_ended_task_wakes_nothing() {
    let polls = block_on(async {
        let stash: Rc<RefCell<Option<Waker>>> = Rc::default();
        let keep = stash.clone();
        let first = spawn(async move {
            std::future::poll_fn(|cx| {
                *keep.borrow_mut() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
        });
        first.await;
        // The slot is reused by a new task with a new generation.
        let polls = Rc::new(Cell::new(0));
        let counted = polls.clone();
        let second = spawn(std::future::poll_fn(move |_| {
            counted.set(counted.get() + 1);
            Poll::<()>::Pending
        }));
        assert_eq!(second.key().slot, 0, "the slot was reused");
        sleep_until(1).await;
        stash
            .borrow_mut()
            .take()
            .expect("the waker was kept")
            .wake();
        sleep_until(2).await;
        abort(second.key());
        polls.get()
    });
    assert_eq!(
        polls, 1,
        "polled once when started, never by the stale waker"
    );
}

#[test]
#[should_panic(expected = "stalled")]
fn a_run_where_nothing_can_happen_again_panics_instead_of_hanging() {
    block_on(std::future::pending::<()>());
}

#[test]
fn a_watcher_is_woken_once_per_moment_before_time_moves_and_changes_nothing() {
    // Two sleepers write down when they wake; a watcher notes, at each
    // moment it is offered, the time and how many wake-ups there were.
    let run = |watched: bool| {
        let woken = Rc::new(RefCell::new(Vec::new()));
        let looks = Rc::new(RefCell::new(Vec::new()));
        let (seen, noted) = (woken.clone(), looks.clone());
        block_on(async move {
            let mut tasks = Vec::new();
            for (name, deadline_ms) in [("a", 10), ("b", 10), ("c", 25)] {
                let seen = seen.clone();
                tasks.push(spawn(async move {
                    sleep_until(deadline_ms).await;
                    seen.borrow_mut().push((name, now_ms()));
                }));
            }
            if watched {
                let seen = seen.clone();
                spawn_detached(async move {
                    loop {
                        moment_left().await;
                        noted.borrow_mut().push((now_ms(), seen.borrow().len()));
                    }
                });
            }
            for task in tasks {
                assert_eq!(task.await, TaskEnd::Finished);
            }
        });
        let woken = woken.borrow().clone();
        let looks = looks.borrow().clone();
        (woken, looks)
    };
    let (plain, none) = run(false);
    let (watched, looks) = run(true);
    assert!(none.is_empty());
    assert_eq!(watched, plain, "watching changes nothing");
    assert_eq!(plain, vec![("a", 10), ("b", 10), ("c", 25)]);
    // Once at 0 ms (nothing woken yet), once at 10 ms after both sleepers
    // of that moment: each moment is looked at as it is left.
    assert_eq!(looks, vec![(0, 0), (10, 2)]);
}
