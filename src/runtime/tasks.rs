//! Tasks of the built-in executor: [`spawn`] runs a future beside the one given to
//! [`Ring::block_on`](crate::Ring::block_on), on the same thread, so a server can run one task
//! per connection without another runtime.
//!
//! A task is polled only when its waker was called. Wakers work from any thread: they queue
//! the task's id and wake the executor (through the ring's wake-up eventfd if it sleeps).
//! When the `block_on` future finishes, tasks still running are dropped: their in-flight
//! operations park in the ring and are cancelled, as any dropped operation (invariant 3), and
//! their [`JoinHandle`]s resolve to `Err(`[`JoinError`]`)`.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use super::block_on::Notify;

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The id of the `block_on` future itself (never a slab index).
const ROOT: usize = usize::MAX;

/// Ids of tasks woken since the executor last looked; filled from any thread.
struct ReadyQueue {
    ids: Mutex<Vec<usize>>,
    /// Set after pushing to `ids`, so the executor takes the lock only when there is work.
    pending: AtomicBool,
    notify: Arc<Notify>,
}

/// A task's waker: queues its id once until the task is polled again.
struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.queue_if_local() {
            // On the executor's own thread (a completion, another task): queued without a
            // lock, and the executor is running, not asleep, so no eventfd signal is needed.
            self.ready.notify.wake_from_executor();
            return;
        }
        // The root is not queued by id: its `queued` flag is checked every turn.
        if self.id != ROOT {
            let mut ids = self
                .ready
                .ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ids.push(self.id);
            drop(ids);
            self.ready.pending.store(true, Ordering::Release);
        }
        self.ready.notify.wake_by_ref();
    }
}

impl TaskWaker {
    /// If this task's set is running on this thread (the waker is called by the executor's
    /// own thread), queues the task in the set's lock-free local queue and returns `true`.
    fn queue_if_local(&self) -> bool {
        CURRENT.with(|current| match &*current.borrow() {
            Some(tasks) if Arc::ptr_eq(&tasks.ready, &self.ready) => {
                // The root is not queued by id: its `queued` flag is checked every turn.
                if self.id != ROOT {
                    tasks.local.borrow_mut().push(self.id);
                }
                true
            }
            _ => false,
        })
    }
}

struct Task {
    future: RefCell<Option<BoxFuture>>,
    state: Arc<TaskWaker>,
    waker: Waker,
}

/// The two queues of woken tasks.
#[derive(Clone, Copy)]
enum Queue {
    Local,
    Shared,
}

/// The tasks of one `block_on` call.
pub(crate) struct TaskSet {
    slab: RefCell<Vec<Option<Rc<Task>>>>,
    free: RefCell<Vec<usize>>,
    ready: Arc<ReadyQueue>,
    /// Ids woken on this thread (see [`TaskWaker::queue_if_local`]).
    local: RefCell<Vec<usize>>,
    /// Ids being run this turn (swapped with the queues, so no allocation per turn).
    running: RefCell<Vec<usize>>,
    root: Arc<TaskWaker>,
    /// A `block_on` is running these tasks.
    active: Cell<bool>,
}

impl TaskSet {
    pub fn new(notify: Arc<Notify>) -> Self {
        let ready = Arc::new(ReadyQueue {
            ids: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            notify,
        });
        let root = Arc::new(TaskWaker {
            id: ROOT,
            queued: AtomicBool::new(false),
            ready: ready.clone(),
        });
        Self {
            slab: RefCell::default(),
            free: RefCell::default(),
            ready,
            local: RefCell::default(),
            running: RefCell::default(),
            root,
            active: Cell::new(false),
        }
    }

    /// Whether a `block_on` is running this set.
    pub fn is_active(&self) -> bool {
        self.active.get()
    }

    /// Drops every task (their in-flight operations park in the ring) and forgets queued
    /// wake-ups, keeping the allocations for the next `block_on`.
    fn clear(&self) {
        // One at a time, with nothing borrowed: dropping a task runs user code. (A `while let`
        // would keep the `RefMut` of its scrutinee alive through the body.)
        loop {
            let task = self.slab.borrow_mut().pop();
            match task {
                Some(task) => drop(task),
                None => break,
            }
        }
        self.free.borrow_mut().clear();
        self.local.borrow_mut().clear();
        self.ready
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.root.queued.store(false, Ordering::Release);
    }

    /// The waker of the `block_on` future; it starts out woken.
    pub fn root_waker(&self) -> Waker {
        let waker = Waker::from(self.root.clone());
        waker.wake_by_ref();
        waker
    }

