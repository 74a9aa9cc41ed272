//! HTTP/1.1 over a [`Transport`]: GET and HEAD of the files under the served directory,
//! keep-alive (HTTP/1.1's default; HTTP/1.0 only when asked), pipelined requests in order.
//! `..` in a path is refused (400), a missing file is 404, another method 405, a malformed
//! request 400; the last two close the connection (their body, if any, is not read).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use safer_ring::{File, Ring};

/// A connection's byte stream, TLS taken care of (by the kernel or by rustls).
pub(crate) trait Transport {
    /// Reads more of the stream onto the end of `into`: how many bytes, 0 at its end.
    async fn read(&mut self, into: &mut Vec<u8>) -> io::Result<usize>;
    /// Sends all of `data`, handing the buffer back.
    async fn send(&mut self, data: Vec<u8>) -> (io::Result<()>, Vec<u8>);
    /// Waits until everything sent has left.
    async fn flush(&mut self) -> io::Result<()>;
}

/// The most a request's head may take.
const MAX_HEAD: usize = 16 * 1024;
/// Bytes of a file read and sent at a time.
const CHUNK: usize = 64 * 1024;

/// What a request asks.
struct Request {
    head: bool,
    target: String,
    keep_alive: bool,
}

/// A reply before it is sent: a file and its length, or a status with a short text body.
enum Reply {
    File(fs::File, u64, &'static str),
    Status(u16),
}

/// Serves requests on `t` until the client closes the connection, asks to close it, or
/// sends something this server refuses; `served` is called once per response sent.
pub(crate) async fn serve(
    t: &mut impl Transport,
    ring: &Ring,
    root: &Path,
    mut served: impl FnMut(),
) -> io::Result<()> {
    let mut pending = Vec::with_capacity(4096);
    let (mut out, mut chunk) = (Vec::with_capacity(CHUNK + 512), Vec::with_capacity(CHUNK));
    loop {
        let (reply, keep_alive, head) = match next_request(t, &mut pending).await? {
            None => return Ok(()),
            Some(Ok(req)) => (route(root, &req.target), req.keep_alive, req.head),
            Some(Err(status)) => (Reply::Status(status), false, false),
        };
        let keep_alive = keep_alive && !matches!(reply, Reply::Status(400 | 405));
        out = respond(t, ring, reply, keep_alive, head, out, &mut chunk).await?;
        t.flush().await?;
        served();
        if !keep_alive {
            return Ok(());
        }
    }
}

/// The next request's head, read until complete: `None` when the stream ends first, a
/// status for one that cannot be served.
async fn next_request(
    t: &mut impl Transport,
    pending: &mut Vec<u8>,
) -> io::Result<Option<Result<Request, u16>>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(pending) {
            Ok(httparse::Status::Complete(len)) => {
                let req = request(&parsed);
                pending.drain(..len);
                return Ok(Some(req));
            }
            Ok(httparse::Status::Partial) if pending.len() < MAX_HEAD => {
                if t.read(pending).await? == 0 {
                    return Ok(None);
                }
            }
            _ => return Ok(Some(Err(400))),
        }
    }
}

fn request(parsed: &httparse::Request<'_, '_>) -> Result<Request, u16> {
    let head = match parsed.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Err(405),
    };
    let header = |name: &str| {
        let found = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name));
        found.map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let connection = header("connection").unwrap_or_default();
    let keep_alive = match parsed.version {
        Some(1) => !connection.contains("close"),
        _ => connection.contains("keep-alive"),
    };
    let has_body = header("content-length").is_some_and(|n| n.trim() != "0")
        || header("transfer-encoding").is_some();
    if has_body {
        return Err(400); // a GET or HEAD with a body: not read, so not served
    }
    Ok(Request {
        head,
        target: parsed.path.unwrap_or("").to_owned(),
        keep_alive,
    })
}

