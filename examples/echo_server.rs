//! A TCP echo server: one ring per thread (`SO_REUSEPORT`), multishot accept, multishot recv
//! into a provided-buffer ring, and each received chunk sent back as it is (no copy).
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 [--threads N]
//! ```
//!
//! Every connection is its own task on the ring's built-in executor ([`safer_ring::spawn`]),
//! so a slow or hostile client (one that sends and never reads, or resets mid-message) holds
//! up only itself. Ctrl-C (SIGINT) stops accepting, lets the rings shut down, and prints
//! connections and bytes served. It prints `listening on ADDR` once ready (the address tells the port when 0 was
//! asked for).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use safer_ring::net::{ListenOptions, TcpListener, TcpStream};
use safer_ring::{BufRing, Ring, spawn};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Totals across threads.
#[derive(Default)]
struct Served {
    connections: AtomicU64,
    bytes: AtomicU64,
}

struct Args {
    addr: SocketAddr,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7878".parse().unwrap(),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--threads" => {
                args.threads = value
                    .parse()
                    .map_err(|e| format!("--threads {value}: {e}"))?
            }
            other => return Err(format!("unknown flag {other} (--addr, --threads)")),
        }
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(args)
}

/// Bytes echoed on one connection, added to the totals when it ends (or its task is dropped
/// at shutdown): one shared atomic add per connection, not per request.
struct Tally {
    bytes: u64,
    served: Arc<Served>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.served.bytes.fetch_add(self.bytes, Ordering::Relaxed);
    }
}

/// Echoes one connection until the peer closes it or fails.
async fn echo(ring: Rc<Ring>, bufs: BufRing, conn: TcpStream, served: Arc<Served>) {
    let mut tally = Tally { bytes: 0, served };
    let mut chunks = ring.recv_multi(&conn, &bufs);
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else { return }; // reset or error: drop the connection
        let n = chunk.len() as u64;
        let (res, _chunk) = ring.send_all(&conn, chunk).await;
        if res.is_err() {
            return;
        }
        tally.bytes += n;
    }
}

/// One thread: its own ring, listener (same port, `SO_REUSEPORT`) and buffer ring; a task
/// per connection on the ring's built-in executor (one `io_uring_enter` submits and waits).
fn serve(
    addr: SocketAddr,
    served: Arc<Served>,
    mut stop: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<SocketAddr>,
) -> safer_ring::Result<()> {
    let ring = Rc::new(Ring::builder().entries(256).cq_entries(4096).build()?);
    let bufs = ring.register_buf_ring(1024, 4096)?;
    let options = ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    };
    let listener = TcpListener::bind(addr, options)?;
    let local_addr = listener.local_addr()?;
    ring.block_on(async {
        // Announced from inside `block_on`, so every fd the server keeps (the executor's
        // wake-up eventfd included) exists by then.
        let _ = ready.send(local_addr);
        let mut accepts = ring.accept_multi(&listener);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                conn = accepts.next() => match conn {
                    Some(Ok(conn)) => {
                        let _ = conn.set_nodelay(true);
                        served.connections.fetch_add(1, Ordering::Relaxed);
                        let (ring, bufs, served) = (ring.clone(), bufs.clone(), served.clone());
                        drop(spawn(echo(ring, bufs, conn, served)));
                    }
                    Some(Err(e)) => eprintln!("accept: {e}"),
                    None => break,
                },
            }
        }
    });
    // Returning from `block_on` dropped the connection tasks: their streams were cancelled
    // and parked in the ring, which finishes them when it drops.
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("error: {msg}\nusage: echo_server [--addr IP:PORT] [--threads N]");
            std::process::exit(2);
        }
    };
    let served = Arc::new(Served::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The first thread binds the asked-for address; the others bind the port it got.
    let first = {
        let (served, stop, ready) = (served.clone(), stop_rx.clone(), ready_tx.clone());
        std::thread::spawn(move || serve(args.addr, served, stop, ready))
    };
    let addr = match ready_rx.recv() {
        Ok(addr) => addr,
        Err(_) => {
            let err = first.join().expect("server thread panicked").unwrap_err();
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    };
    let mut threads = vec![first];
    for _ in 1..args.threads {
        let (served, stop, ready) = (served.clone(), stop_rx.clone(), ready_tx.clone());
        threads.push(std::thread::spawn(move || serve(addr, served, stop, ready)));
        let _ = ready_rx.recv();
    }
    // Register for SIGINT before saying we are ready, so everything the server holds open
    // exists by then (tests compare its fds before and after a load).
    let signal_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut sigint = signal_rt
        .block_on(async { signal(SignalKind::interrupt()) })
        .expect("SIGINT handler");
    println!("listening on {addr} with {} thread(s)", args.threads);
    signal_rt.block_on(sigint.recv());
    let _ = stop_tx.send(true);
    for t in threads {
        if let Err(e) = t.join().expect("server thread panicked") {
            eprintln!("server thread: {e}");
        }
    }
    println!(
        "shut down cleanly: served {} connections, {} bytes echoed",
        served.connections.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed)
    );
}
