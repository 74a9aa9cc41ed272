//! Invariant 5: dropping the ring with operations in flight cancels them, waits for every
//! final CQE, and only then frees their buffers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Sentinel, open_fds, pipe, serial};
use safer_ring::Ring;

#[test]
fn ring_drop_with_128_reads_in_flight_frees_each_buffer_after_its_cqe() {
    let _serial = serial();
    let fds_at_start = open_fds();
    let drops = Arc::new(AtomicUsize::new(0));
    let pipes: Vec<_> = (0..128).map(|_| pipe()).collect();
    let ring = Ring::builder().entries(128).build().unwrap();
    let mut tokens = Vec::new();
    let mut ops = Vec::new();
    for (reader, _) in &pipes {
        let (buf, token) = Sentinel::new(256, &drops);
        tokens.push(token);
        ops.push(ring.read(reader, buf).submit().unwrap());
    }
    ring.submit().unwrap();
    assert_eq!(ring.in_flight(), 128);
    // The owners let go: every buffer moves into its slot, none is freed.
    drop(ops);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert!(tokens.iter().all(|t| Arc::strong_count(t) == 2));

    let report = ring.shutdown();
    assert_eq!(report.in_flight, 128);
    assert_eq!(
        report.released, 128,
        "each buffer released by its own final CQE"
    );
    assert_eq!(report.leaked, 0);
    assert!(!report.timed_out);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        128,
        "every buffer freed exactly once"
    );
    assert!(tokens.iter().all(|t| Arc::strong_count(t) == 1));
    drop(pipes);
    assert_eq!(open_fds(), fds_at_start);
}

#[test]
fn ring_drop_while_data_arrives_delivers_or_cancels_every_read() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let (readers, writers): (Vec<_>, Vec<_>) = (0..64).map(|_| pipe()).unzip();
    let ring = Ring::builder().entries(64).build().unwrap();
    for reader in &readers {
        let (buf, _) = Sentinel::new(64, &drops);
        drop(ring.read(reader, buf).submit().unwrap());
    }
    ring.submit().unwrap();
    let feeder = std::thread::spawn(move || {
        for mut w in writers {
            common::feed(&mut w, b"racing the shutdown");
        }
    });
    let report = ring.shutdown();
    feeder.join().unwrap();
    assert_eq!(report.released, 64);
    assert_eq!(drops.load(Ordering::SeqCst), 64);
}

#[test]
fn plain_drop_of_a_busy_ring_returns() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let (reader, _writer) = pipe();
    let ring = Ring::new(4).unwrap();
    let (buf, token) = Sentinel::new(64, &drops);
    drop(ring.read(&reader, buf).submit().unwrap());
    drop(ring);
    assert_eq!(Arc::strong_count(&token), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}
