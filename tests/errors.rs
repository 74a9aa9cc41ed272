//! Every `SaferRingError` variant, produced for real and checked for an actionable message.
#![allow(unsafe_code)]

mod common;

use common::pipe;
use safer_ring::op::Nop;
use std::path::PathBuf;

use safer_ring::error::Subject;
use safer_ring::net::Shutdown;
use safer_ring::{
    BackendMode, CqeResult, File, OpCode, OpenOptions, Ring, SaferRingError, Unavailable,
};

#[test]
fn kernel_errno_names_the_operation() {
    let ring = Ring::new(4).unwrap();
    let err = ring
        .open("/definitely/not/here", OpenOptions::new())
        .submit()
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(
        err.to_string()
            .starts_with(r#"open "/definitely/not/here" failed: No such file"#),
        "{err}"
    );
    assert_eq!(
        err.subject(),
        Some(&Subject::Path("/definitely/not/here".into()))
    );

    // Reading from a pipe's write end: EBADF, and the buffer comes back.
    let (_r, w) = pipe();
    let w = safer_ring::File::from(w);
    let (res, buf) = ring.read(&w, vec![9u8; 4]).submit().unwrap().wait();
    let err = res.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    assert!(err.to_string().starts_with("read failed"), "{err}");
    assert_eq!(buf.capacity(), 4, "buffer handed back on error");
    let io: std::io::Error = err.into();
    assert_eq!(io.raw_os_error(), Some(libc::EBADF));
}

/// Installs a seccomp filter on this thread making `io_uring_setup` fail with `errno`, the
/// way a container profile or `kernel.io_uring_disabled` does.
fn forbid_io_uring_setup(errno: u32) {
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    let filter = [
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        }, // ld [nr]
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ERRNO | errno,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: a plain prctl call with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
    // SAFETY: `prog` points at a live filter array for the duration of the call.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const prog,
        )
    };
    assert_eq!(rc, 0);
}

fn ring_error_with_setup_failing(errno: i32) -> SaferRingError {
    // Seccomp filters are per thread: a throwaway thread keeps the rest of the tests free.
    std::thread::spawn(move || {
        forbid_io_uring_setup(errno as u32);
        Ring::builder()
            .entries(8)
            .backend(BackendMode::IoUring) // strict: no fallback
            .build()
            .expect_err("io_uring_setup is forbidden on this thread")
    })
    .join()
    .unwrap()
}

#[test]
fn io_uring_unavailable_is_told_apart_with_advice() {
    let cases = [
        (libc::ENOSYS, Unavailable::KernelLacksIoUring, "5.1"),
        (
            libc::EPERM,
            Unavailable::NotPermitted,
            "kernel.io_uring_disabled",
        ),
        (libc::ENOMEM, Unavailable::MemlockTooLow, "ulimit -l"),
    ];
    for (errno, why, advice) in cases {
        let err = ring_error_with_setup_failing(errno);
        assert!(
            matches!(err, SaferRingError::Unavailable(w) if w == why),
            "errno {errno} gave {err:?}"
        );
        assert!(err.to_string().contains(advice), "{err}");
        assert_eq!(err.raw_os_error(), Some(errno));
    }
}

#[test]
fn full_submission_queue_hands_the_operation_back_and_the_ring_recovers() {
    let ring = Ring::new(4).unwrap();
    ring.inject_sq_full(1);
    let err = ring.write_at(
        &safer_ring::File::from(tempfile::tempfile().unwrap()),
        b"kept".to_vec(),
        0,
    );
    let err = err.submit().unwrap_err();
    assert!(matches!(err.error(), SaferRingError::SubmissionQueueFull));
    assert!(err.to_string().contains("submission queue is full"));
    let (n, buf) = err.into_inner().submit().unwrap().wait();
    assert_eq!(n.unwrap(), 4);
    assert_eq!(buf, b"kept");
}

#[test]
fn invalid_arguments_are_caught_before_submission() {
    assert!(matches!(
        Ring::new(0).unwrap_err(),
        SaferRingError::InvalidArgument(_)
    ));
    let ring = Ring::new(4).unwrap();
    let err = ring
        .open("bad\0path", OpenOptions::new())
        .submit()
        .unwrap_err();
    assert!(matches!(err.error(), SaferRingError::InvalidArgument(m) if m.contains("NUL")));
    let file = safer_ring::File::from(tempfile::tempfile().unwrap());
    let err = ring
        .readv_at(&file, Vec::<Vec<u8>>::new(), 0)
        .submit()
        .unwrap_err();
    assert!(err.to_string().contains("at least one buffer"));
}

/// An opcode no kernel has, added through the public `OpCode` escape hatch.
struct FutureOp;

// SAFETY: the SQE names no memory and no fd.
unsafe impl OpCode for FutureOp {
    type Output = safer_ring::Result<()>;
    const NAME: &'static str = "future_op";
    const CODE: u8 = u8::MAX;
    fn sqe(&mut self) -> safer_ring::io_uring::squeue::Entry {
        Nop.sqe()
    }
    fn complete(self, _: CqeResult) -> Self::Output {
        Ok(())
    }
    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

#[test]
fn unsupported_opcode_is_refused_by_name() {
    let ring = Ring::new(4).unwrap();
    assert!(!ring.opcodes().contains(FutureOp::CODE));
    let err = ring.custom(FutureOp).submit().unwrap_err();
    assert!(matches!(
        err.error(),
        SaferRingError::Unsupported { op: "future_op" }
    ));
    assert_eq!(
        err.to_string(),
        "submission failed: future_op is not supported by this kernel"
    );
}

#[test]
fn where_io_uring_is_forbidden_a_default_ring_falls_back_and_works() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        let backend = std::thread::spawn(move || {
            forbid_io_uring_setup(errno as u32);
            let ring = Ring::new(8).expect("the fallback backend needs no io_uring");
            ring.nop().submit().unwrap().wait().unwrap();
            ring.backend()
        })
        .join()
        .unwrap();
        assert_eq!(backend, safer_ring::Backend::Fallback, "errno {errno}");
    }
    // Short of locked memory is not a reason to leave io_uring: that error stays.
    let err = ring_error_with_setup_failing(libc::ENOMEM);
    assert!(matches!(
        err,
        SaferRingError::Unavailable(Unavailable::MemlockTooLow)
    ));
}

