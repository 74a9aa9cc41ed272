//! The fallback backend (io_uring emulated by worker threads with plain system calls): the
//! same operations give the same results, waits end on cancel and on linked timeouts, and
//! what it cannot do is refused by name.

mod common;

use std::time::{Duration, Instant};

use safer_ring::{Backend, BackendMode, OpenOptions, Ring};

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
