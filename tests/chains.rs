//! Chains and batches against the real kernel: link semantics (a broken soft link cancels the
//! rest, a hard link runs on), one `io_uring_enter` per batch, every buffer back, and a chain
//! dropped mid-flight freeing nothing before its CQEs (run under ASan in CI).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Sentinel, feed, pipe};
use safer_ring::op::Link;
use safer_ring::{File, Ring, SaferRingError};

/// A read-only handle on a temporary file holding `data`: writes to it fail with `EBADF` in
/// the kernel (not before: the ring cannot know the fd's mode).
fn read_only(data: &[u8]) -> (File, tempfile::NamedTempFile) {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), data).unwrap();
    (File::from(std::fs::File::open(tmp.path()).unwrap()), tmp)
}

#[test]
fn a_failed_middle_entry_cancels_the_rest_of_a_soft_chain() {
    let ring = Ring::new(8).unwrap();
    let (file, _tmp) = read_only(b"kept");
    let ((first, buf), (second, wbuf), third) = ring
        .chain((
            ring.read_at(&file, Vec::with_capacity(4), 0),
            ring.write_at(&file, b"refused".to_vec(), 0),
            ring.nop(),
        ))
        .submit()
        .unwrap()
        .wait();
    assert_eq!(first.unwrap(), 4);
    assert_eq!(buf, b"kept");
    assert_eq!(second.unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_eq!(wbuf, b"refused", "the failed entry's buffer comes back");
    match third {
        Err(SaferRingError::CancelledByChain { op, failed_entry }) => {
            assert_eq!((op, failed_entry), ("nop", 1));
        }
        other => panic!("expected cancelled-by-chain, got {other:?}"),
    }
}

#[test]
fn a_short_read_breaks_a_soft_chain_and_names_itself() {
    let ring = Ring::new(8).unwrap();
    let (file, _tmp) = read_only(b"abc");
    let ((read, _), write) = ring
        .chain((
            ring.read_at(&file, Vec::with_capacity(16), 0), // 3 of 16 bytes: short
            ring.nop(),
        ))
        .submit()
        .unwrap()
        .wait();
    assert_eq!(read.unwrap(), 3);
    let err = write.unwrap_err();
    assert!(
        matches!(
            err,
            SaferRingError::CancelledByChain {
                failed_entry: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
    assert!(err.to_string().contains("entry 0"), "{err}");
}

#[test]
fn a_hard_link_runs_past_a_failure() {
    let ring = Ring::new(8).unwrap();
    let (file, _tmp) = read_only(b"kept");
    let ((write, _), (read, buf), nop) = ring
        .chain((
            ring.write_at(&file, b"refused".to_vec(), 0),
            ring.read_at(&file, Vec::with_capacity(4), 0),
            ring.nop(),
        ))
        .link(Link::Hard)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(write.unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_eq!((read.unwrap(), buf.as_slice()), (4, &b"kept"[..]));
    nop.unwrap();
}

#[test]
fn a_soft_chain_runs_in_order() {
    let ring = Ring::new(8).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    // Each write overwrites the last: only in-order execution leaves "third".
    let chain = ring.chain((
        ring.write_at(&file, b"first".to_vec(), 0),
        ring.write_at(&file, b"secnd".to_vec(), 0),
        ring.write_at(&file, b"third".to_vec(), 0),
        ring.read_at(&file, Vec::with_capacity(5), 0),
    ));
    let (a, b, c, (read, buf)) = ring.block_on(chain);
    assert_eq!((a.0.unwrap(), b.0.unwrap(), c.0.unwrap()), (5, 5, 5));
    assert_eq!((read.unwrap(), buf.as_slice()), (5, &b"third"[..]));
}

#[test]
fn a_chain_with_an_invalid_entry_is_refused_whole() {
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe();
    let other = Ring::new(8).unwrap();
    let err = ring
        .chain((
            ring.read(&reader, vec![0u8; 4]),
            other.nop(), // another ring's operation
        ))
        .submit()
        .unwrap_err();
    assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }));
    let ((res, buf), _) = err.into_output();
    assert!(res.is_err());
    assert_eq!(buf.len(), 4, "the buffer comes back");
    assert_eq!(ring.in_flight(), 0, "nothing queued");

    let tiny = Ring::builder().max_in_flight(2).build().unwrap();
    let err = tiny
        .chain((tiny.nop(), tiny.nop(), tiny.nop()))
        .submit()
        .unwrap_err();
    assert!(
        matches!(err.error(), SaferRingError::InvalidArgument(_)),
        "a chain that can never fit: {err}"
    );
}

#[test]
fn a_batch_of_256_nops_costs_one_enter() {
    let ring = Ring::new(256).unwrap();
    let mut batch = ring.batch();
    for _ in 0..256 {
        batch.push(ring.nop());
    }
    let before = ring.stats().enters;
    let results = batch.submit().unwrap().wait();
    assert_eq!(ring.stats().enters - before, 1, "one io_uring_enter");
    assert_eq!(results.len(), 256);
    assert!(results.iter().all(Result::is_ok));

    let before = ring.stats().enters;
    let chain = ring.chain((ring.nop(), ring.nop(), ring.nop(), ring.nop()));
    let (a, b, c, d) = chain.link(Link::None).submit().unwrap().wait();
    assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
    assert_eq!(ring.stats().enters - before, 1, "a static batch too");
}

#[test]
fn a_chain_dropped_mid_flight_frees_nothing_before_its_cqes() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let (first, first_token) = Sentinel::new(8, &drops);
    let (second, second_token) = Sentinel::new(8, &drops);
    let chain = ring
        .chain((ring.read(&reader, first), ring.read(&reader, second)))
        .submit()
        .unwrap();
    ring.submit().unwrap();
    assert_eq!(ring.in_flight(), 2);
    drop(chain);
    assert_eq!(ring.stats().abandoned, 2);
    assert_eq!(
        (
            Arc::strong_count(&first_token),
            Arc::strong_count(&second_token)
        ),
        (2, 2),
        "both buffers parked, not freed"
    );
    feed(&mut writer, b"late"); // may land in the first buffer before the cancel
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2, "each released once");
    assert_eq!(Arc::strong_count(&first_token), 1);
    assert_eq!(Arc::strong_count(&second_token), 1);
}

