//! The fallback's reactor: one thread and one `epoll` instance per ring holding every
//! request that waits for a socket or pipe to be ready, so an idle connection holds no
//! worker thread and no fd of its own. When an fd is ready, the reactor runs the next
//! attempt of each request waiting on it ([`attempt`]), posts the CQEs of those done, and
//! arms the fd again for the rest (`EPOLLONESHOT`: one wake-up per arming, never a storm).
//! The fd is removed from the epoll set before the last CQE naming it is posted, so the
//! submitter may close it (and the number be reused) as soon as it sees that CQE.
#![allow(unsafe_code)]

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::attempt::{Step, attempt, cancelled};
use super::exec::{OpState, Waiting};
use super::workers::Workers;

/// The epoll `data` of the reactor's own eventfd (fds are never negative).
const WAKE: u64 = u64::MAX;

/// A request parked here.
pub(super) struct Parked {
    pub waiting: Waiting,
    pub state: Arc<OpState>,
    /// Whether its job drains (`IOSQE_IO_DRAIN`): the workers' bookkeeping when it ends.
    pub drains: bool,
}

/// What other threads hand the reactor.
#[derive(Default)]
struct Inbox {
    parked: Vec<Parked>,
    /// Requests cancelled (by the address of their state).
    cancels: Vec<usize>,
    stop: bool,
}

/// The reactor of one ring: its epoll set, the eventfd that wakes it, its inbox.
pub(super) struct Reactor {
    epoll: OwnedFd,
    wake: OwnedFd,
    inbox: Mutex<Inbox>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn epoll_ctl(epoll: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: data };
    // SAFETY: `event` is a live local; the kernel copies it.
    if unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Reactor {
    /// A reactor and its thread, which runs until [`stop`](Self::stop).
    pub fn start(workers: &Arc<Workers>) -> io::Result<Arc<Self>> {
        // SAFETY: no pointers; the fd returned is new and ours.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd nobody else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let wake = crate::sys::eventfd()?;
        epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            wake.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE,
        )?;
        let reactor = Arc::new(Self {
            epoll,
            wake,
            inbox: Mutex::default(),
            thread: Mutex::new(None),
        });
        let (me, workers) = (reactor.clone(), workers.clone());
        let thread = std::thread::Builder::new()
            .name("safer-ring-reactor".into())
            .stack_size(256 << 10)
            .spawn(move || Waiters::default().run(&workers, &me))?;
        *lock(&reactor.thread) = Some(thread);
        Ok(reactor)
    }

    /// Parks `request` until its fd is ready.
    pub fn park(&self, request: Parked) {
        lock(&self.inbox).parked.push(request);
        crate::sys::eventfd_signal(self.wake.as_raw_fd());
    }

    /// Tells the reactor the request with this state was cancelled (it may not be here).
    pub fn cancel(&self, state: &Arc<OpState>) {
        lock(&self.inbox).cancels.push(Arc::as_ptr(state) as usize);
        crate::sys::eventfd_signal(self.wake.as_raw_fd());
    }

    /// Ends the thread once nothing waits here; joins it if `join`.
    pub fn stop(&self, join: bool) {
        lock(&self.inbox).stop = true;
        crate::sys::eventfd_signal(self.wake.as_raw_fd());
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread.filter(|_| join) {
            let _ = thread.join();
        }
    }
}

/// The reactor thread's own state: the requests parked, and by fd.
#[derive(Default)]
struct Waiters {
    parked: HashMap<usize, Parked>,
    /// Per fd: the requests waiting on it, and whether it is in the epoll set.
    by_fd: HashMap<RawFd, (Vec<usize>, bool)>,
    /// Timers, by when they fire.
    timers: BTreeSet<(Instant, usize)>,
}

