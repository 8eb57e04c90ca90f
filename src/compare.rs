//! `Compare-RepoBackup`: what changed between two backups (from their
//! manifests alone), or between a backup and its source folder (the source
//! selected and hashed as a backup would, with the stat cache).

use std::path::{Path, PathBuf};

use crate::archive::{self, Change, Comparison, Manifest, ManifestEntry, ManifestLink};
use crate::progress::Control;
use crate::select::SelectOptions;
use crate::{config, fingerprint, select, Error, Result};

/// The JSON `br_compare` takes: either `old` + `new` (two archives) or
/// `archive` + `source` (+ the selection keys and `cache_dir`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompareOptions {
    pub old: Option<PathBuf>,
    pub new: Option<PathBuf>,
    pub archive: Option<PathBuf>,
    pub source: Option<PathBuf>,
    /// Selection of the source (as the backup was made).
    #[serde(flatten)]
    pub select: SelectOptions,
    /// Stat cache folder for hashing the source; default the platform's.
    pub cache_dir: Option<PathBuf>,
}

/// What changed, and how many of each.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompareReport {
    /// The older side: an archive path.
    pub old: String,
    /// The newer side: an archive path or the source folder.
    pub new: String,
    /// Sorted by path.
    pub changes: Vec<Comparison>,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    /// Paths present and identical on both sides.
    pub unchanged: u64,
}

fn report(old: &Path, new: &Path, before: &Manifest, after: &Manifest) -> CompareReport {
    let changes = archive::compare_manifests(before, after);
    let count = |c: Change| changes.iter().filter(|x| x.change == c).count() as u64;
    let (added, removed, modified) = (count(Change::Added), count(Change::Removed), count(Change::Modified));
    CompareReport {
        old: old.display().to_string(),
        new: new.display().to_string(),
        unchanged: ((before.files.len() + before.dirs.len() + before.links.len()) as u64)
            .saturating_sub(removed + modified),
        added,
        removed,
        modified,
        changes,
    }
}

/// Two backups, from their manifests only (central directory + one entry each).
pub fn compare_backups(old: &Path, new: &Path) -> Result<CompareReport> {
    let before = archive::read_manifest(old)?;
    let after = archive::read_manifest(new)?;
    Ok(report(old, new, &before, &after))
}

/// A backup (old side) against `source` (new side): `added` is in the
/// source only. The source is selected with `select` and hashed with the
/// stat cache under `cache_dir` (default the platform's), as a backup run does.
pub fn compare_with_source(
    archive_path: &Path,
    source: &Path,
    select_opts: &SelectOptions,
    cache_dir: Option<&Path>,
    control: &Control,
) -> Result<CompareReport> {
    let before = archive::read_manifest(archive_path)?;
    let selection = select::select(source, select_opts, control)?;
    let cache = cache_dir.map(Path::to_path_buf).or_else(config::default_cache_dir);
    let cache_file = cache.map(|d| fingerprint::stat_cache_path(&d, source));
    let (hashed, _) = fingerprint::hash_files(&selection.files, cache_file.as_deref(), control)?;
    let after = Manifest {
        files: hashed
            .into_iter()
            .map(|h| ManifestEntry { path: h.file.rel, size: h.file.size, blake3: h.blake3, mtime_ns: h.file.mtime_ns })
            .collect(),
        dirs: selection.dirs.into_iter().map(|d| d.rel).collect(),
        links: selection
            .links
            .into_iter()
            .map(|l| ManifestLink { path: l.rel, target: l.target, mtime_ns: l.mtime_ns })
            .collect(),
        ..before.clone()
    };
    Ok(report(archive_path, source, &before, &after))
}

/// Dispatch on which pair of options is set.
pub fn compare(opts: &CompareOptions, control: &Control) -> Result<CompareReport> {
    match (&opts.old, &opts.new, &opts.archive, &opts.source) {
        (Some(old), Some(new), None, None) => {
            if opts.select != SelectOptions::default() || opts.cache_dir.is_some() {
                return Err(Error::invalid("selection options and cache_dir apply only to a comparison with a source"));
            }
            compare_backups(old, new)
        }
        (None, None, Some(archive), Some(source)) => {
            compare_with_source(archive, source, &opts.select, opts.cache_dir.as_deref(), control)
        }
        _ => Err(Error::invalid("give either 'old' and 'new' (two backups) or 'archive' and 'source'")),
    }
}
