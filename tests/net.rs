//! Sockets against the real kernel over loopback: TCP, UDP with peer addresses, Unix
//! streams, and the errors a server meets — each a clear `SaferRingError`.

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use common::{open_fds, serial};
use safer_ring::error::Subject;
use safer_ring::net::{ListenOptions, Shutdown, TcpListener, UdpSocket, UnixListener};
use safer_ring::{Ring, SaferRingError};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn tcp_round_trip_with_addresses_and_half_close() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    ring.block_on(async {
        let (client, accepted) = futures::join!(
            ring.connect(addr).into_future(),
            ring.accept(&listener).into_future()
        );
        let client = client.unwrap();
        let (server, peer) = accepted.unwrap();
        assert_eq!(peer, Some(client.local_addr().unwrap()));
        assert_eq!(client.peer_addr().unwrap(), addr);
        client.set_nodelay(true).unwrap();
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (res, _) = ring.write_all_at(&client, payload.clone(), 0).await;
        res.unwrap();
        ring.shutdown_socket(&client, Shutdown::Write)
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = Vec::with_capacity(8192);
        loop {
            let (n, back) = ring.recv(&server, buf).await;
            let n = n.unwrap();
            if n == 0 {
                break; // the peer closed its side: 0 bytes
            }
            got.extend_from_slice(&back[..n]);
            buf = back;
        }
        assert!(got == payload, "stream arrived intact");
        let (n, _) = ring.send(&server, b"bye".to_vec()).await;
        assert_eq!(n.unwrap(), 3);
        let (n, buf) = ring.read(&client, Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"bye");
    });
}

#[test]
fn udp_round_trips_with_peer_addresses() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let a = UdpSocket::bind(loopback()).unwrap();
    let b = UdpSocket::bind(loopback()).unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    for i in 0..100u32 {
        let (n, _) = ring
            .send_to(&a, i.to_le_bytes().to_vec(), b_addr)
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 4);
        let (got, buf) = ring
            .recv_from(&b, Vec::with_capacity(16))
            .submit()
            .unwrap()
            .wait();
        let (n, from) = got.unwrap();
        assert_eq!((&buf[..n], from), (&i.to_le_bytes()[..], Some(a_addr)));
        ring.send_to(&b, buf, from.unwrap())
            .submit()
            .unwrap()
            .wait()
            .0
            .unwrap();
        let (got, echoed) = ring
            .recv_from(&a, Vec::with_capacity(16))
            .submit()
            .unwrap()
            .wait();
        assert_eq!(got.unwrap(), (4, Some(b_addr)));
        assert_eq!(echoed, i.to_le_bytes());
    }
}

#[test]
fn socket_operations_accept_registered_fds() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    ring.register_files(2).unwrap();
    let a = UdpSocket::bind(loopback()).unwrap();
    let b = UdpSocket::bind(loopback()).unwrap();
    let (fa, fb) = (
        ring.register_file(&a).unwrap(),
        ring.register_file(&b).unwrap(),
    );
    let b_addr = b.local_addr().unwrap();
    ring.send_to(&fa, b"fixed".to_vec(), b_addr)
        .submit()
        .unwrap()
        .wait()
        .0
        .unwrap();
    let (got, buf) = ring
        .recv_from(&fb, Vec::with_capacity(8))
        .submit()
        .unwrap()
        .wait();
    assert_eq!(got.unwrap(), (5, Some(a.local_addr().unwrap())));
    assert_eq!(buf, b"fixed");
    // A registered handle from another ring is refused, with the buffer handed back.
    let other = Ring::new(4).unwrap();
    let err = other
        .send_to(&fa, b"no".to_vec(), b_addr)
        .submit()
        .unwrap_err();
    assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }));
}

#[test]
fn unix_stream_round_trip() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    ring.block_on(async {
        let (client, accepted) = futures::join!(
            ring.connect_unix(&path).into_future(),
            ring.accept_unix(&listener).into_future()
        );
        let (client, (server, _)) = (client.unwrap(), accepted.unwrap());
        ring.send(&client, b"over unix".to_vec()).await.0.unwrap();
        let (n, buf) = ring.recv(&server, Vec::with_capacity(32)).await;
        assert_eq!(&buf[..n.unwrap()], b"over unix");
    });
}

#[test]
fn connection_refused_is_a_clear_error() {
    let _serial = serial();
    let ring = Ring::new(4).unwrap();
    let addr = {
        let l = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
        l.local_addr().unwrap()
    }; // nothing listens there any more
    let err = ring.connect(addr).submit().unwrap().wait().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    assert!(
        err.to_string()
            .starts_with(&format!("connect {addr} failed: Connection refused")),
        "{err}"
    );
    assert_eq!(err.subject(), Some(&Subject::Addr(addr)));
}

#[test]
fn connection_reset_by_peer_is_a_clear_error() {
    let _serial = serial();
    let ring = Ring::new(8).unwrap();
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    // Close with SO_LINGER 0: the kernel sends RST instead of FIN.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    let (res, _) = ring
        .recv(&server, Vec::with_capacity(8))
        .submit()
        .unwrap()
        .wait();
    let err = res.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
    assert!(err.to_string().contains("reset"), "{err}");
    // Sending to it now: EPIPE or ECONNRESET, never a SIGPIPE that kills the process.
    let (res, buf) = ring
        .send(&server, b"anyone?".to_vec())
        .submit()
        .unwrap()
        .wait();
    let errno = res.unwrap_err().raw_os_error();
    assert!(
        matches!(errno, Some(libc::EPIPE | libc::ECONNRESET)),
        "{errno:?}"
    );
    assert_eq!(buf, b"anyone?");
}

