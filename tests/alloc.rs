//! Zero heap allocations per operation in steady state on the owned-buffer paths.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use safer_ring::io::RingIo;
use safer_ring::{File, Ring};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Net bytes allocated by threads that opted in (see `NET`).
static NET_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static NET: Cell<bool> = const { Cell::new(false) };
    /// Allocations are counted on the thread measuring only: the test harness's own threads
    /// (printing another test's result) allocate whenever they like.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// The tests here measure process-wide counters: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn net_add(bytes: i64) {
    if NET.with(Cell::get) {
        NET_BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        net_add(layout.size() as i64);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        net_add(-(layout.size() as i64));
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        net_add(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.load(Ordering::SeqCst))
}

const OPS: usize = 10_000;

fn sync_round(ring: &Ring, file: &File, mut buf: Vec<u8>) -> Vec<u8> {
    for i in 0..OPS as u64 {
        let (n, back) = ring.write_at(file, buf, i * 64).submit().unwrap().wait();
        assert_eq!(n.unwrap(), 64);
        let (n, back) = ring.read_at(file, back, i * 64).submit().unwrap().wait();
        assert_eq!(n.unwrap(), 64);
        buf = back;
    }
    buf
}

#[test]
fn owned_buffer_read_write_paths_allocate_nothing_per_operation() {
    if !common::kernel_only(
        "allocations counted on the test thread (the fallback frees each request on its worker thread)",
    ) {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ring = Ring::new(64).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    let buf = sync_round(&ring, &file, vec![7u8; 64]); // warm up: slot table, file extent
    let (buf, allocs) = count(|| sync_round(&ring, &file, buf));
    assert_eq!(
        allocs,
        0,
        "sync path: {allocs} allocations for {} ops",
        2 * OPS
    );

    ring.block_on(ring.nop()).unwrap(); // warm up the executor's wake-up state
    let (_, allocs) = count(|| {
        ring.block_on(async {
            let mut buf = buf;
            for i in 0..OPS as u64 {
                let (n, back) = ring.write_at(&file, buf, i * 64).await;
                n.unwrap();
                let (n, back) = ring.read_at(&file, back, i * 64).await;
                n.unwrap();
                buf = back;
            }
        })
    });
    assert_eq!(
        allocs,
        0,
        "async path: {allocs} allocations for {} ops",
        2 * OPS
    );
}

/// One write-behind, flush and read through the adapters, the way a protocol uses them.
async fn adapter_round(
    a: &mut RingIo<safer_ring::net::UnixStream>,
    b: &mut RingIo<safer_ring::net::UnixStream>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    a.write_all(&[7u8; 64]).await.unwrap();
    a.flush().await.unwrap();
    let mut got = [0u8; 64];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [7u8; 64]);
}

#[test]
fn ring_io_reads_and_writes_allocate_nothing_per_call_in_steady_state() {
    if !common::kernel_only(
        "allocations counted on the test thread (the fallback frees each request on its worker thread)",
    ) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ring = std::rc::Rc::new(Ring::new(8).unwrap());
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut a = RingIo::new(&ring, a.into());
    let mut b = RingIo::new(&ring, b.into());
    // The first two rounds allocate the adapters' buffers (the read buffer, then the write
    // buffer in flight and the one filling); after that they are reused.
    for _ in 0..2 {
        ring.block_on(adapter_round(&mut a, &mut b));
    }
    let ((), allocs) = count(|| {
        ring.block_on(async {
            for _ in 0..OPS {
                adapter_round(&mut a, &mut b).await;
            }
        })
    });
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {OPS} write/flush/read rounds"
    );
}

#[test]
fn ring_drop_with_operations_in_flight_frees_every_byte_and_fd() {
    if !common::kernel_only(
        "allocations counted on the test thread (the fallback frees each request on its worker thread)",
    ) {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let pipes: Vec<_> = (0..32)
        .map(|_| {
            let (r, w) = std::io::pipe().unwrap();
            (OwnedFd::from(r), w)
        })
        .collect();
    let fds_before = fds();
    NET_BYTES.store(0, Ordering::SeqCst);
    NET.with(|n| n.set(true));
    {
        let ring = Ring::new(32).unwrap();
        let files: Vec<File> = pipes
            .iter()
            .map(|(r, _)| File::from(r.try_clone().unwrap()))
            .collect();
        for (i, f) in files.iter().enumerate() {
            let op = ring.read(f, vec![0u8; 1024]).submit().unwrap();
            if i % 2 == 0 {
                drop(op); // parked in the ring
            } else {
                std::mem::forget(ring.nop().submit().unwrap()); // a forgotten NOP leaks nothing
                drop(op);
            }
        }
        ring.block_on(ring.nop()).unwrap();
        drop(files); // the fds stay open until the reads' final CQEs
        drop(ring);
    }
    NET.with(|n| n.set(false));
    assert_eq!(
        NET_BYTES.load(Ordering::SeqCst),
        0,
        "bytes still allocated after ring drop"
    );
    assert_eq!(fds(), fds_before, "fds still open after ring drop");
}
