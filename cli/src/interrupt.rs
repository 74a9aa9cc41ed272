//! Ctrl-C (SIGINT): the copy's temporaries are removed and the destination stays as it was.
//!
//! Every temporary is registered here before it is created and leaves the register when it is
//! renamed into place ([`commit`]) or removed ([`discard`]), both under the register's lock.
//! The handler runs on its own thread (`ctrlc`), so it works even while the copying thread
//! waits in the kernel (a FIFO that never sends): it unlinks temporary files at once (a file
//! still being written is only unlinked, never harmful) and gives a tree's copier a few
//! seconds to stop and clean up itself before removing the tree too; then it says what it did
//! and exits with 130.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Failure;

/// Exit code after SIGINT (128 + 2).
const EXIT_INTERRUPTED: i32 = 130;

/// How long the handler waits for a tree copier to clean up itself.
const TREE_GRACE: Duration = Duration::from_secs(5);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static NEXT_TICKET: AtomicU64 = AtomicU64::new(0);
static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

/// A temporary not yet renamed into place.
struct Pending {
    ticket: u64,
    temp: PathBuf,
    dst: PathBuf,
    tree: bool,
    dst_existed: bool,
}

/// A registered temporary: pass it to [`commit`] or [`discard`].
#[derive(Debug)]
pub struct Ticket(u64);

/// Installs the SIGINT handler.
pub fn install() -> Result<(), Failure> {
    ctrlc::set_handler(on_sigint)
        .map_err(|e| Failure::Failed(format!("cannot install the SIGINT handler: {e}")))
}

/// Whether SIGINT arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The failure to report after SIGINT, for a copy to `dst`.
pub fn failure(dst: &Path, dst_existed: bool) -> Failure {
    Failure::Interrupted(format!("interrupted: {}", left_as_it_was(dst, dst_existed)))
}

fn left_as_it_was(dst: &Path, existed: bool) -> String {
    if existed {
        format!("{} was left as it was", dst.display())
    } else {
        format!("{} was not created", dst.display())
    }
}

fn pending() -> MutexGuard<'static, Vec<Pending>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `temp` (a file, or with `tree` a directory) that will become `dst`. After
/// SIGINT nothing more is registered: the handler is exiting the process, so this waits.
pub fn register(temp: &Path, dst: &Path, tree: bool) -> Ticket {
    let dst_existed = std::fs::symlink_metadata(dst).is_ok();
    let mut list = pending();
    if interrupted() {
        drop(list);
        park_forever();
    }
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    list.push(Pending {
        ticket,
        temp: temp.to_owned(),
        dst: dst.to_owned(),
        tree,
        dst_existed,
    });
    Ticket(ticket)
}

/// Runs `rename` (which puts the temporary in place) unless SIGINT came first, and drops the
/// temporary from the register (removing it if `rename` failed). After SIGINT the temporary
/// is removed and the interruption reported.
pub fn commit(
    ticket: Ticket,
    rename: impl FnOnce() -> std::io::Result<()>,
) -> Result<std::io::Result<()>, Failure> {
    let mut list = pending();
    let Some(at) = list.iter().position(|p| p.ticket == ticket.0) else {
        drop(list);
        park_forever();
    };
    if interrupted() {
        let p = list.remove(at);
        remove(&p);
        return Err(failure(&p.dst, p.dst_existed));
    }
    let result = rename();
    let p = list.remove(at);
    if result.is_err() {
        remove(&p);
    }
    Ok(result)
}

/// Drops a temporary that was never created from the register (nothing to remove).
pub fn forget(ticket: Ticket) {
    pending().retain(|p| p.ticket != ticket.0);
}

/// Removes the temporary and drops it from the register.
pub fn discard(ticket: Ticket) {
    let mut list = pending();
    if let Some(at) = list.iter().position(|p| p.ticket == ticket.0) {
        remove(&list.remove(at));
    }
}

fn remove(p: &Pending) {
    let _ = if p.tree {
        std::fs::remove_dir_all(&p.temp)
    } else {
        std::fs::remove_file(&p.temp)
    };
}

/// Another thread is reporting and exiting the process (after SIGINT): wait for it.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The SIGINT handler (on ctrlc's thread): unlinks temporary files at once; leaves trees to
/// their copier for [`TREE_GRACE`] (it then reports and exits), removing them after that.
fn on_sigint() {
    let mut list = pending();
    INTERRUPTED.store(true, Ordering::SeqCst);
    let mut said = take(&mut list, |p| !p.tree);
    let had_trees = !list.is_empty();
    drop(list);
    if had_trees {
        let deadline = Instant::now() + TREE_GRACE;
        while Instant::now() < deadline && !pending().is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = take(&mut pending(), |_| true);
        if left.is_empty() && said.is_empty() {
            park_forever(); // the tree's copier cleaned up and is reporting: it exits
        }
        said.extend(left);
    }
    if said.is_empty() {
        eprintln!("safer-ring: interrupted; nothing was written");
    }
    for line in said {
        eprintln!("safer-ring: interrupted: {line}");
    }
    std::process::exit(EXIT_INTERRUPTED);
}

/// Removes the temporaries `which` selects, and says what each was.
fn take(list: &mut Vec<Pending>, which: impl Fn(&Pending) -> bool) -> Vec<String> {
    let (gone, kept): (Vec<_>, Vec<_>) = list.drain(..).partition(which);
    *list = kept;
    gone.iter()
        .map(|p| {
            remove(p);
            format!(
                "{} (the partial copy {} was removed)",
                left_as_it_was(&p.dst, p.dst_existed),
                p.temp.display()
            )
        })
        .collect()
}
