//! `br_status`: what every status-returning `br_*` function returns.
//! The numbers are part of the ABI and fixed forever: never renumber, never
//! reuse a retired number (keep it here as a comment instead).

use std::ffi::c_char;

use crate::ErrorKind;

/// The outcome of a `br_*` call. `BR_STATUS_OK` (0) is success; any other
/// value is a failure whose message is in `br_last_error()`.
///
/// Numbers 1-4 are argument errors found by the C ABI itself, 5-99 map the
/// engine's error kinds, 100 is a Rust panic caught at the boundary.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum br_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 2,
    /// An options argument is not valid JSON, has a wrong type, or has an
    /// unknown key.
    InvalidJson = 3,
    /// An option or argument is well-formed but not acceptable.
    InvalidArgument = 4,
    /// The source folder is not a repository (no .git, pyproject.toml or package.json).
    NotARepository = 5,
    /// A path does not exist.
    NotFound = 6,
    /// Any other I/O failure.
    Io = 7,
    /// No space left on a destination.
    NoSpace = 8,
    /// The progress callback returned non-zero (or the operation was cancelled otherwise).
    Cancelled = 9,
    /// An archive is damaged, not a BackupRepo archive, or unsafe.
    BadArchive = 10,
    /// Another run holds the lock on this repository.
    Busy = 11,
    /// A bug: the library panicked. The call was abandoned safely; the
    /// message is in `br_last_error()`.
    Panic = 100,
}

/// Every status, in numeric order (for tests and `br_status_name`).
// Private, so cbindgen does not export it.
const ALL: [br_status; 13] = [
    br_status::Ok,
    br_status::NullArgument,
    br_status::InvalidUtf8,
    br_status::InvalidJson,
    br_status::InvalidArgument,
    br_status::NotARepository,
    br_status::NotFound,
    br_status::Io,
    br_status::NoSpace,
    br_status::Cancelled,
    br_status::BadArchive,
    br_status::Busy,
    br_status::Panic,
];

impl br_status {
    /// The constant's name as the header spells it, NUL-terminated.
    const fn c_name(self) -> &'static std::ffi::CStr {
        match self {
            br_status::Ok => c"BR_STATUS_OK",
            br_status::NullArgument => c"BR_STATUS_NULL_ARGUMENT",
            br_status::InvalidUtf8 => c"BR_STATUS_INVALID_UTF8",
            br_status::InvalidJson => c"BR_STATUS_INVALID_JSON",
            br_status::InvalidArgument => c"BR_STATUS_INVALID_ARGUMENT",
            br_status::NotARepository => c"BR_STATUS_NOT_A_REPOSITORY",
            br_status::NotFound => c"BR_STATUS_NOT_FOUND",
            br_status::Io => c"BR_STATUS_IO",
            br_status::NoSpace => c"BR_STATUS_NO_SPACE",
            br_status::Cancelled => c"BR_STATUS_CANCELLED",
            br_status::BadArchive => c"BR_STATUS_BAD_ARCHIVE",
            br_status::Busy => c"BR_STATUS_BUSY",
            br_status::Panic => c"BR_STATUS_PANIC",
        }
    }

    /// The status with this number, if any (C may pass any integer).
    pub fn from_u32(n: u32) -> Option<br_status> {
        ALL.into_iter().find(|s| *s as u32 == n)
    }
}

impl From<ErrorKind> for br_status {
    fn from(kind: ErrorKind) -> br_status {
        match kind {
            ErrorKind::InvalidArgument => br_status::InvalidArgument,
            ErrorKind::NotARepository => br_status::NotARepository,
            ErrorKind::NotFound => br_status::NotFound,
            ErrorKind::Io => br_status::Io,
            ErrorKind::NoSpace => br_status::NoSpace,
            ErrorKind::Cancelled => br_status::Cancelled,
            ErrorKind::BadArchive => br_status::BadArchive,
            ErrorKind::Busy => br_status::Busy,
            ErrorKind::SourceChanged => br_status::Io,
        }
    }
}

/// The name of a status as a static string, e.g. `"BR_STATUS_NO_SPACE"`;
/// `"BR_STATUS_UNKNOWN"` for a number that is not a `br_status`.
///
/// Takes the number as `uint32_t` so that any integer is safe to pass.
/// The returned string is static: never free it. Does not touch the last error.
#[no_mangle]
pub extern "C" fn br_status_name(status: u32) -> *const c_char {
    ffi_panic_boundary! {
        match br_status::from_u32(status) {
            Some(s) => s.c_name().as_ptr(),
            None => c"BR_STATUS_UNKNOWN".as_ptr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn name(n: u32) -> &'static str {
        unsafe { CStr::from_ptr(br_status_name(n)) }.to_str().unwrap()
    }

    #[test]
    fn numbers_are_fixed() {
        let expected = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100];
        let got: Vec<u32> = ALL.iter().map(|s| *s as u32).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn names_match_the_header_spelling() {
        assert_eq!(name(0), "BR_STATUS_OK");
        assert_eq!(name(8), "BR_STATUS_NO_SPACE");
        assert_eq!(name(100), "BR_STATUS_PANIC");
        assert_eq!(name(12), "BR_STATUS_UNKNOWN");
        assert_eq!(name(u32::MAX), "BR_STATUS_UNKNOWN");
        for s in ALL {
            assert!(name(s as u32).starts_with("BR_STATUS_"));
        }
    }

    #[test]
    fn error_kinds_map_to_their_status() {
        assert_eq!(br_status::from(ErrorKind::NoSpace), br_status::NoSpace);
        assert_eq!(br_status::from(ErrorKind::Cancelled), br_status::Cancelled);
        assert_eq!(br_status::from(ErrorKind::NotARepository), br_status::NotARepository);
    }
}
