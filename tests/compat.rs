//! The tokio bridge (feature `tokio-compat`): a future run on the process's
//! tokio thread, its outcome delivered on our loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tornado::compat::tokio::run;
use tornado::concurrent::{Error, PanicError};
use tornado::r#gen::sleep;
use tornado::ioloop::IOLoop;
use tornado_testing::gen_test;

#[gen_test(timeout = 10)]
async fn result_arrives_on_our_loop() -> Result<(), Error> {
    let here = std::thread::current().id();
    let (value, there) = run(async {
        // tokio's own timer: only works inside a tokio runtime.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>((42, std::thread::current().id()))
    })
    .await?;
    assert_eq!(value, 42);
    assert_ne!(there, here, "the future ran on the runtime's thread");
    assert_eq!(std::thread::current().id(), here, "and we resumed on ours");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn error_is_our_error() -> Result<(), Error> {
    let err = run(async {
        Err::<(), _>(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "no",
        ))
    })
    .await
    .unwrap_err();
    let io = err
        .downcast_ref::<std::io::Error>()
        .expect("the io::Error itself");
    assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn panic_there_is_an_error_here() -> Result<(), Error> {
    let err = run(async {
        if std::hint::black_box(true) {
            panic!("boom in tokio");
        }
        Ok::<(), std::io::Error>(())
    })
    .await
    .unwrap_err();
    let panic = err.downcast_ref::<PanicError>().expect("a PanicError");
    assert!(panic.message.contains("boom in tokio"), "{}", panic.message);
    // The runtime survives a panicking task.
    assert_eq!(run(async { Ok::<_, std::io::Error>(1) }).await?, 1);
    Ok(())
}

/// Sets its flag when dropped: tells that the tokio task was torn down.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[gen_test(timeout = 10)]
async fn cancelling_ours_aborts_theirs() -> Result<(), Error> {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (flag, done) = (DropFlag(dropped.clone()), finished.clone());
    let f = run(async move {
        let _flag = flag;
        tokio::time::sleep(Duration::from_secs(30)).await;
        done.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(())
    });
    sleep(Duration::from_millis(20)).await;
    assert!(f.cancel());
    for _ in 0..200 {
        if dropped.load(Ordering::SeqCst) {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(dropped.load(Ordering::SeqCst), "the tokio task was dropped");
    assert!(!finished.load(Ordering::SeqCst));
    // Dropping every handle to a pending result aborts it too.
    let dropped2 = Arc::new(AtomicBool::new(false));
    let flag2 = DropFlag(dropped2.clone());
    drop(run(async move {
        let _flag = flag2;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, std::io::Error>(())
    }));
    for _ in 0..200 {
        if dropped2.load(Ordering::SeqCst) {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(dropped2.load(Ordering::SeqCst), "abandoned: aborted");
    Ok(())
}

#[test]
fn loops_on_two_threads_share_one_runtime() {
    // Two loops on two threads use the same runtime thread.
    let names: Vec<String> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let ioloop = IOLoop::new().unwrap();
                ioloop
                    .run_sync(
                        || {
                            run(async {
                                Ok::<_, std::io::Error>(
                                    std::thread::current().name().unwrap_or("").to_string(),
                                )
                            })
                        },
                        Some(Duration::from_secs(5)),
                    )
                    .unwrap()
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(names, ["tornado-tokio", "tornado-tokio"]);
}
