//! A TCP echo server on a [`RingPool`](safer_ring::RingPool): one worker thread per
//! `--threads`, each with its ring and its own `SO_REUSEPORT` listener on the same port,
//! multishot accept, multishot recv into a provided-buffer ring, and each received chunk sent
//! back as it is (no copy).
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 [--threads N]
//!     [--accept reuseport|handoff]
//! ```
//!
//! `--accept handoff` has one listener instead: worker 0 accepts every connection and hands
//! each in turn to a worker by `IORING_OP_MSG_RING` (`Ring::send_file` into the worker's
//! `FileMailbox`). Every connection is its own task on its worker's built-in executor, so a
//! hostile client holds up only itself. It prints `listening on ADDR with N worker(s)` once
//! ready; a startup error (address in use, io_uring unavailable, memlock too low) is printed
//! and exits non-zero at once; Ctrl-C shuts the pool down and prints connections and bytes
//! served, and how many each worker took. The server is `safer-ring echo`'s
//! (`cli/src/echo/`); this example only runs it.

use std::process::ExitCode;

fn main() -> ExitCode {
    safer_ring_cli::echo::run_standalone()
}
