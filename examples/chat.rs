//! Tornado's WebSocket chat demo: a page with a message list and a form;
//! each message posted goes to every open socket, and a newcomer first
//! gets the last 200. The page's script reconnects (with a growing pause)
//! when the server goes away, and skips messages it already shows.
//!
//! Run: `cargo run --example chat -- --port 8888`, open
//! http://127.0.0.1:8888/ in two windows and type. With `--self-test` it
//! serves on an ephemeral port, drives itself with the HTTP and
//! WebSocket clients, and exits.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};
use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::http::{FetchOptions, fetch};
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};
use tornado::websocket::{
    Message, WebSocket, WebSocketConnection, WebSocketHandler, websocket_connect,
};

/// How many past messages a newcomer gets.
const CACHE_SIZE: usize = 200;

/// The room: who listens, and what was said lately.
struct Room {
    waiters: Vec<WebSocketConnection>,
    cache: VecDeque<Value>,
    /// Tells this run's message ids from a previous run's (pages keep
    /// their messages across a server restart and skip ids they show).
    run: u128,
    next_id: u64,
}

type SharedRoom = Rc<RefCell<Room>>;

impl Room {
    fn new() -> Room {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Room {
            waiters: Vec::new(),
            cache: VecDeque::new(),
            run,
            next_id: 0,
        }
    }

    /// Records `body` and sends it to everyone listening.
    fn post(&mut self, body: &str) {
        self.next_id += 1;
        let message = json!({"id": format!("{:x}-{}", self.run, self.next_id), "body": body});
        self.cache.push_back(message.clone());
        while self.cache.len() > CACHE_SIZE {
            self.cache.pop_front();
        }
        let text = message.to_string();
        log::info!(target: "tornado.application", "sending message to {} waiters", self.waiters.len());
        for w in &self.waiters {
            // A socket closing meanwhile is dropped from the room by its
            // own on_close; the failed write needs nothing more.
            drop(w.write_message(text.as_str()));
        }
    }
}

/// The page.
#[derive(Clone)]
struct MainHandler;

impl RequestHandler for MainHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write(PAGE);
        Ok(())
    }
}

/// One chat socket: joins the room on open, leaves on close.
#[derive(Clone)]
struct ChatSocket {
    room: SharedRoom,
    me: Option<WebSocketConnection>,
}

impl WebSocketHandler for ChatSocket {
    async fn open(&mut self, _cx: &mut Context, ws: &WebSocketConnection) -> Result<(), HttpError> {
        let backlog: Vec<String> = {
            let mut room = self.room.borrow_mut();
            room.waiters.push(ws.clone());
            room.cache.iter().map(Value::to_string).collect()
        };
        self.me = Some(ws.clone());
        for m in backlog {
            drop(ws.write_message(m));
        }
        Ok(())
    }

    async fn on_message(&mut self, _ws: &WebSocketConnection, msg: Message) {
        let Some(text) = msg.as_text() else {
            return;
        };
        let body = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["body"].as_str().map(str::to_owned));
        match body {
            Some(body) if !body.trim().is_empty() => self.room.borrow_mut().post(&body),
            _ => log::warn!(target: "tornado.general", "ignoring malformed chat message {text:?}"),
        }
    }

    fn on_close(&mut self, _code: Option<u16>, _reason: Option<&str>) {
        if let Some(me) = self.me.take() {
            self.room.borrow_mut().waiters.retain(|w| *w != me);
        }
    }
}

/// Builds the application around `room`.
fn app(room: SharedRoom) -> Application {
    Application::new(vec![
        route("/", MainHandler),
        route("/chatsocket", WebSocket(ChatSocket { room, me: None })),
    ])
}

