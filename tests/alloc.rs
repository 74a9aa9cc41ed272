//! Zero heap allocations per operation in steady state on the owned-buffer paths.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use safer_ring::{File, Ring};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
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
