//! One pool worker: a thread with its own ring, running the jobs of its inbox as tasks of the
//! ring's built-in executor until the inbox is closed and every task has ended.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use super::PoolError;
use super::inbox::Inbox;
use crate::Ring;
use crate::runtime::msg_wake::SenderGuard;

/// What a worker publishes for [`RingPool::stats`](super::RingPool::stats).
#[derive(Default)]
pub(super) struct Metrics {
    pub spawned: AtomicU64,
    pub finished: AtomicU64,
    pub live: AtomicUsize,
    pub ops_completed: AtomicU64,
    pub in_flight: AtomicUsize,
    pub msg_ring_wakes: AtomicU64,
}

/// Tasks running on this worker, and the worker loop's waker (woken when one ends).
#[derive(Default)]
struct Live {
    count: Cell<usize>,
    waker: RefCell<Option<Waker>>,
}

/// The worker thread's body: `ring` runs the inbox's jobs until it is closed and drained.
/// With `send_msgs`, wake-ups this worker gives other workers go by `IORING_OP_MSG_RING`
/// (where the kernel has it).
pub(super) fn run(ring: &Rc<Ring>, send_msgs: bool, inbox: &Inbox, metrics: &Arc<Metrics>) {
    let live = Rc::new(Live::default());
    let _sender = send_msgs.then(|| SenderGuard::new(ring));
    ring.block_on(std::future::poll_fn(|cx| {
        let taken = inbox.take(cx.waker());
        for job in taken.jobs {
            live.count.set(live.count.get() + 1);
            metrics.live.fetch_add(1, Ordering::Relaxed);
            let task = job(ring.clone());
            let (ring, live, metrics) = (ring.clone(), live.clone(), metrics.clone());
            drop(crate::spawn(async move {
                task.await;
                live.count.set(live.count.get() - 1);
                let stats = ring.stats();
                metrics
                    .ops_completed
                    .store(stats.completed, Ordering::Relaxed);
                metrics.in_flight.store(ring.in_flight(), Ordering::Relaxed);
                metrics
                    .msg_ring_wakes
                    .store(stats.msg_ring_wakes, Ordering::Relaxed);
                metrics.live.fetch_sub(1, Ordering::Relaxed);
                metrics.finished.fetch_add(1, Ordering::Relaxed);
                if let Some(waker) = live.waker.take() {
                    waker.wake();
                }
            }));
        }
        if taken.closed && live.count.get() == 0 {
            return Poll::Ready(());
        }
        let previous = live.waker.replace(Some(cx.waker().clone()));
        drop(previous);
        Poll::Pending
    }));
}

/// Runs a user's task: calls `make` with the ring, then polls the future it returned, both
/// with panics caught (a panicking task ends as [`PoolError::Panicked`]; the worker and its
/// other tasks go on — what the task had in flight is parked by its drop, invariant 3).
pub(super) async fn catching<F, Fut>(make: F, ring: Rc<Ring>) -> Result<Fut::Output, PoolError>
where
    F: FnOnce(Rc<Ring>) -> Fut,
    Fut: Future,
{
    let mut future = match std::panic::catch_unwind(AssertUnwindSafe(|| make(ring))) {
        Ok(future) => Box::pin(future),
        Err(payload) => return Err(panicked(payload.as_ref())),
    };
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(payload.as_ref()))),
        }
    })
    .await
}

/// The message of a panic payload.
fn panicked(payload: &(dyn std::any::Any + Send)) -> PoolError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    PoolError::Panicked(message)
}
