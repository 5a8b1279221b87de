//! A fast HTTP/1.1 backend for benchmarks: answers every request with its name, or, with
//! `--echo-headers`, with the request's header lines (to check what a proxy forwards).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Body of every response (identifies the backend).
    #[arg(long, default_value = "hello from backend")]
    name: String,
    /// Answer with the request's header lines (`name: value`, one a line) instead of the name.
    #[arg(long)]
    echo_headers: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The request's header lines, one `name: value` a line.
fn header_lines(req: &hyper::Request<hyper::body::Incoming>) -> Bytes {
    let mut out = Vec::new();
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    Bytes::from(out)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let body = Bytes::from(args.name);
        let echo = args.echo_headers;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let body = if echo { header_lines(&req) } else { body.clone() };
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}
