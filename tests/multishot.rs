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
