//! `safer-ring bench`: runs the benchmark harness, the `safer-ring-bench` binary of the
//! workspace's bench crate (which depends on this crate, so it cannot be linked in).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use crate::Failure;

/// The exit codes of `bench`, shown in its long help.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every suite ran (a MISS of a goal line is reported, not an error)
  1    the harness could not be found or started, or a suite failed
  2    bad usage (of `bench` or of the harness's own flags)";

/// The arguments of `bench`: everything is the harness's.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Suites and flags for `safer-ring-bench` (`-- --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Replaces this process with the harness: the binary next to this one, or `cargo run` in
/// the source checkout this binary was built from. Returns only if neither can be started.
pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("safer-ring-bench")));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = match &beside {
        Some(bin) if bin.exists() => Command::new(bin),
        _ if workspace.join("bench").join("Cargo.toml").exists() => cargo_run(&workspace),
        _ => return Err(not_found(beside)),
    };
    let err = cmd.args(&args.args).exec();
    Err(Failure::Failed(format!(
        "bench: cannot start {:?}: {err}",
        cmd.get_program()
    )))
}

/// `cargo run --release -p safer-ring-bench --` in `workspace`.
fn cargo_run(workspace: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["run", "--release", "-q", "-p", "safer-ring-bench", "--"]);
    cmd
}

fn not_found(beside: Option<PathBuf>) -> Failure {
    let looked = beside.map_or("next to this binary".into(), |p| p.display().to_string());
    Failure::Failed(format!(
        "bench: the harness is not installed ({looked} does not exist) and the source tree \
         this binary was built from is gone; build it with `cargo build --release -p \
         safer-ring-bench` in a checkout of safer-ring"
    ))
}
