//! Fault injection: every error path returns the buffer and a clear error, and the ring
//! keeps working — for kernel errnos, a full submission queue, and completion-queue overflow.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Sentinel, feed, pipe};
use safer_ring::{File, Ring, SaferRingError};

const ERRNOS: [i32; 6] = [
    libc::EINTR,
    libc::EAGAIN,
    libc::ENOMEM,
    libc::ECANCELED,
    libc::EBADF,
    libc::ENOBUFS,
];

#[test]
fn injected_errnos_come_back_with_the_buffer_and_the_ring_recovers() {
    let ring = Ring::new(8).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    for errno in ERRNOS {
        ring.inject_cqe_errors(errno, 2);
        let (res, buf) = ring
            .write_at(&file, b"payload".to_vec(), 0)
            .submit()
            .unwrap()
            .wait();
        let err = res.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(errno));
        assert!(err.to_string().starts_with("write_at failed"), "{err}");
        assert_eq!(buf, b"payload", "buffer handed back intact");
        let (res, buf) = ring.block_on(ring.read_at(&file, Vec::with_capacity(16), 0));
        assert_eq!(res.unwrap_err().raw_os_error(), Some(errno));
        assert_eq!(buf.capacity(), 16);
        // The ring keeps working.
        let (n, _) = ring
            .write_at(&file, b"ok".to_vec(), 0)
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 2);
    }
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.live_slots(), 0);
}

#[test]
fn injected_errors_on_abandoned_operations_still_release_their_buffers() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    ring.inject_cqe_errors(libc::ENOMEM, 4);
    for _ in 0..4 {
        let (buf, _) = Sentinel::new(32, &drops);
        drop(ring.read(&reader, buf).submit().unwrap());
    }
    feed(&mut writer, b"x");
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn full_submission_queue_waits_in_the_async_path_and_is_an_error_in_the_sync_one() {
    let ring = Ring::new(4).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    ring.inject_sq_full(1);
    let (res, buf) = ring.block_on(ring.write_at(&file, b"kept".to_vec(), 0));
    // The future waits for the next turn instead of failing or spinning, then goes through.
    assert_eq!(res.unwrap(), 4, "retried after the transient fault");
    assert_eq!(buf, b"kept");
    // The sync API reports it, handing the operation back.
    ring.inject_sq_full(1);
    let err = ring
        .write_at(&file, b"again".to_vec(), 0)
        .submit()
        .unwrap_err();
    assert!(matches!(err.error(), SaferRingError::SubmissionQueueFull));
    assert_eq!(err.into_output().1, b"again");
    ring.nop().submit().unwrap().wait().unwrap();
}

#[test]
fn completion_queue_overflow_loses_nothing() {
    // A completion queue as small as the submission queue, then more CQEs than it holds:
    // four reads plus four cancels for them when they are dropped.
    let ring = Ring::builder().entries(4).cq_entries(4).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let pipes: Vec<_> = (0..4).map(|_| pipe()).collect();
    for (reader, _) in &pipes {
        let (buf, _) = Sentinel::new(8, &drops);
        drop(ring.read(reader, buf).submit().unwrap());
    }
    ring.submit().unwrap();
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        4,
        "every parked buffer released"
    );
    let stats = ring.stats();
    assert_eq!(stats.submitted, stats.completed);
    assert_eq!(stats.cancels, 4);
    for _ in 0..100 {
        ring.nop().submit().unwrap().wait().unwrap();
    }
}
