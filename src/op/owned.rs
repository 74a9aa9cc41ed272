//! [`OwnedOp`]: an operation future that holds its ring by `Rc` instead of by borrow, so it
//! can live in a struct beside the ring handle — the I/O adapters (`io/`) keep their read
//! and write in flight in one.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::future::Parts;
use super::{Building, OpCode, OpFuture, Operation};
use crate::ring::Ring;

/// The future of an operation on a ring it holds by `Rc`. Between polls it keeps the
/// operation's parts; each poll puts them back into an [`OpFuture`] on the ring for the
/// length of the poll. Dropped mid-flight it parks the operation in its slot, like any
/// operation (invariant 3); forgotten, it leaks the operation and a count of the ring
/// (invariant 4).
pub(crate) struct OwnedOp<T: OpCode> {
    ring: Rc<Ring>,
    /// `None` once the output was taken.
    parts: Option<Parts<T>>,
}

// No field is structurally pinned: the operation's memory lives on the heap.
impl<T: OpCode> Unpin for OwnedOp<T> {}

impl<T: OpCode> OwnedOp<T> {
    /// The operation `op` on `ring`, not yet submitted (the first poll submits it).
    pub(crate) fn new(ring: &Rc<Ring>, op: T) -> Self {
        let building: Building<T> = Operation::build(ring, op).into_state();
        Self {
            parts: Some(Parts::Building(building)),
            ring: ring.clone(),
        }
    }
}

impl<T: OpCode> Future for OwnedOp<T> {
    type Output = T::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        let parts = this.parts.take().expect("OwnedOp polled after completion");
        // A panic in the poll drops the future, which parks the operation: sound either way.
        let mut future = OpFuture::from_parts(&this.ring, parts);
        let poll = Pin::new(&mut future).poll(cx);
        this.parts = future.into_parts();
        poll
    }
}

impl<T: OpCode> Drop for OwnedOp<T> {
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            // Dropping the rebuilt future abandons the operation into its slot.
            drop(OpFuture::from_parts(&self.ring, parts));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::AsTarget;
    use crate::fs::opcodes::Read;

    fn read(file: &crate::File) -> Read<Vec<u8>> {
        Read {
            op: "read",
            fd: file.target(),
            buf: Vec::with_capacity(8),
            offset: u64::MAX,
            buf_pos: 0,
        }
    }

    #[test]
    fn an_owned_read_completes_and_a_dropped_one_is_parked_until_its_cqe() {
        let ring = Rc::new(Ring::new(4).unwrap());
        let (reader, mut writer) = std::io::pipe().unwrap();
        let reader = crate::File::from(std::os::fd::OwnedFd::from(reader));
        let mut op = OwnedOp::new(&ring, read(&reader));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut op).poll(&mut cx).is_pending());
        assert_eq!(ring.in_flight(), 1);
        std::io::Write::write_all(&mut writer, b"owned").unwrap();
        let (n, buf) = ring.block_on(op);
        assert_eq!(&buf[..n.unwrap()], b"owned");
        let mut parked = OwnedOp::new(&ring, read(&reader));
        assert!(Pin::new(&mut parked).poll(&mut cx).is_pending());
        drop(parked);
        assert_eq!(
            ring.stats().abandoned,
            1,
            "the dropped read waits in its slot"
        );
        assert_eq!(ring.live_slots(), 1);
        drop(writer);
        for _ in 0..1000 {
            if ring.live_slots() == 0 {
                break;
            }
            ring.turn(true).unwrap();
        }
        assert_eq!((ring.live_slots(), ring.stats().released), (0, 1));
    }
}
