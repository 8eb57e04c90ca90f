//! `br_backup`: one backup run.

use std::ffi::{c_char, c_void};

use super::progress::{br_progress_fn, run_with_progress, Reporter};
use super::status::br_status;
use crate::backup::BackupOptions;

/// Run (or with `"dry_run": true`, plan) one backup of `options_json.source`
/// to every destination.
///
/// `options_json`: a BackupOptions JSON object; `source` is required.
/// Unknown keys: `BR_STATUS_INVALID_JSON`. `progress`/`userdata`: optional
/// callback (NULL allowed), called on this thread only; non-zero cancels.
/// Before the archives are placed (every copy is written and flushed, then
/// all are renamed or none), partial files are removed and the call returns
/// `BR_STATUS_CANCELLED`. Later it is too late to undo the backups: the call
/// returns `BR_STATUS_OK` with the backups made; a cancel during
/// verification or retention stops that step, and a `warnings` entry says
/// what was left undone.
///
/// A run where some destinations fail still returns `BR_STATUS_OK`: the
/// report's `status` ("created", "skipped", "partial", "failed", "planned")
/// and each destination's entry say what happened.
///
/// On success `*result_json` receives a new BackupReport JSON object, owned
/// by the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_backup(
    options_json: *const c_char,
    progress: br_progress_fn,
    userdata: *mut c_void,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let options: BackupOptions = try_json!(options_json);
        let out = try_out!(result_json);
        let report = run_with_progress(&Reporter::new(progress, userdata), |control| {
            crate::backup::run(&options, control)
        })?;
        out.set_json(&report)
    }
}

/// Whether a folder is a repository root (it holds `.git`, `pyproject.toml`
/// or `package.json`), or with `find_root` which repository it is in: the
/// one rule every front end asks. `options_json` is `{"path": "...",
/// "find_root": false}`.
///
/// On success `*result_json` receives a new JSON object `{"root", "name"}`,
/// owned by the caller and released with `br_string_free`. A folder that is
/// no repository is `BR_STATUS_NOT_A_REPOSITORY`, with the reason in
/// `br_last_error()`.
#[no_mangle]
pub extern "C" fn br_repository_root(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let query: crate::backup::RootQuery = try_json!(options_json);
        let out = try_out!(result_json);
        out.set_json(&crate::backup::repository_root(&query)?)
    }
}
