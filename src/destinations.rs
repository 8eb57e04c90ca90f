//! Fan-out: the one archive placed in every destination concurrently. Each
//! copy is written as `<name>.partial`, flushed and renamed, so a crash, a
//! kill or a full disk never leaves a file that looks like a backup. A
//! failure in one destination never stops the others.

use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::Result;

/// Suffix of a copy being written. Only names shaped like our backups plus
/// this suffix are ever cleaned up.
pub const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationStatus {
    Created,
    /// Unchanged: the newest backup there has the same fingerprint.
    Skipped,
    Failed,
    /// Dry run: would be created / skipped.
    WouldCreate,
    WouldSkip,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DestinationReport {
    /// Display name: `desktop`, `n-drive`, `onedrive` for the Windows
    /// defaults, else the folder's name.
    pub name: String,
    /// The destination root as given.
    pub root: String,
    /// The per-repository folder inside it (`<root>/<repo>`).
    pub path: String,
    pub status: DestinationStatus,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The backup written (Created) or matched (Skipped).
    pub archive_path: Option<String>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Disk-space warning (usage above the threshold), if any.
    pub warning: Option<String>,
}

/// (free, total) bytes of the file system holding `path` (or its nearest
/// existing ancestor); None when unknown.
pub fn free_space(_path: &Path) -> Option<(u64, u64)> {
    todo!("destinations: free space")
}

/// Copy `archive` to `<dir>/<file_name>` for every dir, concurrently, via
/// `.partial` + flush + rename; creates missing dirs. One result per dir, in
/// order. On cancel, every partial is removed.
pub fn place(_archive: &Path, _dirs: &[PathBuf], _file_name: &str, _control: &Control) -> Vec<Result<PathBuf>> {
    todo!("destinations: place")
}

/// Remove `<repo>_backup_*.zip.partial` leftovers of a killed run in `dir`;
/// returns what was removed. Touches nothing else.
pub fn clean_stale_partials(_dir: &Path, _repo: &str) -> Vec<PathBuf> {
    todo!("destinations: clean partials")
}
