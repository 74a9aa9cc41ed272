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

impl Metrics {
    /// Tasks handed over and not yet ended (queued or running).
    pub fn load(&self) -> u64 {
        let finished = self.finished.load(Ordering::Relaxed);
        self.spawned
            .load(Ordering::Relaxed)
            .saturating_sub(finished)
    }
}

/// Tasks running on this worker, and the worker loop's waker (woken when one ends).
#[derive(Default)]
struct Live {
    count: Cell<usize>,
    waker: RefCell<Option<Waker>>,
}

/// One task's bookkeeping on its worker: counted live from the job's start; on drop (the
/// task's future ended — or was dropped), the worker's metrics are brought up to date. A job
/// drops it *before* completing its handle, so a caller that joined a task sees it counted.
pub(super) struct TaskEnd {
    ring: Rc<Ring>,
    live: Rc<Live>,
    metrics: Arc<Metrics>,
}

impl TaskEnd {
    fn start(ring: &Rc<Ring>, live: &Rc<Live>, metrics: &Arc<Metrics>) -> Self {
        live.count.set(live.count.get() + 1);
        metrics.live.fetch_add(1, Ordering::Relaxed);
        let (ring, live, metrics) = (ring.clone(), live.clone(), metrics.clone());
        Self {
            ring,
            live,
            metrics,
        }
    }
}

impl Drop for TaskEnd {
    fn drop(&mut self) {
        let (stats, metrics) = (self.ring.stats(), &self.metrics);
        metrics
            .ops_completed
            .store(stats.completed, Ordering::Relaxed);
        metrics
            .in_flight
            .store(self.ring.in_flight(), Ordering::Relaxed);
        metrics
            .msg_ring_wakes
            .store(stats.msg_ring_wakes, Ordering::Relaxed);
        metrics.live.fetch_sub(1, Ordering::Relaxed);
        metrics.finished.fetch_add(1, Ordering::Relaxed);
        self.live.count.set(self.live.count.get() - 1);
        let waker = self.live.waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
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
            let end = TaskEnd::start(ring, &live, metrics);
            drop(crate::spawn(job(ring.clone(), end)));
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
