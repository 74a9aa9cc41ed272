//! [`RingPool`]: rings on many cores — worker threads with a ring and executor each.
#![forbid(unsafe_code)]

mod handle;
mod inbox;
mod listen;
mod worker;

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

pub use handle::{PoolError, PoolHandle};
use inbox::{Inbox, Job};
use worker::Metrics;

use crate::error::Result;
use crate::{Ring, RingBuilder};

/// Which worker [`RingPool::spawn`] picks.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Placement, RingPool};
/// let pool = RingPool::builder().workers(2).placement(Placement::LeastLoaded).build()?;
/// let handle = pool.spawn(|ring| async move { ring.nop().await });
/// handle.join().unwrap()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// Each in turn.
    #[default]
    RoundRobin,
    /// The one with the fewest tasks handed to it and not yet ended, queued or running
    /// (ties: the lowest index).
    LeastLoaded,
}

/// What one worker has done, for spotting imbalance.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let pool = safer_ring::RingPool::new(2)?;
/// pool.spawn_on(1, |ring| async move { ring.nop().await }).join().unwrap()?;
/// let stats = pool.stats();
/// assert_eq!(stats.len(), 2);
/// assert_eq!((stats[1].spawned, stats[1].finished), (1, 1));
/// assert_eq!(stats[0].spawned, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Tasks handed to the worker.
    pub spawned: u64,
    /// Tasks that ended (finished or panicked); a task is counted here before its handle
    /// resolves.
    pub finished: u64,
    /// Tasks running now (started and not ended).
    pub live: usize,
    /// Operations its ring completed, as of the last task that ended there.
    pub ops_completed: u64,
    /// Operations in its ring's kernel queue, as of the last task that ended there.
    pub in_flight: usize,
    /// Wake-ups other workers sent its ring by `IORING_OP_MSG_RING`, as of the last task that
    /// ended there.
    pub msg_ring_wakes: u64,
}

/// Builds a [`RingPool`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Ring, RingPool};
/// let pool = RingPool::builder()
///     .workers(2)
///     .ring(Ring::builder().entries(64)) // how each worker's ring is built
///     .pin_cpus(false)
///     .msg_ring(true)
///     .build()?;
/// assert_eq!(pool.workers(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RingPoolBuilder {
    workers: usize,
    ring: RingBuilder,
    pin: bool,
    placement: Placement,
    msg_ring: bool,
}

