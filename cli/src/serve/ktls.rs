//! Kernel TLS (kTLS): the `tls` upper-layer protocol on a TCP socket, and the session keys
//! rustls negotiated handed to the kernel (`setsockopt(SOL_TLS, TLS_TX / TLS_RX)`), which
//! then encrypts what the ring sends and decrypts what it receives. The only `unsafe` of the
//! server: three socket-option calls on a live fd with plain C structs.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion};

/// Whether this kernel has the `tls` ULP. Setting it on a listening socket fails with
/// `ENOENT` when the kernel has none (after trying to load the module), and with another
/// error (`EINVAL`: a listener cannot take it) when it has one.
pub fn available() -> io::Result<bool> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    match set_tls_ulp(probe.as_fd()) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        _ => Ok(true),
    }
}

/// Puts the `tls` ULP on a connected TCP socket. Until keys are installed the socket passes
/// bytes through unchanged, so the handshake runs over it as over plain TCP.
pub fn set_tls_ulp(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt(fd, libc::SOL_TCP, libc::TCP_ULP, b"tls")
}

/// The name of the socket's ULP (`"tls"` once kTLS is on), empty if it has none.
pub fn ulp(fd: BorrowedFd<'_>) -> io::Result<String> {
    let mut name = [0u8; 16];
    let mut len = name.len() as libc::socklen_t;
    // SAFETY: `name` is a live local buffer of `len` bytes and `len` a live local: the
    // kernel writes at most `len` bytes and the length it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_ULP,
            name.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let name = &name[..(len as usize).min(name.len())];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// Installs both directions' keys and sequence numbers: from here on the kernel encrypts
/// sends and decrypts receives (a record that is not application data — an alert — makes a
/// plain `recv` fail with `EIO`).
pub fn install(
    fd: BorrowedFd<'_>,
    version: ProtocolVersion,
    secrets: ExtractedSecrets,
) -> io::Result<()> {
    let version = match version {
        ProtocolVersion::TLSv1_2 => libc::TLS_1_2_VERSION,
        ProtocolVersion::TLSv1_3 => libc::TLS_1_3_VERSION,
        other => return Err(unsupported(format!("{other:?}"))),
    };
    let (tx_seq, tx) = secrets.tx;
    let (rx_seq, rx) = secrets.rx;
    set_keys(fd, libc::TLS_TX, version, tx_seq, &tx)?;
    set_keys(fd, libc::TLS_RX, version, rx_seq, &rx)
}

fn unsupported(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("kTLS has no support for {what}"),
    )
}

/// Fills one of the kernel's `tls12_crypto_info_*` structs (the same layout for TLS 1.2 and
/// 1.3): key, implicit salt, explicit IV and the record sequence number, big-endian.
macro_rules! crypto_info {
    ($ty:ident, $cipher:expr, $version:expr, $seq:expr, $key:expr, $salt:expr, $iv:expr) => {
        libc::$ty {
            info: libc::tls_crypto_info {
                version: $version,
                cipher_type: $cipher,
            },
            iv: $iv
                .try_into()
                .map_err(|_| unsupported("this IV length".into()))?,
            key: $key
                .try_into()
                .map_err(|_| unsupported("this key length".into()))?,
            salt: $salt
                .try_into()
                .map_err(|_| unsupported("this salt length".into()))?,
            rec_seq: $seq.to_be_bytes(),
        }
    };
}

/// One direction's `setsockopt(SOL_TLS, dir)`. AES-GCM's 12-byte nonce base splits into the
/// 4-byte salt and 8-byte IV; ChaCha20-Poly1305 takes all 12 bytes as its IV.
fn set_keys(
    fd: BorrowedFd<'_>,
    dir: libc::c_int,
    version: u16,
    seq: u64,
    secrets: &ConnectionTrafficSecrets,
) -> io::Result<()> {
    match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
            let (salt, iv) = iv.as_ref().split_at(4);
            let info = crypto_info!(
                tls12_crypto_info_aes_gcm_128,
                libc::TLS_CIPHER_AES_GCM_128,
                version,
                seq,
                key.as_ref(),
                salt,
                iv
            );
            setsockopt(fd, libc::SOL_TLS, dir, &info)
        }
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            let (salt, iv) = iv.as_ref().split_at(4);
            let info = crypto_info!(
                tls12_crypto_info_aes_gcm_256,
                libc::TLS_CIPHER_AES_GCM_256,
                version,
                seq,
                key.as_ref(),
                salt,
                iv
            );
            setsockopt(fd, libc::SOL_TLS, dir, &info)
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            let salt: &[u8] = &[];
            let info = crypto_info!(
                tls12_crypto_info_chacha20_poly1305,
                libc::TLS_CIPHER_CHACHA20_POLY1305,
                version,
                seq,
                key.as_ref(),
                salt,
                iv.as_ref()
            );
            setsockopt(fd, libc::SOL_TLS, dir, &info)
        }
        _ => Err(unsupported("this cipher suite".into())), // no key material in messages
    }
}

/// `setsockopt(fd, level, name, value)` with `value`'s bytes.
fn setsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live, initialised plain value of `len` bytes (byte arrays or the
    // kernel's `#[repr(C)]` crypto-info structs) that the kernel only reads during the call;
    // `fd` is borrowed, so it is open for the call.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