/// Sends the status line, the headers and (unless `head`) the body; hands `out` back.
async fn respond(
    t: &mut impl Transport,
    ring: &Ring,
    reply: Reply,
    keep_alive: bool,
    head: bool,
    mut out: Vec<u8>,
    chunk: &mut Vec<u8>,
) -> io::Result<Vec<u8>> {
    out.clear();
    let (status, len, mime) = match &reply {
        Reply::File(_, len, mime) => (200, *len, *mime),
        Reply::Status(status) => (
            *status,
            status_body(*status).len() as u64,
            "text/plain; charset=utf-8",
        ),
    };
    head_lines(&mut out, status, len, mime, keep_alive);
    match reply {
        Reply::File(file, len, _) if !head => {
            send_file(t, ring, File::from(file), len, out, chunk).await
        }
        _ => {
            if !head {
                out.extend_from_slice(status_body(status).as_bytes());
            }
            let (res, out) = t.send(out).await;
            res.map(|()| out)
        }
    }
}

/// Sends `out` (the head) and the file's `len` bytes, read by the ring a chunk at a time;
/// the first chunk goes with the head.
async fn send_file(
    t: &mut impl Transport,
    ring: &Ring,
    file: File,
    len: u64,
    mut out: Vec<u8>,
    chunk: &mut Vec<u8>,
) -> io::Result<Vec<u8>> {
    let mut sent = 0u64;
    loop {
        if sent < len {
            let (res, buf) = ring.read_at(&file, std::mem::take(chunk), sent).await;
            *chunk = buf;
            let n = match res? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    ));
                }
                n => n.min(usize::try_from(len - sent).unwrap_or(usize::MAX)),
            };
            out.extend_from_slice(&chunk[..n]);
            sent += n as u64;
        }
        let (res, buf) = t.send(out).await;
        out = buf;
        res?;
        out.clear();
        if sent == len {
            return Ok(out);
        }
    }
}

fn head_lines(out: &mut Vec<u8>, status: u16, len: u64, mime: &str, keep_alive: bool) {
    use std::io::Write;
    let reason = reason(status);
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nServer: safer-ring\r\nContent-Length: {len}\r\nContent-Type: {mime}\r\n"
    );
    if status == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    let connection: &[u8] = if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    };
    out.extend_from_slice(connection);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    }
}

/// The text body of a status reply.
fn status_body(status: u16) -> String {
    format!("{status} {}\n", reason(status))
}

/// The file `target` names under `root` (a directory's `index.html`), or the status why not.
fn route(root: &Path, target: &str) -> Reply {
    let path = match resolve(root, target) {
        Ok(path) => path,
        Err(status) => return Reply::Status(status),
    };
    match open_under(root, &path) {
        Some((file, len)) => Reply::File(file, len, mime(&path)),
        None => Reply::Status(404),
    }
}

/// `root` joined with the decoded path of `target` (query and fragment dropped); 400 for a
/// target that is no absolute path, does not decode, or has a `..` segment.
fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    let mut full = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(400),
            name => full.push(name),
        }
    }
    Ok(full)
}

/// `%XX` escapes decoded; `None` if one is malformed or the result is no UTF-8 or has a NUL.
fn percent_decode(path: &str) -> Option<String> {
    let (bytes, mut out) = (path.as_bytes(), Vec::with_capacity(path.len()));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.contains('\0'))
}

/// Opens `path` if it is a regular file (or a directory with an `index.html`) that really
/// lies under `root` once symlinks are resolved; with its length.
fn open_under(root: &Path, path: &Path) -> Option<(fs::File, u64)> {
    let real = path
        .canonicalize()
        .ok()
        .filter(|real| real.starts_with(root))?;
    let meta = fs::metadata(&real).ok()?;
    if meta.is_dir() {
        let index = real.join("index.html");
        return fs::metadata(&index)
            .ok()
            .filter(fs::Metadata::is_file)
            .and_then(|_| open_under(root, &index));
    }
    let file = fs::File::open(&real).ok().filter(|_| meta.is_file())?;
    Some((file, meta.len()))
}

fn mime(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}
