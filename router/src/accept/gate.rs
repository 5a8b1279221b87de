//! A future that is polled only after it asked to be ([`Gated`]).
//!
//! The connection task (`accept/conn.rs`) waits on its hyper connection and, next to it,
//! on events that almost never come (shutdown). A `select!` polls every branch on every
//! wake-up of the task, and polling tokio's `Notified` (under a cancellation token) takes
//! the notifier's lock each time: a lock per wake-up, so several per request, for an
//! event that comes once in the process's life. A gated future is polled once, to
//! register its interest, and then only after its own waker fired: its other polls cost
//! an atomic swap and a waker registration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pin_project_lite::pin_project! {
    /// `inner`, polled only when it woke (or never was polled yet).
    pub(crate) struct Gated<F> {
        #[pin]
        inner: F,
        flag: Arc<Flag>,
        waker: Waker,
    }
}

/// The inner future's waker: notes the wake-up, then wakes the task.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> Gated<F> {
    /// Gates `inner` (one allocation, for its waker).
    pub(crate) fn new(inner: F) -> Gated<F> {
        let flag = Arc::new(Flag { woken: AtomicBool::new(true), task: AtomicWaker::new() });
        let waker = Waker::from(flag.clone());
        Gated { inner, flag, waker }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.inner.poll(&mut Context::from_waker(this.waker))
    }
}

#[cfg(test)]
mod tests;
