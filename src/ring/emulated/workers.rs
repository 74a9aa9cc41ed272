//! The emulated backend's worker threads, its completion queue, and the requests in flight
//! that a cancel finds.
#![allow(unsafe_code)] // running an SQE (`exec::run`) on the core's contract

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use io_uring::opcode;

use super::exec::{self, Interrupt, OpState, Outcome};
use super::reactor::{Parked, Reactor};
use super::sqe::{Sqe, flags};
use super::{CQE_F_MORE, POLL_ADD_MULTI, breaks_link};
use crate::ring::slots::CqeResult;

/// Most worker threads one ring starts (each blocks in one wait at a time).
const MAX_THREADS: usize = 1024;
/// Workers per core that may run (not wait on a socket, pipe or timer) at once, as io-wq
/// bounds its workers for storage: more only add switching.
const RUNNING_PER_CORE: usize = 4;
/// A worker's stack: the system calls it makes need little.
const STACK: usize = 128 << 10;

/// A request in flight, as a cancel finds it: by `user_data` or by fd.
pub(super) struct InFlight {
    user_data: u64,
    fd: i32,
    state: Arc<OpState>,
}

/// A chain of SQEs run in order by one worker (one SQE when nothing links).
pub(super) struct Job {
    chain: Vec<Sqe>,
    states: Vec<Arc<OpState>>,
}

impl Job {
    /// Whether it waits for everything submitted before it (`IOSQE_IO_DRAIN`).
    pub fn drains(&self) -> bool {
        self.chain[0].drains()
    }
}

#[derive(Default)]
struct Pool {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
    /// Workers waiting on a socket, pipe or timer ([`Workers::block`]).
    blocked: usize,
    handles: Vec<std::thread::JoinHandle<()>>,
    shut_down: bool,
}

/// What the ring thread and the workers share.
pub(super) struct Workers {
    /// Signalled whenever a CQE is posted: the ring fd's stand-in for outside reactors.
    notify: OwnedFd,
    cq: Mutex<VecDeque<(u64, CqeResult)>>,
    cq_posted: Condvar,
    pool: Mutex<Pool>,
    job_ready: Condvar,
    /// By the address of their state: found and removed in O(1) as each completes.
    in_flight: Mutex<HashMap<usize, InFlight>>,
    /// Multishot polls between two arms (re-armed at the ring's next enter).
    parked: Mutex<Vec<(Sqe, Arc<OpState>)>>,
    /// Jobs dispatched and not finished; whether one of them drains.
    active: AtomicUsize,
    draining: AtomicBool,
    /// What the ring registered.
    pub tables: super::Tables,
    /// Where requests wait for readiness without a thread (started on first use).
    reactor: Mutex<Option<Arc<Reactor>>>,
    /// Most workers running at once (see [`RUNNING_PER_CORE`]).
    max_running: usize,
}

