//! Webhooks: `br_notify_payloads` (which messages, what they say) and
//! `br_notify_send` (plain-http delivery with the retry policy).

use std::ffi::c_char;
use std::time::Duration;

use super::status::br_status;
use crate::backup::BackupReport;
use crate::notify::{NotifyOptions, SendResult};

/// The messages a run produces for each webhook URL.
///
/// `report_json`: a BackupReport as `br_backup` returned it. `options_json`:
/// `{"urls": [...], "format": null | "slack" | "teams" | "discord" | "json"}`
/// (null: from each URL's host). An unknown format or a URL that is not
/// absolute is `BR_STATUS_INVALID_ARGUMENT` (the message never holds a URL).
///
/// On success `*result_json` receives a new JSON array of `{"url_index",
/// "display_url", "format", "event", "body"}`: `url_index` points into
/// `urls`, `display_url` is redacted (no secrets), `body` is the JSON text
/// to POST. Owned by the caller, released with `br_string_free`.
#[no_mangle]
pub extern "C" fn br_notify_payloads(
    report_json: *const c_char,
    options_json: *const c_char,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let report: BackupReport = try_json!(report_json);
        let options: NotifyOptions = try_json!(options_json);
        let out = try_out!(result_json);
        out.set_json(&crate::notify::notifications_for(&report, &options)?)
    }
}

/// POST `body_json` to a plain `http://` webhook `url`, waiting at most
/// `timeout_ms` per attempt (0: the default, 5 s) and retrying up to
/// `retries` times with backoff on connection errors, timeouts, 5xx, 408
/// and 429. An `https://` URL is `BR_STATUS_INVALID_ARGUMENT` (the module
/// sends those with HttpClient, same policy). Errors show the URL redacted.
///
/// On success `*result_json` receives a new JSON object `{"status",
/// "attempts", "elapsed_seconds"}`, owned by the caller and released with
/// `br_string_free`. On failure it is left untouched.
#[no_mangle]
pub extern "C" fn br_notify_send(
    url: *const c_char,
    body_json: *const c_char,
    timeout_ms: u32,
    retries: u32,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let url = try_str!(url);
        let body = try_str!(body_json);
        let out = try_out!(result_json);
        let sent = crate::notify::send_http(url, body, Duration::from_millis(timeout_ms.into()), retries)?;
        out.set_json(&SendResult::from(sent))
    }
}
