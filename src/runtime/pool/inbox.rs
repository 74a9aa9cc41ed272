//! [`Inbox`]: the jobs other threads hand one worker, and the waker that wakes it — the
//! worker's ring sleeps in `io_uring_enter`, and the waker (the executor's) signals the
//! eventfd the ring polls, or, called on another worker, posts it an `IORING_OP_MSG_RING`.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::Waker;

use super::worker::TaskEnd;

/// A job for a worker: given the worker's ring on its thread and the task's bookkeeping
/// (dropped when the task ends), makes the task to run there (running no user code until the
/// task is first polled).
pub(super) type Job =
    Box<dyn FnOnce(Rc<crate::Ring>, TaskEnd) -> std::pin::Pin<Box<dyn Future<Output = ()>>> + Send>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    waker: Option<Waker>,
    closed: bool,
}

/// One worker's queue of jobs.
#[derive(Default)]
pub(super) struct Inbox {
    state: Mutex<State>,
}

/// What the worker found in its inbox.
pub(super) struct Taken {
    pub jobs: VecDeque<Job>,
    pub closed: bool,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` and wakes the worker; the job comes back if the inbox is closed.
    pub fn push(&self, job: Job) -> Result<(), Job> {
        let waker = {
            let mut state = self.lock();
            if state.closed {
                return Err(job);
            }
            state.jobs.push_back(job);
            state.waker.take()
        };
        // Woken outside the lock: a waker is user code to this module.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Refuses further jobs and wakes the worker (it finishes what it has, then stops).
    pub fn close(&self) {
        let waker = {
            let mut state = self.lock();
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Takes every queued job and keeps `waker` to wake at the next push.
    /// (The waker is cloned, and the one it replaces dropped, outside the lock.)
    pub fn take(&self, waker: &Waker) -> Taken {
        let fresh = waker.clone();
        let (taken, replaced) = {
            let mut state = self.lock();
            // Kept even when there are jobs: they are all taken now, so the next push must
            // wake the worker.
            let replaced = if state.closed {
                Some(fresh)
            } else {
                state.waker.replace(fresh)
            };
            let taken = Taken {
                jobs: std::mem::take(&mut state.jobs),
                closed: state.closed,
            };
            (taken, replaced)
        };
        drop(replaced);
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::{Inbox, Job};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn job() -> Job {
        Box::new(|_ring, _end| Box::pin(async {}))
    }

    #[test]
    fn a_push_after_a_take_that_found_jobs_still_wakes_the_worker() {
        let inbox = Inbox::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(inbox.push(job()).is_ok());
        assert_eq!(inbox.take(&waker).jobs.len(), 1);
        assert!(inbox.push(job()).is_ok());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the worker must hear of it"
        );
        inbox.close();
        assert!(inbox.push(job()).is_err(), "closed: the job comes back");
        let taken = inbox.take(&waker);
        assert!(taken.closed && taken.jobs.len() == 1);
    }
}
