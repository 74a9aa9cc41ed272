//! io_uring from tokio's multi-thread runtime: an echo server whose accept loop is tokio's
//! (`#[tokio::main]`, default flavor) and whose socket I/O runs on a `RingPool` — each
//! accepted connection is handed to a ring worker with `pool.spawn`, from whichever tokio
//! thread accepted it.
//!
//! ```text
//! cargo run --release --example tokio_multi                      # self-test, then exit
//! cargo run --release --example tokio_multi -- --addr 127.0.0.1:7878 [--workers N]
//! ```
//!
//! The self-test serves 64 tokio clients at once on an ephemeral port, checks every echoed
//! byte, and prints `tokio_multi: C connections, B bytes echoed by W ring workers`.

use std::net::SocketAddr;
use std::sync::Arc;

use safer_ring::RingPool;
use safer_ring::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "usage: tokio_multi [--addr ADDR] [--workers N]";

struct Args {
    addr: Option<SocketAddr>,
    workers: usize,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        addr: None,
        workers: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                args.addr = Some(
                    v.parse()
                        .map_err(|_| format!("--addr: not an address: {v}"))?,
                );
            }
            "--workers" => {
                let v = value()?;
                args.workers = v
                    .parse()
                    .map_err(|_| format!("--workers: not a number: {v}"))?;
            }
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unexpected argument {flag}")),
        }
    }
    Ok(Some(args))
}

/// Echoes one connection on the ring worker it was handed to; returns the bytes echoed.
async fn echo(ring: &safer_ring::Ring, conn: TcpStream) -> u64 {
    let mut buf = Vec::with_capacity(16 << 10);
    let mut total = 0;
    loop {
        let (n, back) = ring.recv(&conn, buf).await;
        match n {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
        let (sent, back) = ring.send_all(&conn, back).await;
        if sent.is_err() {
            return total;
        }
        buf = back;
        buf.clear();
    }
}

/// Accepts on tokio, serves on the pool; stops after `limit` connections if given.
async fn serve(
    listener: tokio::net::TcpListener,
    pool: Arc<RingPool>,
    limit: Option<usize>,
) -> std::io::Result<u64> {
    let mut served = Vec::new();
    while limit.is_none_or(|limit| served.len() < limit) {
        let (stream, _) = listener.accept().await?;
        let std_stream = stream.into_std()?;
        std_stream.set_nonblocking(false)?; // the ring does the waiting
        served.push(
            pool.spawn(move |ring| async move { echo(&ring, TcpStream::from(std_stream)).await }),
        );
    }
    let mut bytes = 0;
    for handle in served {
        bytes += handle.await.map_err(std::io::Error::other)?;
    }
    Ok(bytes)
}

/// 64 clients at once, each sending 64 KiB in pieces and checking every byte it gets back.
async fn clients(addr: SocketAddr, connections: usize) -> std::io::Result<()> {
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                let msg: Vec<u8> = (0..64 << 10).map(|i| (i * 7 + c) as u8).collect();
                let mut back = vec![0u8; msg.len()];
                for (piece, into) in msg.chunks(4096).zip(back.chunks_mut(4096)) {
                    stream.write_all(piece).await?;
                    stream.read_exact(into).await?;
                }
                if back != msg {
                    return Err(std::io::Error::other(format!("client {c}: echo differs")));
                }
                Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("tokio_multi: {msg}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("tokio_multi: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let pool =
        RingPool::new(args.workers).map_err(|e| format!("cannot start the ring pool: {e}"))?;
    let pool = Arc::new(pool);
    let addr = args
        .addr
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("an address"));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if args.addr.is_some() {
        println!(
            "tokio_multi: listening on {local}, I/O on {} ring workers",
            args.workers
        );
        return serve(listener, pool, None)
            .await
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let connections = 64;
    let server = tokio::spawn(serve(listener, pool.clone(), Some(connections)));
    clients(local, connections)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = server
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let per_worker: Vec<u64> = pool.stats().iter().map(|s| s.finished).collect();
    // Shutting the pool down waits for its threads: off the async threads.
    let _ = tokio::task::spawn_blocking(move || drop(pool)).await;
    println!(
        "tokio_multi: {connections} connections, {bytes} bytes echoed by {} ring workers \
         (connections per worker: {per_worker:?})",
        args.workers
    );
    Ok(())
}
