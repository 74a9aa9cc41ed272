//! `safer-ring serve` (and the `https_server` example): a directory served over HTTPS/1.1
//! with keep-alive, on one ring driven from a tokio current-thread runtime.
//!
//! Each connection's TLS handshake is rustls's. With kTLS (`--ktls auto`, the default, when
//! the kernel has the `tls` upper-layer protocol; or `--ktls on`), the handshake runs over
//! the ring record by record, the session keys go to the kernel (`TLS_TX`/`TLS_RX`), and from
//! then on the ring sends and receives plaintext: the kernel encrypts and decrypts. Without
//! kTLS the server says so once and serves with rustls in user space, through tokio-rustls
//! over the ring's `RingIo` adapter. Either way the files are read by the ring.

mod conn;
mod http;
mod ktls;
mod tls;

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use futures::StreamExt;
use safer_ring::Ring;
use safer_ring::net::{ListenOptions, TcpListener};
use tokio::sync::oneshot;

use crate::Failure;
use conn::Shared;

/// The exit codes of `serve`, shown in its long help.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    stopped by SIGINT (Ctrl-C) after serving
  1    could not start: the address is in use, --dir is no directory, the certificate or
       key cannot be read, or --ktls on where the kernel has no \"tls\" ULP
  2    bad usage (unknown flag, missing argument)
  3    io_uring is unavailable here (run `safer-ring probe` for why and the fix)";

/// The arguments of `serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub addr: SocketAddr,
    /// The directory whose files are served (nothing outside it, symlinks included).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The certificate chain (PEM); without --cert and --key, a self-signed one for localhost.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Kernel TLS: on (fail to start without it), off, or auto (when the kernel has it).
    #[arg(long, value_enum, default_value_t = KtlsMode::Auto)]
    pub ktls: KtlsMode,
}

/// `--ktls`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KtlsMode {
    /// kTLS for every connection; refuse to start where the kernel has no `tls` ULP.
    On,
    /// Userspace rustls only.
    Off,
    /// kTLS where the kernel has it, userspace rustls otherwise.
    Auto,
}

/// What a server did, once stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Responses sent.
    pub requests: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections whose TLS the kernel took over (their socket's ULP read back `tls`).
    pub ktls_connections: u64,
}

