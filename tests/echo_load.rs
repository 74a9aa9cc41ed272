//! The echo server under load: 1,000 concurrent connections echo random payloads (1 B to
//! 1 MiB) byte-exact while hostile clients vanish, reset mid-message, or send a lot and never
//! read; afterwards the server holds no more fds than before. Then 100 idle connections cost
//! the server (nearly) no CPU. And a server out of fds keeps the connections it has and
//! accepts again once one closes.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::example;
use common::server::{
    fd_targets, idle_ticks, interrupt, raise_fd_limit, server_fds, server_fds_all, start_echo,
    wait_for_fds_at_least, wait_for_fds_at_most, with_fd_limit,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Log-uniform payload sizes from 1 B to 1 MiB, deterministic per connection.
fn payload(id: u64) -> Vec<u8> {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x >> 29;
    let size = 1usize << (x % 21); // 1 B ..= 1 MiB
    (0..size).map(|i| (i as u64 ^ id) as u8).collect()
}

async fn echo_one(addr: &str, id: u64) {
    let data = payload(id);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let (mut r, mut w) = s.split();
    let mut back = vec![0u8; data.len()];
    let (sent, got) = tokio::join!(w.write_all(&data), r.read_exact(&mut back));
    sent.expect("write");
    got.expect("read");
    assert!(
        back == data,
        "connection {id}: echo differs ({} bytes)",
        data.len()
    );
}

async fn hostile(addr: &str, kind: u64) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    match kind % 3 {
        0 => {} // connect and vanish
        1 => {
            s.write_all(b"half a message").await.ok();
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .ok();
        } // reset
        _ => {
            let junk = vec![0xAA; 1 << 16];
            let flood = async {
                loop {
                    if s.write_all(&junk).await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), flood).await;
        } // send a lot, never read
    }
}

#[test]
fn thousand_connections_echo_byte_exact_among_hostile_clients_then_idle_costs_nothing() {
    // 1,060 client sockets at once, beside the other test's: more than a soft limit of 1,024.
    raise_fd_limit(4096);
    let (mut guard, addr) = start_echo(&mut example("echo_server"), 2, Stdio::null());
    let server = &mut guard.0;
    let fds_at_start = server_fds(server);
    let targets_at_start = fd_targets(server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let normal = futures::future::join_all((0..1000).map(|id| echo_one(&addr, id)));
        let bad = futures::future::join_all((0..60).map(|k| hostile(&addr, k)));
        tokio::join!(normal, bad);
    });
    let fds_after = wait_for_fds_at_most(server, fds_at_start, Duration::from_secs(10));
    assert_eq!(
        fds_after,
        fds_at_start,
        "the server leaked fds: {:?} -> {:?}",
        targets_at_start,
        fd_targets(server)
    );

    let idle: Vec<_> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let (ticks, wall) = idle_ticks(server);
    // 100 ticks per second: 2 ticks in 2 s is 1 % of a core.
    assert!(
        ticks <= 2,
        "idle server used {ticks} ticks of CPU in {wall:?}"
    );
    drop(idle);

    interrupt(server);
}

/// Was: the first `EMFILE` ended the multishot accept, the accept stream with it, and the
/// server thread returned: every connection it had was dropped and its listener closed.
#[test]
fn out_of_fds_the_server_keeps_its_connections_and_accepts_again_once_some_close() {
    use std::io::{Read, Write};
    const LIMIT: u64 = 64;
    let mut cmd = example("echo_server");
    let (mut guard, addr) = start_echo(with_fd_limit(&mut cmd, LIMIT), 1, Stdio::null());
    let server = &mut guard.0;
    let fds_at_start = server_fds(server);
    let all_at_start = server_fds_all(server);
    // Free fd numbers below the limit (an fd inherited from cargo may sit above it).
    let below_limit = std::fs::read_dir(format!("/proc/{}/fd", server.id()))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_str().unwrap().parse::<u64>().unwrap() < LIMIT
        })
        .count();
    let room = LIMIT as usize - below_limit;
    // 20 more than it can hold: they wait in the listen backlog.
    let mut conns: Vec<std::net::TcpStream> = (0..room + 20)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let full = wait_for_fds_at_least(server, all_at_start + room, Duration::from_secs(10));
    assert_eq!(
        full,
        all_at_start + room,
        "the server should fill its fd limit"
    );
    std::thread::sleep(Duration::from_millis(200)); // it failed accepting the rest meanwhile
    let echo = |i: usize, c: &mut std::net::TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("connection {i:04}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {i} of {}: {e}", room + 20));
        assert_eq!(back, msg.as_bytes());
    };
    echo(0, &mut conns[0]);
    // Closing 30 frees fds: the 20 waiting are accepted, and everyone left is served.
    let rest = conns.split_off(30);
    drop(conns);
    for (i, mut c) in rest.into_iter().enumerate() {
        echo(30 + i, &mut c);
    }
    let fds_after = wait_for_fds_at_most(server, fds_at_start, Duration::from_secs(10));
    assert_eq!(fds_after, fds_at_start, "{:?}", fd_targets(server));
    let out = interrupt(server);
    assert!(
        out.contains(&format!("served {} connections", room + 20)),
        "{out}"
    );
}
