//! `alloc`: heap allocations and bytes allocated per operation on each path, in steady state,
//! counted by this binary's global allocator — safe NOP (sync and `.await`), `read_at` into
//! reused owned `Vec`s (sync and `.await`), `read_at` into `BufferPool` buffers, `READ_FIXED`
//! with a registered pool and file, `write_at` from reused `Vec`s, and raw io-uring for
//! reference.

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use io_uring::IoUring;
use safer_ring::{
    BufResult, BufferPool, File, OpCode, Operation, PooledBuffer, RegisteredFd, Ring, Submitted,
};

use crate::report::{Report, Row};
use crate::stats::{Samples, measure};
use crate::work::{self, BLOCK};

/// Counts every allocation (and reallocation) made through it, then forwards to `System`.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

fn count(bytes: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    BYTES.fetch_add(bytes as u64, Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting only touches two atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc_zeroed` is passed through unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's contract for `realloc` is passed through unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed through unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and bytes allocated so far, by every thread.
#[derive(Clone, Copy, Debug, Default)]
struct Count {
    allocs: u64,
    bytes: u64,
}

fn now() -> Count {
    Count {
        allocs: ALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

fn since(start: Count) -> Count {
    let end = now();
    Count {
        allocs: end.allocs - start.allocs,
        bytes: end.bytes - start.bytes,
    }
}

const BATCH: usize = 32;
const FILE_BLOCKS: u64 = 256;
/// Batches run before counting starts, in every call.
const WARM_BATCHES: u64 = 4;

fn offset(i: u64) -> u64 {
    (i % FILE_BLOCKS) * BLOCK as u64
}

/// The offset of the k-th read of batch `b`.
fn batch_offset(b: u64, k: usize) -> u64 {
    offset(b * BATCH as u64 + k as u64)
}

/// Runs `batch(i)` for the warm-up batches, then counts allocations over `ops / BATCH` more.
fn counted(ops: u64, mut batch: impl FnMut(u64)) -> Count {
    for i in 0..WARM_BATCHES {
        batch(i);
    }
    let start = now();
    for i in 0..ops / BATCH as u64 {
        batch(i);
    }
    since(start)
}

fn nop_sync(ring: &Ring, ops: u64) -> Count {
    let mut held = Vec::with_capacity(BATCH);
    counted(ops, |_| work::safe_nops(ring, &mut held, BATCH))
}

fn nop_await(ring: &Ring, ops: u64) -> Count {
    ring.block_on(async {
        let mut held = Vec::with_capacity(BATCH);
        for _ in 0..WARM_BATCHES {
            work::safe_nops_await(ring, &mut held, BATCH).await;
        }
        let start = now();
        for _ in 0..ops / BATCH as u64 {
            work::safe_nops_await(ring, &mut held, BATCH).await;
        }
        since(start)
    })
}

fn read_vec(ring: &Ring, file: &File, ops: u64) -> Count {
    let mut spare: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(BLOCK)).collect();
    let mut held = Vec::with_capacity(BATCH);
    counted(ops, |b| {
        work::safe_reads(ring, file, &mut spare, &mut held, |k| batch_offset(b, k))
    })
}

fn read_vec_await(ring: &Ring, file: &File, ops: u64) -> Count {
    ring.block_on(async {
        let mut spare: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(BLOCK)).collect();
        let mut held = Vec::with_capacity(BATCH);
        let mut start = now();
        for b in 0..WARM_BATCHES + ops / BATCH as u64 {
            if b == WARM_BATCHES {
                start = now();
            }
            let offset = |k| batch_offset(b, k);
            work::safe_reads_await(ring, file, &mut spare, &mut held, offset).await;
        }
        since(start)
    })
}

/// Batches of reads into `pool`'s buffers, each submitted by `read(buffer, offset)`; every
/// buffer goes back to the pool when its operation completes.
fn read_pool<'r, T>(
    pool: &BufferPool,
    ops: u64,
    read: impl Fn(PooledBuffer, u64) -> Operation<'r, Submitted<T>>,
) -> Count
where
    T: OpCode<Output = BufResult<usize, PooledBuffer>>,
{
    let mut held = Vec::with_capacity(BATCH);
    counted(ops, |b| {
        for k in 0..BATCH {
            let buf = pool.try_get().expect("BATCH buffers");
            held.push(read(buf, batch_offset(b, k)));
        }
        for op in held.drain(..) {
            let (n, buf) = op.wait();
            assert_eq!(n.expect("read"), BLOCK);
            drop(buf); // back to the pool
        }
    })
}

fn read_pooled(ring: &Ring, file: &File, pool: &BufferPool, ops: u64) -> Count {
    read_pool(pool, ops, |buf, off| {
        ring.read_at(file, buf, off).submit().expect("submit")
    })
}

fn read_fixed(ring: &Ring, file: &RegisteredFd, pool: &BufferPool, ops: u64) -> Count {
    read_pool(pool, ops, |buf, off| {
        ring.read_fixed_at(file, buf, off).submit().expect("submit")
    })
}

fn write_vec(ring: &Ring, file: &File, ops: u64) -> Count {
    let mut spare: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![5u8; BLOCK]).collect();
    let mut held = Vec::with_capacity(BATCH);
    counted(ops, |b| {
        for (k, buf) in spare.drain(..).enumerate() {
            let off = offset(b * BATCH as u64 + k as u64);
            held.push(ring.write_at(file, buf, off).submit().expect("submit"));
        }
        for op in held.drain(..) {
            let (n, buf) = op.wait();
            assert_eq!(n.expect("write"), BLOCK);
            spare.push(buf);
        }
    })
}

fn raw_nop(ring: &mut IoUring, ops: u64) -> Count {
    counted(ops, |_| work::raw_nops(ring, BATCH))
}

fn raw_read(ring: &mut IoUring, fd: i32, ops: u64) -> Count {
    let mut bufs = vec![vec![0u8; BLOCK]; BATCH];
    counted(ops, |b| {
        work::raw_reads(ring, fd, &mut bufs, |k| batch_offset(b, k))
    })
}

/// (case, contender, whether the 0-allocations goal applies).
const PATHS: &[(&str, &str, bool)] = &[
    ("NOP sync", "safe", false),
    ("NOP .await", "safe", false),
    ("NOP", "raw io-uring", false),
    ("read_at Vec", "safe", true),
    ("read_at Vec .await", "safe", true),
    ("read_at pooled", "safe", true),
    ("read_fixed reg pool+fd", "safe", true),
    ("read 4 KiB", "raw io-uring", false),
    ("write_at Vec", "safe", true),
];

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let ops: u64 = if quick { 32_000 } else { 128_000 };
    let check = now();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(1)));
    assert!(
        since(check).allocs >= 1,
        "the counting allocator is not in use"
    );
    let dir = tempfile::tempdir()?;
    let src_path = dir.path().join("src.bin");
    std::fs::write(&src_path, vec![7u8; FILE_BLOCKS as usize * BLOCK])?;
    let std_src = std::fs::File::open(&src_path)?;
    let std_dst = std::fs::File::create(dir.path().join("dst.bin"))?;

    let ring = Ring::builder().entries(64).build()?;
    let src = File::from(std_src.try_clone()?);
    let dst = File::from(std_dst);
    let plain_pool = BufferPool::new(BATCH, BLOCK)?;
    let fixed_pool = BufferPool::new(BATCH, BLOCK)?;
    ring.register_pool(&fixed_pool)?;
    ring.register_files(1)?;
    let fixed_src = ring.register_file(&src)?;
    let mut raw_ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)?;
    let fd = std_src.as_raw_fd();

    let mut samples = vec![Samples::default(); PATHS.len()];
    let mut counts = vec![Vec::new(); PATHS.len()];
    for _ in 0..rounds {
        for (i, (s, c)) in samples.iter_mut().zip(counts.iter_mut()).enumerate() {
            // Writes are punted to io_uring's worker threads here: fewer of them.
            let n = if i == 8 { ops / 8 } else { ops };
            measure(s, n, || {
                c.push(match i {
                    0 => nop_sync(&ring, n),
                    1 => nop_await(&ring, n),
                    2 => raw_nop(&mut raw_ring, n),
                    3 => read_vec(&ring, &src, n),
                    4 => read_vec_await(&ring, &src, n),
                    5 => read_pooled(&ring, &src, &plain_pool, n),
                    6 => read_fixed(&ring, &fixed_src, &fixed_pool, n),
                    7 => raw_read(&mut raw_ring, fd, n),
                    _ => write_vec(&ring, &dst, n),
                })
            });
        }
    }
    for (i, ((case, contender, goal), s)) in PATHS.iter().zip(samples).enumerate() {
        let n = (if i == 8 { ops / 8 } else { ops } / BATCH as u64 * BATCH as u64) as f64;
        // The worst round, not the median: one allocation anywhere is worth seeing.
        let allocs = counts[i].iter().map(|c| c.allocs).max().unwrap_or(0) as f64 / n;
        let bytes = counts[i].iter().map(|c| c.bytes).max().unwrap_or(0) as f64 / n;
        report.rows.push(Row {
            suite: "alloc",
            case: case.to_string(),
            contender,
            samples: s,
        });
        report.metric("alloc", case, contender, "allocs/op", allocs);
        report.metric("alloc", case, contender, "bytes/op", bytes);
        if *goal {
            report.ceiling(&format!("alloc {case} allocations/op"), allocs, 0.0);
        } else if *contender == "safe" {
            // Not an issue goal, but the driver promises no allocation per operation.
            report.ceiling(
                &format!("alloc {case} allocations/op (driver promise)"),
                allocs,
                0.0,
            );
        }
    }
    report.notes.push(format!(
        "alloc: a counting global allocator (every thread; checked to be live before the \
         suite); `read_at Vec` reuses owned `Vec`s, `read_at pooled` reads into `BufferPool` \
         buffers, `read_fixed reg pool+fd` is READ_FIXED with a registered pool and file; each path runs {WARM_BATCHES} \
         warm-up batches, then {} operations in batches of {BATCH} (writes: {}), and reports the \
         worst round's heap allocations and bytes allocated per operation. The op/s rows of this \
         suite run under that allocator and are for reference only.",
        ops,
        ops / 8
    ));
    Ok(())
}
