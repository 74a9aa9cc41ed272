//! One connection: TLS by the kernel (kTLS: the handshake over the ring, then plaintext
//! through the ring's `recv` and `send`) or by rustls in user space (tokio-rustls over the
//! ring's `RingIo` adapter), then HTTP.

use std::cell::Cell;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use safer_ring::Ring;
use safer_ring::io::RingIo;
use safer_ring::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::http::{self, Transport};
use super::{ktls, tls};

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub ring: Rc<Ring>,
    pub root: PathBuf,
    pub config: Arc<rustls::ServerConfig>,
    /// Whether connections get kTLS (asked for, and the kernel has the `tls` ULP).
    pub ktls: bool,
    pub requests: Cell<u64>,
    pub connections: Cell<u64>,
    pub ktls_connections: Cell<u64>,
}

/// Bytes of one kernel receive.
const RECV: usize = 16 * 1024;

/// A kTLS connection: the kernel decrypts what `recv` returns and encrypts what `send` sends.
struct Kernel<'a> {
    ring: &'a Ring,
    conn: TcpStream,
    spare: Vec<u8>,
}

impl Transport for Kernel<'_> {
    async fn read(&mut self, into: &mut Vec<u8>) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.spare);
        let (res, buf) = self.ring.recv(&self.conn, buf).await;
        self.spare = buf;
        match res {
            Ok(n) => {
                into.extend_from_slice(&self.spare[..n]);
                Ok(n)
            }
            // A record that is not application data (an alert: close_notify or an error;
            // or a post-handshake message): a plain recv cannot take it. The connection ends.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// `send` in a loop, without `MSG_WAITALL` (kTLS refuses it with `EOPNOTSUPP`).
    async fn send(&mut self, mut data: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        while !data.is_empty() {
            let (res, buf) = self.ring.send(&self.conn, data).await;
            data = buf;
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), data),
                Ok(n) => drop(data.drain(..n)),
                Err(e) => return (Err(e.into()), data),
            }
        }
        (Ok(()), data)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(()) // every send completed
    }
}

/// Userspace TLS: rustls over the ring's `RingIo` adapter.
impl Transport for TlsStream<RingIo<TcpStream>> {
    async fn read(&mut self, into: &mut Vec<u8>) -> io::Result<usize> {
        into.reserve(RECV);
        self.read_buf(into).await
    }

    async fn send(&mut self, data: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        (self.write_all(&data).await, data)
    }

    async fn flush(&mut self) -> io::Result<()> {
        AsyncWriteExt::flush(self).await
    }
}

/// Serves one connection to its end; errors other than the client going away are printed.
pub(crate) async fn serve(shared: Rc<Shared>, conn: TcpStream) {
    shared.connections.set(shared.connections.get() + 1);
    let _ = conn.set_nodelay(true);
    let peer = conn
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let served = match shared.ktls.then(|| ktls::set_tls_ulp(conn.as_fd())) {
        Some(Ok(())) => kernel_tls(&shared, conn).await,
        Some(Err(e)) => {
            eprintln!(
                "kTLS: cannot set the tls ULP on the connection from {peer}: {e}; serving it with userspace rustls"
            );
            userspace_tls(&shared, conn).await
        }
        None => userspace_tls(&shared, conn).await,
    };
    match served {
        Err(e) if !client_left(&e) => eprintln!("connection from {peer}: {e}"),
        _ => {}
    }
}

async fn kernel_tls(shared: &Shared, conn: TcpStream) -> io::Result<()> {
    tls::to_kernel(&shared.ring, &conn, shared.config.clone()).await?;
    if ktls::ulp(conn.as_fd())? == "tls" {
        shared
            .ktls_connections
            .set(shared.ktls_connections.get() + 1);
    }
    let mut kernel = Kernel {
        ring: &shared.ring,
        conn,
        spare: Vec::with_capacity(RECV),
    };
    http::serve(&mut kernel, &shared.ring, &shared.root, || {
        count(&shared.requests)
    })
    .await
}

async fn userspace_tls(shared: &Shared, conn: TcpStream) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(shared.config.clone());
    let mut tls = acceptor.accept(RingIo::new(&shared.ring, conn)).await?;
    http::serve(&mut tls, &shared.ring, &shared.root, || {
        count(&shared.requests)
    })
    .await?;
    tls.shutdown().await // close_notify
}

fn count(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// Whether `e` only says the client closed or reset the connection.
fn client_left(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}
