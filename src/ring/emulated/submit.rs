//! [`Emulated`]: the fallback's submission side — its SQ, the chains it starts or holds
//! behind a drain, and the `Kernel` methods the core calls.
#![allow(unsafe_code)] // implements the unsafe methods of `Kernel` (no unsafe block here)

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};

use super::sqe::Sqe;
use super::workers::{Job, Workers};
use crate::ring::kernel::Kernel;
use crate::ring::slots::CqeResult;

/// The emulated kernel of one ring.
pub(crate) struct Emulated {
    /// SQEs pushed and not yet submitted.
    sq: Vec<Sqe>,
    capacity: usize,
    workers: Arc<Workers>,
    /// Chains held back by an `IOSQE_IO_DRAIN` before them, in order.
    held: VecDeque<Job>,
}

impl Emulated {
    /// A backend with an SQ of `entries`.
    pub fn new(entries: u32) -> io::Result<Self> {
        let workers = Workers::new()?;
        // Started with the ring, so its fds are the ring's from the start.
        workers.reactor()?;
        Ok(Self {
            sq: Vec::with_capacity(entries as usize),
            capacity: entries as usize,
            workers,
            held: VecDeque::new(),
        })
    }

    /// What this ring registered.
    pub fn tables(&self) -> &super::Tables {
        &self.workers.tables
    }

    /// The SQ's size.
    pub fn sq_room_total(&self) -> usize {
        self.capacity
    }

    /// The fd that is readable when completions are waiting (what stands for the ring fd).
    pub fn fd(&self) -> RawFd {
        self.workers.notify_fd()
    }

    /// Splits the SQ's first `n` SQEs into chains and starts (or holds back) each.
    fn submit(&mut self, n: usize) -> usize {
        let n = n.min(self.sq.len());
        let mut chain = Vec::new();
        for sqe in self.sq.drain(..n).collect::<Vec<_>>() {
            let links = sqe.links();
            chain.push(sqe);
            if !links {
                self.start(std::mem::take(&mut chain));
            }
        }
        if !chain.is_empty() {
            self.start(chain); // a link flag on the last SQE submitted links to nothing
        }
        n
    }

    /// Starts one chain: a cancel runs here at once; anything else goes to the workers, or
    /// waits behind a drain.
    fn start(&mut self, chain: Vec<Sqe>) {
        if let [single] = chain[..] {
            match single.opcode {
                opcode::AsyncCancel::CODE => return self.workers.cancel(&single),
                // Completed inline, as the kernel does: its CQE is there when enter returns.
                opcode::Nop::CODE if self.held.is_empty() && !single.drains() => {
                    return self.workers.post_now(&single, 0);
                }
                _ => {}
            }
        }
        let job = self.workers.register(chain);
        if job.drains() || !self.held.is_empty() {
            self.held.push_back(job);
            self.release_held();
        } else {
            self.workers.dispatch(job);
        }
    }

    /// Starts the held chains whose turn has come: a draining one once nothing else runs,
    /// and what follows it once it is done.
    fn release_held(&mut self) {
        while let Some(job) = self.held.front() {
            let must_wait = job.drains() || self.workers.drain_running();
            if must_wait && self.workers.active() > 0 {
                return;
            }
            let job = self.held.pop_front().expect("checked");
            self.workers.dispatch(job);
        }
    }
}

impl Kernel for Emulated {
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        if self.sq.len() >= self.capacity {
            return false;
        }
        self.sq.push(Sqe::of(entry));
        true
    }

    fn queued(&mut self) -> u32 {
        self.sq.len() as u32
    }

    fn sq_room(&mut self) -> (usize, usize) {
        (self.capacity - self.sq.len(), self.capacity)
    }

    unsafe fn enter(
        &mut self,
        to_submit: u32,
        min_complete: u32,
        get_events: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let submitted = self.submit(to_submit as usize);
        self.release_held();
        if get_events {
            self.workers.rearm_multishot();
            if min_complete > 0 {
                let deadline = timeout.map(|t| Instant::now() + t);
                self.workers
                    .wait_for_cqes(min_complete as usize, deadline)?;
                self.release_held();
            }
        }
        Ok(submitted)
    }

    fn cq_overflow(&mut self) -> bool {
        false // the completion queue here grows as needed
    }

    fn drain(&mut self, f: impl FnMut(u64, CqeResult)) {
        self.workers.drain_cqes(f);
        self.release_held();
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        self.workers.shut_down();
    }
}
