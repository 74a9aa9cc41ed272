//! `read`: 4 KiB random reads of a page-cached file at queue depth 1 and 32 — safe and raw
//! io-uring, each plain and with fixed buffers + registered file; monoio, tokio-uring and
//! compio (`peers.rs`: as many tasks as the queue depth, each looping `read_at`); `std`
//! pread; `tokio::fs`.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use io_uring::{IoUring, opcode, types};
use safer_ring::fs::opcodes::Read;
use safer_ring::fs::opcodes::ReadFixed;
use safer_ring::{BufferPool, File, Operation, Ring, Submitted};

use crate::peers;
use crate::report::{Report, Row};
use crate::stats::{Samples, measure};

const BLOCK: usize = 4096;

fn offsets(blocks: u64, n: usize) -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % blocks) * BLOCK as u64
        })
        .collect()
}

type Window<'r, T> = VecDeque<Operation<'r, Submitted<T>>>;

fn safe_plain(ring: &Ring, file: &File, offs: &[u64], qd: usize) {
    let mut window: Window<'_, Read<Vec<u8>>> = VecDeque::with_capacity(qd);
    let mut spare: Vec<Vec<u8>> = (0..qd).map(|_| Vec::with_capacity(BLOCK)).collect();
    for &off in offs {
        if window.len() == qd {
            let op = window.pop_front().expect("full window");
            let (n, buf) = op.wait();
            assert_eq!(n.expect("read"), BLOCK);
            spare.push(buf);
        }
        let buf = spare.pop().expect("a free buffer");
        window.push_back(ring.read_at(file, buf, off).submit().expect("submit"));
    }
    window
        .into_iter()
        .for_each(|op| assert_eq!(op.wait().0.expect("read"), BLOCK));
}

fn safe_fixed(
    ring: &Ring,
    file: &safer_ring::RegisteredFd,
    pool: &BufferPool,
    offs: &[u64],
    qd: usize,
) {
    let mut window: Window<'_, ReadFixed> = VecDeque::with_capacity(qd);
    for &off in offs {
        if window.len() == qd {
            let op = window.pop_front().expect("full window");
            let (n, buf) = op.wait();
            assert_eq!(n.expect("read"), BLOCK);
            drop(buf);
        }
        let buf = pool.try_get().expect("qd buffers");
        window.push_back(ring.read_fixed_at(file, buf, off).submit().expect("submit"));
    }
    window
        .into_iter()
        .for_each(|op| assert_eq!(op.wait().0.expect("read"), BLOCK));
}

/// A raw io-uring ring reading one file, plainly or through registered buffers and file.
struct RawReader {
    ring: IoUring,
    /// `Some(fd)`: plain reads of `fd`; `None`: `READ_FIXED` of registered file 0 into
    /// registered buffer `slot`.
    plain_fd: Option<i32>,
    /// One buffer per slot of the queue depth; registered with `ring` when fixed, so they
    /// are declared after it and dropped after it.
    bufs: Vec<Vec<u8>>,
}

impl RawReader {
    fn new(fd: i32, qd: usize, fixed: bool) -> std::io::Result<Self> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(64)?;
        let mut bufs = vec![vec![0u8; BLOCK]; qd];
        if fixed {
            let iovecs: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: b.len(),
                })
                .collect();
            // SAFETY: the buffers are heap memory owned by this reader, never resized, and
            // dropped only after the ring (field order), which releases the registration.
            unsafe { ring.submitter().register_buffers(&iovecs)? };
            ring.submitter().register_files(&[fd])?;
        }
        Ok(Self {
            ring,
            plain_fd: (!fixed).then_some(fd),
            bufs,
        })
    }

    fn sqe(&mut self, slot: usize, offset: u64) -> io_uring::squeue::Entry {
        let ptr = self.bufs[slot].as_mut_ptr();
        match self.plain_fd {
            Some(fd) => opcode::Read::new(types::Fd(fd), ptr, BLOCK as u32)
                .offset(offset)
                .build(),
            None => opcode::ReadFixed::new(types::Fixed(0), ptr, BLOCK as u32, slot as u16)
                .offset(offset)
                .build(),
        }
    }

    /// Reads at every offset, `bufs.len()` in flight.
    fn run(&mut self, offs: &[u64]) {
        let mut free: Vec<usize> = (0..self.bufs.len()).collect();
        let mut in_flight = 0;
        let mut next = 0;
        while next < offs.len() || in_flight > 0 {
            while next < offs.len() && !free.is_empty() {
                let slot = free.pop().expect("free slot");
                let sqe = self.sqe(slot, offs[next]).user_data(slot as u64);
                // SAFETY: `bufs[slot]` stays alive and unused until this slot's CQE.
                unsafe { self.ring.submission().push(&sqe).expect("sq room") };
                in_flight += 1;
                next += 1;
            }
            self.ring.submit_and_wait(1).expect("submit_and_wait");
            for cqe in self.ring.completion() {
                assert_eq!(cqe.result(), BLOCK as i32);
                free.push(cqe.user_data() as usize);
                in_flight -= 1;
            }
        }
    }
}

