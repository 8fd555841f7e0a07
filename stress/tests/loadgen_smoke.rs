//! A few bots against the in-process reference servers: the load generator
//! measures what it says it measures. Small and quick; the real runs are
//! behind `make bench`.

use std::time::Duration;

use stress::loadgen::{chat, idle, live, reference};
use tokio::net::TcpListener;

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_live_player_registers_and_every_draw_is_timed_at_every_player() {
    let (numbers, claims) = (listener().await, listener().await);
    let workload = live::Workload {
        numbers_addr: numbers.local_addr().unwrap(),
        claims_addr: claims.local_addr().unwrap(),
        players: 8,
        draws: 3,
        interval_ms: 20,
        seed: 1,
    };
    tokio::spawn(reference::serve_live_on(numbers, claims, 20));
    let outcome = live::run(&workload, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (outcome.registered, outcome.refused, outcome.lost),
        (8, 0, 0)
    );
    assert!(outcome.draws_measured >= 3, "{outcome:?}");
    assert_eq!(outcome.lag.count, 8 * outcome.draws_measured);
    assert_eq!(outcome.spread.count, outcome.draws_measured);
    assert!(outcome.spread.max >= outcome.spread.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_clients_route_messages_to_each_other_and_count_them() {
    let listener = listener().await;
    let workload = chat::Workload {
        addr: listener.local_addr().unwrap(),
        clients: 8,
        in_flight: 2,
        warmup: Duration::from_millis(100),
        window: Duration::from_millis(300),
        seed: 1,
    };
    tokio::spawn(reference::serve_chat_on(listener));
    let outcome = chat::run(&workload, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (outcome.connected, outcome.refused, outcome.lost),
        (8, 0, 0)
    );
    assert!(outcome.delivered_per_second > 0.0, "{outcome:?}");
    assert!(outcome.sent_per_second > 0.0, "{outcome:?}");
    assert_eq!((outcome.busy, outcome.other_refusals), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_counted_as_held_and_the_memory_before_and_after_is_read() {
    let listener = listener().await;
    let workload = idle::Workload {
        addr: listener.local_addr().unwrap(),
        pid: std::process::id(),
        warmup: 2,
        connections: 8,
    };
    tokio::spawn(reference::serve_chat_on(listener));
    let outcome = idle::run(&workload).await.unwrap();
    assert_eq!((outcome.held, outcome.refused), (8, 0), "{outcome:?}");
    assert!(
        outcome.rss_before_kib > 0 && outcome.rss_after_kib > 0,
        "{outcome:?}"
    );
}
