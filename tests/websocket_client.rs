//! `websocket_connect` and permessage-deflate: compression round trips
//! under each negotiated parameter, compressed frames on the wire, the
//! client's limits and timeouts, refused handshakes, the callback form,
//! pings, and `wss://`.

mod common;
mod net;

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use common::ws::RawWs;
use tornado::concurrent::Error;
use tornado::r#gen::sleep;
use tornado::http::{HttpServer, HttpServerOptions};
use tornado::tcp::{OverrideResolver, TcpClient, ThreadedResolver};
use tornado::web::{Application, Context, route};
use tornado::websocket::deflate::{Compressor, Decompressor};
use tornado::websocket::{
    CompressionOptions, HandshakeError, Message, WebSocket, WebSocketConnection, WebSocketHandler,
    WebSocketRequest, websocket_connect, websocket_connect_with_callback,
};
use tornado_testing::{ExpectLog, gen_test};

/// Echoes with the compression options it is given; `big` answers a
/// message of that many bytes; records pings.
#[derive(Clone, Default)]
struct Echo {
    compression: Option<CompressionOptions>,
    pings: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl WebSocketHandler for Echo {
    async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
        if let Some(n) = msg.as_text().and_then(|t| t.strip_prefix("big ")) {
            let n: usize = n.parse().unwrap();
            let _ = ws.write_message(vec![b'x'; n]).await;
            return;
        }
        let _ = ws.write_message(msg).await;
    }
    fn on_ping(&mut self, _ws: &WebSocketConnection, data: &[u8]) {
        self.pings.borrow_mut().push(data.to_vec());
    }
    fn get_compression_options(&self, _cx: &Context) -> Option<CompressionOptions> {
        self.compression.clone()
    }
}

fn serve(h: Echo) -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(vec![route("/", WebSocket(h))])
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    (server, addrs[0])
}

/// Found by the soak (bench/soak, small read buffers): messages larger
/// than the streams' `max_buffer_size` still arrive whole, in both
/// directions, binary and text.
#[gen_test(timeout = 10)]
async fn messages_larger_than_the_read_buffer_go_through() -> Result<(), Error> {
    let options = HttpServerOptions {
        max_buffer_size: 4096,
        ..HttpServerOptions::default()
    };
    let server = HttpServer::new(
        Application::new(vec![route("/", WebSocket(Echo::default()))]),
        options,
    );
    let addr = server.listen_on(0, Some("127.0.0.1"))?[0];
    let c = websocket_connect(format!("ws://{addr}/")).await?;
    for m in [
        Message::Binary((0..70_000u32).map(|i| (i * 13 % 256) as u8).collect()),
        Message::Text("κόσμε ".repeat(3000)),
        Message::Binary(vec![7; 4097]),
        Message::Binary(vec![8; 100]),
    ] {
        c.write_message(m.clone()).await?;
        assert_eq!(c.read_message().await?, Some(m));
    }
    Ok(())
}

fn sample_messages() -> Vec<Message> {
    vec![
        Message::Text("compress me ".repeat(500)),
        Message::Text("compress me ".repeat(500)),
        Message::Binary((0..70_000u32).map(|i| (i * 7 % 256) as u8).collect()),
        Message::Text("short".into()),
        Message::Text(String::new()),
    ]
}

