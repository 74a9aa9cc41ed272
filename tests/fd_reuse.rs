//! Invariant 6: no I/O on the wrong file. An operation keeps its fd open until its final
//! CQE, so closing a file and reusing its number cannot redirect an in-flight read.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;

use common::{feed, pipe, serial};
use safer_ring::{Ring, SaferRingError};

#[test]
fn dropped_file_with_read_in_flight_is_not_closed_or_reused() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let old_fd = reader.as_raw_fd();
    let op = ring.read(&reader, Vec::with_capacity(64)).submit().unwrap();
    ring.submit().unwrap();
    drop(reader); // "close" the file while the read is in flight

    let mut newcomer = tempfile::tempfile().unwrap();
    assert_ne!(
        newcomer.as_raw_fd(),
        old_fd,
        "fd number still held by the read"
    );
    std::io::Write::write_all(&mut newcomer, b"innocent").unwrap();

    feed(&mut writer, b"pipe data");
    let (n, buf) = op.wait();
    assert_eq!(
        &buf[..n.unwrap()],
        b"pipe data",
        "the read got the pipe's data"
    );

    let mut content = String::new();
    std::io::Seek::rewind(&mut newcomer).unwrap();
    newcomer.read_to_string(&mut content).unwrap();
    assert_eq!(content, "innocent", "the new file was never touched");

    // The read, the last holder, is gone: now the old fd is closed.
    assert!(
        !std::path::Path::new(&format!("/proc/self/fd/{old_fd}")).exists(),
        "fd {old_fd} closed once the last operation using it completed"
    );
}

#[test]
fn closing_a_file_with_operations_in_flight_is_refused_and_hands_it_back() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let op = ring.read(&reader, Vec::with_capacity(8)).submit().unwrap();
    let err = ring
        .close(reader)
        .expect_err("close must be refused while a read holds the fd");
    assert!(matches!(
        err.error(),
        SaferRingError::InUse { what: "file" }
    ));
    let reader = err.into_inner();
    feed(&mut writer, b"x");
    assert_eq!(op.wait().0.unwrap(), 1);
    ring.close(reader)
        .unwrap()
        .submit()
        .unwrap()
        .wait()
        .unwrap();
}
