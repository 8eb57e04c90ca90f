//! The config file and defaults for front ends: `br_config_read` (every
//! rule about them, resolved by the engine), `br_default_destinations`,
//! `br_config_path`.

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

/// Read the config file and resolve what depends on it, by the engine's
/// rules: `options_json` is `{"config_path": "..."}` (optional; NULL or `{}`:
/// the file `BACKUP_REPO_CONFIG` names, else the platform's) and may carry
/// `"environment"`.
///
/// On success `*result_json` receives a new JSON object `{"path", "exists",
/// "config", "destinations", "cache_dir", "metrics_dir"}`, owned by the
/// caller and released with `br_string_free`. A malformed config file is
/// `BR_STATUS_INVALID_ARGUMENT`, with the file, line and key in
/// `br_last_error()`.
#[no_mangle]
pub extern "C" fn br_config_read(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let query: crate::config::ConfigQuery = try_json_or_default!(options_json);
        let out = try_out!(result_json);
        out.set_json(&crate::config::read_config(&query)?)
    }
}
