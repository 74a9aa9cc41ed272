//! The loop behind the operations that finish the job ([`Ring::read_exact_at`],
//! [`Ring::write_all_at`], [`Ring::send_all`]): resubmit for the rest until every byte is done.
//! A hand-written future, so that it holds little more than the operation in flight: as an
//! `async fn` it kept room for the buffer and the closure beside it (312 bytes for a
//! `send_all` of a `Vec<u8>`, against 168 now), in every connection task of a server.
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::{BufResult, OpCode, OpFuture, Operation};
use crate::error::{Result, SaferRingError};
use crate::ring::Ring;

/// The future of [`until_done`].
pub(crate) struct UntilDone<'ring, T: OpCode, B, F> {
    ring: &'ring Ring,
    name: &'static str,
    total: usize,
    done: usize,
    step: F,
    stage: Stage<'ring, T, B>,
}

enum Stage<'ring, T: OpCode, B> {
    /// Nothing to do (`total` was 0): the buffer, until it is handed back.
    Idle(Option<B>),
    Running(OpFuture<'ring, T>),
}

// No field is structurally pinned: the operation future is `Unpin`, the closure never pinned.
impl<T: OpCode, B, F> Unpin for UntilDone<'_, T, B, F> {}

/// Runs the operation `step(buf, done)` makes for the bytes from `done` on, again and again,
/// until `total` bytes are done; hands the buffer back however it ends. `name` is the loop's
/// name in errors.
pub(crate) fn until_done<'ring, T, B, F>(
    ring: &'ring Ring,
    name: &'static str,
    buf: B,
    total: usize,
    mut step: F,
) -> UntilDone<'ring, T, B, F>
where
    T: OpCode<Output = BufResult<usize, B>>,
    F: FnMut(B, usize) -> T,
{
    let stage = if total == 0 {
        Stage::Idle(Some(buf))
    } else {
        Stage::Running(Operation::build(ring, step(buf, 0)).into_future())
    };
    UntilDone {
        ring,
        name,
        total,
        done: 0,
        step,
        stage,
    }
}

impl<T, B, F> Future for UntilDone<'_, T, B, F>
where
    T: OpCode<Output = BufResult<usize, B>>,
    F: FnMut(B, usize) -> T,
{
    type Output = BufResult<(), B>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let op = match &mut this.stage {
                Stage::Idle(buf) => {
                    let buf = buf.take().expect("UntilDone polled after completion");
                    return Poll::Ready((Ok(()), buf));
                }
                Stage::Running(op) => op,
            };
            let (res, buf) = ready!(Pin::new(op).poll(cx));
            match progress(this.name, res, this.done, this.total) {
                Ok(n) => this.done += n,
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if this.done >= this.total {
                return Poll::Ready((Ok(()), buf));
            }
            let next = (this.step)(buf, this.done);
            this.stage = Stage::Running(Operation::build(this.ring, next).into_future());
        }
    }
}

/// How far one step of an exact loop got: `Ok(n)` bytes (0 after an interruption, to retry),
/// or the loop's error (end of stream before `total` bytes, or the operation's error).
fn progress(op: &'static str, res: Result<usize>, pos: usize, total: usize) -> Result<usize> {
    match res {
        Ok(0) => Err(eof(op, pos, total)),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => Ok(0),
        Err(e) => Err(e),
    }
}

fn eof(op: &'static str, done: usize, total: usize) -> SaferRingError {
    SaferRingError::os(
        op,
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("end of file after {done} of {total} bytes"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::future::IntoFuture;

    use super::*;
    use crate::fs::opcodes::Read;

    #[test]
    fn the_loop_holds_little_more_than_the_operation_in_flight() {
        let ring = Ring::new(4).unwrap();
        let file = crate::File::from(std::fs::File::open("/dev/zero").unwrap());
        let one = Operation::build(&ring, read(&file, Vec::new(), 0)).into_future();
        let all = until_done(&ring, "test", Vec::with_capacity(8), 8, |buf, done| {
            read(&file, buf, done)
        });
        let (one, all) = (size_of_val(&one), size_of_val(&all));
        assert!(
            all <= one + 48,
            "the loop is {all} bytes for a {one}-byte operation"
        );
    }

    fn read(file: &crate::File, buf: Vec<u8>, done: usize) -> Read<Vec<u8>> {
        Read {
            op: "read_at",
            fd: crate::fd::AsTarget::target(file),
            buf,
            offset: done as u64,
            buf_pos: done,
        }
    }
}
