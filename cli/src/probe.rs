//! `safer-ring probe`: is io_uring usable here; if not, why and what to do.
//!
//! Everything is read from the ring the library builds and from `/proc` (kernel version,
//! `kernel.io_uring_disabled`, this process's seccomp mode and memlock limit).

use safer_ring::{BackendMode, Ring, SaferRingError, SetupFlags, Unavailable};

use crate::Failure;

/// Builds a ring and prints what it found; exit 3 with the reason when io_uring is unusable.
pub fn run() -> Result<(), Failure> {
    println!("kernel: Linux {}", kernel_release());
    // Strict: the question is whether io_uring itself works, not whether a ring can be had.
    match Ring::builder()
        .entries(8)
        .backend(BackendMode::IoUring)
        .build()
    {
        Ok(ring) => {
            println!("io_uring: usable");
            report_ring(&ring);
            Ok(())
        }
        Err(SaferRingError::Unavailable(why)) => {
            println!("io_uring: NOT usable: {}", diagnose(why));
            if BackendMode::Auto.falls_back_on(&SaferRingError::Unavailable(why)) {
                println!(
                    "fallback: programs built on safer-ring still run here, on its fallback \
                     backend (worker threads and plain system calls: slower, same results); \
                     SAFER_RING_BACKEND=io_uring makes them refuse instead"
                );
            }
            Err(Failure::Unavailable(
                "io_uring is unavailable here (see above)".into(),
            ))
        }
        Err(other) => Err(Failure::Failed(format!("io_uring setup failed: {other}"))),
    }
}

/// `uname -r`, from `/proc/sys/kernel/osrelease`.
fn kernel_release() -> String {
    read_proc("/proc/sys/kernel/osrelease").unwrap_or_else(|| "(unknown)".into())
}

/// A `/proc` file's content, trimmed; `None` if it cannot be read.
fn read_proc(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The value of `field:` in `/proc/self/status`.
fn status_field(field: &str) -> Option<String> {
    let status = read_proc("/proc/self/status")?;
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim().to_owned())
    })
}

/// Why io_uring is unavailable and what to do, from the errno and the machine's settings.
fn diagnose(why: Unavailable) -> String {
    match why {
        Unavailable::KernelLacksIoUring => format!(
            "io_uring_setup failed with ENOSYS: this kernel ({}) has no io_uring (older than \
             5.1, or built without CONFIG_IO_URING).\nfix: run on Linux 5.1 or newer built \
             with CONFIG_IO_URING=y (6.1 or newer for every feature the library uses)",
            kernel_release()
        ),
        Unavailable::NotPermitted => diagnose_eperm(),
        Unavailable::MemlockTooLow => format!(
            "io_uring_setup failed with ENOMEM: the rings cannot be locked in memory; the \
             locked-memory limit (ulimit -l) is {} (kernels before 5.12 charge rings to it).\n\
             fix: raise it, e.g. `ulimit -l unlimited` in the shell, `LimitMEMLOCK=infinity` in \
             a systemd unit, `--ulimit memlock=-1` for docker, or upgrade to Linux 5.12+",
            memlock_limit()
        ),
        other => format!("{other}"),
    }
}

/// EPERM: the sysctl `kernel.io_uring_disabled`, else a seccomp filter.
fn diagnose_eperm() -> String {
    let sysctl = read_proc("/proc/sys/kernel/io_uring_disabled");
    let seccomp = status_field("Seccomp").unwrap_or_default();
    match sysctl.as_deref() {
        Some("2") => "io_uring_setup failed with EPERM: io_uring is disabled for every process \
             by the sysctl kernel.io_uring_disabled = 2.\nfix: `sysctl -w \
             kernel.io_uring_disabled=0` (as root; or 1 and add your group to \
             kernel.io_uring_group)"
            .into(),
        Some("1") if seccomp != "2" => "io_uring_setup failed with EPERM: the sysctl \
             kernel.io_uring_disabled = 1 allows io_uring only to root and the group in \
             kernel.io_uring_group.\nfix: run as root, add your user to that group, or `sysctl \
             -w kernel.io_uring_disabled=0`"
            .into(),
        _ => format!(
            "io_uring_setup failed with EPERM: blocked by a seccomp filter (this process has \
             seccomp mode {seccomp}, {} filter(s); kernel.io_uring_disabled = {}) — the default \
             seccomp profile of a container runtime (docker, podman, containerd) or a systemd \
             SystemCallFilter= blocks io_uring_setup.\nfix: allow the syscalls io_uring_setup, \
             io_uring_enter and io_uring_register in the profile (e.g. docker run \
             --security-opt seccomp=PROFILE.json with them added, or \
             seccomp=unconfined to test), or SystemCallFilter=@io-uring in the unit",
            status_field("Seccomp_filters").unwrap_or_else(|| "?".into()),
            sysctl.as_deref().unwrap_or("(absent)"),
        ),
    }
}

