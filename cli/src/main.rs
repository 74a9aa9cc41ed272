//! `safer-ring`: the command line of the safer-ring library.
//!
//! - `safer-ring probe`: is io_uring usable here; if not, why and what to do.
//! - `safer-ring copy SRC DST`: a copy through the ring that never loses data.

mod copy;
mod failure;
mod interrupt;
mod probe;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use failure::Failure;

/// The exit codes, shown in every command's long help.
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the operation failed (the message names the path and the operation)
  2    bad usage (unknown flag, missing argument)
  3    io_uring is unavailable here (run `safer-ring probe` for why and the fix)
  130  interrupted (SIGINT); the destination was left as it was";

/// Safe, fast Linux io_uring from the command line.
#[derive(Parser, Debug)]
#[command(name = "safer-ring", version, after_long_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Says whether io_uring is usable here, and if not why and what to do.
    ///
    /// When usable: the kernel version, the opcodes the library uses and whether the kernel
    /// has each, the IORING_FEAT_* features, the setup flags the ring got, and what degrades.
    #[command(after_long_help = EXIT_CODES)]
    Probe,
    /// Copies a file (or with -r a tree) through io_uring, never losing data.
    ///
    /// The copy is written to a temporary file next to the destination and renamed into
    /// place, so an error, a full disk or Ctrl-C leaves the destination as it was. The same
    /// file (also through symlinks and hard links) is refused before anything is opened for
    /// writing. Holes are kept; FIFOs, /proc files and devices are read to their end. The
    /// permission bits are always kept; owner and timestamps with --preserve.
    ///
    /// With -r, SRC's tree is built under a temporary directory and renamed to its final name
    /// when complete: the tree appears whole or not at all. The final name must not exist
    /// (no merging into an existing tree). Symlinks are copied as symlinks (never followed);
    /// hard links become separate files; FIFOs, sockets and devices inside the tree are
    /// skipped with a warning.
    #[command(after_long_help = EXIT_CODES)]
    Copy(CopyArgs),
}

/// The arguments of `copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The file or (with -r) directory to copy.
    pub src: PathBuf,
    /// The destination path, or an existing directory to copy into.
    pub dst: PathBuf,
    /// Copy directories recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Also keep the owner and the access and modification times.
    #[arg(short = 'p', long)]
    pub preserve: bool,
    /// fdatasync every file before it is renamed into place (durable on return).
    #[arg(long)]
    pub sync: bool,
    /// No summary line (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Probe => probe::run(),
        Command::Copy(args) => copy::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("safer-ring: {failure}");
            failure.exit_code()
        }
    }
}
