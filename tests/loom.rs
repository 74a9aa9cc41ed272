//! Model-checked concurrency of the buffer pool:
//! `RUSTFLAGS="--cfg safer_ring_loom" cargo test --release --test loom` (a cfg of our own:
//! `--cfg loom` would also switch tokio, a dev-dependency, into its own loom mode and break it).
#![cfg(safer_ring_loom)]

use safer_ring::BufferPool;

#[test]
fn concurrent_get_put_never_shares_a_buffer() {
    loom::model(|| {
        let pool = BufferPool::new(1, 64).unwrap();
        let other = pool.clone();
        let t = loom::thread::spawn(move || {
            if let Some(mut b) = other.try_get() {
                b.set_len(1);
                b.as_mut_capacity()[0] = 1;
                assert_eq!(b.as_slice(), [1]);
            }
        });
        if let Some(mut b) = pool.try_get() {
            b.as_mut_capacity()[0] = 2;
            b.set_len(1);
            assert_eq!(b.as_slice(), [2]);
        }
        t.join().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.in_use, stats.free), (0, 1));
    });
}

#[test]
fn buffer_dropped_after_the_pool_handle_on_another_thread() {
    loom::model(|| {
        let pool = BufferPool::new(2, 64).unwrap();
        let buf = pool.try_get().unwrap();
        let t = loom::thread::spawn(move || drop(buf));
        drop(pool);
        t.join().unwrap();
    });
}

#[test]
fn waiter_is_woken_when_a_buffer_returns() {
    loom::model(|| {
        let pool = BufferPool::new(1, 64).unwrap();
        let held = pool.try_get().unwrap();
        let t = loom::thread::spawn(move || drop(held));
        let buf = loom::future::block_on(pool.get());
        t.join().unwrap();
        drop(buf);
        assert_eq!(pool.stats().in_use, 0);
    });
}
