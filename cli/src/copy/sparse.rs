//! The data extents of a file (`SEEK_DATA` / `SEEK_HOLE`): what to copy so holes stay holes.

use std::os::fd::AsRawFd;

/// A run of data: `(offset, length)`.
pub type Extent = (u64, u64);

/// The data extents of the first `len` bytes of `file`, in order. A filesystem without
/// `SEEK_DATA` (or an error while asking) gives one extent for the whole file: every byte is
/// copied, so nothing is lost, only holes may be filled.
pub fn data_extents(file: &impl AsRawFd, len: u64) -> Vec<Extent> {
    let whole = vec![(0, len)];
    let mut extents = Vec::new();
    let mut pos = 0;
    while pos < len {
        let data = match seek(file, pos, libc::SEEK_DATA) {
            Ok(data) => data,
            Err(libc::ENXIO) => break, // only a hole from `pos` to the end
            Err(_) => return whole,
        };
        if data >= len {
            break;
        }
        let Ok(hole) = seek(file, data, libc::SEEK_HOLE) else {
            return whole;
        };
        let end = hole.min(len);
        extents.push((data, end - data));
        pos = end;
    }
    extents
}

/// `lseek(fd, offset, whence)`: the new offset, or the errno.
fn seek(file: &impl AsRawFd, offset: u64, whence: i32) -> Result<u64, i32> {
    let offset = i64::try_from(offset).map_err(|_| libc::EOVERFLOW)?;
    // SAFETY: lseek reads no memory of ours; the fd is open for as long as `file` is borrowed.
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    u64::try_from(at).map_err(|_| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn a_file_with_a_hole_in_the_middle_has_two_extents() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[1; 4096]).unwrap();
        file.seek(SeekFrom::Start(1 << 20)).unwrap();
        file.write_all(&[2; 4096]).unwrap();
        let len = (1 << 20) + 4096;
        assert_eq!(data_extents(&file, len), vec![(0, 4096), (1 << 20, 4096)]);
    }

    #[test]
    fn a_file_that_is_all_hole_has_no_extents() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(1 << 20).unwrap();
        assert_eq!(data_extents(&file, 1 << 20), vec![]);
    }
}
