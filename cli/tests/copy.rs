//! `safer-ring copy` on real files: refusals, no partial destinations (ENOSPC, SIGINT), modes,
//! holes, FIFOs, `/proc`, trees, usage.

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bin, copy, fnv, names, on_small_tmpfs, pattern, run, stderr, stdout};

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn same_file_is_refused_directly_through_a_symlink_and_a_hard_link() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, b"precious").unwrap();
    std::os::unix::fs::symlink(&src, dir.path().join("link")).unwrap();
    std::fs::hard_link(&src, dir.path().join("hard")).unwrap();
    for dst in ["src", "link", "hard"] {
        let out = copy(&src, &dir.path().join(dst), &[]);
        assert_eq!(out.status.code(), Some(1), "{dst}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("onto itself"),
            "{dst}: {}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(&src).unwrap(), b"precious", "{dst}");
    }
    // Also the other way round: the hard link as the source.
    let out = copy(&dir.path().join("hard"), &src, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&src).unwrap(), b"precious");
    assert_eq!(names(dir.path()), ["hard", "link", "src"]);
}

#[test]
fn a_copy_is_byte_exact_and_keeps_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("secret");
    let data = pattern(3 << 20 | 123, 1);
    std::fs::write(&src, &data).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dst = dir.path().join("copy");
    let out = copy(&src, &dst, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    let mode = std::fs::metadata(&dst).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    assert!(stdout(&out).contains(&format!("copied {} bytes", data.len())));
    assert_eq!(names(dir.path()), ["copy", "secret"], "no temporary left");
}

#[test]
fn preserve_keeps_the_modification_time_and_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a");
    std::fs::write(&src, b"new content").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let dst = dir.path().join("b");
    std::fs::write(&dst, b"old content that is longer").unwrap();
    let out = copy(&src, &dst, &["--preserve", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "--quiet prints no summary");
    assert_eq!(std::fs::read(&dst).unwrap(), b"new content");
    assert_eq!(std::fs::metadata(&dst).unwrap().modified().unwrap(), old);
}

#[test]
fn a_sparse_gib_stays_sparse_and_reads_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sparse");
    let file = std::fs::File::create(&src).unwrap();
    file.set_len(1 << 30).unwrap();
    let chunks = [
        (0u64, 7),
        (100 << 20, 8),
        (512 << 20, 9),
        ((1 << 30) - 4096, 10),
    ];
    for (offset, seed) in chunks {
        std::os::unix::fs::FileExt::write_all_at(&file, &pattern(4096, seed), offset).unwrap();
    }
    drop(file);
    let dst = dir.path().join("copy");
    let out = copy(&src, &dst, &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (s, d) = (
        std::fs::metadata(&src).unwrap(),
        std::fs::metadata(&dst).unwrap(),
    );
    assert_eq!(d.len(), 1 << 30);
    assert!(
        d.blocks() <= s.blocks() + 64,
        "copy allocated {} blocks, source {}",
        d.blocks(),
        s.blocks()
    );
    assert_same_bytes(&src, &dst);
}

/// Compares two files chunk by chunk.
fn assert_same_bytes(a: &Path, b: &Path) {
    use std::io::Read;
    let (mut a, mut b) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut x, mut y) = (vec![0; 1 << 20], vec![0; 1 << 20]);
    loop {
        let n = a.read(&mut x).unwrap();
        b.read_exact(&mut y[..n]).unwrap();
        assert!(x[..n] == y[..n], "the copy differs");
        if n == 0 {
            assert_eq!(b.read(&mut y).unwrap(), 0, "the copy is longer");
            return;
        }
    }
}

#[test]
fn every_byte_of_a_fifo_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let dst = dir.path().join("out");
    let child = bin()
        .arg("copy")
        .arg(&fifo)
        .arg(&dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let data = pattern(5 << 20, 3);
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    for piece in data.chunks(300_001) {
        writer.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fnv(&std::fs::read(&dst).unwrap()), fnv(&data));
}

