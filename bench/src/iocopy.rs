//! `iocopy`: `tokio::io::copy` of N MiB (1 GiB, 256 MiB with `--quick`) relayed over
//! loopback on a tokio current-thread runtime — between two ring sockets through the
//! `RingIo` adapters (the ring driven by `Ring::drive`; also by `copy_buf`, straight from the
//! adapter's read buffer) vs between two plain tokio sockets. A std thread sends the bytes
//! and another counts them, the same for every contender.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;

use safer_ring::Ring;
use safer_ring::io::RingIo;
use safer_ring::net::{ListenOptions, TcpListener};
use tokio::io::AsyncWriteExt;

use crate::report::{Report, Row};
use crate::stats::{Samples, measure};

const MIB: u64 = 1 << 20;
const CONTENDERS: [&str; 3] = ["ring adapters", "ring, copy_buf", "tokio"];

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

/// A thread that connects to `to` and sends `mib` MiB.
fn producer(to: SocketAddr, mib: u64) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut out = std::net::TcpStream::connect(to).expect("connect to the relay");
        let chunk = vec![0x5Au8; MIB as usize];
        for _ in 0..mib {
            out.write_all(&chunk).expect("send to the relay");
        }
    })
}

/// A listener, and a thread that accepts one connection on it and counts its bytes.
fn consumer() -> (SocketAddr, JoinHandle<u64>) {
    let sink = std::net::TcpListener::bind(loopback()).expect("bind the sink");
    let addr = sink.local_addr().expect("sink address");
    let counting = std::thread::spawn(move || {
        let (mut conn, _) = sink.accept().expect("accept the relay");
        let (mut seen, mut buf) = (0u64, vec![0u8; 256 * 1024]);
        loop {
            match conn.read(&mut buf).expect("read from the relay") {
                0 => return seen,
                n => seen += n as u64,
            }
        }
    });
    (addr, counting)
}

/// One relay through the ring adapters, by `tokio::io::copy` (or `copy_buf` if `buffered`:
/// straight from the reader's buffer, one copy less); the bytes copied.
async fn ring_relay(ring: &Rc<Ring>, mib: u64, sink: SocketAddr, buffered: bool) -> u64 {
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).expect("bind");
    let sending = producer(listener.local_addr().expect("address"), mib);
    let (from, _) = ring.accept(&listener).await.expect("accept");
    let to = ring.connect(sink).await.expect("connect");
    let (mut from, mut to) = (RingIo::new(ring, from), RingIo::new(ring, to));
    let n = if buffered {
        tokio::io::copy_buf(&mut from, &mut to).await
    } else {
        tokio::io::copy(&mut from, &mut to).await
    };
    to.shutdown().await.expect("shutdown");
    sending.join().expect("producer");
    n.expect("copy")
}

/// One relay between plain tokio sockets; the bytes copied.
async fn tokio_relay(mib: u64, sink: SocketAddr) -> u64 {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let sending = producer(listener.local_addr().expect("address"), mib);
    let (mut from, _) = listener.accept().await.expect("accept");
    let mut to = tokio::net::TcpStream::connect(sink).await.expect("connect");
    let n = tokio::io::copy(&mut from, &mut to).await.expect("copy");
    to.shutdown().await.expect("shutdown");
    sending.join().expect("producer");
    n
}

/// One round of `contender`, checked: the sink counted every byte.
fn round(rt: &tokio::runtime::Runtime, ring: &Rc<Ring>, contender: usize, mib: u64) {
    let (sink, counting) = consumer();
    let copied = match contender {
        0 | 1 => rt
            .block_on(ring.run_on_tokio(ring_relay(ring, mib, sink, contender == 1)))
            .expect("drive the ring"),
        _ => rt.block_on(tokio_relay(mib, sink)),
    };
    let seen = counting.join().expect("consumer");
    assert_eq!((copied, seen), (mib * MIB, mib * MIB), "every byte relayed");
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let mib = if quick { 256 } else { 1024 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let ring = Rc::new(Ring::new(64)?);
    let mut samples = [Samples::default(), Samples::default(), Samples::default()];
    for r in 0..rounds {
        for i in 0..CONTENDERS.len() {
            let c = (i + r) % CONTENDERS.len(); // the starting one rotates each round
            measure(&mut samples[c], mib, || round(&rt, &ring, c, mib));
        }
    }
    let case = format!("{mib} MiB, op = 1 MiB");
    for (contender, s) in CONTENDERS.into_iter().zip(samples) {
        report.metric(
            "iocopy",
            &case,
            contender,
            "bytes/s",
            s.median() * MIB as f64,
        );
        report.rows.push(Row {
            suite: "iocopy",
            case: case.clone(),
            contender,
            samples: s,
        });
    }
    report.goal(
        "iocopy ring adapters/tokio",
        (&case, "ring adapters"),
        (&case, "tokio"),
        0.9,
    );
    report.notes.push(format!(
        "iocopy: tokio::io::copy relaying {mib} MiB over loopback on a current-thread runtime, \
         a std thread sending and another counting (checked: every byte); `ring adapters` \
         copies between two ring TcpStreams through RingIo (default 16 KiB buffers, the ring \
         driven by Ring::drive), `ring, copy_buf` the same by tokio::io::copy_buf (from the \
         adapter's read buffer, one copy less), `tokio` between two tokio TcpStreams. op = 1 MiB, so op/s is MiB/s \
         and CPU is µs per MiB (the whole process, sender and counter included)."
    ));
    Ok(())
}
