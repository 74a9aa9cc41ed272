//! Progress on stderr with `indicatif`, only when stderr is a terminal (and not `--quiet`);
//! nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar, or nothing.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar counting `total` bytes.
    pub fn bytes(total: u64, quiet: bool) -> Self {
        Self::new(
            total,
            quiet,
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
    }

    /// A bar counting `total` files.
    pub fn files(total: u64, quiet: bool) -> Self {
        Self::new(
            total,
            quiet,
            "{bar:40} {pos}/{len} files {per_sec} eta {eta}",
        )
    }

    fn new(total: u64, quiet: bool, template: &str) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Self(bar)
    }

    /// Counts `n` more bytes or files done.
    pub fn add(&self, n: u64) {
        self.0.inc(n);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
