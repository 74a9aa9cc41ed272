//! Cancellation against the real kernel: `cancel()` on one operation loses no data that
//! had arrived, cancel-by-fd cancels every pending operation on a socket and counts them.

mod common;

use std::io::Read;
use std::net::TcpStream as StdStream;

use common::pipe;
use safer_ring::Ring;
use safer_ring::net::{ListenOptions, TcpListener};

#[test]
fn cancel_after_data_arrived_loses_none_of_it() {
    let ring = Ring::new(8).unwrap();
    for round in 0..50 {
        let (reader, mut writer) = pipe();
        let read = ring.read(&reader, Vec::with_capacity(64)).submit().unwrap();
        ring.submit().unwrap();
        std::io::Write::write_all(&mut writer, b"partial data").unwrap();
        if round % 2 == 0 {
            ring.turn(false).unwrap(); // sometimes the CQE is already reaped
        }
        let (res, buf) = read.cancel().wait();
        drop(writer);
        let mut left = Vec::new();
        reader
            .try_clone_std()
            .unwrap()
            .read_to_end(&mut left)
            .unwrap();
        let mut got = match res {
            Ok(n) => buf[..n].to_vec(),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ECANCELED), "{e}");
                Vec::new()
            }
        };
        got.extend(left);
        assert_eq!(got, b"partial data", "round {round}: every byte somewhere");
    }
}

#[test]
fn cancel_by_fd_cancels_all_100_pending_receives() {
    let ring = Ring::new(128).unwrap();
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    let recvs: Vec<_> = (0..100)
        .map(|_| ring.recv(&server, vec![0u8; 16]).submit().unwrap())
        .collect();
    ring.submit().unwrap();
    assert_eq!(
        ring.cancel_fd(&server).submit().unwrap().wait().unwrap(),
        100
    );
    for recv in recvs {
        let (res, buf) = recv.wait();
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(buf.len(), 16);
    }
    assert_eq!(
        ring.cancel_fd(&server).submit().unwrap().wait().unwrap(),
        0,
        "none left"
    );
    drop(client);
}

#[test]
fn cancel_all_counts_what_it_cancelled() {
    let ring = Ring::new(16).unwrap();
    let (reader, _writer) = pipe();
    let reads: Vec<_> = (0..5)
        .map(|_| ring.read(&reader, vec![0u8; 4]).submit().unwrap())
        .collect();
    ring.submit().unwrap();
    assert_eq!(ring.cancel_all().submit().unwrap().wait().unwrap(), 5);
    assert!(reads.into_iter().all(|r| r.wait().0.is_err()));
}