#[test]
fn proc_cpuinfo_is_read_to_its_end_not_its_zero_size() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("cpuinfo");
    let out = copy(Path::new("/proc/cpuinfo"), &dst, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let copied = std::fs::read_to_string(&dst).unwrap();
    assert!(copied.starts_with("processor"), "{copied:.80}");
    let lines = |s: &str| s.lines().filter(|l| l.starts_with("processor")).count();
    assert_eq!(
        lines(&copied),
        lines(&std::fs::read_to_string("/proc/cpuinfo").unwrap())
    );
}

#[test]
fn a_read_error_names_the_path_the_operation_and_the_offset() {
    // /proc/self/mem fails to read at offset 0 with EIO (nothing is mapped there).
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("mem");
    let out = copy(Path::new("/proc/self/mem"), &dst, &[]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("copy: reading /proc/self/mem at offset 0: Input/output error"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{} was not created", dst.display())),
        "{msg}"
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn a_directory_without_r_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    let out = copy(&dir.path().join("tree"), &dir.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is a directory: use -r"),
        "{}",
        stderr(&out)
    );
    assert_eq!(names(dir.path()), ["tree"]);
}

#[test]
fn help_exits_0_and_a_bad_flag_exits_2() {
    for args in [
        &["--help"][..],
        &["probe", "--help"],
        &["copy", "--help"],
        &["help", "copy"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stdout(&out).contains("Exit codes:"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    for args in [
        &["copy", "--bogus", "a", "b"][..],
        &["copy", "a"],
        &["nonsense"],
        &[],
    ] {
        assert_eq!(run(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn enospc_on_a_small_tmpfs_leaves_no_partial_destination() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("two-mib");
    std::fs::write(&src, pattern(2 << 20, 5)).unwrap();
    let src = src.display();
    let run = on_small_tmpfs(dir.path(), |bin, mnt| {
        format!(
            "printf 'old bytes' > {mnt}/existing && {bin} copy {src} {mnt}/new; echo rc=$?; \
             {bin} copy {src} {mnt}/existing; echo rc=$?; echo listing:; ls -A {mnt}; echo; \
             echo content:; cat {mnt}/existing; echo; df -k {mnt}"
        )
    });
    let Some((text, mnt)) = run else {
        return;
    };
    assert_eq!(text.matches("rc=1").count(), 2, "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(
        text.contains(&format!("writing {mnt}/new at offset")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{mnt}/new was not created")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{mnt}/existing was left as it was")),
        "{text}"
    );
    let listing = text.split("listing:\n").nth(1).unwrap();
    assert!(
        listing.starts_with("existing\n\ncontent:\nold bytes\n"),
        "{text}"
    );
}

/// Starts copying `fifo` to `dst`, feeds it 1 MiB, checks the temporary exists, interrupts.
fn interrupt_a_fifo_copy(fifo: &Path, dst: &Path) -> (std::process::Output, Vec<String>) {
    mkfifo(fifo);
    let child = bin()
        .arg("copy")
        .arg(fifo)
        .arg(dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    writer.write_all(&pattern(1 << 20, 9)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let during = names(fifo.parent().unwrap());
    // SAFETY: kill takes integers; the child is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    drop(writer);
    (out, during)
}

#[test]
fn sigint_mid_copy_leaves_no_partial_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, dst) = (dir.path().join("fifo"), dir.path().join("new"));
    let (out, during) = interrupt_a_fifo_copy(&fifo, &dst);
    assert!(
        during.iter().any(|n| n.starts_with(".new.safer-ring-")),
        "{during:?}"
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains("interrupted"), "{msg}");
    assert!(
        msg.contains(&format!("{} was not created", dst.display())),
        "{msg}"
    );
    assert_eq!(
        names(dir.path()),
        ["fifo"],
        "no partial destination, no temporary"
    );
}

#[test]
fn sigint_mid_copy_leaves_an_existing_destination_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, dst) = (dir.path().join("fifo"), dir.path().join("old"));
    std::fs::write(&dst, b"the old content").unwrap();
    let (out, _) = interrupt_a_fifo_copy(&fifo, &dst);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{} was left as it was", dst.display())));
    assert_eq!(std::fs::read(&dst).unwrap(), b"the old content");
    assert_eq!(names(dir.path()), ["fifo", "old"]);
}
