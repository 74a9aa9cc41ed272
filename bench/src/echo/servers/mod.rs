//! The echo servers the suite compares, one module per runtime, each written the way a
//! competent user of that runtime writes one: a task per connection that reads into a buffer
//! and writes it all back. Each runs in its own process (`safer-ring-bench serve NAME --addr
//! IP:PORT`, re-executed by the harness and pinned to CPU 0 there) and prints
//! `listening on ADDR` once it accepts. safer-ring's own contender is not here: it is the
//! `echo_server` example, run as it is.

mod compio;
mod monoio;
mod raw;
mod tokio;
mod tokio_uring;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};

/// The servers this module can run, by the name `serve` takes.
pub const NAMES: &[&str] = &["raw", "tokio", "monoio", "tokio-uring", "compio"];

/// Each connection's read buffer, for every runtime.
pub const BUF: usize = 4096;

/// `safer-ring-bench serve NAME [--addr IP:PORT]`: binds, prints `listening on ADDR`, serves
/// until killed. Returns only on error.
pub fn main(args: &[String]) -> Result<(), String> {
    let mut name = None;
    let mut addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let value = it.next().ok_or("--addr needs a value")?;
                addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            n if NAMES.contains(&n) => name = Some(n.to_owned()),
            other => {
                return Err(format!(
                    "unknown server or flag {other} (servers: {NAMES:?})"
                ));
            }
        }
    }
    let name = name.ok_or(format!("name a server: {NAMES:?}"))?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {local} ({name})");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let res = match name.as_str() {
        "raw" => raw::serve(listener),
        "tokio" => self::tokio::serve(listener),
        "monoio" => self::monoio::serve(listener),
        "tokio-uring" => tokio_uring::serve(listener),
        "compio" => self::compio::serve(listener),
        _ => unreachable!("checked above"),
    };
    res.map_err(|e| format!("{name} server: {e}"))
}
