//! Network operations: setting up connections, moving bytes, datagrams with addresses,
//! multishot accept/recv, zero-copy send. Every address and `msghdr` the kernel touches is
//! boxed inside its operation.

mod connect;
mod msg;
mod multishot;
mod transfer;
mod zerocopy;

pub use connect::{Accept, Accepted, Connect, SocketOp};
pub(crate) use msg::Msg;
pub use msg::{RecvFrom, SendTo};
pub use multishot::{AcceptMulti, RecvMulti};
pub use transfer::{Recv, Send, ShutdownOp};
pub use zerocopy::{SendZc, ZcEvent};
