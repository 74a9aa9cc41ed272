//! Panics from user code the library calls — wakers, buffer hooks, the tokio driver's waker —
//! at the worst moments (SAFETY.md, invariant 11). Whatever unwinds, the kernel must never be
//! left holding memory that the unwind frees: an operation whose SQE is queued is owned by its
//! slot before any user code runs.
//!
//! Every test takes `serial()`: several count the process's open fds.
#![allow(unsafe_code)]

mod common;

use std::future::{Future, IntoFuture};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::bomb::{arm, bomb, quiet_bombs};
use common::{Sentinel, open_fds, pipe, serial};
use futures::{Stream, StreamExt};
use safer_ring::{File, IoBuf, IoBufMut, OpenOptions, Ring};

fn drops(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Turns the ring until nothing is live (bounded).
fn settle(ring: &Ring) {
    for _ in 0..1000 {
        if ring.live_slots() == 0 {
            return;
        }
        ring.turn(true).unwrap();
    }
    panic!("ring did not settle: {} live slots", ring.live_slots());
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap()
}

/// Hole 1: with the ring at its limit, `submit` reaps to make room; a waker of a completed
/// future panicking there must not unwind through `submit` with the new SQE queued and its
/// buffer still held by value (it would be freed under the kernel).
#[test]
fn waker_panic_in_submits_slow_path_leaves_the_operation_parked() {
    let _serial = serial();
    let ring = common::ring_with_limit(2, 4);
    let (r, _w) = pipe();
    let pending: Vec<_> = (0..ring.capacity() - 1)
        .map(|_| ring.read(&r, vec![0u8; 8]).submit().unwrap())
        .collect();
    let (bomb, waker) = bomb();
    let mut nop = ring.nop().into_future();
    assert!(common::poll_with(&mut nop, &waker).is_pending());
    assert_eq!(
        ring.in_flight(),
        ring.capacity(),
        "the ring is at its limit"
    );
    arm(&bomb, true);
    let (victim, mut feed) = pipe();
    let count = Arc::new(AtomicUsize::new(0));
    let (buf, token) = Sentinel::new(64, &count);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let op = ring.read(&victim, buf).submit().unwrap();
        op.wait().0.map(drop)
    }));
    arm(&bomb, false);
    assert!(outcome.is_err(), "the waker's panic reaches the caller");
    assert!(bomb.wakes.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        (drops(&count), Arc::strong_count(&token)),
        (0, 2),
        "the buffer of a queued read was freed by the unwind"
    );
    common::feed(&mut feed, b"after the panic");
    drop(pending);
    drop(nop);
    settle(&ring);
    assert_eq!(drops(&count), 1, "released once, after its final CQE");
    assert_eq!(ring.in_flight(), 0);
}

/// Hole 2: the tokio driver's waker is called when SQEs are queued; if it panics, the
/// operation whose SQE was just queued must already be owned by its slot.
#[test]
fn driver_waker_panic_after_a_push_leaves_the_operation_parked() {
    let _serial = serial();
    tokio_rt().block_on(async {
        let ring = Ring::new(8).unwrap();
        let (bomb, waker) = bomb();
        let mut drive = pin!(ring.drive());
        assert!(
            drive
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        arm(&bomb, true);
        let (victim, mut feed) = pipe();
        let count = Arc::new(AtomicUsize::new(0));
        let (buf, token) = Sentinel::new(64, &count);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            ring.read(&victim, buf).submit().map(drop).unwrap();
        }));
        arm(&bomb, false);
        assert!(
            outcome.is_err(),
            "the driver waker's panic reaches the caller"
        );
        assert_eq!(
            (drops(&count), Arc::strong_count(&token)),
            (0, 2),
            "the buffer of a queued read was freed by the unwind"
        );
        common::feed(&mut feed, b"x");
        settle(&ring);
        assert_eq!(drops(&count), 1);
        assert_eq!(
            ring.in_flight(),
            0,
            "in-flight count consistent after the panic"
        );
    });
}

