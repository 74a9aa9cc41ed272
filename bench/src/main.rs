//! Side-by-side benchmarks: `cargo run --release -p safer-ring-bench -- SUITE|all [--quick]
//! [--markdown FILE] [--json FILE]`. Contenders run interleaved, round by round, in one process; every
//! figure is a median over the rounds, with its spread and the process CPU time per
//! operation; goals print as PASS or MISS.
//!
//! `cargo run --release -p safer-ring-bench -- conns [--connections N|max] [--servers K]` is
//! no suite: it holds as many connections at once as asked against `echo_server` and says
//! what they cost (see `conns.rs`).

mod alloc;
mod conns;
mod copy;
mod echo;
mod extra;
mod https;
mod instr;
mod iocopy;
mod machine;
mod mem;
mod nop;
mod peers;
mod read;
mod report;
mod stats;
mod wake;
mod work;
mod write;

use report::Report;

const SUITES: &[&str] = &[
    "nop", "read", "write", "copy", "iocopy", "https", "echo", "scale", "mem", "alloc", "instr",
    "wake",
];

/// What the numbers mean; printed above the generated tables.
const EXPLAIN: &str = "Every contender runs in the same process, interleaved round by round \
(5 rounds, 3 with `--quick`); a row is the median over rounds, with its spread \
((max - min) / median) and the process CPU time per operation. A goal line divides two medians \
of the same run: `safe/raw` is this crate's safe API over the same work written directly on the \
`io-uring` crate (same ring flags, SINGLE_ISSUER|DEFER_TASKRUN), so 1.0 means no overhead. \
`fixed/raw plain` compares registered buffers and file against raw plain reads. Where io_uring \
itself loses, it shows: on these VMs a plain `pread` beats even raw io_uring on page-cached \
4 KiB reads at queue depth 1 (the syscall does the copy at once; io_uring adds the ring \
round trip), and buffered 4 KiB file writes through io_uring are punted to its worker threads \
(the inline non-blocking attempt cannot complete), so `pwrite` is several times faster there. \
A MISS is reported, never hidden.";

struct Args {
    suites: Vec<String>,
    quick: bool,
    markdown: Option<String>,
    json: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        suites: Vec::new(),
        quick: false,
        markdown: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--markdown" => args.markdown = Some(it.next().ok_or("--markdown needs a file")?),
            "--json" => args.json = Some(it.next().ok_or("--json needs a file")?),
            "all" => args.suites.extend(SUITES.iter().map(|s| s.to_string())),
            s if SUITES.contains(&s) => args.suites.push(s.to_owned()),
            other => {
                return Err(format!(
                    "unknown suite or flag {other} (suites: {SUITES:?}, all)"
                ));
            }
        }
    }
    if args.suites.is_empty() {
        return Err(format!("name a suite ({SUITES:?}) or all"));
    }
    Ok(args)
}

/// A subcommand: its arguments (after its name) to success or a message.
type Subcommand = fn(&[String]) -> Result<(), String>;

fn main() {
    instr::worker_if_asked();
    // Subcommands besides the suites: `serve NAME --addr IP:PORT` runs one of the echo
    // suite's competitor servers (hidden); `conns ...` holds many connections at once
    // against echo_server (see conns.rs), `conns-client ...` being one of its client processes.
    let argv: Vec<String> = std::env::args().collect();
    let sub: Option<Subcommand> = match argv.get(1).map(String::as_str) {
        Some("serve") => Some(echo::servers::main),
        Some("conns") => Some(conns::main),
        Some("conns-client") => Some(conns::client_main),
        _ => None,
    };
    if let Some(sub) = sub {
        if let Err(e) = sub(&argv[2..]) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "error: {msg}\nusage: safer-ring-bench SUITE|all [--quick] [--markdown FILE] [--json FILE]\n       safer-ring-bench conns [--connections N|max] [--servers K] [--per-client N] [--size B]"
            );
            std::process::exit(2);
        }
    };
    let rounds = if args.quick { 3 } else { 5 };
    let load = stats::load_average();
    let mut report = Report::default();
    for suite in &args.suites {
        eprintln!("running {suite} ({rounds} rounds)...");
        let res = match suite.as_str() {
            "nop" => nop::run(&mut report, rounds, args.quick),
            "read" => read::run(&mut report, rounds, args.quick),
            "write" => write::run(&mut report, rounds, args.quick),
            "copy" => copy::run(&mut report, rounds, args.quick),
            "iocopy" => iocopy::run(&mut report, rounds, args.quick),
            "https" => https::run(&mut report, rounds, args.quick).map_err(Into::into),
            "alloc" => alloc::run(&mut report, rounds, args.quick),
            "instr" => instr::run(&mut report, rounds, args.quick),
            "wake" => wake::run(&mut report, rounds, args.quick),
            "echo" => echo::run(&mut report, rounds, args.quick)
                .map_err(|e| std::io::Error::other(e).into()),
            "scale" => echo::scale::run(&mut report, rounds, args.quick)
                .map_err(|e| std::io::Error::other(e).into()),
            "mem" => mem::run(&mut report, rounds, args.quick)
                .map_err(|e| std::io::Error::other(e).into()),
            _ => unreachable!("checked in parse_args"),
        };
        if let Err(e) = res {
            eprintln!("error in {suite}: {e}");
            std::process::exit(1);
        }
    }
    report.print(load);
    if let Some(path) = &args.json {
        let command: Vec<String> = std::env::args().skip(1).collect();
        let value = report.json(&command, args.quick, rounds, load);
        let text = serde_json::to_string_pretty(&value).expect("a JSON value serializes");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    if let Some(path) = args.markdown {
        let header = format!(
            "# Benchmarks\n\nGenerated by `cargo run --release -p safer-ring-bench -- {} {}--markdown \
             BENCHMARKS.md` on {} ({} CPUs, {}), Linux {}, load average {load:.2} at the start.\n\n{}",
            args.suites.join(" "),
            if args.quick { "--quick " } else { "" },
            machine::date(),
            machine::cpus(),
            machine::cpu_model(),
            machine::kernel(),
            EXPLAIN
        );
        if let Err(e) = std::fs::write(&path, report.markdown(&header)) {
            eprintln!("error: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}