/// A worker waiting on a socket, pipe or timer (see [`Workers::block`]); it runs again
/// when this drops.
pub(super) struct Blocked<'a>(&'a Workers);

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        lock(&self.0.pool).blocked -= 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Workers {
    pub fn new() -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            notify: crate::sys::eventfd()?,
            cq: Mutex::default(),
            cq_posted: Condvar::new(),
            pool: Mutex::default(),
            job_ready: Condvar::new(),
            in_flight: Mutex::default(),
            parked: Mutex::default(),
            active: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            tables: super::Tables::default(),
            reactor: Mutex::default(),
            max_running: RUNNING_PER_CORE
                * std::thread::available_parallelism().map_or(1, |n| n.get()),
        }))
    }

    pub fn notify_fd(&self) -> RawFd {
        self.notify.as_raw_fd()
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    pub fn drain_running(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Makes `chain` a job whose requests cancels can find from now on.
    pub fn register(&self, chain: Vec<Sqe>) -> Job {
        let states: Vec<Arc<OpState>> = chain.iter().map(|_| Arc::default()).collect();
        let mut in_flight = lock(&self.in_flight);
        for (sqe, state) in chain.iter().zip(&states) {
            let (user_data, fd, state) = (sqe.user_data, sqe.fd, state.clone());
            in_flight.insert(
                Arc::as_ptr(&state) as usize,
                InFlight {
                    user_data,
                    fd,
                    state,
                },
            );
        }
        drop(in_flight);
        Job { chain, states }
    }

    /// Queues `job` for a worker, starting one if none is idle.
    pub fn dispatch(self: &Arc<Self>, job: Job) {
        self.active.fetch_add(1, Ordering::SeqCst);
        if job.drains() {
            self.draining.store(true, Ordering::SeqCst);
        }
        let mut pool = lock(&self.pool);
        pool.jobs.push_back(job);
        if pool.jobs.len() > pool.idle {
            self.spawn_if_room(&mut pool);
        }
        drop(pool);
        self.job_ready.notify_one();
    }

    /// Starts a worker unless enough run already (or the thread limit is reached).
    fn spawn_if_room(self: &Arc<Self>, pool: &mut Pool) {
        let running = pool.threads - pool.blocked;
        if running >= self.max_running || pool.threads >= MAX_THREADS {
            return;
        }
        let me = self.clone();
        let started = std::thread::Builder::new()
            .name("safer-ring-fallback".into())
            .stack_size(STACK)
            .spawn(move || me.work());
        if let Ok(handle) = started {
            pool.threads += 1;
            pool.handles.push(handle);
        }
    }

    /// Marks the calling worker as waiting (on a socket, pipe or timer, for as long as the
    /// peer takes) until the guard drops; starts another worker if jobs are queued and none
    /// is idle, so no job waits behind a wait (a send behind the receive that needs it).
    pub fn block(self: &Arc<Self>) -> Blocked<'_> {
        let mut pool = lock(&self.pool);
        pool.blocked += 1;
        if !pool.jobs.is_empty() && pool.idle == 0 {
            self.spawn_if_room(&mut pool);
        }
        Blocked(self)
    }

    /// A worker: takes jobs until the ring is gone.
    fn work(self: Arc<Self>) {
        while let Some(job) = self.next_job() {
            let drains = job.drains();
            if !self.run(job) {
                self.job_done(drains);
            }
        }
    }

    /// A job ended (its last CQE posted): a held chain may start now.
    pub fn job_done(&self, drains: bool) {
        if drains {
            self.draining.store(false, Ordering::SeqCst);
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.wake_ring();
    }

    /// The ring's reactor, started if it is not yet.
    pub fn reactor(self: &Arc<Self>) -> io::Result<Arc<Reactor>> {
        let mut reactor = lock(&self.reactor);
        if let Some(running) = reactor.as_ref() {
            return Ok(running.clone());
        }
        let started = Reactor::start(self)?;
        *reactor = Some(started.clone());
        Ok(started)
    }

    fn next_job(&self) -> Option<Job> {
        let mut pool = lock(&self.pool);
        loop {
            if let Some(job) = pool.jobs.pop_front() {
                return Some(job);
            }
            if pool.shut_down {
                pool.threads -= 1;
                return None;
            }
            pool.idle += 1;
            pool = self.job_ready.wait(pool).unwrap_or_else(|p| p.into_inner());
            pool.idle -= 1;
        }
    }

    /// Runs a chain: each SQE in turn (a linked timeout bounds the one before it); after a
    /// soft link breaks, the rest complete `-ECANCELED`. A job of one SQE that must wait
    /// for readiness is parked in the reactor instead: `true` then (it ends there).
    fn run(self: &Arc<Self>, job: Job) -> bool {
        let may_park = job.chain.len() == 1;
        let mut broken = false;
        let mut i = 0;
        while i < job.chain.len() {
            let (sqe, state) = (&job.chain[i], &job.states[i]);
            let timer = job
                .chain
                .get(i + 1)
                .filter(|s| s.opcode == opcode::LinkTimeout::CODE);
            // SAFETY: the timespec a linked timeout names is kept by its submitter until its
            // CQE (invariant 1), which is posted after this read.
            let deadline = timer.and_then(|t| unsafe { exec::link_deadline(t) });
            let cancelled = || state.is_cancelled();
            let skipped = broken || cancelled();
            let (res, cqe_flags) = if skipped {
                (-libc::ECANCELED, 0)
            } else {
                let intr = Interrupt {
                    state,
                    deadline,
                    workers: self,
                };
                // SAFETY: the core pushed this SQE under `Kernel::push`'s contract: its
                // memory and fds stay valid until its final CQE, which is posted below,
                // after the call returned (invariants 1–6).
                let outcome = unsafe { exec::run(sqe, &intr, &self.tables, may_park) };
                state.disarm();
                match outcome {
                    Outcome::Done(res, flags) => (res, flags),
                    Outcome::Waiting(waiting) => match self.reactor() {
                        Ok(reactor) => {
                            let (state, drains) = (state.clone(), job.drains());
                            reactor.park(Parked {
                                waiting,
                                state,
                                drains,
                            });
                            return true;
                        }
                        // No reactor (out of fds or threads): it waits on this worker.
                        // SAFETY: as above.
                        Err(_) => unsafe { exec::wait_here(waiting, &intr, &self.tables) },
                    },
                }
            };
            let more = self.finish(sqe, state, res, cqe_flags);
            if let Some(timer) = timer {
                let ended_by_deadline = res == -libc::ECANCELED && !cancelled();
                let fired = !skipped && deadline.is_some() && ended_by_deadline;
                let timer_res = if fired {
                    -libc::ETIME
                } else {
                    -libc::ECANCELED
                };
                self.complete(timer, &job.states[i + 1], timer_res, 0);
                i += 1;
            }
            let soft = sqe.flags & flags::IO_HARDLINK == 0;
            broken |= soft && !more && breaks_link(sqe, res);
            i += 1;
        }
        false
    }

    /// Posts `sqe`'s CQE: a multishot poll that fired is parked to be armed again (its CQE
    /// says more follow), unless a cancel came first. Returns whether it was parked.
    pub fn finish(&self, sqe: &Sqe, state: &Arc<OpState>, res: i32, cqe_flags: u32) -> bool {
        let multishot = sqe.opcode == opcode::PollAdd::CODE && sqe.len & POLL_ADD_MULTI != 0;
        if multishot && res >= 0 {
            let mut parked = lock(&self.parked);
            if !state.is_cancelled() {
                self.post(sqe.user_data, res, CQE_F_MORE);
                parked.push((*sqe, state.clone()));
                return true;
            }
            drop(parked);
            self.complete(sqe, state, -libc::ECANCELED, 0);
            return false;
        }
        self.complete(sqe, state, res, cqe_flags);
        false
    }

    /// Posts the final CQE of `sqe` (unless `IOSQE_CQE_SKIP_SUCCESS` skips a success),
    /// after it left the in-flight list: its `user_data` may be reused at once.
    fn complete(&self, sqe: &Sqe, state: &Arc<OpState>, res: i32, cqe_flags: u32) {
        lock(&self.in_flight).remove(&(Arc::as_ptr(state) as usize));
        if res >= 0 && sqe.flags & flags::CQE_SKIP_SUCCESS != 0 {
            return;
        }
        self.post(sqe.user_data, res, cqe_flags);
    }

    /// Posts the CQE of an SQE completed on the ring's thread (never in flight).
    pub fn post_now(&self, sqe: &Sqe, res: i32) {
        if res < 0 || sqe.flags & flags::CQE_SKIP_SUCCESS == 0 {
            self.post(sqe.user_data, res, 0);
        }
    }

    fn post(&self, user_data: u64, res: i32, flags: u32) {
        lock(&self.cq).push_back((user_data, CqeResult { res, flags }));
        self.wake_ring();
    }

    /// Wakes the ring's thread if it waits for CQEs, and outside reactors polling the fd.
    fn wake_ring(&self) {
        self.cq_posted.notify_all();
        crate::sys::eventfd_signal(self.notify.as_raw_fd());
    }

    /// Runs an `IORING_OP_ASYNC_CANCEL` at once: marks the requests it names cancelled,
    /// interrupts the waits of those running, completes parked multishot polls, and posts
    /// its own CQE (how many it found with `ALL`/`ANY`, else 0, or `-ENOENT`).
    pub fn cancel(&self, sqe: &Sqe) {
        const ALL: u32 = 1 << 0;
        const FD: u32 = 1 << 1;
        const ANY: u32 = 1 << 2;
        let how = sqe.op_flags;
        let matches = |f: &InFlight| match () {
            _ if how & ANY != 0 => true,
            _ if how & FD != 0 => f.fd == sqe.fd,
            _ => f.user_data == sqe.addr,
        };
        let mut parked = lock(&self.parked);
        let mut found = Vec::new();
        for f in lock(&self.in_flight).values().filter(|f| matches(f)) {
            found.push(f.state.clone());
            if how & (ALL | ANY) == 0 {
                break;
            }
        }
        for state in &found {
            state.cancel();
        }
        if let Some(reactor) = lock(&self.reactor).as_ref() {
            for state in &found {
                reactor.cancel(state);
            }
        }
        let (done, kept): (Vec<_>, Vec<_>) = parked
            .drain(..)
            .partition(|(_, s)| found.iter().any(|f| Arc::ptr_eq(f, s)));
        *parked = kept;
        drop(parked);
        for (poll, state) in done {
            self.complete(&poll, &state, -libc::ECANCELED, 0);
        }
        let res = match found.len() {
            0 => -libc::ENOENT,
            n if how & (ALL | ANY) != 0 => n as i32,
            _ => 0,
        };
        self.post(sqe.user_data, res, 0);
    }

    /// Arms again every parked multishot poll.
    pub fn rearm_multishot(self: &Arc<Self>) {
        let parked = std::mem::take(&mut *lock(&self.parked));
        for (sqe, state) in parked {
            self.dispatch(Job {
                chain: vec![sqe],
                states: vec![state],
            });
        }
    }

    /// Waits until `min` CQEs are queued; `ETIME` at `deadline`.
    pub fn wait_for_cqes(&self, min: usize, deadline: Option<Instant>) -> io::Result<()> {
        let mut cq = lock(&self.cq);
        while cq.len() < min {
            cq = match deadline {
                None => self.cq_posted.wait(cq).unwrap_or_else(|p| p.into_inner()),
                Some(at) => {
                    let Some(left) = at.checked_duration_since(Instant::now()) else {
                        return Err(io::Error::from_raw_os_error(libc::ETIME));
                    };
                    let (cq, _) = self
                        .cq_posted
                        .wait_timeout(cq, left)
                        .unwrap_or_else(|p| p.into_inner());
                    cq
                }
            };
        }
        Ok(())
    }

    /// Hands every queued CQE to `f`, in order.
    pub fn drain_cqes(&self, mut f: impl FnMut(u64, CqeResult)) {
        let cqes = std::mem::take(&mut *lock(&self.cq));
        for (user_data, res) in cqes {
            f(user_data, res);
        }
    }

    /// Lets the workers exit, and waits for them (so nothing of the ring, its eventfd
    /// included, outlives it). The ring's drop waited for every CQE first (invariant 5), so
    /// their jobs are done but for the bookkeeping after the last CQE: given a second for
    /// that. A job still running then (the drain timed out) keeps its worker, detached,
    /// which exits when it is done.
    pub fn shut_down(&self) {
        let handles = {
            let mut pool = lock(&self.pool);
            pool.shut_down = true;
            std::mem::take(&mut pool.handles)
        };
        self.job_ready.notify_all();
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while self.active() > 0 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let drained = self.active() == 0;
        if let Some(reactor) = lock(&self.reactor).as_ref() {
            reactor.stop(drained);
        }
        if drained {
            for handle in handles {
                let _ = handle.join();
            }
        }
    }
}
