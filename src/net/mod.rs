//! Sockets: owned handles ([`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`]) whose fds every operation keeps open (invariant 6), and the ring's network
//! operations ([`Ring::accept`](crate::Ring::accept), [`Ring::connect`](crate::Ring::connect),
//! [`Ring::send`](crate::Ring::send), [`Ring::recv`](crate::Ring::recv),
//! [`Ring::send_to`](crate::Ring::send_to), [`Ring::recv_from`](crate::Ring::recv_from),
//! [`Ring::shutdown_socket`](crate::Ring::shutdown_socket)).
//!
//! Every socket address the kernel reads or writes lives on the heap inside its operation
//! until the final CQE, like a buffer.
//!
//! ```
//! # fn main() -> safer_ring::Result<()> {
//! use std::future::IntoFuture;
//! use safer_ring::Ring;
//! use safer_ring::net::{ListenOptions, TcpListener};
//! let ring = Ring::new(16)?;
//! let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
//! let addr = listener.local_addr()?;
//! ring.block_on(async {
//!     let (client, server) = futures::join!(ring.connect(addr).into_future(), ring.accept(&listener).into_future());
//!     let (client, (server, _peer)) = (client?, server?);
//!     let (n, _) = ring.send(&client, b"ping".to_vec()).await;
//!     assert_eq!(n?, 4);
//!     let (n, buf) = ring.recv(&server, Vec::with_capacity(16)).await;
//!     assert_eq!(&buf[..n?], b"ping");
//!     Ok(())
//! })
//! # }
//! ```

mod addr;
pub mod opcodes;
mod ops;
mod socket;

pub(crate) use addr::AddrBuf;
pub use opcodes::ZcEvent;
pub use ops::Shutdown;
pub use socket::{ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
