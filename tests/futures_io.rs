//! `futures-io`'s traits on `RingIo` (feature `futures-io`): a file written, sought and
//! copied to a ring socket with `futures::io::copy`, read back with `read_to_end` and
//! `lines`, all under the ring's built-in executor. Run by
//! `cargo test --features futures-io --test futures_io`.
#![cfg(feature = "futures-io")]

use std::future::IntoFuture;
use std::io::SeekFrom;
use std::rc::Rc;

use futures::TryStreamExt;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use safer_ring::io::RingIo;
use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::{File, Ring};

#[test]
fn futures_io_copy_moves_a_file_over_a_ring_socket_intact() {
    let ring = Rc::new(Ring::new(16).unwrap());
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let text: String = (0..20_000).map(|i| format!("{i:08}\n")).collect();
    let mut file = RingIo::new(&ring, File::from(tempfile::tempfile().unwrap()));
    ring.block_on(async {
        file.write_all(text.as_bytes()).await.unwrap();
        assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        let (client, accepted) = futures::join!(
            ring.connect(addr).into_future(),
            ring.accept(&listener).into_future()
        );
        let mut sending = RingIo::new(&ring, client.unwrap());
        let mut receiving = RingIo::new(&ring, accepted.unwrap().0);
        let send = async {
            let n = futures::io::copy(&mut file, &mut sending).await.unwrap();
            sending.close().await.unwrap(); // flush, then end of stream for the peer
            n
        };
        let mut got = Vec::new();
        let (sent, read) = futures::join!(send, receiving.read_to_end(&mut got));
        assert_eq!((sent, read.unwrap()), (text.len() as u64, text.len()));
        assert!(got == text.as_bytes(), "the copy arrived intact");
    });
}

#[test]
fn futures_io_lines_over_a_ring_unix_stream() {
    let ring = Rc::new(Ring::new(16).unwrap());
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut a = RingIo::new(&ring, safer_ring::net::UnixStream::from(a));
    let b = RingIo::new(&ring, safer_ring::net::UnixStream::from(b));
    ring.block_on(async {
        let write = async {
            for i in 0..1000 {
                a.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
            }
            a.close().await.unwrap();
        };
        let (_, lines) = futures::join!(write, b.lines().try_collect::<Vec<_>>());
        let lines = lines.unwrap();
        assert_eq!(lines.len(), 1000);
        assert!(
            lines
                .iter()
                .enumerate()
                .all(|(i, l)| *l == format!("line {i}"))
        );
    });
}