fn pread(file: &std::fs::File, offs: &[u64]) {
    let mut buf = vec![0u8; BLOCK];
    for &off in offs {
        assert_eq!(file.read_at(&mut buf, off).expect("pread"), BLOCK);
    }
}

fn tokio_fs(rt: &tokio::runtime::Runtime, path: &std::path::Path, offs: &[u64]) {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    rt.block_on(async {
        let mut file = tokio::fs::File::open(path).await.expect("open");
        let mut buf = vec![0u8; BLOCK];
        for &off in offs {
            file.seek(std::io::SeekFrom::Start(off))
                .await
                .expect("seek");
            file.read_exact(&mut buf).await.expect("read");
        }
    });
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> safer_ring::Result<()> {
    let (mib, reads) = if quick {
        (64u64, 100_000)
    } else {
        (256, 400_000)
    };
    let tmp = tempfile::NamedTempFile::new()?;
    std::fs::write(tmp.path(), vec![7u8; (mib << 20) as usize])?;
    let std_file = std::fs::File::open(tmp.path())?;
    let offs = offsets((mib << 20) / BLOCK as u64, reads);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    for qd in [1usize, 32] {
        let ring = Ring::builder().entries(64).build()?;
        let file = File::from(std_file.try_clone()?);
        let pool = BufferPool::new(qd, BLOCK)?;
        ring.register_pool(&pool)?;
        ring.register_files(1)?;
        let fixed = ring.register_file(&file)?;
        let mut raw_plain = RawReader::new(std_file.as_raw_fd(), qd, false)?;
        let mut raw_fixed = RawReader::new(std_file.as_raw_fd(), qd, true)?;
        let n = offs.len() as u64;
        let shared: std::rc::Rc<[u64]> = offs.iter().copied().collect();
        let mut peer_samples: [Samples; 3] = Default::default();
        let mut s: [Samples; 4] = Default::default();
        let (mut p, mut t) = (Samples::default(), Samples::default());
        // The fallback backend (worker threads, plain syscalls) on a quarter of the reads.
        let fallback = Ring::builder()
            .entries(64)
            .backend(safer_ring::BackendMode::Fallback)
            .build()?;
        let (mut f, some) = (Samples::default(), &offs[..offs.len() / 4]);
        for _ in 0..rounds {
            measure(&mut s[0], n, || safe_plain(&ring, &file, &offs, qd));
            measure(&mut s[1], n, || safe_fixed(&ring, &fixed, &pool, &offs, qd));
            measure(&mut s[2], n, || raw_plain.run(&offs));
            measure(&mut s[3], n, || raw_fixed.run(&offs));
            measure(&mut f, some.len() as u64, || {
                safe_plain(&fallback, &file, some, qd)
            });
            let [mono, tu, comp] = &mut peer_samples;
            measure(mono, n, || peers::monoio_reads(tmp.path(), &shared, qd));
            measure(tu, n, || peers::tokio_uring_reads(tmp.path(), &shared, qd));
            measure(comp, n, || peers::compio_reads(tmp.path(), &shared, qd));
            if qd == 1 {
                measure(&mut p, n, || pread(&std_file, &offs));
                measure(&mut t, n / 10, || {
                    tokio_fs(&rt, tmp.path(), &offs[..offs.len() / 10])
                });
            }
        }
        let case = format!("QD{qd}");
        let [safe, fixed_s, raw_s, raw_fixed_s] = s;
        let [mono, tu, comp] = peer_samples;
        let mut rows = vec![
            ("safe", safe),
            ("safe fixed", fixed_s),
            ("raw io-uring", raw_s),
            ("raw fixed", raw_fixed_s),
            ("safe on the fallback backend", f),
            ("monoio", mono),
            ("tokio-uring", tu),
            ("compio", comp),
        ];
        if qd == 1 {
            rows.push(("std pread", p));
            rows.push(("tokio::fs", t));
        }
        for (contender, samples) in rows {
            report.rows.push(Row {
                suite: "read",
                case: case.clone(),
                contender,
                samples,
            });
        }
        report.goal(
            &format!("read {case} safe/raw"),
            (&case, "safe"),
            (&case, "raw io-uring"),
            0.97,
        );
        report.goal(
            &format!("read {case} fixed/raw plain"),
            (&case, "safe fixed"),
            (&case, "raw io-uring"),
            1.05,
        );
        if qd == 1 {
            report.goal(
                "read QD1 safe/tokio::fs",
                (&case, "safe"),
                (&case, "tokio::fs"),
                3.0,
            );
        }
    }
    Ok(())
}
