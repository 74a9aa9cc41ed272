//! Multishot operations as streams: many completions from one SQE, and dropping the stream
//! while traffic continues leaks nothing (every accepted fd closed).

mod common;

use std::net::SocketAddr;

use common::{open_fds, serial};
use futures::StreamExt;
use safer_ring::Ring;
use safer_ring::net::{ListenOptions, TcpListener};

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

#[test]
fn accept_multi_serves_many_connections_from_one_sqe() {
    if !common::kernel_only("the kernel's multishot accept") {
        return;
    }
    let _serial = serial();
    let ring = Ring::new(64).unwrap();
    let (listener, addr) = listener();
    let clients: Vec<_> = (0..50)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let submitted_before = ring.stats().submitted;
    let accepted: Vec<_> = ring.block_on(ring.accept_multi(&listener).take(50).collect());
    assert_eq!(accepted.len(), 50);
    assert!(
        ring.stats().submitted - submitted_before <= 2,
        "one multishot SQE (re-armed at most once), not one per connection"
    );
    for (i, stream) in accepted.into_iter().enumerate() {
        let stream = stream.unwrap();
        let (n, _) = ring
            .send(&stream, vec![i as u8; 3])
            .submit()
            .unwrap()
            .wait();
        assert_eq!(n.unwrap(), 3);
    }
    drop(clients);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
}

#[test]
fn dropping_accept_multi_while_clients_connect_closes_every_accepted_fd() {
    if !common::kernel_only("the kernel's multishot accept") {
        return;
    }
    let _serial = serial();
    let ring = Ring::new(64).unwrap();
    let (listener, addr) = listener();
    ring.block_on(ring.nop()).unwrap(); // the executor's wake-up eventfd exists from here on
    let fds_before = open_fds();
    let mut stream = ring.accept_multi(&listener);
    let first = std::net::TcpStream::connect(addr).unwrap();
    let got = ring.block_on(stream.next()).unwrap().unwrap();
    drop(got);
    // More clients arrive; some are accepted by the kernel before the cancel lands.
    let mut clients = vec![first];
    for _ in 0..20 {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
    }
    // Reap: accepted connections queue up in the stream's slot, not yet taken; dropping the
    // stream must close them, and those the kernel accepts after the drop too.
    ring.turn(false).unwrap();
    assert!(
        ring.stats().completed < ring.stats().submitted,
        "the multishot is still armed"
    );
    drop(stream);
    for _ in 0..20 {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
    }
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(ring.in_flight(), 0);
    drop(clients);
    // The listener's backlog may still hold connections nobody accepted; they belong to the
    // listener, not to us. Every fd *we* were handed is closed:
    assert_eq!(open_fds(), fds_before, "an accepted fd leaked");
}

fn connected(ring: &Ring) -> (safer_ring::net::TcpStream, std::net::TcpStream) {
    let (l, addr) = listener();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = ring.accept(&l).submit().unwrap().wait().unwrap();
    (server, client)
}

#[test]
fn recv_multi_delivers_the_whole_stream_in_order_then_ends() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(16, 1024).unwrap();
    let (server, mut client) = connected(&ring);
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            for part in sent.chunks(3000) {
                std::io::Write::write_all(&mut client, part).unwrap();
            }
        }) // dropping the client ends the stream
    };
    let got = ring.block_on(async {
        let mut got = Vec::new();
        let mut stream = ring.recv_multi(&server, &bufs);
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        got
    });
    writer.join().unwrap();
    assert!(
        got == sent,
        "received {} of {} bytes, in order",
        got.len(),
        sent.len()
    );
    assert_eq!(bufs.available(), 16);
}

#[test]
fn recv_multi_rearms_after_running_out_of_buffers_without_losing_data() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(2, 64).unwrap();
    let (server, mut client) = connected(&ring);
    let sent: Vec<u8> = (0..4096u32).map(|i| (i % 249) as u8).collect();
    std::io::Write::write_all(&mut client, &sent).unwrap();
    drop(client);
    let got = ring.block_on(async {
        let mut got = Vec::new();
        let mut held = Vec::new();
        let mut stream = ring.recv_multi(&server, &bufs);
        while let Some(chunk) = stream.next().await {
            // Hold two chunks at a time: the ring (2 buffers) runs dry again and again.
            held.push(chunk.unwrap());
            if held.len() == 2 {
                for c in held.drain(..) {
                    got.extend_from_slice(&c);
                }
            }
        }
        for c in held.drain(..) {
            got.extend_from_slice(&c);
        }
        got
    });
    assert!(
        got == sent,
        "received {} of {} bytes",
        got.len(),
        sent.len()
    );
    assert!(
        ring.stats().submitted > 2,
        "the stream re-armed after ENOBUFS"
    );
}

