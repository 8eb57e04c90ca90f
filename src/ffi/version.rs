//! The library's version at run time (the header has it at compile time as
//! `BR_VERSION_*`; both come from Cargo.toml).

use std::ffi::{c_char, CStr};

const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("the package version holds a NUL byte"),
};

/// The library's version, e.g. `"0.1.0"`: compare with `BR_VERSION_STRING`
/// to detect a header/library mismatch. Static: never free it.
/// Does not touch the last error.
#[no_mangle]
pub extern "C" fn br_version() -> *const c_char {
    ffi_panic_boundary! {
        VERSION.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_cargo_version() {
        let v = unsafe { std::ffi::CStr::from_ptr(super::br_version()) };
        assert_eq!(v.to_str().unwrap(), crate::VERSION);
    }
}
