//! Invariant 9: bounded in-flight operations with back-pressure, and completed-but-unpolled
//! operations never stall others.

mod common;

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

use futures::StreamExt;
use safer_ring::{File, Ring, SaferRingError};

#[test]
fn hundred_thousand_operations_through_a_ring_of_8_entries() {
    let ring = common::ring_with_limit(8, 16);
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
    let ring = common::ring_with_limit(2, 4);
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

/// A submit at the limit reaps to make room; the futures that reap completed are woken before
/// `submit` returns, not left for a turn that may block first (a lost wake-up).
#[test]
fn a_submit_that_reaps_wakes_what_it_completed() {
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let ring = common::ring_with_limit(2, 4);
    let (reader, _w) = common::pipe();
    let held: Vec<_> = (0..ring.capacity() - 1)
        .map(|_| ring.read(&reader, vec![0u8; 8]).submit().unwrap())
        .collect();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut nop = ring.nop().into_future();
    assert!(common::poll_with(&mut nop, &waker).is_pending());
    let more = ring.read(&reader, vec![0u8; 8]).submit().unwrap();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "woken by the submit that reaped it"
    );
    assert!(common::poll_once(&mut nop).is_ready());
    drop((held, more));
}

#[test]
fn a_thousand_completed_unpolled_operations_do_not_stall_new_ones() {
    let ring = common::ring_with_limit(8, 16);
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

#[test]
fn thousands_of_tasks_waiting_for_slots_all_finish() {
    // A lost wake-up would hang: run on a thread and give up after a minute.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tasks_through_a_small_ring();
        let _ = done.send(());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("tasks waiting for slots stalled (or panicked)");
}

fn tasks_through_a_small_ring() {
    // 2,000 tasks, each 20 operations, through a ring that holds 16 at a time: most tasks
    // wait for a slot at any moment, and every one must get its turn (no lost wake-up, no
    // starvation). Each task's writes land at its own offsets, checked at the end.
    const TASKS: u64 = 2_000;
    const OPS: u64 = 20;
    let ring = std::rc::Rc::new(common::ring_with_limit(8, 16));
    let file = std::rc::Rc::new(File::from(tempfile::tempfile().unwrap()));
    let finished = ring.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let (ring, file) = (ring.clone(), file.clone());
                safer_ring::spawn(async move {
                    for k in 0..OPS {
                        let at = (t * OPS + k) * 8;
                        let (n, _) = ring.write_at(&*file, at.to_le_bytes().to_vec(), at).await;
                        assert_eq!(n.unwrap(), 8);
                    }
                    t
                })
            })
            .collect();
        let mut finished = 0;
        for (t, handle) in (0..TASKS).zip(handles) {
            assert_eq!(handle.await.unwrap(), t);
            finished += 1;
        }
        finished
    });
    assert_eq!(finished, TASKS);
    assert_eq!(ring.live_slots(), 0);
    let (n, buf) = ring
        .read_at(&*file, Vec::with_capacity((TASKS * OPS * 8) as usize), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(n.unwrap(), (TASKS * OPS * 8) as usize);
    for (i, word) in buf.chunks(8).enumerate() {
        assert_eq!(word, (i as u64 * 8).to_le_bytes(), "word {i}");
    }
}

/// In-flight operations are not capped by the CQ: 10,000 NOPs in flight on a 4-entry CQ all
/// complete; the completions that found the CQ full waited in the kernel's overflow list.
#[test]
fn ten_thousand_nops_in_flight_on_a_4_entry_cq_all_complete() {
    let ring = Ring::builder()
        .entries(2)
        .cq_entries(4)
        .max_in_flight(10_000)
        .build()
        .unwrap();
    let ops: Vec<_> = (0..10_000).map(|_| ring.nop().submit().unwrap()).collect();
    assert_eq!(ring.in_flight(), 10_000);
    for op in ops {
        op.wait().unwrap();
    }
    let stats = ring.stats();
    assert_eq!((stats.submitted, stats.completed), (10_000, 10_000));
    if common::kernel_only("the kernel's CQ overflow list (the fallback's CQ grows)") {
        assert!(stats.cq_overflows > 0, "the CQ overflowed: {stats:?}");
    }
    assert_eq!(ring.live_slots(), 0);
}
