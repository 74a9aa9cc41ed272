//! A load client for the echo server: `--connections` connections each send `--size` bytes,
//! read them back and check every byte, for `--seconds`; prints requests/s and p50/p99
//! latency.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:7878 \
//!     [--connections 64] [--size 64] [--seconds 10]
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Args {
    addr: SocketAddr,
    connections: usize,
    size: usize,
    seconds: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7878".parse().unwrap(),
        connections: 64,
        size: 64,
        seconds: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
            "--connections" => args.connections = value.parse().map_err(|e| bad(&e))?,
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            other => {
                return Err(format!(
                    "unknown flag {other} (--addr, --connections, --size, --seconds)"
                ));
            }
        }
    }
    if args.connections == 0 || args.size == 0 {
        return Err("--connections and --size must be positive".into());
    }
    Ok(args)
}

/// One connection's loop: send, read back, verify, record the round trip.
async fn connection(id: usize, args: &Args, until: Instant) -> Result<Vec<Duration>, String> {
    let mut stream = tokio::net::TcpStream::connect(args.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", args.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let mut back = vec![0u8; args.size];
    let mut round = 0u64;
    while Instant::now() < until {
        let payload: Vec<u8> = (0..args.size)
            .map(|i| (i as u64 ^ round ^ id as u64) as u8)
            .collect();
        let t0 = Instant::now();
        stream
            .write_all(&payload)
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream
            .read_exact(&mut back)
            .await
            .map_err(|e| format!("read: {e}"))?;
        latencies.push(t0.elapsed());
        if back != payload {
            return Err(format!(
                "connection {id}: echoed bytes differ in round {round}"
            ));
        }
        round += 1;
    }
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("error: {msg}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let results = rt.block_on(futures::future::join_all(
        (0..args.connections).map(|id| connection(id, &args, until)),
    ));
    let elapsed = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for result in results {
        match result {
            Ok(l) => all.extend(l),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    if all.is_empty() {
        eprintln!("error: no request completed");
        std::process::exit(1);
    }
    all.sort_unstable();
    println!(
        "{} connections x {} B for {:.1} s: {} requests, {:.0} requests/s, p50 {:.1} us, \
         p99 {:.1} us, every byte verified",
        args.connections,
        args.size,
        elapsed,
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.50).as_secs_f64() * 1e6,
        percentile(&all, 0.99).as_secs_f64() * 1e6,
    );
}
