//! The panic boundary (after rustls-ffi's `ffi_panic_boundary!`): every
//! exported body runs inside `catch_unwind`, so a Rust panic never unwinds
//! into C. What a caught panic returns is picked per return type by
//! [`PanicOrDefault`]: `BR_STATUS_PANIC` (with the panic message as the last
//! error) for status-returning functions, a neutral value for the rest.

use std::any::Any;
use std::ffi::c_char;

use super::error::{clear_last_error, set_last_error, FfiError};
use super::status::br_status;

/// Run an exported function's body inside `catch_unwind` and turn its value
/// (or a panic) into what the C caller receives.
///
/// A status-returning body evaluates to `Result<(), FfiError>`: `Ok` becomes
/// `BR_STATUS_OK` and clears the last error, `Err` becomes its status and
/// sets the last error. Other bodies return their C value directly.
macro_rules! ffi_panic_boundary {
    ( $($body:tt)* ) => {
        $crate::ffi::panic::boundary(|| { $($body)* })
    };
}

/// How a body's value, or a caught panic, becomes the C return value.
pub trait PanicOrDefault {
    type Output;
    /// The body returned normally.
    fn finish(self) -> Self::Output;
    /// The body panicked with `message`.
    fn on_panic(message: &str) -> Self::Output;
}

impl PanicOrDefault for Result<(), FfiError> {
    type Output = br_status;
    fn finish(self) -> br_status {
        match self {
            Ok(()) => {
                clear_last_error();
                br_status::Ok
            }
            Err(e) => {
                set_last_error(&e.message);
                e.status
            }
        }
    }
    fn on_panic(message: &str) -> br_status {
        set_last_error(&panic_error(message).message);
        br_status::Panic
    }
}

impl PanicOrDefault for *const c_char {
    type Output = *const c_char;
    fn finish(self) -> *const c_char {
        self
    }
    fn on_panic(_: &str) -> *const c_char {
        std::ptr::null()
    }
}

impl PanicOrDefault for () {
    type Output = ();
    fn finish(self) {}
    fn on_panic(_: &str) {}
}

/// What the macro expands to: run `body`, catching any panic.
pub fn boundary<T: PanicOrDefault>(body: impl FnOnce() -> T) -> T::Output {
    // An `environment` given in this call's options lasts for this call only
    // (see `ptr::parse_json`).
    crate::environment::with_explicit(None, || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(value) => value.finish(),
        Err(payload) => T::on_panic(&panic_message(payload.as_ref())),
    })
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// The error a caught panic becomes (on the calling thread or a worker).
pub fn panic_error(message: &str) -> FfiError {
    FfiError::new(br_status::Panic, format!("internal error (panic): {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::last_error;

    fn status_body(panic: bool) -> br_status {
        ffi_panic_boundary! {
            if panic {
                panic!("boom {}", 42);
            }
            Ok(())
        }
    }

    fn failing_body() -> br_status {
        ffi_panic_boundary! {
            Err(FfiError::new(br_status::NotFound, "no such thing"))
        }
    }

    fn pointer_body() -> *const c_char {
        ffi_panic_boundary! {
            if true {
                todo!("engine stub");
            }
            c"x".as_ptr()
        }
    }

    #[test]
    fn panic_becomes_panic_status_with_message() {
        assert_eq!(status_body(true), br_status::Panic);
        assert_eq!(last_error(), "internal error (panic): boom 42");
    }

    #[test]
    fn success_clears_and_failure_sets_last_error() {
        assert_eq!(failing_body(), br_status::NotFound);
        assert_eq!(last_error(), "no such thing");
        assert_eq!(status_body(false), br_status::Ok);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn pointer_functions_return_null_on_panic() {
        assert!(pointer_body().is_null());
    }

    #[test]
    fn engine_stub_panics_are_caught() {
        // todo!() in an engine stub is exactly a panic with a &str/String payload.
        let r = std::panic::catch_unwind(|| -> () { todo!("select: walk") });
        assert_eq!(panic_message(r.unwrap_err().as_ref()), "not yet implemented: select: walk");
    }
}
