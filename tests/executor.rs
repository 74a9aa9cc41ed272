//! The built-in executor: concurrency inside one `block_on`, and wake-ups from other threads
//! while the thread sleeps in `io_uring_enter`.

mod common;

use std::time::{Duration, Instant};

use common::{feed, pipe};
use safer_ring::Ring;

#[test]
fn waker_from_another_thread_reaches_a_thread_sleeping_in_the_kernel() {
    let ring = Ring::new(8).unwrap();
    // Keep a read in flight so the executor sleeps in io_uring_enter, not on a futex.
    let (reader, _writer) = pipe();
    let pending_read = ring.read(&reader, Vec::with_capacity(8)).submit().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel();
    let t0 = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        tx.send(42).unwrap();
    });
    let got = ring.block_on(rx).unwrap();
    assert_eq!(got, 42);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(200));
    assert!(waited < Duration::from_secs(5), "wake-up lost: {waited:?}");
    sender.join().unwrap();
    drop(pending_read);
}

#[test]
fn many_operations_run_concurrently_in_one_block_on() {
    let ring = Ring::new(32).unwrap();
    let pipes: Vec<_> = (0..16).map(|_| pipe()).collect();
    let (readers, writers): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
    let feeder = std::thread::spawn(move || {
        for (i, mut w) in writers.into_iter().enumerate().rev() {
            std::thread::sleep(Duration::from_millis(5));
            feed(&mut w, format!("pipe {i}").as_bytes());
        }
    });
    let results = ring.block_on(futures::future::join_all(
        readers
            .iter()
            .map(|r| ring.read(r, Vec::with_capacity(16)).into_future()),
    ));
    feeder.join().unwrap();
    for (i, (n, buf)) in results.into_iter().enumerate() {
        n.unwrap();
        assert_eq!(buf, format!("pipe {i}").into_bytes());
    }
}

use std::future::IntoFuture;
