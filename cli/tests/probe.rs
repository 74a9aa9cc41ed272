//! `safer-ring probe` on this machine, and under a seccomp filter that blocks io_uring.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Output;

use common::{bin, run, stdout};

/// x86_64's `io_uring_setup`.
const SYS_IO_URING_SETUP: u32 = 425;
/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

#[test]
fn probe_reports_usable_with_the_kernel_version() {
    let out = run(&["probe"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(
        text.contains(&format!("kernel: Linux {}", release.trim())),
        "{text}"
    );
    assert!(text.contains("io_uring: usable"), "{text}");
    assert!(text.contains("IORING_SETUP_DEFER_TASKRUN"), "{text}");
    assert!(text.contains("NODROP"), "{text}");
    assert!(text.contains("splice"), "{text}");
    assert!(text.contains("degrades:"), "{text}");
}

/// Runs the binary with `args` under a seccomp filter making `io_uring_setup` fail with EPERM.
fn under_seccomp(args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    // SAFETY: the closure runs in the forked child before exec and only calls prctl (async-
    // signal-safe) with a filter that lives on the child's stack for the duration of the call.
    unsafe { cmd.pre_exec(block_io_uring_setup) };
    cmd.output().expect("the binary runs")
}

/// Installs the filter: on x86_64, `io_uring_setup` returns EPERM; everything else runs.
fn block_io_uring_setup() -> std::io::Result<()> {
    let op = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let (ld, jeq, ret) = (
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_RET | libc::BPF_K,
    );
    let filter = [
        op(ld, 4, 0, 0), // seccomp_data.arch
        op(jeq, AUDIT_ARCH_X86_64, 1, 0),
        op(ret, libc::SECCOMP_RET_ALLOW, 0, 0),
        op(ld, 0, 0, 0), // seccomp_data.nr
        op(jeq, SYS_IO_URING_SETUP, 0, 1),
        op(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32, 0, 0),
        op(ret, libc::SECCOMP_RET_ALLOW, 0, 0),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `prog` points to `filter`, both alive across the call; the kernel copies them.
    let set = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn probe_under_seccomp_says_blocked_names_the_profile_and_the_fix() {
    let out = under_seccomp(&["probe"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("io_uring: NOT usable"), "{text}");
    assert!(text.contains("EPERM"), "{text}");
    assert!(text.contains("seccomp"), "{text}");
    assert!(text.contains("container"), "{text}");
    assert!(text.contains("fix:"), "{text}");
    assert!(text.contains("io_uring_setup"), "{text}");
    assert!(
        text.contains("fallback: programs built on safer-ring still run"),
        "{text}"
    );
}

#[test]
fn copy_under_seccomp_runs_on_the_fallback_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a");
    let data = common::pattern(3 << 20, 5);
    std::fs::write(&src, &data).unwrap();
    let dst = dir.path().join("b");
    let out = under_seccomp(&["copy", src.to_str().unwrap(), dst.to_str().unwrap()]);
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("copying on the fallback backend"),
        "{stderr}"
    );
    assert!(std::fs::read(&dst).unwrap() == data, "the copy differs");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    for i in 0..50 {
        std::fs::write(
            tree.join("sub").join(format!("f{i}")),
            common::pattern(5000, i),
        )
        .unwrap();
    }
    let out = under_seccomp(&[
        "copy",
        "-r",
        tree.to_str().unwrap(),
        dir.path().join("t2").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    for i in 0..50 {
        let copied = std::fs::read(dir.path().join("t2/sub").join(format!("f{i}"))).unwrap();
        assert!(copied == common::pattern(5000, i), "file {i} differs");
    }
}

#[test]
fn echo_under_seccomp_serves_on_the_fallback_and_says_so() {
    use std::io::{BufRead, Read, Write};
    let mut cmd = bin();
    cmd.args(["echo", "--addr", "127.0.0.1:0", "--threads", "2"]);
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    // SAFETY: as in `under_seccomp`.
    unsafe { cmd.pre_exec(block_io_uring_setup) };
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let addr = line
        .split(' ')
        .nth(2)
        .expect("listening on ADDR")
        .to_owned();
    let clients: Vec<_> = (0..20u64)
        .map(|seed| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(&addr).unwrap();
                conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .unwrap();
                let data = common::pattern(100_000, seed);
                let mut back = vec![0; data.len()];
                for (piece, into) in data.chunks(8192).zip(back.chunks_mut(8192)) {
                    conn.write_all(piece).unwrap();
                    conn.read_exact(into).unwrap();
                }
                assert!(back == data, "client {seed} got other bytes back");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // SAFETY: kill(2) on our child's pid, which it still is (not yet waited for).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("serving on the fallback backend"),
        "{stderr}"
    );
    assert!(
        rest.contains("served 20 connections, 2000000 bytes echoed"),
        "{rest}"
    );
}
