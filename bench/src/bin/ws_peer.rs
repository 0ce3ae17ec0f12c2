//! The WebSocket benchmark's peer: an echo server on tokio-tungstenite and
//! a tokio current_thread runtime (one thread, as our loop).
//!
//!     ws_peer --port P
//!
//! Echoes every text and binary message; answers pings (tungstenite does);
//! no compression. A dependency of the bench crate only.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn usage() -> ! {
    eprintln!("usage: ws_peer --port P");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = match (args.next().as_deref(), args.next()) {
        (Some("--port"), Some(p)) => p.parse().unwrap_or_else(|_| usage()),
        _ => usage(),
    };
    let listener = tornado_bench::listen_loopback(port).unwrap_or_else(|e| {
        eprintln!("ws_peer: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        println!(
            "ws_peer listening on {}",
            listener.local_addr().expect("bound")
        );
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(echo(tcp));
        }
    });
}

/// One connection: the handshake, then every message echoed.
async fn echo(tcp: tokio::net::TcpStream) {
    let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let data = matches!(msg, Message::Text(_) | Message::Binary(_));
        if matches!(msg, Message::Close(_)) || (data && ws.send(msg).await.is_err()) {
            return;
        }
    }
}
