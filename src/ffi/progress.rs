//! Progress callbacks. The engine's workers only bump the atomics in a
//! [`Control`]; [`run_with_progress`] runs the operation on a worker thread
//! and polls a snapshot from the *calling* thread, so the user's callback
//! only ever runs on the thread that called the `br_*` function.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::error::FfiError;
use super::panic::{panic_error, panic_message};
use super::status::br_status;
use crate::progress::{Control, Phase, Snapshot};

// Phase numbers of `br_progress.phase`: the engine's `progress::Phase`
// (a test checks they agree).
/// `br_progress.phase`: the operation is starting (the first callback).
pub const BR_PHASE_STARTING: u32 = 0;
/// `br_progress.phase`: walking the source and choosing files.
pub const BR_PHASE_SELECTING: u32 = 1;
/// `br_progress.phase`: hashing the selected files (BLAKE3).
pub const BR_PHASE_HASHING: u32 = 2;
/// `br_progress.phase`: building the archive.
pub const BR_PHASE_COMPRESSING: u32 = 3;
/// `br_progress.phase`: copying the archive to the destinations.
pub const BR_PHASE_PLACING: u32 = 4;
/// `br_progress.phase`: verifying an archive.
pub const BR_PHASE_VERIFYING: u32 = 5;
/// `br_progress.phase`: applying retention.
pub const BR_PHASE_PRUNING: u32 = 6;
/// `br_progress.phase`: extracting an archive.
pub const BR_PHASE_RESTORING: u32 = 7;
/// `br_progress.phase`: finished successfully (the last callback of a successful operation).
pub const BR_PHASE_DONE: u32 = 8;

/// How often the calling thread reports progress while an operation runs.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A progress report, passed to a `br_progress_fn`. The struct and the
/// `current` string belong to the library and are valid only during the
/// callback: copy what you keep.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct br_progress {
    /// One of the `BR_PHASE_*` constants.
    pub phase: u32,
    /// Files done so far in this phase, out of `files_total` (0 = unknown).
    pub files_done: u64,
    pub files_total: u64,
    /// Bytes done so far in this phase, out of `bytes_total` (0 = unknown).
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// The path being worked on (UTF-8, may be empty). Never NULL.
    pub current: *const c_char,
}

/// A progress callback. It is called only on the thread that called the
/// `br_*` function: once before the work starts, then about every 200 ms,
/// then once at the end. Return 0 to continue; any other value cancels the
/// operation, which then cleans up and returns `BR_STATUS_CANCELLED` (the
/// return value of the final call is ignored; `br_backup` once its archives
/// are placed returns `BR_STATUS_OK`, see there). `userdata` is passed through
/// untouched. The callback must not unwind (no C++ exceptions, no longjmp
/// out of it) and must not call back into the library on this operation.
#[allow(non_camel_case_types)]
pub type br_progress_fn = Option<unsafe extern "C" fn(progress: *const br_progress, userdata: *mut c_void) -> i32>;

/// The user's callback and pointer, held on the calling thread only.
pub struct Reporter {
    cb: br_progress_fn,
    userdata: *mut c_void,
}

impl Reporter {
    pub fn new(cb: br_progress_fn, userdata: *mut c_void) -> Reporter {
        Reporter { cb, userdata }
    }

    /// Call the callback with `snap`; true when it asks to cancel.
    fn report(&self, snap: &Snapshot) -> bool {
        let Some(cb) = self.cb else { return false };
        let current = CString::new(snap.current.replace('\0', "")).unwrap_or_default();
        let p = br_progress {
            phase: snap.phase as u32,
            files_done: snap.files_done,
            files_total: snap.files_total,
            bytes_done: snap.bytes_done,
            bytes_total: snap.bytes_total,
            current: current.as_ptr(),
        };
        // SAFETY: the caller gave us a callback with this signature; `p` and
        // `current` outlive the call.
        unsafe { cb(&p, self.userdata) != 0 }
    }
}

