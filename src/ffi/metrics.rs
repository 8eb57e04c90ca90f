//! Prometheus: `br_metrics_render`, `br_metrics_write_textfile`,
//! `br_metrics_push_payloads` (what a Pushgateway push sends; the caller
//! sends it), and the `/metrics` exporter handle (`br_exporter_*`).

use std::ffi::c_char;
use std::path::Path;

use super::ptr::{check_out_ptr, free_box, set_boxed_mut_ptr, try_ref_from_ptr, Castable};
use super::status::br_status;
use crate::metrics::Exporter;

/// A running `/metrics` endpoint (opaque). Made by `br_exporter_start`,
/// released (and stopped) by `br_exporter_free`.
#[allow(non_camel_case_types)]
pub struct br_exporter {
    _private: [u8; 0],
}

impl Castable for br_exporter {
    type RustType = Exporter;
}

/// Prometheus text of every `backup-*.jsonl` in `log_dir` (a missing folder
/// gives the metrics of no runs).
///
/// On success `*result_text` receives a new string (text, not JSON), owned
/// by the caller and released with `br_string_free`. On failure it is left
/// untouched and `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_metrics_render(log_dir: *const c_char, result_text: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let dir = Path::new(try_str!(log_dir));
        let out = try_out!(result_text);
        out.set_string(crate::metrics::render_log_dir(dir, jiff::Timestamp::now())?)
    }
}

/// Write the Prometheus text of `log_dir`'s logs to `path` atomically (for
/// node_exporter's textfile collector; the folder is created).
#[no_mangle]
pub extern "C" fn br_metrics_write_textfile(log_dir: *const c_char, path: *const c_char) -> br_status {
    ffi_panic_boundary! {
        let dir = Path::new(try_str!(log_dir));
        let path = Path::new(try_str!(path));
        Ok(crate::metrics::refresh_textfile(dir, path)?)
    }
}

/// What a Pushgateway push sends for one log file, or for every log in a
/// folder: one request per repository under `job` (NULL: `"backup_repo"`,
/// the job a backup run pushes to). A missing path is `BR_STATUS_NOT_FOUND`.
///
/// On success `*result_json` receives a new JSON array of `{"repo", "path",
/// "content_type", "body"}`: PUT `body` with `content_type` to the
/// Pushgateway's base URL (without a trailing `/`) + `path`
/// (`/metrics/job/<job>/repo/<repo>`, base64 where the name needs it), which
/// replaces that repository's group. Owned by the caller, released with
/// `br_string_free`. Empty logs give no entry.
#[no_mangle]
pub extern "C" fn br_metrics_push_payloads(
    log_path_or_dir: *const c_char,
    job: *const c_char,
    result_json: *mut *mut c_char,
) -> br_status {
    ffi_panic_boundary! {
        let path = Path::new(try_str!(log_path_or_dir));
        let job = if job.is_null() { "backup_repo" } else { try_str!(job) };
        let out = try_out!(result_json);
        out.set_json(&crate::metrics::push_payloads(path, job, jiff::Timestamp::now())?)
    }
}

/// Serve `GET /metrics` for the logs in `log_dir` on `addr` (e.g.
/// `"127.0.0.1:9842"`; port 0 picks a free one), re-reading them per scrape,
/// on a background thread.
///
/// On success `*out` receives a new exporter, owned by the caller and
/// released with `br_exporter_free` (which stops it). On failure `*out` is
/// left untouched (`BR_STATUS_IO` when the address cannot be bound).
#[no_mangle]
pub extern "C" fn br_exporter_start(
    addr: *const c_char,
    log_dir: *const c_char,
    out: *mut *mut br_exporter,
) -> br_status {
    ffi_panic_boundary! {
        let addr = try_str!(addr);
        let dir = Path::new(try_str!(log_dir));
        let out = check_out_ptr(out, "out")?;
        let exporter = crate::metrics::serve(addr, dir)?;
        set_boxed_mut_ptr(out, exporter);
        Ok(())
    }
}

/// The exporter's URL, `http://<bound address>/metrics` (the real port when
/// started on port 0).
///
/// On success `*result_url` receives a new string, owned by the caller and
/// released with `br_string_free`.
#[no_mangle]
pub extern "C" fn br_exporter_url(exporter: *const br_exporter, result_url: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let exporter = unsafe { try_ref_from_ptr(exporter, "exporter") }?;
        let out = try_out!(result_url);
        out.set_string(exporter.url())
    }
}

/// Stop the exporter (waiting until its port is released) and free it.
/// NULL is accepted and ignored; never free one twice.
#[no_mangle]
pub extern "C" fn br_exporter_free(exporter: *mut br_exporter) {
    ffi_panic_boundary! {
        unsafe { free_box(exporter) }
    }
}
