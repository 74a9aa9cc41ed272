//! C10K on one thread: `echo_server --threads 1` holds 10,000 connections open at the same
//! time (the server has an fd for every one of them before any sends), echoes a distinct
//! payload of 1 to 8 KiB on each, byte-exact, costs no CPU while they idle, and once they
//! close holds exactly the fds it started with. Was: 4,091 connections served, the rest hung
//! in CLOSE-WAIT with their fds leaked (in-flight operations were capped by the CQ size).
//!
//! Both processes need more than 10,000 fds: the server raises its own soft limit to the
//! hard one, this test raises its own (the hard limit must allow 10,300).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::example;
use common::server::{
    fd_kinds, idle_ticks, interrupt, raise_fd_limit, server_fds, server_fds_all, start_echo,
    wait_for_fds_at_least, wait_for_fds_at_most,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 10_000;

/// Connects in flight at once while opening the connections (the listener's backlog is the
/// kernel's `somaxconn`; this stays well below it).
const CONNECTING: usize = 256;

/// Connection `id`'s payload: 1 KiB to 8 KiB, starting with `id` and then a pattern of its
/// own, so bytes echoed on the wrong connection or out of order show.
fn payload(id: usize) -> Vec<u8> {
    let size = 1024 + (id.wrapping_mul(0x9E37_79B9) >> 7) % (7 * 1024 + 1);
    let mut data: Vec<u8> = (0..size)
        .map(|i| (i ^ (i >> 8) ^ id.wrapping_mul(31)) as u8)
        .collect();
    data[..8].copy_from_slice(&(id as u64).to_le_bytes());
    data
}

/// Sends connection `id`'s payload while reading its echo; returns the bytes verified.
async fn echo_one(id: usize, stream: &mut TcpStream) -> usize {
    let data = payload(id);
    let (mut r, mut w) = stream.split();
    let mut back = vec![0u8; data.len()];
    let (sent, got) = tokio::join!(w.write_all(&data), r.read_exact(&mut back));
    sent.unwrap_or_else(|e| panic!("connection {id}: send: {e}"));
    got.unwrap_or_else(|e| panic!("connection {id}: echo of {} bytes: {e}", data.len()));
    if let Some(at) = back.iter().zip(&data).position(|(a, b)| a != b) {
        panic!(
            "connection {id}: byte {at} of {} echoed as {:#04x}, sent {:#04x}",
            data.len(),
            back[at],
            data[at]
        );
    }
    data.len()
}

#[test]
fn ten_thousand_concurrent_connections_echo_byte_exact_on_one_thread_and_fds_return() {
    let limit = raise_fd_limit(CONNECTIONS as u64 + 512);
    assert!(
        limit >= CONNECTIONS as u64 + 300,
        "this test needs {} fds; RLIMIT_NOFILE allows {limit} (raise the hard limit)",
        CONNECTIONS + 300
    );
    let started = Instant::now();
    let (mut guard, addr) = start_echo(&mut example("echo_server"), 1, Stdio::inherit());
    let server = &mut guard.0;
    let fds_at_start = server_fds(server);
    let all_at_start = server_fds_all(server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let expected: usize = (0..CONNECTIONS).map(|id| payload(id).len()).sum();
    rt.block_on(async {
        // Every connection open before any sends.
        let mut conns: Vec<TcpStream> = tokio::time::timeout(
            Duration::from_secs(60),
            futures::stream::iter(0..CONNECTIONS)
                .map(|_| TcpStream::connect(&addr))
                .buffer_unordered(CONNECTING)
                .map(|c| c.expect("connect"))
                .collect(),
        )
        .await
        .expect("10,000 connects took over 60 s");
        let open =
            wait_for_fds_at_least(server, all_at_start + CONNECTIONS, Duration::from_secs(30));
        assert_eq!(
            open,
            all_at_start + CONNECTIONS,
            "the server should hold an fd for each of the {CONNECTIONS} connections: {:?}",
            fd_kinds(server)
        );
        let connected = started.elapsed();

        // All echo at once.
        let verified: usize = tokio::time::timeout(
            Duration::from_secs(60),
            futures::future::join_all(conns.iter_mut().enumerate().map(|(id, s)| echo_one(id, s))),
        )
        .await
        .expect("the echoes of 10,000 connections took over 60 s")
        .into_iter()
        .sum();
        assert_eq!(verified, expected, "bytes verified");
        let echoed = started.elapsed();

        // 10,000 open, idle connections cost the server no CPU.
        let (ticks, wall) = idle_ticks(server);
        // 100 ticks per second: 2 ticks in 2 s is 1 % of a core.
        assert!(
            ticks <= 2,
            "the server used {ticks} ticks of CPU in {wall:?} with {CONNECTIONS} idle connections"
        );
        eprintln!(
            "{CONNECTIONS} connections open after {connected:?}, {verified} bytes echoed and \
             verified after {echoed:?}; idle: {ticks} CPU ticks in {wall:?}"
        );
        drop(conns);
    });

    let fds_after = wait_for_fds_at_most(server, fds_at_start, Duration::from_secs(30));
    assert_eq!(
        fds_after,
        fds_at_start,
        "the server holds other fds than before: {:?}",
        fd_kinds(server)
    );

    let rest = interrupt(server);
    assert!(
        rest.contains(&format!(
            "served {CONNECTIONS} connections, {expected} bytes echoed"
        )),
        "{rest}"
    );
}
