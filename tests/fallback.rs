//! The fallback backend (io_uring emulated by worker threads with plain system calls): the
//! same operations give the same results, waits end on cancel and on linked timeouts, and
//! what it cannot do is refused by name.

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use safer_ring::{Backend, BackendMode, OpenOptions, Ring, SaferRingError};

fn fallback() -> Ring {
    let ring = Ring::builder()
        .backend(BackendMode::Fallback)
        .build()
        .unwrap();
    assert_eq!(ring.backend(), Backend::Fallback);
    ring
}

#[test]
fn nops_complete_in_any_order() {
    let ring = fallback();
    let a = ring.nop().submit().unwrap();
    let b = ring.nop().submit().unwrap();
    b.wait().unwrap();
    a.wait().unwrap();
    assert_eq!(ring.stats().completed, 2);
}

#[test]
fn a_file_is_written_and_read_back() {
    let ring = fallback();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let opts = OpenOptions::new().read(true).write(true).create(true);
    let file = ring.block_on(ring.open(&path, opts)).unwrap();
    let (res, _) = ring.block_on(ring.write_all_at(&file, b"hello fallback".to_vec(), 0));
    res.unwrap();
    let (res, buf) = ring.block_on(ring.read_at(&file, Vec::with_capacity(64), 0));
    assert_eq!(res.unwrap(), 14);
    assert_eq!(buf, b"hello fallback");
}

#[test]
fn a_sleep_lasts_its_duration_under_block_on() {
    let ring = fallback();
    let start = Instant::now();
    ring.block_on(ring.sleep(Duration::from_millis(50)))
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(1),
        "{took:?}"
    );
}

#[test]
fn a_link_timeout_ends_a_read_on_an_empty_pipe_and_hands_the_buffer_back() {
    let ring = fallback();
    let (reader, _writer) = common::pipe();
    let start = Instant::now();
    let (res, buf) = ring.block_on(
        ring.read(&reader, Vec::with_capacity(32))
            .timeout(Duration::from_millis(50)),
    );
    assert!(
        matches!(res, Err(SaferRingError::TimedOut { .. })),
        "{res:?}"
    );
    assert_eq!(buf.capacity(), 32, "the buffer came back");
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(ring.live_slots(), 0);
}

#[test]
fn a_dropped_read_is_cancelled_and_its_buffer_released_once_the_worker_let_go() {
    let ring = fallback();
    let (reader, mut writer) = common::pipe();
    let op = ring.read(&reader, vec![0u8; 16]).submit().unwrap();
    ring.submit().unwrap();
    drop(op); // the worker waits in ppoll: the cancel interrupts it
    let deadline = Instant::now() + Duration::from_secs(5);
    while ring.live_slots() > 0 {
        assert!(Instant::now() < deadline, "the cancel never completed");
        ring.turn(true).unwrap();
    }
    // Nothing read the pipe: what is written now is all there for the next read.
    std::io::Write::write_all(&mut writer, b"after").unwrap();
    let (res, buf) = ring.block_on(ring.read(&reader, Vec::with_capacity(16)));
    assert_eq!(&buf[..res.unwrap()], b"after");
}

/// A connected pair of sockets on `ring`: (client, server).
fn connected(ring: &Ring) -> (safer_ring::net::TcpStream, safer_ring::net::TcpStream) {
    use safer_ring::net::{ListenOptions, TcpListener};
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = ring.block_on(async {
        futures::join!(
            ring.connect(addr).into_future(),
            ring.accept(&listener).into_future()
        )
    });
    (client.unwrap(), accepted.unwrap().0)
}

#[test]
fn a_tcp_round_trip_works_and_what_needs_msg_ring_is_refused_by_name() {
    let ring = fallback();
    let (client, server) = connected(&ring);
    let (sent, _) = ring.block_on(ring.send_all(&client, b"ping over the fallback".to_vec()));
    sent.unwrap();
    let (res, buf) = ring.block_on(ring.recv(&server, Vec::with_capacity(64)));
    assert_eq!(&buf[..res.unwrap()], b"ping over the fallback");
    ring.register_files(8).unwrap();
    let err = ring.open_file_mailbox(2).unwrap_err();
    assert!(err.to_string().contains("fallback backend"), "{err}");
}

