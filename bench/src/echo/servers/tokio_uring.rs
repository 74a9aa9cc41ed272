//! tokio-uring: a task per connection, owned-buffer `read` then `write_all`.

use std::io;

use ::tokio_uring::net::{TcpListener, TcpStream};

use super::BUF;

async fn echo(stream: TcpStream) {
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
    ::tokio_uring::start(async {
        let listener = TcpListener::from_std(listener);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            ::tokio_uring::spawn(echo(stream));
        }
    })
}
