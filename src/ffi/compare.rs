//! `br_compare`: what changed between two backups, or a backup and its source.

use std::ffi::c_char;

use super::status::br_status;
use crate::compare::CompareOptions;
use crate::progress::Control;

/// Compare two backups (`{"old": path, "new": path}`, from their manifests
/// alone) or a backup with its source folder (`{"archive": path, "source":
/// path}` plus the selection keys `include_build`, `exclude`, `include`,
/// `respect_gitignore` and `cache_dir`; the source is hashed using the stat
/// cache). Any other combination is `BR_STATUS_INVALID_ARGUMENT`.
///
/// On success `*result_json` receives a new JSON object `{"old", "new",
/// "changes": [{"path", "change": "added"|"removed"|"modified", "old_size",
/// "new_size"}], "added", "removed", "modified", "unchanged"}`, owned by
/// the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_compare(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: CompareOptions = try_json!(options_json);
        let out = try_out!(result_json);
        out.set_json(&crate::compare::compare(&options, &Control::default())?)
    }
}
