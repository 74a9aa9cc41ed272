//! The examples are real programs: run each and check what it says and does.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, built by `cargo test` alongside the tests.
fn example(name: &str) -> Command {
    let mut dir = std::env::current_exe().expect("test exe path");
    dir.pop(); // deps
    dir.pop(); // <profile>
    let path: PathBuf = dir.join("examples").join(name);
    assert!(path.exists(), "example not built: {}", path.display());
    Command::new(path)
}

#[test]
fn copy_example_copies_a_file_exactly_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let dst = dir.path().join("dst.bin");
    let data: Vec<u8> = (0..5_000_003u32).map(|i| (i * 7 + i / 3) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let out = example("copy")
        .args([src.as_os_str(), dst.as_os_str()])
        .args(["--chunk", "64", "--depth", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("copied 5000003 bytes"), "{stdout}");
    assert!(std::fs::read(&dst).unwrap() == data, "copy differs");
}

#[test]
fn copy_example_explains_a_missing_source() {
    let out = example("copy")
        .args(["/no/such/file", "/tmp/never-written"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /no/such/file"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn nop_ratio_example_prints_the_ratio() {
    let out = example("nop_ratio")
        .args(["--ops", "60000", "--rounds", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let ratio: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nop safe/raw ratio: "))
        .expect("ratio line")
        .parse()
        .unwrap();
    assert!(ratio > 0.0 && ratio.is_finite());
}

#[test]
fn buffer_pool_example_reads_through_a_registered_pool_and_reports() {
    let out = example("buffer_pool")
        .args([
            "--file-mib",
            "8",
            "--reads",
            "4000",
            "--depth",
            "8",
            "--rounds",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("fixed buffers + registered file / plain:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pool: 8 buffers of 4 KiB, 0 in use, 8 free"),
        "{stdout}"
    );
}
