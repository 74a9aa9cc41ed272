//! monoio on its io_uring driver: a task per connection, owned-buffer `read` then
//! `write_all`.

use std::io;

use ::monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use ::monoio::net::{TcpListener, TcpStream};

use super::BUF;

async fn echo(mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(BUF);
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}

pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    let mut rt = ::monoio::RuntimeBuilder::<::monoio::IoUringDriver>::new()
        .with_entries(256)
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            ::monoio::spawn(echo(stream));
        }
    })
}