#[test]
fn dropping_recv_multi_while_traffic_continues_returns_every_buffer() {
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(8, 256).unwrap();
    let (server, mut client) = connected(&ring);
    let mut stream = ring.recv_multi(&server, &bufs);
    std::io::Write::write_all(&mut client, b"first").unwrap();
    let first = ring.block_on(stream.next()).unwrap().unwrap();
    assert_eq!(&first[..], b"first");
    std::io::Write::write_all(&mut client, &[7u8; 700]).unwrap();
    ring.turn(false).unwrap(); // chunks queue up in the slot, untaken
    drop(stream);
    std::io::Write::write_all(&mut client, &[8u8; 700]).unwrap();
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        bufs.available(),
        7,
        "all but the chunk we still hold are back"
    );
    drop(first);
    assert_eq!(
        bufs.available(),
        8,
        "every provided buffer back in the ring"
    );
}

#[test]
fn buffer_ring_of_another_ring_is_refused() {
    let _serial = serial(); // its rings' fds would disturb the fd counts of the tests above
    let a = Ring::new(8).unwrap();
    let b = Ring::new(8).unwrap();
    let bufs = a.register_buf_ring(4, 64).unwrap();
    let (server, _client) = connected(&b);
    let first = b.block_on(b.recv_multi(&server, &bufs).next()).unwrap();
    assert!(matches!(
        first,
        Err(safer_ring::SaferRingError::RingMismatch { .. })
    ));
    assert!(
        a.register_buf_ring(3, 64).is_err(),
        "count must be a power of two"
    );
}

#[test]
fn send_zc_hands_the_buffer_back_only_with_the_notification() {
    if !common::kernel_only("the kernel's zero-copy send notification") {
        return;
    }
    use safer_ring::net::ZcEvent;
    use std::io::Read;
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let (server, mut client) = connected(&ring);
    let payload = vec![0x42u8; 32 * 1024];
    let mut events = ring.send_zc_events(&server, payload.clone());
    // The send completes first, without the buffer...
    match ring.block_on(events.next()) {
        Some(ZcEvent::Sent) => {}
        Some(ZcEvent::Done(res, _)) => panic!("buffer handed back with the send result: {res:?}"),
        None => panic!("stream ended early"),
    }
    // ...and the buffer comes back only with the notification, as a separate event.
    let Some(ZcEvent::Done(res, buf)) = ring.block_on(events.next()) else {
        panic!("expected the buffer after the notification")
    };
    assert_eq!(res.unwrap(), payload.len());
    assert!(buf == payload);
    let mut got = vec![0u8; payload.len()];
    client.read_exact(&mut got).unwrap();
    assert!(got == payload);
}

#[test]
fn send_zc_dropped_before_the_notification_parks_its_buffer_until_then() {
    if !common::kernel_only("the kernel's zero-copy send notification") {
        return;
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _serial = serial();
    let ring = Ring::new(16).unwrap();
    let (server, _client) = connected(&ring);
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut buf, token) = common::Sentinel::new(4096, &drops);
    buf.bytes.resize(4096, 9);
    let mut events = ring.send_zc_events(&server, buf);
    assert!(matches!(
        ring.block_on(events.next()),
        Some(safer_ring::net::ZcEvent::Sent)
    ));
    drop(events); // the notification may still be due: the buffer must stay alive
    assert!(Arc::strong_count(&token) == 2 || ring.live_slots() == 0);
    while ring.live_slots() > 0 {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "released exactly once, after the final CQE"
    );
    assert_eq!(Arc::strong_count(&token), 1);
}

/// Runs `fut` under `ring.block_on`, racing a read of a pipe that a helper thread writes
/// after `after`: `Some(output)` if `fut` won, `None` once the deadline passed.
fn within<F: std::future::Future>(
    ring: &Ring,
    after: std::time::Duration,
    fut: F,
) -> Option<F::Output> {
    use futures::future::{Either, select};
    use std::future::IntoFuture;
    let (deadline, mut writer) = common::pipe();
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        let _ = wait_done.recv_timeout(after);
        common::feed(&mut writer, b"!");
    });
    let out = ring.block_on(async {
        let deadline = ring.read(&deadline, Vec::with_capacity(1)).into_future();
        match select(std::pin::pin!(fut), deadline).await {
            Either::Left((out, _)) => Some(out),
            Either::Right(_) => None,
        }
    });
    drop(done);
    helper.join().unwrap();
    out
}

