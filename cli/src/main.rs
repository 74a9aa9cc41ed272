//! `safer-ring`: the command line of the safer-ring library.
//!
//! - `safer-ring probe`: is io_uring usable here; if not, why and what to do.
//! - `safer-ring copy SRC DST`: a copy through the ring that never loses data.
//! - `safer-ring echo`: a TCP echo server on a pool of rings, one per worker thread.
//! - `safer-ring serve`: a directory over HTTPS, with kernel TLS where the kernel has it.
//! - `safer-ring bench`: the benchmark harness (`safer-ring-bench`), side by side with peers.

mod bench;
mod copy;
mod interrupt;
mod probe;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use safer_ring_cli::Failure;
use safer_ring_cli::{echo, serve};

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
    /// Serves a directory over HTTPS/1.1 (keep-alive) through io_uring.
    ///
    /// TLS is rustls's; with kernel TLS (--ktls auto where the kernel has the "tls" ULP, or
    /// --ktls on) the session keys go to the kernel after the handshake, and the ring sends
    /// and receives plaintext that the kernel encrypts and decrypts. Otherwise it says so
    /// once and serves with rustls in user space over the ring. GET and HEAD of the files
    /// under --dir only ("..": 400, missing: 404, other methods: 405). Prints `listening on
    /// ADDR (kTLS: yes|no)` when ready; Ctrl-C stops it, printing the requests served and
    /// how many connections used kTLS.
    #[command(after_long_help = serve::EXIT_CODES)]
    Serve(serve::ServeArgs),
    /// A TCP echo server on a pool of rings (one worker thread each), until Ctrl-C.
    ///
    /// Multishot accept and multishot receive into a provided-buffer ring; each chunk is sent
    /// back as it is. With --accept reuseport (the default) every worker has its own
    /// SO_REUSEPORT listener on the same port; with --accept handoff worker 0 accepts and
    /// hands connections to the others by IORING_OP_MSG_RING. Prints `listening on ADDR with
    /// N worker(s)` when ready; Ctrl-C prints the connections and bytes served.
    #[command(after_long_help = echo::EXIT_CODES)]
    Echo(echo::EchoArgs),
    /// Runs the benchmark harness: this library vs raw io_uring, std, tokio and peer crates.
    ///
    /// Everything after `bench` goes to `safer-ring-bench` (`safer-ring bench -- --help` lists
    /// its suites and flags; e.g. `safer-ring bench nop read --quick`). It is the binary next
    /// to this one, or, in a source checkout, `cargo run --release -p safer-ring-bench`.
    #[command(after_long_help = bench::EXIT_CODES)]
    Bench(bench::BenchArgs),
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
        Command::Serve(args) => serve::main(&args),
        Command::Echo(args) => echo::main(&args),
        Command::Bench(args) => bench::run(&args),
    };
    safer_ring_cli::failure::exit_with("safer-ring", result)
}
