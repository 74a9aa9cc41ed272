//! A multishot accept that runs out of fds yields `EMFILE` and keeps the listener: once an fd
//! is free, the same stream accepts again. (Its own test binary: it lowers the process's fd
//! limit, which every thread shares.)

mod common;

use std::os::fd::{AsRawFd, OwnedFd};

use common::server::set_soft_fd_limit;
use futures::StreamExt;
use safer_ring::Ring;
use safer_ring::net::{ListenOptions, TcpListener};

#[test]
fn out_of_fds_the_accept_stream_yields_emfile_then_accepts_again_once_an_fd_is_free() {
    let ring = Ring::new(16).unwrap();
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    ring.block_on(ring.nop()).unwrap(); // the executor's eventfd exists before the limit
    // Fill every fd number below the limit, then leave one placeholder to free later.
    let placeholder: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let old = set_soft_fd_limit(placeholder.as_raw_fd() as u64 + 1);
    let mut fillers = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fillers.push(f);
    }
    let mut accepts = ring.accept_multi(&listener);
    let first = ring.block_on(accepts.next()).expect("the stream goes on");
    let err = first.expect_err("no fd left to accept into");
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
    drop(placeholder);
    let second = ring.block_on(accepts.next()).expect("the stream goes on");
    let conn = second.expect("an fd is free again: the same stream accepts");
    drop((conn, fillers));
    set_soft_fd_limit(old);
    drop((accepts, clients));
}
