//! tokio-rustls on the ring: the server's TLS runs over a ring socket through `RingIo`, the
//! client is plain tokio; a handshake with a self-signed certificate (rcgen), then echoed
//! round trips verified byte for byte, then close_notify.

mod common;

use std::rc::Rc;
use std::sync::Arc;

use common::on_tokio;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use safer_ring::Ring;
use safer_ring::io::RingIo;
use safer_ring::net::{ListenOptions, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A server config for `localhost` and the client config that trusts it.
fn configs() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, client)
}

#[test]
fn a_tls_server_on_a_ring_socket_handshakes_and_echoes() {
    let (server_config, client_config) = configs();
    let ring = Rc::new(Ring::new(16).unwrap());
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let messages: Vec<Vec<u8>> = (0..20u32)
        .map(|i| (0..(1 + i * 9_999)).map(|j| (i + j) as u8).collect())
        .collect();
    on_tokio::run(&ring, 60, async {
        let server = async {
            let (conn, _) = ring.accept(&listener).await.unwrap();
            let acceptor = TlsAcceptor::from(Arc::new(server_config));
            let mut tls = acceptor.accept(RingIo::new(&ring, conn)).await.unwrap();
            let mut buf = vec![0u8; 32 * 1024];
            let mut echoed = 0u64;
            loop {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break; // close_notify
                }
                tls.write_all(&buf[..n]).await.unwrap();
                tls.flush().await.unwrap();
                echoed += n as u64;
            }
            tls.shutdown().await.unwrap();
            echoed
        };
        let client = async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let connector = TlsConnector::from(Arc::new(client_config));
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            for msg in &messages {
                tls.write_all(msg).await.unwrap();
                let mut back = vec![0u8; msg.len()];
                tls.read_exact(&mut back).await.unwrap();
                assert!(
                    back == *msg,
                    "a message of {} bytes came back changed",
                    msg.len()
                );
            }
            tls.shutdown().await.unwrap();
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        };
        let (echoed, ()) = tokio::join!(server, client);
        let sent: usize = messages.iter().map(Vec::len).sum();
        assert_eq!(echoed, sent as u64);
    });
}
