use std::path::Path;

use crate::fingerprint::HashedFile;
use crate::progress::Control;
use crate::Result;

use super::Manifest;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Deflate: opens everywhere (Explorer, unzip, Expand-Archive).
    #[default]
    Deflate,
    Zstd,
    Store,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveOptions {
    pub compression: Compression,
    /// Compression level; None = the method's default.
    pub level: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveStats {
    pub archive_bytes: u64,
    pub entries_stored: u64,
    pub entries_compressed: u64,
    /// Entries copied raw from the previous archive (no recompression).
    pub entries_reused: u64,
}

/// Write the archive of `files` (plus `manifest` as the last entry) to `out`,
/// which the caller owns (a temporary name: placement renames it). When
/// `previous` is an archive of ours, entries whose BLAKE3 is unchanged are
/// copied raw from it. Checks `control` for cancel between entries.
pub fn write_archive(
    _out: &Path,
    _files: &[HashedFile],
    _manifest: &Manifest,
    _opts: &ArchiveOptions,
    _previous: Option<&Path>,
    _control: &Control,
) -> Result<ArchiveStats> {
    todo!("archive: write")
}
