//! Signals as loop callbacks. Each test uses its own signal, since a
//! signal reaches every handler registered for it in the process; none
//! uses SIGINT or SIGTERM, which would stop a test run that went wrong.

mod common;
mod net;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::fresh_loop;
use net::{idle, run};
use tornado::r#gen::{coroutine, sleep};
use tornado::ioloop::IOLoop;
use tornado::tcp::signals::{SIGHUP, SIGUSR1, SIGUSR2, add_signal_handler, wait_for_signal};

fn raise(signal: i32) {
    // SAFETY: raising a signal this test has a handler for.
    assert_eq!(unsafe { libc::raise(signal) }, 0);
}

#[test]
fn callback_runs_on_the_loop_thread() {
    let ioloop = fresh_loop();
    let calls: Rc<RefCell<Vec<(i32, std::thread::ThreadId)>>> = Rc::default();
    let c = calls.clone();
    let handler = add_signal_handler(SIGUSR1, move |sig| {
        c.borrow_mut().push((sig, std::thread::current().id()));
        IOLoop::current().stop();
    })
    .unwrap();
    assert_eq!(handler.signal(), SIGUSR1);
    // Raised on another thread: the handler runs there and only writes a
    // byte; the callback runs here, on the loop.
    std::thread::spawn(|| raise(SIGUSR1)).join().unwrap();
    ioloop.start().unwrap();
    let me = std::thread::current().id();
    assert_eq!(*calls.borrow(), vec![(SIGUSR1, me)]);
    // And again, raised on this thread while the loop is not running.
    raise(SIGUSR1);
    ioloop.start().unwrap();
    assert_eq!(calls.borrow().len(), 2);
}

#[test]
fn removed_handler_is_not_called() {
    let _l = fresh_loop();
    let (kept, removed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let k = kept.clone();
    let _kept = add_signal_handler(SIGUSR2, move |_| k.set(k.get() + 1)).unwrap();
    let r = removed.clone();
    let gone = add_signal_handler(SIGUSR2, move |_| r.set(r.get() + 1)).unwrap();
    raise(SIGUSR2);
    idle(Duration::from_millis(20));
    assert_eq!((kept.get(), removed.get()), (1, 1));
    gone.remove();
    gone.remove();
    raise(SIGUSR2);
    idle(Duration::from_millis(20));
    assert_eq!((kept.get(), removed.get()), (2, 1));
    drop(_kept);
    // No handler left: still no default action (which would end the test
    // process), and nothing runs.
    raise(SIGUSR2);
    idle(Duration::from_millis(20));
    assert_eq!((kept.get(), removed.get()), (2, 1));
}

#[test]
fn wait_for_signal_resolves_with_the_first() {
    let _l = fresh_loop();
    let got = run(|| {
        coroutine(async {
            let waiting = wait_for_signal(&[SIGHUP])?;
            sleep(Duration::from_millis(10)).await;
            assert!(!waiting.done());
            raise(SIGHUP);
            waiting.await
        })
    })
    .unwrap();
    assert_eq!(got, SIGHUP);
}

#[test]
fn signals_that_cannot_be_handled_are_refused() {
    let _l = fresh_loop();
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
        let e = add_signal_handler(sig, |_| {}).err().expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}");
    }
}
