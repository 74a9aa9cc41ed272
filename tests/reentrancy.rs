//! User code the ring calls may call back into the same ring (invariant 11: effects run after
//! the core's borrow ends): a buffer whose `Drop` submits and waits for a new operation while
//! the ring releases it, and a waker that drops another pending future of the same ring when
//! woken. No panic, nothing leaked, and the ring keeps working afterwards.
#![allow(unsafe_code)]

mod common;

use std::cell::RefCell;
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

use common::model::settle;
use common::{Sentinel, feed, open_fds, pipe, serial};
use safer_ring::fs::opcodes::Read;
use safer_ring::{OpFuture, Ring};

/// The ring under test, `'static` so that a pending future of it can sit in a thread-local
/// (reclaimed by [`free_ring`] once nothing refers to it).
fn leaked_ring() -> &'static Ring {
    Box::leak(Box::new(Ring::new(8).unwrap()))
}

fn free_ring(ring: &'static Ring) {
    // SAFETY: made by `leaked_ring`'s `Box::leak`; every future and operation of it is gone.
    drop(unsafe { Box::from_raw(std::ptr::from_ref(ring).cast_mut()) });
}

thread_local! {
    static RING: RefCell<Option<&'static Ring>> = const { RefCell::new(None) };
    static VICTIM: RefCell<Option<OpFuture<'static, Read<Sentinel>>>> = const { RefCell::new(None) };
}

/// A buffer whose `Drop` runs a NOP to completion on the thread's ring; `drops` counts them.
fn submits_on_drop(drops: &Arc<AtomicUsize>) -> Sentinel {
    Sentinel::new(16, drops).0.on_drop(|| {
        let ring = RING.with(|r| r.borrow().expect("ring set"));
        ring.nop().submit().unwrap().wait().unwrap();
    })
}

#[test]
fn a_buffer_whose_drop_submits_on_the_same_ring_is_released_by_it() {
    let _serial = serial();
    let ring = leaked_ring();
    RING.with(|r| *r.borrow_mut() = Some(ring));
    let before = open_fds();
    let nops = Arc::new(AtomicUsize::new(0));
    {
        let (r, mut w) = pipe();
        let buf = submits_on_drop(&nops);
        drop(ring.read(&r, buf).submit().unwrap()); // abandoned: parked in its slot
        feed(&mut w, b"wakes the read");
        settle(ring); // the release (the buffer's Drop) runs with nothing borrowed
        assert_eq!(nops.load(Ordering::SeqCst), 1, "the Drop's NOP completed");
        let buf = submits_on_drop(&nops);
        drop(ring.read(&r, buf).submit().unwrap());
        drop(w); // EOF: a final CQE of 0 bytes
        settle(ring);
        assert_eq!(nops.load(Ordering::SeqCst), 2);
        // Dropped after its CQE arrived, never polled: released as it is abandoned.
        let buf = submits_on_drop(&nops);
        let op = ring.read(&r, buf).submit().unwrap();
        ring.turn(true).unwrap();
        assert_eq!(ring.in_flight(), 0, "completed (EOF), not taken");
        drop(op);
        assert_eq!(nops.load(Ordering::SeqCst), 3);
    }
    ring.nop().submit().unwrap().wait().unwrap();
    assert_eq!((ring.live_slots(), ring.in_flight()), (0, 0));
    assert_eq!(open_fds(), before, "every fd closed");
    RING.with(|r| *r.borrow_mut() = None);
    free_ring(ring);
}

/// A waker that, when woken, drops the thread's victim future.
struct DropsTheVictim;

impl Wake for DropsTheVictim {
    fn wake(self: Arc<Self>) {
        let victim = VICTIM.with(|v| v.borrow_mut().take());
        drop(victim);
    }
}

#[test]
fn a_waker_may_drop_another_pending_future_of_the_same_ring() {
    let _serial = serial();
    let ring = leaked_ring();
    ring.block_on(async {}); // the executor's eventfd lives with the ring: not counted
    let before = open_fds();
    let drops = Arc::new(AtomicUsize::new(0));
    let (victim_r, victim_w) = pipe();
    let (buf, token) = Sentinel::new(16, &drops);
    let mut victim = ring.read(&victim_r, buf).into_future();
    assert!(common::poll_once(&mut victim).is_pending());
    VICTIM.with(|v| *v.borrow_mut() = Some(victim));
    let (r, mut w) = pipe();
    let mut first = ring.read(&r, Vec::with_capacity(16)).into_future();
    let waker = Waker::from(Arc::new(DropsTheVictim));
    assert!(common::poll_with(&mut first, &waker).is_pending());
    feed(&mut w, b"wake");
    ring.turn(true).unwrap(); // wakes `first`: its waker drops the victim mid-turn
    assert!(VICTIM.with(|v| v.borrow().is_none()), "the waker ran");
    let (n, got) = ring.block_on(first);
    assert_eq!(&got[..n.unwrap()], b"wake");
    settle(ring);
    assert_eq!(
        (drops.load(Ordering::SeqCst), Arc::strong_count(&token)),
        (1, 1)
    );
    ring.nop().submit().unwrap().wait().unwrap();
    assert_eq!((ring.live_slots(), ring.in_flight()), (0, 0));
    drop((victim_r, victim_w, r, w));
    assert_eq!(open_fds(), before, "every fd closed");
    free_ring(ring);
}
