//! Many connections at once, from outside the server: its memory, fds and CPU through
//! `/proc/PID`, and clients that hold thousands of connections.
//!
//! `safer-ring-bench conns [--connections N|max] [--servers K] [--per-client N] [--size B]`
//! starts `echo_server --threads 1` (K of them on one port with `SO_REUSEPORT`), opens N
//! connections from client processes of at most `--per-client` connections each (every
//! process stays under its fd limit; each binds its own loopback source address and picks
//! its ports, so none runs out of ephemeral ports), checks that the servers hold an fd for
//! every one, has each echo a distinct payload once and checks every byte, measures the
//! servers' RSS and their CPU over 2 s while all sit idle, closes them and checks the
//! servers' fds return to what they were. `max`: as many as one server's `RLIMIT_NOFILE`
//! leaves room for.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::echo;

/// Raises this process's soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let soft = lim.rlim_cur;
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads a live local rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return soft;
        }
    }
    lim.rlim_cur
}

/// A process's resident set (`VmRSS` of `/proc/PID/status`), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many fds a process has open.
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// A process's soft open-file limit (`Max open files` of `/proc/PID/limits`).
pub fn fd_limit(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU ticks of a process so far (`/proc/PID/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks per second (`/proc/PID/stat` counts in these).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Waits up to `patience` until `ok(fds of pid)`; returns the last count.
pub fn wait_for_fds(pid: u32, patience: Duration, ok: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let n = fd_count(pid).unwrap_or(0);
        if ok(n) || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connection `id`'s payload of `size` bytes: its id, then a pattern of its own.
fn payload(id: u64, size: usize) -> Vec<u8> {
    let mut data: Vec<u8> = (0..size)
        .map(|i| (i as u64 ^ (i as u64 >> 8) ^ id.wrapping_mul(31)) as u8)
        .collect();
    let tag = id.to_le_bytes();
    let n = tag.len().min(size);
    data[..n].copy_from_slice(&tag[..n]);
    data
}

/// Opens `n` connections to `addr` one after another; each echoes a 16-byte message once
/// (checked), so the server has set up everything a connection holds, then stays idle.
pub fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    (0..n)
        .map(|i| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("connection {i}: connect: {e}"))?;
            let msg = payload(i as u64, 16);
            let mut back = [0u8; 16];
            s.set_nodelay(true)
                .and_then(|()| s.set_read_timeout(Some(Duration::from_secs(5))))
                .and_then(|()| s.write_all(&msg))
                .and_then(|()| s.read_exact(&mut back))
                .map_err(|e| format!("connection {i}: echo: {e}"))?;
            if back[..] != msg[..] {
                return Err(format!("connection {i}: echoed bytes differ"));
            }
            Ok(s)
        })
        .collect()
}

/// Connects in flight at once in one client process.
const CONNECTING: usize = 256;

/// Connection `i` of a client process binds its source address at port `PORT_BASE + i`:
/// below the ephemeral range, and chosen, not searched for (with tens of thousands of
/// sockets bound, `bind` to port 0 spends seconds looking for a port free on this address).
const PORT_BASE: u16 = 10_000;

/// The most connections one client process opens (its source ports stay below 32,768).
const MAX_PER_CLIENT: usize = 20_000;

/// The largest payload: the client sends it all before reading the echo, so it must fit in
/// the sockets' buffers.
const MAX_SIZE: usize = 16 * 1024;

/// `conns-client --addr A --src IP --first ID --connections N --size B`: one client process.
/// Prints `connected N`, waits for `echo` on stdin, echoes a payload on every connection and
/// prints `echoed BYTES`, waits for `close`, closes them all and prints `closed`.
pub fn client_main(args: &[String]) -> Result<(), String> {
    let (mut addr, mut src, mut first, mut n, mut size) = (None, Ipv4Addr::LOCALHOST, 0, 0, 0);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => addr = Some(value.parse::<SocketAddr>().map_err(|e| bad(&e))?),
            "--src" => src = value.parse().map_err(|e| bad(&e))?,
            "--first" => first = value.parse().map_err(|e| bad(&e))?,
            "--connections" => n = value.parse().map_err(|e| bad(&e))?,
            "--size" => size = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    let limit = raise_fd_limit();
    if n > MAX_PER_CLIENT {
        return Err(format!("at most {MAX_PER_CLIENT} connections per client"));
    }
    if (n as u64) + 64 > limit {
        return Err(format!(
            "{n} connections need {} fds; RLIMIT_NOFILE allows {limit}",
            n + 64
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut conns = Vec::with_capacity(n);
    rt.block_on(async {
        for start in (0..n).step_by(CONNECTING) {
            let batch: Vec<_> = (start..n.min(start + CONNECTING))
                .map(|i| {
                    let port = PORT_BASE + i as u16;
                    tokio::spawn(async move {
                        let socket = tokio::net::TcpSocket::new_v4()?;
                        socket.set_reuseaddr(true)?; // past a TIME_WAIT of an earlier run
                        socket.bind(SocketAddrV4::new(src, port).into())?;
                        let s = socket.connect(addr).await?;
                        s.set_nodelay(true)?;
                        io::Result::Ok(s)
                    })
                })
                .collect();
            for (i, task) in batch.into_iter().enumerate() {
                let s = task
                    .await
                    .map_err(|e| format!("connect task: {e}"))?
                    .map_err(|e| format!("connection {}: connect: {e}", start + i))?;
                conns.push(s);
            }
        }
        Ok::<_, String>(())
    })?;
    println!("connected {n}");
    wait_for_line("echo")?;
    let echoed = rt.block_on(async {
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                let id = first + i as u64;
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let data = payload(id, size);
                    let mut back = vec![0u8; size];
                    s.write_all(&data).await?;
                    s.read_exact(&mut back).await?;
                    if back != data {
                        return Err(io::Error::other("echoed bytes differ"));
                    }
                    io::Result::Ok((s, size))
                })
            })
            .collect();
        let mut conns = Vec::with_capacity(tasks.len());
        let mut bytes = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            let (s, b) = task
                .await
                .map_err(|e| format!("echo task: {e}"))?
                .map_err(|e| format!("connection {}: echo: {e}", first + i as u64))?;
            conns.push(s);
            bytes += b;
        }
        Ok::<_, String>((conns, bytes))
    })?;
    let (conns, bytes) = echoed;
    println!("echoed {bytes}");
    wait_for_line("close")?;
    drop(conns);
    println!("closed");
    Ok(())
}

fn wait_for_line(want: &str) -> Result<(), String> {
    let mut line = String::new();
    io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    if line.trim() == want {
        Ok(())
    } else {
        Err(format!("expected `{want}` on stdin, got {line:?}"))
    }
}

/// A client process, killed if still running when dropped.
struct Client {
    child: Child,
    stdin: ChildStdin,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for every client to print a line starting with `prefix`; returns the numbers after it.
fn expect_all(
    lines: &mpsc::Receiver<(usize, String)>,
    clients: usize,
    prefix: &str,
    patience: Duration,
) -> Result<Vec<u64>, String> {
    let deadline = Instant::now() + patience;
    let mut got = vec![None; clients];
    while got.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        let (k, line) = lines
            .recv_timeout(left)
            .map_err(|_| format!("clients did not all say `{prefix}` within {patience:?}"))?;
        let rest = line
            .strip_prefix(prefix)
            .ok_or(format!("client {k}: {line:?} (expected `{prefix} ...`)"))?;
        got[k] = Some(rest.trim().parse().unwrap_or(0));
    }
    Ok(got.into_iter().map(Option::unwrap_or_default).collect())
}

struct Args {
    connections: Option<usize>,
    servers: usize,
    per_client: usize,
    size: usize,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        connections: Some(10_000),
        servers: 1,
        per_client: 9_000,
        size: 4096,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || -> Result<usize, String> {
            value.parse().map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--connections" if value == "max" => a.connections = None,
            "--connections" => a.connections = Some(num()?),
            "--servers" => a.servers = num()?,
            "--per-client" => a.per_client = num()?,
            "--size" => a.size = num()?,
            other => {
                return Err(format!(
                    "unknown flag {other} (--connections N|max, --servers K, --per-client N, --size B)"
                ));
            }
        }
    }
    if a.servers == 0 || a.per_client == 0 || a.per_client > MAX_PER_CLIENT {
        return Err(format!(
            "--servers must be at least 1, --per-client 1 to {MAX_PER_CLIENT}"
        ));
    }
    if a.size == 0 || a.size > MAX_SIZE {
        return Err(format!("--size must be 1 to {MAX_SIZE}"));
    }
    if a.servers > 1 && a.connections.is_none() {
        return Err("--connections max needs --servers 1 (connections spread by hash)".into());
    }
    Ok(a)
}

/// `safer-ring-bench conns ...`: see the module docs.
pub fn main(args: &[String]) -> Result<(), String> {
    let args = parse(args)?;
    let example = echo::example_binary()?;
    let first = echo::start_at(None, &example, "127.0.0.1:0")?;
    let addr = first.addr;
    let mut servers = vec![first];
    for _ in 1..args.servers {
        servers.push(echo::start_at(None, &example, &addr.to_string())?);
    }
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let base_fds: Vec<usize> = pids.iter().map(|&p| fd_count(p).unwrap_or(0)).collect();
    let base_rss: Vec<u64> = pids.iter().map(|&p| rss_kib(p).unwrap_or(0)).collect();
    let limit = fd_limit(pids[0]).ok_or("cannot read the server's fd limit")?;
    let n = args
        .connections
        .unwrap_or((limit as usize).saturating_sub(base_fds[0]));
    let procs = n.div_ceil(args.per_client).max(1);
    println!(
        "{} echo_server --threads 1 on {addr} (fd limit {limit}, {} fds each at start); \
         {n} connections from {procs} client processes, {} B each",
        args.servers, base_fds[0], args.size
    );

    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let (tx, lines) = mpsc::channel();
    let mut clients = Vec::new();
    let t0 = Instant::now();
    for k in 0..procs {
        let (from, to) = (k * n / procs, (k + 1) * n / procs);
        let src = Ipv4Addr::new(127, 0, (k / 250) as u8, (k % 250 + 2) as u8);
        let mut child = Command::new(&exe)
            .args(["conns-client", "--addr", &addr.to_string()])
            .args(["--src", &src.to_string(), "--first", &from.to_string()])
            .args(["--connections", &(to - from).to_string()])
            .args(["--size", &args.size.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn client: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take().expect("piped");
        clients.push(Client { child, stdin });
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((k, line)).is_err() {
                    break;
                }
            }
        });
    }
    let tell = |clients: &mut [Client], what: &str| -> Result<(), String> {
        clients.iter_mut().try_for_each(|c| {
            writeln!(c.stdin, "{what}").map_err(|e| format!("telling a client to {what}: {e}"))
        })
    };
    let patience = Duration::from_secs(120);
    expect_all(&lines, procs, "connected", patience)?;
    let held = |p: usize| fd_count(pids[p]).unwrap_or(0) - base_fds[p];
    let total_held = || (0..pids.len()).map(held).sum::<usize>();
    let deadline = Instant::now() + Duration::from_secs(30);
    while total_held() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let connected = t0.elapsed();
    let per_server: Vec<usize> = (0..pids.len()).map(held).collect();
    if total_held() != n {
        return Err(format!(
            "the servers hold {per_server:?} connections, not {n} in all"
        ));
    }
    println!(
        "all {n} connected in {:.2} s; the servers hold an fd for each: {per_server:?}",
        connected.as_secs_f64()
    );

    let t1 = Instant::now();
    tell(&mut clients, "echo")?;
    let bytes: u64 = expect_all(&lines, procs, "echoed", patience)?.iter().sum();
    let echo_time = t1.elapsed();
    if bytes != (n * args.size) as u64 {
        return Err(format!("{bytes} bytes echoed, not {}", n * args.size));
    }
    println!(
        "every connection echoed {} B at once: {bytes} bytes verified in {:.2} s",
        args.size,
        echo_time.as_secs_f64()
    );

    std::thread::sleep(Duration::from_millis(300));
    for (p, &pid) in pids.iter().enumerate() {
        let rss = rss_kib(pid).unwrap_or(0);
        println!(
            "server {p}: RSS {} KiB -> {rss} KiB with {} connections: {:.0} B per connection",
            base_rss[p],
            per_server[p],
            (rss.saturating_sub(base_rss[p]) * 1024) as f64 / per_server[p].max(1) as f64
        );
    }
    let idle = Duration::from_secs(2);
    let ticks0: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p).unwrap_or(0)).collect();
    std::thread::sleep(idle);
    let ticks: Vec<u64> = pids
        .iter()
        .zip(&ticks0)
        .map(|(&p, t)| cpu_ticks(p).unwrap_or(0) - t)
        .collect();
    println!(
        "idle: {ticks:?} CPU ticks ({} per second) in {idle:?} with all {n} connections open",
        ticks_per_second()
    );

    let t2 = Instant::now();
    tell(&mut clients, "close")?;
    expect_all(&lines, procs, "closed", patience)?;
    let back: Vec<usize> = pids
        .iter()
        .zip(&base_fds)
        .map(|(&p, &b)| wait_for_fds(p, Duration::from_secs(30), |now| now <= b))
        .collect();
    if back != base_fds {
        return Err(format!(
            "after close the servers hold {back:?} fds, not {base_fds:?}"
        ));
    }
    println!(
        "closed: the servers' fds are back to {base_fds:?} after {:.2} s",
        t2.elapsed().as_secs_f64()
    );
    drop(clients);
    for (p, mut s) in servers.into_iter().enumerate() {
        let out = s.stop();
        println!("server {p}: {}", out.trim());
    }
    Ok(())
}