#[test]
fn recv_multi_starved_by_another_streams_unpolled_chunks_waits_instead_of_spinning() {
    if !common::kernel_only("the kernel's multishot receive") {
        return;
    }
    use std::time::{Duration, Instant};
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(4, 64).unwrap();
    let (server_a, mut client_a) = connected(&ring);
    let (server_b, mut client_b) = connected(&ring);

    // Stream A arms, then the kernel fills every buffer for it (and ends it with ENOBUFS);
    // A is not polled, so its chunks sit in its slot, still counted as available.
    let mut stream_a = ring.recv_multi(&server_a, &bufs);
    assert!(common::poll_once(&mut stream_a.next()).is_pending());
    std::io::Write::write_all(&mut client_a, &[b'a'; 512]).unwrap();
    let completed = ring.stats().completed;
    let t0 = Instant::now();
    while ring.stats().completed == completed && t0.elapsed() < Duration::from_secs(5) {
        ring.turn(true).unwrap();
    }
    assert_eq!(
        ring.stats().completed,
        completed + 1,
        "A's multishot ended (ENOBUFS after taking every buffer)"
    );
    assert_eq!(bufs.available(), 4, "A's chunks are not taken yet");

    // Stream B has data waiting but no buffer: for ~100 ms it must wait, not re-arm.
    std::io::Write::write_all(&mut client_b, b"hello b").unwrap();
    let mut stream_b = ring.recv_multi(&server_b, &bufs);
    let before = ring.stats();
    let early = within(&ring, Duration::from_millis(100), stream_b.next());
    let after = ring.stats();
    assert!(early.is_none(), "B received without a buffer: {early:?}");
    let (submitted, enters) = (
        after.submitted - before.submitted,
        after.enters - before.enters,
    );
    println!("during 100 ms starved: {submitted} SQEs submitted, {enters} enters");
    assert!(
        submitted <= 6 && enters <= 12,
        "B spun on ENOBUFS: {submitted} SQEs submitted, {enters} enters in 100 ms"
    );

    // A's chunks come back; B then re-arms and receives its data.
    let chunks: Vec<_> = (0..4)
        .map(|_| ring.block_on(stream_a.next()).unwrap().unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c.iter().all(|&b| b == b'a')));
    drop(chunks);
    let got = within(&ring, Duration::from_secs(5), stream_b.next())
        .expect("B was never woken after buffers came back");
    assert_eq!(&got.unwrap().unwrap()[..], b"hello b");
}

/// A waker that counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn counting_waker() -> (std::sync::Arc<CountingWaker>, std::task::Waker) {
    let count = std::sync::Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    (count.clone(), std::task::Waker::from(count))
}

#[test]
fn two_recv_multi_streams_waiting_on_one_empty_buf_ring_are_both_woken() {
    use futures::FutureExt;
    use std::sync::atomic::Ordering;
    use std::task::Context;
    let _serial = serial();
    let ring = Ring::new(32).unwrap();
    let bufs = ring.register_buf_ring(2, 64).unwrap();
    let (server_a, mut client_a) = connected(&ring);
    let (server_b, mut client_b) = connected(&ring);
    let (server_c, mut client_c) = connected(&ring);

    // A takes (and holds) both buffers.
    let mut stream_a = ring.recv_multi(&server_a, &bufs);
    std::io::Write::write_all(&mut client_a, &[b'a'; 128]).unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| ring.block_on(stream_a.next()).unwrap().unwrap())
        .collect();
    assert_eq!(bufs.available(), 0);

    // B and C, in different tasks (different wakers), both wait for a buffer.
    std::io::Write::write_all(&mut client_b, b"b").unwrap();
    std::io::Write::write_all(&mut client_c, b"c").unwrap();
    let (mut stream_b, mut stream_c) = (
        ring.recv_multi(&server_b, &bufs),
        ring.recv_multi(&server_c, &bufs),
    );
    let (woken_b, waker_b) = counting_waker();
    let (woken_c, waker_c) = counting_waker();
    let mut next_b = stream_b.next();
    let mut next_c = stream_c.next();
    assert!(
        next_b
            .poll_unpin(&mut Context::from_waker(&waker_b))
            .is_pending()
    );
    assert!(
        next_c
            .poll_unpin(&mut Context::from_waker(&waker_c))
            .is_pending()
    );

    drop(held); // two buffers back: both waiters must hear of it
    let (b, c) = (
        woken_b.0.load(Ordering::SeqCst),
        woken_c.0.load(Ordering::SeqCst),
    );
    assert!(b >= 1 && c >= 1, "wake-ups: B {b}, C {c}");
    let got_b = within(&ring, std::time::Duration::from_secs(5), next_b).expect("B stalled");
    let got_c = within(&ring, std::time::Duration::from_secs(5), next_c).expect("C stalled");
    assert_eq!(&got_b.unwrap().unwrap()[..], b"b");
    assert_eq!(&got_c.unwrap().unwrap()[..], b"c");
}
