//! The examples are real programs: run each and check what it says and does.

mod common;

use common::{example, listening_addr, succeed};

#[test]
fn copy_example_copies_a_file_exactly_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let dst = dir.path().join("dst.bin");
    let data: Vec<u8> = (0..5_000_003u32).map(|i| (i * 7 + i / 3) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let stdout = succeed(
        example("copy")
            .args([src.as_os_str(), dst.as_os_str()])
            .args(["--chunk", "64", "--depth", "4"]),
    );
    assert!(stdout.contains("copied 5000003 bytes"), "{stdout}");
    assert!(std::fs::read(&dst).unwrap() == data, "copy differs");
}

#[test]
fn chain_copy_example_copies_through_linked_chains_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let dst = dir.path().join("dst.bin");
    // Not a multiple of the chunk: the last chain breaks on its short read.
    let data: Vec<u8> = (0..5_000_003u32).map(|i| (i * 13 + i / 5) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let stdout = succeed(
        example("chain_copy")
            .args([src.as_os_str(), dst.as_os_str()])
            .args(["--chunk", "64", "--depth", "4"]),
    );
    assert!(
        stdout.starts_with("chain_copy: 5000003 bytes in "),
        "{stdout}"
    );
    assert!(std::fs::read(&dst).unwrap() == data, "copy differs");
    let err = example("chain_copy").args([&src, &src]).output().unwrap();
    assert_eq!(err.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&err.stderr).contains("refusing to copy"));
    assert_eq!(std::fs::read(&src).unwrap(), data, "source intact");
}

#[test]
fn copy_examples_answer_help_with_usage_and_bad_flags_with_exit_2() {
    for name in ["copy", "chain_copy"] {
        let help = example(name).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0), "{name} --help");
        assert!(String::from_utf8_lossy(&help.stdout).contains("usage:"));
        let bad = example(name).args(["--depth", "lots"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name} --depth lots");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("not a number: lots"));
    }
}

#[test]
fn tokio_multi_example_echoes_through_the_ring_pool_from_tokio() {
    let stdout = succeed(&mut example("tokio_multi"));
    assert!(
        stdout.starts_with("tokio_multi: 64 connections, 4194304 bytes echoed by 2 ring workers"),
        "{stdout}"
    );
}

#[test]
fn copy_example_explains_a_missing_source() {
    let out = example("copy")
        .args(["/no/such/file", "/tmp/never-written"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /no/such/file"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn copy_example_refuses_to_copy_a_file_onto_itself_and_leaves_it_intact() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("precious.txt");
    std::fs::write(&src, b"hello world").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let hard = dir.path().join("hard.txt");
    std::fs::hard_link(&src, &hard).unwrap();
    for dst in [&src, &link, &hard] {
        let out = example("copy")
            .args([src.as_os_str(), dst.as_os_str()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "copy onto {}", dst.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refusing to copy"), "{stderr}");
        assert!(stderr.contains("is the same file"), "{stderr}");
        assert_eq!(
            std::fs::read(&src).unwrap(),
            b"hello world",
            "source destroyed"
        );
    }
}

#[test]
fn echo_server_says_why_and_exits_when_its_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = example("echo_server")
        .args(["--addr", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("echo_server still running 10 s after its bind failed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn nop_ratio_example_prints_the_ratio() {
    let stdout = succeed(example("nop_ratio").args(["--ops", "60000", "--rounds", "3"]));
    let ratio: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nop safe/raw ratio: "))
        .expect("ratio line")
        .parse()
        .unwrap();
    assert!(ratio > 0.0 && ratio.is_finite());
}

#[test]
fn buffer_pool_example_reads_through_a_registered_pool_and_reports() {
    let stdout = succeed(example("buffer_pool").args([
        "--file-mib",
        "8",
        "--reads",
        "4000",
        "--depth",
        "8",
        "--rounds",
        "1",
    ]));
    assert!(
        stdout.contains("fixed buffers + registered file / plain:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pool: 8 buffers of 4 KiB, 0 in use, 8 free"),
        "{stdout}"
    );
}

#[test]
fn echo_server_on_two_workers_serves_verified_load_despite_hostile_clients_and_stops_on_sigint() {
    let per_worker = two_workers_under_hostile_load("reuseport");
    // 67 connections over two SO_REUSEPORT listeners: both workers took some (the kernel
    // hashes each connection to one; all on one worker has odds of 2^-66).
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
}

#[test]
fn echo_server_handing_connections_over_by_msg_ring_serves_the_same_load() {
    if !common::kernel_only("connections handed between rings by IORING_OP_MSG_RING") {
        return;
    }
    let per_worker = two_workers_under_hostile_load("handoff");
    // Worker 0 accepts all 67 and hands every other one to worker 1.
    let (a, b) = (per_worker[0], per_worker[1]);
    assert!(a.abs_diff(b) <= 1, "round-robin: {per_worker:?}");
}

/// Runs `echo_server --threads 2 --accept MODE` against hostile clients and 64 verified
/// ones, stops it with SIGINT; returns the connections each worker served.
fn two_workers_under_hostile_load(mode: &str) -> Vec<u64> {
    use std::io::Write;
    use std::process::Stdio;
    let mut server = example("echo_server")
        .args(["--addr", "127.0.0.1:0", "--threads", "2", "--accept", mode])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut server);
    // Hostile: one floods without ever reading, one resets mid-message, one just idles.
    let flooder = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_write_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            let junk = vec![0x5a; 1 << 16];
            for _ in 0..64 {
                if s.write_all(&junk).is_err() {
                    break; // its buffers are full: the server stopped reading it, fine
                }
            }
        })
    };
    let resetter = std::net::TcpStream::connect(&addr).unwrap();
    socket2::SockRef::from(&resetter)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    (&resetter).write_all(b"half a mess").unwrap();
    drop(resetter);
    let idle = std::net::TcpStream::connect(&addr).unwrap();
    // Everyone else keeps being served, byte-exact.
    let report = succeed(example("echo_client").args([
        "--addr",
        &addr,
        "--connections",
        "64",
        "--size",
        "512",
        "--seconds",
        "1",
    ]));
    assert!(report.contains("every byte verified"), "{report}");
    flooder.join().unwrap();
    drop(idle);
    let rest = common::server::interrupt(&mut server);
    assert!(rest.contains("shut down cleanly: served"), "{rest}");
    let per_worker: Vec<u64> = rest
        .split("connections per worker: [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .map(|s| s.split(", ").map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| panic!("no per-worker counts in {rest}"));
    assert_eq!(per_worker.len(), 2, "{rest}");
    assert!(per_worker.iter().sum::<u64>() >= 67, "{rest}");
    per_worker
}

#[test]
fn https_server_serves_a_file_and_says_why_it_exits_when_its_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello over TLS").unwrap();
    let mut server = example("https_server")
        .args(["--addr", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut server);
    let curl = std::process::Command::new("curl")
        .args(["--insecure", "--silent", "--fail"])
        .arg(format!("https://{addr}/hello.txt"))
        .output()
        .expect("curl runs");
    assert_eq!(curl.stdout, b"hello over TLS");
    let rest = common::server::interrupt(&mut server);
    assert!(
        rest.contains("stopped: served 1 requests on 1 connections"),
        "{rest}"
    );
    // The port is now in use by a plain listener: a clear error and exit 1 within a second.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let out = example("https_server")
        .args(["--addr", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on") && stderr.contains("in use"),
        "{stderr}"
    );
}
