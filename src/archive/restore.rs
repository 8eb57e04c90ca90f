use std::path::Path;

use crate::progress::Control;
use crate::Result;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreOptions {
    /// Replace existing files in the target instead of refusing.
    pub overwrite: bool,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RestoreReport {
    pub archive: String,
    pub target: String,
    pub files_restored: u64,
    pub bytes_restored: u64,
    /// Entries not written, each with the reason (zip-slip, absolute path,
    /// symlink, hash mismatch, exists ...).
    pub refused: Vec<crate::select::Skipped>,
}

/// Extract `archive` into `target` (empty or new), verifying BLAKE3 as it
/// goes and restoring file times. Never writes outside `target`.
pub fn restore(_archive: &Path, _target: &Path, _opts: &RestoreOptions, _control: &Control) -> Result<RestoreReport> {
    todo!("archive: restore")
}
