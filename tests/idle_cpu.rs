//! Idle means 0 CPU: a task waiting on a pipe sleeps in the kernel, under the built-in
//! executor and under tokio.

mod common;

use std::time::{Duration, Instant};

use common::{feed, pipe, process_cpu_time, serial};
use safer_ring::Ring;

const WAIT: Duration = Duration::from_secs(1);

/// A thread that writes to `w` a little more than [`WAIT`] from now. Started before the
/// measurement, so making a thread (costly under AddressSanitizer: 17 ms was seen) is not
/// counted as waiting.
fn writer_after_wait(mut w: std::fs::File) -> std::thread::JoinHandle<()> {
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(WAIT + Duration::from_millis(50));
        feed(&mut w, b"wake up");
    });
    std::thread::sleep(Duration::from_millis(10)); // it runs and sleeps
    feeder
}

fn assert_idle(cpu: Duration, wall: Duration) {
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
    let feeder = writer_after_wait(writer);
    let (cpu0, t0) = (process_cpu_time(), Instant::now());
    let (n, _) = ring.block_on(ring.read(&reader, Vec::with_capacity(16)));
    let (cpu, wall) = (process_cpu_time() - cpu0, t0.elapsed());
    assert_eq!(n.unwrap(), 7);
    feeder.join().unwrap();
    assert_idle(cpu, wall);
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
    let feeder = writer_after_wait(writer);
    let (cpu0, t0) = (process_cpu_time(), Instant::now());
    let (n, _) = rt
        .block_on(ring.run_on_tokio(ring.read(&reader, Vec::with_capacity(16)).into_future()))
        .unwrap();
    let (cpu, wall) = (process_cpu_time() - cpu0, t0.elapsed());
    assert_eq!(n.unwrap(), 7);
    feeder.join().unwrap();
    assert_idle(cpu, wall);
}

use std::future::IntoFuture;
