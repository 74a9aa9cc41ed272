//! What the CLI tests share: running the built binary, hashing files.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Command, Output};

/// The built `safer-ring` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_safer-ring"))
}

/// `safer-ring COMMAND ARGS` as a process with piped output, and the first line it printed
/// (a server's `listening on ADDR …`).
pub fn spawn_listening(command: &str, args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = bin()
        .arg(command)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// The same, with paths.
pub fn copy(src: &Path, dst: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("copy")
        .args(extra)
        .arg(src)
        .arg(dst)
        .output()
        .expect("the binary runs")
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// FNV-1a over `data` (enough to tell copies apart in tests).
pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deterministic bytes, different for each `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `body(bin, mnt)`'s shell commands with a 1 MiB tmpfs mounted at `DIR/mnt`, in a
/// private mount namespace; returns their output and the mount point as text, or `None` if
/// `unshare` is missing.
pub fn on_small_tmpfs(
    dir: &Path,
    body: impl FnOnce(&str, &str) -> String,
) -> Option<(String, String)> {
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mnt = mnt.display().to_string();
    let commands = body(env!("CARGO_BIN_EXE_safer-ring"), &mnt);
    let script = format!("mount -t tmpfs -o size=1m none {mnt} && {{ {commands}; }}");
    in_mount_namespace(&script).map(|text| (text, mnt))
}

/// Runs `script` as root of a private mount namespace (`unshare -rm`), or `None` if
/// `unshare` is missing (the reason is printed).
pub fn in_mount_namespace(script: &str) -> Option<String> {
    let out = match Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("SKIPPED: unshare (util-linux) is not available: {e}");
            return None;
        }
    };
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "the namespace script failed: {text}");
    Some(text)
}
