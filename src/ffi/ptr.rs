//! Argument conversion: NULL checks, C string -> `&str`, options JSON ->
//! serde type, result -> library-allocated JSON string. Each helper names the
//! argument at fault in its error, and each macro is one line at the call
//! site (after rustls-ffi's `try_ref_from_ptr!` family): it returns the
//! error from the enclosing status-returning body.

use std::ffi::{c_char, CStr, CString};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::FfiError;
use super::status::br_status;

/// `&str` from a required C string argument, or `?`-return
/// NULL_ARGUMENT / INVALID_UTF8 naming the argument.
macro_rules! try_str {
    ($arg:ident) => {
        unsafe { $crate::ffi::ptr::str_arg($arg, stringify!($arg)) }?
    };
}

/// A serde value from a required JSON argument, or `?`-return
/// NULL_ARGUMENT / INVALID_UTF8 / INVALID_JSON naming the argument.
macro_rules! try_json {
    ($arg:ident) => {
        unsafe { $crate::ffi::ptr::json_arg($arg, stringify!($arg)) }?
    };
}

/// Like `try_json!`, but a NULL argument gives the type's default.
macro_rules! try_json_or_default {
    ($arg:ident) => {
        unsafe { $crate::ffi::ptr::json_arg_or_default($arg, stringify!($arg)) }?
    };
}

/// An [`OutString`] from a required `char **` out-pointer, or `?`-return NULL_ARGUMENT.
macro_rules! try_out {
    ($arg:ident) => {
        $crate::ffi::ptr::OutString::new($arg, stringify!($arg))?
    };
}

/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|e| FfiError::new(br_status::InvalidUtf8, format!("{name} is not valid UTF-8: {e}")))
}

/// # Safety
/// As [`str_arg`].
pub unsafe fn json_arg<T: DeserializeOwned>(p: *const c_char, name: &str) -> Result<T, FfiError> {
    let text = unsafe { str_arg(p, name) }?;
    parse_json(text, name)
}

/// # Safety
/// As [`str_arg`].
pub unsafe fn json_arg_or_default<T: DeserializeOwned + Default>(p: *const c_char, name: &str) -> Result<T, FfiError> {
    if p.is_null() {
        return Ok(T::default());
    }
    unsafe { json_arg(p, name) }
}

/// Parse options. serde's message says what is wrong and where (line,
/// column); an unknown key is an error because every option struct denies
/// unknown fields. Any options object may carry `"environment": {"NAME":
/// "value", ...}`: the variables the caller sees, which the engine then
/// reads for the rest of this call instead of the process environment (see
/// [`crate::environment`]).
pub fn parse_json<T: DeserializeOwned>(text: &str, name: &str) -> Result<T, FfiError> {
    let invalid = |e: serde_json::Error| FfiError::new(br_status::InvalidJson, format!("{name}: {e}"));
    if !text.contains("\"environment\"") {
        return serde_json::from_str(text).map_err(invalid);
    }
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
    if let Some(vars) = value.as_object_mut().and_then(|o| o.remove("environment")) {
        let vars: std::collections::BTreeMap<String, String> = serde_json::from_value(vars).map_err(|e| {
            FfiError::new(br_status::InvalidJson, format!("{name}: environment: {e} (expected names and text values)"))
        })?;
        crate::environment::set_explicit(Some(vars));
    }
    serde_json::from_value(value).map_err(invalid)
}

pub fn null_argument(name: &str) -> FfiError {
    FfiError::new(br_status::NullArgument, format!("{name} is NULL"))
}

/// A checked `char **` out-parameter. It is written once, by [`OutString::set_json`],
/// and only when the whole call succeeds.
pub struct OutString {
    ptr: *mut *mut c_char,
}

impl OutString {
    pub fn new(ptr: *mut *mut c_char, name: &str) -> Result<OutString, FfiError> {
        if ptr.is_null() {
            Err(null_argument(name))
        } else {
            Ok(OutString { ptr })
        }
    }

    /// Serialize `value` and hand the caller a new string (freed with
    /// `br_string_free`). Nothing is written if encoding fails.
    pub fn set_json<T: Serialize + ?Sized>(self, value: &T) -> Result<(), FfiError> {
        let text = serde_json::to_string(value)
            .map_err(|e| FfiError::new(br_status::InvalidArgument, format!("cannot encode the result as JSON: {e}")))?;
        self.set_string(text)
    }

    pub fn set_string(self, text: String) -> Result<(), FfiError> {
        let c =
            CString::new(text).map_err(|_| FfiError::new(br_status::InvalidArgument, "the result holds a NUL byte"))?;
        // SAFETY: non-null (checked in `new`); the caller's contract is that
        // it points to writable storage for one `char *`.
        unsafe { self.ptr.write(c.into_raw()) };
        Ok(())
    }
}

