//! Reading existing archives: `br_verify`, `br_restore`, `br_manifest_read`.

use std::ffi::{c_char, c_void};
use std::path::Path;

use super::progress::{br_progress_fn, run_with_progress, Reporter};
use super::status::br_status;
use crate::archive::{RestoreOptions, VerifyOptions};

/// Verify an archive: every entry's CRC and the manifest's BLAKE3 hashes
/// (and, with `"source"`, a comparison with that folder). Never modifies it.
///
/// `archive_path`: the ZIP file. `options_json`: a VerifyOptions JSON object
/// or NULL for the defaults. `progress`/`userdata`: optional callback (NULL
/// allowed), called on this thread only; non-zero cancels.
///
/// A damaged archive is a successful call whose report has `"ok": false`.
/// On success `*result_json` receives a new VerifyReport JSON object, owned
/// by the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_verify(
    archive_path: *const c_char,
    options_json: *const c_char,
    progress: br_progress_fn,
    userdata: *mut c_void,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let archive = Path::new(try_str!(archive_path));
        let options: VerifyOptions = try_json_or_default!(options_json);
        let out = try_out!(result_json);
        let report = run_with_progress(&Reporter::new(progress, userdata), |control| {
            crate::archive::verify(archive, &options, control)
        })?;
        out.set_json(&report)
    }
}

/// Extract an archive into `target_dir` (new or empty unless `"overwrite"`),
/// checking BLAKE3 as it goes. Never writes outside `target_dir`: unsafe
/// entries are refused and listed in the report.
///
/// `archive_path`: the ZIP file. `target_dir`: the folder to extract into.
/// `options_json`: a RestoreOptions JSON object or NULL for the defaults.
/// `progress`/`userdata`: optional callback (NULL allowed), called on this
/// thread only; non-zero cancels.
///
/// On success `*result_json` receives a new RestoreReport JSON object, owned
/// by the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_restore(
    archive_path: *const c_char,
    target_dir: *const c_char,
    options_json: *const c_char,
    progress: br_progress_fn,
    userdata: *mut c_void,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let archive = Path::new(try_str!(archive_path));
        let target = Path::new(try_str!(target_dir));
        let options: RestoreOptions = try_json_or_default!(options_json);
        let out = try_out!(result_json);
        let report = run_with_progress(&Reporter::new(progress, userdata), |control| {
            crate::archive::restore(archive, target, &options, control)
        })?;
        out.set_json(&report)
    }
}

/// Read the manifest of a BackupRepo archive (tool version, repo,
/// fingerprint, per-file BLAKE3 and size) without extracting anything.
/// A file that is not a ZIP or holds no manifest gives `BR_STATUS_BAD_ARCHIVE`.
///
/// On success `*result_json` receives a new Manifest JSON object, owned by
/// the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_manifest_read(archive_path: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let archive = Path::new(try_str!(archive_path));
        let out = try_out!(result_json);
        let manifest = crate::archive::read_manifest(archive)?;
        out.set_json(&manifest)
    }
}
