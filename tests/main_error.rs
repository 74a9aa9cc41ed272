//! What a program whose `main` returns `Result<(), SaferRingError>` prints when it fails:
//! Rust prints the error's `Debug`, which must carry the same actionable text as `Display`.
//! This test binary has its own `main` (no harness): run plainly it is the test, re-running
//! itself as the failing program; with `MAIN_ERROR_CHILD` set it is that program.

use std::process::Command;

use safer_ring::{OpenOptions, Ring, SaferRingError};

/// The failing program: a `main` as a user writes it.
fn child(case: &str) -> Result<(), SaferRingError> {
    match case {
        "too-large" => drop(Ring::new(u32::MAX)?),
        "missing-file" => {
            let ring = Ring::new(4)?;
            let opts = OpenOptions::new();
            drop(ring.open("/no/such/dir/file", opts).submit()?.wait()?);
        }
        other => panic!("unknown case {other}"),
    }
    Ok(())
}

/// Runs this binary as the failing program for `case`: its exit code and stderr.
fn run(case: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("MAIN_ERROR_CHILD", case)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

fn main() -> Result<(), SaferRingError> {
    if let Ok(case) = std::env::var("MAIN_ERROR_CHILD") {
        return child(&case);
    }
    let (code, stderr) = run("too-large");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "Error: TooLarge: entries = 4294967295 is more than the kernel allows (at most 32768)\n"
    );
    let (code, stderr) = run("missing-file");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            r#"Error: Os: open "/no/such/dir/file" failed: No such file or directory"#
        ),
        "{stderr}"
    );
    println!("main_error: the failing mains printed their advice");
    Ok(())
}
