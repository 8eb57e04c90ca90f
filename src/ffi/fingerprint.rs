//! `br_fingerprint`: the source's tree fingerprint, as a backup would compute it.

use std::ffi::{c_char, c_void};

use super::progress::{br_progress_fn, run_with_progress, Reporter};
use super::status::br_status;
use crate::backup::BackupOptions;

/// Select and hash the files of `options_json.source` and compute its tree
/// fingerprint, using (and updating) the stat cache under `cache_dir`
/// (default: the platform cache folder); with `dry_run` the cache is read
/// but never written.
///
/// `options_json`: a BackupOptions JSON object (as `br_select`, plus
/// `cache_dir`, `dry_run`). `progress`/`userdata`: optional callback (NULL
/// allowed), called on this thread only; non-zero cancels
/// (`BR_STATUS_CANCELLED`).
///
/// On success `*result_json` receives a new JSON object
/// `{"fingerprint", "file_count", "total_bytes", "files_read", "files_cached"}`,
/// owned by the caller and released with `br_string_free`. On failure it is
/// left untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_fingerprint(
    options_json: *const c_char,
    progress: br_progress_fn,
    userdata: *mut c_void,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let options: BackupOptions = try_json!(options_json);
        let out = try_out!(result_json);
        let report = run_with_progress(&Reporter::new(progress, userdata), |control| {
            crate::source_fingerprint::fingerprint_source(&options, control)
        })?;
        out.set_json(&report)
    }
}
