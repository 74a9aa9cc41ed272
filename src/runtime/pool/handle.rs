//! [`PoolHandle`]: the `Send` end of a task running on a pool worker — a future for its
//! output, or a blocking [`join`](PoolHandle::join).
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

/// Why a pool task produced no output.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{PoolError, RingPool};
/// let pool = RingPool::new(1)?;
/// let handle = pool.spawn(|_ring| async { panic!("boom") });
/// assert_eq!(handle.join(), Err::<(), _>(PoolError::Panicked("boom".into())));
/// // The worker goes on.
/// assert_eq!(pool.spawn(|_ring| async { 1 }).join(), Ok(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The task panicked; the message is the panic's, if it was a string.
    #[error("the task panicked: {0}")]
    Panicked(String),
    /// The pool was shut down before the task could start.
    #[error("the ring pool is shut down: the task was not started")]
    ShutDown,
}

enum Slot<T> {
    Running(Option<Waker>),
    Done(Result<T, PoolError>),
    Taken,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    done: Condvar,
}

/// The worker's end: completes the handle once.
pub(super) struct Completer<T> {
    shared: Arc<Shared<T>>,
}

/// A task on a [`RingPool`](super::RingPool) worker: `.await` it from any executor (tokio's
/// multi-thread runtime included) or [`join`](Self::join) it from any thread.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let pool = safer_ring::RingPool::new(1)?;
/// let handle = pool.spawn(|ring| async move {
///     ring.sleep(std::time::Duration::from_millis(1)).await.map(|()| "slept")
/// });
/// // `Send`: wait for it on another thread (or `.await` it from any executor).
/// let out = std::thread::spawn(move || handle.join()).join().unwrap();
/// assert_eq!(out.unwrap()?, "slept");
/// # Ok(()) }
/// ```
#[must_use = "dropping the handle detaches the task; it still runs"]
pub struct PoolHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for PoolHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolHandle").finish_non_exhaustive()
    }
}

/// A connected handle and completer.
pub(super) fn pair<T>() -> (PoolHandle<T>, Completer<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Running(None)),
        done: Condvar::new(),
    });
    (
        PoolHandle {
            shared: shared.clone(),
        },
        Completer { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Completer<T> {
    /// Hands the task's outcome to the handle and wakes whoever waits for it.
    pub fn complete(self, outcome: Result<T, PoolError>) {
        let waker = {
            let mut slot = self.shared.lock();
            match std::mem::replace(&mut *slot, Slot::Done(outcome)) {
                Slot::Running(waker) => waker,
                _ => None,
            }
        };
        self.shared.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> PoolHandle<T> {
    /// Blocks the thread until the task ends. Inside a pool task, `.await` the handle
    /// instead: blocking stops the worker's whole executor (its other tasks wait; the
    /// wake-ups it owes other workers go out by eventfd), and a task joined on its own
    /// worker never ends.
    ///
    /// # Errors
    /// [`PoolError::Panicked`] if it panicked, [`PoolError::ShutDown`] if the pool had shut
    /// down before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{PoolError, RingPool};
    /// let pool = RingPool::new(1)?;
    /// let ok = pool.spawn(|ring| async move { ring.nop().await.map(|()| "done") });
    /// assert_eq!(ok.join().unwrap()?, "done");
    /// let panicked = pool.spawn(|_ring| async { panic!("bad input") });
    /// assert_eq!(panicked.join(), Err::<(), _>(PoolError::Panicked("bad input".into())));
    /// # Ok(()) }
    /// ```
    pub fn join(self) -> Result<T, PoolError> {
        // On a worker, the wake-ups its executor would send go by eventfd while it blocks.
        crate::runtime::msg_wake::blocking(|| self.wait())
    }

    fn wait(self) -> Result<T, PoolError> {
        let mut slot = self.shared.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(outcome) => return outcome,
                running @ Slot::Running(_) => {
                    *slot = running;
                    slot = self
                        .shared
                        .done
                        .wait(slot)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Slot::Taken => unreachable!("join consumes the handle"),
            }
        }
    }

    /// Whether the task has ended.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let pool = safer_ring::RingPool::new(1)?;
    /// let (go, wait) = tokio::sync::oneshot::channel::<()>(); // a future on any executor
    /// let handle = pool.spawn(move |_ring| async move { wait.await.is_ok() });
    /// assert!(!handle.is_finished()); // waiting for `go`
    /// go.send(()).unwrap();
    /// while !handle.is_finished() {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert!(handle.join().unwrap()); // at once: it has ended
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        matches!(*self.shared.lock(), Slot::Done(_))
    }
}

impl<T> Future for PoolHandle<T> {
    type Output = Result<T, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Wakers are cloned and dropped outside the lock (user code).
        let fresh = cx.waker().clone();
        let replaced;
        {
            let mut slot = self.shared.lock();
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(outcome) => return Poll::Ready(outcome),
                Slot::Running(current) => {
                    *slot = Slot::Running(Some(fresh));
                    replaced = current;
                }
                Slot::Taken => panic!("PoolHandle polled after it returned its output"),
            }
        }
        drop(replaced);
        Poll::Pending
    }
}
