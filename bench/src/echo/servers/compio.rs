//! compio on its io_uring driver: a task per connection, owned-buffer `read` then
//! `write_all`.

use std::io;

use ::compio::BufResult;
use ::compio::io::{AsyncRead, AsyncWriteExt};
use ::compio::net::{TcpListener, TcpStream};

use super::BUF;

async fn echo(mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(BUF);
    loop {
        let BufResult(res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let BufResult(res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}

pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let rt = ::compio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            ::compio::runtime::spawn(echo(stream)).detach();
        }
    })
}
