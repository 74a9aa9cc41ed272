//! An SQE as the emulated backend reads it: the fields of the kernel's `struct io_uring_sqe`
//! (64 bytes, `include/uapi/linux/io_uring.h`), decoded from the `io-uring` crate's entry.
#![allow(unsafe_code)]

use io_uring::squeue;

/// `IOSQE_*` flag bits of [`Sqe::flags`].
pub(super) mod flags {
    pub const FIXED_FILE: u8 = 1 << 0;
    pub const IO_DRAIN: u8 = 1 << 1;
    pub const IO_LINK: u8 = 1 << 2;
    pub const IO_HARDLINK: u8 = 1 << 3;
    pub const BUFFER_SELECT: u8 = 1 << 5;
    pub const CQE_SKIP_SUCCESS: u8 = 1 << 6;
}

/// The fields of one SQE; each named after the kernel's (unions by the name the opcodes here
/// use them under).
#[derive(Clone, Copy, Debug)]
pub(super) struct Sqe {
    pub opcode: u8,
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    /// `off` / `addr2`.
    pub off: u64,
    /// `addr` / `splice_off_in`.
    pub addr: u64,
    pub len: u32,
    /// `rw_flags`, `fsync_flags`, `poll32_events`, `msg_flags`, `timeout_flags`,
    /// `accept_flags`, `cancel_flags`, `open_flags`, `statx_flags`, `splice_flags`, ...
    pub op_flags: u32,
    pub user_data: u64,
    /// `buf_index` (a registered buffer) / `buf_group` (a provided-buffer group).
    pub buf_index: u16,
    /// `splice_fd_in` / `file_index`.
    pub splice_fd_in: i32,
}

const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

impl Sqe {
    /// Decodes `entry`.
    pub fn of(entry: &squeue::Entry) -> Self {
        // `squeue::Entry` is `#[repr(C)]` around the kernel's 64-byte `io_uring_sqe` (size
        // checked above): plain integers with no padding, every byte written when the crate
        // builds an entry (it starts from zeroes).
        // SAFETY: so its 64 bytes, read in place, are an initialized `[u8; 64]` (align 1).
        let raw: [u8; 64] = unsafe { std::ptr::read((entry as *const squeue::Entry).cast()) };
        let u16_at = |i: usize| u16::from_ne_bytes([raw[i], raw[i + 1]]);
        let u32_at = |i: usize| u32::from_ne_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_ne_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        Self {
            opcode: raw[0],
            flags: raw[1],
            ioprio: u16_at(2),
            fd: u32_at(4) as i32,
            off: u64_at(8),
            addr: u64_at(16),
            len: u32_at(24),
            op_flags: u32_at(28),
            user_data: u64_at(32),
            buf_index: u16_at(40),
            splice_fd_in: u32_at(44) as i32,
        }
    }

    /// Whether it waits for everything submitted before it (`IOSQE_IO_DRAIN`).
    pub fn drains(&self) -> bool {
        self.flags & flags::IO_DRAIN != 0
    }

    /// Whether the next SQE belongs to the same chain.
    pub fn links(&self) -> bool {
        self.flags & (flags::IO_LINK | flags::IO_HARDLINK) != 0
    }
}

#[cfg(test)]
mod tests {
    use io_uring::{opcode, squeue::Flags, types};

    use super::*;

    #[test]
    fn every_field_reads_back_where_the_crate_wrote_it() {
        let entry = opcode::Read::new(types::Fd(7), 0x1000 as *mut u8, 4096)
            .offset(12345)
            .build()
            .flags(Flags::IO_LINK)
            .user_data(0xdead_beef);
        let sqe = Sqe::of(&entry);
        assert_eq!(sqe.opcode, opcode::Read::CODE);
        assert_eq!(
            (sqe.fd, sqe.addr, sqe.len, sqe.off),
            (7, 0x1000, 4096, 12345)
        );
        assert_eq!(sqe.user_data, 0xdead_beef);
        assert!(sqe.links());
        let fixed = opcode::ReadFixed::new(types::Fixed(2), 0x2000 as *mut u8, 512, 9).build();
        let sqe = Sqe::of(&fixed);
        assert_eq!(
            (sqe.fd, sqe.buf_index, sqe.flags & flags::FIXED_FILE),
            (2, 9, 1)
        );
        let recv = opcode::Recv::new(types::Fd(5), std::ptr::null_mut(), 0)
            .buf_group(33)
            .build()
            .flags(Flags::BUFFER_SELECT);
        let sqe = Sqe::of(&recv);
        assert_eq!(
            (sqe.buf_index, sqe.flags & flags::BUFFER_SELECT),
            (33, flags::BUFFER_SELECT)
        );
        let splice = opcode::Splice::new(types::Fd(3), 10, types::Fd(4), 20, 99).build();
        let sqe = Sqe::of(&splice);
        assert_eq!(
            (sqe.splice_fd_in, sqe.addr, sqe.fd, sqe.off, sqe.len),
            (3, 10, 4, 20, 99)
        );
    }
}
