//! One server on every core: n threads, each with its own `IOLoop` and
//! `TcpServer` (the Rust counterpart of Tornado's `start(num_processes)`,
//! which forks). Threads share nothing but the listening port: by default
//! each has its own `SO_REUSEPORT` socket and the kernel spreads new
//! connections between them; alternatively they all watch one shared
//! socket and whichever wakes first accepts.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tornado_concurrent::{Error, Future, RemoteSetter, panic_message};
use tornado_gen::coroutine;
use tornado_ioloop::IOLoop;
use tornado_iostream::StreamOptions;

use crate::netutil::bind_sockets;
use crate::tcpserver::{ServerTls, TcpHandler, TcpServer};

/// A bound port to serve on every thread.
struct Binding {
    /// The listeners `bind` made; the first thread serves these.
    sockets: Vec<TcpListener>,
    /// Bound with `SO_REUSEPORT`: each other thread binds its own
    /// listeners to the same addresses. Otherwise they share copies
    /// (duplicated fds) of `sockets`.
    reuse_port: bool,
}

/// A multi-threaded server under construction: a handler factory, stream
/// options, and the ports to serve. [`start`](ThreadedServer::start) runs
/// it on n threads.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{SocketAddr, TcpStream};
/// use tornado_iostream::IOStream;
/// use tornado_tcp::{TcpHandler, ThreadedServer};
///
/// /// Answers with the name of the thread that served the connection.
/// struct WhoAmI;
/// impl TcpHandler for WhoAmI {
///     async fn handle_stream(&self, stream: IOStream, _addr: SocketAddr) {
///         let name = std::thread::current().name().unwrap_or("?").to_owned();
///         let _ = stream.write(name.into_bytes()).await;
///     }
/// }
///
/// let mut server = ThreadedServer::new(|| WhoAmI);
/// let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
/// let running = server.start(2).unwrap();
/// let mut reply = String::new();
/// TcpStream::connect(addr).unwrap().read_to_string(&mut reply).unwrap();
/// assert!(reply.starts_with("tornado-server-"));
/// running.stop();
/// running.join().unwrap();
/// ```
pub struct ThreadedServer<F> {
    /// Builds each thread's handler, on that thread.
    factory: Arc<F>,
    /// Limits of accepted streams, on every thread.
    options: StreamOptions,
    /// TLS for accepted connections, if any.
    tls: Option<ServerTls>,
    /// Ports bound so far, in order.
    bindings: Vec<Binding>,
    /// Whether later `bind` calls share one listener between threads.
    shared_listener: bool,
}

