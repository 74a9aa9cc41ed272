//! [`Landing`]: one entry of a chain or batch on its way back — in flight, landed with its
//! output, or taken — and [`Breaks`], the rule that says which entries a broken link cancelled.
#![forbid(unsafe_code)]

use std::task::Waker;

use io_uring::squeue::Flags;

use super::{OpCode, Operation, Submitted};
use crate::error::SaferRingError;
use crate::ring::slots::{CqeResult, SlotKey};

/// How the entries of a chain depend on each other.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::op::Link;
/// let ring = safer_ring::Ring::new(8)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// // No links: submitted together, run independently.
/// let ((a, _), (b, _)) = ring
///     .chain((ring.write_at(&file, b"a".to_vec(), 0), ring.write_at(&file, b"b".to_vec(), 1)))
///     .link(Link::None)
///     .submit()?
///     .wait();
/// assert_eq!((a?, b?), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Link {
    /// No links: the entries are only submitted together, in order (one `io_uring_enter`),
    /// and run independently.
    None,
    /// `IOSQE_IO_LINK`: each entry starts when the one before it completed in full; a
    /// failure or a short count cancels the rest
    /// ([`CancelledByChain`](SaferRingError::CancelledByChain)).
    #[default]
    Soft,
    /// `IOSQE_IO_HARDLINK`: each entry starts when the one before it completed, whatever
    /// its result — a cancel included. So cancelling a hard chain cancels the entry the
    /// kernel is running, and the next one then starts anyway (the kernel cannot cancel an
    /// entry it has not started): an entry that can wait forever (a read of an idle pipe)
    /// runs until it completes. *Dropping* the chain cancels each entry again once it has
    /// started (a cancel that found nothing is retried for abandoned operations), so nothing
    /// of it stays in flight; [`Soft`](Link::Soft) links stop at the first cancel instead.
    Hard,
}

impl Link {
    /// The SQE flag linking an entry to the next.
    pub(crate) fn flag(self) -> Flags {
        match self {
            Self::None => Flags::empty(),
            Self::Soft => Flags::IO_LINK,
            Self::Hard => Flags::IO_HARDLINK,
        }
    }
}

/// Which entry broke a soft chain, as its CQEs are taken in order.
///
/// In a soft chain the kernel completes every entry after a failed (or short) one with
/// `-ECANCELED`; an entry cancelled like that reports the index of the entry that broke the
/// chain — the last one before it that was not itself cancelled by the chain. (An entry the
/// user cancelled after its predecessor had completed looks the same to the kernel and is
/// reported the same way.)
#[derive(Debug, Default)]
pub struct Breaks {
    broken_at: Option<usize>,
}

impl Breaks {
    /// The error the entry at `position` in its chain (named `op`) gets instead of its own
    /// result, if the chain had broken before it. `previous` is the entry before it as the
    /// caller numbers entries (a batch's index, which a run's position is not): the one
    /// reported as failed if this is the first entry the break cancelled.
    pub(crate) fn verdict(
        &mut self,
        link: Link,
        (position, previous): (usize, usize),
        op: &'static str,
        cqe: CqeResult,
    ) -> Option<SaferRingError> {
        if link != Link::Soft || position == 0 || cqe.res() != -libc::ECANCELED {
            return None;
        }
        let failed_entry = *self.broken_at.get_or_insert(previous);
        Some(SaferRingError::CancelledByChain { op, failed_entry })
    }
}

/// One entry of a chain or batch after submission.
pub enum Landing<'ring, T: OpCode> {
    /// In the kernel (its slot owns nothing yet: the operation does).
    Flying(Operation<'ring, Submitted<T>>),
    /// Its final CQE was taken and turned into its output.
    Landed(T::Output),
    /// Its output was handed out.
    Taken,
}

impl<T: OpCode> Landing<'_, T> {
    /// Takes the entry's CQE if it arrived (else records `waker`) and turns it into the
    /// output, or into the error `verdict` makes of it (with the buffers back). `true` once
    /// landed. The operation leaves its `Submitted` state before the output is made, so a
    /// panic while making it cannot abandon a slot that is already free.
    pub(crate) fn land(
        &mut self,
        waker: Option<&Waker>,
        verdict: impl FnOnce(CqeResult, &'static str) -> Option<SaferRingError>,
    ) -> bool {
        let Landing::Flying(op) = self else {
            return true;
        };
        let Some(cqe) = op.ring().poll_op(op.key(), waker) else {
            return false;
        };
        let Landing::Flying(op) = std::mem::replace(self, Landing::Taken) else {
            unreachable!("matched as flying")
        };
        *self = Landing::Landed(match verdict(cqe, op.name()) {
            None => op.finish(cqe),
            Some(error) => op.finish_as(error),
        });
        true
    }

    /// The slot of an entry still in flight.
    pub(crate) fn key(&self) -> Option<SlotKey> {
        match self {
            Landing::Flying(op) => Some(op.key()),
            _ => None,
        }
    }

    /// The output of a landed entry.
    ///
    /// # Panics
    /// If the entry has not landed, or its output was taken.
    pub(crate) fn take(&mut self) -> T::Output {
        match std::mem::replace(self, Landing::Taken) {
            Landing::Landed(output) => output,
            _ => panic!("output of {} taken before it landed, or twice", T::NAME),
        }
    }
}
