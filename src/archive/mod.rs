//! The ZIP archive: built once, entries compressed in parallel and written in
//! sorted order, deterministic for the same content, ZIP64 when needed. The
//! last entry, [`MANIFEST_NAME`], describes the backup (tool version,
//! fingerprint, per-file BLAKE3 and size) so every archive explains itself.

mod format;
mod raw;
mod read;
mod restore;
mod write;

pub use raw::comment_fingerprint;
pub use read::{compare_manifests, read_manifest, verify, Comparison, Change, VerifyOptions, VerifyReport};
pub use restore::{restore, RestoreOptions, RestoreReport};
pub use write::{write_archive, ArchiveOptions, ArchiveStats, Compression};

/// The manifest's entry name inside every archive.
pub const MANIFEST_NAME: &str = ".backup-repo/manifest.json";
/// The first word of the archive comment our writer records,
/// `backup-repo <version> <fingerprint>` (see [`archive_comment`]).
const COMMENT_TOOL: &str = "backup-repo";

/// The archive comment of the archive `manifest` describes.
fn archive_comment(manifest: &Manifest) -> String {
    format!("{COMMENT_TOOL} {} {}", manifest.tool_version, manifest.fingerprint)
}

/// Value of `Manifest::format`; bumped only on incompatible change.
pub const MANIFEST_FORMAT: &str = "backup-repo-manifest/1";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub size: u64,
    pub blake3: String,
    /// Modification time, nanoseconds since the Unix epoch (restored on extract).
    pub mtime_ns: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool_version: String,
    pub repo: String,
    pub fingerprint: String,
    pub file_count: u64,
    pub total_bytes: u64,
    pub files: Vec<ManifestEntry>,
}

impl Manifest {
    /// The manifest of an archive holding `files` (in their order).
    pub fn for_files(repo: &str, fingerprint: &str, files: &[crate::fingerprint::HashedFile]) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            tool_version: crate::VERSION.to_string(),
            repo: repo.to_string(),
            fingerprint: fingerprint.to_string(),
            file_count: files.len() as u64,
            total_bytes: files.iter().map(|h| h.file.size).sum(),
            files: files
                .iter()
                .map(|h| ManifestEntry {
                    path: h.file.rel.clone(),
                    size: h.file.size,
                    blake3: h.blake3.clone(),
                    mtime_ns: h.file.mtime_ns,
                })
                .collect(),
        }
    }
}