/// Hole 2, for streams: a panic while a multishot/zero-copy stream is armed must not leave
/// the stream without its slot key (dropping it would free a buffer the kernel is sending),
/// nor the in-flight count short (it would underflow when the CQE comes).
#[test]
fn driver_waker_panic_while_a_stream_arms_keeps_its_buffer_until_the_notification() {
    if !common::kernel_only("the kernel's zero-copy send notification") {
        return;
    }
    let _serial = serial();
    tokio_rt().block_on(async {
        let ring = Ring::new(8).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = safer_ring::net::TcpStream::from(listener.accept().unwrap().0);
        let (bomb, waker) = bomb();
        let mut drive = pin!(ring.drive());
        assert!(
            drive
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let count = Arc::new(AtomicUsize::new(0));
        let (mut buf, token) = Sentinel::new(4096, &count);
        buf.bytes.resize(4096, 7);
        let mut events = ring.send_zc_events(&server, buf);
        arm(&bomb, true);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _ = Pin::new(&mut events).poll_next(&mut Context::from_waker(Waker::noop()));
        }));
        arm(&bomb, false);
        assert!(
            outcome.is_err(),
            "the driver waker's panic reaches the caller"
        );
        drop(events); // mid-flight: the buffer must move into the ring
        assert_eq!(
            (drops(&count), Arc::strong_count(&token)),
            (0, 2),
            "the buffer of a queued send_zc was freed"
        );
        settle(&ring);
        assert_eq!(drops(&count), 1, "released after the notification");
        assert_eq!(ring.in_flight(), 0, "no underflow of the in-flight count");
        drop(client);
    });
}

/// A buffer whose `on_taken` hook panics (its `IoBuf` contract is otherwise met).
struct HookBomb(Sentinel);

// SAFETY: delegates to the sentinel's Vec, whose heap bytes are stable across moves.
unsafe impl IoBuf for HookBomb {
    fn stable_ptr(&self) -> *const u8 {
        self.0.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.0.bytes_total()
    }
}

// SAFETY: delegates to the sentinel's Vec.
unsafe impl IoBufMut for HookBomb {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.0.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.set_init(len) }
    }
    fn on_taken(&mut self) {
        panic!("buffer hook bomb");
    }
}

/// Hole 3: a buffer hook that panics must not run while the buffer's SQE is queued.
#[test]
fn buffer_hook_panic_never_leaves_an_sqe_for_a_freed_buffer() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let (victim, mut feed) = pipe();
    let count = Arc::new(AtomicUsize::new(0));
    let (buf, _token) = Sentinel::new(64, &count);
    quiet_bombs();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        ring.read(&victim, HookBomb(buf))
            .submit()
            .map(drop)
            .unwrap();
    }));
    assert!(outcome.is_err());
    assert_eq!(drops(&count), 1, "the unwind dropped the buffer");
    assert_eq!(
        (ring.live_slots(), ring.in_flight()),
        (0, 0),
        "an SQE is queued for the freed buffer"
    );
    common::feed(&mut feed, b"nobody reads this");
    ring.turn(false).unwrap();
    assert_eq!(ring.stats().completed, 0);
}

/// Hole 4: an unbounded shutdown timeout means "wait as long as it takes", not an overflow
/// that unwinds out of `Ring::drop` and frees parked buffers.
#[test]
fn unbounded_shutdown_timeout_waits_instead_of_panicking() {
    let _serial = serial();
    let ring = Ring::builder()
        .entries(4)
        .shutdown_timeout(Duration::MAX)
        .build()
        .unwrap();
    let (r, _w) = pipe();
    let count = Arc::new(AtomicUsize::new(0));
    let (buf, _token) = Sentinel::new(64, &count);
    drop(ring.read(&r, buf).submit().unwrap());
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(ring)));
    assert!(outcome.is_ok(), "Ring::drop panicked");
    assert_eq!(drops(&count), 1);
}

/// Hole 4: a waker panicking while the ring drops must not unwind past freeing parked
/// buffers the kernel still writes. A 256 MiB read runs in the kernel's worker pool (it
/// cannot be interrupted once copying) when the ring is dropped and a forgotten future's
/// waker panics in the shutdown reap; a new owner of the freed memory must never see the
/// file's bytes.
#[test]
fn waker_panic_during_ring_drop_frees_nothing_the_kernel_holds() {
    let _serial = serial();
    const SIZE: usize = 256 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    std::fs::write(&path, vec![0xAAu8; SIZE]).unwrap();
    let file = File::from(std::fs::File::open(&path).unwrap());
    let ring = Ring::new(8).unwrap();
    let read = ring
        .read_at(&file, Vec::<u8>::with_capacity(SIZE), 0)
        .async_hint()
        .submit()
        .unwrap();
    ring.submit().unwrap();
    drop(read); // parked in its slot, cancel queued (a copy in progress is not interrupted)
    let (bomb, waker) = bomb();
    let mut nop = Box::new(ring.nop().into_future());
    assert!(common::poll_with(&mut *nop, &waker).is_pending());
    ring.submit().unwrap();
    std::mem::forget(nop); // its waker stays in the slot until the ring drops
    arm(&bomb, true);
    let _ = catch_unwind(AssertUnwindSafe(|| drop(ring)));
    arm(&bomb, false);
    let owner = vec![0x55u8; SIZE];
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        owner.iter().all(|&b| b == 0x55),
        "the kernel wrote into memory handed to a new owner"
    );
}

