//! `RingBuilder` (alias `RingConfig`) presets and options against the real kernel: each
//! preset builds here and every option reads back from `Ring::config()` as asked (or as the
//! kernel rounded it); combinations the kernel would refuse and sizes past its maxima are
//! clear errors at `build()`, never silently changed; each preset's ring does real I/O.
mod common;

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use safer_ring::probe::{Capability, KernelVersion};
use safer_ring::{DEFAULT_MAX_IN_FLIGHT, File, Ring, RingBuilder, RingConfig, SaferRingError};

/// Runs `f` on its own thread and fails (instead of hanging the suite) if it takes longer
/// than `limit`: a ring that never submits or never reaps would otherwise wait forever.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || tx.send(f()).unwrap());
    match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("it sent nothing"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

/// Whether the block device holding `path` polls (`queue/io_poll`: poll queues configured).
fn device_polls(path: &Path) -> bool {
    let dev = std::fs::metadata(path).unwrap().dev();
    let base = PathBuf::from(format!(
        "/sys/dev/block/{}:{}",
        libc::major(dev),
        libc::minor(dev)
    ));
    // A partition's queue is its disk's.
    [base.join("queue/io_poll"), base.join("../queue/io_poll")]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|on| on.trim() == "1")
}

/// A write and a read of a temporary file through `ring`, checked byte for byte.
fn file_round_trip(ring: &Ring) {
    let file = File::from(tempfile::tempfile().unwrap());
    let (n, _) = ring
        .write_at(&file, b"preset".to_vec(), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(n.unwrap(), 6);
    let (n, buf) = ring
        .read_at(&file, Vec::with_capacity(16), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(buf, b"preset");
}

#[test]
fn the_default_preset_is_what_ring_new_builds_and_reads_back_whole() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    let ring = Ring::new(256).unwrap();
    let config = ring.config();
    assert_eq!(config.requested, RingBuilder::default());
    assert_eq!((config.entries, config.cq_entries), (256, 512));
    assert_eq!(config.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
    assert_eq!(config.sqpoll_idle, None);
    let flags = config.flags;
    // Linux 6.1 has the first two, 6.6 NO_SQARRAY (tests/setup_flags.rs checks each).
    assert!(flags.single_issuer && flags.defer_taskrun);
    let kernel = KernelVersion::running();
    assert_eq!(
        flags.no_sqarray,
        kernel >= KernelVersion::new(6, 6, 0),
        "{kernel}"
    );
    assert!(!flags.sqpoll && !flags.iopoll && !flags.coop_taskrun);
    assert_eq!(flags, ring.setup_flags());
    file_round_trip(&ring);
}

#[test]
fn every_option_is_applied_and_read_back() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    let requested = RingBuilder::default()
        .entries(100)
        .cq_entries(1000)
        .max_in_flight(77)
        .defer_taskrun(false)
        .coop_taskrun(true)
        .shutdown_timeout(Duration::from_millis(1234))
        .without(Capability::SendZc);
    let ring = requested.clone().build().unwrap();
    let config = ring.config();
    assert_eq!(config.requested, requested);
    assert_eq!(
        config.requested.shutdown_timeout,
        Duration::from_millis(1234)
    );
    assert!(config.requested.without.contains(Capability::SendZc));
    assert!(!ring.capabilities().has(Capability::SendZc));
    // The kernel rounds both queues up to powers of two, and says so.
    assert_eq!((config.entries, config.cq_entries), (128, 1024));
    assert_eq!((config.max_in_flight, ring.capacity()), (77, 77));
    let flags = config.flags;
    assert!(flags.coop_taskrun, "{flags:?}");
    assert!(!flags.defer_taskrun && !flags.single_issuer, "{flags:?}");
    file_round_trip(&ring);
}

#[test]
fn sqpoll_idle_is_given_to_the_kernel_in_whole_milliseconds_rounded_up() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    let ring = RingBuilder::default()
        .defer_taskrun(false)
        .sqpoll(Duration::from_micros(1500))
        .build()
        .unwrap();
    assert!(ring.config().flags.sqpoll);
    assert_eq!(ring.config().sqpoll_idle, Some(Duration::from_millis(2)));
    assert_eq!(
        ring.config().requested.sqpoll,
        Some(Duration::from_micros(1500))
    );
}

