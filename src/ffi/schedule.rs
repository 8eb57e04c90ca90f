//! Scheduling: `br_schedule_export`, `br_schedule_write_units`.

use std::ffi::c_char;
use std::path::Path;

use super::status::br_status;
use crate::schedule::ScheduleSpec;

/// Build every schedule definition for `spec_json` (a ScheduleSpec:
/// `{"name", "trigger": {"kind": "daily", "at": "02:30"} | {"kind":
/// "hourly"} | {"kind": "at_logon"}, "pwsh", "arguments": [...],
/// "working_dir", "user"?}`). An invalid spec is
/// `BR_STATUS_INVALID_ARGUMENT`.
///
/// On success `*result_json` receives a new JSON object `{"task_xml",
/// "windows_arguments", "cron_line", "service_file_name", "service",
/// "timer_file_name", "timer"}`, owned by the caller and released with
/// `br_string_free`. On failure it is left untouched.
#[no_mangle]
pub extern "C" fn br_schedule_export(spec_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let spec: ScheduleSpec = try_json!(spec_json);
        let out = try_out!(result_json);
        out.set_json(&crate::schedule::export(&spec.named())?)
    }
}

/// Write `<name>.service` and `<name>.timer` into `folder` (created when
/// missing), atomically. A file not written by BackupRepo is replaced only
/// when `overwrite` is true; otherwise nothing is written and the call
/// fails with `BR_STATUS_IO` naming it.
///
/// On success `*result_json` receives a new JSON array of the two paths
/// written, owned by the caller and released with `br_string_free`. On
/// failure it is left untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_schedule_write_units(
    spec_json: *const c_char,
    folder: *const c_char,
    overwrite: bool,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let spec: ScheduleSpec = try_json!(spec_json);
        let folder = Path::new(try_str!(folder));
        let out = try_out!(result_json);
        out.set_json(&crate::schedule::write_units(&spec.named(), folder, overwrite)?)
    }
}
