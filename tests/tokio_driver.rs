//! A ring driven from tokio's reactor wakes for every completion — including under
//! `DEFER_TASKRUN`, where the ring fd alone never becomes readable.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::{feed, pipe};
use safer_ring::Ring;

#[test]
fn every_completion_wakes_its_task_under_a_local_set() {
    let ring = Rc::new(Ring::new(64).unwrap());
    assert!(
        ring.setup_flags().defer_taskrun || common::on_fallback(),
        "the kernel here has DEFER_TASKRUN"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (readers, writers): (Vec<_>, Vec<_>) = (0..50).map(|_| pipe()).unzip();
    let feeder = std::thread::spawn(move || {
        for (i, mut w) in writers.into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(2));
            feed(&mut w, &(i as u32).to_le_bytes());
        }
    });
    let total = local.block_on(&rt, async {
        let driver = {
            let ring = ring.clone();
            tokio::task::spawn_local(async move { ring.drive().await })
        };
        let tasks: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, reader)| {
                let ring = ring.clone();
                tokio::task::spawn_local(async move {
                    let (n, buf) = ring.read(&reader, Vec::with_capacity(4)).await;
                    assert_eq!(n.unwrap(), 4);
                    assert_eq!(buf, (i as u32).to_le_bytes());
                    1
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("a completion never woke its task")
                .unwrap();
        }
        driver.abort();
        total
    });
    feeder.join().unwrap();
    assert_eq!(total, 50);
}

#[test]
fn ring_works_beside_tokio_io_and_timers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ring = Ring::new(8).unwrap();
    let file = safer_ring::File::from(tempfile::tempfile().unwrap());
    let out = rt.block_on(ring.run_on_tokio(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (n, _) = ring.write_at(&file, b"tokio + ring".to_vec(), 0).await;
        n.unwrap();
        let (n, buf) = ring.read_at(&file, Vec::with_capacity(32), 0).await;
        n.unwrap();
        buf
    }));
    assert_eq!(out.unwrap(), b"tokio + ring");
}
