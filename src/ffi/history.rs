//! Backups that exist and retention on demand: `br_history_list`,
//! `br_history_summary`, `br_retention_plan`, `br_retention_apply`.

use std::ffi::c_char;

use super::status::br_status;
use crate::history::{self, HistoryOptions};
use crate::prune::{self, RetentionOptions};

/// List every BackupRepo backup in the destinations, reading only names,
/// central directories and manifests (never whole archives).
///
/// `options_json`: NULL or `{"destinations": [...], "repo": "name",
/// "metrics_log_dir": "...", "now": "..."}`, every key optional
/// (no destinations: the config file's, else the platform defaults; no repo:
/// every repository folder found). Unknown keys: `BR_STATUS_INVALID_JSON`.
///
/// On success `*result_json` receives a new JSON array of HistoryEntry
/// (`repository, destination, destination_path, path, created, bytes,
/// file_count, total_bytes, fingerprint, tool_version`), sorted by
/// repository then `created`, owned by the caller and released with
/// `br_string_free`. On failure it is left untouched and `br_last_error()`
/// says why.
#[no_mangle]
pub extern "C" fn br_history_list(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: HistoryOptions = try_json_or_default!(options_json);
        let out = try_out!(result_json);
        out.set_json(&history::list(&options)?)
    }
}

/// Per (destination, repository) statistics: count, oldest, newest, total
/// and average size, compression ratio, frequency, duplicate statistics
/// from the metrics log (`null` when there is no log), and the newest
/// backup's file-type breakdown.
///
/// `options_json`: as `br_history_list`; `"now"` (local time,
/// `"2026-01-31T12:00:00"`) fixes the clock for the recent counts.
///
/// On success `*result_json` receives a new JSON array of
/// DestinationSummary, owned by the caller and released with
/// `br_string_free`. On failure it is left untouched and `br_last_error()`
/// says why.
#[no_mangle]
pub extern "C" fn br_history_summary(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: HistoryOptions = try_json_or_default!(options_json);
        let out = try_out!(result_json);
        out.set_json(&history::summary(&options, history::now_or(options.now))?)
    }
}

/// Plan retention without deleting anything (what `-WhatIf` shows).
///
/// `options_json`: `{"destinations": [...], "repo": "name", "policy":
/// {"keep_last": 3, "keep_within": "30d", "keep_daily": 7, "keep_weekly": 4,
/// "keep_monthly": 6}, "now": "..."}`, every key optional. Only BackupRepo
/// backups are ever candidates.
///
/// On success `*result_json` receives a new JSON array of
/// `{"destination", "destination_name", "repository", "decisions":
/// [{"id", "created", "keep", "reasons"}]}` (decisions newest first; `id` is
/// the archive path), owned by the caller and released with
/// `br_string_free`. On failure it is left untouched and `br_last_error()`
/// says why.
#[no_mangle]
pub extern "C" fn br_retention_plan(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: RetentionOptions = try_json!(options_json);
        let out = try_out!(result_json);
        out.set_json(&prune::plan_retention(&options)?)
    }
}

/// Apply retention: plan as `br_retention_plan`, then delete the backups
/// with `"keep": false` (only BackupRepo backups; the newest is always
/// kept). An empty policy is `BR_STATUS_INVALID_ARGUMENT`. A file that
/// cannot be deleted is listed in its report's `errors`; the call still
/// succeeds.
///
/// On success `*result_json` receives a new JSON array of RetentionReport
/// `{"destination", "decisions", "deleted": [paths], "errors": [messages]}`,
/// owned by the caller and released with `br_string_free`. On failure it is
/// left untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_retention_apply(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: RetentionOptions = try_json!(options_json);
        let out = try_out!(result_json);
        out.set_json(&prune::apply_retention(&options)?)
    }
}