impl<H, F> ThreadedServer<F>
where
    H: TcpHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    /// A server whose threads each serve with the handler `factory` builds
    /// (handlers are not `Send`: each thread makes its own).
    pub fn new(factory: F) -> ThreadedServer<F> {
        ThreadedServer {
            factory: Arc::new(factory),
            options: StreamOptions::default(),
            tls: None,
            bindings: Vec::new(),
            shared_listener: false,
        }
    }

    /// Limits for accepted streams.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// A TLS handshake on each connection before its handler sees it.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<tornado_iostream::tls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// With `true`, ports bound afterwards get one listening socket that
    /// every thread watches, instead of one `SO_REUSEPORT` socket per
    /// thread. Sharing works where `SO_REUSEPORT` does not balance (or
    /// does not exist), at the cost of waking every thread per connection.
    pub fn shared_listener(mut self, shared: bool) -> Self {
        self.shared_listener = shared;
        self
    }

    /// Binds `port` at `address` (every interface when `None`) now, so
    /// errors and the port chosen for port 0 are known before `start`.
    pub fn bind(&mut self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        let reuse_port = !self.shared_listener;
        let sockets = bind_sockets(port, address, None, reuse_port)?;
        let addrs = local_addrs(&sockets)?;
        self.bindings.push(Binding {
            sockets,
            reuse_port,
        });
        Ok(addrs)
    }

    /// Serves sockets the caller bound (e.g. with
    /// [`bind_sockets`](crate::bind_sockets)); every thread watches them.
    pub fn add_sockets(&mut self, sockets: Vec<TcpListener>) -> io::Result<Vec<SocketAddr>> {
        let addrs = local_addrs(&sockets)?;
        self.bindings.push(Binding {
            sockets,
            reuse_port: false,
        });
        Ok(addrs)
    }

    /// Starts `threads` threads (the number of cores for 0), named
    /// `tornado-server-<i>`, each running its own loop and serving every
    /// bound port, and returns once all of them are accepting.
    pub fn start(self, threads: usize) -> io::Result<ServerThreads> {
        let n = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut addrs = Vec::new();
        for b in &self.bindings {
            addrs.extend(local_addrs(&b.sockets)?);
        }
        // Every thread's sockets are made here, so that a failure is this
        // call's error rather than a thread's.
        let mut per_thread: Vec<Vec<TcpListener>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut mine = Vec::new();
            for b in &self.bindings {
                for s in &b.sockets {
                    mine.push(match (i, b.reuse_port) {
                        (0, _) | (_, false) => s.try_clone()?,
                        (_, true) => rebind(s.local_addr()?)?,
                    });
                }
            }
            per_thread.push(mine);
        }
        drop(self.bindings);
        let mut running = ServerThreads {
            addrs,
            workers: Vec::with_capacity(n),
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        for (i, sockets) in per_thread.into_iter().enumerate() {
            let name = format!("tornado-server-{i}");
            let (factory, options, tls) = (self.factory.clone(), self.options, self.tls.clone());
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || serve(i, &*factory, options, tls, sockets, ready))?;
            running.workers.push(Worker {
                name,
                stop: Mutex::new(None),
                thread: Some(thread),
            });
        }
        drop(ready_tx);
        for _ in 0..n {
            // A thread that died before reporting drops its sender; once
            // all are gone `recv` fails instead of waiting forever.
            let (i, setter) = match ready_rx.recv() {
                Ok((i, Ok(setter))) => (i, setter),
                Ok((i, Err(e))) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("server thread {i} could not start: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(io::Error::other(
                        "a server thread ended before it started serving",
                    ));
                }
            };
            *running.workers[i].stop.lock().expect("not poisoned") = Some(setter);
        }
        Ok(running)
    }
}

fn local_addrs(sockets: &[TcpListener]) -> io::Result<Vec<SocketAddr>> {
    sockets.iter().map(|s| s.local_addr()).collect()
}

/// Another `SO_REUSEPORT` listener on the address of one already bound.
fn rebind(addr: SocketAddr) -> io::Result<TcpListener> {
    let ip = addr.ip().to_string();
    let mut v = bind_sockets(addr.port(), Some(&ip), None, true)?;
    v.pop()
        .ok_or_else(|| io::Error::other(format!("binding {addr} gave no socket")))
}

/// What a thread reports once it serves (or why it cannot): the setter
/// that stops it.
type Ready = mpsc::Sender<(usize, io::Result<RemoteSetter<Duration>>)>;

/// A server thread, set up and about to run.
struct Serving<H: TcpHandler> {
    /// This thread's loop, current on it.
    ioloop: IOLoop,
    /// Already serving its sockets on `ioloop`.
    server: TcpServer<H>,
    /// Resolved (through the setter sent to the handle) with the grace
    /// period when the thread must stop.
    stop: Future<Duration>,
}

/// The loop, the server on `sockets`, and the stop future with its setter.
fn set_up<H: TcpHandler>(
    handler: H,
    options: StreamOptions,
    tls: Option<ServerTls>,
    sockets: Vec<TcpListener>,
) -> io::Result<(Serving<H>, RemoteSetter<Duration>)> {
    let ioloop = IOLoop::new().map_err(io::Error::from)?;
    ioloop.make_current();
    let stop: Future<Duration> = Future::new();
    let setter = stop.remote_setter().map_err(io::Error::other)?;
    let server = TcpServer::build(handler, options, tls);
    server.add_sockets(sockets)?;
    let serving = Serving {
        ioloop,
        server,
        stop,
    };
    Ok((serving, setter))
}

