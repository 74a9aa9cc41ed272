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

#[test]
fn a_tcp_round_trip_works_and_registration_is_refused_by_name() {
    use safer_ring::net::{ListenOptions, TcpListener};
    let ring = fallback();
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = ring.block_on(async {
        futures::join!(
            ring.connect(addr).into_future(),
            ring.accept(&listener).into_future()
        )
    });
    let (client, (server, _)) = (client.unwrap(), accepted.unwrap());
    let (sent, _) = ring.block_on(ring.send_all(&client, b"ping over the fallback".to_vec()));
    sent.unwrap();
    let (res, buf) = ring.block_on(ring.recv(&server, Vec::with_capacity(64)));
    assert_eq!(&buf[..res.unwrap()], b"ping over the fallback");
    let err = ring.register_files(8).unwrap_err();
    assert!(err.to_string().contains("fallback backend"), "{err}");
}
