//! The ZIP archive: built once, entries compressed in parallel and written in
//! sorted order, deterministic for the same content, ZIP64 when needed. The
//! last entry, [`MANIFEST_NAME`], describes the backup (tool version,
//! fingerprint, per-file BLAKE3 and size) so every archive explains itself.

mod entry;
mod format;
mod previous;
mod raw;
mod read;
mod restore;
mod write;

pub use raw::{comment_fingerprint, comment_stamp, CommentStamp};
pub use read::{compare_manifests, read_manifest, verify, Change, Comparison, VerifyOptions, VerifyReport};
pub use restore::{restore, RestoreOptions, RestoreReport};
pub use write::{write_archive, write_archive_to, ArchiveOptions, ArchiveStats, Compression};

/// The manifest's entry name inside every archive.
pub const MANIFEST_NAME: &str = ".backup-repo/manifest.json";
/// The first word of the archive comment our writer records,
/// `backup-repo <version> <fingerprint> [<source id> <created UTC>]` (see
/// [`archive_comment`]).
const COMMENT_TOOL: &str = "backup-repo";

/// The archive comment of the archive of the tree with `fingerprint`: what
/// the unchanged check and the catalog read cheaply (the end record alone)
/// to find a source's newest backup. Before 0.2 it had no origin.
fn archive_comment(fingerprint: &str, origin: Option<&Origin>) -> String {
    match origin {
        Some(o) => format!("{COMMENT_TOOL} {} {fingerprint} {} {}", crate::VERSION, o.source_id, o.created_utc),
        None => format!("{COMMENT_TOOL} {} {fingerprint}", crate::VERSION),
    }
}

/// Where and when a backup was made, recorded in its manifest (and, in
/// part, its comment). Backups made before 0.2 have none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// The source's identity ([`crate::identity::SourceIdentity::id`]).
    pub source_id: String,
    /// The source folder, canonical and absolute, on `host`.
    pub source_path: String,
    /// The machine that made the backup.
    pub host: String,
    /// When the run started: what orders backups (never their names).
    pub created_utc: jiff::Timestamp,
    /// The same instant as local time with its UTC offset, RFC 3339
    /// (`2026-10-25T02:30:00+01:00`): the time in the file name, explained.
    pub created_local: String,
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
    /// Folders with nothing in them (stored as `path/` entries). Left out
    /// when there are none, so older manifests read the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// Symbolic links (stored as link entries holding their target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ManifestLink>,
    /// Absent in backups made before 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A symbolic link of the backup: restored as a link to `target`, which is
/// never followed (it may be absolute, lead outside the tree, or dangle).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestLink {
    pub path: String,
    pub target: String,
    /// The link's modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
}

/// The manifest of an archive of `files` (in their order), as the writer
/// records it: the JSON of the [`Manifest`] it describes, with paths and
/// hashes borrowed from `files` rather than copied (for a 100k-file tree a
/// copy is ~15 MiB held through the whole write).
pub struct ManifestOf<'a> {
    pub repo: String,
    /// The tree fingerprint of `files`. When some of them have no hash yet
    /// (an empty `blake3`: a first backup hashes as it compresses), leave it
    /// empty: the writer learns those hashes and computes it.
    pub fingerprint: String,
    pub files: &'a [crate::fingerprint::HashedFile],
    /// Folders with nothing selected in them, and links: entries of their own.
    pub dirs: &'a [crate::select::SelectedDir],
    pub links: &'a [crate::select::SelectedLink],
    /// Who made it, of what, when (None only in tests of the format).
    pub origin: Option<Origin>,
}

impl serde::Serialize for ManifestOf<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        ManifestJson { of: self, fingerprint: &self.fingerprint, learned: &[] }.serialize(s)
    }
}

/// The JSON of a [`ManifestOf`] whose files without a hash had theirs
/// learned while the archive was written (`learned`, same order).
pub(crate) struct ManifestJson<'a> {
    pub of: &'a ManifestOf<'a>,
    pub fingerprint: &'a str,
    pub learned: &'a [String],
}

impl ManifestJson<'_> {
    /// File `i`'s BLAKE3: recorded, else learned.
    pub fn blake3(&self, i: usize) -> &str {
        match self.of.files[i].blake3.as_str() {
            "" => self.learned.get(i).map_or("", String::as_str),
            known => known,
        }
    }
}

