//! Invariant 9: bounded in-flight operations with back-pressure, and completed-but-unpolled
//! operations never stall others.

mod common;

use std::future::IntoFuture;

use futures::StreamExt;
use safer_ring::{File, Ring, SaferRingError};

#[test]
fn hundred_thousand_operations_through_a_ring_of_8_entries() {
    let ring = Ring::new(8).unwrap();
    assert_eq!(ring.capacity(), 16);
    let file = File::from(tempfile::tempfile().unwrap());
    const N: u64 = 50_000;
    ring.block_on(async {
        // 64 concurrent futures on a ring that takes 16: the rest wait for slots.
        let writes = futures::stream::iter(0..N)
            .map(|i| {
                let op = ring.write_at(&file, i.to_le_bytes().to_vec(), i * 8);
                async move {
                    let (n, _) = op.await;
                    assert_eq!(n.unwrap(), 8, "write {i}");
                }
            })
            .buffer_unordered(64);
        writes.collect::<()>().await;
        let reads = futures::stream::iter(0..N)
            .map(|i| {
                let op = ring.read_at(&file, Vec::with_capacity(8), i * 8);
                async move {
                    let (n, buf) = op.await;
                    assert_eq!(n.unwrap(), 8);
                    assert_eq!(buf, i.to_le_bytes(), "read {i}");
                }
            })
            .buffer_unordered(64);
        reads.collect::<()>().await;
    });
    let stats = ring.stats();
    assert_eq!(stats.submitted, 2 * N);
    assert_eq!(stats.completed, 2 * N);
    assert_eq!(ring.live_slots(), 0);
}

#[test]
fn sync_submit_past_the_limit_is_a_clear_error_that_hands_the_operation_back() {
    let ring = Ring::new(2).unwrap();
    let (reader, _w) = common::pipe();
    let held: Vec<_> = (0..ring.capacity())
        .map(|_| ring.read(&reader, vec![0u8; 8]).submit().unwrap())
        .collect();
    let err = ring.read(&reader, vec![1u8; 8]).submit().unwrap_err();
    assert!(matches!(
        err.error(),
        SaferRingError::SlotTableFull {
            in_flight: 4,
            limit: 4
        }
    ));
    assert!(err.to_string().contains("limit 4"));
    drop(err.into_inner()); // the operation came back whole
    drop(held);
}

#[test]
fn a_thousand_completed_unpolled_operations_do_not_stall_new_ones() {
    let ring = Ring::new(8).unwrap();
    let mut idle_futures = Vec::new();
    let mut idle_ops = Vec::new();
    for i in 0..1000 {
        if ring.in_flight() == ring.capacity() {
            while ring.in_flight() > 0 {
                ring.turn(true).unwrap();
            }
        }
        if i % 2 == 0 {
            let mut fut = ring.nop().into_future();
            assert!(common::poll_once(&mut fut).is_pending());
            idle_futures.push(fut);
        } else {
            idle_ops.push(ring.nop().submit().unwrap());
        }
    }
    while ring.in_flight() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.live_slots(), 1000, "completed, never polled again");
    for _ in 0..10_000 {
        ring.nop().submit().unwrap().wait().unwrap();
    }
    ring.block_on(async {
        for _ in 0..1_000 {
            ring.nop().await.unwrap();
        }
    });
    drop(idle_futures);
    drop(idle_ops);
    assert_eq!(ring.live_slots(), 0);
}