    fn insert(&self, future: BoxFuture) {
        let id = self
            .free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| self.slab.borrow().len());
        let state = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        let task = Rc::new(Task {
            future: RefCell::new(Some(future)),
            waker: Waker::from(state.clone()),
            state,
        });
        let mut slab = self.slab.borrow_mut();
        match slab.get_mut(id) {
            Some(entry) => *entry = Some(task.clone()),
            None => slab.push(Some(task.clone())),
        }
        drop(slab);
        task.waker.wake_by_ref();
    }

    /// Polls every task woken since the last call; returns whether the root was woken.
    pub fn run_woken(&self) -> bool {
        if !self.local.borrow().is_empty() {
            self.run_queue(Queue::Local);
        }
        // A push whose flag is not set yet is taken next turn: its waker then wakes the
        // executor, so it does not sleep first.
        if self.ready.pending.load(Ordering::Relaxed)
            && self.ready.pending.swap(false, Ordering::Acquire)
        {
            self.run_queue(Queue::Shared);
        }
        self.root.queued.load(Ordering::Relaxed) && self.root.queued.swap(false, Ordering::AcqRel)
    }

    /// Polls the tasks in `queue`; tasks woken while they run are polled next turn.
    fn run_queue(&self, queue: Queue) {
        let mut running = self.running.take();
        match queue {
            Queue::Local => std::mem::swap(&mut running, &mut self.local.borrow_mut()),
            Queue::Shared => std::mem::swap(
                &mut running,
                &mut self
                    .ready
                    .ids
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            ),
        }
        for &id in &running {
            self.poll_task(id);
        }
        running.clear();
        *self.running.borrow_mut() = running;
    }

    fn poll_task(&self, id: usize) {
        // A stale id (task finished, maybe replaced) costs at most a spurious poll.
        let Some(task) = self.slab.borrow().get(id).cloned().flatten() else {
            return;
        };
        task.state.queued.store(false, Ordering::Release);
        let mut slot = task.future.borrow_mut();
        let Some(future) = slot.as_mut() else { return };
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&task.waker))
            .is_ready()
        {
            *slot = None;
            drop(slot);
            self.slab.borrow_mut()[id] = None;
            self.free.borrow_mut().push(id);
        }
    }
}

thread_local! {
    /// The task set of the innermost `block_on` running on this thread.
    static CURRENT: RefCell<Option<Rc<TaskSet>>> = const { RefCell::new(None) };
}

/// Whether a `block_on` is running on this thread (so [`spawn`] may be called).
pub(crate) fn is_running() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

/// Makes `tasks` the target of [`spawn`] until dropped; then drops the tasks still running
/// and restores the outer target.
pub(crate) struct Enter {
    tasks: Rc<TaskSet>,
    outer: Option<Rc<TaskSet>>,
}

impl Enter {
    pub fn new(tasks: Rc<TaskSet>) -> Self {
        tasks.active.set(true);
        let outer = CURRENT.with(|current| current.replace(Some(tasks.clone())));
        Self { tasks, outer }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|current| current.replace(self.outer.take()));
        self.tasks.clear();
        self.tasks.active.set(false);
    }
}

/// Runs `future` as a task of the [`Ring::block_on`](crate::Ring::block_on) running on this
/// thread, and returns a handle to await its output.
///
/// Tasks run while that `block_on` runs; when its future finishes, tasks still running are
/// dropped (their in-flight operations are cancelled safely), and their handles resolve to
/// `Err(`[`JoinError`]`)`. Dropping the handle detaches the task. A task that panics unwinds
/// out of `block_on`, like the future given to it.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Ring, spawn};
/// let ring = std::rc::Rc::new(Ring::new(8)?);
/// let sum = ring.block_on(async {
///     let tasks: Vec<_> = (1..=3u64)
///         .map(|i| {
///             let ring = ring.clone();
///             spawn(async move {
///                 ring.nop().await.unwrap();
///                 i
///             })
///         })
///         .collect();
///     let mut sum = 0;
///     for task in tasks {
///         sum += task.await.expect("finished before block_on returned");
///     }
///     sum
/// });
/// assert_eq!(sum, 6);
/// # Ok(()) }
/// ```
///
/// A handle that outlives its `block_on` reports that the task was dropped:
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Ring, spawn};
/// let ring = Ring::new(8)?;
/// let handle = ring.block_on(async { spawn(std::future::pending::<()>()) });
/// let err = ring.block_on(handle).unwrap_err();
/// assert!(err.to_string().contains("dropped"));
/// # Ok(()) }
/// ```
///
/// # Panics
/// If no `Ring::block_on` is running on this thread.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let tasks = CURRENT
        .with(|current| current.borrow().clone())
        .expect("safer_ring::spawn called outside Ring::block_on: spawn tasks from inside it");
    let join = Rc::new(JoinState {
        outcome: RefCell::new(Outcome::Running),
        waiter: RefCell::new(None),
    });
    let completion = Completion {
        state: join.clone(),
    };
    tasks.insert(Box::pin(async move {
        let output = future.await;
        completion.finish(output);
    }));
    JoinHandle { state: join }
}

