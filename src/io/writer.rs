//! The write half of an adapter: write-behind through two reused buffers — one filling with
//! the caller's bytes, one in flight — so memory stays bounded and the caller never waits
//! for the kernel unless both are full.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::op::{BufResult, OpCode, OwnedOp};

/// Makes the write of a buffer's bytes from `from` on, at file offset `offset`.
pub(super) trait StartWrite<W: OpCode>: Fn(Vec<u8>, usize, u64) -> OwnedOp<W> {}
impl<W: OpCode, F: Fn(Vec<u8>, usize, u64) -> OwnedOp<W>> StartWrite<W> for F {}

/// Accepts bytes into a buffer and writes them behind the caller's back. A failed write is
/// kept and reported by the next call ("a pending write finishes or reports").
pub(super) struct Writer<W: OpCode> {
    capacity: usize,
    /// Accepted bytes not yet handed to the kernel.
    pending: Vec<u8>,
    /// The file offset of `pending`'s first byte.
    pending_at: u64,
    flight: Flight<W>,
    /// The failure of a write the caller was already told had been accepted.
    error: Option<io::Error>,
}

enum Flight<W: OpCode> {
    /// Nothing in flight: the spare buffer.
    Idle(Vec<u8>),
    /// A buffer being written: its bytes before `done` are written; `at` is the file
    /// offset of its first byte.
    Writing {
        op: OwnedOp<W>,
        done: usize,
        at: u64,
    },
}

impl<W: OpCode<Output = BufResult<usize, Vec<u8>>>> Writer<W> {
    /// A writer accepting up to `capacity` bytes ahead of the kernel (buffers are allocated
    /// at the first write).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            pending: Vec::new(),
            pending_at: 0,
            flight: Flight::Idle(Vec::new()),
            error: None,
        }
    }

    /// Accepts some of `data` (whose first byte goes at file offset `at`): `Pending` only
    /// while both buffers are full; the error of an earlier write first, if one failed.
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
        at: u64,
        start: impl StartWrite<W>,
    ) -> Poll<io::Result<usize>> {
        let _ = self.poll_progress(cx, &start);
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        if self.pending.is_empty() {
            self.pending.reserve(self.capacity);
            self.pending_at = at;
        }
        let n = data.len().min(self.capacity - self.pending.len());
        if n == 0 && !data.is_empty() {
            // Both buffers are full: the write in flight wakes us (polled above).
            return Poll::Pending;
        }
        self.pending.extend_from_slice(&data[..n]);
        if matches!(self.flight, Flight::Idle(_)) {
            let _ = self.poll_progress(cx, &start); // hands them to the kernel at once
        }
        Poll::Ready(Ok(n))
    }

    /// Ready once every accepted byte is written, or with the error that stopped it.
    pub(super) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        start: impl StartWrite<W>,
    ) -> Poll<io::Result<()>> {
        let progress = self.poll_progress(cx, &start);
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        progress.map(Ok)
    }

    /// Whether every accepted byte is written.
    pub(super) fn is_flushed(&self) -> bool {
        matches!(self.flight, Flight::Idle(_)) && self.pending.is_empty()
    }

    /// Drives the write in flight: continues a short write, keeps a failure for the next
    /// call, and hands the pending bytes to the kernel when nothing is in flight. Ready when
    /// nothing is in flight or pending.
    fn poll_progress(&mut self, cx: &mut Context<'_>, start: &impl StartWrite<W>) -> Poll<()> {
        loop {
            match &mut self.flight {
                Flight::Writing { op, done, at } => {
                    let (done, at) = (*done, *at);
                    let (res, buf) = ready!(Pin::new(op).poll(cx));
                    match res {
                        Ok(n) if n > 0 && done + n < buf.len() => {
                            let done = done + n; // a short write: the rest, from there on
                            let op = start(buf, done, at + done as u64);
                            self.flight = Flight::Writing { op, done, at };
                        }
                        Ok(n) if n > 0 => self.idle(buf),
                        Ok(_) => self.fail(buf, io::ErrorKind::WriteZero.into()),
                        Err(e) => self.fail(buf, e.into()),
                    }
                }
                Flight::Idle(_) if self.pending.is_empty() => return Poll::Ready(()),
                Flight::Idle(spare) => {
                    let buf = std::mem::replace(&mut self.pending, std::mem::take(spare));
                    let at = self.pending_at;
                    let op = start(buf, 0, at);
                    self.flight = Flight::Writing { op, done: 0, at };
                }
            }
        }
    }

    /// A buffer written to its end becomes the spare.
    fn idle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.flight = Flight::Idle(buf);
    }

    /// A write failed: the error waits for the next call, and the bytes not yet written
    /// (this buffer's rest and the pending ones) are dropped.
    fn fail(&mut self, buf: Vec<u8>, error: io::Error) {
        self.pending.clear();
        self.error = Some(error);
        self.idle(buf);
    }
}
