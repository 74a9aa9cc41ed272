//! `nop`: NOP throughput at batch 1, 32 and 256 — safe sync, safe `.await`, raw io-uring (and,
//! for reference, raw io-uring with the safe ring's kernel setup).

use std::os::fd::AsRawFd;

use io_uring::IoUring;
use safer_ring::Ring;

use crate::report::{Report, Row};
use crate::stats::{Samples, measure};
use crate::work;

fn safe_sync(ring: &Ring, ops: u64, batch: usize) {
    let mut held = Vec::with_capacity(batch);
    for _ in 0..ops / batch as u64 {
        work::safe_nops(ring, &mut held, batch);
    }
}

/// The `.await` path with batching: submit a batch, then await each operation (awaiting a
/// building operation one by one would submit them one at a time).
fn safe_await(ring: &Ring, ops: u64, batch: usize) {
    ring.block_on(async {
        let mut held = Vec::with_capacity(batch);
        for _ in 0..ops / batch as u64 {
            work::safe_nops_await(ring, &mut held, batch).await;
        }
    });
}

fn raw(ring: &mut IoUring, ops: u64, batch: usize) {
    for _ in 0..ops / batch as u64 {
        work::raw_nops(ring, batch);
    }
}

/// Row name of the raw ring set up as the safe ring is (for reference, not a goal).
const RAW_TUNED: &str = "raw, safe's setup";

/// The raw loop on a ring set up like the safe one: `NO_SQARRAY` too, and the ring fd
/// registered so `io_uring_enter` skips the fd lookup. Shows how much of the safe/raw ratio is
/// those kernel settings and how much is the safe layer's own cost.
struct RawTuned {
    ring: IoUring,
    index: u32,
}

impl RawTuned {
    fn new(entries: u32) -> std::io::Result<Self> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_no_sqarray()
            .setup_cqsize(entries * 2)
            .build(entries)?;
        // `struct io_uring_rsrc_update { u32 offset; u32 resv; u64 data; }`; offset -1: any.
        let mut update = [u32::MAX, 0, ring.as_raw_fd() as u32, 0];
        // SAFETY: IORING_REGISTER_RING_FDS (20) reads and writes one live 16-byte update.
        let res = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                20,
                update.as_mut_ptr(),
                1,
            )
        };
        if res < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            ring,
            index: update[0],
        })
    }

    fn run(&mut self, ops: u64, batch: usize) {
        for _ in 0..ops / batch as u64 {
            work::push_raw_nops(&mut self.ring, batch);
            let flags = io_uring::EnterFlags::GETEVENTS | io_uring::EnterFlags::REGISTERED_RING;
            // SAFETY: submits NOPs only; no argument pointer (NULL, size 0).
            let res = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    self.index,
                    batch as u32,
                    batch as u32,
                    flags.bits(),
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            assert!(
                res >= 0,
                "io_uring_enter: {}",
                std::io::Error::last_os_error()
            );
            assert_eq!(self.ring.completion().count(), batch);
        }
    }
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let ops: u64 = if quick { 1_000_000 } else { 10_000_000 };
    for batch in [1usize, 32, 256] {
        let entries = (batch as u32).next_power_of_two().max(8);
        let safe = Ring::builder().entries(entries).build()?;
        let mut raw_ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(entries * 2)
            .build(entries)?;
        let mut tuned = RawTuned::new(entries)?;
        let per_round = ops / rounds as u64;
        let [mut s, mut a, mut r, mut t] = std::array::from_fn(|_| Samples::default());
        for _ in 0..rounds {
            measure(&mut s, per_round, || safe_sync(&safe, per_round, batch));
            measure(&mut a, per_round, || safe_await(&safe, per_round, batch));
            measure(&mut r, per_round, || raw(&mut raw_ring, per_round, batch));
            measure(&mut t, per_round, || tuned.run(per_round, batch));
        }
        let case = format!("batch {batch}");
        for (contender, samples) in [
            ("safe", s),
            ("safe .await", a),
            ("raw io-uring", r),
            (RAW_TUNED, t),
        ] {
            report.rows.push(Row {
                suite: "nop",
                case: case.clone(),
                contender,
                samples,
            });
        }
        let target = if batch == 1 { 0.95 } else { 0.97 };
        report.goal(
            &format!("nop {case} safe/raw"),
            (&case, "safe"),
            (&case, "raw io-uring"),
            target,
        );
        report.goal(
            &format!("nop {case} .await/raw"),
            (&case, "safe .await"),
            (&case, "raw io-uring"),
            0.90,
        );
    }
    Ok(())
}
