//! The soak load: N non-blocking connections on one mio poll, each playing
//! a role (idle, keep-alive, slow reader, slow writer, reset mid-request,
//! reset mid-response, half-close) over and over, every answer checked.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::proto::{self, Expect, Kind, Progress};

/// What a connection does, cycle after cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One exchange, then silence until the end.
    Idle,
    /// An exchange every 0.5-2 s on the same connection.
    KeepAlive,
    /// Sends a large batch, reads the answers 2 KiB per 100 ms.
    SlowReader,
    /// Sends each request one byte per 100 ms (slowloris).
    SlowWriter,
    /// Sends half a request, then resets (`SO_LINGER` 0) and reconnects.
    ResetRequest,
    /// Sends a request with a large answer, resets after its first bytes.
    ResetResponse,
    /// Sends a request, shuts its write side, reads the answer to EOF.
    HalfClose,
}

/// The mix, per 100 connections.
const MIX: [(Role, usize); 7] = [
    (Role::Idle, 48),
    (Role::KeepAlive, 25),
    (Role::SlowReader, 5),
    (Role::SlowWriter, 10),
    (Role::ResetRequest, 4),
    (Role::ResetResponse, 4),
    (Role::HalfClose, 4),
];

/// The role of connection `i`: the mix spread evenly over the indices.
pub fn role_of(i: usize) -> Role {
    let mut k = (i * 37) % 100;
    for (role, n) in MIX {
        if k < n {
            return role;
        }
        k -= n;
    }
    Role::Idle
}

/// Counters over the whole run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Answers received and found right.
    pub answers: u64,
    /// Wrong answers (bytes, status, body, frame).
    pub wrong: u64,
    /// Connections closed or reset by the server unexpectedly, and
    /// answers that stalled for 30 s.
    pub failures: u64,
    /// Connections established.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Resets sent on purpose.
    pub resets: u64,
    /// Half-closed exchanges completed (answer and EOF received).
    pub half_closes: u64,
    /// The first errors, for the report.
    pub messages: Vec<String>,
}

impl Stats {
    fn error(&mut self, wrong: bool, msg: String) {
        if wrong {
            self.wrong += 1;
        } else {
            self.failures += 1;
        }
        if self.messages.len() < 20 {
            eprintln!("soak: {msg}");
            self.messages.push(msg);
        }
    }
}

/// What a connection waits for on its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Nothing.
    None,
    /// Start the next cycle.
    Cycle,
    /// Connect again.
    Reconnect,
    /// Reset now.
    Reset,
    /// Send one more byte / read one more slice.
    Pace,
}

/// One client connection.
struct Conn {
    id: usize,
    role: Role,
    stream: Option<TcpStream>,
    connected: bool,
    /// Bytes to send, and how many went.
    out: Vec<u8>,
    sent: usize,
    /// Received and not yet consumed by an `Expect`.
    inbuf: Vec<u8>,
    expects: VecDeque<Expect>,
    /// After the expected answers, the server must close (half-close).
    expect_eof: bool,
    /// The WebSocket upgrade is done on this connection.
    upgraded: bool,
    /// Messages and requests made, for distinct patterns.
    seq: u64,
    timer: Timer,
    wake: Instant,
    /// Last time bytes arrived or an answer was started.
    progress: Instant,
    rng: u64,
}

impl Conn {
    fn rand(&mut self, n: u64) -> u64 {
        // xorshift64: cheap, deterministic per connection.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n.max(1)
    }

    fn after(&mut self, timer: Timer, ms: u64) {
        self.timer = timer;
        self.wake = Instant::now() + Duration::from_millis(ms);
    }

    /// Slow writers send one byte per tick (the WebSocket upgrade itself
    /// at full speed).
    fn paced_write(&self) -> bool {
        self.role == Role::SlowWriter && self.upgraded
    }

    fn paced_read(&self) -> bool {
        self.role == Role::SlowReader && self.upgraded
    }
}

/// The load: its connections, poll and counters.
pub struct Load {
    kind: Kind,
    addr: SocketAddr,
    poll: Poll,
    conns: Vec<Conn>,
    /// Counters so far.
    pub stats: Stats,
    /// Connections to open per 100 ms while ramping up.
    ramp: usize,
    opened: usize,
    next_ramp: Instant,
}

