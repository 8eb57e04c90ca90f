//! What backups exist. A file is one of ours only when its name matches
//! `<repo>_backup_<yyyy-MM-dd_HH-mm-ss>.zip` AND it holds our manifest;
//! nothing else in a folder is ever read as a backup or touched.

use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

use crate::Result;

/// `<repo>_backup_<yyyy-MM-dd_HH-mm-ss>.zip`. Pure.
pub fn backup_file_name(_repo: &str, _at: DateTime) -> String {
    todo!("catalog: name")
}

/// The time encoded in a backup file name of `repo`, or None when the name is
/// not ours. Pure.
pub fn parse_backup_name(_file_name: &str, _repo: &str) -> Option<DateTime> {
    todo!("catalog: parse name")
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackupEntry {
    pub repo: String,
    /// The per-repository folder the backup is in.
    pub destination: String,
    pub path: PathBuf,
    /// Local time from the file name, `yyyy-MM-ddTHH:mm:ss`.
    pub created: DateTime,
    pub bytes: u64,
    pub file_count: u64,
    pub total_bytes: u64,
    pub fingerprint: String,
    pub tool_version: String,
}

/// Our backups of `repo` in `dir` (a per-repository folder), oldest first.
/// Reads names and manifests only (central directory + one entry). Files with
/// our name shape but no valid manifest are left out (and untouched).
pub fn list_backups(_dir: &Path, _repo: &str) -> Result<Vec<BackupEntry>> {
    todo!("catalog: list")
}
