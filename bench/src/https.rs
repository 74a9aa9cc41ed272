//! `https`: HTTPS/1.1 requests/s over loopback, keep-alive, a small file: the server of the
//! `https_server` example (`safer-ring serve`: rustls over the ring, kTLS where the kernel has
//! it) vs a plain tokio + tokio-rustls server written the usual way (a task per connection,
//! the file read by `std::fs::read`). Each server runs on a thread of this process with a
//! current-thread runtime; the same rustls load clients (N threads, one kept-alive connection
//! each, every body's length checked) hit both, interleaved round by round.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use safer_ring_cli::serve::{self, KtlsMode, ServeArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report::{Report, Row};
use crate::stats::{Samples, cpu_time};

const CONTENDERS: [&str; 2] = ["https_server", "tokio-rustls"];
const FILE: &str = "small.html";
const FILE_LEN: usize = 1024;

/// The served directory with the file, and the certificate and key both servers use.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("www"))?;
        std::fs::write(dir.path().join("www").join(FILE), vec![b'x'; FILE_LEN])?;
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(std::io::Error::other)?;
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem())?;
        std::fs::write(dir.path().join("key.pem"), made.key_pair.serialize_pem())?;
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.path("cert.pem")).expect("the certificate just written")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The tokio + tokio-rustls server on a thread; its address. It runs until the process ends.
fn tokio_server(site: &Site) -> SocketAddr {
    let key = PrivateKeyDer::from_pem_file(site.path("key.pem")).expect("the key just written");
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![site.cert()], key)
        })
        .expect("a server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let root = site.path("www");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, root) = (acceptor.clone(), root.clone());
                tokio::task::spawn_local(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = tokio_connection(tls, &root).await;
                    }
                });
            }
        });
    });
    addr
}

/// Keep-alive GETs on one connection: the head read up to its blank line, the file sent.
async fn tokio_connection(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    root: &Path,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            if tls.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("found above")
            + 4;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head
            .split(' ')
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/');
        let body = std::fs::read(root.join(path)).unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        tls.write_all(&out).await?;
        tls.flush().await?;
    }
}

/// `connections` clients for `secs`, each on one kept-alive connection; requests per second.
fn load(addr: SocketAddr, cert: &CertificateDer<'static>, connections: usize, secs: f64) -> u64 {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("the certificate");
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (config, done, count) = (
        Arc::new(config),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (config, done, count) = (config.clone(), done.clone(), count.clone());
            std::thread::spawn(move || client(addr, config, &done, &count))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    done.store(true, Ordering::Relaxed);
    clients
        .into_iter()
        .for_each(|c| c.join().expect("a load client"));
    count.load(Ordering::Relaxed)
}

fn client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    done: &AtomicBool,
    count: &AtomicU64,
) {
    let conn =
        rustls::ClientConnection::new(config, ServerName::try_from("localhost").expect("name"))
            .expect("client");
    let tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let req = format!("GET /{FILE} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut body = vec![0u8; FILE_LEN];
    while !done.load(Ordering::Relaxed) {
        tls.get_mut()
            .write_all(req.as_bytes())
            .expect("send a request");
        let mut line = String::new();
        let mut len = 0;
        loop {
            line.clear();
            tls.read_line(&mut line).expect("read the head");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("a length");
            }
        }
        assert_eq!(len, FILE_LEN, "the file's length");
        tls.read_exact(&mut body).expect("read the body");
        count.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn run(report: &mut Report, rounds: usize, quick: bool) -> std::io::Result<()> {
    let (connections, secs) = if quick { (32, 1.0) } else { (64, 3.0) };
    let site = Site::new()?;
    let args = ServeArgs {
        addr: "127.0.0.1:0".parse().expect("address"),
        dir: site.path("www"),
        cert: Some(site.path("cert.pem")),
        key: Some(site.path("key.pem")),
        ktls: KtlsMode::Auto,
    };
    let ring = serve::start(&args).map_err(|f| std::io::Error::other(f.to_string()))?;
    let ktls = if ring.ktls() { "kTLS" } else { "userspace TLS" };
    let addrs = [ring.addr(), tokio_server(&site)];
    let cert = site.cert();
    let mut samples = [Samples::default(), Samples::default()];
    for r in 0..rounds {
        for i in 0..CONTENDERS.len() {
            let c = (i + r) % CONTENDERS.len();
            let (cpu0, started) = (cpu_time(), Instant::now());
            let done = load(addrs[c], &cert, connections, secs).max(1) as f64;
            let (cpu, wall) = (cpu_time() - cpu0, started.elapsed());
            samples[c].rates.push(done / wall.as_secs_f64());
            samples[c].cpu_us.push(cpu.as_secs_f64() * 1e6 / done);
        }
    }
    let served = ring.stop();
    assert!(served.requests > 0, "the https_server answered: {served:?}");
    let case = format!("{connections} conns, 1 KiB");
    for (contender, s) in CONTENDERS.into_iter().zip(samples) {
        report.rows.push(Row {
            suite: "https",
            case: case.clone(),
            contender,
            samples: s,
        });
    }
    report.goal(
        "https https_server/tokio-rustls",
        (&case, "https_server"),
        (&case, "tokio-rustls"),
        0.9,
    );
    report.notes.push(format!(
        "https: GET of a 1 KiB file over loopback, keep-alive, {connections} rustls client threads for {secs} s a round; \
         `https_server` is the example's server (safer-ring serve, here with {ktls}), `tokio-rustls` a plain tokio + \
         tokio-rustls server; both on a current-thread runtime in a thread of this process, clients in the same process \
         (op/s is requests/s; CPU is the whole process per request)."
    ));
    Ok(())
}
