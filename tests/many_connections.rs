//! Connections are not capped by the completion queue (invariant 9): a multishot server on
//! a ring of 8 entries (a 16-entry CQ) — multishot accept, one multishot recv per
//! connection, `send_all` for the echo — serves every connection at once, each holding its
//! stream slot for as long as it lives, while its one-shot sends still get slots.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener, TcpStream};
use safer_ring::{BufRing, Ring, spawn};

async fn echo(ring: Rc<Ring>, bufs: BufRing, conn: TcpStream) -> u64 {
    let mut echoed = 0;
    let mut chunks = ring.recv_multi(&conn, &bufs);
    while let Some(Ok(chunk)) = chunks.next().await {
        let n = chunk.len() as u64;
        if ring.send_all(&conn, chunk).await.0.is_err() {
            break;
        }
        echoed += n;
    }
    echoed
}

/// Serves `n` connections on a ring of 8 entries, then returns the bytes each echoed.
fn serve(n: usize, ready: mpsc::Sender<SocketAddr>) -> Vec<u64> {
    let ring = Rc::new(Ring::new(8).unwrap());
    let bufs = ring.register_buf_ring(256, 4096).unwrap();
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    ready.send(listener.local_addr().unwrap()).unwrap();
    ring.block_on(async {
        let mut accepts = ring.accept_multi(&listener);
        let mut tasks = Vec::new();
        while tasks.len() < n {
            let conn = accepts.next().await.expect("accept stream ended").unwrap();
            tasks.push(spawn(echo(ring.clone(), bufs.clone(), conn)));
        }
        drop(accepts);
        let mut echoed = Vec::new();
        for task in tasks {
            echoed.push(task.await.unwrap());
        }
        echoed
    })
}

/// Opens `n` connections at once, sends a distinct message on each while all are open,
/// checks every echo, then closes them all.
fn clients(addr: SocketAddr, n: usize) {
    let mut conns: Vec<_> = (0..n)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(format!("message {i:06}").as_bytes())
            .unwrap();
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        let mut back = [0u8; 14];
        conn.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {i} of {n} not echoed: {e}"));
        assert_eq!(back, *format!("message {i:06}").as_bytes());
    }
}

fn echo_all(n: usize) {
    common::server::raise_fd_limit(4 * n as u64 + 256);
    let (ready_tx, ready) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(serve(n, ready_tx)).unwrap());
    let addr = ready.recv().unwrap();
    clients(addr, n);
    let echoed = done
        .recv_timeout(Duration::from_secs(60))
        .expect("the server stalled");
    assert_eq!(echoed, vec![14; n], "bytes echoed per connection");
}

/// Was: 14 connections echoed, the 15th and every later one never (their sends got no slot).
#[test]
fn fifteen_connections_on_a_ring_of_8_entries_are_all_echoed() {
    echo_all(15);
}

#[test]
fn a_thousand_connections_on_a_ring_of_8_entries_are_all_echoed() {
    echo_all(1_000);
}