#[test]
fn a_cancelled_chain_hands_every_buffer_back() {
    let ring = Ring::new(8).unwrap();
    let (reader, _writer) = pipe();
    let chain = ring
        .chain((ring.read(&reader, vec![0u8; 8]), ring.nop()))
        .submit()
        .unwrap();
    let ((read, buf), nop) = chain.cancel().wait();
    assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    assert_eq!(buf.len(), 8);
    assert!(matches!(
        nop,
        Err(SaferRingError::CancelledByChain {
            failed_entry: 0,
            ..
        })
    ));
}

/// A chain cancelled before its later entries started: their cancels reach the kernel
/// while the entry is still linked behind the head (a cancel finds nothing there) — the
/// read of an empty pipe behind a NOP must still be cancelled once it starts, not wait for
/// data forever.
#[test]
fn a_chain_cancelled_before_its_waiting_entry_starts_ends_anyway() {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        if !watched.load(Ordering::SeqCst) {
            eprintln!("the cancelled chain's read still waits after 20 s");
            std::process::abort(); // it would hang the suite
        }
    });
    let ring = Ring::new(8).unwrap();
    for _ in 0..20 {
        let (reader, _writer) = pipe();
        let chain = ring
            .chain((ring.nop(), ring.read(&reader, vec![0u8; 8])))
            .link(Link::Hard)
            .submit()
            .unwrap();
        let (nop, (read, buf)) = chain.cancel().wait();
        drop(nop); // the head ran, or was cancelled: either is right
        let err = read.unwrap_err();
        assert!(
            matches!(&err, SaferRingError::CancelledByChain { .. })
                || err.raw_os_error() == Some(libc::ECANCELED),
            "{err:?}"
        );
        assert_eq!(buf.len(), 8, "the buffer comes back");
    }
    done.store(true, Ordering::SeqCst);
}