impl RingPoolBuilder {
    /// Number of worker threads (default: the CPUs this process may use).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{RingPool, SaferRingError};
    /// let pool = RingPool::builder().workers(3).build()?;
    /// assert_eq!((pool.workers(), pool.stats().len()), (3, 3));
    /// let none = RingPool::builder().workers(0).build();
    /// assert!(matches!(none, Err(SaferRingError::InvalidArgument(_))));
    /// # Ok(()) }
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How each worker's ring is built (entries, flags, limits).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, RingPool};
    /// let pool = RingPool::builder().workers(2).ring(Ring::builder().entries(32)).build()?;
    /// let entries = pool.spawn(|ring| async move { ring.config().entries }).join().unwrap();
    /// assert_eq!(entries, 32);
    /// // A builder its ring refuses fails the pool's build (`sqpoll` with `defer_taskrun`).
    /// let sqpoll = Ring::builder().sqpoll(std::time::Duration::from_millis(1));
    /// assert!(RingPool::builder().workers(1).ring(sqpoll).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn ring(mut self, ring: RingBuilder) -> Self {
        self.ring = ring;
        self
    }

    /// Pins worker `i` to CPU `i` modulo the CPU count (default: no pinning).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// fn cpus_allowed() -> String {
    ///     let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    ///     let line = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
    ///     line.unwrap().trim().to_owned()
    /// }
    /// let pool = safer_ring::RingPool::builder().workers(2).pin_cpus(true).build()?;
    /// let on_worker_1 = pool.spawn_on(1, |_ring| async { cpus_allowed() }).join().unwrap();
    /// if cpus_allowed().starts_with("0-") {
    ///     // CPUs numbered from 0 (the pin is a hint: where it is refused, it is skipped).
    ///     assert_eq!(on_worker_1, "1");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn pin_cpus(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Whether a worker wakes another (a task spawned from one worker onto another) with
    /// `IORING_OP_MSG_RING` — a CQE posted in the other's ring, no syscall on the sender's
    /// side — where the kernel has it (5.18), instead of the eventfd write every other
    /// thread uses (default: on).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::RingPool;
    /// for on in [true, false] {
    ///     let pool = std::sync::Arc::new(RingPool::builder().workers(2).msg_ring(on).build()?);
    ///     // A task on worker 0 spawns one on worker 1 and awaits it: worker 1 is woken, by
    ///     // `IORING_OP_MSG_RING` from worker 0's ring or by an eventfd write.
    ///     let inner = pool.clone();
    ///     let out = pool
    ///         .spawn_on(0, move |_ring| async move {
    ///             inner.spawn_on(1, |ring| async move { ring.nop().await.is_ok() }).await
    ///         })
    ///         .join()
    ///         .unwrap();
    ///     assert_eq!(out, Ok(true));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn msg_ring(mut self, on: bool) -> Self {
        self.msg_ring = on;
        self
    }

    /// How `spawn` picks a worker (default: round-robin).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Placement, RingPool};
    /// let pool = RingPool::builder().workers(2).placement(Placement::RoundRobin).build()?;
    /// let handles: Vec<_> = (0..4).map(|_| pool.spawn(|_ring| async {})).collect();
    /// for handle in handles {
    ///     handle.join().unwrap();
    /// }
    /// let spawned: Vec<u64> = pool.stats().iter().map(|w| w.spawned).collect();
    /// assert_eq!(spawned, [2, 2]); // each in turn
    /// # Ok(()) }
    /// ```
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Starts the workers, each building its ring.
    ///
    /// # Errors
    /// The first worker's ring error (io_uring unavailable, memlock, ...) or a thread that
    /// could not start; no worker is left running.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{RingBuilder, RingPool, SaferRingError};
    /// let pool = RingPool::builder().workers(2).build()?;
    /// assert_eq!(pool.workers(), 2);
    /// // A worker's ring error is the build's error, and no worker is left running.
    /// let err = RingPool::builder().workers(2).ring(RingBuilder::default().entries(0)).build();
    /// assert!(matches!(err, Err(SaferRingError::InvalidArgument(_))));
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<RingPool> {
        if self.workers == 0 {
            return Err(crate::SaferRingError::InvalidArgument(
                "a ring pool needs at least one worker",
            ));
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let mut pool = RingPool {
            workers: Vec::with_capacity(self.workers),
            next: AtomicUsize::new(0),
            placement: self.placement,
        };
        for index in 0..self.workers {
            let cpu = self.pin.then_some(index % cpus);
            let worker = Worker::start(index, self.ring.clone(), cpu, self.msg_ring)?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }
}

/// One worker as the pool sees it.
struct Worker {
    inbox: Arc<Inbox>,
    metrics: Arc<Metrics>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    /// Starts worker `index`, waiting until its ring is built (or failed to be).
    fn start(index: usize, builder: RingBuilder, cpu: Option<usize>, msgs: bool) -> Result<Self> {
        let inbox = Arc::new(Inbox::default());
        let metrics = Arc::new(Metrics::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (thread_inbox, thread_metrics) = (inbox.clone(), metrics.clone());
        let thread = std::thread::Builder::new()
            .name(format!("safer-ring-{index}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = crate::sys::pin_to_cpu(cpu); // best effort: a hint
                }
                // Its executor takes wake-ups from other workers as MSG_RING messages.
                let built = builder.build().and_then(|ring| {
                    ring.accept_msg_wakes(ring.msg_target()?)?;
                    Ok(Rc::new(ring))
                });
                let ring = match built {
                    Ok(built) => built,
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                let _ = ready_tx.send(Ok(()));
                worker::run(&ring, msgs, &thread_inbox, &thread_metrics);
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                inbox,
                metrics,
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(crate::SaferRingError::os(
                "ring pool worker",
                std::io::Error::other("the worker thread died while building its ring"),
            )),
        }
    }

    /// Waits for the thread: every task ended, the ring dropped (which drains it,
    /// invariant 5).
    fn join(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Whether this is the worker's own thread.
    fn is_current(&self) -> bool {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
    }
}

/// Rings on many cores. N worker threads, each with its own ring and built-in
/// executor; [`RingPool::spawn`] runs a task on one of them from any thread and returns a
/// `Send` [`PoolHandle`] — so ring I/O works from tokio's multi-thread runtime, from
/// `std::thread`s, from anywhere.
///
/// A task is made on its worker: the closure given to `spawn` is `Send` and receives the
/// worker's ring (`Rc<Ring>`); the future it returns stays on that thread and need not be
/// `Send`, so it can hold operations, buffers and the ring itself.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::RingPool;
/// let pool = RingPool::new(2)?;
/// let handles: Vec<_> = (0..8u64)
///     .map(|i| pool.spawn(move |ring| async move {
///         ring.nop().await.unwrap();
///         i * i
///     }))
///     .collect();
/// let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// pool.shutdown(); // every task finished, every ring drained
/// # Ok(()) }
/// ```
///
/// `RingPool` is `Send + Sync`: share it (`Arc`) between threads or tokio tasks. Dropping it,
/// or [`shutdown`](Self::shutdown), stops taking tasks, waits for every running task to end
/// and drains every ring — it blocks the calling thread meanwhile, so from async code drop
/// the last handle inside `tokio::task::spawn_blocking`. Dropped by one of its own tasks, it
/// stops taking tasks without waiting (a worker cannot wait for itself): each worker ends
/// once its tasks have, its ring drained. `examples/tokio_multi.rs` shows the
/// whole pattern: tokio accepts, the pool does the socket I/O.
pub struct RingPool {
    workers: Vec<Worker>,
    next: AtomicUsize,
    placement: Placement,
}

impl std::fmt::Debug for RingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingPool")
            .field("workers", &self.workers.len())
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl RingPool {
    /// A pool of `workers` threads with default rings.
    ///
    /// # Errors
    /// As [`RingPoolBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::RingPool::new(2)?;
    /// assert_eq!(pool.workers(), 2);
    /// let n = pool.spawn(|ring| async move { ring.nop().await.map(|()| 1) }).join().unwrap()?;
    /// assert_eq!(n, 1);
    /// assert!(safer_ring::RingPool::new(0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn new(workers: usize) -> Result<Self> {
        Self::builder().workers(workers).build()
    }

    /// A builder with defaults: one worker per available CPU, default rings, round-robin.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    /// let pool = safer_ring::RingPool::builder().build()?; // the defaults
    /// assert_eq!(pool.workers(), cpus);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RingPoolBuilder {
        RingPoolBuilder {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            ring: Ring::builder(),
            pin: false,
            placement: Placement::default(),
            msg_ring: true,
        }
    }

    /// Number of workers.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::RingPool::new(3)?;
    /// assert_eq!(pool.workers(), 3);
    /// // `spawn_on` counts modulo the workers: 4 is worker 1.
    /// pool.spawn_on(4, |_ring| async {}).join().unwrap();
    /// assert_eq!(pool.stats()[1].spawned, 1);
    /// # Ok(()) }
    /// ```
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Runs a task on a worker picked by the pool's [`Placement`]: `make` is called there
    /// with the worker's ring and the future it returns runs there (it need not be `Send`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{File, RingPool};
    /// let pool = RingPool::new(2)?;
    /// let tmp = tempfile::NamedTempFile::new()?;
    /// std::fs::write(tmp.path(), b"on a worker")?;
    /// let path = tmp.path().to_owned(); // `Send`: moved into the closure
    /// let handle = pool.spawn(move |ring| async move {
    ///     // On the worker's thread: the future holds the ring, a `File`, a buffer (not `Send`).
    ///     let file = File::from(std::fs::File::open(&path)?);
    ///     let (n, mut buf) = ring.read_at(&file, Vec::with_capacity(32), 0).await;
    ///     buf.truncate(n?);
    ///     ring.sleep(Duration::from_millis(1)).await?;
    ///     Ok::<_, safer_ring::SaferRingError>(buf)
    /// });
    /// assert_eq!(handle.join().unwrap()?, b"on a worker");
    /// # Ok(()) }
    /// ```
    pub fn spawn<F, Fut>(&self, make: F) -> PoolHandle<Fut::Output>
    where
        F: FnOnce(Rc<Ring>) -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.spawn_on(self.pick(), make)
    }

    /// As [`spawn`](Self::spawn), on worker `worker` (modulo the number of workers).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::RingPool::new(2)?;
    /// let ids: Vec<_> = (0..2)
    ///     .map(|w| pool.spawn_on(w, |ring| async move { ring.id() }).join().unwrap())
    ///     .collect();
    /// assert_ne!(ids[0], ids[1]); // one ring per worker
    /// let again = pool.spawn_on(1, |ring| async move { ring.id() }).join().unwrap();
    /// assert_eq!(again, ids[1]); // the same worker, the same ring
    /// # Ok(()) }
    /// ```
    pub fn spawn_on<F, Fut>(&self, worker: usize, make: F) -> PoolHandle<Fut::Output>
    where
        F: FnOnce(Rc<Ring>) -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let worker = &self.workers[worker % self.workers.len()];
        let (handle, completer) = handle::pair();
        let job: Job = Box::new(move |ring, end| {
            Box::pin(async move {
                let output = worker::catching(make, ring).await;
                drop(end); // counted as finished before anyone can see it finished
                completer.complete(output);
            })
        });
        // Counted before it can start (and end), so `finished` never passes `spawned`.
        worker.metrics.spawned.fetch_add(1, Ordering::Relaxed);
        if worker.inbox.push(job).is_err() {
            worker.metrics.spawned.fetch_sub(1, Ordering::Relaxed);
            let (refused, completer) = handle::pair();
            completer.complete(Err(PoolError::ShutDown));
            return refused;
        }
        handle
    }

    fn pick(&self) -> usize {
        match self.placement {
            Placement::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
            Placement::LeastLoaded => (0..self.workers.len())
                .min_by_key(|&i| self.workers[i].metrics.load())
                .unwrap_or(0),
        }
    }

    /// What each worker has done so far, by index.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let pool = safer_ring::RingPool::new(2)?;
    /// let handle = pool.spawn_on(0, |ring| async move {
    ///     for _ in 0..3 {
    ///         ring.nop().await?;
    ///     }
    ///     Ok::<_, safer_ring::SaferRingError>(())
    /// });
    /// handle.join().unwrap()?;
    /// let stats = pool.stats();
    /// assert_eq!((stats[0].spawned, stats[0].finished, stats[0].live), (1, 1, 0));
    /// assert!(stats[0].ops_completed >= 3);
    /// assert_eq!(stats[1], safer_ring::WorkerStats::default()); // idle so far
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.workers
            .iter()
            .map(|w| {
                let m = &w.metrics;
                WorkerStats {
                    spawned: m.spawned.load(Ordering::Relaxed),
                    finished: m.finished.load(Ordering::Relaxed),
                    live: m.live.load(Ordering::Relaxed),
                    ops_completed: m.ops_completed.load(Ordering::Relaxed),
                    in_flight: m.in_flight.load(Ordering::Relaxed),
                    msg_ring_wakes: m.msg_ring_wakes.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Stops taking tasks, waits for every running task to end and drains every ring (what
    /// dropping the pool does, made explicit).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let pool = safer_ring::RingPool::new(2)?;
    /// let handle = pool.spawn(|ring| async move {
    ///     ring.sleep(Duration::from_millis(5)).await.is_ok()
    /// });
    /// pool.shutdown(); // returns once that task has ended and both rings are drained
    /// assert!(handle.is_finished());
    /// assert_eq!(handle.join(), Ok(true));
    /// # Ok(()) }
    /// ```
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for RingPool {
    fn drop(&mut self) {
        // Blocking here, this thread's wake-ups go by eventfd: a message would be a task of
        // this thread's executor, which cannot run until the drop returns.
        crate::runtime::msg_wake::blocking(|| {
            for worker in &self.workers {
                worker.inbox.close();
            }
            // Dropped by one of its own tasks, the pool cannot wait: not for its own thread
            // (which goes on once the task's turn returns), nor for the others (whose tasks
            // may be waiting for this one). Each worker drains its ring and ends by itself.
            if self.workers.iter().any(Worker::is_current) {
                return;
            }
            for worker in &self.workers {
                worker.join();
            }
        });
    }
}