#[test]
fn low_latency_submits_through_the_kernel_thread_awake_and_asleep() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    within(Duration::from_secs(20), || {
        let ring = RingConfig::low_latency().build().unwrap();
        let config = ring.config();
        assert_eq!(config.requested, RingBuilder::low_latency());
        assert!(
            config.flags.sqpoll && !config.flags.defer_taskrun,
            "{config:?}"
        );
        assert!(!config.flags.coop_taskrun);
        assert_eq!(config.sqpoll_idle, Some(RingBuilder::LOW_LATENCY_IDLE));
        file_round_trip(&ring);
        // Past its idle time the thread sleeps: the next submission must wake it.
        std::thread::sleep(RingBuilder::LOW_LATENCY_IDLE * 3);
        for _ in 0..3 {
            ring.nop().submit().unwrap().wait().unwrap();
            std::thread::sleep(RingBuilder::LOW_LATENCY_IDLE * 2);
        }
        file_round_trip(&ring);
    });
}

#[test]
fn an_awake_submission_thread_takes_sqes_without_a_system_call() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    within(Duration::from_secs(20), || {
        // A long idle time, so the thread stays awake across the check on a busy machine.
        let ring = RingBuilder::low_latency()
            .sqpoll(Duration::from_secs(1))
            .build()
            .unwrap();
        ring.nop().submit().unwrap().wait().unwrap(); // the thread is awake now
        let enters = ring.stats().enters;
        let op = ring.nop().submit().unwrap();
        ring.submit().unwrap();
        assert_eq!(
            ring.stats().enters,
            enters,
            "submitted without io_uring_enter"
        );
        op.wait().unwrap(); // the kernel thread found the SQE by itself
        assert_eq!(ring.stats().completed, 2);
    });
}

#[test]
fn low_latency_fills_and_drains_its_submission_queue_under_load() {
    within(Duration::from_secs(30), || {
        let ring = RingBuilder::low_latency().entries(8).build().unwrap();
        // Ten times the queue's size in one go: pushes past a full SQ wait for the kernel
        // thread to make room (`IORING_ENTER_SQ_WAIT`), none is refused.
        let ops: Vec<_> = (0..80).map(|_| ring.nop().submit().unwrap()).collect();
        ops.into_iter().for_each(|op| op.wait().unwrap());
        assert_eq!(ring.stats().completed, 80);
    });
}

#[test]
fn throughput_has_large_queues_and_no_interruptions() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    let ring = RingConfig::throughput().build().unwrap();
    let config = ring.config();
    assert_eq!(config.requested, RingBuilder::throughput());
    assert_eq!((config.entries, config.cq_entries), (4096, 16_384));
    let flags = config.flags;
    assert!(
        flags.single_issuer && flags.defer_taskrun && flags.coop_taskrun,
        "{flags:?}"
    );
    assert!(!flags.sqpoll && !flags.iopoll);
    // A whole queue's worth of operations in flight at once.
    let ops: Vec<_> = (0..4096).map(|_| ring.nop().submit().unwrap()).collect();
    assert_eq!(ring.in_flight(), 4096);
    ops.into_iter().for_each(|op| op.wait().unwrap());
    file_round_trip(&ring);
}

