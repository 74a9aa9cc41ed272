//! The peers' cheapest idiomatic form of the `instr` read: 32 tasks, each looping `read_at`
//! of 4 KiB into its own reused `Vec` on one shared file — monoio, tokio-uring and compio, each
//! on its own io_uring runtime. Run inside the callgrind worker, like the safe and raw paths.

use std::path::Path;
use std::rc::Rc;

use super::{BATCH, offset};
use crate::work::BLOCK;

/// The reads task `task` of 32 does when the worker does `n` in all.
fn task_offsets(task: usize, n: u64) -> impl Iterator<Item = u64> {
    (0..n / BATCH as u64).map(move |round| offset(round, task))
}

pub fn monoio_reads(path: &Path, n: u64) {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(64)
        .build()
        .expect("monoio runtime");
    rt.block_on(async {
        let file = Rc::new(monoio::fs::File::open(path).await.expect("open"));
        let tasks: Vec<_> = (0..BATCH)
            .map(|task| {
                let file = file.clone();
                monoio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(task, n) {
                        let (res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
}

pub fn tokio_uring_reads(path: &Path, n: u64) {
    tokio_uring::builder().entries(64).start(async {
        let file = Rc::new(tokio_uring::fs::File::open(path).await.expect("open"));
        let tasks: Vec<_> = (0..BATCH)
            .map(|task| {
                let file = file.clone();
                tokio_uring::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(task, n) {
                        let (res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
}

pub fn compio_reads(path: &Path, n: u64) {
    use compio::io::AsyncReadAt;
    let rt = compio::runtime::RuntimeBuilder::new()
        .build()
        .expect("compio runtime");
    rt.block_on(async {
        let file = Rc::new(compio::fs::File::open(path).await.expect("open"));
        let tasks: Vec<_> = (0..BATCH)
            .map(|task| {
                let file = file.clone();
                compio::runtime::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(task, n) {
                        let compio::BufResult(res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
}
