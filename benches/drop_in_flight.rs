//! Dropping an operation mid-flight and turning the ring until its slot is free again: a read
//! on a pipe that never gets data (the drop parks the buffer and issues an async cancel; the
//! read's final CQE returns it to its pool) and a NOP dropped after submission.
//!
//! `cargo bench --bench drop_in_flight [-- --quick]`

use std::os::fd::OwnedFd;

use criterion::{Criterion, criterion_group, criterion_main};
use safer_ring::{BufferPool, File, Ring};

/// Turns the ring until no slot is live (every dropped operation has its final CQE).
fn settle(ring: &Ring) {
    while ring.live_slots() > 0 {
        ring.turn(true).expect("turn");
    }
}

fn drop_in_flight(c: &mut Criterion) {
    let ring = Ring::builder().entries(64).build().expect("ring");
    let (reader, _writer) = std::io::pipe().expect("pipe");
    let reader = File::from(OwnedFd::from(reader));
    let pool = BufferPool::new(4, 4096).expect("pool");
    let mut g = c.benchmark_group("drop mid-flight");
    g.bench_function("pipe read (cancelled)", |b| {
        b.iter(|| {
            let buf = pool.try_get().expect("a free buffer");
            let op = ring.read(&reader, buf).submit().expect("submit");
            ring.submit().expect("flush: the read is in the kernel");
            drop(op);
            settle(&ring);
        })
    });
    g.bench_function("nop", |b| {
        b.iter(|| {
            let op = ring.nop().submit().expect("submit");
            ring.submit().expect("flush");
            drop(op);
            settle(&ring);
        })
    });
    g.finish();
    assert_eq!(
        pool.stats().free,
        4,
        "every parked buffer went back to its pool"
    );
}

criterion_group!(benches, drop_in_flight);
criterion_main!(benches);
