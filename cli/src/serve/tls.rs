//! The server's TLS: its certificate (PEM files, or self-signed by rcgen), the rustls config,
//! and for kTLS the handshake driven over the ring record by record — it never reads past the
//! client's last handshake record, so whatever follows stays in the socket for the kernel to
//! decrypt once the keys are installed.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConnection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use safer_ring::Ring;
use safer_ring::net::TcpStream;

use super::ktls;
use crate::Failure;

/// The rustls config: `--cert`/`--key` (PEM) or, without both, a self-signed certificate for
/// `localhost`; HTTP/1.1 by ALPN; secrets extractable (for kTLS).
pub fn config(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, Failure> {
    let (chain, key) =
        match (cert, key) {
            (Some(cert), Some(key)) => (load_chain(cert)?, load_key(key)?),
            (None, None) => self_signed()?,
            _ => return Err(Failure::Failed(
                "give both --cert and --key, or neither (a self-signed certificate for localhost)"
                    .into(),
            )),
        };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| {
            Failure::Failed(format!(
                "the certificate and key do not make a TLS config: {e}"
            ))
        })?;
    config.enable_secret_extraction = true;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let chain: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| Failure::io("cannot read the certificates (PEM) of", path, e))?;
    if chain.is_empty() {
        return Err(Failure::io(
            "no certificate (PEM) in",
            path,
            "it holds no CERTIFICATE block",
        ));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| Failure::io("cannot read the private key (PEM) of", path, e))
}

fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Failure> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| Failure::Failed(format!("cannot make a self-signed certificate: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    Ok((vec![made.cert.der().clone()], key))
}

/// Handshakes over the ring on `conn` (its ULP already `tls`), then installs the session's
/// keys in the kernel: from here on plaintext goes in and out of the socket.
pub async fn to_kernel(
    ring: &Ring,
    conn: &TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<()> {
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    handshake(ring, conn, &mut tls).await?;
    let version = tls
        .protocol_version()
        .ok_or_else(|| io::Error::other("no TLS version after the handshake"))?;
    let secrets = tls.dangerous_extract_secrets().map_err(io::Error::other)?;
    ktls::install(conn.as_fd(), version, secrets)
}

/// Runs rustls's handshake: what it has to send goes out by `send_all`, and what it reads
/// comes one record at a time. Done once the handshake is over and everything rustls wrote
/// (TLS 1.3 session tickets included) is sent.
async fn handshake(ring: &Ring, conn: &TcpStream, tls: &mut ServerConnection) -> io::Result<()> {
    loop {
        send_pending(ring, conn, tls).await?;
        if !tls.is_handshaking() {
            return Ok(());
        }
        let record = read_record(ring, conn).await?;
        tls.read_tls(&mut record.as_slice())?;
        if let Err(e) = tls.process_new_packets() {
            let _ = send_pending(ring, conn, tls).await; // the alert rustls queued
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

async fn send_pending(ring: &Ring, conn: &TcpStream, tls: &mut ServerConnection) -> io::Result<()> {
    let mut out = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut out)?;
    }
    if !out.is_empty() {
        ring.send_all(conn, out).await.0?;
    }
    Ok(())
}

/// One TLS record: its 5-byte header (type, version, length) and its body, read exactly.
async fn read_record(ring: &Ring, conn: &TcpStream) -> io::Result<Vec<u8>> {
    let header = recv_exact(ring, conn, Vec::with_capacity(5), 5).await?;
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    recv_exact(ring, conn, header, len).await
}

/// Appends exactly `n` more bytes to `out`: each receive asks for no more than is missing.
async fn recv_exact(
    ring: &Ring,
    conn: &TcpStream,
    mut out: Vec<u8>,
    n: usize,
) -> io::Result<Vec<u8>> {
    let want = out.len() + n;
    while out.len() < want {
        let room = vec![0u8; want - out.len()].into_boxed_slice();
        let (got, buf) = ring.recv(conn, room).await;
        match got? {
            0 => {
                let e = "the client closed the connection during the TLS handshake";
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, e));
            }
            got => out.extend_from_slice(&buf[..got]),
        }
    }
    Ok(out)
}
