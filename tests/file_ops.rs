//! Every file operation against real files and pipes.

mod common;

use safer_ring::{File, OpenOptions, PinnedBuffer, Ring};

fn ring() -> Ring {
    Ring::new(16).unwrap()
}

#[test]
fn positioned_reads_and_writes_report_short_io() {
    let ring = ring();
    let file = File::from(tempfile::tempfile().unwrap());
    let (n, _) = ring
        .write_at(&file, b"0123456789".to_vec(), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(n.unwrap(), 10);
    // Asking for 64 bytes of a 10-byte file: a short read, reported as such.
    let (n, buf) = ring
        .read_at(&file, Vec::with_capacity(64), 4)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(buf, b"456789");
    // At end of file: 0.
    let (n, _) = ring.read_at(&file, buf, 10).submit().unwrap().wait();
    assert_eq!(n.unwrap(), 0);
}

#[test]
fn sequential_read_and_write_use_the_file_position() {
    let ring = ring();
    let file = File::from(tempfile::tempfile().unwrap());
    for part in [&b"abc"[..], b"def"] {
        let (n, _) = ring.write(&file, part.to_vec()).submit().unwrap().wait();
        assert_eq!(n.unwrap(), 3);
    }
    let mut std_file = file.try_clone_std().unwrap();
    std::io::Seek::rewind(&mut std_file).unwrap();
    let (n, buf) = ring
        .read(&file, Vec::with_capacity(2))
        .submit()
        .unwrap()
        .wait();
    assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"ab"[..]));
    let (n, buf) = ring.read(&file, buf).submit().unwrap().wait();
    assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"cd"[..]));
}

#[test]
fn vectored_io_round_trips() {
    let ring = ring();
    let file = File::from(tempfile::tempfile().unwrap());
    let parts = vec![b"one ".to_vec(), b"two ".to_vec(), b"three".to_vec()];
    let (n, parts_back) = ring.writev_at(&file, parts, 100).submit().unwrap().wait();
    assert_eq!(n.unwrap(), 13);
    assert_eq!(parts_back.len(), 3);
    let bufs = vec![PinnedBuffer::new(5), PinnedBuffer::new(8)];
    let (n, bufs) = ring.readv_at(&file, bufs, 100).submit().unwrap().wait();
    assert_eq!(n.unwrap(), 13);
    assert_eq!(bufs[0].as_slice(), b"one t");
    assert_eq!(bufs[1].as_slice(), b"wo three");
}

#[test]
fn open_write_sync_stat_allocate_close() {
    let ring = ring();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    let opts = OpenOptions::new().write(true).create_new(true).mode(0o640);
    let file = ring.open(&path, opts).submit().unwrap().wait().unwrap();
    ring.write_at(&file, vec![1u8; 4096], 0)
        .submit()
        .unwrap()
        .wait()
        .0
        .unwrap();
    ring.fsync(&file).submit().unwrap().wait().unwrap();
    ring.fdatasync(&file).submit().unwrap().wait().unwrap();
    ring.fallocate(&file, 0, 1 << 20, 0)
        .submit()
        .unwrap()
        .wait()
        .unwrap();
    let meta = ring.statx(&path).submit().unwrap().wait().unwrap();
    assert_eq!(meta.len(), 1 << 20);
    assert!(meta.is_file() && !meta.is_dir());
    assert_eq!(meta.permissions(), 0o640);
    let dir_meta = ring.statx(dir.path()).submit().unwrap().wait().unwrap();
    assert!(dir_meta.is_dir());
    ring.close(file).unwrap().submit().unwrap().wait().unwrap();
    // create_new on an existing path: EEXIST, named.
    let err = ring.open(&path, opts).submit().unwrap().wait().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
}

#[test]
fn open_at_resolves_relative_to_a_directory() {
    let ring = ring();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inner.txt"), b"found").unwrap();
    let dir_file = File::from(std::fs::File::open(dir.path()).unwrap());
    let file = ring
        .open_at(Some(&dir_file), "inner.txt", OpenOptions::new())
        .submit()
        .unwrap()
        .wait()
        .unwrap();
    let (n, buf) = ring
        .read_at(&file, Vec::with_capacity(16), 0)
        .submit()
        .unwrap()
        .wait();
    assert_eq!(&buf[..n.unwrap()], b"found");
}

#[test]
fn exact_loops_finish_the_job_across_short_transfers() {
    let ring = ring();
    let (reader, mut writer) = common::pipe();
    // A pipe delivers in pieces: read_exact_at (offset ignored for pipes) loops until full.
    let feeder = std::thread::spawn(move || {
        for chunk in [&b"split "[..], b"across ", b"writes"] {
            std::thread::sleep(std::time::Duration::from_millis(5));
            common::feed(&mut writer, chunk);
        }
    });
    let (res, buf) = ring.block_on(ring.read_exact_at(&reader, Vec::with_capacity(19), 0));
    res.unwrap();
    assert_eq!(buf, b"split across writes");
    feeder.join().unwrap();

    let file = File::from(tempfile::tempfile().unwrap());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    let (res, big) = ring.block_on(ring.write_all_at(&file, big, 7));
    res.unwrap();
    let (res, back) = ring.block_on(ring.read_exact_at(&file, Vec::with_capacity(big.len()), 7));
    res.unwrap();
    assert!(back == big);
}

#[test]
fn nop_and_async_hint() {
    let ring = ring();
    ring.nop().async_hint().submit().unwrap().wait().unwrap();
    ring.block_on(async { ring.nop().await }).unwrap();
    let done = ring.nop().submit().unwrap().wait_completed();
    assert!(done.output().is_ok());
    done.into_output().unwrap();
}
