//! Connection churn for the `scale` suite: client threads that each, in a loop, connect,
//! echo 64 B once and close with a reset (`SO_LINGER` 0: no `TIME_WAIT`, so a few seconds
//! of churn cannot exhaust the loopback's ephemeral ports). What it measures is the
//! server's accept path: new connections per second and server CPU per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Server;

/// Client threads: enough to keep two server workers busy through connect latency.
const THREADS: usize = 8;

/// One churn measurement: connections/s and the server's CPU per connection (µs).
pub struct Churn {
    pub rate: f64,
    pub cpu_us: f64,
}

/// One connection's life: connect, echo a 64-byte message (checked), reset.
fn one(addr: SocketAddr, msg: &[u8; 64]) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(msg)?;
    let mut back = [0u8; 64];
    s.read_exact(&mut back)?;
    if &back != msg {
        return Err(io::Error::other("echo differs from what was sent"));
    }
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))
}

/// Runs the churn clients against `server` for `warmup` + `window`, measuring the window.
pub fn round(server: &Server, warmup: Duration, window: Duration) -> Result<Churn, String> {
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let addr = server.addr;
    let clients: Vec<_> = (0..THREADS)
        .map(|t| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || -> io::Result<()> {
                let msg = [t as u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    one(addr, &msg)?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(warmup);
    let (cpu0, done0, t0) = (
        server.cpu_ns(),
        done.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(window);
    let (cpu1, done1, wall) = (server.cpu_ns(), done.load(Ordering::Relaxed), t0.elapsed());
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client
            .join()
            .map_err(|_| "churn client panicked".to_string())?
            .map_err(|e| format!("churn client: {e}"))?;
    }
    let conns = done1 - done0;
    if conns == 0 {
        return Err(format!("no connection completed in {wall:?}"));
    }
    Ok(Churn {
        rate: conns as f64 / wall.as_secs_f64(),
        cpu_us: (cpu1 - cpu0) as f64 / 1e3 / conns as f64,
    })
}