impl Waiters {
    fn run(mut self, workers: &Workers, reactor: &Reactor) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut stopping = false;
        loop {
            let timeout = self.next_timer_ms();
            // SAFETY: `events` is a live buffer of that many entries.
            let n = unsafe {
                libc::epoll_wait(
                    reactor.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    timeout,
                )
            };
            for event in &events[..n.max(0) as usize] {
                match event.u64 {
                    WAKE => crate::sys::eventfd_drain(reactor.wake.as_raw_fd()),
                    fd => self.ready(workers, reactor, fd as RawFd, event.events),
                }
            }
            self.fire_timers(workers);
            let inbox = std::mem::take(&mut *lock(&reactor.inbox));
            for request in inbox.parked {
                self.add(workers, reactor, request);
            }
            for key in inbox.cancels {
                self.cancel(workers, reactor, key);
            }
            stopping |= inbox.stop;
            if stopping && self.parked.is_empty() {
                return;
            }
        }
    }

    /// Takes `request` in: ended at once if cancelled meanwhile, else its fd armed.
    fn add(&mut self, workers: &Workers, reactor: &Reactor, request: Parked) {
        let key = Arc::as_ptr(&request.state) as usize;
        let (fd, until) = (request.waiting.fd, request.waiting.until);
        let cancelled = request.state.is_cancelled();
        self.parked.insert(key, request);
        if let Some(at) = until {
            self.timers.insert((at, key));
            if cancelled {
                self.cancel(workers, reactor, key);
            }
            return;
        }
        self.by_fd.entry(fd).or_default().0.push(key);
        if cancelled {
            self.cancel(workers, reactor, key);
        } else {
            self.arm(workers, reactor, fd);
        }
    }

    /// Ends a cancelled request, if it is here. A key names a request by the address of its
    /// state, which a later request may reuse once the first ended: the state's own flag
    /// says whether the request here now is the one cancelled.
    fn cancel(&mut self, workers: &Workers, reactor: &Reactor, key: usize) {
        let Some(request) = self.parked.get(&key) else {
            return;
        };
        if !request.state.is_cancelled() {
            return; // a stale key: its request ended, another took its address
        }
        let (fd, res) = (request.waiting.fd, cancelled(request.waiting.done));
        if let Some(at) = request.waiting.until {
            self.timers.remove(&(at, key));
            return self.end(workers, key, -libc::ECANCELED, 0);
        }
        self.detach(fd, key);
        self.arm(workers, reactor, fd);
        self.end(workers, key, res, 0);
    }

    /// `fd` is ready with `revents`: the next attempt of each request waiting for those.
    fn ready(&mut self, workers: &Workers, reactor: &Reactor, fd: RawFd, revents: u32) {
        let keys = self
            .by_fd
            .get(&fd)
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        let mut done = Vec::new();
        for key in keys {
            let Some(request) = self.parked.get_mut(&key) else {
                continue;
            };
            let hangup = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
            if revents & (request.waiting.events as u16 as u32 | hangup) == 0 {
                continue;
            }
            let waiting = &mut request.waiting;
            // SAFETY: the request's memory and fds stay valid until its CQE, posted by
            // `end` after this (invariants 1–6, as `exec::run`'s contract).
            let step =
                unsafe { attempt(&waiting.resolved.sqe, &workers.tables, &mut waiting.done) };
            match step {
                Step::Wait(_, events) => waiting.events = events,
                Step::Done(res, flags) => done.push((key, res, flags)),
                // Never: what waits for readiness waits for it again, or is done.
                Step::Blocking | Step::Until(_) => done.push((key, -libc::EINVAL, 0)),
            }
        }
        for &(key, _, _) in &done {
            self.detach(fd, key);
        }
        self.arm(workers, reactor, fd); // still in the set, disabled (one shot) until armed again
        for (key, res, flags) in done {
            self.end(workers, key, res, flags);
        }
    }

    /// Milliseconds until the next timer fires (rounded up; -1: no timer).
    fn next_timer_ms(&self) -> i32 {
        self.timers.first().map_or(-1, |(at, _)| {
            let left = at.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        })
    }

    /// Ends the timers due now, with `-ETIME`.
    fn fire_timers(&mut self, workers: &Workers) {
        let now = Instant::now();
        while let Some(&(at, key)) = self.timers.first() {
            if at > now {
                return;
            }
            self.timers.pop_first();
            self.end(workers, key, -libc::ETIME, 0);
        }
    }

    /// Removes request `key` from the requests waiting on `fd`.
    fn detach(&mut self, fd: RawFd, key: usize) {
        if let Some((keys, _)) = self.by_fd.get_mut(&fd) {
            keys.retain(|k| *k != key);
        }
    }

    /// Arms `fd` for what its requests wait for, or takes it out of the epoll set when none
    /// waits (before their CQEs are posted: see the module's doc).
    fn arm(&mut self, workers: &Workers, reactor: &Reactor, fd: RawFd) {
        let epoll = reactor.epoll.as_raw_fd();
        let Some((keys, armed)) = self.by_fd.get_mut(&fd) else {
            return;
        };
        let interest = keys
            .iter()
            .filter_map(|k| self.parked.get(k))
            .fold(0u32, |acc, r| acc | r.waiting.events as u16 as u32);
        if keys.is_empty() {
            if *armed {
                let _ = epoll_ctl(epoll, libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
            self.by_fd.remove(&fd);
            return;
        }
        let events = interest | libc::EPOLLONESHOT as u32;
        let op = if *armed {
            libc::EPOLL_CTL_MOD
        } else {
            libc::EPOLL_CTL_ADD
        };
        match epoll_ctl(epoll, op, fd, events, fd as u64) {
            Ok(()) => *armed = true,
            Err(e) => {
                // Not pollable (or gone): every request on it ends with the error.
                let failed = std::mem::take(keys);
                let errno = -e.raw_os_error().unwrap_or(libc::EINVAL);
                self.by_fd.remove(&fd);
                for key in failed {
                    self.end(workers, key, errno, 0);
                }
            }
        }
    }

    /// Posts the CQE of request `key` and lets it go.
    fn end(&mut self, workers: &Workers, key: usize, res: i32, flags: u32) {
        if let Some(request) = self.parked.remove(&key) {
            let (sqe, drains) = (request.waiting.resolved.sqe, request.drains);
            workers.finish(&sqe, &request.state, res, flags);
            drop(request); // the files it held (registered slots) before the job counts as done
            workers.job_done(drains);
        }
    }
}
