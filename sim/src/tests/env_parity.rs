//! Compile-time parity: the real and the simulated environments meet the
//! same bounds, so every session that runs on one runs on the other.

use crate::engine::turmoil_env::SimEnv;
use games::env::{Env, Listener, Stream, TokioEnv};

fn is_env<E: Env>() {}
fn is_listener<L: Listener>() {}
fn is_stream<S: Stream>() {}
fn is_send_sync<T: Send + Sync + Clone + 'static>() {}

#[test]
fn the_tokio_and_the_turmoil_environments_meet_the_same_bounds() {
    is_env::<TokioEnv>();
    is_env::<SimEnv>();
    is_listener::<<TokioEnv as Env>::Listener>();
    is_listener::<<SimEnv as Env>::Listener>();
    is_stream::<<TokioEnv as Env>::Stream>();
    is_stream::<<SimEnv as Env>::Stream>();
    is_send_sync::<TokioEnv>();
    is_send_sync::<SimEnv>();
}
