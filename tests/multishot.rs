//! Multishot operations as streams: many completions from one SQE, and dropping the stream
//! while traffic continues leaks nothing (every accepted fd closed).

mod common;

use std::net::SocketAddr;

use common::{open_fds, serial};
use futures::StreamExt;
use safer_ring::Ring;
use safer_ring::net::{ListenOptions, TcpListener};

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

#[test]
fn accept_multi_serves_many_connections_from_one_sqe() {
    let _serial = serial();
    let ring = Ring::new(64).unwrap();
    let (listener, addr) = listener();
    let clients: Vec<_> = (0..50)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let submitted_before = ring.stats().submitted;
    let accepted: Vec<_> = ring.block_on(ring.accept_multi(&listener).take(50).collect());
    assert_eq!(accepted.len(), 50);
    assert!(
        ring.stats().submitted - submitted_before <= 2,
        "one multishot SQE (re-armed at most once), not one per connection"
    );
    for (i, stream) in accepted.into_iter().enumerate() {
        let stream = stream.unwrap();
        let (n, _) = ring
            .send(&stream, vec![i as u8; 3])
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 3);
    }
    drop(clients);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
}

#[test]
fn dropping_accept_multi_while_clients_connect_closes_every_accepted_fd() {
    let _serial = serial();
    let ring = Ring::new(64).unwrap();
    let (listener, addr) = listener();
    ring.block_on(ring.nop()).unwrap(); // the executor's wake-up eventfd exists from here on
    let fds_before = open_fds();
    let mut stream = ring.accept_multi(&listener);
    let first = std::net::TcpStream::connect(addr).unwrap();
    let got = ring.block_on(stream.next()).unwrap().unwrap();
    drop(got);
    // More clients arrive; some are accepted by the kernel before the cancel lands.
    let mut clients = vec![first];
    for _ in 0..20 {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
    }
    // Reap: accepted connections queue up in the stream's slot, not yet taken; dropping the
    // stream must close them, and those the kernel accepts after the drop too.
    ring.turn(false).unwrap();
    assert!(
        ring.stats().completed < ring.stats().submitted,
        "the multishot is still armed"
    );
    drop(stream);
    for _ in 0..20 {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
    }
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.in_flight(), 0);
    drop(clients);
    // The listener's backlog may still hold connections nobody accepted; they belong to the
    // listener, not to us. Every fd *we* were handed is closed:
    assert_eq!(open_fds(), fds_before, "an accepted fd leaked");
}

fn connected(ring: &Ring) -> (safer_ring::net::TcpStream, std::net::TcpStream) {
    let (l, addr) = listener();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = ring.accept(&l).submit().unwrap().wait().unwrap();
    (server, client)
}

#[test]
fn recv_multi_delivers_the_whole_stream_in_order_then_ends() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(16, 1024).unwrap();
    let (server, mut client) = connected(&ring);
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            for part in sent.chunks(3000) {
                std::io::Write::write_all(&mut client, part).unwrap();
            }
        }) // dropping the client ends the stream
    };
    let got = ring.block_on(async {
        let mut got = Vec::new();
        let mut stream = ring.recv_multi(&server, &bufs);
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        got
    });
    writer.join().unwrap();
    assert!(
        got == sent,
        "received {} of {} bytes, in order",
        got.len(),
        sent.len()
    );
    assert_eq!(bufs.available(), 16);
}

#[test]
fn recv_multi_rearms_after_running_out_of_buffers_without_losing_data() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(2, 64).unwrap();
    let (server, mut client) = connected(&ring);
    let sent: Vec<u8> = (0..4096u32).map(|i| (i % 249) as u8).collect();
    std::io::Write::write_all(&mut client, &sent).unwrap();
    drop(client);
    let got = ring.block_on(async {
        let mut got = Vec::new();
        let mut held = Vec::new();
        let mut stream = ring.recv_multi(&server, &bufs);
        while let Some(chunk) = stream.next().await {
            // Hold two chunks at a time: the ring (2 buffers) runs dry again and again.
            held.push(chunk.unwrap());
            if held.len() == 2 {
                for c in held.drain(..) {
                    got.extend_from_slice(&c);
                }
            }
        }
        for c in held.drain(..) {
            got.extend_from_slice(&c);
        }
        got
    });
    assert!(
        got == sent,
        "received {} of {} bytes",
        got.len(),
        sent.len()
    );
    assert!(
        ring.stats().submitted > 2,
        "the stream re-armed after ENOBUFS"
    );
}

#[test]
fn dropping_recv_multi_while_traffic_continues_returns_every_buffer() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(8, 256).unwrap();
    let (server, mut client) = connected(&ring);
    let mut stream = ring.recv_multi(&server, &bufs);
    std::io::Write::write_all(&mut client, b"first").unwrap();
    let first = ring.block_on(stream.next()).unwrap().unwrap();
    assert_eq!(&first[..], b"first");
    std::io::Write::write_all(&mut client, &[7u8; 700]).unwrap();
    ring.turn(false).unwrap(); // chunks queue up in the slot, untaken
    drop(stream);
    std::io::Write::write_all(&mut client, &[8u8; 700]).unwrap();
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        bufs.available(),
        7,
        "all but the chunk we still hold are back"
    );
    drop(first);
    assert_eq!(
        bufs.available(),
        8,
        "every provided buffer back in the ring"
    );
}

#[test]
fn buffer_ring_of_another_ring_is_refused() {
    let a = Ring::new(8).unwrap();
    let b = Ring::new(8).unwrap();
    let bufs = a.register_buf_ring(4, 64).unwrap();
    let (server, _client) = connected(&b);
    let first = b.block_on(b.recv_multi(&server, &bufs).next()).unwrap();
    assert!(matches!(
        first,
        Err(safer_ring::SaferRingError::RingMismatch { .. })
    ));
    assert!(
        a.register_buf_ring(3, 64).is_err(),
        "count must be a power of two"
    );
}

#[test]
fn send_zc_hands_the_buffer_back_only_with_the_notification() {
    use safer_ring::op::net::ZcEvent;
    use std::io::Read;
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let (server, mut client) = connected(&ring);
    let payload = vec![0x42u8; 32 * 1024];
    let mut events = ring.send_zc_events(&server, payload.clone());
    // The send completes first, without the buffer...
    match ring.block_on(events.next()) {
        Some(ZcEvent::Sent) => {}
        Some(ZcEvent::Done(res, _)) => panic!("buffer handed back with the send result: {res:?}"),
        None => panic!("stream ended early"),
    }
    // ...and the buffer comes back only with the notification, as a separate event.
    let Some(ZcEvent::Done(res, buf)) = ring.block_on(events.next()) else {
        panic!("expected the buffer after the notification")
    };
    assert_eq!(res.unwrap(), payload.len());
    assert!(buf == payload);
    let mut got = vec![0u8; payload.len()];
    client.read_exact(&mut got).unwrap();
    assert!(got == payload);
}

#[test]
fn send_zc_dropped_before_the_notification_parks_its_buffer_until_then() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let (server, _client) = connected(&ring);
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut buf, token) = common::Sentinel::new(4096, &drops);
    buf.bytes.resize(4096, 9);
    let mut events = ring.send_zc_events(&server, buf);
    assert!(matches!(
        ring.block_on(events.next()),
        Some(safer_ring::op::net::ZcEvent::Sent)
    ));
    drop(events); // the notification may still be due: the buffer must stay alive
    assert!(Arc::strong_count(&token) == 2 || ring.live_slots() == 0);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "released exactly once, after the final CQE"
    );
    assert_eq!(Arc::strong_count(&token), 1);
}