/// A server running on its own thread.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    ktls: bool,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Served>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether its connections get kTLS.
    pub fn ktls(&self) -> bool {
        self.ktls
    }

    /// Stops accepting, drops the open connections and says what it served.
    pub fn stop(self) -> Served {
        let _ = self.stop.send(());
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// The line printed where kTLS was asked for (`auto`) and the kernel has none.
pub const NO_KTLS: &str =
    "kTLS unavailable (no \"tls\" ULP in this kernel): serving with userspace rustls over the ring";

/// Starts a server on its own thread, returning once it listens; or why it cannot.
pub fn start(args: &ServeArgs) -> Result<Running, Failure> {
    let root = served_dir(&args.dir)?;
    let config = tls::config(args.cert.as_deref(), args.key.as_deref())?;
    let ktls = match (args.ktls, args.ktls != KtlsMode::Off && ktls_available()) {
        (KtlsMode::On, false) => {
            let why = "--ktls on: this kernel has no \"tls\" ULP (CONFIG_TLS is off or the tls module cannot be loaded); use --ktls auto or off";
            return Err(Failure::Failed(why.into()));
        }
        (KtlsMode::Auto, false) => {
            eprintln!("{NO_KTLS}");
            false
        }
        (_, on) => on,
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop, stopped) = oneshot::channel();
    let addr = args.addr;
    let thread = std::thread::spawn(move || {
        let shared = |ring| Shared {
            ring,
            root,
            config,
            ktls,
            requests: Cell::new(0),
            connections: Cell::new(0),
            ktls_connections: Cell::new(0),
        };
        serve(addr, shared, &ready_tx, stopped)
    });
    match ready_rx.recv() {
        Ok(Ok(addr)) => Ok(Running {
            addr,
            ktls,
            stop,
            thread,
        }),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(Failure::Failed(format!(
            "the server thread stopped before listening: {:?}",
            thread.join().err()
        ))),
    }
}

fn served_dir(dir: &Path) -> Result<PathBuf, Failure> {
    let root = dir
        .canonicalize()
        .map_err(|e| Failure::io("cannot serve", dir, e))?;
    if !root.is_dir() {
        return Err(Failure::io("cannot serve", dir, "not a directory"));
    }
    Ok(root)
}

fn ktls_available() -> bool {
    ktls::available().unwrap_or_else(|e| {
        eprintln!("kTLS: cannot probe the kernel for the tls ULP: {e}");
        false
    })
}

/// The server thread: a ring on a current-thread tokio runtime, the listener, and a task
/// per connection, until `stopped`.
fn serve(
    addr: SocketAddr,
    shared: impl FnOnce(Rc<Ring>) -> Shared,
    ready: &mpsc::Sender<Result<SocketAddr, Failure>>,
    stopped: oneshot::Receiver<()>,
) -> Served {
    let set_up = || -> Result<(Rc<Ring>, TcpListener, tokio::runtime::Runtime), Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build();
        let rt = rt.map_err(|e| Failure::Failed(format!("cannot start the tokio runtime: {e}")))?;
        let ring = Ring::builder()
            .entries(256)
            .cq_entries(4096)
            .build()
            .map_err(Failure::ring)?;
        let listener = TcpListener::bind(addr, ListenOptions::default())
            .map_err(|e| Failure::Failed(format!("cannot listen on {addr}: {e}")))?;
        Ok((Rc::new(ring), listener, rt))
    };
    let (ring, listener, rt) = match set_up() {
        Ok(parts) => parts,
        Err(failure) => {
            let _ = ready.send(Err(failure));
            return Served::default();
        }
    };
    let _ = ready.send(
        listener
            .local_addr()
            .map_err(|e| Failure::Failed(format!("no local address: {e}"))),
    );
    let shared = Rc::new(shared(ring.clone()));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::select! {
            res = ring.drive() => {
                let Err(e) = res;
                eprintln!("the ring failed: {e}");
            }
            () = accept(&shared, &listener) => {}
            _ = stopped => {}
        }
    });
    drop(local); // the connection tasks, their operations parked in the ring
    Served {
        requests: shared.requests.get(),
        connections: shared.connections.get(),
        ktls_connections: shared.ktls_connections.get(),
    }
}

/// Accepts connections (multishot), each served by a task of its own. A failed accept is
/// printed and the listener armed again after a pause (out of fds: time for some to close).
async fn accept(shared: &Rc<Shared>, listener: &TcpListener) {
    loop {
        let mut accepts = shared.ring.accept_multi(listener);
        while let Some(conn) = accepts.next().await {
            match conn {
                Ok(conn) => drop(tokio::task::spawn_local(conn::serve(shared.clone(), conn))),
                Err(e) => {
                    eprintln!("accept: {e}");
                    break;
                }
            }
        }
        drop(accepts);
        let _ = shared.ring.sleep(Duration::from_millis(10)).await;
    }
}

/// Serves until SIGINT: prints `listening on ADDR (kTLS: yes|no)` once listening, and what
/// it served when stopped.
pub fn main(args: &ServeArgs) -> Result<(), Failure> {
    let (interrupt, interrupted) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = interrupt.send(());
    })
    .map_err(|e| Failure::Failed(format!("cannot install the SIGINT handler: {e}")))?;
    let running = start(args)?;
    let ktls = if running.ktls() { "yes" } else { "no" };
    println!("listening on {} (kTLS: {ktls})", running.addr());
    let _ = interrupted.recv();
    let served = running.stop();
    println!(
        "stopped: served {} requests on {} connections, {} of them with kTLS",
        served.requests, served.connections, served.ktls_connections
    );
    Ok(())
}

/// The `https_server` example's command line: the flags of `safer-ring serve`.
#[derive(Parser, Debug)]
#[command(
    name = "https_server",
    about = "Serves a directory over HTTPS/1.1 through io_uring, with kernel TLS where the kernel has it",
    after_long_help = EXIT_CODES
)]
struct Standalone {
    #[command(flatten)]
    args: ServeArgs,
}

/// The `https_server` example: parses `serve`'s flags, serves until SIGINT, and exits with
/// `serve`'s codes.
pub fn run_standalone() -> ExitCode {
    let Standalone { args } = Standalone::parse();
    crate::failure::exit_with("https_server", main(&args))
}