/// A server thread's body: a loop, a server, and a coroutine that waits
/// for the stop request and then shuts the server down.
fn serve<H: TcpHandler, F: Fn() -> H>(
    index: usize,
    factory: &F,
    options: StreamOptions,
    tls: Option<ServerTls>,
    sockets: Vec<TcpListener>,
    ready: Ready,
) -> io::Result<()> {
    let (serving, setter) = match set_up(factory(), options, tls, sockets) {
        Ok(parts) => parts,
        Err(e) => {
            let _ = ready.send((index, Err(io::Error::new(e.kind(), e.to_string()))));
            return Err(e);
        }
    };
    let _ = ready.send((index, Ok(setter)));
    drop(ready);
    let Serving {
        ioloop,
        server,
        stop,
    } = serving;
    let outcome = ioloop.run_sync(
        move || {
            coroutine(async move {
                // A setter dropped unused (the handle went away) means stop.
                let grace = stop.await.unwrap_or(Duration::ZERO);
                server.shutdown(grace).await?;
                Ok::<(), Error>(())
            })
        },
        None,
    );
    // Dropping the handlers closes whatever fds they still own.
    let _ = ioloop.close(false);
    outcome.map_err(io::Error::other)
}

/// One server thread, from the handle's side.
struct Worker {
    /// The thread's name, for errors.
    name: String,
    /// Stops the thread, with a grace period; taken by the first stop.
    stop: Mutex<Option<RemoteSetter<Duration>>>,
    /// `None` once joined.
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// The running threads of a [`ThreadedServer`]. `stop` or `shutdown` ask
/// them to finish; `join` waits. Dropping the handle stops the threads and
/// waits for them.
pub struct ServerThreads {
    /// Every address served (the same on all threads).
    addrs: Vec<SocketAddr>,
    /// One per thread, in index order.
    workers: Vec<Worker>,
}

impl ServerThreads {
    /// The addresses served.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// How many threads serve.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Stops at once: no more accepting, open connections closed, loops
    /// ended. Returns without waiting; see [`join`](ServerThreads::join).
    pub fn stop(&self) {
        self.shutdown(Duration::ZERO);
    }

    /// Graceful shutdown on every thread: stop accepting, give open
    /// connections up to `grace` to finish, close the rest, end the loops.
    /// Returns without waiting; only the first stop request counts.
    pub fn shutdown(&self, grace: Duration) {
        for w in &self.workers {
            let setter = w.stop.lock().map(|mut s| s.take()).unwrap_or(None);
            if let Some(setter) = setter {
                setter.set_result(grace);
            }
        }
    }

    /// Waits for every thread to end (after a stop, or a failure). Returns
    /// the first thread's error, if any, including a panic's message.
    pub fn join(mut self) -> io::Result<()> {
        self.join_all()
    }

    fn join_all(&mut self) -> io::Result<()> {
        let mut first_error = None;
        for w in &mut self.workers {
            let Some(thread) = w.thread.take() else {
                continue;
            };
            let outcome = match thread.join() {
                Ok(r) => r,
                Err(p) => Err(io::Error::other(format!(
                    "{} panicked: {}",
                    w.name,
                    panic_message(&*p)
                ))),
            };
            if let Err(e) = outcome {
                log::error!(target: "tornado.general", "server thread {} failed: {e}", w.name);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for ServerThreads {
    fn drop(&mut self) {
        self.stop();
        // The threads hold nothing of ours; a panic here would only hide
        // the one that is unwinding already.
        let _ = catch_unwind(AssertUnwindSafe(|| self.join_all()));
    }
}