/// Hole 4: a waker panicking in the shutdown reap must not cut the shutdown short: every
/// parked operation is still finished after its final CQE (an abandoned `open` that
/// succeeded closes its fd) before the panic goes on.
#[test]
fn waker_panic_during_ring_drop_still_finishes_every_parked_operation() {
    let _serial = serial();
    let before = open_fds();
    let ring = Ring::new(8).unwrap();
    let path = std::env::current_exe().unwrap();
    drop(
        ring.open(&path, OpenOptions::new().read(true))
            .submit()
            .unwrap(),
    );
    let (bomb, waker) = bomb();
    let mut nop = Box::new(ring.nop().into_future());
    assert!(common::poll_with(&mut *nop, &waker).is_pending());
    std::mem::forget(nop);
    arm(&bomb, true);
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(ring)));
    arm(&bomb, false);
    assert!(
        outcome.is_err(),
        "the waker's panic goes on after the shutdown"
    );
    assert_eq!(open_fds(), before, "the abandoned open's fd leaked");
}

/// Bug: a waker panic left the releases queued behind it unfinished, so an abandoned `open`
/// that succeeded never closed its fd.
#[test]
fn waker_panic_does_not_skip_the_releases_behind_it() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let before = open_fds();
    let path = std::env::current_exe().unwrap();
    drop(
        ring.open(&path, OpenOptions::new().read(true))
            .submit()
            .unwrap(),
    );
    ring.submit().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (bomb, waker) = bomb();
    let mut nop = ring.nop().into_future();
    assert!(common::poll_with(&mut nop, &waker).is_pending());
    arm(&bomb, true);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..10 {
            ring.turn(true).unwrap();
        }
    }));
    arm(&bomb, false);
    assert!(outcome.is_err());
    drop(nop);
    settle(&ring);
    assert_eq!(open_fds(), before, "the abandoned open's fd leaked");
}

thread_local! {
    static RING: std::cell::RefCell<Option<std::rc::Rc<Ring>>> =
        const { std::cell::RefCell::new(None) };
}

/// A waker whose `Drop` calls back into the ring of this thread.
struct ReentrantDrop;

impl Wake for ReentrantDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for ReentrantDrop {
    fn drop(&mut self) {
        RING.with(|r| {
            if let Some(ring) = r.borrow().as_ref() {
                let _ = ring.stats();
                let _ = ring.submit();
            }
        });
    }
}

/// Bug: wakers replaced or dropped by the ring were dropped while its tables were borrowed,
/// so a waker whose `Drop` calls back into the ring panicked ("already borrowed").
#[test]
fn waker_drop_may_call_back_into_the_ring() {
    let _serial = serial();
    let ring = std::rc::Rc::new(Ring::new(8).unwrap());
    RING.with(|r| *r.borrow_mut() = Some(ring.clone()));
    let (r, mut w) = pipe();
    {
        let mut read = ring.read(&r, Vec::with_capacity(8)).into_future();
        for _ in 0..3 {
            let waker = Waker::from(Arc::new(ReentrantDrop));
            assert!(common::poll_with(&mut read, &waker).is_pending());
        }
        drop(read); // the stored waker is dropped as the read is abandoned
    }
    common::feed(&mut w, b"x");
    settle(&ring);
    let mut stream = ring.accept_multi(
        &safer_ring::net::TcpListener::bind(
            "127.0.0.1:0".parse().unwrap(),
            safer_ring::net::ListenOptions::default(),
        )
        .unwrap(),
    );
    for _ in 0..2 {
        let waker = Waker::from(Arc::new(ReentrantDrop));
        let _ = Pin::new(&mut stream).poll_next(&mut Context::from_waker(&waker));
    }
    drop(stream);
    settle(&ring);
    RING.with(|r| r.borrow_mut().take());
}

/// Bug: polling a zero-copy send's events again after `Done` panicked.
#[test]
fn send_zc_events_end_after_done() {
    if !common::kernel_only("the kernel's zero-copy send notification") {
        return;
    }
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = safer_ring::net::TcpStream::from(listener.accept().unwrap().0);
    let mut events = ring.send_zc_events(&server, vec![1u8; 1024]);
    let mut done = false;
    while let Some(event) = ring.block_on(events.next()) {
        if let safer_ring::net::ZcEvent::Done(res, _) = event {
            assert_eq!(res.unwrap(), 1024);
            done = true;
        }
    }
    assert!(done);
    assert!(
        ring.block_on(events.next()).is_none(),
        "fused after the end"
    );
}
