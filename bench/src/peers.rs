//! The peers' cheapest idiomatic form of a 4 KiB read at queue depth `tasks`: that many tasks,
//! each looping `read_at` into its own reused `Vec` on one shared file — monoio, tokio-uring
//! and compio, each on its own io_uring runtime (built per call: microseconds, against the
//! hundreds of milliseconds of reads measured). Used by the `instr` and `read` suites.

use std::path::Path;
use std::rc::Rc;

use crate::work::BLOCK;

/// The offsets task `task` of `tasks` reads: every `tasks`-th of `offs`, from its own index.
fn task_offsets(offs: &[u64], task: usize, tasks: usize) -> impl Iterator<Item = u64> + '_ {
    offs.iter().skip(task).step_by(tasks).copied()
}

pub fn monoio_reads(path: &Path, offs: &Rc<[u64]>, tasks: usize) {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(64)
        .build()
        .expect("monoio runtime");
    rt.block_on(async {
        let file = Rc::new(monoio::fs::File::open(path).await.expect("open"));
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let file = file.clone();
                let offs = offs.clone();
                monoio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(&offs, task, tasks) {
                        let (res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await;
        }
    });
}

pub fn tokio_uring_reads(path: &Path, offs: &Rc<[u64]>, tasks: usize) {
    tokio_uring::builder().entries(64).start(async {
        let file = Rc::new(tokio_uring::fs::File::open(path).await.expect("open"));
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let file = file.clone();
                let offs = offs.clone();
                tokio_uring::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(&offs, task, tasks) {
                        let (res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
    });
}

pub fn compio_reads(path: &Path, offs: &Rc<[u64]>, tasks: usize) {
    use compio::io::AsyncReadAt;
    let rt = compio::runtime::RuntimeBuilder::new()
        .build()
        .expect("compio runtime");
    rt.block_on(async {
        let file = Rc::new(compio::fs::File::open(path).await.expect("open"));
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let file = file.clone();
                let offs = offs.clone();
                compio::runtime::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for at in task_offsets(&offs, task, tasks) {
                        let compio::BufResult(res, back) = file.read_at(buf, at).await;
                        assert_eq!(res.expect("read"), BLOCK);
                        buf = back;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
    });
}
