use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::Result;

use super::Manifest;

/// Read only the central directory and the manifest entry. Errors with
/// `BadArchive` when the file is not a ZIP or holds no valid manifest: such a
/// file is not one of ours.
pub fn read_manifest(_archive: &Path) -> Result<Manifest> {
    todo!("archive: read manifest")
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyOptions {
    /// Also compare with this source folder (same selection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VerifyReport {
    pub archive: String,
    pub ok: bool,
    pub entries_checked: u64,
    /// The first bad entry and why, when not ok.
    pub first_error: Option<String>,
    pub errors: Vec<String>,
}

/// Check every entry's CRC and the manifest's BLAKE3 hashes; never modifies
/// the archive. A damaged archive yields `ok: false`, not an `Err`.
pub fn verify(_archive: &Path, _opts: &VerifyOptions, _control: &Control) -> Result<VerifyReport> {
    todo!("archive: verify")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Modified,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub path: String,
    pub change: Change,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
}

/// What changed from `old` to `new`, from manifests alone; sorted by path. Pure.
pub fn compare_manifests(_old: &Manifest, _new: &Manifest) -> Vec<Comparison> {
    todo!("archive: compare")
}
