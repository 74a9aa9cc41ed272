//! The tree case of `copy`: 20 directories × 1,000 files of 4 KiB, page-cached, copied by
//! `safer-ring copy -r` (the CLI: every file's `openat`/`read`/`write`/`close` on the ring,
//! many files in flight on a ring per core) and by `cp -r`. Neither syncs; each run starts
//! after a `sync` (untimed) so no write-back of an earlier run overlaps it. Copies are kept
//! until the end: on ext4 a directory of recently deleted inodes slows the next allocations
//! (`recently_deleted`), which would penalise whichever tool runs after a deletion.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::file::xorshift_fill;
use super::{cli_binary, run_child, timed};
use crate::report::{Report, Row};
use crate::stats::Samples;

const DIRS: usize = 20;
const FILES_PER_DIR: usize = 1000;
const FILE_LEN: usize = 4096;
const CONTENDERS: [&str; 2] = ["safer-ring copy -r", "cp -r"];

/// Writes the tree, flushes it to disk and reads it once more (page cache warm).
fn make_tree(root: &Path) -> std::io::Result<()> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut buf = vec![0u8; FILE_LEN];
    for d in 0..DIRS {
        let dir = root.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..FILES_PER_DIR {
            xorshift_fill(&mut state, &mut buf);
            std::fs::File::create(dir.join(format!("f{f:04}")))?.write_all(&buf)?;
        }
    }
    sync();
    for_each_file(root, |_, path| std::fs::read(path).map(drop))
}

/// Calls `f(name_under_root, path)` for every file of the tree's layout under `root`.
fn for_each_file(
    root: &Path,
    mut f: impl FnMut(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for d in 0..DIRS {
        for i in 0..FILES_PER_DIR {
            let rel = Path::new(&format!("d{d:02}")).join(format!("f{i:04}"));
            f(&rel, &root.join(&rel))?;
        }
    }
    Ok(())
}

/// Checks that `copy` holds every file of `src`, byte for byte, and nothing else.
fn verify(src: &Path, copy: &Path, who: &str) -> std::io::Result<()> {
    let fail = |what: String| std::io::Error::other(format!("copy -r by {who}: {what}"));
    let dirs = std::fs::read_dir(copy)?.count();
    if dirs != DIRS {
        return Err(fail(format!("{dirs} directories, expected {DIRS}")));
    }
    for_each_file(src, |rel, path| {
        let (a, b) = (std::fs::read(path)?, std::fs::read(copy.join(rel)));
        match b {
            Ok(b) if a == b => Ok(()),
            Ok(_) => Err(fail(format!("{} differs from the source", rel.display()))),
            Err(e) => Err(fail(format!("{}: {e}", rel.display()))),
        }
    })
}

fn sync() {
    // SAFETY: sync(2) takes no arguments and touches no memory of this process.
    unsafe { libc::sync() };
}

pub fn run(report: &mut Report, rounds: usize) -> safer_ring::Result<()> {
    let files = (DIRS * FILES_PER_DIR) as u64;
    let (cli, cli_note) = cli_binary()?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("tree");
    eprintln!("copy: writing and caching a tree of {files} files of 4 KiB...");
    make_tree(&src)?;
    let mut samples: [Samples; 2] = Default::default();
    for round in 0..rounds {
        for i in (0..CONTENDERS.len()).map(|j| (round + j) % CONTENDERS.len()) {
            let dst = dir.path().join(format!("copy.{round}.{i}"));
            sync(); // untimed: no write-back of an earlier copy overlaps this one
            timed(&mut samples[i], files, || match i {
                0 => run_child(
                    Command::new(&cli)
                        .args(["copy", "-q", "-r"])
                        .arg(&src)
                        .arg(&dst),
                ),
                _ => run_child(Command::new("cp").arg("-r").arg(&src).arg(&dst)),
            })?;
            verify(&src, &dst, CONTENDERS[i])?;
        }
    }
    let case = format!("{DIRS} dirs x {FILES_PER_DIR} files of 4 KiB, op = 1 file");
    for (contender, s) in CONTENDERS.into_iter().zip(samples) {
        let files_per_s = s.median();
        report.rows.push(Row {
            suite: "copy",
            case: case.clone(),
            contender,
            samples: s,
        });
        report.metric("copy", &case, contender, "files/s", files_per_s);
    }
    report.goal(
        "safer-ring copy -r/cp -r",
        (&case, "safer-ring copy -r"),
        (&case, "cp -r"),
        1.5,
    );
    report.notes.push(format!(
        "copy (tree): {files} page-cached files of 4 KiB in {DIRS} directories, on the same \
         filesystem, contenders interleaved with the starting one rotating each round, each \
         run after an untimed sync, every copy checked byte for byte and kept until the end \
         (ext4 slows inode allocation next to recent deletions); op = 1 file, so op/s is \
         files/s and CPU is µs per file (this process plus children). `safer-ring copy -r` is \
         {cli_note} `copy -q -r` (the tree built under a temporary directory renamed into \
         place); `cp -r` is coreutils cp as a process. Neither syncs. Both run on the filesystem of \
         $TMPDIR (default /tmp): how fast it allocates inodes depends on its history, so \
         measure a fresh one too (e.g. an ext4 loop device: TMPDIR=/mnt/fresh)."
    ));
    Ok(())
}
