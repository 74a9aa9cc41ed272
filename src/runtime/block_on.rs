//! The built-in single-thread executor: polls one future and sleeps in `io_uring_enter`.
//!
//! While the future is pending the thread sleeps in the kernel until a completion arrives,
//! so an idle program uses no CPU. A waker called from another thread reaches the sleeping
//! thread through an eventfd that the ring polls (multishot `POLL_ADD`), so futures woken by
//! channels or thread pools work too.
#![forbid(unsafe_code)]

use std::future::IntoFuture;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake};

use super::msg_wake;
use super::tasks::{Enter, TaskSet};
use super::wake_flag::WakeFlag;
use crate::error::Result;
use crate::ring::{MsgTarget, Ring};

/// The executor's wake-up channel: a flag, plus an eventfd for when the thread sleeps — or,
/// for a wake-up from a thread whose ring can message this one, `IORING_OP_MSG_RING`.
pub(crate) struct Notify {
    flag: WakeFlag,
    fd: OwnedFd,
    /// Where a MSG_RING wake-up is sent (set for a ring pool's workers).
    msg: OnceLock<MsgTarget>,
}

impl Notify {
    /// A wake-up from the executor's own thread: it is running (even if between
    /// `begin_sleep` and `end_sleep`, it is inside its own turn), so no eventfd signal.
    pub(crate) fn wake_from_executor(&self) {
        let _ = self.flag.wake();
    }
}

impl AsFd for Notify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.flag.wake() {
            let by_message = self.msg.get().is_some_and(|to| msg_wake::send(to, self));
            if !by_message {
                self.signal();
            }
        }
    }
}

impl Notify {
    /// Signals the eventfd the sleeping executor's ring polls.
    pub(crate) fn signal(&self) {
        crate::sys::eventfd_signal(self.fd.as_raw_fd());
    }
}

/// The ring's executor state, created on first use of `block_on` and reused by later calls
/// (so a `block_on` per operation allocates nothing); kept in the ring as a layer.
struct ExecutorState {
    notify: Arc<Notify>,
    tasks: Rc<TaskSet>,
}

impl Ring {
    /// The wake-up channel and a task set for a `block_on` call: the ring's own, or a fresh
    /// set when the ring's is in use (a `block_on` nested in another on the same ring).
    fn executor(&self) -> Result<(Arc<Notify>, Rc<TaskSet>)> {
        if let Some(wake) = self.layer::<ExecutorState>() {
            let tasks = if wake.tasks.is_active() {
                Rc::new(TaskSet::new(wake.notify.clone()))
            } else {
                wake.tasks.clone()
            };
            return Ok((wake.notify.clone(), tasks));
        }
        let fd = crate::sys::eventfd().map_err(|e| crate::SaferRingError::os("block_on", e))?;
        let notify = Arc::new(Notify {
            flag: WakeFlag::new(),
            fd,
            msg: OnceLock::new(),
        });
        let tasks = Rc::new(TaskSet::new(notify.clone()));
        let state = ExecutorState {
            notify: notify.clone(),
            tasks: tasks.clone(),
        };
        drop(self.layer_or_init(|| state));
        Ok((notify, tasks))
    }

    /// Lets wake-ups of this ring's executor from threads whose ring can send
    /// `IORING_OP_MSG_RING` (see [`msg_wake`]) arrive as a message to `target`, this ring.
    pub(crate) fn accept_msg_wakes(&self, target: MsgTarget) -> Result<()> {
        let (notify, _) = self.executor()?;
        let _ = notify.msg.set(target);
        Ok(())
    }

    /// Runs `future` to completion on this thread, sleeping in `io_uring_enter` while it
    /// waits. Futures inside may `.await` any number of operations concurrently (join them),
    /// and start tasks with [`spawn`](crate::spawn) (a task per connection, say), which run
    /// until `future` finishes.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let n = ring.block_on(async {
    ///     let (n, _buf) = ring.write_at(&file, b"async".to_vec(), 0).await;
    ///     n
    /// })?;
    /// assert_eq!(n, 5);
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// If the wake-up eventfd cannot be created (out of fds) or `io_uring_enter` fails for a
    /// reason other than an interruption.
    pub fn block_on<F: IntoFuture>(&self, future: F) -> F::Output {
        let (notify, tasks) = self
            .executor()
            .unwrap_or_else(|e| panic!("block_on cannot start: {e}"));
        let _enter = Enter::new(tasks.clone());
        let waker = tasks.root_waker();
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future.into_future());
        loop {
            notify.flag.reset();
            if tasks.run_woken() {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            if let Err(e) = self.park(&notify) {
                panic!("block_on cannot wait: {e}");
            }
        }
    }

    /// Submits what the tasks queued and delivers completions; if nothing is woken, sleeps in
    /// the same `io_uring_enter` until a completion (or the wake-up eventfd) arrives.
    fn park(&self, notify: &Arc<Notify>) -> Result<()> {
        if !notify.flag.is_woken() {
            self.arm_wake_poll(notify)?;
        }
        // Wakers called during the turn on this thread find the executor running and only set
        // the flag; wakers on other threads see it asleep and signal the eventfd.
        let sleep = notify.flag.begin_sleep();
        let res = self.turn(sleep);
        notify.flag.end_sleep();
        let woke_by_fd = self.take_wake_cqes() > 0;
        if woke_by_fd {
            crate::sys::eventfd_drain(notify.fd.as_raw_fd());
        }
        res.map(drop)
    }
}
