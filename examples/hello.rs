//! Hello, world: the smallest web application, with a path argument.
//!
//! Run: `cargo run --release --example hello -- --port 8888`, then
//! `curl http://127.0.0.1:8888/` or `curl http://127.0.0.1:8888/user/7`.

use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, HttpError, RequestHandler, route};

#[derive(Clone)]
struct MainHandler;

impl RequestHandler for MainHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("Hello, world");
        Ok(())
    }
}

#[derive(Clone)]
struct UserHandler;

impl RequestHandler for UserHandler {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let id: u64 = cx.path_args()[0].parse()?;
        cx.write(format!("user {id}"));
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8888;
    let mut address = String::from("127.0.0.1");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--address" => address = args.next().ok_or("--address takes an address")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: hello [--port P] [--address A]"
                )
                .into());
            }
        }
    }
    let app = Application::new(vec![
        route("/", MainHandler),
        route(r"/user/([0-9]+)", UserHandler),
    ]);
    let (_server, addrs) = app.listen_on(port, Some(&address))?;
    for a in addrs {
        println!("hello listening on http://{a}/");
    }
    IOLoop::current().start()?;
    Ok(())
}
