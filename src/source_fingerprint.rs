//! The fingerprint of a source folder as a backup would compute it: select,
//! hash (with the stat cache), then the tree fingerprint. A small composition
//! of [`select`](crate::select) and [`fingerprint`](crate::fingerprint) for
//! callers that want the fingerprint without a backup (`br_fingerprint`).

use crate::backup::BackupOptions;
use crate::progress::Control;
use crate::{config, fingerprint, select, Result};

/// What `fingerprint_source` found; the JSON `br_fingerprint` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FingerprintReport {
    /// Lower-case hex BLAKE3 tree fingerprint.
    pub fingerprint: String,
    pub file_count: u64,
    pub total_bytes: u64,
    /// Files read and hashed vs. answered by the stat cache.
    pub files_read: u64,
    pub files_cached: u64,
}

/// Select and hash `opts.source` with `opts.select`. The stat cache lives
/// under `opts.cache_dir` (default [`config::default_cache_dir`]); a dry run
/// reads it but never writes it, so it writes nothing.
pub fn fingerprint_source(opts: &BackupOptions, control: &Control) -> Result<FingerprintReport> {
    let selection = select::select(&opts.source, &opts.select, control)?;
    control.check()?;
    let cache = opts
        .cache_dir
        .clone()
        .or_else(config::default_cache_dir)
        .map(|dir| fingerprint::stat_cache_path(&dir, &opts.source));
    // A dry run reads the stat cache but never writes it.
    let mode = if opts.dry_run { fingerprint::CacheMode::ReadOnly } else { fingerprint::CacheMode::ReadWrite };
    let (hashed, stats) = fingerprint::hash_files_with(&selection.files, cache.as_deref(), mode, control)?;
    Ok(FingerprintReport {
        fingerprint: fingerprint::fingerprint_of_tree(&hashed, &selection.dirs, &selection.links),
        file_count: hashed.len() as u64,
        total_bytes: selection.total_bytes(),
        files_read: stats.files_read,
        files_cached: stats.files_cached,
    })
}
