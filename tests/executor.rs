//! The built-in executor: concurrency inside one `block_on`, and wake-ups from other threads
//! while the thread sleeps in `io_uring_enter`.

mod common;

use std::cell::Cell;
use std::future::IntoFuture;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{feed, pipe};
use safer_ring::{Ring, spawn};

#[test]
fn waker_from_another_thread_reaches_a_thread_sleeping_in_the_kernel() {
    let ring = Ring::new(8).unwrap();
    // Keep a read in flight so the executor sleeps in io_uring_enter, not on a futex.
    let (reader, _writer) = pipe();
    let pending_read = ring.read(&reader, Vec::with_capacity(8)).submit().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel();
    let t0 = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        tx.send(42).unwrap();
    });
    let got = ring.block_on(rx).unwrap();
    assert_eq!(got, 42);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(200));
    assert!(waited < Duration::from_secs(5), "wake-up lost: {waited:?}");
    sender.join().unwrap();
    drop(pending_read);
}

#[test]
fn many_operations_run_concurrently_in_one_block_on() {
    let ring = Ring::new(32).unwrap();
    let pipes: Vec<_> = (0..16).map(|_| pipe()).collect();
    let (readers, writers): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
    let feeder = std::thread::spawn(move || {
        for (i, mut w) in writers.into_iter().enumerate().rev() {
            std::thread::sleep(Duration::from_millis(5));
            feed(&mut w, format!("pipe {i}").as_bytes());
        }
    });
    let results = ring.block_on(futures::future::join_all(
        readers
            .iter()
            .map(|r| ring.read(r, Vec::with_capacity(16)).into_future()),
    ));
    feeder.join().unwrap();
    for (i, (n, buf)) in results.into_iter().enumerate() {
        n.unwrap();
        assert_eq!(buf, format!("pipe {i}").into_bytes());
    }
}

#[test]
fn spawned_tasks_run_concurrently_and_hand_back_their_output() {
    let ring = Rc::new(Ring::new(64).unwrap());
    let pipes: Vec<_> = (0..32).map(|_| pipe()).collect();
    let (readers, writers): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
    let feeder = std::thread::spawn(move || {
        // Fed last to first: each task waits until its pipe is written.
        for (i, mut w) in writers.into_iter().enumerate().rev() {
            std::thread::sleep(Duration::from_millis(2));
            feed(&mut w, format!("task {i}").as_bytes());
        }
    });
    let outputs = ring.block_on(async {
        let handles: Vec<_> = readers
            .into_iter()
            .map(|reader| {
                let ring = ring.clone();
                spawn(async move {
                    let (n, buf) = ring.read(&reader, Vec::with_capacity(16)).await;
                    n.unwrap();
                    String::from_utf8(buf).unwrap()
                })
            })
            .collect();
        let mut outputs = Vec::new();
        for handle in handles {
            outputs.push(handle.await.unwrap());
        }
        outputs
    });
    feeder.join().unwrap();
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(out, &format!("task {i}"));
    }
    assert_eq!(ring.live_slots(), 0);
}

#[test]
fn tasks_still_running_when_block_on_returns_are_dropped_and_their_operations_cancelled() {
    let ring = Rc::new(Ring::new(8).unwrap());
    let (reader, _writer) = pipe();
    let dropped = Rc::new(Cell::new(false));
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    ring.block_on(async {
        let ring2 = ring.clone();
        let flag = Flag(dropped.clone());
        let _detached = spawn(async move {
            let _flag = flag;
            // Never completes: nothing writes to the pipe.
            let _ = ring2.read(&reader, Vec::with_capacity(8)).await;
        });
        // Let the task start and submit its read.
        ring.nop().await.unwrap();
        ring.nop().await.unwrap();
    });
    assert!(
        dropped.get(),
        "the unfinished task was dropped with block_on"
    );
    // Its read was abandoned: parked in the ring and cancelled, and the slot frees.
    for _ in 0..100 {
        if ring.live_slots() == 0 {
            break;
        }
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.live_slots(), 0);
    assert!(ring.stats().abandoned >= 1);
}

#[test]
fn a_task_woken_from_another_thread_runs_while_the_executor_sleeps() {
    let ring = Ring::new(8).unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        tx.send(7).unwrap();
    });
    let got = ring.block_on(async { spawn(async { rx.await.unwrap() * 6 }).await.unwrap() });
    assert_eq!(got, 42);
    sender.join().unwrap();
}

#[test]
#[should_panic(expected = "spawn called outside Ring::block_on")]
fn spawn_outside_block_on_is_a_clear_panic() {
    drop(spawn(async {}));
}

/// Spawns, inside a `block_on` that returns at once, a task that never finishes (it reads a
/// pipe nobody writes), and returns its handle out of that `block_on`.
#[expect(
    clippy::async_yields_async,
    reason = "the handle is returned out of block_on unawaited, on purpose"
)]
fn handle_of_a_task_dropped_with_its_block_on(
    ring: &Rc<Ring>,
    reader: Rc<safer_ring::File>,
) -> safer_ring::JoinHandle<u32> {
    ring.block_on(async {
        let ring2 = ring.clone();
        let handle = spawn(async move {
            let _ = ring2.read(&*reader, Vec::with_capacity(8)).await;
            7
        });
        ring.nop().await.unwrap(); // the task starts and submits its read
        handle
    })
}

#[test]
fn join_handle_of_a_task_dropped_with_its_block_on_resolves_with_an_error() {
    let ring = Rc::new(Ring::new(8).unwrap());
    let (reader, _writer) = pipe();
    let reader = Rc::new(reader);

    // Polled once after its block_on returned: no hang possible.
    let mut handle = handle_of_a_task_dropped_with_its_block_on(&ring, reader.clone());
    let std::task::Poll::Ready(out) = common::poll_once(&mut handle) else {
        panic!("handle of a dropped task is still pending");
    };
    let err: safer_ring::JoinError = out.unwrap_err();
    assert!(err.to_string().contains("dropped"), "{err}");

    // Awaited in a later block_on, raced against a read that a helper thread ends.
    let handle = handle_of_a_task_dropped_with_its_block_on(&ring, reader.clone());
    let (deadline, mut deadline_writer) = pipe();
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        let _ = wait_done.recv_timeout(Duration::from_secs(2));
        feed(&mut deadline_writer, b"x");
    });
    let winner = ring.block_on(async {
        let deadline = ring.read(&deadline, Vec::with_capacity(1)).into_future();
        match futures::future::select(handle, deadline).await {
            futures::future::Either::Left((out, _)) => Some(out),
            futures::future::Either::Right(_) => None,
        }
    });
    drop(done);
    helper.join().unwrap();
    let out = winner.expect("the handle never resolved in the second block_on");
    assert!(out.unwrap_err().to_string().contains("dropped"));
}
