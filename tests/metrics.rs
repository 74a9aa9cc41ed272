//! The metrics snapshot (`Ring::stats`): the counters the ring keeps whatever the features
//! (SQ-full waits, cancelled completions, `io_uring_enter` calls) and its in-flight gauge,
//! checked against what the test made the kernel do.

mod common;

use safer_ring::Ring;

#[test]
fn pushing_past_the_submission_queue_counts_one_wait_per_full_queue() {
    if !common::kernel_only("the kernel's submission queue size") {
        return;
    }
    let ring = Ring::new(8).unwrap();
    let sq = u64::from(ring.config().entries);
    let n = 3 * sq + 2;
    let before = ring.stats();
    let ops: Vec<_> = (0..n).map(|_| ring.nop().submit().unwrap()).collect();
    let queued = ring.stats();
    // Each SQE that finds the queue full flushes the `sq` before it: one wait per full queue.
    assert_eq!(queued.sq_full_waits - before.sq_full_waits, (n - 1) / sq);
    assert_eq!(
        queued.enters - before.enters,
        (n - 1) / sq,
        "a flush per wait"
    );
    assert_eq!(queued.in_flight, n, "every NOP queued or in the kernel");
    assert_eq!(queued.submitted - before.submitted, n);
    for op in ops {
        op.wait().unwrap();
    }
    let done = ring.stats();
    assert_eq!(done.in_flight, 0);
    assert_eq!(done.completed - before.completed, n);
    assert_eq!(
        done.sq_full_waits, queued.sq_full_waits,
        "waiting queues nothing"
    );
    assert_eq!(done.cancelled, 0, "nothing was cancelled");
}

#[test]
fn a_queue_flushed_before_it_fills_never_waits() {
    let ring = Ring::new(8).unwrap();
    let sq = u64::from(ring.config().entries);
    for _ in 0..4 {
        let ops: Vec<_> = (0..sq).map(|_| ring.nop().submit().unwrap()).collect();
        ring.submit().unwrap();
        ops.into_iter().for_each(|op| op.wait().unwrap());
    }
    assert_eq!(ring.stats().sq_full_waits, 0);
    assert_eq!(ring.stats().completed, 4 * sq);
}

#[test]
fn cancelled_counts_the_operations_the_rings_cancels_took() {
    let ring = Ring::new(8).unwrap();
    let (empty, _writer) = common::pipe();
    // Cancelled and waited for: the owner gets ECANCELED.
    let read = ring.read(&empty, vec![0; 16]).submit().unwrap();
    ring.submit().unwrap();
    assert_eq!(ring.stats().in_flight, 1);
    let (res, _buf) = read.cancel().wait();
    let err = res.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECANCELED), "{err:?}");
    assert_eq!(ring.stats().cancelled, 1);
    // Dropped mid-flight: the ring cancels it and reaps its ECANCELED itself.
    let read = ring.read(&empty, vec![0; 16]).submit().unwrap();
    ring.submit().unwrap();
    drop(read);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    let stats = ring.stats();
    assert_eq!(
        (stats.cancelled, stats.abandoned, stats.released),
        (2, 1, 1)
    );
    // A cancel that comes too late finds nothing: the NOP completed, and is not counted.
    let nop = ring.nop().submit().unwrap();
    while ring.stats().in_flight > 0 {
        ring.turn(true).unwrap();
    }
    nop.cancel().wait().unwrap();
    ring.nop().submit().unwrap().wait().unwrap(); // reaps the late cancel's CQE
    assert_eq!(ring.stats().cancelled, 2);
    assert_eq!(ring.stats().cancels, 3, "three cancels were pushed");
}
