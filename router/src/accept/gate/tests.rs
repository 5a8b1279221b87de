use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::AtomicUsize;

use tokio_util::sync::CancellationToken;

use super::*;

#[test]
fn gated_shutdown_is_polled_once_until_it_wakes_and_then_completes() {
    let token = CancellationToken::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let mut cancelled = Box::pin(token.clone().cancelled_owned());
    let counted = polls.clone();
    let shutdown = poll_fn(move |cx| {
        counted.fetch_add(1, Ordering::Relaxed);
        cancelled.as_mut().poll(cx)
    });
    let mut gated = pin!(Gated::new(shutdown));
    let cx = &mut Context::from_waker(Waker::noop());
    for _ in 0..6 {
        // The task wakes for other reasons (its connection's bytes).
        assert!(gated.as_mut().poll(cx).is_pending(), "not shut down yet");
    }
    assert_eq!(polls.load(Ordering::Relaxed), 1, "polled once, to register its interest");
    token.cancel();
    assert!(gated.as_mut().poll(cx).is_ready(), "the shutdown is seen once it woke the gate");
    assert_eq!(polls.load(Ordering::Relaxed), 2);
}