#[test]
fn unwrap_and_debug_print_the_advice_not_just_the_variant() {
    if !common::kernel_only(
        "the errors of io_uring_setup (the fallback is forced, nothing sets io_uring up)",
    ) {
        return;
    }
    // What `fn main() -> Result<(), SaferRingError>` and `.unwrap()` print is `Debug`.
    let err = ring_error_with_setup_failing(libc::EPERM);
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with("Unavailable(NotPermitted): io_uring is unavailable"),
        "{debug}"
    );
    assert!(debug.contains("kernel.io_uring_disabled"), "{debug}");
    assert!(debug.contains("seccomp"), "{debug}");
    // The panic message of `unwrap` itself, on a ring that cannot be set up.
    let panic = std::thread::spawn(|| {
        forbid_io_uring_setup(libc::ENOMEM as u32);
        drop(Ring::new(8).unwrap());
    })
    .join()
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message
            .starts_with("called `Result::unwrap()` on an `Err` value: Unavailable(MemlockTooLow)"),
        "{message}"
    );
    assert!(message.contains("ulimit -l"), "{message}");
    // `Unavailable` alone too.
    assert!(format!("{:?}", Unavailable::KernelLacksIoUring).contains("Linux 5.1"));
}

#[test]
fn statx_of_a_missing_path_names_the_path() {
    let ring = Ring::new(4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone with spaces");
    let err = ring.statx(&missing).submit().unwrap().wait().unwrap_err();
    assert_eq!(err.subject(), Some(&Subject::Path(missing.clone())));
    assert!(
        err.to_string()
            .starts_with(&format!("statx {missing:?} failed: No such file")),
        "{err}"
    );
    // Relative to a directory: the path as given.
    let dir_file = File::from(std::fs::File::open(dir.path()).unwrap());
    let err = ring
        .open_at(Some(&dir_file), "nope", OpenOptions::new())
        .submit()
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(err.subject(), Some(&Subject::Path(PathBuf::from("nope"))));
    assert!(
        err.to_string().starts_with(r#"open_at "nope" failed"#),
        "{err}"
    );
}

#[test]
fn operations_are_named_as_the_methods_called() {
    let ring = Ring::new(8).unwrap();
    // A pipe's write end cannot be read, its read end cannot be written: EBADF for each.
    let (r, w) = pipe();
    let w = File::from(w);
    let starts = |res: safer_ring::Result<()>, op: &str| {
        let err = res.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{op} failed: ")),
            "{op}: {err}"
        );
    };
    starts(
        ring.read(&w, vec![0; 4])
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "read",
    );
    starts(
        ring.read_at(&w, vec![0; 4], 0)
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "read_at",
    );
    starts(
        ring.write(&r, b"x".to_vec())
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "write",
    );
    starts(
        ring.write_at(&r, b"x".to_vec(), 0)
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "write_at",
    );
    starts(
        ring.readv_at(&w, vec![vec![0u8; 4]], 0)
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "readv_at",
    );
    starts(
        ring.writev_at(&r, vec![b"x".to_vec()], 0)
            .submit()
            .unwrap()
            .wait()
            .0
            .map(drop),
        "writev_at",
    );
    ring.block_on(async {
        starts(
            ring.read_exact_at(&w, vec![0; 4], 0).await.0,
            "read_exact_at",
        );
        starts(
            ring.write_all_at(&r, b"x".to_vec(), 0).await.0,
            "write_all_at",
        );
        // Not sockets: ENOTSOCK.
        starts(ring.send(&r, b"x".to_vec()).await.0.map(drop), "send");
        starts(ring.send_all(&r, b"x".to_vec()).await.0, "send_all");
        starts(ring.recv(&r, vec![0; 4]).await.0.map(drop), "recv");
        starts(
            ring.recv_from(&r, vec![0; 4]).await.0.map(drop),
            "recv_from",
        );
        starts(
            ring.shutdown_socket(&r, Shutdown::Both).await,
            "shutdown_socket",
        );
    });
    // A pipe cannot be synced: EINVAL, under the name of the call.
    starts(ring.fdatasync(&r).submit().unwrap().wait(), "fdatasync");
    starts(ring.fsync(&r).submit().unwrap().wait(), "fsync");
}

#[test]
fn a_wrapped_error_comes_back_whole_through_io_error() {
    let io: std::io::Error = SaferRingError::TooLarge {
        option: "entries",
        requested: 1 << 20,
        max: 32_768,
    }
    .into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    let back = SaferRingError::from(io);
    assert!(
        matches!(back, SaferRingError::TooLarge { max: 32_768, .. }),
        "{back:?}"
    );
    // An OS error keeps its errno and kind the other way.
    let ring = Ring::new(4).unwrap();
    let err = ring
        .open("/definitely/not/here", OpenOptions::new())
        .submit()
        .unwrap()
        .wait()
        .unwrap_err();
    let io = std::io::Error::from(err);
    assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}
