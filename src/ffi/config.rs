//! Defaults for front ends: `br_default_destinations`, `br_config_path`.

use std::ffi::c_char;

use super::status::br_status;

/// The destinations a backup without explicit ones would use: the config
/// file's, else `BACKUP_REPO_DESTINATIONS`, else the platform defaults.
///
/// On success `*result_json` receives a new JSON array of `{"name", "path"}`
/// (may be empty), owned by the caller and released with `br_string_free`.
/// A malformed config file is `BR_STATUS_INVALID_ARGUMENT`; then
/// `*result_json` is left untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_default_destinations(result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let out = try_out!(result_json);
        out.set_json(&crate::config::named_destinations()?)
    }
}

/// Where the library looks for things: `{"config_path", "config_exists",
/// "cache_dir", "metrics_dir"}` (paths may be `null` where the platform has
/// none). `config_path` honours `BACKUP_REPO_CONFIG`.
///
/// On success `*result_json` receives a new JSON object, owned by the caller
/// and released with `br_string_free`.
#[no_mangle]
pub extern "C" fn br_config_path(result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let out = try_out!(result_json);
        out.set_json(&crate::config::locations())
    }
}
