//! `br_select`: which files a backup would hold.

use std::ffi::c_char;

use super::status::br_status;
use crate::backup::BackupOptions;
use crate::progress::Control;

/// Choose the files a backup of `options_json.source` would hold, without
/// reading or writing any file.
///
/// `options_json`: a BackupOptions JSON object (`source` and the selection
/// keys `include_build`, `exclude`, `include`, `respect_gitignore` are used;
/// the rest are checked but ignored). Unknown keys: `BR_STATUS_INVALID_JSON`.
///
/// On success `*result_json` receives a new Selection JSON object
/// (`files`, `excluded`, `skipped`), owned by the caller and released with
/// `br_string_free`. On failure `*result_json` is left untouched and
/// `br_last_error()` says why.
#[no_mangle]
pub extern "C" fn br_select(options_json: *const c_char, result_json: *mut *mut c_char) -> br_status {
    ffi_panic_boundary! {
        let options: BackupOptions = try_json!(options_json);
        let out = try_out!(result_json);
        let selection = crate::select::select(&options.source, &options.select, &Control::default())?;
        out.set_json(&selection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::ptr::parse_json;

    #[test]
    fn backup_options_accept_flattened_keys_and_reject_unknown_ones() {
        let o: BackupOptions =
            parse_json(r#"{"source":"/r","exclude":["*.tmp"],"compression":"zstd","dry_run":true}"#, "o").unwrap();
        assert_eq!(o.select.exclude, vec!["*.tmp".to_string()]);
        assert_eq!(o.archive.compression, crate::archive::Compression::Zstd);
        assert!(o.dry_run);
        let e = parse_json::<BackupOptions>(r#"{"source":"/r","bogus":1}"#, "options_json").unwrap_err();
        assert_eq!(e.status, br_status::InvalidJson);
        assert!(e.message.contains("bogus"), "{}", e.message);
    }
}
