//! The fallback backend: io_uring's submission/completion contract emulated in user space,
//! for machines where `io_uring_setup` fails (`ENOSYS`, or `EPERM` from a seccomp profile or
//! `kernel.io_uring_disabled`) or when asked (`SAFER_RING_BACKEND=fallback`).
//!
//! The core pushes the same SQEs and drains the same CQEs as with the kernel; here a pool of
//! worker threads (grown on demand, like io_uring's own io-wq) runs each SQE — or each linked
//! chain, in order — with plain system calls ([`exec`]), and posts its CQE to a completion
//! queue the core drains. Waits on sockets and pipes are `ppoll`s that a cancel interrupts
//! through the worker's eventfd, so cancels, link timeouts and ring drop behave as with the
//! kernel: every SQE gets exactly its CQEs, and its memory is touched only before them.
//!
//! What it does not emulate (registered files and buffers, provided-buffer rings, multishot
//! accept/recv, zero-copy send, `MSG_RING`, the `socket` opcode's direct descriptors) is
//! missing from its opcode set and capabilities, so the layers above take their degraded
//! paths, exactly as on an old kernel.

#![allow(unsafe_code)] // implements the unsafe methods of `Kernel` (no unsafe block here)

mod exec;
mod sqe;
mod workers;

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};

use self::sqe::Sqe;
use self::workers::{Job, Workers};
use super::kernel::Kernel;
use super::slots::CqeResult;
use crate::probe::OpcodeSet;

/// `IORING_CQE_F_MORE`: more CQEs will follow for this request.
const CQE_F_MORE: u32 = 1 << 1;
/// `IORING_POLL_ADD_MULTI` in a poll's `len`.
const POLL_ADD_MULTI: u32 = 1;

/// The opcodes this backend runs.
pub(crate) fn opcodes() -> OpcodeSet {
    OpcodeSet::of(&[
        opcode::Nop::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Readv::CODE,
        opcode::Writev::CODE,
        opcode::Fsync::CODE,
        opcode::Fallocate::CODE,
        opcode::OpenAt::CODE,
        opcode::Close::CODE,
        opcode::Statx::CODE,
        opcode::Splice::CODE,
        opcode::Timeout::CODE,
        opcode::LinkTimeout::CODE,
        opcode::AsyncCancel::CODE,
        opcode::PollAdd::CODE,
        opcode::Accept::CODE,
        opcode::Connect::CODE,
        opcode::Send::CODE,
        opcode::Recv::CODE,
        opcode::SendMsg::CODE,
        opcode::RecvMsg::CODE,
        opcode::Shutdown::CODE,
    ])
}

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
        Ok(Self {
            sq: Vec::with_capacity(entries as usize),
            capacity: entries as usize,
            workers: Workers::new()?,
            held: VecDeque::new(),
        })
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

/// Whether `sqe`'s result breaks a soft link: an error, or fewer bytes than asked for by an
/// operation the kernel fails links on short counts for.
fn breaks_link(sqe: &Sqe, res: i32) -> bool {
    if res < 0 {
        return true;
    }
    let short = (res as u32) < sqe.len;
    let waitall = sqe.op_flags as i32 & libc::MSG_WAITALL != 0;
    match sqe.opcode {
        opcode::Read::CODE | opcode::Write::CODE | opcode::Splice::CODE => short,
        opcode::Send::CODE | opcode::Recv::CODE => short && waitall,
        _ => false,
    }
}