/// 50 writes of one byte each (its index) to a pipe, with edges from a fixed pseudo-random
/// DAG whose every edge points from a higher index to a lower one — against the order the
/// entries were pushed, so ignoring an edge shows: the order the bytes come out of the pipe
/// is the order the kernel ran them.
#[test]
fn a_dag_of_50_operations_runs_in_an_order_consistent_with_its_edges() {
    let ring = Ring::new(64).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = File::from(std::os::fd::OwnedFd::from(writer));
    let mut batch = ring.batch();
    let ids: Vec<_> = (0..50u8)
        .map(|i| batch.push(ring.write(&writer, vec![i])))
        .collect();
    let mut seed = 0x2545_f491_u32;
    let mut edges = Vec::new();
    for child in 0..49 {
        for _ in 0..(child % 3) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let parent = child + 1 + seed as usize % (49 - child);
            batch.after(ids[child], ids[parent]);
            edges.push((child, parent));
        }
    }
    for child in (30..40).step_by(3) {
        batch.after(ids[child], ids[child + 1]); // some single-parent links too
        edges.push((child, child + 1));
    }
    let results = ring.block_on(batch);
    assert!(results.iter().all(|(res, _)| *res.as_ref().unwrap() == 1));
    drop(writer);
    let mut order = Vec::new();
    std::io::Read::read_to_end(&mut &reader, &mut order).unwrap();
    assert_eq!(order.len(), 50, "every entry ran once");
    let position: Vec<_> = (0..50u8)
        .map(|i| order.iter().position(|&b| b == i).unwrap())
        .collect();
    for (child, parent) in edges {
        assert!(
            position[parent] < position[child],
            "{child} ran before its parent {parent}: {order:?}"
        );
    }
}

