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

/// A waiter that gives up (is dropped) while a buffer comes back on another thread: whether
/// the return woke it first or not, the waiter queued behind it still gets the buffer.
#[test]
fn waiter_dropped_while_a_buffer_returns_does_not_strand_the_next() {
    use std::future::Future;
    use std::task::{Context, Waker};

    loom::model(|| {
        let pool = BufferPool::new(1, 64).unwrap();
        let held = pool.try_get().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut gives_up = Box::pin(pool.get());
        let mut stays = Box::pin(pool.get());
        assert!(gives_up.as_mut().poll(&mut cx).is_pending());
        assert!(stays.as_mut().poll(&mut cx).is_pending());
        let t = loom::thread::spawn(move || drop(held));
        drop(gives_up);
        let buf = loom::future::block_on(stays);
        t.join().unwrap();
        drop(buf);
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The executor's sleep/wake handshake (`runtime/wake_flag.rs`): a wake-up from another
/// thread is never lost — either the executor sees it and does not sleep, or the waker sees
/// the executor asleep and signals it.
#[test]
fn cross_thread_wake_is_never_lost() {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use safer_ring::WakeFlag;

    loom::model(|| {
        let flag = Arc::new(WakeFlag::new());
        let signaled = Arc::new(AtomicBool::new(false));
        flag.reset();
        let waker = {
            let (flag, signaled) = (flag.clone(), signaled.clone());
            loom::thread::spawn(move || {
                if flag.wake() {
                    signaled.store(true, Ordering::SeqCst);
                }
            })
        };
        let slept = flag.begin_sleep();
        waker.join().unwrap();
        if slept {
            assert!(signaled.load(Ordering::SeqCst), "slept through a wake-up");
        } else {
            assert!(flag.is_woken());
        }
        flag.end_sleep();
    });
}
