//! `BufferPool`: taking a buffer and giving it back — one at a time with `try_get`, 32 out then
//! 32 back, and the async `get` when a buffer is free (polled once, no executor).
//!
//! `cargo bench --bench pool [-- --quick]`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use safer_ring::BufferPool;

fn pool(c: &mut Criterion) {
    let pool = BufferPool::new(64, 4096).expect("pool");
    let mut held = Vec::with_capacity(32);
    let mut g = c.benchmark_group("pool get/put");
    g.bench_function("try_get + drop", |b| {
        b.iter(|| drop(black_box(pool.try_get().expect("a free buffer"))))
    });
    g.throughput(criterion::Throughput::Elements(32));
    g.bench_function("32 try_get, then 32 drops", |b| {
        b.iter(|| {
            held.extend((0..32).map(|_| pool.try_get().expect("a free buffer")));
            held.clear();
        })
    });
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function("get().await (ready) + drop", |b| {
        let mut cx = Context::from_waker(Waker::noop());
        b.iter(|| {
            let Poll::Ready(buf) = pin!(pool.get()).poll(&mut cx) else {
                panic!("a free buffer is ready at once");
            };
            drop(black_box(buf));
        })
    });
    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