/// Why a [`JoinHandle`] has no output: its task was dropped before it finished, because the
/// [`Ring::block_on`](crate::Ring::block_on) running it returned first (or the task
/// panicked).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// // The task never finishes, so `block_on` returns first and drops it.
/// let handle = ring.block_on(async { safer_ring::spawn(std::future::pending::<()>()) });
/// let err: safer_ring::JoinError = ring.block_on(handle).unwrap_err();
/// assert!(err.to_string().contains("dropped before it finished"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinError {}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "task was dropped before it finished: the Ring::block_on running it returned \
             first (or the task panicked)",
        )
    }
}

impl std::error::Error for JoinError {}

/// Where a task stands, as its handle sees it.
enum Outcome<T> {
    Running,
    Finished(T),
    /// Dropped before it finished.
    Dropped,
    /// The handle has returned the output (or the error).
    Taken,
}

struct JoinState<T> {
    outcome: RefCell<Outcome<T>>,
    waiter: RefCell<Option<Waker>>,
}

impl<T> JoinState<T> {
    /// Records how the task ended and wakes the handle's waiter, outside every borrow (the
    /// waker is user code and may poll the handle).
    fn settle(&self, outcome: Outcome<T>) {
        *self.outcome.borrow_mut() = outcome;
        let waiter = self.waiter.borrow_mut().take();
        if let Some(waker) = waiter {
            waker.wake();
        }
    }
}

/// Owned by the task's future: reports its output, or, dropped with the task before it
/// finished, that it never will.
struct Completion<T> {
    state: Rc<JoinState<T>>,
}

impl<T> Completion<T> {
    fn finish(self, output: T) {
        self.state.settle(Outcome::Finished(output));
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        let running = matches!(*self.state.outcome.borrow(), Outcome::Running);
        if running {
            self.state.settle(Outcome::Dropped);
        }
    }
}

/// The output of a task started with [`spawn`]; a future of `Ok(output)`, or
/// `Err(`[`JoinError`]`)` if the task was dropped before it finished (its `block_on`
/// returned first). Dropping the handle detaches the task.
///
/// # Panics
/// Polled again after it returned `Ready`.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::rc::Rc;
/// let ring = Rc::new(safer_ring::Ring::new(4)?);
/// let out = ring.block_on(async {
///     let handle = safer_ring::spawn({
///         let ring = ring.clone();
///         async move { ring.nop().await.map(|()| 42) }
///     });
///     handle.await.expect("ran to the end")
/// })?;
/// assert_eq!(out, 42);
/// # Ok(()) }
/// ```
#[must_use = "dropping a JoinHandle detaches the task"]
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    /// Whether the task has ended — finished, or dropped unfinished (awaiting the handle
    /// then returns at once).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// let ring = Rc::new(safer_ring::Ring::new(4)?);
    /// ring.block_on(async {
    ///     let handle = safer_ring::spawn({
    ///         let ring = ring.clone();
    ///         async move { ring.nop().await }
    ///     });
    ///     assert!(!handle.is_finished()); // spawned, not run yet
    ///     ring.sleep(Duration::from_millis(1)).await?; // the task runs meanwhile
    ///     assert!(handle.is_finished());
    ///     handle.await.expect("it finished")
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(*self.state.outcome.borrow(), Outcome::Running)
    }

    /// Queues `waker` as the one to wake when the task ends, unless the queued one would wake
    /// the same task; cloned and dropped outside the borrow (wakers are user code).
    fn register(&self, waker: &Waker) {
        let same = self
            .state
            .waiter
            .borrow()
            .as_ref()
            .is_some_and(|queued| queued.will_wake(waker));
        if !same {
            let waker = waker.clone();
            let old = self.state.waiter.borrow_mut().replace(waker);
            drop(old);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = std::mem::replace(&mut *self.state.outcome.borrow_mut(), Outcome::Taken);
        match outcome {
            Outcome::Finished(output) => Poll::Ready(Ok(output)),
            Outcome::Dropped => Poll::Ready(Err(JoinError {})),
            Outcome::Taken => panic!("JoinHandle polled after it returned its output"),
            Outcome::Running => {
                *self.state.outcome.borrow_mut() = Outcome::Running;
                self.register(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