/// Run `op` on a worker thread with a fresh [`Control`] while this thread
/// reports progress through `reporter`:
///
/// 1. once before `op` starts (phase STARTING); a non-zero return cancels
///    right there and `op` never runs;
/// 2. every [`POLL_INTERVAL`] while it runs; a non-zero return calls
///    `control.cancel()` and the engine returns `Cancelled`;
/// 3. once at the end (phase DONE on success), return value ignored.
///
/// A panic in `op` is caught on the worker and becomes `BR_STATUS_PANIC`.
pub fn run_with_progress<T, F>(reporter: &Reporter, op: F) -> Result<T, FfiError>
where
    T: Send,
    F: FnOnce(&Control) -> crate::Result<T> + Send,
{
    run_with_progress_every(reporter, POLL_INTERVAL, op)
}

pub fn run_with_progress_every<T, F>(reporter: &Reporter, interval: Duration, op: F) -> Result<T, FfiError>
where
    T: Send,
    F: FnOnce(&Control) -> crate::Result<T> + Send,
{
    let control = Control::default();
    if reporter.report(&control.snapshot()) {
        return Err(crate::Error::cancelled().into());
    }
    let (tx, rx) = mpsc::channel();
    // The caller's explicit environment (if its options had one) holds in
    // the worker too: it is this call's input, not this thread's.
    let environment = crate::environment::explicit();
    let outcome = std::thread::scope(|scope| {
        let control = &control;
        scope.spawn(move || {
            let r = crate::environment::with_explicit(environment, || catch_unwind(AssertUnwindSafe(|| op(control))));
            // The receiver lives until the scope ends; a send cannot fail.
            let _ = tx.send(r);
        });
        loop {
            match rx.recv_timeout(interval) {
                Ok(r) => break r,
                Err(RecvTimeoutError::Timeout) => {
                    if !control.is_cancelled() && reporter.report(&control.snapshot()) {
                        control.cancel();
                    }
                }
                // Unreachable: the worker always sends, even after a panic.
                Err(RecvTimeoutError::Disconnected) => break Err(Box::new("worker thread vanished")),
            }
        }
    });
    let result = match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(FfiError::from(e)),
        Err(payload) => Err(panic_error(&panic_message(payload.as_ref()))),
    };
    let mut last = control.snapshot();
    if result.is_ok() {
        last.phase = Phase::Done;
    }
    reporter.report(&last);
    if control.is_cancelled() {
        // Whatever the engine returned after a cancel, the caller asked to stop.
        if let Err(e) = &result {
            if e.status != br_status::Panic {
                return Err(FfiError::new(br_status::Cancelled, e.message.clone()));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::{self, ThreadId};
    use std::time::Instant;

    /// What the test callback records; passed as `userdata`.
    struct Seen {
        thread: ThreadId,
        calls: usize,
        phases: Vec<u32>,
        wrong_thread: usize,
        cancel_on_call: Option<usize>,
    }

    impl Seen {
        fn new(cancel_on_call: Option<usize>) -> Seen {
            Seen { thread: thread::current().id(), calls: 0, phases: vec![], wrong_thread: 0, cancel_on_call }
        }
    }

    unsafe extern "C" fn record(p: *const br_progress, userdata: *mut c_void) -> i32 {
        let seen = unsafe { &mut *(userdata as *mut Seen) };
        let p = unsafe { &*p };
        assert!(!p.current.is_null());
        seen.calls += 1;
        seen.phases.push(p.phase);
        if thread::current().id() != seen.thread {
            seen.wrong_thread += 1;
        }
        i32::from(seen.cancel_on_call == Some(seen.calls))
    }

    /// A fake long operation: 50 steps of 10 ms, checking cancel between steps.
    fn long_op(control: &Control, steps: &AtomicUsize) -> crate::Result<&'static str> {
        control.begin(Phase::Hashing, 50, 0);
        for _ in 0..50 {
            control.check()?;
            thread::sleep(Duration::from_millis(10));
            control.advance(1, 0);
            steps.fetch_add(1, Ordering::Relaxed);
        }
        Ok("done")
    }

    #[test]
    fn callback_runs_on_the_calling_thread_a_few_times() {
        let mut seen = Seen::new(None);
        let steps = AtomicUsize::new(0);
        let reporter = Reporter::new(Some(record), &mut seen as *mut Seen as *mut c_void);
        let test_thread = thread::current().id();
        let started = Instant::now();
        let r = run_with_progress_every(&reporter, Duration::from_millis(100), |c| {
            assert_ne!(thread::current().id(), test_thread, "the operation runs on a worker");
            long_op(c, &steps)
        });
        let polls = (started.elapsed().as_millis() / 100) as usize;
        assert_eq!(r.unwrap(), "done");
        assert_eq!(seen.wrong_thread, 0);
        // ~500 ms at 100 ms: start + ~4 polls + end; at most one poll per
        // 100 ms however long a loaded machine made the run.
        assert!((3..=polls + 3).contains(&seen.calls), "{} calls in {polls} periods", seen.calls);
        assert_eq!(seen.phases.first(), Some(&BR_PHASE_STARTING));
        assert!(seen.phases[1..seen.phases.len() - 1].iter().all(|p| *p == BR_PHASE_HASHING), "{:?}", seen.phases);
        assert_eq!(seen.phases.last(), Some(&BR_PHASE_DONE));
    }

    #[test]
    fn non_zero_return_cancels_the_running_operation() {
        let mut seen = Seen::new(Some(2)); // 1 = before start, 2 = first poll
        let steps = AtomicUsize::new(0);
        let reporter = Reporter::new(Some(record), &mut seen as *mut Seen as *mut c_void);
        let r = run_with_progress_every(&reporter, Duration::from_millis(50), |c| long_op(c, &steps));
        let e = r.unwrap_err();
        assert_eq!(e.status, br_status::Cancelled);
        // Stopped early by the count of steps done, not by the clock (a loaded
        // machine may be slow, never wrong).
        assert!(steps.load(Ordering::Relaxed) < 50, "the operation ran to the end");
        assert_eq!(seen.calls, 3, "start, the cancelling poll, the end");
        assert_eq!(seen.wrong_thread, 0);
    }

    #[test]
    fn cancel_before_start_never_runs_the_operation() {
        let mut seen = Seen::new(Some(1));
        let reporter = Reporter::new(Some(record), &mut seen as *mut Seen as *mut c_void);
        let r: Result<(), _> = run_with_progress(&reporter, |_| panic!("must not run"));
        assert_eq!(r.unwrap_err().status, br_status::Cancelled);
        assert_eq!(seen.calls, 1);
    }

    #[test]
    fn worker_panic_is_caught() {
        let reporter = Reporter::new(None, std::ptr::null_mut());
        let r: Result<(), _> = run_with_progress(&reporter, |_| todo!("backup: run"));
        let e = r.unwrap_err();
        assert_eq!(e.status, br_status::Panic);
        assert!(e.message.contains("not yet implemented: backup: run"), "{}", e.message);
    }

    #[test]
    fn engine_errors_keep_their_status_and_null_callback_is_fine() {
        let reporter = Reporter::new(None, std::ptr::null_mut());
        let r: Result<(), _> =
            run_with_progress(&reporter, |_| Err(crate::Error::new(crate::ErrorKind::NoSpace, "full")));
        assert_eq!(r.unwrap_err(), FfiError::new(br_status::NoSpace, "full"));
    }

    #[test]
    fn phase_numbers_match_the_engine() {
        let all = [
            (BR_PHASE_STARTING, 0),
            (BR_PHASE_SELECTING, 1),
            (BR_PHASE_HASHING, 2),
            (BR_PHASE_COMPRESSING, 3),
            (BR_PHASE_PLACING, 4),
            (BR_PHASE_VERIFYING, 5),
            (BR_PHASE_PRUNING, 6),
            (BR_PHASE_RESTORING, 7),
            (BR_PHASE_DONE, 8),
        ];
        for (c, n) in all {
            assert_eq!(c, n as u32);
        }
        use Phase::*;
        let engine = [Starting, Selecting, Hashing, Compressing, Placing, Verifying, Pruning, Restoring, Done];
        for (i, p) in engine.into_iter().enumerate() {
            assert_eq!(all[i].0, p as u32);
        }
    }
}
