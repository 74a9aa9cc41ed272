//! Registered files sent between rings (`Ring::send_file` into a `FileMailbox`) attacked:
//! an incoming file must never land in a slot anyone holds, a full mailbox must say so and
//! lose nothing, the sender's slot must stay registered while the message is in flight, and
//! a file nobody received must be closed with the ring that got it.
mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use safer_ring::net::{ListenOptions, TcpListener};
use safer_ring::{RegisteredFd, Ring, RingPool, SaferRingError};

/// A receiving ring with a table of `table` slots whose last `mailbox` are the mailbox.
fn receiver(table: u32, mailbox: u32) -> (Ring, safer_ring::FileMailbox) {
    let ring = Ring::new(8).unwrap();
    ring.register_files(table).unwrap();
    let mailbox = ring.open_file_mailbox(mailbox).unwrap();
    (ring, mailbox)
}

fn sender() -> Ring {
    let ring = Ring::new(8).unwrap();
    ring.register_files(4).unwrap();
    ring
}

/// Sends the read end of a new pipe; returns the pipe's write end.
fn send_pipe(from: &Ring, to: &safer_ring::FileMailbox) -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    let fixed = from.register_file(&reader).unwrap();
    from.send_file(&fixed, to).submit().unwrap().wait().unwrap();
    from.unregister_file(&fixed).unwrap();
    writer
}

fn read_some(ring: &Ring, fd: &RegisteredFd) -> Vec<u8> {
    let (n, mut buf) = ring
        .read(fd, Vec::with_capacity(64))
        .submit()
        .unwrap()
        .wait();
    buf.truncate(n.unwrap());
    buf
}

#[test]
fn a_sent_file_arrives_in_the_mailbox_range_and_outlives_the_senders_registration() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (rx, mailbox) = receiver(8, 4);
    let tx = sender();
    let own = rx.register_file(&std::io::stdin()).unwrap();
    let mut writer = send_pipe(&tx, &mailbox);
    assert!(rx.try_receive_file().is_none(), "not reaped yet");
    let got = rx.block_on(rx.receive_file());
    assert!((4..8).contains(&got.index()), "slot {}", got.index());
    assert!(own.index() < 4);
    writer.write_all(b"over the ring").unwrap();
    assert_eq!(read_some(&rx, &got), b"over the ring");
    assert_eq!(rx.stats().msg_ring_files, 1);
}

#[test]
fn the_owner_never_registers_into_the_mailbox_slots() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (rx, mailbox) = receiver(6, 4);
    let tx = sender();
    let (a, b) = (std::io::stdin(), std::io::stdout());
    let first = rx.register_file(&a).unwrap();
    let second = rx.register_file(&b).unwrap();
    let full = rx.register_file(&a).unwrap_err();
    assert!(
        matches!(full, SaferRingError::InvalidArgument(m) if m.contains("full")),
        "{full}"
    );
    let mut writers: Vec<_> = (0..4).map(|_| send_pipe(&tx, &mailbox)).collect();
    let got: Vec<_> = (0..4).map(|_| rx.block_on(rx.receive_file())).collect();
    let mut slots: Vec<_> = got.iter().map(RegisteredFd::index).collect();
    slots.sort_unstable();
    assert_eq!(slots, [2, 3, 4, 5]);
    assert!(first.index() < 2 && second.index() < 2);
    // Each slot holds its own pipe: what goes into writer i comes out of file i.
    for (i, (writer, fd)) in writers.iter_mut().zip(&got).enumerate() {
        writer.write_all(&[i as u8; 3]).unwrap();
        assert_eq!(read_some(&rx, fd), [i as u8; 3]);
    }
}

#[test]
fn a_full_mailbox_refuses_with_enfile_and_takes_files_again_once_one_is_unregistered() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (rx, mailbox) = receiver(2, 2);
    let tx = sender();
    let _writers: Vec<_> = (0..2).map(|_| send_pipe(&tx, &mailbox)).collect();
    let got: Vec<_> = (0..2).map(|_| rx.block_on(rx.receive_file())).collect();

    let (reader, mut writer) = std::io::pipe().unwrap();
    let fixed = tx.register_file(&reader).unwrap();
    let err = tx
        .send_file(&fixed, &mailbox)
        .submit()
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENFILE), "{err:?}");
    assert!(err.to_string().contains("mailbox"), "{err}");

    rx.unregister_file(&got[0]).unwrap();
    tx.send_file(&fixed, &mailbox)
        .submit()
        .unwrap()
        .wait()
        .unwrap();
    let again = rx.block_on(rx.receive_file());
    assert_eq!(again.index(), got[0].index(), "the freed slot is reused");
    assert!(matches!(
        rx.read(&got[0], vec![0u8; 1]).submit(),
        Err(e) if matches!(e.error(), SaferRingError::Stale { .. })
    ));
    writer.write_all(b"new").unwrap();
    assert_eq!(read_some(&rx, &again), b"new");
}

