//! Submit and complete NOPs: one at a time (submit, then wait), and 32 submitted before the
//! first is completed — the safe API next to the same work on the raw `io-uring` crate.
//!
//! `cargo bench --bench submit_complete [-- --quick]`

#![allow(unsafe_code)] // the raw baseline is written directly on the io-uring crate

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use safer_ring::Ring;
use safer_ring::io_uring::{IoUring, opcode};

const BATCH: usize = 32;

fn raw_ring() -> IoUring {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(128)
        .build(64)
        .expect("raw ring")
}

fn raw_batch(ring: &mut IoUring, n: usize) {
    {
        let mut sq = ring.submission();
        for i in 0..n {
            let nop = opcode::Nop::new().build().user_data(i as u64);
            // SAFETY: a NOP names no memory.
            unsafe { sq.push(&nop).expect("room for a batch") };
        }
    }
    ring.submit_and_wait(n).expect("submit_and_wait");
    assert_eq!(ring.completion().count(), n);
}

fn one_nop(c: &mut Criterion) {
    let ring = Ring::builder().entries(64).build().expect("ring");
    let mut raw = raw_ring();
    let mut g = c.benchmark_group("nop submit+wait");
    g.bench_function("safe", |b| {
        b.iter(|| black_box(ring.nop().submit().expect("submit").wait()))
    });
    g.bench_function("raw io-uring", |b| b.iter(|| raw_batch(&mut raw, 1)));
    g.finish();
}

fn batch_of_32(c: &mut Criterion) {
    let ring = Ring::builder().entries(64).build().expect("ring");
    let mut raw = raw_ring();
    let mut held = Vec::with_capacity(BATCH);
    let mut g = c.benchmark_group("nop submit 32 then complete");
    g.throughput(criterion::Throughput::Elements(BATCH as u64));
    g.bench_function("safe", |b| {
        b.iter(|| {
            held.extend((0..BATCH).map(|_| ring.nop().submit().expect("submit")));
            held.drain(..).for_each(|op| op.wait().expect("nop"));
        })
    });
    g.bench_function("raw io-uring", |b| b.iter(|| raw_batch(&mut raw, BATCH)));
    g.finish();
}

criterion_group!(benches, one_nop, batch_of_32);
criterion_main!(benches);
