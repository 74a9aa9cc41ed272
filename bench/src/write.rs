//! `write`: 4 KiB sequential writes with `fdatasync` every 64 writes — safe vs raw io-uring
//! vs `std`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use io_uring::{IoUring, opcode, types};
use safer_ring::{File, Ring};

use crate::report::{Report, Row};
use crate::stats::{Samples, measure};

const BLOCK: usize = 4096;
const SYNC_EVERY: u64 = 64;

fn safe(ring: &Ring, file: &File, writes: u64) {
    let mut buf = vec![1u8; BLOCK];
    for i in 0..writes {
        let (n, back) = ring
            .write_at(file, buf, i * BLOCK as u64)
            .submit()
            .expect("submit")
            .wait();
        assert_eq!(n.expect("write"), BLOCK);
        buf = back;
        if (i + 1) % SYNC_EVERY == 0 {
            ring.fdatasync(file)
                .submit()
                .expect("submit")
                .wait()
                .expect("fdatasync");
        }
    }
}

fn raw_one(ring: &mut IoUring, sqe: io_uring::squeue::Entry) -> i32 {
    // SAFETY: the caller keeps what `sqe` points to alive until this returns with its CQE.
    unsafe { ring.submission().push(&sqe).expect("sq room") };
    ring.submit_and_wait(1).expect("submit_and_wait");
    ring.completion().next().expect("a CQE").result()
}

fn raw(ring: &mut IoUring, fd: i32, writes: u64) {
    let buf = vec![1u8; BLOCK];
    for i in 0..writes {
        let sqe = opcode::Write::new(types::Fd(fd), buf.as_ptr(), BLOCK as u32)
            .offset(i * BLOCK as u64)
            .build();
        assert_eq!(raw_one(ring, sqe), BLOCK as i32);
        if (i + 1) % SYNC_EVERY == 0 {
            let sync = opcode::Fsync::new(types::Fd(fd))
                .flags(types::FsyncFlags::DATASYNC)
                .build();
            assert_eq!(raw_one(ring, sync), 0);
        }
    }
}

fn std_writes(file: &std::fs::File, writes: u64) {
    let buf = vec![1u8; BLOCK];
    for i in 0..writes {
        file.write_all_at(&buf, i * BLOCK as u64).expect("pwrite");
        if (i + 1) % SYNC_EVERY == 0 {
            file.sync_data().expect("fdatasync");
        }
    }
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let writes: u64 = if quick { 8_192 } else { 32_768 };
    let dir = tempfile::tempdir_in(".")?; // on the disk under test, not tmpfs
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join(name))
    };
    let (f_safe, f_raw, f_std) = (open("safe")?, open("raw")?, open("std")?);
    let ring = Ring::builder().entries(8).build()?;
    let file = File::from(f_safe);
    let mut raw_ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(8)?;
    let (mut s, mut r, mut t) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..rounds {
        measure(&mut s, writes, || safe(&ring, &file, writes));
        measure(&mut r, writes, || {
            raw(&mut raw_ring, f_raw.as_raw_fd(), writes)
        });
        measure(&mut t, writes, || std_writes(&f_std, writes));
    }
    let case = "4 KiB, sync/64".to_owned();
    for (contender, samples) in [("safe", s), ("raw io-uring", r), ("std pwrite", t)] {
        report.rows.push(Row {
            suite: "write",
            case: case.clone(),
            contender,
            samples,
        });
    }
    report.goal(
        "write safe/raw",
        (&case, "safe"),
        (&case, "raw io-uring"),
        0.97,
    );
    Ok(())
}