#[test]
fn address_in_use_and_bad_addresses_are_clear_errors() {
    let _serial = serial();
    let first = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let taken = first.local_addr().unwrap();
    let err = TcpListener::bind(taken, ListenOptions::default()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    assert!(
        err.to_string()
            .starts_with(&format!("bind {taken} failed: Address already in use")),
        "{err}"
    );
    assert!(err.to_string().contains("address in use"), "{err}");
    assert_eq!(err.subject(), Some(&Subject::Addr(taken)));
    let ring = Ring::new(4).unwrap();
    let err = TcpListener::bind_with(&ring, taken, ListenOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("bind_with {taken} failed")),
        "{err}"
    );
    let unavailable: SocketAddr = "192.0.2.1:9".parse().unwrap();
    let err = UdpSocket::bind(unavailable).unwrap_err();
    assert!(err.to_string().contains("not available"), "{err}");
    assert_eq!(err.subject(), Some(&Subject::Addr(unavailable)));
    let long = "x".repeat(200);
    let err = ring.connect_unix(&long).submit().unwrap_err();
    assert_eq!(err.error().raw_os_error(), Some(libc::ENAMETOOLONG));
    assert!(
        err.to_string().starts_with(&format!(
            "submission failed: connect_unix \"{long}\" failed"
        )),
        "{err}"
    );
    // A Unix path in use, and one nobody listens on.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let _listener = UnixListener::bind(&path).unwrap();
    let err = UnixListener::bind(&path).unwrap_err();
    assert_eq!(err.subject(), Some(&Subject::Path(path.clone())));
    let nobody = dir.path().join("nobody");
    let err = ring
        .connect_unix(&nobody)
        .submit()
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(
        err.to_string()
            .starts_with(&format!("connect_unix {nobody:?} failed")),
        "{err}"
    );
}

#[test]
fn dropped_accept_is_cancelled_and_an_accepted_fd_is_never_leaked() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let fds_before = open_fds();
    // No client: the accept waits; dropping it cancels it.
    drop(ring.accept(&listener).submit().unwrap());
    // Clients connect while accepts are abandoned: whatever they accepted gets closed.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let op = ring.accept(&listener).submit().unwrap();
            ring.submit().unwrap();
            let c = std::net::TcpStream::connect(addr).unwrap();
            drop(op);
            c
        })
        .collect();
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    drop(clients);
    assert_eq!(open_fds(), fds_before, "no accepted fd leaked");
}

#[test]
fn too_many_open_files_names_the_limit() {
    let _serial = serial();
    let stdout = common::run_child_test("emfile_child");
    assert!(
        stdout.contains("EMFILE-ERROR: connect 127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("ulimit -n"), "{stdout}");
}

#[test]
#[ignore = "helper: run by too_many_open_files_names_the_limit in a child process"]
#[allow(unsafe_code)]
fn emfile_child() {
    let _serial = serial();
    let ring = Ring::new(4).unwrap();
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a live rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) };
    assert_eq!(rc, 0);
    // No new fd may be allocated at all (the limit caps fd numbers, so a count-based limit
    // could still leave a low free number).
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: saved.rlim_max,
    };
    // SAFETY: setrlimit reads a live rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let err = ring.connect(addr).submit().unwrap_err();
    // Restore it: the test harness and LeakSanitizer need fds to finish.
    // SAFETY: setrlimit reads a live rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
    assert_eq!(err.error().raw_os_error(), Some(libc::EMFILE));
    assert!(matches!(err.error(), SaferRingError::Os { .. }));
    println!("EMFILE-ERROR: {}", err.error());
}

#[test]
fn sockets_made_through_the_ring_and_abandoned_socket_ops_close_their_fds() {
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let listener = TcpListener::bind_with(&ring, loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = ring.connect(addr).submit().unwrap().wait().unwrap();
    let (server, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    ring.send(&client, b"via IORING_OP_SOCKET".to_vec())
        .submit()
        .unwrap()
        .wait()
        .0
        .unwrap();
    let (n, buf) = ring
        .recv(&server, Vec::with_capacity(32))
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"via IORING_OP_SOCKET");
    let fds_before = open_fds();
    for _ in 0..50 {
        let op = ring
            .socket(socket2::Domain::IPV4, socket2::Type::STREAM)
            .submit()
            .unwrap();
        ring.submit().unwrap();
        drop(op); // it succeeded (or will): the socket it made must still be closed
    }
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(open_fds(), fds_before);
}

#[test]
fn send_zc_of_more_than_4_gib_sends_an_honest_short_count_not_the_length_mod_2_pow_32() {
    if !common::kernel_only("the kernel's zero-copy send") {
        return;
    }
    use futures::StreamExt;
    use safer_ring::net::ZcEvent;
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    let len = (4usize << 30) + 10;
    let mut events = ring.send_zc_events(&server, common::ZeroMapping::new(len));
    // The send completes while the peer reads nothing: it took what the socket could hold.
    assert!(matches!(ring.block_on(events.next()), Some(ZcEvent::Sent)));
    // The kernel lets go of the pages (the notification) once the peer has read them.
    let drain = std::thread::spawn(move || std::io::copy(&mut peer, &mut std::io::sink()));
    let Some(ZcEvent::Done(sent, buf)) = ring.block_on(events.next()) else {
        panic!("expected the buffer back with the notification");
    };
    drop((events, buf));
    ring.block_on(ring.shutdown_socket(&server, Shutdown::Write))
        .unwrap();
    let drained = drain.join().unwrap().unwrap();
    let sent = sent.unwrap();
    println!("send_zc of {len} bytes to a peer not reading: {sent} sent");
    assert!(
        sent > 10,
        "sent {sent} bytes of a {len}-byte buffer: its length was cut to 32 bits"
    );
    assert!(sent < len, "a short count");
    assert_eq!(drained, sent as u64, "the peer got what was reported");
}
