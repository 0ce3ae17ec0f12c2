//! The testing crate itself: `#[gen_test]` and `AsyncTest` (timeouts,
//! leaked panics, unhandled errors), `ExpectLog`, the virtual clock,
//! per-backend runs and `bind_unused_port`.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::panic::{UnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado::concurrent::{Error, Future, panic_message};
use tornado::r#gen::{TimeoutError, coroutine, sleep, spawn, with_timeout};
use tornado::ioloop::{Backend, Events, IOLoop};
use tornado_testing::{
    AsyncTest, ExpectLog, VirtualClock, bind_unused_port, each_backend, gen_test,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs a test that must fail; returns its panic message.
fn failure_of(test: impl FnOnce() + UnwindSafe) -> String {
    let payload = catch_unwind(test).expect_err("the test should have failed");
    panic_message(&*payload)
}

// ----- gen_test and AsyncTest -----------------------------------------

#[gen_test]
async fn gen_test_runs_the_body_on_a_running_current_loop() -> Result<(), Error> {
    let ioloop = IOLoop::current();
    assert!(ioloop.is_running());
    let v = coroutine(async {
        sleep(ms(1)).await;
        Ok(41)
    })
    .await?;
    assert_eq!(v + 1, 42);
    Ok(())
}

#[gen_test(timeout = 0.2)]
#[should_panic(expected = "test timed out after 200ms")]
async fn a_hung_gen_test_fails_after_its_timeout() {
    let never: Future<()> = Future::new();
    never.await.unwrap();
}

#[test]
fn the_timeout_is_real_time_even_on_a_paused_virtual_clock() {
    let started = Instant::now();
    let message = failure_of(|| {
        AsyncTest::new().timeout(ms(200)).run(|| async {
            let clock = VirtualClock::install(&IOLoop::current());
            clock.pause();
            sleep(Duration::from_secs(3600)).await; // never comes: paused
        })
    });
    assert!(message.contains("timed out after 200ms"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_panic_leaked_into_the_loop_fails_the_test_at_once() {
    let started = Instant::now();
    let message = failure_of(|| {
        AsyncTest::new()
            .timeout(Duration::from_secs(5))
            .run(|| async {
                IOLoop::current().add_callback(|| panic!("leaked-7781"));
                sleep(Duration::from_secs(4)).await;
            })
    });
    assert!(
        message.contains("panic in a callback registered at"),
        "{message}"
    );
    assert!(message.contains("tests/testing.rs") && message.contains("leaked-7781"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the loop was stopped"
    );

    let message = failure_of(|| {
        AsyncTest::new().run(|| async {
            IOLoop::current().call_later(ms(1), || panic!("in-a-timer"));
            sleep(Duration::from_secs(4)).await;
        })
    });
    assert!(message.contains("panic in a timeout"), "{message}");
}

#[test]
fn a_failed_spawned_coroutine_fails_the_test() {
    let message = failure_of(|| {
        AsyncTest::new().run(|| async {
            spawn(async {
                sleep(ms(1)).await;
                if true {
                    panic!("spawned-panic-1203");
                }
                Ok(())
            });
            sleep(Duration::from_secs(4)).await;
        })
    });
    assert!(
        message.contains("unhandled error logged on tornado.application"),
        "{message}"
    );
    assert!(message.contains("spawned-panic-1203"));
}

#[gen_test]
async fn an_expected_error_does_not_fail_the_test() {
    let expected = ExpectLog::new("tornado.application", "spawned-oops");
    spawn(async { Err::<(), _>(Error::msg("spawned-oops")) });
    sleep(ms(1)).await;
    assert_eq!(expected.matched(), 1);
}

#[test]
fn the_body_s_error_or_panic_fails_the_test() {
    let message =
        failure_of(|| AsyncTest::new().run(|| async { Err::<(), _>(Error::msg("returned-err")) }));
    assert!(message.contains("test returned an error"), "{message}");
    assert!(message.contains("returned-err"));
    let message = failure_of(|| {
        AsyncTest::new().run(|| async {
            sleep(ms(1)).await;
            if true {
                panic!("body-panic");
            }
        })
    });
    assert!(
        message.contains("test failed: panicked: body-panic"),
        "{message}"
    );
}

// ----- ExpectLog ------------------------------------------------------

#[gen_test]
async fn expect_log_positive_and_negative() {
    {
        let seen = ExpectLog::new("tornado.general", "fd 99").level(log::Level::Error);
        log::error!(target: "tornado.general", "fd 99 was closed");
        assert_eq!(seen.matched(), 1);
    }
    {
        let never = ExpectLog::absent("tornado.general", "blocking");
        log::warn!(target: "tornado.general", "something else entirely");
        assert_eq!(never.matched(), 0);
    }
    let optional = ExpectLog::optional("tornado", "maybe");
    assert_eq!(optional.matched(), 0);
}

#[gen_test]
#[should_panic(expected = "did not get expected log message")]
async fn expect_log_fails_when_the_message_never_comes() {
    let _e = ExpectLog::new("tornado.application", "never-logged-5521");
    sleep(ms(1)).await;
}

#[gen_test]
#[should_panic(expected = "got unexpected log message")]
async fn expect_log_absent_fails_when_the_message_comes() {
    let _e = ExpectLog::absent("tornado.general", "forbidden-3319");
    log::warn!(target: "tornado.general", "forbidden-3319 happened");
}

// ----- VirtualClock ---------------------------------------------------

#[gen_test]
async fn a_thirty_second_timeout_takes_no_real_time() {
    let clock = VirtualClock::install(&IOLoop::current());
    let started = Instant::now();
    let never: Future<()> = Future::new();
    let err = with_timeout(Duration::from_secs(30), never)
        .await
        .unwrap_err();
    assert_eq!(
        err.downcast_ref(),
        Some(&TimeoutError(Duration::from_secs(30)))
    );
    assert_eq!(clock.elapsed(), Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[gen_test]
async fn virtual_timers_fire_in_deadline_order_at_their_times() {
    let ioloop = IOLoop::current();
    let clock = VirtualClock::install(&ioloop);
    let fired: Rc<RefCell<Vec<(&str, Duration)>>> = Rc::default();
    let record = |name: &'static str| {
        let (fired, clock) = (fired.clone(), clock.clone());
        move || fired.borrow_mut().push((name, clock.elapsed()))
    };
    ioloop.call_later(Duration::from_secs(30), record("30s"));
    ioloop.call_later(Duration::from_secs(10), record("10s a"));
    ioloop.call_later(Duration::from_secs(20), record("20s"));
    ioloop.call_later(Duration::from_secs(10), record("10s b"));
    let (l, later) = (ioloop.clone(), record("15s, added at 10s"));
    ioloop.call_later(Duration::from_secs(10), move || {
        l.call_later(Duration::from_secs(5), later);
    });
    sleep(Duration::from_secs(31)).await;
    let s = Duration::from_secs;
    assert_eq!(
        *fired.borrow(),
        [
            ("10s a", s(10)),
            ("10s b", s(10)),
            ("15s, added at 10s", s(15)),
            ("20s", s(20)),
            ("30s", s(30)),
        ]
    );
}

#[gen_test]
async fn a_paused_clock_moves_only_when_advanced() {
    let clock = VirtualClock::install(&IOLoop::current());
    clock.pause();
    let never: Future<()> = Future::new();
    let timed = with_timeout(Duration::from_secs(30), never);
    clock.advance(Duration::from_secs(29));
    sleep(Duration::ZERO).await; // lets the timers due by now run
    assert!(!timed.done());
    clock.advance(Duration::from_secs(1));
    sleep(Duration::ZERO).await;
    assert!(timed.exception().unwrap().is::<TimeoutError>());
    assert_eq!(clock.elapsed(), Duration::from_secs(30));
}

// ----- per backend ----------------------------------------------------

#[test]
fn async_test_each_backend_runs_once_per_backend() {
    let names = Rc::new(RefCell::new(Vec::new()));
    let n = names.clone();
    AsyncTest::new().each_backend().run(move || {
        let n = n.clone();
        async move {
            sleep(ms(1)).await;
            n.borrow_mut().push(IOLoop::current().backend_name());
        }
    });
    let expected: Vec<&str> = Backend::available().iter().map(Backend::name).collect();
    assert_eq!(*names.borrow(), expected);

    let message = failure_of(|| {
        AsyncTest::new().each_backend().run(|| async {
            assert_ne!(IOLoop::current().backend_name(), "select", "not here");
        })
    });
    assert!(message.contains("(on the select backend)"), "{message}");
}

#[gen_test(each_backend, timeout = 5)]
async fn gen_test_each_backend() {
    sleep(ms(1)).await;
}

#[test]
fn each_backend_helper_names_the_failing_backend() {
    let mut seen = Vec::new();
    each_backend(|ioloop| {
        assert!(IOLoop::current().same_loop(ioloop));
        seen.push(ioloop.backend_name());
    });
    assert_eq!(seen.len(), Backend::available().len());
    let message = failure_of(|| each_backend(|_| panic!("boom")));
    assert!(message.starts_with("on the "), "{message}");
    assert!(message.ends_with("backend: boom"), "{message}");
}

// ----- bind_unused_port -----------------------------------------------

#[gen_test]
async fn bind_unused_port_accepts_on_the_loop() -> Result<(), Error> {
    let (listener, port) = bind_unused_port()?;
    let ioloop = IOLoop::current();
    let received: Future<Vec<u8>> = Future::new();
    let r = received.clone();
    ioloop.add_handler(listener.as_raw_fd(), Events::READ, move |_, _| {
        if let Ok((mut conn, _)) = listener.accept() {
            conn.set_nonblocking(false).unwrap();
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).unwrap();
            let _ = r.set_result(buf);
        }
    })?;
    let client = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"hello").unwrap();
    });
    let got = received.await?;
    client.join().unwrap();
    assert_eq!(got, b"hello");
    Ok(())
}
