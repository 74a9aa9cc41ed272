//! Loops that finish the job: [`Ring::read_exact_at`] and [`Ring::write_all_at`] (and the
//! step both share with [`Ring::send_all`]).
#![forbid(unsafe_code)]

use super::opcodes::{Read, Write};
use crate::buf::{IoBuf, IoBufMut};
use crate::fd::AsTarget;
use crate::op::{BufResult, until_done};
use crate::ring::Ring;

impl Ring {
    /// Reads until `buf` is full (`buf.bytes_total()` bytes) starting at `offset`, retrying
    /// short reads. End of file first is an `UnexpectedEof` error; the buffer comes back
    /// either way, holding what was read.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.block_on(async {
    ///     let (res, _) = ring.write_all_at(&file, vec![7u8; 10_000], 0).await;
    ///     res?;
    ///     let (res, buf) = ring.read_exact_at(&file, Vec::with_capacity(10_000), 0).await;
    ///     res?;
    ///     assert_eq!(buf, vec![7u8; 10_000]);
    ///     let (res, buf) = ring.read_exact_at(&file, Vec::with_capacity(64), 9_990).await;
    ///     assert_eq!(res.unwrap_err().to_string(),
    ///                "read_exact_at failed: end of file after 10 of 64 bytes");
    ///     assert_eq!(buf.len(), 10);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn read_exact_at<B: IoBufMut>(
        &self,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = BufResult<(), B>> {
        let total = buf.bytes_total();
        until_done(self, "read_exact_at", buf, total, move |buf, done| Read {
            op: "read_exact_at",
            fd: file.target(),
            buf,
            offset: offset + done as u64,
            buf_pos: done,
        })
    }

    /// Writes all of `buf`'s initialised bytes starting at `offset`, retrying short writes.
    /// The buffer comes back either way.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    /// let (res, data) = ring.block_on(ring.write_all_at(&file, data, 5));
    /// res?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 100_005);
    /// let (res, back) = ring.block_on(ring.read_exact_at(&file, Vec::with_capacity(100_000), 5));
    /// res?;
    /// assert_eq!(back, data);
    /// # Ok(()) }
    /// ```
    pub fn write_all_at<B: IoBuf>(
        &self,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> impl Future<Output = BufResult<(), B>> {
        let total = buf.bytes_init();
        until_done(self, "write_all_at", buf, total, move |buf, done| Write {
            op: "write_all_at",
            fd: file.target(),
            buf,
            offset: offset + done as u64,
            buf_pos: done,
        })
    }
}
