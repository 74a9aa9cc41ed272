//! Every degraded path, taken on purpose: a ring built `without` a capability (what a kernel
//! that lacks it gets) must do the same work through the older mechanism — and the counters
//! show it really took that path (one SQE per item where the capability needs one in all).

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::probe::{Capability, CapabilitySet};
use safer_ring::{Ring, SaferRingError};

fn ring_without(capability: Capability) -> Ring {
    let ring = Ring::builder().without(capability).build().unwrap();
    assert!(!ring.capabilities().has(capability));
    ring
}

fn listener() -> (TcpListener, std::net::SocketAddr) {
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts `n` connections through `accept_multi`; returns the SQEs it took.
fn accept_n(ring: &Ring, n: usize) -> u64 {
    let (listener, addr) = listener();
    let clients: Vec<_> = (0..n)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let before = ring.stats().submitted;
    let accepted = ring.block_on(async {
        let mut stream = ring.accept_multi(&listener);
        let mut got = Vec::new();
        for _ in 0..n {
            got.push(stream.next().await.unwrap().unwrap());
        }
        got
    });
    assert_eq!(accepted.len(), clients.len());
    ring.stats().submitted - before
}

#[test]
fn accept_multi_without_multishot_accept_rearms_one_accept_per_connection() {
    if !common::kernel_only("the kernel's multishot accept, against its masked form") {
        return;
    }
    assert_eq!(accept_n(&Ring::new(16).unwrap(), 5), 1, "one multishot SQE");
    let sqes = accept_n(&ring_without(Capability::MultishotAccept), 5);
    assert!(sqes >= 5, "one accept per connection, got {sqes}");
}

#[test]
fn recv_multi_without_multishot_recv_rearms_a_buffer_ring_recv_per_message() {
    let ring = ring_without(Capability::MultishotRecv);
    let bufs = ring.register_buf_ring(8, 64).unwrap();
    let (listener, addr) = listener();
    let mut peer = std::net::TcpStream::connect(addr).unwrap();
    let (conn, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..3u8 {
            peer.write_all(&[i; 10]).unwrap();
            std::thread::sleep(Duration::from_millis(20)); // separate messages
        }
    });
    let before = ring.stats().submitted;
    let got = ring.block_on(async {
        let mut chunks = ring.recv_multi(&conn, &bufs);
        let mut got = Vec::new();
        while got.len() < 30 {
            got.extend_from_slice(&chunks.next().await.unwrap().unwrap());
        }
        got
    });
    writer.join().unwrap();
    let expected: Vec<u8> = (0..3u8).flat_map(|i| [i; 10]).collect();
    assert_eq!(got, expected);
    assert!(ring.stats().submitted - before >= 3, "re-armed per message");
}

#[test]
fn send_zc_without_zero_copy_sends_the_same_bytes_and_its_event_stream_says_unsupported() {
    let ring = ring_without(Capability::SendZc);
    let (listener, addr) = listener();
    let mut peer = std::net::TcpStream::connect(addr).unwrap();
    let (conn, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    let (n, buf) = ring.block_on(ring.send_zc(&conn, b"zero copy or not".to_vec()));
    assert_eq!((n.unwrap(), buf.len()), (16, 16));
    let mut got = [0u8; 16];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"zero copy or not");
    let mut events = ring.send_zc_events(&conn, b"x".to_vec());
    let first = ring.block_on(events.next()).unwrap();
    assert!(
        matches!(&first, safer_ring::net::ZcEvent::Done(Err(SaferRingError::Unsupported { .. }), b) if b == b"x"),
        "{first:?}"
    );
}

#[test]
fn socket_without_the_opcode_is_made_by_the_syscall_and_listens() {
    let ring = ring_without(Capability::SocketOp);
    let listener = TcpListener::bind_with(
        &ring,
        "127.0.0.1:0".parse().unwrap(),
        ListenOptions::default(),
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (conn, _) = ring.accept(&listener).submit().unwrap().wait().unwrap();
    ring.block_on(ring.send_all(&conn, b"hi".to_vec()))
        .0
        .unwrap();
    let mut got = [0u8; 2];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
}

#[test]
fn ticks_without_multishot_timeouts_rearm_a_one_shot_timeout_per_tick() {
    let ring = ring_without(Capability::MultishotTimeout);
    let start = std::time::Instant::now();
    let ticks: Vec<_> = ring.block_on(ring.ticks(Duration::from_millis(10), 3).collect());
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        ticks.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(ring.stats().submitted, 3, "one timeout per tick");
}

#[test]
fn setup_flags_the_ring_does_without_are_not_asked_for() {
    let ring = Ring::builder()
        .without(Capability::DeferTaskrun)
        .without(Capability::SingleIssuer)
        .without(Capability::NoSqArray)
        .without(Capability::RegisteredRingFd)
        .build()
        .unwrap();
    let flags = ring.setup_flags();
    assert!(
        !flags.defer_taskrun && !flags.single_issuer && !flags.no_sqarray && !flags.registered_fd,
        "{flags:?}"
    );
    ring.block_on(ring.nop()).unwrap();
    let (r, mut w) = common::pipe();
    w.write_all(b"plain ring").unwrap();
    let (n, buf) = ring.block_on(ring.read(&r, Vec::with_capacity(16)));
    assert_eq!(&buf[..n.unwrap()], b"plain ring");
}

#[test]
fn the_environment_masks_capabilities_for_every_ring_and_refuses_unknown_names() {
    if !common::kernel_only("the capabilities of a kernel ring (the fallback has none to mask)") {
        return;
    }
    let run = |without: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "env_child", "--nocapture"])
            .env("SAFER_RING_WITHOUT", without)
            .output()
            .unwrap()
    };
    let out = run("send_zc, multishot_accept");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("without send_zc: true, multishot_accept: true, socket_op: false"),
        "{stdout}"
    );
    let out = run("warp_drive");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("unknown capability") && stdout.contains("multishot_recv"),
        "{stdout}"
    );
}

#[test]
#[ignore = "run by the_environment_masks_capabilities_for_every_ring_and_refuses_unknown_names"]
fn env_child() {
    match Ring::new(4) {
        Ok(ring) => {
            let without: CapabilitySet = ring.capabilities().without();
            let has = |c| without.contains(c);
            println!(
                "without send_zc: {}, multishot_accept: {}, socket_op: {}",
                has(Capability::SendZc),
                has(Capability::MultishotAccept),
                has(Capability::SocketOp)
            );
        }
        Err(e) => println!("{e}"),
    }
}