#[gen_test(timeout = 20)]
async fn compression_round_trips_under_each_negotiated_parameter() -> Result<(), Error> {
    let d = CompressionOptions::default;
    let cases: Vec<(CompressionOptions, CompressionOptions)> = vec![
        (d(), d()),
        (
            CompressionOptions {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..d()
            },
            d(),
        ),
        (
            d(),
            CompressionOptions {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..d()
            },
        ),
        (
            CompressionOptions {
                server_max_window_bits: Some(9),
                client_max_window_bits: Some(9),
                ..d()
            },
            d(),
        ),
        (
            d(),
            CompressionOptions {
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(11),
                ..d()
            },
        ),
        (
            CompressionOptions {
                compression_level: 9,
                mem_level: 9,
                ..d()
            },
            CompressionOptions {
                compression_level: 1,
                mem_level: 1,
                ..d()
            },
        ),
        (
            CompressionOptions {
                compression_level: 0,
                ..d()
            },
            d(),
        ),
    ];
    for (server_opts, client_opts) in cases {
        let (_s, addr) = serve(Echo {
            compression: Some(server_opts.clone()),
            ..Echo::default()
        });
        let mut req = WebSocketRequest::new(format!("ws://{addr}/"));
        req.compression_options = Some(client_opts.clone());
        let c = websocket_connect(req).await?;
        assert!(
            c.connection().compressed(),
            "{server_opts:?} / {client_opts:?}"
        );
        for m in sample_messages() {
            c.write_message(m.clone()).await?;
            assert_eq!(c.read_message().await?, Some(m));
        }
        c.close(Some(1000), "");
        assert_eq!(c.read_message().await?, None);
    }
    // Offered by one side only: plain messages.
    let (_s, addr) = serve(Echo::default());
    let mut req = WebSocketRequest::new(format!("ws://{addr}/"));
    req.compression_options = Some(d());
    let c = websocket_connect(req).await?;
    assert!(!c.connection().compressed());
    c.write_message("plain").await?;
    assert_eq!(c.read_message().await?, Some(Message::Text("plain".into())));
    let (_s, addr) = serve(Echo {
        compression: Some(d()),
        ..Echo::default()
    });
    let c = websocket_connect(format!("ws://{addr}/")).await?;
    assert!(!c.connection().compressed());
    c.write_message("plain").await?;
    assert_eq!(c.read_message().await?, Some(Message::Text("plain".into())));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn compressed_frames_on_the_wire_have_rsv1_and_inflate() -> Result<(), Error> {
    let (_s, addr) = serve(Echo {
        compression: Some(CompressionOptions::default()),
        ..Echo::default()
    });
    let ws = RawWs::open(
        addr,
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
    .await?;
    assert_eq!(
        ws.head.header("Sec-WebSocket-Extensions").as_deref(),
        Some("permessage-deflate")
    );
    let text = "abcabcabc ".repeat(300);
    let mut z = Compressor::new(15, false, &CompressionOptions::default());
    let mut inflate = Decompressor::new(false);
    for _ in 0..2 {
        ws.send(true, true, 0x1, &z.compress(text.as_bytes()))
            .await?;
        let (h, p) = ws.recv().await?;
        assert!(h.rsv1 && h.opcode == 0x1);
        assert!(p.len() < text.len() / 10);
        assert_eq!(inflate.decompress(&p, 1 << 20).unwrap(), text.as_bytes());
    }
    // Bad deflate data is refused with 1007.
    let _log = ExpectLog::new("tornado.general", "(1007)");
    ws.send(true, true, 0x2, &[0xff, 0xff, 0xff, 0x00, 0x12])
        .await?;
    assert_eq!(ws.recv_close().await?, Some(1007));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_decompression_bomb_closes_with_1009() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "(1009)");
    let (_s, addrs) = {
        let mut settings = tornado::web::Settings::default();
        settings
            .extra
            .insert("websocket_max_message_size".into(), "100000".into());
        let app = Application::with_settings(
            vec![route(
                "/",
                WebSocket(Echo {
                    compression: Some(CompressionOptions::default()),
                    ..Echo::default()
                }),
            )],
            settings,
        );
        app.listen_on(0, Some("127.0.0.1")).unwrap()
    };
    let ws = RawWs::open(
        addrs[0],
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    )
    .await?;
    // 4 MiB of zeros compress to a few KiB, well under the limit.
    let bomb =
        Compressor::new(15, false, &CompressionOptions::default()).compress(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 100_000);
    ws.send(true, true, 0x2, &bomb).await?;
    assert_eq!(ws.recv_close().await?, Some(1009));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn client_limits_callbacks_and_pings() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "(1009)");
    let echo = Echo::default();
    let (_s, addr) = serve(echo.clone());
    let mut req = WebSocketRequest::new(format!("ws://{addr}/"));
    req.max_message_size = 1000;
    let c = websocket_connect(req).await?;
    c.write_message("big 1000").await?;
    assert_eq!(
        c.read_message().await?.map(|m| m.as_bytes().len()),
        Some(1000)
    );
    c.ping(b"are you there").await?;
    assert!(c.ping(vec![0u8; 126]).await.is_err());
    c.write_message("big 1001").await?;
    assert_eq!(c.read_message().await?, None);
    // The client failed the connection (close 1009, then TCP closed): no
    // close frame from the server was waited for.
    assert_eq!(c.close_code(), None);
    assert!(c.connection().is_closed());
    assert_eq!(*echo.pings.borrow(), vec![b"are you there".to_vec()]);
    // The callback form: every message, then None.
    let got: Rc<RefCell<Vec<Option<Message>>>> = Rc::default();
    let g = got.clone();
    let c =
        websocket_connect_with_callback(format!("ws://{addr}/"), move |m| g.borrow_mut().push(m))
            .await?;
    c.write_message("one").await?;
    c.write_message(vec![2u8]).await?;
    while got.borrow().len() < 2 {
        sleep(Duration::from_millis(1)).await;
    }
    c.close(None, "");
    while got.borrow().len() < 3 {
        sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        *got.borrow(),
        vec![
            Some(Message::Text("one".into())),
            Some(Message::Binary(vec![2])),
            None
        ]
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn refused_and_silent_handshakes_fail_typed() -> Result<(), Error> {
    let _access = ExpectLog::optional("tornado.access", "404");
    let (_s, addr) = serve(Echo::default());
    let e = websocket_connect(format!("ws://{addr}/nowhere"))
        .await
        .unwrap_err();
    assert_eq!(
        e.downcast_ref::<HandshakeError>(),
        Some(&HandshakeError::Status(404))
    );
    for bad in ["http:/x", "ftp://h/", "ws://:80/"] {
        let e = websocket_connect(bad).await.unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<HandshakeError>(),
                Some(HandshakeError::BadUrl(_))
            ),
            "{bad}"
        );
    }
    // A server that accepts the connection and never answers.
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let mut req = WebSocketRequest::new(format!("ws://127.0.0.1:{}/", silent.local_addr()?.port()));
    req.request_timeout = Some(Duration::from_millis(100));
    let e = websocket_connect(req).await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<HandshakeError>(),
        Some(&HandshakeError::Timeout)
    );
    // Nothing listening: the TCP client's error.
    let port = silent.local_addr()?.port();
    drop(silent);
    let e = websocket_connect(format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(
        e.downcast_ref::<tornado::tcp::ConnectError>().is_some(),
        "{e}"
    );
    Ok(())
}

#[gen_test(timeout = 20)]
async fn wss_through_tls_and_a_resolver_override() -> Result<(), Error> {
    let (server_tls, client_tls) = net::tls_configs();
    let server = HttpServer::with_tls(
        Application::new(vec![route("/", WebSocket(Echo::default()))]),
        HttpServerOptions::default(),
        server_tls,
    );
    let addr = server.listen_on(0, Some("127.0.0.1"))?[0];
    let mut req = WebSocketRequest::new("wss://localhost:443/");
    req.tls = Some(client_tls);
    req.tcp_client = Some(TcpClient::with_resolver(
        OverrideResolver::new(ThreadedResolver).map("localhost", 443, "127.0.0.1", addr.port()),
    ));
    let c = websocket_connect(req).await?;
    c.write_message("over tls").await?;
    assert_eq!(
        c.read_message().await?,
        Some(Message::Text("over tls".into()))
    );
    c.close(Some(1000), "");
    assert_eq!(c.read_message().await?, None);
    // wss:// without a TLS configuration is refused up front.
    let e = websocket_connect("wss://localhost/").await.unwrap_err();
    assert!(matches!(
        e.downcast_ref::<HandshakeError>(),
        Some(HandshakeError::BadUrl(_))
    ));
    Ok(())
}
