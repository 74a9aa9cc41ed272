//! [`Ticks`]: a repeating kernel timer as a stream (`IORING_OP_TIMEOUT` with
//! `IORING_TIMEOUT_MULTISHOT`, Linux 6.4): one SQE, one CQE per period.
#![allow(unsafe_code)]

use std::time::Duration;

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::{TimeoutFlags, Timespec};

use crate::error::{Result, SaferRingError};
use crate::op::{MultiShot, OpStream};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// A multishot timer: yields `Ok(n)` (the tick's number, from 1) every period, `count` times
/// (forever if 0). Its timespec lives on the heap inside the stream until the final CQE.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(4)?;
/// let ticks = ring.ticks(Duration::from_millis(1), 2);
/// let n: Vec<u32> = ring.block_on(ticks.map(|t| t.unwrap()).collect());
/// assert_eq!(n, [1, 2]);
/// # Ok(()) }
/// ```
pub struct Ticks {
    timespec: Box<Timespec>,
    count: u32,
    fired: u32,
    /// Whether the arming ring has multishot timeouts (set by `validate`); without, each
    /// tick is a one-shot timeout the stream re-arms.
    multishot: bool,
}

// SAFETY: invariant 1 — the SQE points at the boxed timespec `self` owns (a stable heap
// address); it names no fd.
unsafe impl MultiShot for Ticks {
    type Item = Result<u32>;
    const NAME: &'static str = "ticks";
    const CODE: u8 = opcode::Timeout::CODE;

    fn sqe(&mut self) -> Entry {
        let timeout = opcode::Timeout::new(&raw const *self.timespec);
        if !self.multishot {
            return timeout.build();
        }
        timeout
            .count(self.count.saturating_sub(self.fired))
            .flags(TimeoutFlags::MULTISHOT)
            .build()
    }

    fn validate(&mut self, ring: &Ring) -> crate::Result<()> {
        self.multishot = ring.has(crate::probe::Capability::MultishotTimeout);
        Ok(())
    }

    fn item(&mut self, cqe: CqeResult) -> Option<Self::Item> {
        if cqe.res() != -libc::ETIME {
            return Some(Err(SaferRingError::from_cqe(Self::NAME, cqe.res())));
        }
        self.fired += 1;
        Some(Ok(self.fired))
    }

    fn fail(&mut self, error: SaferRingError) -> Self::Item {
        Err(error)
    }

    /// Every tick is an `ETIME` "error"; a forever timer the kernel ended goes on.
    fn survives(&self, errno: i32) -> bool {
        errno == libc::ETIME && !self.finished()
    }

    fn finished(&self) -> bool {
        self.count > 0 && self.fired >= self.count
    }
}

impl Ring {
    /// A repeating kernel timer: a stream yielding `Ok(n)` every `period`, `count` times (0:
    /// forever), for the cost of one SQE (Linux 6.4; before, and without
    /// [`MultishotTimeout`](crate::probe::Capability::MultishotTimeout), a one-shot timeout
    /// re-armed after each tick). Dropping the stream cancels the timer.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let ticks: Vec<_> = ring.block_on(ring.ticks(Duration::from_millis(2), 3).collect());
    /// assert_eq!(ticks.into_iter().collect::<Result<Vec<_>, _>>()?, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn ticks(&self, period: Duration, count: u32) -> OpStream<'_, Ticks> {
        let timer = Ticks {
            timespec: Box::new(Timespec::from(period)),
            count,
            fired: 0,
            multishot: true,
        };
        OpStream::new(self, timer)
    }
}