#[test]
fn registered_files_buffers_and_buffer_rings_work_as_on_io_uring() {
    use futures::StreamExt;
    let ring = fallback();
    let (client, server) = connected(&ring);
    ring.register_files(4).unwrap();
    let fixed = ring.register_file(&server).unwrap();
    drop(server); // the table holds its own reference, as the kernel's does
    let bufs = ring.register_buf_ring(4, 64).unwrap();
    let mut chunks = ring.recv_multi(&fixed, &bufs);
    for word in ["first", "second"] {
        let (sent, _) = ring.block_on(ring.send_all(&client, word.as_bytes().to_vec()));
        sent.unwrap();
        let chunk = ring.block_on(chunks.next()).unwrap().unwrap();
        assert_eq!(
            &chunk[..],
            word.as_bytes(),
            "received into a provided buffer"
        );
    }
    drop(chunks);
    // Fixed buffers: a registered pool's buffer written to and read back from a file.
    let pool = safer_ring::BufferPool::new(2, 4096).unwrap();
    ring.register_pool(&pool).unwrap();
    let file = safer_ring::File::from(tempfile::tempfile().unwrap());
    let mut buf = pool.try_get().unwrap();
    buf.as_mut_capacity()[..5].copy_from_slice(b"fixed");
    buf.set_len(5);
    let (n, buf) = ring.write_fixed_at(&file, buf, 0).submit().unwrap().wait();
    assert_eq!(n.unwrap(), 5);
    drop(buf);
    let (n, buf) = ring
        .read_fixed_at(&file, pool.try_get().unwrap(), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf.as_slice()[..n.unwrap()], b"fixed");
    // An emptied slot is refused by the ring before anything reaches the backend.
    ring.unregister_file(&fixed).unwrap();
    let err = ring
        .recv(&fixed, Vec::with_capacity(8))
        .submit()
        .unwrap_err();
    assert!(err.to_string().contains("registered file"), "{err}");
}

/// Threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn idle_connections_wait_in_the_reactor_not_on_a_thread_each() {
    let _serial = common::serial();
    let ring = fallback();
    let pairs: Vec<_> = (0..300).map(|_| connected(&ring)).collect();
    let before = threads();
    let recvs: Vec<_> = pairs
        .iter()
        .map(|(_, server)| ring.recv(server, Vec::with_capacity(8)).submit().unwrap())
        .collect();
    ring.submit().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let waiting = threads();
    assert!(
        waiting < before + 16,
        "300 receives waiting took {} threads",
        waiting - before
    );
    for (client, _) in &pairs {
        let (sent, _) = ring.block_on(ring.send_all(client, b"hi".to_vec()));
        sent.unwrap();
    }
    for op in recvs {
        let (n, buf) = op.wait();
        assert_eq!(&buf[..n.unwrap()], b"hi");
    }
}

#[test]
fn chains_waiting_on_pipes_never_starve_the_writes_that_feed_them() {
    // More chains wait (each on its worker: a chain runs in order on one) than workers may
    // run at once; the writes that end their waits come after them and must still run.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        if !watched.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("the writes starved behind the chains' waits for 30 s");
            std::process::abort(); // a deadlock would otherwise hang the suite
        }
    });
    let ring = fallback();
    let pipes: Vec<_> = (0..40).map(|_| common::pipe()).collect();
    let chains: Vec<_> = pipes
        .iter()
        .map(|(reader, _)| {
            ring.chain((ring.read(reader, Vec::with_capacity(8)), ring.nop()))
                .link(safer_ring::op::Link::Hard) // a short read does not cancel the rest
                .submit()
                .unwrap()
        })
        .collect();
    ring.submit().unwrap();
    let writers: Vec<_> = pipes
        .iter()
        .map(|(_, w)| safer_ring::File::from(w.try_clone().unwrap()))
        .collect();
    let writes: Vec<_> = writers
        .iter()
        .map(|w| ring.write(w, b"fed".to_vec()).submit().unwrap())
        .collect();
    for write in writes {
        assert_eq!(write.wait().0.unwrap(), 3);
    }
    for chain in chains {
        let ((read, buf), nop) = chain.wait();
        assert_eq!(&buf[..read.unwrap()], b"fed");
        nop.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
}