#[test]
fn iopoll_refuses_what_it_cannot_poll_and_reads_o_direct_files() {
    if !common::kernel_only("the setup flags and parameters the kernel grants a ring") {
        return;
    }
    within(Duration::from_secs(20), || {
        let ring = RingConfig::iopoll().build().unwrap();
        let config = ring.config();
        assert_eq!(config.requested, RingBuilder::iopoll());
        assert!(config.flags.iopoll, "{config:?}");
        // A socket operation: refused at submission, naming both, the ring unharmed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = ring.accept(&listener.into()).submit().unwrap_err();
        assert!(matches!(
            err.error(),
            SaferRingError::Conflict {
                first: "iopoll",
                second: "accept",
                ..
            }
        ));
        let err = ring
            .fsync(&File::from(tempfile::tempfile().unwrap()))
            .submit()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("iopoll cannot be combined with fsync"),
            "{err}"
        );
        // A file without O_DIRECT: the kernel cannot poll it, and says so at once.
        let plain = File::from(tempfile::tempfile().unwrap());
        let (res, _) = ring
            .read_at(&plain, vec![0; 4096], 0)
            .submit()
            .unwrap()
            .wait();
        let err = res.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
        assert!(err.to_string().starts_with("read_at failed"), "{err}");
        // O_DIRECT: polled where the device has poll queues; on a device without them (this
        // machine's virtio disk) the block layer refuses polled I/O — at once, not a hang.
        // On a disk (the target directory), not a tmpfs; where the test binary runs without
        // it (the qemu guest), its tmpfs, whose O_DIRECT support depends on the kernel.
        let on_disk = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = match on_disk.exists() {
            true => tempfile::tempdir_in(on_disk).unwrap(),
            false => tempfile::tempdir().unwrap(),
        };
        let path = dir.path().join("direct");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path);
        let direct = match opened {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return println!("no O_DIRECT on {}: that half is not run", path.display());
            }
            opened => File::from(opened.unwrap()),
        };
        let pool = safer_ring::BufferPool::new(1, 4096).unwrap(); // page-aligned buffers
        let (n, buf) = ring
            .read_at(&direct, pool.try_get().unwrap(), 0)
            .submit()
            .unwrap()
            .wait();
        if device_polls(&path) {
            assert_eq!(n.unwrap(), 4096);
            assert!(buf.as_slice().iter().all(|&b| b == 7));
        } else {
            assert_eq!(n.unwrap_err().raw_os_error(), Some(libc::EOPNOTSUPP));
        }
    });
}

#[test]
fn impossible_combinations_are_refused_naming_both_options() {
    let idle = Duration::from_millis(10);
    let cases = [
        (
            RingBuilder::default().sqpoll(idle),
            ("sqpoll", "defer_taskrun"),
        ),
        (
            RingBuilder::default()
                .defer_taskrun(false)
                .coop_taskrun(true)
                .sqpoll(idle),
            ("sqpoll", "coop_taskrun"),
        ),
        (
            RingBuilder::default().entries(64).cq_entries(32),
            ("cq_entries", "entries"),
        ),
    ];
    for (builder, (a, b)) in cases {
        let err = builder.build().unwrap_err();
        assert!(
            matches!(err, SaferRingError::Conflict { first, second, .. } if (first, second) == (a, b)),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{a} cannot be combined with {b}: ")),
            "{text}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}

#[test]
fn sizes_past_the_kernel_maxima_are_errors_not_silently_clamped() {
    let err = Ring::new(u32::MAX).unwrap_err();
    assert!(
        matches!(err, SaferRingError::TooLarge { option: "entries", requested, max: 32_768 }
            if requested == u64::from(u32::MAX)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "entries = 4294967295 is more than the kernel allows (at most 32768)"
    );
    let err = Ring::new(32_769).unwrap_err();
    assert!(
        matches!(
            err,
            SaferRingError::TooLarge {
                option: "entries",
                ..
            }
        ),
        "{err}"
    );
    let err = RingBuilder::default()
        .cq_entries(65_537)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            SaferRingError::TooLarge {
                option: "cq_entries",
                max: 65_536,
                ..
            }
        ),
        "{err}"
    );
    // The maxima themselves are granted whole.
    let ring = Ring::new(safer_ring::ring::MAX_ENTRIES).unwrap();
    assert_eq!(
        (ring.config().entries, ring.config().cq_entries),
        (32_768, 65_536)
    );
}
