//! The loop behind the operations that finish the job ([`Ring::read_exact_at`],
//! [`Ring::write_all_at`], [`Ring::send_all`]): resubmit for the rest until every byte is done.
#![forbid(unsafe_code)]

use super::{BufResult, OpCode, Operation};
use crate::error::{Result, SaferRingError};
use crate::ring::Ring;

/// Runs the operation `step(buf, done)` makes for the bytes from `done` on, again and again,
/// until `total` bytes are done; hands the buffer back however it ends. `name` is the loop's
/// name in errors.
pub(crate) async fn until_done<T, B>(
    ring: &Ring,
    name: &'static str,
    mut buf: B,
    total: usize,
    step: impl Fn(B, usize) -> T,
) -> BufResult<(), B>
where
    T: OpCode<Output = BufResult<usize, B>>,
{
    let mut done = 0;
    while done < total {
        let (res, back) = Operation::build(ring, step(buf, done)).await;
        buf = back;
        match progress(name, res, done, total) {
            Ok(n) => done += n,
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
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