impl serde::Serialize for ManifestJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// A [`ManifestEntry`], borrowed.
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            path: &'a str,
            size: u64,
            blake3: &'a str,
            mtime_ns: i128,
        }
        struct Files<'a>(&'a ManifestJson<'a>);
        impl serde::Serialize for Files<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_seq(self.0.of.files.iter().enumerate().map(|(i, h)| Entry {
                    path: &h.file.rel,
                    size: h.file.size,
                    blake3: self.0.blake3(i),
                    mtime_ns: h.file.mtime_ns,
                }))
            }
        }
        /// A [`ManifestLink`], borrowed.
        #[derive(serde::Serialize)]
        struct Link<'a> {
            path: &'a str,
            target: &'a str,
            mtime_ns: i128,
        }
        let files = self.of.files;
        // Field for field as `Manifest` derives it.
        let mut m = s.serialize_struct("Manifest", 10)?;
        m.serialize_field("format", MANIFEST_FORMAT)?;
        m.serialize_field("tool_version", crate::VERSION)?;
        m.serialize_field("repo", &self.of.repo)?;
        m.serialize_field("fingerprint", self.fingerprint)?;
        m.serialize_field("file_count", &(files.len() as u64))?;
        m.serialize_field("total_bytes", &files.iter().map(|h| h.file.size).sum::<u64>())?;
        m.serialize_field("files", &Files(self))?;
        if !self.of.dirs.is_empty() {
            m.serialize_field("dirs", &self.of.dirs.iter().map(|d| d.rel.as_str()).collect::<Vec<_>>())?;
        }
        if !self.of.links.is_empty() {
            let links = self.of.links.iter().map(|l| Link { path: &l.rel, target: &l.target, mtime_ns: l.mtime_ns });
            m.serialize_field("links", &links.collect::<Vec<_>>())?;
        }
        if let Some(origin) = &self.of.origin {
            m.serialize_field("origin", origin)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lives_in_the_folder_the_selection_never_backs_up() {
        assert_eq!(MANIFEST_NAME.split('/').next(), Some(crate::select::OWN_FOLDER));
    }
    use crate::fingerprint::HashedFile;
    use crate::select::{SelectedDir, SelectedFile, SelectedLink};

    #[test]
    fn manifest_of_writes_the_json_of_the_manifest_it_describes() {
        let files: Vec<HashedFile> = ["a.txt", "d/\u{e9}t\u{e9} \"q\".md"]
            .iter()
            .enumerate()
            .map(|(i, rel)| HashedFile {
                file: SelectedFile {
                    rel: rel.to_string(),
                    path: rel.into(),
                    size: 10 + i as u64,
                    mtime_ns: -5 + i as i128 * 1_700_000_000_000_000_000,
                    file_id: Some(7),
                },
                blake3: blake3::hash(rel.as_bytes()).to_hex().to_string(),
            })
            .collect();
        let origin = Origin {
            source_id: "0123456789abcdef".into(),
            source_path: "/src/r".into(),
            host: "pc".into(),
            created_utc: "2026-10-25T01:30:00Z".parse().unwrap(),
            created_local: "2026-10-25T02:30:00+01:00".into(),
        };
        let of = ManifestOf {
            repo: "r".into(),
            fingerprint: "f".into(),
            files: &files,
            dirs: &[],
            links: &[],
            origin: Some(origin.clone()),
        };
        let expected = Manifest {
            format: MANIFEST_FORMAT.into(),
            tool_version: crate::VERSION.into(),
            repo: "r".into(),
            fingerprint: "f".into(),
            file_count: 2,
            total_bytes: 21,
            files: files
                .iter()
                .map(|h| ManifestEntry {
                    path: h.file.rel.clone(),
                    size: h.file.size,
                    blake3: h.blake3.clone(),
                    mtime_ns: h.file.mtime_ns,
                })
                .collect(),
            dirs: vec![],
            links: vec![],
            origin: Some(origin),
        };
        // Byte for byte: archives written before ManifestOf read the same.
        assert_eq!(serde_json::to_string_pretty(&of).unwrap(), serde_json::to_string_pretty(&expected).unwrap());
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&of).unwrap()).unwrap();
        assert_eq!(back, expected);
        assert!(!serde_json::to_string(&of).unwrap().contains("dirs"), "no folders, no key");

        // Folders and links, when there are some.
        let dirs = [SelectedDir { rel: ".git/refs/tags".into(), mtime_ns: 3 }];
        let links = [SelectedLink { rel: "l".into(), target: "../out \"side\"".into(), mtime_ns: -4 }];
        let of = ManifestOf { dirs: &dirs, links: &links, ..of };
        let expected = Manifest {
            dirs: vec![".git/refs/tags".into()],
            links: vec![ManifestLink { path: "l".into(), target: "../out \"side\"".into(), mtime_ns: -4 }],
            ..expected
        };
        assert_eq!(serde_json::to_string_pretty(&of).unwrap(), serde_json::to_string_pretty(&expected).unwrap());
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&of).unwrap()).unwrap();
        assert_eq!(back, expected);
    }
}
