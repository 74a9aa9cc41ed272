//! `safer-ring echo`: the echo server on a pool of rings as a process — verified echoes on
//! both accept modes, a clean report at SIGINT, startup errors that exit at once with the
//! reason; and `safer-ring bench`'s own errors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// `safer-ring echo ARGS` as a process, and the address of its `listening on` line.
fn spawn_echo(args: &[&str]) -> (Child, String) {
    let (child, line) = common::spawn_listening("echo", args);
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    let addr = line.split(' ').nth(2).unwrap().to_owned();
    (child, addr)
}

/// `clients` connections at once, each sending `len` bytes of its own pattern in pieces
/// and reading every byte back; returns the bytes echoed.
fn load(addr: &str, clients: u64, len: usize) -> u64 {
    let threads: Vec<_> = (0..clients)
        .map(|seed| {
            let addr = addr.to_owned();
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(&addr).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let data = common::pattern(len, seed);
                let mut back = vec![0; len];
                for (piece, into) in data.chunks(4096).zip(back.chunks_mut(4096)) {
                    conn.write_all(piece).unwrap();
                    conn.read_exact(into).unwrap();
                }
                assert!(back == data, "client {seed} got other bytes back");
                len as u64
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

/// Sends SIGINT and returns the exit code and stdout.
fn interrupt(child: Child) -> (Option<i32>, String, String) {
    // SAFETY: kill(2) on our child's pid, which it still is (not yet waited for).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        common::stdout(&out),
        common::stderr(&out),
    )
}

#[test]
fn echoes_every_byte_on_two_workers_in_both_accept_modes_and_reports_at_sigint() {
    // The hand-off is by IORING_OP_MSG_RING, which the fallback backend (`.ci/fallback.sh`)
    // does not have: there `--accept handoff` is refused at startup, by name.
    let fallback = std::env::var("SAFER_RING_BACKEND").is_ok_and(|b| b == "fallback");
    let modes: &[&str] = if fallback {
        &["reuseport"]
    } else {
        &["reuseport", "handoff"]
    };
    for &mode in modes {
        let (child, addr) =
            spawn_echo(&["--addr", "127.0.0.1:0", "--threads", "2", "--accept", mode]);
        let bytes = load(&addr, 64, 64 << 10);
        let (code, stdout, stderr) = interrupt(child);
        assert_eq!(code, Some(0), "{mode}: {stderr}");
        assert!(
            stdout.contains(&format!("served 64 connections, {bytes} bytes echoed")),
            "{mode}: {stdout}"
        );
    }
}

#[test]
fn startup_errors_exit_within_a_second_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for mode in ["reuseport", "handoff"] {
        let started = Instant::now();
        let out = common::run(&["echo", "--addr", &addr, "--accept", mode]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
        let stderr = common::stderr(&out);
        assert!(
            stderr.contains(&format!("cannot serve on {addr}")),
            "{stderr}"
        );
        assert!(stderr.contains("in use"), "{stderr}");
    }
    let out = common::run(&["echo", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("--threads"),
        "{}",
        common::stderr(&out)
    );
    assert!(common::stdout(&common::run(&["echo", "--help"])).contains("Exit codes:"));
}

#[test]
fn bench_help_names_the_harness_and_its_exit_codes() {
    let out = common::run(&["bench", "--help"]);
    let help = common::stdout(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        help.contains("safer-ring-bench") && help.contains("Exit codes:"),
        "{help}"
    );
}