#[test]
fn the_senders_slot_stays_registered_while_the_message_is_in_flight() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (_rx, mailbox) = receiver(2, 2);
    let tx = sender();
    let (reader, _writer) = std::io::pipe().unwrap();
    let fixed = tx.register_file(&reader).unwrap();
    let in_flight = tx.send_file(&fixed, &mailbox).submit().unwrap();
    assert!(matches!(
        tx.unregister_file(&fixed),
        Err(SaferRingError::InUse { .. })
    ));
    in_flight.wait().unwrap();
    tx.unregister_file(&fixed).unwrap();
}

#[test]
fn misuse_is_refused_before_anything_reaches_the_kernel() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (rx, mailbox) = receiver(4, 2);
    let own = rx.register_file(&std::io::stdin()).unwrap();
    let to_self = rx.send_file(&own, &mailbox).submit().err().unwrap();
    assert!(matches!(to_self.error(), SaferRingError::InvalidArgument(m) if m.contains("own")));
    let tx = sender();
    let foreign = tx.send_file(&own, &mailbox).submit().err().unwrap();
    assert!(matches!(
        foreign.error(),
        SaferRingError::RingMismatch { .. }
    ));
    assert!(matches!(
        rx.register_files(8),
        Err(SaferRingError::InUse { .. })
    ));
    assert!(rx.open_file_mailbox(1).is_err(), "already open");
    let no_table = Ring::new(4).unwrap();
    assert!(matches!(
        no_table.open_file_mailbox(1),
        Err(SaferRingError::InvalidArgument(_))
    ));
    let small = Ring::new(4).unwrap();
    small.register_files(2).unwrap();
    assert!(
        small.open_file_mailbox(3).is_err(),
        "more slots than the table"
    );
}

#[test]
fn a_file_nobody_received_is_closed_with_the_ring_that_got_it() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    let (rx, mailbox) = receiver(2, 2);
    let tx = sender();
    let mut writer = send_pipe(&tx, &mailbox);
    rx.turn(false).unwrap(); // the CQE arrives; nobody takes the file
    writer.write_all(b"x").unwrap(); // the read end is open: in the receiver's table
    drop((rx, mailbox, tx));
    // The last reference to the pipe's read end was the receiving ring's table, which the
    // kernel frees shortly after the ring's last fd closes (asynchronously): then the
    // writer sees EPIPE.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match writer.write(b"x") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "still open: {other:?}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// One acceptor hands each connection to a worker: the pattern `send_file` exists for.
#[test]
fn an_acceptor_on_one_worker_hands_connections_to_another_which_serves_them() {
    if !common::kernel_only("files sent between rings by IORING_OP_MSG_RING") {
        return;
    }
    const CONNECTIONS: usize = 20;
    let pool = RingPool::new(2).unwrap();
    let mailbox = pool
        .spawn_on(1, |ring| async move {
            ring.register_files(64).unwrap();
            ring.open_file_mailbox(32).unwrap()
        })
        .join()
        .unwrap();
    let served = pool.spawn_on(1, |ring| async move {
        for _ in 0..CONNECTIONS {
            let conn = ring.receive_file().await;
            let (n, buf) = ring.recv(&conn, Vec::with_capacity(64)).await;
            let n = n.unwrap();
            let reply = buf[..n].iter().rev().copied().collect::<Vec<u8>>();
            ring.send_all(&conn, reply).await.0.unwrap();
            ring.unregister_file(&conn).unwrap();
        }
        ring.stats().msg_ring_files
    });
    let listener = Arc::new(
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap(),
    );
    let addr = listener.local_addr().unwrap();
    let acceptor = pool.spawn_on(0, move |ring| async move {
        ring.register_files(4).unwrap();
        for _ in 0..CONNECTIONS {
            let (conn, _) = ring.accept(&listener).await.unwrap();
            let fixed = ring.register_file(&conn).unwrap();
            ring.send_file(&fixed, &mailbox).await.unwrap();
            ring.unregister_file(&fixed).unwrap();
        }
    });
    for i in 0..CONNECTIONS {
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        client.write_all(format!("abc{i}").as_bytes()).unwrap();
        let mut reply = String::new();
        client
            .read_to_string(&mut reply)
            .unwrap_or_else(|_| panic!("reply {i}"));
        assert_eq!(
            reply,
            format!("{}cba", i.to_string().chars().rev().collect::<String>())
        );
    }
    acceptor.join().unwrap();
    assert_eq!(served.join().unwrap(), CONNECTIONS as u64);
}
