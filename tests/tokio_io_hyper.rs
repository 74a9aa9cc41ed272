//! hyper 1.x on the ring: an HTTP/1.1 server (`hyper::server::conn::http1` over
//! `hyper_util::rt::TokioIo`) on ring sockets through `RingIo`, queried by hyper's client on
//! plain tokio sockets: several keep-alive requests per connection, responses verified.

mod common;

use std::convert::Infallible;
use std::rc::Rc;

use common::on_tokio;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use safer_ring::Ring;
use safer_ring::io::RingIo;
use safer_ring::net::{ListenOptions, TcpListener};

/// Answers with the method, the path and the request body's length and sum.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.expect("request body").to_bytes();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{} {} {} {sum}", parts.method, parts.uri.path(), body.len());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

#[test]
fn a_hyper_server_on_ring_sockets_serves_keep_alive_requests() {
    let ring = Rc::new(Ring::new(32).unwrap());
    let listener =
        TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(std::cell::Cell::new(0));
    on_tokio::run(&ring, 60, async {
        let server = {
            let (ring, accepted) = (ring.clone(), accepted.clone());
            tokio::task::spawn_local(async move {
                loop {
                    let (conn, _) = ring.accept(&listener).await.unwrap();
                    accepted.set(accepted.get() + 1);
                    let io = TokioIo::new(RingIo::new(&ring, conn));
                    tokio::task::spawn_local(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, hyper::service::service_fn(answer)),
                    );
                }
            })
        };
        let clients: Vec<_> = (0..3)
            .map(|c| tokio::task::spawn_local(client(addr, c)))
            .collect();
        for client in clients {
            assert_eq!(client.await.unwrap(), 10, "every request answered");
        }
        server.abort();
    });
    assert_eq!(
        accepted.get(),
        3,
        "thirty requests on three kept-alive connections"
    );
}

/// One keep-alive connection sending ten requests, each checked; returns how many passed.
async fn client(addr: std::net::SocketAddr, c: usize) -> usize {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let conn = tokio::task::spawn_local(conn);
    let mut ok = 0;
    for i in 0..10 {
        let body = vec![(c + i) as u8; i * 10_000];
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        let req = Request::post(format!("/conn/{c}/req/{i}"))
            .header("host", "localhost")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.into_body().collect().await.unwrap().to_bytes();
        let want = format!("POST /conn/{c}/req/{i} {} {sum}", i * 10_000);
        assert_eq!(text, want.as_bytes());
        ok += 1;
    }
    drop(sender);
    conn.await.unwrap().unwrap(); // the connection stayed up for all ten: keep-alive
    ok
}
