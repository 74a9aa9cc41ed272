//! The tokio I/O adapters (`safer_ring::io::RingIo`) against the real kernel over loopback:
//! `tokio::io::copy` of 256 MiB byte-exact, `BufReader::lines`, a file's `AsyncBufRead` and
//! `AsyncSeek`, a read cancelled mid-flight that loses nothing, a write error that flush
//! reports, back-pressure that stops at a bound, and a drop with writes in flight.

mod common;

use std::future::IntoFuture;
use std::io::{ErrorKind, SeekFrom};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::on_tokio;
use safer_ring::io::RingIo;
use safer_ring::net::{ListenOptions, TcpListener, TcpStream};
use safer_ring::{File, Ring};
use tokio::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader,
};

const MIB: u64 = 1 << 20;

/// A deterministic byte stream: a pseudo-random block of prime length, repeated, so that no
/// buffer size lines up with it and a lost, doubled or reordered chunk shows.
struct Pattern(Vec<u8>);

impl Pattern {
    fn new() -> Self {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        Self(
            (0..1_000_003)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        )
    }

    /// Up to `len` bytes of the stream from `offset` on.
    fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % self.0.len() as u64) as usize;
        &self.0[start..self.0.len().min(start + len)]
    }

    /// Whether `data` is the stream's bytes from `offset` on.
    fn matches(&self, mut offset: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let want = self.at(offset, data.len());
            if data[..want.len()] != *want {
                return false;
            }
            offset += want.len() as u64;
            data = &data[want.len()..];
        }
        true
    }

    /// Writes the stream's first `total` bytes to `out`.
    async fn write_to(&self, out: &mut (impl AsyncWrite + Unpin), total: u64) {
        let mut sent = 0;
        while sent < total {
            let chunk = self.at(sent, (total - sent).min(64 * 1024) as usize);
            out.write_all(chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A connected pair on `ring`: (the client's stream, the accepted stream).
async fn ring_pair(ring: &Ring) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = futures::join!(
        ring.connect(addr).into_future(),
        ring.accept(&listener).into_future()
    );
    (client.unwrap(), accepted.unwrap().0)
}

#[test]
fn tokio_copy_of_256_mib_between_ring_sockets_is_byte_exact() {
    let total = 256 * MIB;
    let ring = Rc::new(Ring::new(64).unwrap());
    let pattern = Pattern::new();
    let copied = on_tokio::run(&ring, 120, async {
        let ring_listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
        let sink = tokio::net::TcpListener::bind(loopback()).await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        // plain tokio → ring socket → tokio::io::copy → ring socket → plain tokio
        let produce = async {
            let mut out = tokio::net::TcpStream::connect(ring_listener.local_addr().unwrap())
                .await
                .unwrap();
            pattern.write_to(&mut out, total).await;
            out.shutdown().await.unwrap();
        };
        let relay = async {
            let (from, _) = ring.accept(&ring_listener).await.unwrap();
            let to = ring.connect(sink_addr).await.unwrap();
            let (mut from, mut to) = (RingIo::new(&ring, from), RingIo::new(&ring, to));
            let n = tokio::io::copy(&mut from, &mut to).await.unwrap();
            to.shutdown().await.unwrap();
            n
        };
        let consume = async {
            let (mut conn, _) = sink.accept().await.unwrap();
            let (mut seen, mut buf) = (0u64, vec![0u8; 256 * 1024]);
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    return seen;
                }
                assert!(pattern.matches(seen, &buf[..n]), "bytes differ at {seen}");
                seen += n as u64;
            }
        };
        let ((), copied, seen) = tokio::join!(produce, relay, consume);
        assert_eq!(seen, total, "the sink got every byte");
        copied
    });
    assert_eq!(copied, total);
}

#[test]
fn buf_reader_lines_over_a_ring_socket_yields_every_line() {
    let ring = Rc::new(Ring::new(16).unwrap());
    on_tokio::run(&ring, 30, async {
        let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
        let addr = listener.local_addr().unwrap();
        let send = async {
            let mut out = tokio::net::TcpStream::connect(addr).await.unwrap();
            for i in 0..10_000 {
                out.write_all(format!("line {i} {}\n", "x".repeat(i % 97)).as_bytes())
                    .await
                    .unwrap();
            }
        };
        let receive = async {
            let (conn, _) = ring.accept(&listener).await.unwrap();
            let mut lines = BufReader::new(RingIo::new(&ring, conn)).lines();
            let mut count = 0;
            while let Some(line) = lines.next_line().await.unwrap() {
                assert_eq!(line, format!("line {count} {}", "x".repeat(count % 97)));
                count += 1;
            }
            count
        };
        let ((), count) = tokio::join!(send, receive);
        assert_eq!(count, 10_000);
    });
}

#[test]
fn a_ring_file_serves_async_buf_read_and_seek() {
    let ring = Rc::new(Ring::new(16).unwrap());
    let std_file = tempfile::tempfile().unwrap();
    let text: String = (0..5_000).map(|i| format!("row {i}\n")).collect();
    std::io::Write::write_all(&mut &std_file, text.as_bytes()).unwrap();
    // Small reads, so lines straddle them.
    let mut file = RingIo::with_capacity(&ring, File::from(std_file), 1000, 1000);
    on_tokio::run(&ring, 30, async {
        let buffered = file.fill_buf().await.unwrap();
        assert_eq!(
            buffered,
            &text.as_bytes()[..1000],
            "a read fills the buffer"
        );
        let mut line = String::new();
        for i in 0..5_000 {
            line.clear();
            assert!(file.read_line(&mut line).await.unwrap() > 0);
            assert_eq!(line, format!("row {i}\n"));
        }
        assert_eq!(file.read_line(&mut line).await.unwrap(), 0, "end of file");
        assert_eq!(file.position(), text.len() as u64);
        // Seek back, overwrite a row, read it back through the same adapter.
        assert_eq!(file.seek(SeekFrom::Start(4)).await.unwrap(), 4);
        file.write_all(b"ROW").await.unwrap(); // overwrites "0\nr"
        assert_eq!(file.seek(SeekFrom::Current(-7)).await.unwrap(), 0);
        let mut head = [0u8; 12];
        file.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"row ROWow 1\n");
        assert_eq!(
            file.seek(SeekFrom::End(-9)).await.unwrap(),
            text.len() as u64 - 9
        );
        line.clear();
        file.read_line(&mut line).await.unwrap();
        assert_eq!(line, "row 4999\n");
        assert_eq!(
            file.seek(SeekFrom::Current(-1_000_000))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    });
}

#[test]
fn a_read_cancelled_by_a_timeout_loses_no_data() {
    let ring = Rc::new(Ring::new(16).unwrap());
    let pattern = Pattern::new();
    on_tokio::run(&ring, 60, async {
        let listener = TcpListener::bind(loopback(), ListenOptions::default()).unwrap();
        let mut peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (conn, _) = ring.accept(&listener).await.unwrap();
        let mut conn = RingIo::new(&ring, conn);
        let (mut sent, mut got) = (0u64, Vec::new());
        for round in 0..200u64 {
            // The read starts, finds nothing, and is dropped by the timeout mid-flight.
            let mut buf = Vec::with_capacity(512);
            let cancelled =
                tokio::time::timeout(Duration::from_millis(1), conn.read_buf(&mut buf)).await;
            assert!(cancelled.is_err(), "round {round}: nothing was sent yet");
            // Bytes arrive while nobody polls: the adapter's read takes them in the kernel.
            let chunk = pattern.at(sent, 1 + (round as usize * 37) % 3000);
            peer.write_all(chunk).await.unwrap();
            sent += chunk.len() as u64;
            if round % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            while (got.len() as u64) < sent {
                let mut buf = vec![0u8; 700];
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "round {round}: early end of stream");
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got.len() as u64, sent);
        assert!(pattern.matches(0, &got), "every byte, once, in order");
    });
}

#[test]
fn a_write_to_a_reset_peer_is_reported_by_flush() {
    let ring = Rc::new(Ring::new(16).unwrap());
    on_tokio::run(&ring, 30, async {
        let listener = std::net::TcpListener::bind(loopback()).unwrap();
        let conn = ring.connect(listener.local_addr().unwrap()).await.unwrap();
        let (peer, _) = listener.accept().unwrap();
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer); // SO_LINGER 0: the close sends RST
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut conn = RingIo::new(&ring, conn);
        let data = vec![7u8; 1000];
        assert_eq!(
            conn.write(&data).await.unwrap(),
            1000,
            "accepted, written behind"
        );
        let err = conn.flush().await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // Later writes keep failing, within a bounded number of tries, never silently.
        let mut failed = 0;
        for _ in 0..100 {
            if conn.write(&data).await.is_err() || conn.flush().await.is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 100);
        let mut buf = [0u8; 16];
        let read = conn.read(&mut buf).await;
        assert!(
            matches!(read, Ok(0)) || read.is_err(),
            "a reset peer reads as end of stream or an error: {read:?}"
        );
    });
}

