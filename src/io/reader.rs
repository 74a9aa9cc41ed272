//! The read half of an adapter: what the last read brought that the caller has not taken
//! yet, and the next read, already in flight into a second buffer.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::op::{BufResult, OpCode, OwnedOp};

/// Makes the read into a buffer at file offset `offset`.
pub(super) trait StartRead<R: OpCode>: Fn(Vec<u8>, u64) -> OwnedOp<R> {}
impl<R: OpCode, F: Fn(Vec<u8>, u64) -> OwnedOp<R>> StartRead<R> for F {}

/// Reads ahead through two reused buffers: while the caller takes the bytes of one, the
/// next read fills the other. The read in flight belongs to the reader, not to the caller's
/// future, so a caller that gives up (a dropped `read` future) loses nothing: the next call
/// picks up the same read.
pub(super) struct Reader<R: OpCode> {
    capacity: usize,
    /// The last read's bytes; those from `pos` on are not taken yet.
    buf: Vec<u8>,
    pos: usize,
    next: Next<R>,
}

enum Next<R: OpCode> {
    /// No read in flight: the spare buffer.
    Idle(Vec<u8>),
    Reading(OwnedOp<R>),
}

impl<R: OpCode<Output = BufResult<usize, Vec<u8>>>> Reader<R> {
    /// A reader whose reads fill up to `capacity` bytes (buffers are allocated at the first).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            buf: Vec::new(),
            pos: 0,
            next: Next::Idle(Vec::new()),
        }
    }

    /// The bytes not taken yet (the first at file offset `at`), reading more when there are
    /// none: empty at end of stream. Once a read brings bytes, the next one starts.
    pub(super) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        at: u64,
        start: impl StartRead<R>,
    ) -> Poll<io::Result<&[u8]>> {
        if self.pos == self.buf.len() {
            let Next::Reading(op) = &mut self.next else {
                self.start(at, &start);
                return self.poll_fill(cx, at, start);
            };
            let (res, buf) = ready!(Pin::new(op).poll(cx));
            let spare = std::mem::replace(&mut self.buf, buf);
            (self.pos, self.next) = (0, Next::Idle(spare));
            if res? > 0 {
                self.start(at + self.buf.len() as u64, &start);
            }
        }
        Poll::Ready(Ok(&self.buf[self.pos..]))
    }

    /// Starts a read into the spare buffer, if no read is in flight.
    fn start(&mut self, at: u64, start: &impl StartRead<R>) {
        if let Next::Idle(spare) = &mut self.next {
            let mut buf = std::mem::take(spare);
            buf.clear();
            buf.reserve(self.capacity);
            self.next = Next::Reading(start(buf, at));
        }
    }

    /// Marks `n` of the bytes not taken yet as taken.
    pub(super) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Whether nothing is read ahead or in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.pos == self.buf.len() && matches!(self.next, Next::Idle(_))
    }

    /// Forgets what was read ahead; a read in flight is dropped (parked in the ring until its
    /// completion, invariant 3), its buffer with it.
    pub(super) fn discard(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if let Next::Reading(_) = self.next {
            self.next = Next::Idle(Vec::new());
        }
    }
}