/// The soft `RLIMIT_MEMLOCK`, from `/proc/self/limits`.
fn memlock_limit() -> String {
    read_proc("/proc/self/limits")
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|l| l.starts_with("Max locked memory"))?
                .to_owned();
            let soft = line.split_whitespace().nth(3)?.to_owned();
            Some(match soft.parse::<u64>() {
                Ok(bytes) => format!("{} KiB", bytes / 1024),
                Err(_) => soft,
            })
        })
        .unwrap_or_else(|| "(unknown)".into())
}

/// What a usable ring got: setup flags, features, opcodes, and what degrades.
fn report_ring(ring: &Ring) {
    let flags = ring.setup_flags();
    println!("setup flags:");
    for (name, on, _) in flag_table(flags) {
        println!("  {name:<36} {}", yes_no(on));
    }
    let features = ring.features();
    let have: Vec<_> = features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect();
    let lack: Vec<_> = features
        .iter()
        .filter(|(_, on)| !on)
        .map(|(n, _)| n)
        .collect();
    println!("features (IORING_FEAT_*): {}", have.join(" "));
    if !lack.is_empty() {
        println!("features missing: {}", lack.join(" "));
    }
    println!("opcodes the library uses:");
    let opcodes = ring.opcodes();
    let missing: Vec<&str> = safer_ring::op::SUPPORTED_OPCODES
        .iter()
        .inspect(|(name, code)| println!("  {name:<18} {}", yes_no(opcodes.contains(*code))))
        .filter(|(_, code)| !opcodes.contains(*code))
        .map(|(name, _)| *name)
        .collect();
    print_degradations(flags, &missing, features.contains("NODROP"));
}

/// The setup flags by name, whether the ring got each, and what is lost without it.
fn flag_table(flags: SetupFlags) -> [(&'static str, bool, &'static str); 4] {
    [
        (
            "IORING_SETUP_SINGLE_ISSUER",
            flags.single_issuer,
            "the kernel takes locks for submitters on other threads",
        ),
        (
            "IORING_SETUP_DEFER_TASKRUN",
            flags.defer_taskrun,
            "completion work interrupts the thread at any time instead of at its waits",
        ),
        (
            "IORING_SETUP_NO_SQARRAY",
            flags.no_sqarray,
            "one more memory read per submission (the index array)",
        ),
        (
            "registered ring fd (REGISTER_RING_FDS)",
            flags.registered_fd,
            "every io_uring_enter looks the ring's fd up",
        ),
    ]
}

/// Prints what is slower or unavailable with the flags, opcodes and features the ring got.
fn print_degradations(flags: SetupFlags, missing_opcodes: &[&str], nodrop: bool) {
    let mut lines: Vec<String> = flag_table(flags)
        .iter()
        .filter(|(_, on, _)| !on)
        .map(|(name, _, cost)| format!("without {name}: {cost}"))
        .collect();
    for name in missing_opcodes {
        let effect = match *name {
            "splice" => "`copy` falls back to read/write through user memory (slower)",
            _ => "operations using it fail with \"not supported by this kernel\"",
        };
        lines.push(format!("no {name} opcode: {effect}"));
    }
    if !nodrop {
        lines.push(
            "without IORING_FEAT_NODROP: operations in flight are capped at the completion \
             queue's size"
                .into(),
        );
    }
    if lines.is_empty() {
        println!("degrades: nothing (every flag, opcode and feature the library uses is here)");
    } else {
        println!("degrades:");
        lines.iter().for_each(|l| println!("  {l}"));
    }
}

fn yes_no(on: bool) -> &'static str {
    if on { "yes" } else { "NO" }
}