#[test]
fn writes_to_a_peer_that_does_not_read_stall_at_a_bound() {
    let ring = Rc::new(Ring::new(16).unwrap());
    on_tokio::run(&ring, 60, async {
        let (conn, peer) = ring_pair(&ring).await;
        let mut conn = RingIo::with_capacity(&ring, conn, 4096, 4096);
        let chunk = vec![1u8; 4096];
        let mut accepted = 0u64;
        loop {
            match tokio::time::timeout(Duration::from_millis(200), conn.write(&chunk)).await {
                Ok(n) => accepted += n.unwrap() as u64,
                Err(_) => break, // back-pressure: the write waits
            }
            assert!(accepted < 256 * MIB, "writes never stalled");
        }
        // The kernel's socket buffers plus the adapter's two buffers, no more.
        assert!(accepted > 8192, "the adapter accepted ahead: {accepted}");
        // The peer reads everything accepted, and more once the adapter takes it.
        let mut peer = RingIo::new(&ring, peer);
        let writing = async {
            conn.flush().await.unwrap();
            conn.write_all(&chunk).await.unwrap();
            conn.flush().await.unwrap();
        };
        let reading = async {
            let (mut read, mut buf) = (0, vec![0u8; 1 << 16]);
            while read < accepted + 4096 {
                read += peer.read(&mut buf).await.unwrap() as u64;
            }
            read
        };
        let ((), read) = tokio::join!(writing, reading);
        assert_eq!(read, accepted + 4096);
    });
}

