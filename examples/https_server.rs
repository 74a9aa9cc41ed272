//! A directory served over HTTPS/1.1 with keep-alive, through io_uring — and with kernel TLS
//! where the kernel has it: after rustls's handshake the session keys go to the kernel
//! (`TCP_ULP "tls"`, `TLS_TX`/`TLS_RX`), and the ring sends and receives plaintext that the
//! kernel encrypts and decrypts. Without kTLS (no `tls` ULP, as with `CONFIG_TLS` off) it
//! says so once and serves with userspace rustls (tokio-rustls over `RingIo`).
//!
//! ```text
//! cargo run --release --example https_server -- --addr 127.0.0.1:8443 --dir . \
//!     [--cert CHAIN.pem --key KEY.pem] [--ktls on|off|auto]
//! curl --insecure https://127.0.0.1:8443/README.md
//! ```
//!
//! Without `--cert`/`--key` the certificate is self-signed for `localhost` (rcgen). GET and
//! HEAD of files under `--dir` only: `..` is 400, a missing file 404, another method 405.
//! It prints `listening on ADDR (kTLS: yes|no)` when ready; a startup error (address in use,
//! bad certificate) is printed and exits 1 at once; Ctrl-C stops it, printing the requests
//! served and how many connections used kTLS. The server is `safer-ring serve`'s
//! (`cli/src/serve/`); this example only runs it.

use std::process::ExitCode;

fn main() -> ExitCode {
    safer_ring_cli::serve::run_standalone()
}
