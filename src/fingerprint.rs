//! BLAKE3 of every selected file and one tree fingerprint over the sorted
//! (path, hash) pairs. A per-source stat cache (size, mtime, file id -> hash)
//! lets an unchanged repository cost a directory walk, not a re-read.

use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::select::SelectedFile;
use crate::Result;

/// A selected file with its content hash (lower-case hex BLAKE3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashedFile {
    #[serde(flatten)]
    pub file: SelectedFile,
    pub blake3: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashStats {
    /// Files whose content was read and hashed.
    pub files_read: u64,
    pub bytes_read: u64,
    /// Files whose hash came from the stat cache (no read).
    pub files_cached: u64,
}

/// The tree fingerprint: BLAKE3 over each `rel \0 hash \n`, in the given
/// (sorted) order. Pure; hex.
pub fn tree_fingerprint(_files: &[(&str, &str)]) -> String {
    todo!("fingerprint: tree")
}

/// Where the stat cache of `source` lives under `cache_dir`.
pub fn stat_cache_path(_cache_dir: &Path, _source: &Path) -> PathBuf {
    todo!("fingerprint: cache path")
}

/// Hash `files` in parallel, using and then updating the stat cache at
/// `cache` (None: no cache). The cache is written atomically; a corrupt or
/// missing cache is ignored, never fatal. Checks `control` for cancel.
pub fn hash_files(
    _files: &[SelectedFile],
    _cache: Option<&Path>,
    _control: &Control,
) -> Result<(Vec<HashedFile>, HashStats)> {
    todo!("fingerprint: hash")
}
