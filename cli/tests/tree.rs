//! `safer-ring copy -r`: a tree arrives whole and equal (checksums), or not at all.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{copy, fnv, names, pattern, stderr, stdout};

/// Every entry under `root` by relative path: a file's size, mode and checksum, a symlink's
/// target, a directory's mode.
fn manifest(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let what = if meta.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("dir {:o}", meta.mode() & 0o7777)
            } else {
                let data = std::fs::read(&path).unwrap();
                format!(
                    "file {} {:o} {:x}",
                    data.len(),
                    meta.mode() & 0o7777,
                    fnv(&data)
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

/// A tree: nested directories, a few hundred files (some empty, some large, one sparse),
/// odd modes, a relative and an absolute symlink.
fn make_tree(root: &Path) -> usize {
    let mut files = 0;
    for (d, dir) in ["", "a", "a/b", "a/b/c", "d", "d/e"].iter().enumerate() {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..60 {
            let len = match i % 6 {
                0 => 0,
                1 => 1,
                2 => 4096,
                3 => 70_000,
                _ => i * 100 + d,
            };
            std::fs::write(
                dir.join(format!("f{i}")),
                pattern(len, (d * 100 + i) as u64),
            )
            .unwrap();
            files += 1;
        }
    }
    std::fs::write(root.join("a/big"), pattern(3 << 20, 77)).unwrap();
    let sparse = std::fs::File::create(root.join("d/sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"tail", (64 << 20) - 4).unwrap();
    std::fs::set_permissions(root.join("a/f2"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(root.join("d/f3"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(root.join("d/e"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("../f1", root.join("a/rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("abs-link")).unwrap();
    files + 2
}

#[test]
fn a_tree_arrives_equal_by_checksums_with_modes_and_symlinks_as_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files = make_tree(&src);
    let dst = dir.path().join("dst");
    let out = copy(&src, &dst, &["-r"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(manifest(&dst), manifest(&src));
    assert!(
        std::fs::symlink_metadata(dst.join("a/rel-link"))
            .unwrap()
            .is_symlink()
    );
    let sparse = std::fs::metadata(dst.join("d/sparse")).unwrap();
    assert!(
        sparse.blocks() < 1024,
        "the sparse file took {} blocks",
        sparse.blocks()
    );
    assert!(
        stdout(&out).contains(&format!("{files} files")),
        "{}",
        stdout(&out)
    );
    assert_eq!(names(dir.path()), ["dst", "src"], "no temporary left");
}

#[test]
fn a_tree_into_an_existing_directory_goes_under_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let into = dir.path().join("into");
    std::fs::create_dir(&into).unwrap();
    let out = copy(&src, &into, &["-r", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(manifest(&into.join("src")), manifest(&src));
}

#[test]
fn a_tree_is_not_merged_into_an_existing_one_nor_copied_into_itself() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let before = manifest(&src);
    let into = dir.path().join("into");
    std::fs::create_dir_all(into.join("src")).unwrap();
    let out = copy(&src, &into, &["-r"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(names(&into.join("src")).is_empty());
    let out = copy(&src, &src.join("a/inside"), &["-r"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be copied into itself"),
        "{}",
        stderr(&out)
    );
    assert_eq!(manifest(&src), before);
}

#[test]
fn a_tree_that_does_not_fit_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let src = src.display();
    let run = common::on_small_tmpfs(dir.path(), |bin, mnt| {
        format!("{bin} copy -r {src} {mnt}/tree; echo rc=$?; echo listing:; ls -A {mnt}; echo end")
    });
    let Some((text, mnt)) = run else {
        return;
    };
    assert!(text.contains("rc=1"), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(
        text.contains(&format!("{mnt}/tree was not created")),
        "{text}"
    );
    assert!(
        text.contains("listing:\nend"),
        "nothing left on the tmpfs: {text}"
    );
}

/// A tree of `dirs` × `files` small files, quick to write.
fn many_files(root: &Path, dirs: usize, files: usize) {
    let data = pattern(4096, 7);
    for d in 0..dirs {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..files {
            std::fs::write(dir.join(format!("f{f}")), &data).unwrap();
        }
    }
}

/// The temporary tree next to `dst` (`.NAME.safer-ring-…`), once it holds a copied file.
fn temporary_with_files(parent: &Path) -> Option<PathBuf> {
    let temp = std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".new.safer-ring-")
        })?
        .path();
    let has_files = std::fs::read_dir(temp.join("d0")).ok()?.next().is_some();
    has_files.then_some(temp)
}

#[test]
fn sigint_mid_tree_leaves_no_partial_tree_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("new"));
    many_files(&src, 10, 1000);
    let mut child = common::bin()
        .arg("copy")
        .arg("-r")
        .arg(&src)
        .arg(&dst)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let temp = loop {
        if let Some(temp) = temporary_with_files(dir.path()) {
            break temp;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no temporary tree filled in 20 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended before it was interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    // SAFETY: kill takes integers; the child is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "interrupted mid-tree: {msg}");
    assert!(
        msg.contains(&format!("{} was not created", dst.display())),
        "{msg}"
    );
    assert!(
        !temp.exists(),
        "the temporary tree {} is left",
        temp.display()
    );
    assert_eq!(names(dir.path()), ["src"], "no partial tree, no temporary");
}
