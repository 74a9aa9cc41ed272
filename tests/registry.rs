//! Invariant 8: registered files outlive their users; handles are bound to their ring and
//! their registration.

mod common;

use common::{feed, pipe};
use safer_ring::{File, Ring, SaferRingError};

fn tmp_file_with(data: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, data).unwrap();
    File::from(f)
}

#[test]
fn registered_file_reads_and_writes_like_the_plain_one() {
    let ring = Ring::new(8).unwrap();
    ring.register_files(8).unwrap();
    let file = tmp_file_with(b"hello fixed world");
    let fixed = ring.register_file(&file).unwrap();
    let (n, buf) = ring
        .read_at(&fixed, Vec::with_capacity(64), 6)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"fixed world");
    ring.block_on(ring.write_all_at(&fixed, b"HELLO".to_vec(), 0))
        .0
        .unwrap();
    ring.fsync(&fixed).submit().unwrap().wait().unwrap();
    let (n, buf) = ring
        .read_at(&file, Vec::with_capacity(64), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"HELLO fixed world");
}

#[test]
fn a_handle_used_with_another_ring_is_a_ring_mismatch() {
    let a = Ring::new(8).unwrap();
    let b = Ring::new(8).unwrap();
    a.register_files(2).unwrap();
    b.register_files(2).unwrap();
    let fixed = a.register_file(&tmp_file_with(b"x")).unwrap();
    let err = b.read_at(&fixed, vec![0u8; 4], 0).submit().unwrap_err();
    assert!(
        matches!(err.error(), SaferRingError::RingMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("belongs to a different ring"));
    let buf = err.into_output().1;
    assert_eq!(buf, vec![0u8; 4], "the buffer comes back");
    assert!(matches!(
        b.unregister_file(&fixed).unwrap_err(),
        SaferRingError::RingMismatch { .. }
    ));
    // A ring without a table at all says the same.
    let c = Ring::new(8).unwrap();
    let err = c.read_at(&fixed, vec![0u8; 4], 0).submit().unwrap_err();
    assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }));
    a.unregister_file(&fixed).unwrap();
}

#[test]
fn unregistering_a_slot_in_use_is_refused_until_the_cqe() {
    let ring = Ring::new(8).unwrap();
    ring.register_files(2).unwrap();
    let (reader, mut writer) = pipe();
    let fixed = ring.register_file(&reader).unwrap();
    let read = ring.read(&fixed, Vec::with_capacity(16)).submit().unwrap();
    ring.submit().unwrap();
    let err = ring.unregister_file(&fixed).unwrap_err();
    assert!(
        matches!(
            err,
            SaferRingError::InUse {
                what: "registered file"
            }
        ),
        "{err}"
    );
    // The busy slot is not handed out again: the next registration takes the other one.
    let other = ring.register_file(&tmp_file_with(b"y")).unwrap();
    assert_ne!(other.index(), fixed.index());
    assert!(
        ring.register_file(&tmp_file_with(b"z")).is_err(),
        "table full"
    );

    // Dropping the read mid-flight keeps the slot busy until its final CQE.
    drop(read);
    assert!(ring.unregister_file(&fixed).is_err());
    feed(&mut writer, b"data");
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    ring.unregister_file(&fixed).unwrap();
}

#[test]
fn stale_handles_are_refused() {
    let ring = Ring::new(8).unwrap();
    ring.register_files(2).unwrap();
    let file = tmp_file_with(b"abc");
    let fixed = ring.register_file(&file).unwrap();
    let copy = fixed.clone();
    ring.unregister_file(&fixed).unwrap();
    let err = ring.read_at(&copy, vec![0u8; 4], 0).submit().unwrap_err();
    assert!(matches!(err.error(), SaferRingError::Stale { .. }), "{err}");
    // Same index, new registration: the old handle still does not work.
    let again = ring.register_file(&file).unwrap();
    assert_eq!(again.index(), copy.index());
    assert!(ring.read_at(&copy, vec![0u8; 4], 0).submit().is_err());
    // Replacing the whole table makes every handle stale.
    ring.register_files(4).unwrap();
    let err = ring.unregister_file(&again).unwrap_err();
    assert!(matches!(err, SaferRingError::Stale { .. }), "{err}");
}

