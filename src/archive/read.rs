use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::{Error, Result};

use super::{Manifest, MANIFEST_FORMAT, MANIFEST_NAME};

/// Read only the central directory and the manifest entry. Errors with
/// `BadArchive` when the file is not a ZIP or holds no valid manifest: such a
/// file is not one of ours.
pub fn read_manifest(archive: &Path) -> Result<Manifest> {
    let file = File::open(archive).map_err(|e| Error::io("open", archive, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::bad_archive(archive, format_args!("not a ZIP archive ({e})")))?;
    let mut entry = zip
        .by_name(MANIFEST_NAME)
        .map_err(|_| Error::bad_archive(archive, format_args!("no {MANIFEST_NAME}: not a BackupRepo archive")))?;
    // A manifest is small; a huge one is hostile, not ours.
    const MAX_MANIFEST: u64 = 1 << 30;
    if entry.size() > MAX_MANIFEST {
        return Err(Error::bad_archive(archive, "manifest larger than 1 GiB"));
    }
    let mut text = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut text)
        .map_err(|e| Error::bad_archive(archive, format_args!("cannot read manifest ({e})")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| Error::bad_archive(archive, format_args!("invalid manifest ({e})")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(Error::bad_archive(archive, format_args!("unknown manifest format '{}'", manifest.format)));
    }
    Ok(manifest)
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
