//! The ring pool against the real kernel: many tasks from many threads, each on a worker's
//! ring, all with the right result; a shutdown with thousands of operations in flight drains
//! every ring (run under ASan in CI); a panicking task is reported and its worker goes on;
//! placement; and the pool used from tokio's multi-thread runtime (file reads, TCP echo).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Sentinel, pipe};
use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::{File, Placement, PoolError, Ring, RingPool, SaferRingError, WorkerStats};

/// Runs `f` on a thread of its own and fails the test if it has not returned within 30 s
/// (a shutdown that deadlocks fails rather than hangs the suite).
fn within_30s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("deadlocked: not done within 30 s")
}

/// A shared pool of two workers that wake each other by `IORING_OP_MSG_RING`.
fn two_workers_waking_by_msg_ring() -> Arc<RingPool> {
    let pool = RingPool::builder().workers(2).msg_ring(true).build();
    Arc::new(pool.unwrap())
}

fn data_file() -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &data).unwrap();
    (tmp, data)
}

#[test]
fn ten_thousand_tasks_from_four_threads_on_two_workers_all_complete() {
    let pool = Arc::new(RingPool::new(2).unwrap());
    let (tmp, data) = data_file();
    let path = Arc::new(tmp.path().to_owned());
    let spawners: Vec<_> = (0..4u64)
        .map(|t| {
            let (pool, path) = (pool.clone(), path.clone());
            std::thread::spawn(move || {
                let handles: Vec<_> = (0..2_500u64)
                    .map(|i| {
                        let (path, id) = (path.clone(), t * 10_000 + i);
                        pool.spawn(move |ring| async move {
                            let file = File::from(std::fs::File::open(&*path).unwrap());
                            let at = id % 64 * 1024;
                            let (n, buf) = ring.read_at(&file, Vec::with_capacity(8), at).await;
                            (id, n.unwrap(), buf)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = 0;
    for spawner in spawners {
        for (id, n, buf) in spawner.join().unwrap() {
            let at = (id % 64 * 1024) as usize;
            assert_eq!((n, buf.as_slice()), (8, &data[at..at + 8]), "task {id}");
            seen += 1;
        }
    }
    assert_eq!(seen, 10_000);
    let stats = pool.stats();
    assert_eq!(stats.iter().map(|s| s.finished).sum::<u64>(), 10_000);
    assert!(
        stats.iter().all(|s| s.spawned == 5_000),
        "round-robin: {stats:?}"
    );
    Arc::into_inner(pool).unwrap().shutdown();
}

#[test]
fn shutdown_with_a_thousand_operations_in_flight_per_worker_drains_every_ring() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = RingPool::builder()
        .workers(2)
        .ring(Ring::builder().entries(256).max_in_flight(2048))
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let (drops, started) = (drops.clone(), started.clone());
            pool.spawn_on(w, move |ring| async move {
                // 1,000 timers in flight at once; the task ends when all have fired.
                let sleeps: Vec<_> = (0..1_000)
                    .map(|_| ring.sleep(Duration::from_millis(200)).submit().unwrap())
                    .collect();
                // And reads left in flight on idle pipes, dropped: parked in the ring until
                // its shutdown cancels them.
                let (reader, writer) = pipe();
                for _ in 0..8 {
                    let (buf, _) = Sentinel::new(16, &drops);
                    drop(ring.read(&reader, buf).submit().unwrap());
                }
                ring.submit().unwrap();
                started.fetch_add(1, Ordering::SeqCst);
                for sleep in sleeps {
                    sleep.await.unwrap();
                }
                drop(writer);
                ring.stats().completed
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let in_flight: usize = pool.stats().iter().map(|s| s.live).sum();
    assert_eq!(in_flight, 2, "both tasks still running at shutdown");
    pool.shutdown();
    for handle in handles {
        assert!(handle.join().unwrap() >= 1_000, "every timer completed");
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        16,
        "every parked buffer released once"
    );
}

#[test]
fn a_panicking_task_is_reported_and_its_worker_goes_on() {
    let pool = RingPool::new(1).unwrap();
    let bad = pool.spawn(|ring| async move {
        ring.nop().await.unwrap();
        panic!("task failed on purpose");
    });
    assert_eq!(
        bad.join(),
        Err(PoolError::Panicked("task failed on purpose".into()))
    );
    let early = pool.spawn(|_ring| -> std::future::Ready<()> { panic!("before its future") });
    assert!(matches!(early.join(), Err(PoolError::Panicked(m)) if m == "before its future"));
    let good = pool.spawn(|ring| async move { ring.nop().await.is_ok() });
    assert_eq!(good.join(), Ok(true));
}

#[test]
fn a_pool_dropped_by_its_own_task_shuts_down_without_joining_itself() {
    within_30s(|| {
        let pool = Arc::new(RingPool::new(2).unwrap());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let last = Arc::clone(&pool);
        let handle = pool.spawn_on(0, move |ring| async move {
            ring.nop().await.unwrap();
            rx.recv().unwrap(); // until the caller has dropped its `Arc`: this one is the last
            drop(last); // the pool's drop runs on worker 0, which must not join itself
            7
        });
        drop(pool);
        tx.send(()).unwrap();
        assert_eq!(handle.join(), Ok(7));
    });
}

#[test]
fn a_pool_dropped_on_another_pools_worker_is_joined_there() {
    within_30s(|| {
        let outer = RingPool::new(1).unwrap();
        let inner = RingPool::new(2).unwrap();
        let busy = inner.spawn_on(1, |ring| async move {
            ring.sleep(Duration::from_millis(20)).await.is_ok()
        });
        // The drop blocks the outer worker until the inner workers have drained and ended: their
        // wake-ups must not wait for the outer worker's executor (it is blocked right there).
        let dropped = outer.spawn(move |_ring| async move {
            drop(inner);
            busy.is_finished()
        });
        assert_eq!(dropped.join(), Ok(true));
    });
}

#[test]
fn a_task_blocking_on_one_it_spawned_on_another_worker_does_not_deadlock() {
    within_30s(|| {
        let pool = two_workers_waking_by_msg_ring();
        let inner = pool.clone();
        // The spawn wakes the sleeping worker 1 from worker 0, whose executor then blocks in
        // `join`: the wake-up must not wait for that executor to run again.
        let out = pool.spawn_on(0, move |_ring| async move {
            let on_1 = inner.spawn_on(1, |ring| async move { ring.nop().await.is_ok() });
            on_1.join()
        });
        assert_eq!(out.join(), Ok(Ok(true)));
    });
}

#[test]
fn a_task_ending_at_shutdown_still_wakes_its_waiter_on_another_worker() {
    within_30s(|| {
        for _ in 0..20 {
            let pool = two_workers_waking_by_msg_ring();
            let inner = pool.clone();
            // Worker 1 awaits a task on worker 0 that ends after the pool is shut down: the
            // wake-up it sends worker 1 (by MSG_RING) goes out although worker 0 stops right after.
            let waiter = pool.spawn_on(1, move |_ring| async move {
                let last = inner.spawn_on(0, |ring| async move {
                    ring.sleep(Duration::from_millis(5)).await.is_ok()
                });
                drop(inner);
                last.await
            });
            std::thread::sleep(Duration::from_millis(1));
            drop(pool); // the last handle, unless the waiter still holds `inner`
            assert_eq!(waiter.join(), Ok(Ok(true)));
        }
    });
}

#[test]
fn least_loaded_placement_avoids_the_busy_worker() {
    let pool = RingPool::builder()
        .workers(2)
        .placement(Placement::LeastLoaded)
        .build()
        .unwrap();
    let (reader, mut writer) = std::io::pipe().unwrap();
    let reader = Arc::new(std::sync::Mutex::new(Some(reader)));
    let busy = pool.spawn_on(0, move |ring| async move {
        let fd = File::from(std::os::fd::OwnedFd::from(
            reader.lock().unwrap().take().unwrap(),
        ));
        ring.read(&fd, vec![0u8; 1]).await.0.unwrap()
    });
    // One at a time: each quick task has ended (and is counted so) when the next is placed,
    // so worker 1 is always the less loaded; the busy task's worker gets none of them.
    for _ in 0..10 {
        let quick = pool.spawn(|ring| async move { ring.nop().await.unwrap() });
        quick.join().unwrap();
    }
    assert_eq!(pool.stats()[1].spawned, 10, "{:?}", pool.stats());
    assert_eq!(
        pool.stats()[1].finished,
        10,
        "joined tasks are counted as ended"
    );
    assert_eq!(pool.stats()[0].spawned, 1, "{:?}", pool.stats());
    std::io::Write::write_all(&mut writer, b"x").unwrap();
    assert_eq!(busy.join().unwrap(), 1);
}

#[test]
fn a_pool_whose_rings_cannot_be_built_says_why_and_leaves_no_worker() {
    let err = RingPool::builder()
        .workers(2)
        .ring(Ring::builder().entries(0))
        .build()
        .unwrap_err();
    assert!(matches!(err, SaferRingError::InvalidArgument(_)), "{err}");
    let err = RingPool::new(0).unwrap_err();
    assert!(err.to_string().contains("at least one worker"), "{err}");
}

#[test]
fn the_pool_serves_tokio_multi_thread_tasks_file_reads_and_tcp_echo() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool = Arc::new(RingPool::new(2).unwrap());
    let (tmp, data) = data_file();
    let path = Arc::new(tmp.path().to_owned());
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = Arc::new(std::sync::Mutex::new(Some(listener)));
    // The echo server: one pool task accepting 8 connections, echoing each on its worker.
    let server = pool.spawn(move |ring| async move {
        let listener = listener.lock().unwrap().take().unwrap();
        for _ in 0..8 {
            let (conn, _) = ring.accept(&listener).await.unwrap();
            let ring2 = ring.clone();
            drop(safer_ring::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    let (n, back) = ring2.recv(&conn, buf).await;
                    if n.unwrap() == 0 {
                        return;
                    }
                    let (sent, back) = ring2.send_all(&conn, back).await;
                    sent.unwrap();
                    buf = back;
                    buf.clear();
                }
            }));
        }
    });
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let (pool, path) = (pool.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                let at = i * 512;
                let (n, buf) = pool
                    .spawn(move |ring| async move {
                        let file = File::from(std::fs::File::open(&*path).unwrap());
                        let (n, buf) = ring.read_at(&file, Vec::with_capacity(64), at).await;
                        (n.unwrap(), buf)
                    })
                    .await
                    .unwrap();
                (at as usize, n, buf)
            }));
        }
        for task in tasks {
            let (at, n, buf) = task.await.unwrap();
            assert_eq!(&buf[..n], &data[at..at + 64]);
        }

        let clients: Vec<_> = (0..8u8)
            .map(|c| {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let msg = vec![c; 10_000];
                    s.write_all(&msg).await.unwrap();
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, msg, "client {c}");
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
    });
    server.join().unwrap();
    Arc::into_inner(pool).unwrap().shutdown();
}

#[test]
fn the_pool_and_its_handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<RingPool>();
    send::<safer_ring::PoolHandle<Vec<u8>>>();
}

