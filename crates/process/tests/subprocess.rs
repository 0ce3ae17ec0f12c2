//! `Subprocess`: pipes as streams, exit statuses, exit callbacks, spawn
//! errors, early-closing pipes and reaping (no zombies).

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use tornado_gen::sleep;
use tornado_ioloop::IOLoop;
use tornado_process::{Subprocess, SubprocessError};
use tornado_testing::gen_test;

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

/// True while `pid` exists, zombie or not.
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[gen_test(timeout = 10)]
async fn stdin_and_stdout_are_streams() {
    let mut cmd = Command::new("cat");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let child = Subprocess::spawn(&mut cmd).unwrap();
    assert!(child.stderr.is_none());
    let stdin = child.stdin.as_ref().unwrap();
    stdin.write(b"hello, ".to_vec()).await.unwrap();
    stdin.write(b"cat".to_vec()).await.unwrap();
    stdin.close();
    let out = child
        .stdout
        .as_ref()
        .unwrap()
        .read_until_close()
        .await
        .unwrap();
    assert_eq!(out, b"hello, cat");
    let status = child.wait_for_exit(true).await.unwrap();
    assert!(status.success());
    assert_eq!(child.exit_status(), Some(status));
}

#[gen_test(timeout = 10)]
async fn stderr_is_a_stream_too() {
    let mut cmd = sh("echo out; echo err >&2");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Subprocess::spawn(&mut cmd).unwrap();
    let err = child
        .stderr
        .as_ref()
        .unwrap()
        .read_until_close()
        .await
        .unwrap();
    let out = child
        .stdout
        .as_ref()
        .unwrap()
        .read_until_close()
        .await
        .unwrap();
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
}

#[gen_test(timeout = 10)]
async fn non_zero_status_is_an_error_unless_asked_otherwise() {
    let child = Subprocess::spawn(&mut sh("exit 3")).unwrap();
    let err = child.wait_for_exit(true).await.unwrap_err();
    match err.downcast_ref::<SubprocessError>() {
        Some(SubprocessError::Exit { status, pid, .. }) => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(*pid, child.pid());
        }
        other => panic!("expected an Exit error, got {other:?}"),
    }
    assert!(err.to_string().contains("exited with status 3"), "{err}");
    // Asked after the exit, without raising: the status itself.
    let status = child.wait_for_exit(false).await.unwrap();
    assert_eq!(status.code(), Some(3));
}

#[gen_test(timeout = 10)]
async fn a_signal_ends_it_and_is_reported() {
    let child = Subprocess::spawn(Command::new("sleep").arg("30")).unwrap();
    let waiting = child.wait_for_exit(false);
    child.send_signal(libc::SIGKILL).unwrap();
    let status = waiting.await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Reaped: signalling again is refused rather than hitting a reused pid.
    assert!(child.send_signal(libc::SIGKILL).is_err());
    assert!(!exists(child.pid()));
}

#[gen_test(timeout = 10)]
async fn exit_callbacks_run_once_in_order_even_when_set_late() {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let child = Subprocess::spawn(&mut sh("exit 7")).unwrap();
    let c = calls.clone();
    child.set_exit_callback(move |s| c.borrow_mut().push(("first", s.code())));
    let c = calls.clone();
    child.set_exit_callback(move |s| c.borrow_mut().push(("second", s.code())));
    child.wait_for_exit(false).await.unwrap();
    sleep(Duration::ZERO).await;
    let c = calls.clone();
    child.set_exit_callback(move |s| c.borrow_mut().push(("late", s.code())));
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        *calls.borrow(),
        vec![("first", Some(7)), ("second", Some(7)), ("late", Some(7))]
    );
}

#[test]
fn a_missing_program_is_a_typed_error_at_spawn() {
    let ioloop = IOLoop::new().unwrap();
    ioloop.make_current();
    let err = Subprocess::spawn(&mut Command::new("/nonexistent/tornado-no-such-program"))
        .err()
        .expect("spawn must fail");
    match &err {
        SubprocessError::NotFound { program } => {
            assert_eq!(program, "/nonexistent/tornado-no-such-program")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("program not found"));
    // Not executable: another typed error, with the OS's reason.
    let err = Subprocess::spawn(&mut Command::new("/dev/null"))
        .err()
        .expect("spawn must fail");
    assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
    ioloop.close(false).unwrap();
}

#[gen_test(timeout = 10)]
async fn stdout_closed_early_ends_the_stream_cleanly() {
    // The child closes its stdout at once but runs on for a while.
    let mut cmd = sh("exec 1>&-; sleep 0.3");
    cmd.stdout(Stdio::piped());
    let child = Subprocess::spawn(&mut cmd).unwrap();
    let out = child
        .stdout
        .as_ref()
        .unwrap()
        .read_until_close()
        .await
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(child.exit_status(), None, "EOF came before the exit");
    assert!(child.wait_for_exit(true).await.unwrap().success());
}

#[gen_test(timeout = 10)]
async fn writing_to_a_child_that_stopped_reading_fails_cleanly() {
    let mut cmd = Command::new("true");
    cmd.stdin(Stdio::piped());
    let child = Subprocess::spawn(&mut cmd).unwrap();
    child.wait_for_exit(true).await.unwrap();
    let stdin = child.stdin.as_ref().unwrap();
    // More than a pipe holds: the write must fail (EPIPE), not hang or
    // kill us with SIGPIPE.
    let err = stdin.write(vec![b'x'; 1 << 20]).await.unwrap_err();
    assert!(stdin.closed(), "{err}");
}

#[test]
fn no_zombie_when_the_loop_closes_first() {
    let ioloop = IOLoop::new().unwrap();
    ioloop.make_current();
    let child = Subprocess::spawn(Command::new("sleep").arg("0.2")).unwrap();
    let pid = child.pid();
    drop(child);
    ioloop.close(false).unwrap();
    // The child ends after the loop is gone; it must still be reaped.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exists(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} left behind"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[gen_test(timeout = 10)]
async fn a_dropped_handle_is_still_reaped_by_the_loop() {
    let child = Subprocess::spawn(&mut Command::new("true")).unwrap();
    let pid = child.pid();
    drop(child);
    for _ in 0..500 {
        if !exists(pid) {
            return;
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("pid {pid} was not reaped");
}
