//! Progress and cancellation shared between the engine's worker threads and
//! the caller. Workers only bump atomics; the caller polls a snapshot on its
//! own thread (the C ABI calls the user's callback from there), so no
//! callback ever runs on a worker thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::{Error, Result};

/// The step a long operation is in, in the order a run goes through them.
/// Numbers are part of the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Selecting = 1,
    Hashing = 2,
    Compressing = 3,
    Placing = 4,
    Verifying = 5,
    Pruning = 6,
    Restoring = 7,
    Done = 8,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        use Phase::*;
        [Starting, Selecting, Hashing, Compressing, Placing, Verifying, Pruning, Restoring, Done]
            .get(v as usize)
            .copied()
            .unwrap_or(Done)
    }
}

/// A consistent-enough copy of the counters, taken by the polling thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub phase: Phase,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub current: String,
}

/// Counters and the cancel flag for one operation. `Default` gives a control
/// that nobody watches, for tests and internal calls.
#[derive(Debug, Default)]
pub struct Control {
    phase: AtomicU8,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    current: Mutex<String>,
    cancelled: AtomicBool,
}

impl Control {
    /// Enter a phase with known totals; resets the done counters.
    pub fn begin(&self, phase: Phase, files_total: u64, bytes_total: u64) {
        self.files_done.store(0, Relaxed);
        self.bytes_done.store(0, Relaxed);
        self.files_total.store(files_total, Relaxed);
        self.bytes_total.store(bytes_total, Relaxed);
        self.phase.store(phase as u8, Relaxed);
    }

    pub fn advance(&self, files: u64, bytes: u64) {
        self.files_done.fetch_add(files, Relaxed);
        self.bytes_done.fetch_add(bytes, Relaxed);
    }

    pub fn set_current(&self, path: &str) {
        if let Ok(mut c) = self.current.lock() {
            c.clear();
            c.push_str(path);
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Relaxed)
    }

    /// `Err(Cancelled)` once cancel was requested: call between units of work.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            phase: Phase::from_u8(self.phase.load(Relaxed)),
            files_done: self.files_done.load(Relaxed),
            files_total: self.files_total.load(Relaxed),
            bytes_done: self.bytes_done.load(Relaxed),
            bytes_total: self.bytes_total.load(Relaxed),
            current: self.current.lock().map(|c| c.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_resets_counters_and_cancel_is_sticky() {
        let c = Control::default();
        c.begin(Phase::Hashing, 10, 100);
        c.advance(3, 30);
        c.begin(Phase::Compressing, 5, 50);
        let s = c.snapshot();
        assert_eq!((s.phase, s.files_done, s.files_total), (Phase::Compressing, 0, 5));
        assert!(c.check().is_ok());
        c.cancel();
        assert_eq!(c.check().unwrap_err().kind, crate::ErrorKind::Cancelled);
    }
}
