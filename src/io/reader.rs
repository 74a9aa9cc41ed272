//! The read half of an adapter: one read in flight into the adapter's own buffer, and what
//! the last one brought that the caller has not taken yet.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::op::{BufResult, OpCode, OwnedOp};

/// Reads ahead into one reused buffer. The read in flight belongs to the reader, not to the
/// caller's future, so a caller that gives up (a dropped `read` future) loses nothing: the
/// next call picks up the same read.
pub(super) struct Reader<R: OpCode> {
    capacity: usize,
    state: State<R>,
}

enum State<R: OpCode> {
    /// The buffer; its bytes from `pos` on are not read yet.
    Ready {
        buf: Vec<u8>,
        pos: usize,
    },
    Reading(OwnedOp<R>),
}

impl<R: OpCode<Output = BufResult<usize, Vec<u8>>>> Reader<R> {
    /// A reader whose reads fill up to `capacity` bytes (the buffer is allocated at the first).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: State::Ready {
                buf: Vec::new(),
                pos: 0,
            },
        }
    }

    /// The bytes not read yet, reading more (`start` makes the read) when there are none:
    /// empty at end of stream.
    pub(super) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        start: impl Fn(Vec<u8>) -> OwnedOp<R>,
    ) -> Poll<io::Result<&[u8]>> {
        loop {
            match &mut self.state {
                State::Ready { buf, pos } if *pos < buf.len() => break,
                State::Ready { buf, .. } => {
                    let mut buf = std::mem::take(buf);
                    buf.clear();
                    buf.reserve(self.capacity);
                    self.state = State::Reading(start(buf));
                }
                State::Reading(op) => {
                    let (res, buf) = ready!(Pin::new(op).poll(cx));
                    self.state = State::Ready { buf, pos: 0 };
                    if res? == 0 {
                        return Poll::Ready(Ok(&[]));
                    }
                }
            }
        }
        let State::Ready { buf, pos } = &self.state else {
            unreachable!("the loop ends on unread bytes")
        };
        Poll::Ready(Ok(&buf[*pos..]))
    }

    /// Marks `n` of the unread bytes as read.
    pub(super) fn consume(&mut self, n: usize) {
        if let State::Ready { buf, pos } = &mut self.state {
            *pos = (*pos + n).min(buf.len());
        }
    }

    /// Whether nothing is read ahead or in flight.
    pub(super) fn is_empty(&self) -> bool {
        matches!(&self.state, State::Ready { buf, pos } if *pos == buf.len())
    }

    /// Forgets what was read ahead; a read in flight is dropped (parked in the ring until its
    /// completion, invariant 3), its buffer with it.
    pub(super) fn discard(&mut self) {
        match &mut self.state {
            State::Ready { buf, pos } => {
                buf.clear();
                *pos = 0;
            }
            State::Reading(_) => {
                self.state = State::Ready {
                    buf: Vec::new(),
                    pos: 0,
                }
            }
        }
    }
}