/// Ties an opaque C type to the Rust value behind its pointers (after
/// rustls-ffi's `Castable`), so handle casts live here and never as a bare
/// `as` at a call site. Every implementor is a boxed, owned handle: made by
/// [`set_boxed_mut_ptr`], borrowed with [`try_ref_from_ptr`], released by
/// [`free_box`].
pub trait Castable {
    type RustType;
}

/// Box `value` and write the pointer to `*out` (an out-parameter already
/// checked non-NULL by [`check_out_ptr`]).
pub fn set_boxed_mut_ptr<C: Castable>(out: *mut *mut C, value: C::RustType) {
    let p = Box::into_raw(Box::new(value)) as *mut C;
    // SAFETY: non-null by the caller's check; points to storage for one pointer.
    unsafe { out.write(p) };
}

/// A non-NULL `C **` out-parameter, or NULL_ARGUMENT naming it.
pub fn check_out_ptr<C>(out: *mut *mut C, name: &str) -> Result<*mut *mut C, FfiError> {
    if out.is_null() {
        Err(null_argument(name))
    } else {
        Ok(out)
    }
}

/// # Safety
/// `p` is NULL or came from [`set_boxed_mut_ptr`] for `C` and was not freed.
pub unsafe fn try_ref_from_ptr<'a, C: Castable>(p: *const C, name: &str) -> Result<&'a C::RustType, FfiError> {
    // SAFETY: by contract a live box of `C::RustType`.
    unsafe { (p as *const C::RustType).as_ref() }.ok_or_else(|| null_argument(name))
}

/// Drop the value behind a handle; NULL is ignored.
///
/// # Safety
/// As [`try_ref_from_ptr`]; `p` is not used afterwards.
pub unsafe fn free_box<C: Castable>(p: *mut C) {
    if !p.is_null() {
        // SAFETY: by contract it came from `Box::into_raw` of `C::RustType`.
        drop(unsafe { Box::from_raw(p as *mut C::RustType) });
    }
}

/// Free a string the library returned through an out-pointer. NULL is
/// accepted and ignored. Never free a string from `br_version`,
/// `br_status_name` or `br_last_error`, and never free one twice.
#[no_mangle]
pub extern "C" fn br_string_free(s: *mut c_char) {
    ffi_panic_boundary! {
        if !s.is_null() {
            // SAFETY: by contract `s` came from `CString::into_raw` in this library.
            drop(unsafe { CString::from_raw(s) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Opts {
        source: String,
        force: bool,
    }

    fn status_of<T>(r: Result<T, FfiError>) -> (br_status, String) {
        let e = r.err().expect("expected an error");
        (e.status, e.message)
    }

    #[test]
    fn null_is_null_argument_and_names_it() {
        let r = unsafe { str_arg(ptr::null(), "options_json") };
        assert_eq!(status_of(r), (br_status::NullArgument, "options_json is NULL".into()));
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let bad = c"{\"source\":\"\xff\xfe\"}";
        let (status, msg) = status_of(unsafe { str_arg(bad.as_ptr(), "archive_path") });
        assert_eq!(status, br_status::InvalidUtf8);
        assert!(msg.starts_with("archive_path is not valid UTF-8"), "{msg}");
    }

    #[test]
    fn json_parses_and_errors_name_the_argument() {
        let ok: Opts = unsafe { json_arg(c"{\"source\":\"/r\",\"force\":true}".as_ptr(), "o") }.unwrap();
        assert_eq!(ok, Opts { source: "/r".into(), force: true });

        let (status, msg) = status_of(unsafe { json_arg::<Opts>(c"{not json".as_ptr(), "options_json") });
        assert_eq!(status, br_status::InvalidJson);
        assert!(msg.starts_with("options_json: "), "{msg}");

        let (status, msg) = status_of(unsafe { json_arg::<Opts>(c"{\"sorce\":\"/r\"}".as_ptr(), "options_json") });
        assert_eq!(status, br_status::InvalidJson);
        assert!(msg.contains("unknown field `sorce`"), "{msg}");

        let (status, _) = status_of(unsafe { json_arg::<Opts>(c"{\"force\":\"yes\"}".as_ptr(), "o") });
        assert_eq!(status, br_status::InvalidJson);
    }

    #[test]
    fn null_optional_json_is_default() {
        let d: Opts = unsafe { json_arg_or_default(ptr::null(), "o") }.unwrap();
        assert_eq!(d, Opts::default());
    }

    #[test]
    fn out_string_round_trips_through_br_string_free() {
        assert_eq!(status_of(OutString::new(ptr::null_mut(), "result_json")).0, br_status::NullArgument);
        let mut out: *mut c_char = ptr::null_mut();
        OutString::new(&mut out, "r").unwrap().set_json(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(unsafe { CStr::from_ptr(out) }.to_str().unwrap(), r#"{"a":1}"#);
        br_string_free(out);
        br_string_free(ptr::null_mut());
    }
}
