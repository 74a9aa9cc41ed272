//! Invariant 4: `mem::forget` of an operation or a future leaks, never corrupts.
//!
//! These tests leak on purpose (listed in `.ci/lsan.supp`).

mod common;

use std::future::IntoFuture;

use common::{feed, pipe, poll_once};
use safer_ring::Ring;

const SIZE: usize = 4096;

/// After the kernel writes 0x55 into the forgotten buffer, a same-size allocation made right
/// after the forget must still hold its own 0xAA bytes: the forgotten buffer was not freed
/// and reused.
fn check_victim_and_keep_working(ring: &Ring, mut writer: std::fs::File) {
    let victim = vec![0xAAu8; SIZE];
    feed(&mut writer, &[0x55u8; SIZE]);
    while ring.in_flight() > 0 {
        ring.turn(true).unwrap();
    }
    assert!(
        victim.iter().all(|&b| b == 0xAA),
        "victim allocation corrupted"
    );

    let (reader, mut writer) = pipe();
    let mut buf = Vec::with_capacity(8);
    for i in 0u64..10_000 {
        feed(&mut writer, &i.to_le_bytes());
        let (n, back) = ring.read(&reader, buf).submit().unwrap().wait();
        assert_eq!(n.unwrap(), 8);
        assert_eq!(back, i.to_le_bytes(), "operation {i} read wrong data");
        buf = back;
    }
}

#[test]
fn forgotten_submitted_operation_leaks_without_corruption() {
    let ring = Ring::new(8).unwrap();
    let (reader, writer) = pipe();
    let op = ring
        .read(&reader, Vec::with_capacity(SIZE))
        .submit()
        .unwrap();
    ring.submit().unwrap();
    std::mem::forget(op);
    check_victim_and_keep_working(&ring, writer);
}

#[test]
fn forgotten_pending_future_leaks_without_corruption() {
    let ring = Ring::new(8).unwrap();
    let (reader, writer) = pipe();
    let mut fut = ring.read(&reader, Vec::with_capacity(SIZE)).into_future();
    assert!(poll_once(&mut fut).is_pending());
    ring.submit().unwrap();
    std::mem::forget(fut);
    check_victim_and_keep_working(&ring, writer);
}

#[test]
fn ring_dropped_after_forgetting_an_operation_returns() {
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe();
    let op = ring
        .read(&reader, Vec::with_capacity(SIZE))
        .submit()
        .unwrap();
    std::mem::forget(op);
    let report = ring.shutdown();
    assert_eq!(report.in_flight, 1);
    assert!(
        !report.timed_out,
        "the forgotten read was cancelled and reaped"
    );
}
