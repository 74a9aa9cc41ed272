//! `safer-ring serve`: real HTTPS clients — a rustls client and `curl --insecure` — against
//! the server, in process (so the qemu guest can run it without the binary) and as the
//! binary. Under the guest's Linux 6.1 (`SAFER_RING_GUEST_KERNEL=1`, `.ci/qemu/run.sh`) kTLS
//! is required: every connection's ULP must read back `tls`; on this host (no `CONFIG_TLS`)
//! the userspace fallback is.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fnv;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use safer_ring_cli::serve::{self, KtlsMode, ServeArgs};

/// A directory to serve, with a certificate and key for `localhost` beside it.
struct Site {
    dir: tempfile::TempDir,
    files: Vec<(String, Vec<u8>)>,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir(&www).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.key_pair.serialize_pem()).unwrap();
        let sizes = [
            ("small.txt", 100),
            ("page.html", 20_000),
            ("large.bin", 1_000_003),
        ];
        let files = sizes
            .iter()
            .map(|&(name, len)| {
                let data: Vec<u8> = (0..len as u32).map(|i| (i * 31 + i / 7) as u8).collect();
                std::fs::write(www.join(name), &data).unwrap();
                (format!("/{name}"), data)
            })
            .collect();
        Self { dir, files }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(&self, ktls: KtlsMode) -> ServeArgs {
        ServeArgs {
            addr: "127.0.0.1:0".parse().unwrap(),
            dir: self.path("www"),
            cert: Some(self.path("cert.pem")),
            key: Some(self.path("key.pem")),
            ktls,
        }
    }

    /// A rustls client config trusting the site's certificate.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let cert = CertificateDer::from_pem_file(self.path("cert.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

fn connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> BufReader<Tls> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, tcp))
}

/// Sends `GET path` (or another `method`) on a kept-alive connection; the status and body.
fn request(tls: &mut BufReader<Tls>, method: &str, path: &str) -> (u16, Vec<u8>) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tls.get_mut().write_all(req.as_bytes()).unwrap();
    let mut status_line = String::new();
    tls.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0;
    loop {
        let mut line = String::new();
        tls.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; if method == "HEAD" { 0 } else { len }];
    tls.read_exact(&mut body).unwrap();
    (status, body)
}

/// `clients` connections at once, each asking for every file `rounds` times on one
/// connection (keep-alive), checking every body byte for byte; the requests made.
fn load(site: &Site, addr: SocketAddr, clients: usize, rounds: usize) -> u64 {
    let config = site.client();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (config, files) = (config.clone(), site.files.clone());
            std::thread::spawn(move || {
                let mut tls = connect(addr, &config);
                for r in 0..rounds {
                    let (path, data) = &files[(c + r) % files.len()];
                    let (status, body) = request(&mut tls, "GET", path);
                    assert_eq!(status, 200, "{path}");
                    assert!(
                        fnv(&body) == fnv(data) && body.len() == data.len(),
                        "{path} differs"
                    );
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    (clients * rounds) as u64
}

fn in_guest() -> bool {
    std::env::var_os("SAFER_RING_GUEST_KERNEL").is_some_and(|v| v == "1")
}

#[test]
fn two_hundred_concurrent_keep_alive_clients_get_every_byte_and_ktls_is_taken_where_the_kernel_has_it()
 {
    let site = Site::new();
    let running = serve::start(&site.args(KtlsMode::Auto)).unwrap();
    if in_guest() {
        assert!(
            running.ktls(),
            "the guest kernel has the tls ULP: kTLS must be used"
        );
    } else {
        assert!(
            !running.ktls(),
            "this host has no kTLS (CONFIG_TLS unset): the fallback is expected"
        );
    }
    // The guest runs under software emulation, some hundred times slower: a lighter load.
    let (clients, rounds) = if in_guest() { (24, 3) } else { (200, 4) };
    let requests = load(&site, running.addr(), clients, rounds);
    let served = running.stop();
    assert_eq!(served.requests, requests, "{served:?}");
    assert_eq!(
        served.connections, clients as u64,
        "keep-alive: one connection per client, {served:?}"
    );
    let expect_ktls = if in_guest() { clients as u64 } else { 0 };
    assert_eq!(
        served.ktls_connections, expect_ktls,
        "connections whose ULP read back tls: {served:?}"
    );
}

#[test]
fn refuses_dot_dot_missing_files_and_other_methods_and_answers_head() {
    let site = Site::new();
    std::fs::write(site.path("secret.txt"), b"outside").unwrap();
    let running = serve::start(&site.args(KtlsMode::Auto)).unwrap();
    let mut tls = connect(running.addr(), &site.client());
    assert_eq!(request(&mut tls, "GET", "/nothing-here").0, 404);
    assert_eq!(request(&mut tls, "HEAD", "/large.bin"), (200, Vec::new()));
    assert_eq!(
        request(&mut tls, "GET", "/small%2etxt").1,
        site.files[0].1,
        "percent-decoded"
    );
    assert_eq!(request(&mut tls, "GET", "/../secret.txt").0, 400, "..");
    let mut tls = connect(running.addr(), &site.client()); // 400 closed the last one
    assert_eq!(request(&mut tls, "DELETE", "/small.txt").0, 405);
    // A 405 closes the connection, after it is counted: the end of the stream says the
    // server has counted all five (the client can read a response before that).
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{} bytes after the 405", rest.len());
    drop(tls);
    assert_eq!(running.stop().requests, 5);
}

#[test]
fn the_binary_serves_curl_says_it_fell_back_and_reports_at_sigint() {
    let site = Site::new();
    let dir = site.path("www");
    let (child, line) = common::spawn_listening(
        "serve",
        &["--addr", "127.0.0.1:0", "--dir", dir.to_str().unwrap()],
    );
    assert!(
        line.starts_with("listening on 127.0.0.1:") && line.contains("(kTLS: no)"),
        "{line}"
    );
    let addr = line.split(' ').nth(2).unwrap();
    let url = |name: &str| format!("https://{addr}/{name}");
    let curl = Command::new("curl")
        .args(["--insecure", "--silent", "--show-error", "--fail"])
        .args([url("large.bin"), url("page.html"), url("small.txt")]) // one connection, kept alive
        .output()
        .expect("curl runs (Debian package curl; .ci/run installs it)");
    assert!(
        curl.status.success(),
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let expected: Vec<u8> = [2, 1, 0]
        .iter()
        .flat_map(|&i| site.files[i].1.clone())
        .collect();
    assert!(curl.stdout == expected, "curl got other bytes");
    // SAFETY: kill(2) on our child's pid, which it still is (not yet waited for).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("stopped: served 3 requests on 1 connections, 0 of them with kTLS"),
        "{stdout}"
    );
    assert_eq!(
        stderr.matches(serve::NO_KTLS).count(),
        1,
        "one fallback line: {stderr}"
    );
}

#[test]
fn startup_errors_exit_1_within_a_second_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let started = Instant::now();
    let out = common::run(&["serve", "--addr", &addr, "--dir", "/"]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("address in use"),
        "{}",
        common::stderr(&out)
    );
    let out = common::run(&["serve", "--addr", "127.0.0.1:0", "--dir", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("cannot serve /no/such/dir"),
        "{}",
        common::stderr(&out)
    );
    let help = common::run(&["serve", "--help"]);
    assert!(common::stdout(&help).contains("Exit codes:"));
}
