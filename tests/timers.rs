//! Kernel timers: `Ring::sleep` under the built-in executor, the sync API and tokio; a sleep
//! costs no CPU while it waits; a dropped sleep is cancelled and leaves nothing behind.

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use common::{pipe, process_cpu_time, serial};
use safer_ring::Ring;

#[test]
fn a_sleep_under_block_on_lasts_its_duration() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let ring = Ring::new(8).unwrap();
    let start = Instant::now();
    ring.block_on(ring.sleep(Duration::from_millis(50)))
        .unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(50), "woke after {took:?}");
    assert!(took < Duration::from_secs(1), "woke after {took:?}");
}

#[test]
fn a_one_second_sleep_costs_under_one_percent_of_a_core() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let ring = Ring::new(8).unwrap();
    ring.block_on(ring.nop()).unwrap(); // executor set up before measuring
    let (cpu, start) = (process_cpu_time(), Instant::now());
    ring.block_on(ring.sleep(Duration::from_secs(1))).unwrap();
    let (cpu, wall) = (process_cpu_time() - cpu, start.elapsed());
    assert!(wall >= Duration::from_secs(1));
    assert!(
        cpu < wall / 100,
        "the sleep used {cpu:?} of CPU in {wall:?}"
    );
}

#[test]
fn sync_sleep_and_sleep_until_wait_in_the_kernel() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let ring = Ring::new(8).unwrap();
    let start = Instant::now();
    ring.sleep(Duration::from_millis(20))
        .submit()
        .unwrap()
        .wait()
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_millis(30);
    ring.sleep_until(deadline).submit().unwrap().wait().unwrap();
    assert!(Instant::now() >= deadline);
    // A deadline in the past completes at once.
    let past = Instant::now() - Duration::from_secs(1);
    ring.sleep_until(past).submit().unwrap().wait().unwrap();
}

#[test]
fn timers_complete_in_deadline_order_beside_other_io() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let order = ring.block_on(async {
        let long = ring.sleep(Duration::from_millis(60)).into_future();
        let short = ring.sleep(Duration::from_millis(20)).into_future();
        let read = ring.read(&reader, Vec::with_capacity(8)).into_future();
        let feed = async {
            ring.sleep(Duration::from_millis(40)).await.unwrap();
            common::feed(&mut writer, b"ping");
        };
        let mut order = Vec::new();
        let log = std::cell::RefCell::new(&mut order);
        futures::join!(
            async {
                long.await.unwrap();
                log.borrow_mut().push("long");
            },
            async {
                short.await.unwrap();
                log.borrow_mut().push("short");
            },
            async {
                let (n, _) = read.await;
                assert_eq!(n.unwrap(), 4);
                log.borrow_mut().push("read");
            },
            feed,
        );
        order
    });
    assert_eq!(order, ["short", "read", "long"]);
}

#[test]
fn a_dropped_sleep_is_cancelled_and_leaves_no_slot() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let ring = Ring::new(8).unwrap();
    let start = Instant::now();
    let sleep = ring.sleep(Duration::from_secs(3600)).submit().unwrap();
    ring.submit().unwrap();
    drop(sleep);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the cancel reached the timer"
    );
    assert_eq!(ring.in_flight(), 0);
    assert!(ring.stats().cancels >= 1);
}

#[test]
fn a_sleep_driven_from_tokio_wakes_its_task() {
    let _serial = serial(); // the CPU-time test counts every thread of the process
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let ring = Ring::new(8).unwrap();
    let took = rt
        .block_on(ring.run_on_tokio(async {
            let start = Instant::now();
            ring.sleep(Duration::from_millis(30)).await.unwrap();
            start.elapsed()
        }))
        .unwrap();
    assert!(took >= Duration::from_millis(30), "woke after {took:?}");
}