/// Checks the page, then two sockets: one posts, both get it; 205 posts
/// later a newcomer gets exactly the last 200.
async fn self_test(base: String, ws_url: String) -> Result<(), Error> {
    let page = fetch(&base, FetchOptions::new()).await?;
    assert!(page.text().contains("<form") && page.text().contains("chatsocket"));
    let a = websocket_connect(ws_url.as_str()).await?;
    let b = websocket_connect(ws_url.as_str()).await?;
    a.write_message(json!({"body": "hello from a"}).to_string())
        .await?;
    for c in [&a, &b] {
        let m = c
            .read_message()
            .await?
            .ok_or_else(|| Error::msg("closed"))?;
        let v: Value = serde_json::from_str(m.as_text().ok_or_else(|| Error::msg("not text"))?)?;
        assert_eq!(v["body"], "hello from a");
    }
    for i in 0..204 {
        b.write_message(json!({"body": format!("m{i}")}).to_string())
            .await?;
    }
    for _ in 0..204 {
        a.read_message()
            .await?
            .ok_or_else(|| Error::msg("closed"))?;
        b.read_message()
            .await?
            .ok_or_else(|| Error::msg("closed"))?;
    }
    let late = websocket_connect(ws_url.as_str()).await?;
    let mut got = Vec::new();
    for _ in 0..CACHE_SIZE {
        let m = late
            .read_message()
            .await?
            .ok_or_else(|| Error::msg("closed"))?;
        let v: Value = serde_json::from_str(m.as_text().ok_or_else(|| Error::msg("not text"))?)?;
        got.push(v["body"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(got.first().map(String::as_str), Some("m4"));
    assert_eq!(got.last().map(String::as_str), Some("m203"));
    for c in [a, b, late] {
        c.close(Some(1000), "");
        assert_eq!(c.read_message().await?, None);
    }
    println!("chat self-test ok");
    Ok(())
}

#[path = "common/logging.rs"]
mod logging;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut test) = (8888u16, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: chat [--port P] [--self-test]"
                )
                .into());
            }
        }
    }
    let room = Rc::new(RefCell::new(Room::new()));
    let (_server, addrs) = app(room).listen_on(if test { 0 } else { port }, Some("127.0.0.1"))?;
    let base = format!("http://{}/", addrs[0]);
    if test {
        let ws_url = format!("ws://{}/chatsocket", addrs[0]);
        IOLoop::current().run_sync(
            move || coroutine(self_test(base, ws_url)),
            Some(Duration::from_secs(30)),
        )?;
        return Ok(());
    }
    println!("chat listening on {base}");
    IOLoop::current().start()?;
    Ok(())
}

/// The page: a message list, a form, and a script that keeps a socket
/// open (reconnecting after the server restarts) and shows each message
/// once.
const PAGE: &str = r#"<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>Tornado Chat Demo</title>
<style>
body { font-family: sans-serif; margin: 2em; }
#inbox .message { padding: 2px 0; }
#status { color: #888; font-size: small; }
</style>
</head>
<body>
<div id="body">
  <div id="inbox"></div>
  <div id="input">
    <form action="/a/message/new" method="post" id="messageform">
      <input type="text" name="body" id="message" style="width:500px" autocomplete="off">
      <input type="submit" value="Post" id="post">
    </form>
  </div>
  <div id="status">connecting…</div>
</div>
<script>
(function () {
  var socket = null;
  var pause = 250;
  var inbox = document.getElementById("inbox");
  var status = document.getElementById("status");
  function show(message) {
    var id = "m" + message.id;
    if (document.getElementById(id)) return;
    var div = document.createElement("div");
    div.className = "message";
    div.id = id;
    div.textContent = message.body;
    inbox.appendChild(div);
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/chatsocket");
    socket.onopen = function () {
      pause = 250;
      status.textContent = "connected";
      document.body.setAttribute("data-connected", "1");
    };
    socket.onmessage = function (event) { show(JSON.parse(event.data)); };
    socket.onclose = function () {
      document.body.removeAttribute("data-connected");
      status.textContent = "disconnected; reconnecting…";
      setTimeout(connect, pause);
      pause = Math.min(pause * 2, 5000);
    };
  }
  document.getElementById("messageform").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("message");
    if (socket && socket.readyState === WebSocket.OPEN && input.value) {
      socket.send(JSON.stringify({ body: input.value }));
      input.value = "";
    }
    input.focus();
  });
  connect();
})();
</script>
</body>
</html>
"#;
