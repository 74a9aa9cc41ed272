//! `IORING_OP_MSG_RING`: a wake-up posted from this ring into another — a CQE appears in the
//! target ring, waking it if it sleeps in `io_uring_enter`, with no syscall of the sender's
//! beyond the `io_uring_enter` it makes anyway. The ring pool's workers wake each other so,
//! and rings send each other registered files ([`SendFile`]) the same way.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types;

use super::opcode::cqe_result;
use super::{Op, OpCode, Operation};
use crate::error::{Result, SaferRingError};
use crate::fd::{Claim, RegisteredFd};
use crate::ring::slots::CqeResult;
use crate::ring::{FILE_IN_USER_DATA, MSG_WAKE_USER_DATA, MsgTarget, Ring, RingId};

/// Posts a wake-up CQE in the ring behind a [`MsgTarget`].
pub(crate) struct MsgWake {
    target: MsgTarget,
}

// SAFETY: the SQE names no memory and one fd, the target ring's duplicate, held open by
// `self.target` until the final CQE (invariant 6); the CQE it posts in the target carries a
// fixed internal `user_data` that names no slot there.
unsafe impl OpCode for MsgWake {
    type Output = Result<()>;
    const NAME: &'static str = "msg_ring";
    const CODE: u8 = opcode::MsgRingData::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::MsgRingData::new(types::Fd(self.target.raw_fd()), 0, MSG_WAKE_USER_DATA, None)
            .build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

/// Sends a registered file to another ring's [`FileMailbox`](crate::FileMailbox): what
/// [`Ring::send_file`] builds. The output is `Ok(())` once the kernel installed the file there.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Ring, SaferRingError, op::{Op, SendFile}};
/// let (sender, receiver) = (Ring::new(4)?, Ring::new(4)?);
/// sender.register_files(2)?;
/// receiver.register_files(2)?;
/// let to_receiver = receiver.open_file_mailbox(1)?;
/// let own_mailbox = sender.open_file_mailbox(1)?;
/// let file = sender.register_file(&tempfile::tempfile()?)?;
///
/// let op: Op<'_, SendFile> = sender.send_file(&file, &to_receiver);
/// op.submit()?.wait()?;
/// let received = receiver.block_on(receiver.receive_file());
/// receiver.write_at(&received, b"sent".to_vec(), 0).submit()?.wait().0?;
/// let (n, buf) = sender.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
/// assert_eq!(&buf[..n?], b"sent"); // one open file, registered in both rings
///
/// let err = sender.send_file(&file, &own_mailbox).submit().unwrap_err();
/// assert!(matches!(err.error(), SaferRingError::InvalidArgument(_))); // not to itself
/// # Ok(()) }
/// ```
pub struct SendFile {
    file: RegisteredFd,
    /// The use count on `file`'s slot, taken on the submitting ring by `validate`.
    claim: Option<Claim>,
    to: MsgTarget,
    to_ring: RingId,
}

impl SendFile {
    /// Sends `file` to the mailbox of ring `to_ring`, reached through `to`.
    pub(crate) fn new(file: &RegisteredFd, to: MsgTarget, to_ring: RingId) -> Self {
        Self {
            file: file.clone(),
            claim: None,
            to,
            to_ring,
        }
    }
}

// SAFETY: the SQE names no memory; it names the sender's registered slot, held registered
// by the claim `validate` binds until the final CQE (invariant 8), and the target ring's fd
// duplicate, held open by `self.to` (invariant 6). The kernel installs the file only in a
// slot of the target's mailbox range, which that ring never hands out itself, and posts
// there a CQE with a fixed internal `user_data` that names no slot.
unsafe impl OpCode for SendFile {
    type Output = Result<()>;
    const NAME: &'static str = "send_file";
    const CODE: u8 = opcode::MsgRingSendFd::CODE;

    fn validate(&mut self, ring: &Ring) -> Result<()> {
        if self.to_ring == ring.id() {
            return Err(SaferRingError::InvalidArgument(
                "send_file: a ring cannot send a file to its own mailbox",
            ));
        }
        self.claim = None; // an earlier attempt's
        self.claim = Some(ring.acquire_file(&self.file)?);
        Ok(())
    }

    fn sqe(&mut self) -> Entry {
        let slot = self
            .claim
            .as_ref()
            .expect("validated before its SQE is built");
        opcode::MsgRingSendFd::new(
            types::Fd(self.to.raw_fd()),
            types::Fixed(slot.index()),
            types::DestinationSlot::auto_target(),
            FILE_IN_USER_DATA,
        )
        .build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        match cqe.res {
            res if res == -libc::ENFILE => Err(SaferRingError::os(
                "send_file (every slot of the target's mailbox holds a file not yet unregistered)",
                std::io::Error::from_raw_os_error(libc::ENFILE),
            )),
            _ => cqe_result(Self::NAME, cqe).map(drop),
        }
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

impl Ring {
    /// Wakes the ring behind `target` (its next `io_uring_enter` returns, or its current one).
    pub(crate) fn msg_wake(&self, target: MsgTarget) -> Op<'_, MsgWake> {
        Operation::build(self, MsgWake { target })
    }
}

#[cfg(test)]
mod tests {
    use crate::Ring;

    #[test]
    fn a_wake_message_lands_in_the_target_ring_as_a_counted_internal_cqe() {
        let (sender, target) = (Ring::new(4).unwrap(), Ring::new(4).unwrap());
        let handle = target.msg_target().unwrap();
        sender.msg_wake(handle).submit().unwrap().wait().unwrap();
        // The target's CQ holds the message; a turn reaps it without waiting forever.
        target.turn(true).unwrap();
        let stats = target.stats();
        assert_eq!(stats.msg_ring_wakes, 1);
        assert_eq!(
            stats.stale_cqes, 0,
            "the wake names no slot and is not stale"
        );
        assert_eq!(target.in_flight(), 0);
    }
}
