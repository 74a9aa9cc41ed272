//! Deadlines against the real kernel: link timeouts that fire (the operation reports
//! `TimedOut` and hands its buffer back, nothing leaks) and that do not, deadlines on
//! accept/recv, the `timeout` combinator, and multishot timers.

mod common;

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Sentinel, feed, pipe};
use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::{Ring, SaferRingError};

fn timed_out(err: &SaferRingError, name: &str) -> bool {
    matches!(err, SaferRingError::TimedOut { op } if *op == name)
}

#[test]
fn a_link_timeout_that_fires_hands_the_buffer_back() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe(); // stays empty
    let (buf, token) = Sentinel::new(64, &drops);
    let start = Instant::now();
    let (res, buf) = ring
        .read(&reader, buf)
        .timeout(Duration::from_millis(50))
        .submit()
        .unwrap()
        .wait();
    let took = start.elapsed();
    let err = res.unwrap_err();
    assert!(timed_out(&err, "read"), "{err:?}");
    assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT));
    assert!(took >= Duration::from_millis(50), "fired after {took:?}");
    assert!(took < Duration::from_secs(2), "fired after {took:?}");
    assert_eq!(Arc::strong_count(&token), 2, "the buffer is back, alive");
    assert_eq!(
        (ring.in_flight(), ring.live_slots()),
        (0, 0),
        "nothing left"
    );
    drop(buf);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_link_timeout_that_does_not_fire_changes_nothing() {
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    feed(&mut writer, b"in time");
    let start = Instant::now();
    let (res, buf) = ring.block_on(
        ring.read(&reader, Vec::with_capacity(16))
            .timeout(Duration::from_secs(10)),
    );
    assert_eq!(res.unwrap(), 7);
    assert_eq!(buf, b"in time");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "did not wait for the timer"
    );
    assert_eq!(
        (ring.in_flight(), ring.live_slots()),
        (0, 0),
        "timer gone too"
    );
}

#[test]
fn accept_and_recv_with_a_deadline() {
    let ring = Ring::new(8).unwrap();
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = ring.block_on(ring.accept(&listener).timeout(Duration::from_millis(20)));
    assert!(timed_out(&accepted.unwrap_err(), "accept"));

    let deadline = Instant::now() + Duration::from_secs(5);
    let (client, accepted) = ring.block_on(async {
        futures::join!(
            ring.connect(addr).deadline(deadline).into_future(),
            ring.accept(&listener).deadline(deadline).into_future()
        )
    });
    let (client, (server, _)) = (client.unwrap(), accepted.unwrap());
    let (res, buf) = ring.block_on(
        ring.recv(&server, vec![0u8; 32])
            .timeout(Duration::from_millis(20)),
    );
    assert!(timed_out(&res.unwrap_err(), "recv"));
    assert_eq!(buf.len(), 32);
    let (sent, _) = ring.block_on(ring.send(&client, b"late".to_vec()));
    assert_eq!(sent.unwrap(), 4);
    let (res, buf) = ring.block_on(ring.recv(&server, buf).timeout(Duration::from_secs(5)));
    assert_eq!(
        &buf[..res.unwrap()],
        b"late",
        "the data after a timeout is not lost"
    );
}

#[test]
fn a_dropped_timed_operation_is_cancelled_and_leaves_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe();
    let (buf, token) = Sentinel::new(8, &drops);
    let timed = ring
        .read(&reader, buf)
        .timeout(Duration::from_secs(30))
        .submit()
        .unwrap();
    ring.submit().unwrap();
    drop(timed);
    assert_eq!(Arc::strong_count(&token), 2, "parked, not freed");
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn the_timeout_combinator_bounds_any_future() {
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe();
    let start = Instant::now();
    let res =
        ring.block_on(ring.timeout(Duration::from_millis(30), ring.read(&reader, vec![0u8; 8])));
    assert!(timed_out(&res.unwrap_err(), "future"));
    assert!(start.elapsed() >= Duration::from_millis(30));
    let ok = ring.block_on(ring.timeout(Duration::from_secs(10), ring.nop()));
    assert!(ok.unwrap().is_ok());
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap(); // the dropped read's cancel, the cancelled timer
    }
}

#[test]
fn a_multishot_timer_ticks_count_times_a_period_apart() {
    let ring = Ring::new(8).unwrap();
    let start = Instant::now();
    let mut at = Vec::new();
    ring.block_on(async {
        let mut ticks = ring.ticks(Duration::from_millis(20), 3);
        while let Some(tick) = ticks.next().await {
            at.push((tick.unwrap(), start.elapsed()));
        }
    });
    let numbers: Vec<_> = at.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(at[2].1 >= Duration::from_millis(60), "{at:?}");
    // One SQE for every tick where the kernel has multishot timeouts (6.4); one per tick
    // before (the qemu run on 6.1).
    let multishot = ring
        .capabilities()
        .has(safer_ring::probe::Capability::MultishotTimeout);
    let sqes = if multishot { 1 } else { 3 };
    assert_eq!(
        ring.stats().submitted,
        sqes,
        "one SQE for every tick, if the kernel can"
    );
}

#[test]
fn link_timeouts_and_chains_work_when_driven_from_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let (timed, chained) = rt
        .block_on(ring.run_on_tokio(async {
            let timed = ring
                .read(&reader, vec![0u8; 8])
                .timeout(Duration::from_millis(20))
                .await;
            feed(&mut writer, b"now");
            let chained = ring
                .chain((ring.read(&reader, Vec::with_capacity(8)), ring.nop()))
                .await;
            (timed, chained)
        }))
        .unwrap();
    assert!(timed_out(&timed.0.unwrap_err(), "read"));
    let ((n, buf), nop) = chained;
    assert_eq!(&buf[..n.unwrap()], b"now");
    assert!(nop.is_err(), "3 of 8 bytes is short: the link broke");
}
