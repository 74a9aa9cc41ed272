//! Listeners across cores: one `SO_REUSEPORT` TCP listener per worker, so the kernel spreads
//! incoming connections over the workers and each accepts on its own ring.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use super::RingPool;
use crate::error::Result;
use crate::net::{ListenOptions, TcpListener};

impl RingPool {
    /// Binds one listener per worker on `addr` (`SO_REUSEPORT` set, whatever `options`
    /// says): element `i` is for worker `i`. With port 0 the first listener gets a free port
    /// and the others bind the same one. Hand each to its worker with
    /// [`spawn_on`](Self::spawn_on):
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::RingPool;
    /// use safer_ring::net::ListenOptions;
    /// let pool = RingPool::new(2)?;
    /// let listeners = pool.bind_tcp("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let addr = listeners[0].local_addr()?;
    /// let clients: Vec<_> = (0..8).map(|_| std::net::TcpStream::connect(addr)).collect();
    /// // Each worker accepts what the kernel queued on its listener until none comes for
    /// // 200 ms.
    /// let servers: Vec<_> = listeners
    ///     .into_iter()
    ///     .enumerate()
    ///     .map(|(i, listener)| {
    ///         pool.spawn_on(i, move |ring| async move {
    ///             let mut accepted = 0;
    ///             while ring.accept(&listener).timeout(Duration::from_millis(200)).await.is_ok() {
    ///                 accepted += 1;
    ///             }
    ///             accepted
    ///         })
    ///     })
    ///     .collect();
    /// let total: usize = servers.into_iter().map(|s| s.join().unwrap()).sum();
    /// assert_eq!(total, clients.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The first `bind` that fails (the address in use, not available here, out of fds);
    /// no listener is kept.
    pub fn bind_tcp(&self, addr: SocketAddr, options: ListenOptions) -> Result<Vec<TcpListener>> {
        let options = ListenOptions {
            reuse_port: true,
            ..options
        };
        let first = TcpListener::bind(addr, options)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..self.workers() {
            listeners.push(TcpListener::bind(addr, options)?);
        }
        Ok(listeners)
    }
}