#[test]
fn a_cyclic_batch_is_refused_when_built_and_loses_nothing() {
    let ring = Ring::new(8).unwrap();
    let file = File::from(tempfile::tempfile().unwrap());
    let mut batch = ring.batch();
    let a = batch.push(ring.write_at(&file, b"a".to_vec(), 0));
    let b = batch.push(ring.write_at(&file, b"b".to_vec(), 1));
    let c = batch.push(ring.write_at(&file, b"c".to_vec(), 2));
    batch.after(b, a).after(c, b).after(a, c);
    let err = batch.submit().unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    let outputs = err.into_output();
    let bufs: Vec<_> = outputs.into_iter().map(|(_, buf)| buf).collect();
    assert_eq!(bufs, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(ring.stats().submitted, 0, "nothing reached the kernel");
}

#[test]
fn a_broken_run_names_the_failed_entry_by_its_batch_index() {
    // Entries 1 and 2 form one kernel-linked run that does not start at entry 0: the
    // cancelled entry must name entry 1 (the batch's numbering), not its run's position 0.
    let ring = Ring::new(8).unwrap();
    let (ro, _tmp) = read_only(b"");
    let file = File::from(tempfile::tempfile().unwrap());
    let mut batch = ring.batch();
    let first = batch.push(ring.write_at(&file, b"a".to_vec(), 0));
    let bad = batch.push(ring.write_at(&ro, b"x".to_vec(), 0)); // EBADF
    let last = batch.push(ring.write_at(&file, b"c".to_vec(), 1));
    batch.after(last, bad);
    let out = batch.submit().unwrap().wait();
    assert_eq!(*out[first.index()].0.as_ref().unwrap(), 1);
    assert_eq!(
        out[bad.index()].0.as_ref().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    match &out[last.index()].0 {
        Err(SaferRingError::CancelledByChain { failed_entry, .. }) => {
            assert_eq!(*failed_entry, bad.index())
        }
        other => panic!("expected cancelled-by-chain, got {other:?}"),
    }
}

#[test]
fn an_entry_whose_parent_failed_does_not_run() {
    let ring = Ring::new(8).unwrap();
    let (ro, _tmp) = read_only(b"");
    let file = File::from(tempfile::tempfile().unwrap());
    let mut batch = ring.batch();
    let bad = batch.push(ring.write_at(&ro, b"x".to_vec(), 0)); // EBADF
    let ok = batch.push(ring.write_at(&file, b"y".to_vec(), 0));
    let join = batch.push(ring.write_at(&file, b"z".to_vec(), 1));
    batch.after(join, bad).after(join, ok);
    let out = batch.submit().unwrap().wait();
    assert_eq!(
        out[bad.index()].0.as_ref().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    assert_eq!(*out[ok.index()].0.as_ref().unwrap(), 1);
    assert!(matches!(
        out[join.index()].0,
        Err(SaferRingError::CancelledByChain {
            failed_entry: 0,
            ..
        })
    ));
    assert_eq!(out[join.index()].1, b"z", "its buffer comes back");
    let std = file.try_clone_std().unwrap();
    assert_eq!(
        std.metadata().unwrap().len(),
        1,
        "only the independent write ran"
    );
}

#[test]
fn a_shared_buffer_outlives_every_entry_holding_it() {
    use safer_ring::buf::SharedBuf;
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (reader, mut writer) = pipe();
    let (buf, token) = Sentinel::new(8, &drops);
    let shared = SharedBuf::new(buf);
    let dst = File::from(tempfile::tempfile().unwrap());
    let chain = ring
        .chain((
            ring.read(&reader, shared.clone()),
            ring.write_at(&dst, shared.clone(), 0),
        ))
        .submit()
        .unwrap();
    ring.submit().unwrap();
    let Err(shared) = shared.try_unwrap() else {
        panic!("two entries hold it")
    };
    drop(chain);
    assert_eq!(
        Arc::strong_count(&token),
        2,
        "parked with the entries, not freed"
    );
    let Err(shared) = shared.try_unwrap() else {
        panic!("still held by the parked entries")
    };
    feed(&mut writer, b"x");
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0, "our handle keeps it");
    let Ok(buf) = shared.try_unwrap() else {
        panic!("every entry is done")
    };
    drop(buf);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "freed once, by the last owner"
    );
}

/// With guard-page buffers (released = poisoned, kept mapped): chains dropped right after
/// submission, then fed: each read either gets its data or is cancelled first (the kernel's
/// race), and a buffer that is filled is filled before it is released — never released
/// first (the kernel would then write into poisoned memory, which the log would show).
#[test]
fn dropped_chains_fill_their_guard_buffers_before_releasing_them() {
    use common::guard::{Event, GuardBuf, Log, written_after_release};
    let log = Log::default();
    let ring = Ring::builder().defer_taskrun(false).build().unwrap();
    let pipes: Vec<_> = (0..8).map(|_| pipe()).collect();
    let chains: Vec<_> = pipes
        .iter()
        .enumerate()
        .map(|(id, (reader, _))| {
            let read = ring.read(reader, GuardBuf::new(64, id, &log));
            ring.chain((read, ring.nop())).submit().unwrap()
        })
        .collect();
    ring.submit().unwrap();
    drop(chains);
    for (id, (_, writer)) in pipes.iter().enumerate() {
        feed(
            &mut writer.try_clone().unwrap(),
            format!("chain {id}").as_bytes(),
        );
    }
    let report = ring.shutdown();
    assert_eq!(report.released, 16, "every entry released at its CQE");
    let events = log.lock().unwrap().clone();
    assert_eq!(written_after_release(&events), None);
    for id in 0..8 {
        let at = |released: bool| {
            events.iter().position(|e| match e {
                Event::Filled { id: i, .. } => !released && *i == id,
                Event::Released { id: i, .. } => released && *i == id,
            })
        };
        let released = at(true).expect("every buffer released");
        if let Some(filled) = at(false) {
            assert!(
                filled < released,
                "buffer {id} released before it was filled"
            );
        }
    }
}

/// Dropping a hard chain cancels all of it, also the entries the kernel had not started
/// when the cancels went in: their cancel finds nothing (`ENOENT`) while the entry waits
/// behind its head, so the ring cancels again once it has started (`cancel_retries`), and
/// nothing stays in flight waiting for data that may never come.
#[test]
fn a_dropped_hard_chain_is_cancelled_entry_by_entry_even_past_its_head() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ring = Ring::new(8).unwrap();
    let (a, _wa) = pipe();
    let (b, _wb) = pipe();
    let (first, _) = Sentinel::new(8, &drops);
    let (second, _) = Sentinel::new(8, &drops);
    let chain = ring
        .chain((ring.read(&a, first), ring.read(&b, second)))
        .link(Link::Hard)
        .submit()
        .unwrap();
    ring.submit().unwrap();
    drop(chain);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ring.live_slots() > 0 && std::time::Instant::now() < deadline {
        ring.turn(false).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(
        ring.live_slots(),
        0,
        "both entries cancelled: {:?}",
        ring.stats()
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "both buffers freed, once each"
    );
    if common::kernel_only("cancels that miss entries the kernel has not issued yet") {
        assert!(ring.stats().cancel_retries >= 1, "{:?}", ring.stats());
    }
}
