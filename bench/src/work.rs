//! One batch of work, as several suites run it (`nop`, `alloc`, `instr`): the same loop is
//! timed, counted for allocations and counted for instructions.

use std::future::IntoFuture;

use io_uring::{IoUring, opcode, types};
use safer_ring::fs::opcodes::Read;
use safer_ring::op::Nop;
use safer_ring::{File, Operation, Ring, Submitted};

/// Bytes per read.
pub const BLOCK: usize = 4096;

/// Operations held between submitting a batch and completing it.
pub type Held<'r, T> = Vec<Operation<'r, Submitted<T>>>;

/// `batch` NOPs through the safe API: submit them all, then wait for each.
pub fn safe_nops<'r>(ring: &'r Ring, held: &mut Held<'r, Nop>, batch: usize) {
    held.extend((0..batch).map(|_| ring.nop().submit().expect("submit")));
    held.drain(..).for_each(|op| op.wait().expect("nop"));
}

/// As [`safe_nops`], awaiting each (submitting the batch first, so it reaches the kernel in
/// one `io_uring_enter` as in the sync path).
pub async fn safe_nops_await<'r>(ring: &'r Ring, held: &mut Held<'r, Nop>, batch: usize) {
    held.extend((0..batch).map(|_| ring.nop().submit().expect("submit")));
    for op in held.drain(..) {
        op.into_future().await.expect("nop");
    }
}

/// `batch` NOPs written directly on the `io-uring` crate: push, one `submit_and_wait`, reap.
pub fn raw_nops(ring: &mut IoUring, batch: usize) {
    push_raw_nops(ring, batch);
    ring.submit_and_wait(batch).expect("submit_and_wait");
    assert_eq!(ring.completion().count(), batch);
}

/// Queues `batch` NOPs on a raw ring (the caller submits and reaps them).
pub fn push_raw_nops(ring: &mut IoUring, batch: usize) {
    let mut sq = ring.submission();
    for i in 0..batch {
        let nop = opcode::Nop::new().build().user_data(i as u64);
        // SAFETY: a NOP names no memory.
        unsafe { sq.push(&nop).expect("room for a batch") };
    }
}

/// One 4 KiB `read_at` per buffer in `spare`, at `offset(k)` for the k-th, submitted together
/// and then waited for; the buffers go back to `spare`, emptied.
pub fn safe_reads<'r>(
    ring: &'r Ring,
    file: &File,
    spare: &mut Vec<Vec<u8>>,
    held: &mut Held<'r, Read<Vec<u8>>>,
    offset: impl Fn(usize) -> u64,
) {
    submit_reads(ring, file, spare, held, offset);
    for op in held.drain(..) {
        spare.push(check_read(op.wait()));
    }
}

/// As [`safe_reads`], awaiting each.
pub async fn safe_reads_await<'r>(
    ring: &'r Ring,
    file: &File,
    spare: &mut Vec<Vec<u8>>,
    held: &mut Held<'r, Read<Vec<u8>>>,
    offset: impl Fn(usize) -> u64,
) {
    submit_reads(ring, file, spare, held, offset);
    for op in held.drain(..) {
        spare.push(check_read(op.into_future().await));
    }
}

fn submit_reads<'r>(
    ring: &'r Ring,
    file: &File,
    spare: &mut Vec<Vec<u8>>,
    held: &mut Held<'r, Read<Vec<u8>>>,
    offset: impl Fn(usize) -> u64,
) {
    for (k, buf) in spare.drain(..).enumerate() {
        held.push(ring.read_at(file, buf, offset(k)).submit().expect("submit"));
    }
}

fn check_read((n, mut buf): (safer_ring::Result<usize>, Vec<u8>)) -> Vec<u8> {
    assert_eq!(n.expect("read"), BLOCK);
    buf.clear();
    buf
}

/// One 4 KiB read per buffer of `bufs` on the `io-uring` crate, at `offset(k)` for the k-th:
/// push them all, one `submit_and_wait`, reap.
pub fn raw_reads(ring: &mut IoUring, fd: i32, bufs: &mut [Vec<u8>], offset: impl Fn(usize) -> u64) {
    let batch = bufs.len();
    {
        let mut sq = ring.submission();
        for (k, buf) in bufs.iter_mut().enumerate() {
            let sqe = opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), BLOCK as u32)
                .offset(offset(k))
                .build()
                .user_data(k as u64);
            // SAFETY: `bufs` is neither moved nor touched until every CQE of this batch has
            // been reaped below.
            unsafe { sq.push(&sqe).expect("room for a batch") };
        }
    }
    ring.submit_and_wait(batch).expect("submit_and_wait");
    for cqe in ring.completion() {
        assert_eq!(cqe.result(), BLOCK as i32);
    }
}
