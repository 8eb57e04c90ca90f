//! Webhooks: `br_notify_payloads` (which messages, what they say), and
//! `br_redact`, the one redaction rule for URLs in anything shown. Delivery
//! is the caller's (the module's HttpClient).

use std::ffi::c_char;

use super::status::br_status;
use crate::backup::BackupReport;
use crate::notify::NotifyOptions;

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

/// The one redaction rule for anything shown to a user or written to a log
/// (webhook and Pushgateway URLs can be credentials).
///
/// With `text` NULL: `url` for display, keeping only the scheme, the host and
/// port and well-known path segments (`https://hooks.slack.com/services/…`);
/// user info, path tokens and the query are dropped; an unparseable URL is
/// `(invalid URL)`. With `text`: the text (a server's reason phrase, an error
/// message) with every occurrence of `url` and of its secret parts replaced,
/// and every other `scheme://...` in it redacted the same way; `url` may then
/// be NULL.
///
/// On success `*result_text` receives a new string (text, not JSON), owned
/// by the caller and released with `br_string_free`.
#[no_mangle]
pub extern "C" fn br_redact(url: *const c_char, text: *const c_char, result_text: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let out = try_out!(result_text);
        if text.is_null() {
            let url = try_str!(url);
            out.set_string(crate::notify::redact_url(url))
        } else {
            let url = if url.is_null() { None } else { Some(try_str!(url)) };
            let text = try_str!(text);
            out.set_string(crate::notify::redact_text(text, url))
        }
    }
}