#[test]
fn dropping_an_adapter_with_writes_in_flight_is_sound() {
    let ring = Rc::new(Ring::new(16).unwrap());
    on_tokio::run(&ring, 30, async {
        let (conn, peer) = ring_pair(&ring).await;
        let mut conn = RingIo::with_capacity(&ring, conn, 4096, 1 << 20);
        let mut accepted = 0;
        while let Ok(n) =
            tokio::time::timeout(Duration::from_millis(100), conn.write(&[5u8; 65536])).await
        {
            accepted += n.unwrap();
        }
        assert!(accepted > 0);
        drop(conn); // a send in flight (the peer reads nothing) is parked and cancelled
        let mut peer = RingIo::new(&ring, peer);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert!(got.len() <= accepted, "never more than was accepted");
        assert!(got.iter().all(|&b| b == 5), "and only what was written");
    });
    for _ in 0..1000 {
        if ring.live_slots() == 0 {
            break;
        }
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.live_slots(), 0, "every parked operation finished");
}

#[test]
fn unix_streams_round_trip_under_the_built_in_executor() {
    let ring = Rc::new(Ring::new(16).unwrap());
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut a = RingIo::new(&ring, safer_ring::net::UnixStream::from(a));
    let mut b = RingIo::new(&ring, safer_ring::net::UnixStream::from(b));
    let pattern = Pattern::new();
    ring.block_on(async {
        let write = async {
            pattern.write_to(&mut a, 8 * MIB).await;
            a.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let (_, n) = futures::join!(write, b.read_to_end(&mut got));
        assert_eq!(n.unwrap() as u64, 8 * MIB);
        assert!(pattern.matches(0, &got));
    });
}
