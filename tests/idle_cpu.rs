//! Idle means 0 CPU: a task waiting on a pipe sleeps in the kernel, under the built-in
//! executor and under tokio.

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use common::{feed, pipe, process_cpu_time, serial};
use safer_ring::Ring;

const WAIT: Duration = Duration::from_secs(1);

/// A thread that writes to `w` `delay` from now. Started before any measurement, so making
/// a thread (costly under AddressSanitizer: 17 ms was seen) is not counted as waiting.
fn writer_after(delay: Duration, w: &std::fs::File) -> std::thread::JoinHandle<()> {
    let mut w = w.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(delay);
        feed(&mut w, b"wake up");
    });
    std::thread::sleep(Duration::from_millis(10)); // it runs and sleeps
    feeder
}

/// Runs `read` twice: a short wait first, not measured (what is set up once — the reactor's
/// registration of the ring, code AddressSanitizer instruments on first use: 11 ms was seen
/// — is not idling), then a wait of [`WAIT`], whose CPU time must be under 1 % of a core.
fn assert_idle_while(writer: &std::fs::File, mut read: impl FnMut() -> usize) {
    let warm_up = writer_after(Duration::from_millis(20), writer);
    assert_eq!(read(), 7);
    warm_up.join().unwrap();
    let feeder = writer_after(WAIT + Duration::from_millis(50), writer);
    let (cpu0, t0) = (process_cpu_time(), Instant::now());
    assert_eq!(read(), 7);
    let (cpu, wall) = (process_cpu_time() - cpu0, t0.elapsed());
    feeder.join().unwrap();
    assert!(wall >= WAIT, "returned before the data arrived: {wall:?}");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    assert!(
        share < 0.01,
        "waiting used {:.2}% of a core ({cpu:?} in {wall:?})",
        share * 100.0
    );
}

#[test]
fn block_on_waiting_on_a_pipe_uses_under_one_percent_of_a_core() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let (reader, writer) = pipe();
    assert_idle_while(&writer, || {
        let (n, _) = ring.block_on(ring.read(&reader, Vec::with_capacity(16)));
        n.unwrap()
    });
}

#[test]
fn tokio_driven_ring_waiting_on_a_pipe_uses_under_one_percent_of_a_core() {
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ring = Ring::new(8).unwrap();
    let (reader, writer) = pipe();
    assert_idle_while(&writer, || {
        let read = ring.read(&reader, Vec::with_capacity(16)).into_future();
        let (n, _) = rt.block_on(ring.run_on_tokio(read)).unwrap();
        n.unwrap()
    });
}