impl Load {
    /// A load of `n` connections to `addr`, opened `ramp_per_sec` a second.
    pub fn new(kind: Kind, addr: SocketAddr, n: usize, ramp_per_sec: usize) -> io::Result<Load> {
        let now = Instant::now();
        let conns = (0..n)
            .map(|id| Conn {
                id,
                role: role_of(id),
                stream: None,
                connected: false,
                out: Vec::new(),
                sent: 0,
                inbuf: Vec::new(),
                expects: VecDeque::new(),
                expect_eof: false,
                upgraded: false,
                seq: 0,
                timer: Timer::None,
                wake: now,
                progress: now,
                rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
            })
            .collect();
        Ok(Load {
            kind,
            addr,
            poll: Poll::new()?,
            conns,
            stats: Stats::default(),
            ramp: (ramp_per_sec / 10).max(1),
            opened: 0,
            next_ramp: now,
        })
    }

    /// Connections currently established.
    pub fn open(&self) -> usize {
        self.conns.iter().filter(|c| c.connected).count()
    }

    /// Runs the load until `until`, calling `tick` about every 100 ms.
    pub fn run_until(&mut self, until: Instant, mut tick: impl FnMut(&Load)) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut last_tick = Instant::now();
        while Instant::now() < until {
            self.poll
                .poll(&mut events, Some(Duration::from_millis(20)))
                .or_else(|e| {
                    if e.kind() == io::ErrorKind::Interrupted {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
            for ev in events.iter() {
                let i = ev.token().0;
                if ev.is_writable() {
                    self.on_writable(i);
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.on_readable(i, false);
                }
            }
            let now = Instant::now();
            if now >= self.next_ramp && self.opened < self.conns.len() {
                let end = (self.opened + self.ramp).min(self.conns.len());
                for i in self.opened..end {
                    self.connect(i);
                }
                self.opened = end;
                self.next_ramp = now + Duration::from_millis(100);
            }
            if now.duration_since(last_tick) >= Duration::from_millis(50) {
                last_tick = now;
                self.timers(now);
                tick(self);
            }
        }
        Ok(())
    }

    /// Closes every connection (an orderly close; unread data makes it a
    /// reset, as for any client that leaves).
    pub fn close_all(&mut self) {
        for c in &mut self.conns {
            if let Some(mut s) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
            c.connected = false;
            c.timer = Timer::None;
        }
    }

    fn connect(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.out.clear();
        c.sent = 0;
        c.inbuf.clear();
        c.expects.clear();
        c.expect_eof = false;
        c.upgraded = self.kind != Kind::Ws;
        c.timer = Timer::None;
        match TcpStream::connect(self.addr) {
            Ok(mut s) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = self.poll.registry().register(&mut s, Token(i), interest) {
                    self.stats.connect_errors += 1;
                    self.stats.error(false, format!("register: {e}"));
                    c.after(Timer::Reconnect, 1000);
                    return;
                }
                c.stream = Some(s);
                c.connected = false;
                c.progress = Instant::now();
            }
            Err(e) => {
                self.stats.connect_errors += 1;
                if self.stats.connect_errors <= 5 {
                    eprintln!("soak: connect: {e}");
                }
                c.after(Timer::Reconnect, 1000);
            }
        }
    }

    fn drop_conn(&mut self, i: usize, reset: bool, reconnect_ms: u64) {
        let c = &mut self.conns[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
            if reset {
                set_linger_zero(&s);
            }
        }
        c.connected = false;
        c.expects.clear();
        c.after(Timer::Reconnect, reconnect_ms);
    }

    fn on_writable(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_ref() else { return };
        if !c.connected {
            match s.take_error() {
                Ok(None) if s.peer_addr().is_ok() => {}
                Ok(None) => return, // not connected yet
                Ok(Some(e)) | Err(e) => {
                    self.stats.connect_errors += 1;
                    if self.stats.connect_errors <= 5 {
                        eprintln!("soak: connect: {e}");
                    }
                    self.drop_conn(i, false, 1000);
                    return;
                }
            }
            let _ = s.set_nodelay(true);
            c.connected = true;
            self.stats.connects += 1;
            if self.kind == Kind::Ws {
                let (req, exp) = proto::ws_upgrade(c.id, c.seq);
                c.seq += 1;
                c.out.extend_from_slice(&req);
                c.expects.push_back(exp);
            } else {
                self.start_cycle(i);
            }
        }
        self.flush(i);
    }

    /// Writes what is queued (one byte per pace tick for slow writers).
    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let paced = c.paced_write();
        let Some(s) = c.stream.as_mut() else { return };
        if !c.connected {
            return;
        }
        while c.sent < c.out.len() {
            let end = if paced { c.sent + 1 } else { c.out.len() };
            match s.write(&c.out[c.sent..end]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let resetting = matches!(c.role, Role::ResetRequest | Role::ResetResponse);
                    if !resetting {
                        self.stats
                            .error(false, format!("conn {i} ({:?}): write: {e}", c.role));
                    }
                    self.drop_conn(i, false, 1000);
                    return;
                }
            }
            if paced {
                break;
            }
        }
        if c.sent == c.out.len() {
            c.out.clear();
            c.sent = 0;
            if c.role == Role::HalfClose && c.expect_eof {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
    }

    /// Reads what arrived (at most 2 KiB when pacing a slow reader) and
    /// checks it.
    fn on_readable(&mut self, i: usize, paced: bool) {
        let mut buf = [0u8; 16384];
        loop {
            let c = &mut self.conns[i];
            if !c.connected || (c.paced_read() && !paced) {
                return;
            }
            let Some(s) = c.stream.as_mut() else { return };
            let want = if paced { 2048 } else { buf.len() };
            match s.read(&mut buf[..want]) {
                Ok(0) => {
                    self.on_eof(i);
                    return;
                }
                Ok(n) => {
                    c.inbuf.extend_from_slice(&buf[..n]);
                    c.progress = Instant::now();
                    if !self.consume(i) || paced {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let c = &self.conns[i];
                    self.stats
                        .error(false, format!("conn {i} ({:?}): read: {e}", c.role));
                    self.drop_conn(i, false, 1000);
                    return;
                }
            }
        }
    }

    fn on_eof(&mut self, i: usize) {
        let c = &self.conns[i];
        if c.expect_eof && c.expects.is_empty() && c.inbuf.is_empty() {
            self.stats.half_closes += 1;
            let ms = 2000 + self.conns[i].rand(3000);
            self.drop_conn(i, false, ms);
        } else {
            let msg = format!(
                "conn {i} ({:?}): server closed with {} answer(s) pending",
                c.role,
                c.expects.len()
            );
            self.stats.error(false, msg);
            self.drop_conn(i, false, 1000);
        }
    }

    /// Checks received bytes against the expected answers; false if the
    /// connection was dropped.
    fn consume(&mut self, i: usize) -> bool {
        let c = &mut self.conns[i];
        if c.role == Role::ResetRequest && c.upgraded && c.expects.is_empty() {
            // The echo of half a message, about to be cut off.
            c.inbuf.clear();
            return true;
        }
        let mut used = 0;
        let mut completed = 0;
        while let Some(e) = c.expects.front_mut() {
            match e.check(&c.inbuf[used..]) {
                Ok(Progress::Done(n)) => {
                    used += n;
                    completed += 1;
                    c.expects.pop_front();
                }
                Ok(Progress::More(n)) => {
                    used += n;
                    break;
                }
                Err(m) => {
                    let msg = format!("conn {i} ({:?}): wrong answer: {m}", c.role);
                    self.stats.error(true, msg);
                    self.drop_conn(i, false, 1000);
                    return false;
                }
            }
        }
        c.inbuf.drain(..used);
        self.stats.answers += completed;
        if c.role == Role::ResetResponse && used > 0 && c.upgraded {
            // The first bytes of the answer were right: cut it here.
            self.stats.resets += 1;
            let ms = 1000 + c.rand(3000);
            self.drop_conn(i, true, ms);
            return false;
        }
        if !c.inbuf.is_empty() && c.expects.is_empty() {
            let msg = format!(
                "conn {i} ({:?}): {} unexpected bytes",
                c.role,
                c.inbuf.len()
            );
            self.stats.error(true, msg);
            self.drop_conn(i, false, 1000);
            return false;
        }
        if c.expects.is_empty() && !c.expect_eof {
            if !c.upgraded {
                c.upgraded = true;
                self.start_cycle(i);
                self.flush(i);
            } else if completed > 0 {
                self.cycle_done(i);
            }
        }
        true
    }

    /// Queues the next cycle's bytes and answers for connection `i`.
    fn start_cycle(&mut self, i: usize) {
        let kind = self.kind;
        let c = &mut self.conns[i];
        c.progress = Instant::now();
        let push = |c: &mut Conn, len: usize| {
            let (req, exp) = proto::exchange(kind, c.id, c.seq, len);
            c.seq += 1;
            c.out.extend_from_slice(&req);
            c.expects.push_back(exp);
        };
        match c.role {
            Role::Idle => {
                let len = 16 + c.rand(48) as usize;
                push(c, len);
            }
            Role::KeepAlive => {
                let len = 1 + c.rand(16384) as usize;
                push(c, len);
            }
            Role::SlowReader => {
                // Echo: one 256 KiB message; HTTP: 64 pipelined requests;
                // WebSocket: 16 messages of 8 KiB.
                match kind {
                    Kind::Echo => push(c, 256 * 1024),
                    Kind::Http => (0..64).for_each(|_| push(c, 0)),
                    Kind::Ws => (0..16).for_each(|_| push(c, 8192)),
                }
                c.after(Timer::Pace, 100);
            }
            Role::SlowWriter => {
                push(c, 24);
                c.after(Timer::Pace, 100);
            }
            Role::ResetRequest => {
                let (req, _) = proto::exchange(kind, c.id, c.seq, 4096);
                c.seq += 1;
                c.out.extend_from_slice(&req[..req.len() / 2]);
                let ms = 100 + c.rand(400);
                c.after(Timer::Reset, ms);
            }
            Role::ResetResponse => match kind {
                Kind::Echo => push(c, 128 * 1024),
                Kind::Http => (0..32).for_each(|_| push(c, 0)),
                Kind::Ws => (0..4).for_each(|_| push(c, 32 * 1024)),
            },
            Role::HalfClose => {
                let len = 1 + c.rand(4096) as usize;
                push(c, len);
                if kind == Kind::Ws {
                    let (req, exp) = proto::ws_close();
                    c.out.extend_from_slice(&req);
                    c.expects.push_back(exp);
                }
                c.expect_eof = true;
            }
        }
        if c.role != Role::SlowWriter {
            self.flush(i);
        }
    }

    fn cycle_done(&mut self, i: usize) {
        let c = &mut self.conns[i];
        match c.role {
            Role::Idle => c.timer = Timer::None,
            Role::KeepAlive => {
                let ms = 500 + c.rand(1500);
                c.after(Timer::Cycle, ms);
            }
            Role::SlowReader | Role::SlowWriter => {
                let ms = 500 + c.rand(1000);
                c.after(Timer::Cycle, ms);
            }
            // These end by a reset or the server's EOF.
            Role::ResetRequest | Role::ResetResponse | Role::HalfClose => {}
        }
    }

    /// Runs due timers; reports answers stalled for 30 s.
    fn timers(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            if c.connected
                && !c.expects.is_empty()
                && now.duration_since(c.progress) > Duration::from_secs(30)
                && !(c.role == Role::SlowWriter && c.sent < c.out.len())
            {
                let msg = format!("conn {i} ({:?}): no answer for 30 s", c.role);
                self.stats.error(false, msg);
                self.drop_conn(i, true, 1000);
                continue;
            }
            if c.timer == Timer::None || now < c.wake {
                continue;
            }
            let timer = c.timer;
            c.timer = Timer::None;
            match timer {
                Timer::None => {}
                Timer::Reconnect => self.connect(i),
                Timer::Cycle => {
                    if c.connected {
                        self.start_cycle(i);
                    }
                }
                Timer::Reset => {
                    self.stats.resets += 1;
                    let ms = 1000 + c.rand(3000);
                    self.drop_conn(i, true, ms);
                }
                Timer::Pace => {
                    if !c.connected {
                        continue;
                    }
                    let busy = !c.expects.is_empty() || c.sent < c.out.len();
                    if c.role == Role::SlowWriter {
                        self.flush(i);
                    } else {
                        self.on_readable(i, true);
                    }
                    let c = &mut self.conns[i];
                    if busy && c.connected && (!c.expects.is_empty() || c.sent < c.out.len()) {
                        c.after(Timer::Pace, 100);
                    }
                }
            }
        }
    }
}

/// `SO_LINGER` with a zero timeout: `close` then sends RST, not FIN.
pub fn set_linger_zero(s: &impl AsRawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a linger struct of the size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
