//! The per-thread last error (as libgit2's `git_error_last`) and the error
//! value the C ABI's helpers pass around before it becomes a status.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use super::status::br_status;

/// A failure on its way out through the C ABI: the status to return and the
/// message to leave in the thread's last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    pub status: br_status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: br_status, message: impl Into<String>) -> FfiError {
        FfiError { status, message: message.into() }
    }
}

impl From<crate::Error> for FfiError {
    fn from(e: crate::Error) -> FfiError {
        FfiError { status: e.kind.into(), message: e.message }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `message` as this thread's last error. Interior NULs (which a C
/// string cannot hold) are replaced so the message is never lost.
pub fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub fn clear_last_error() {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if !e.as_bytes().is_empty() {
            *e = CString::default();
        }
    });
}

/// The last error on this thread, for tests.
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned())
}

/// The message of the last failed `br_*` call on the calling thread, or `""`
/// when the last status-returning call succeeded (or none was made).
///
/// The string is owned by the library: do not free it. It stays valid until
/// the next `br_*` call on the same thread; copy it to keep it. Never NULL.
#[no_mangle]
pub extern "C" fn br_last_error() -> *const c_char {
    ffi_panic_boundary! {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn c_last() -> String {
        unsafe { CStr::from_ptr(br_last_error()) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn empty_then_set_then_cleared() {
        assert_eq!(c_last(), "");
        set_last_error("disk on fire");
        assert_eq!(c_last(), "disk on fire");
        clear_last_error();
        assert_eq!(c_last(), "");
    }

    #[test]
    fn interior_nul_is_kept_visible() {
        set_last_error("a\0b");
        assert_eq!(c_last(), "a\\0b");
    }

    #[test]
    fn per_thread() {
        set_last_error("here");
        std::thread::spawn(|| assert_eq!(c_last(), "")).join().unwrap();
        assert_eq!(c_last(), "here");
    }

    #[test]
    fn engine_error_keeps_kind_and_message() {
        let e: FfiError = crate::Error::new(crate::ErrorKind::Busy, "locked").into();
        assert_eq!(e, FfiError::new(br_status::Busy, "locked"));
    }
}