/// Worker 0 hands 2,000 tasks one at a time to worker 1 and awaits each: every hand-off and
/// every reply wakes the other worker (which sleeps in `io_uring_enter` in between).
fn ping_pong(msg_ring: bool) -> Vec<WorkerStats> {
    const ROUNDS: u64 = 2_000;
    let pool = Arc::new(
        RingPool::builder()
            .workers(2)
            .msg_ring(msg_ring)
            .build()
            .unwrap(),
    );
    let sum = pool
        .spawn_on(0, {
            let pool = pool.clone();
            move |_ring| async move {
                let mut sum = 0;
                for i in 0..ROUNDS {
                    let reply = pool.spawn_on(1, move |ring| async move {
                        ring.nop().await.unwrap();
                        i
                    });
                    sum += reply.await.unwrap();
                }
                drop(pool); // the main thread keeps the last reference
                sum
            }
        })
        .join()
        .unwrap();
    assert_eq!(sum, ROUNDS * (ROUNDS - 1) / 2);
    let stats = pool.stats();
    assert_eq!(stats[1].finished, ROUNDS, "every hand-off ran on worker 1");
    Arc::try_unwrap(pool).unwrap().shutdown();
    stats
}

#[test]
fn workers_wake_each_other_by_msg_ring_and_by_eventfd_when_told_not_to() {
    let by_eventfd = ping_pong(false);
    assert_eq!(
        by_eventfd[0].msg_ring_wakes + by_eventfd[1].msg_ring_wakes,
        0
    );
    if !common::kernel_only("wake-ups by IORING_OP_MSG_RING") {
        return;
    }
    let by_msg = ping_pong(true);
    // Each of worker 1's tasks was handed over by a message to its ring (a sleeping
    // worker's wake-up), and each reply woke worker 0 the same way; some wake-ups find the
    // other worker awake and need no message (on an idle machine, almost none do).
    let messages = by_msg[0].msg_ring_wakes + by_msg[1].msg_ring_wakes;
    assert!(
        messages >= 2_000,
        "{messages} of 4,000 wake-ups by message: {by_msg:?}"
    );
}