#[test]
fn replacing_a_slot_in_use_is_refused_and_replacement_makes_old_handles_stale() {
    let ring = Ring::new(8).unwrap();
    ring.register_files(1).unwrap();
    let (reader, mut writer) = pipe();
    let fixed = ring.register_file(&reader).unwrap();
    let read = ring.read(&fixed, Vec::with_capacity(8)).submit().unwrap();
    let replacement = tmp_file_with(b"replacement");
    let err = ring.replace_file(&fixed, &replacement).unwrap_err();
    assert!(matches!(err, SaferRingError::InUse { .. }), "{err}");
    feed(&mut writer, b"pipe");
    let (n, buf) = read.wait();
    assert_eq!(
        &buf[..n.unwrap()],
        b"pipe",
        "the read acted on the file it was given"
    );
    let new = ring.replace_file(&fixed, &replacement).unwrap();
    assert_eq!(new.index(), fixed.index());
    let (n, buf) = ring
        .read_at(&new, Vec::with_capacity(32), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"replacement");
    let err = ring.read_at(&fixed, vec![0u8; 4], 0).submit().unwrap_err();
    assert!(matches!(err.error(), SaferRingError::Stale { .. }));
}

/// Hole 7: replacing the table unregisters the old one first; if the new registration then
/// fails, the old handles must still be stale forever after (the epoch moves before anything
/// can fail), never valid again for whatever file a later table puts in their slot.
#[test]
fn old_handles_stay_stale_after_a_failed_table_replacement() {
    let ring = Ring::new(8).unwrap();
    ring.register_files(4).unwrap();
    let old_file = tmp_file_with(b"old file");
    let old = ring.register_file(&old_file).unwrap();
    assert!(ring.register_files(0).is_err(), "an empty table is refused");
    ring.register_files(4).unwrap();
    let secret = tmp_file_with(b"new secret");
    let new = ring.register_file(&secret).unwrap();
    assert_eq!(new.index(), old.index(), "the slot is reused");
    match ring.read_at(&old, Vec::with_capacity(16), 0).submit() {
        Err(err) => assert!(
            matches!(err.error(), SaferRingError::Stale { .. }),
            "{:?}",
            err.error()
        ),
        Ok(op) => {
            let (n, buf) = op.wait();
            panic!(
                "a stale handle read {:?}",
                String::from_utf8_lossy(&buf[..n.unwrap_or(0)])
            );
        }
    }
}

/// Hole 8: registration takes the fd by `AsFd`, and the kernel keeps its own reference to the
/// file: closing the registered `File` and reusing its fd number for another file does not
/// redirect the registered slot.
#[test]
fn a_registration_keeps_its_file_when_the_fd_number_is_reused() {
    let _serial = common::serial();
    let ring = Ring::new(8).unwrap();
    ring.register_files(4).unwrap();
    let original = tmp_file_with(b"original");
    let fixed = ring.register_file(&original).unwrap();
    let number = std::os::fd::AsRawFd::as_raw_fd(&original);
    drop(original);
    // The kernel hands out the lowest free number: open files until one gets the old number.
    let mut others = Vec::new();
    while others.len() < 256 {
        let other = tmp_file_with(b"someone else's");
        let reused = std::os::fd::AsRawFd::as_raw_fd(&other) == number;
        others.push(other);
        if reused {
            break;
        }
    }
    let last = others.last().map(std::os::fd::AsRawFd::as_raw_fd);
    assert_eq!(last, Some(number), "fd number reused");
    let (n, buf) = ring
        .read_at(&fixed, Vec::with_capacity(32), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"original");
}
