//! What the file-copy examples share: their arguments, the same-file check that runs before
//! anything is truncated, a self-test source file, and progress on a terminal.
#![allow(dead_code)] // each example uses its own part

use std::cell::Cell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `[SRC DST] [--chunk KiB] [--depth N]`.
pub struct CopyArgs {
    pub src: Option<PathBuf>,
    pub dst: Option<PathBuf>,
    pub chunk: usize,
    pub depth: usize,
}

/// What parsing the arguments decided.
pub enum Parsed {
    Run(CopyArgs),
    /// `--help`: print the usage and exit 0.
    Help,
    /// Bad arguments: print this and the usage, exit 2.
    Bad(String),
}

/// Parses the process's arguments, with `chunk` bytes and `depth` chunks in flight unless
/// given.
pub fn parse_copy_args(chunk: usize, depth: usize) -> Parsed {
    let mut args = CopyArgs {
        src: None,
        dst: None,
        chunk,
        depth,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        let set = match arg.as_str() {
            "--chunk" => number("--chunk").map(|kib| args.chunk = kib << 10),
            "--depth" => number("--depth").map(|n| args.depth = n),
            "-h" | "--help" => return Parsed::Help,
            _ if args.src.is_none() => {
                args.src = Some(arg.into());
                Ok(())
            }
            _ if args.dst.is_none() => {
                args.dst = Some(arg.into());
                Ok(())
            }
            _ => Err(format!("unexpected argument {arg}")),
        };
        if let Err(msg) = set {
            return Parsed::Bad(msg);
        }
    }
    if args.chunk == 0 || args.depth == 0 {
        return Parsed::Bad("--chunk and --depth must be positive".into());
    }
    if args.src.is_some() != args.dst.is_some() {
        return Parsed::Bad("give both SRC and DST, or neither for the self-test".into());
    }
    Parsed::Run(args)
}

/// Refuses a destination that is the source itself — the same path, a symlink to it or a
/// hard link (same device and inode) — before anything truncates it: opening it for writing
/// would destroy the data about to be read.
pub fn refuse_same_file(src: &Path, dst: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let src_meta =
        std::fs::metadata(src).map_err(|e| format!("cannot stat {}: {e}", src.display()))?;
    match std::fs::metadata(dst) {
        Ok(dst_meta) if (dst_meta.dev(), dst_meta.ino()) == (src_meta.dev(), src_meta.ino()) => {
            Err(format!(
                "refusing to copy {} onto itself: {} is the same file; nothing was changed",
                src.display(),
                dst.display()
            ))
        }
        _ => Ok(()),
    }
}

/// Writes `len` random-looking bytes to `path` (a self-test source).
pub fn make_source(path: &Path, len: usize) -> std::io::Result<()> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, data)
}

/// Whether `dst` holds exactly what `src` does.
pub fn same_contents(src: &Path, dst: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read(src)? == std::fs::read(dst)?)
}

/// Progress of a copy on stderr, redrawn in place about ten times a second when stderr is a
/// terminal; silent otherwise.
pub struct Progress {
    total: u64,
    done: Cell<u64>,
    shown: Cell<Instant>,
    terminal: bool,
    name: &'static str,
}

impl Progress {
    pub fn new(name: &'static str, total: u64) -> Self {
        Self {
            total,
            done: Cell::new(0),
            shown: Cell::new(Instant::now()),
            terminal: std::io::stderr().is_terminal(),
            name,
        }
    }

    pub fn add(&self, bytes: u64) {
        self.done.set(self.done.get() + bytes);
        if self.terminal && self.shown.get().elapsed() >= Duration::from_millis(100) {
            self.shown.set(Instant::now());
            let (done, total) = (self.done.get(), self.total.max(1));
            eprint!(
                "\r{}: {:3}% ({} / {} MiB)",
                self.name,
                done * 100 / total,
                done >> 20,
                total >> 20
            );
        }
    }

    pub fn done(&self) -> u64 {
        self.done.get()
    }

    /// Ends the progress line.
    pub fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
