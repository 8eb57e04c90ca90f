use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::{Error, Result};

use super::entry::{classify, Expected, Kind, MAX_LINK_TARGET};
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
    /// With `source`: how the source differs from the archive now (edited,
    /// added, deleted since the backup). Never makes `ok` false: `ok` is
    /// the archive's own health; None without `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_changes: Option<Vec<String>>,
}

/// At most this many messages are kept in a report; the rest are counted.
const MAX_ERRORS: usize = 1000;

struct Errors {
    list: Vec<String>,
    more: u64,
}

impl Errors {
    fn push(&mut self, e: String) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }
    fn into_report(mut self, rep: &mut VerifyReport) {
        if self.more > 0 {
            self.list.push(format!("... and {} more errors", self.more));
        }
        rep.first_error = self.list.first().cloned();
        rep.ok = self.list.is_empty();
        rep.errors = self.list;
    }
}

/// Outcome of streaming one entry through: bytes, BLAKE3, or why it failed.
pub(super) enum Streamed {
    Ok { bytes: u64, blake3: String },
    Failed(String),
}

/// Read an entry to its end (the zip crate checks the CRC there), hashing,
/// never past its declared size (compression bombs), passing the bytes to `sink`.
pub(super) fn stream_entry(
    entry: &mut dyn Read,
    declared: u64,
    control: &Control,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<Streamed> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    let mut since_check = 0u64;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Streamed::Failed(format!("unreadable ({e})"))),
        };
        total += n as u64;
        if total > declared {
            return Ok(Streamed::Failed(format!("decompresses beyond its declared size of {declared} bytes")));
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n]).map_err(|e| Error::new(crate::ErrorKind::Io, format!("cannot write: {e}")))?;
        since_check += n as u64;
        if since_check >= 16 << 20 {
            since_check = 0;
            control.check()?;
        }
    }
    if total != declared {
        return Ok(Streamed::Failed(format!("holds {total} bytes, {declared} declared")));
    }
    Ok(Streamed::Ok { bytes: total, blake3: hasher.finalize().to_hex().to_string() })
}

/// Check every entry's CRC and the manifest's BLAKE3 hashes; never modifies
/// the archive. A damaged archive yields `ok: false`, not an `Err`.
pub fn verify(archive: &Path, opts: &VerifyOptions, control: &Control) -> Result<VerifyReport> {
    let mut rep = VerifyReport { archive: archive.display().to_string(), ..Default::default() };
    let mut errs = Errors { list: Vec::new(), more: 0 };
    // An unreadable path is the caller's problem (Err); a bad archive is a finding.
    let file = File::open(archive).map_err(|e| Error::io("open", archive, e))?;
    if file.metadata().map_err(|e| Error::io("read", archive, e))?.is_dir() {
        return Err(Error::new(crate::ErrorKind::InvalidArgument, format!("'{}' is a directory", archive.display())));
    }
    let manifest = match read_manifest(archive) {
        Ok(m) => m,
        Err(e) if e.kind == crate::ErrorKind::BadArchive => {
            errs.push(e.message);
            errs.into_report(&mut rep);
            return Ok(rep);
        }
        Err(e) => return Err(e),
    };
    let mut zip = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(z) => z,
        Err(e) => {
            errs.push(format!("not a ZIP archive ({e})"));
            errs.into_report(&mut rep);
            return Ok(rep);
        }
    };
    control.begin(crate::progress::Phase::Verifying, zip.len() as u64, manifest.total_bytes);
    let mut dups = std::collections::BTreeSet::new();
    if zip.has_duplicate_names() {
        match super::raw::duplicate_names(archive) {
            Ok(d) if !d.is_empty() => {
                d.iter().for_each(|n| errs.push(format!("'{n}': duplicate entry name")));
                dups = d;
            }
            _ => errs.push("duplicate entry names".to_string()),
        }
    }
    let expected = Expected::of(&manifest);
    if expected.files.len() != manifest.files.len()
        || expected.dirs.len() != manifest.dirs.len()
        || expected.links.len() != manifest.links.len()
    {
        errs.push("the manifest lists a path twice".to_string());
    }
    let mut seen: HashSet<String> = HashSet::new();
    // Every entry's path and whether it is a link: an entry under a link
    // would be written through it, so restore refuses it (checked after).
    let mut paths: Vec<(String, bool)> = Vec::new();
    for i in 0..zip.len() {
        control.check()?;
        let label = zip.name_for_index(i).and_then(|n| n.ok()).map(|n| n.into_owned());
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                errs.push(format!("'{}': {e}", label.unwrap_or_else(|| format!("entry #{i}"))));
                continue;
            }
        };
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        rep.entries_checked += 1;
        let declared = entry.size();
        if std::str::from_utf8(entry.name_raw()).is_err() {
            errs.push(format!("'{name}': name is not UTF-8"));
        }
        // What restore makes of it: refused (why), or a file, folder or link.
        let kind = if name == MANIFEST_NAME {
            None
        } else {
            let unix_host = entry.system() as u16 == super::format::HOST_UNIX;
            match classify(&name, unix_host, entry.unix_mode(), &expected) {
                Ok(k) => Some(k),
                Err(why) => {
                    errs.push(format!("'{name}': {why}"));
                    None
                }
            }
        };
        let mut link_data = Vec::new();
        match &kind {
            Some(Kind::File(w)) if w.size != declared => {
                errs.push(format!("'{name}': {declared} bytes in the ZIP, {} in the manifest", w.size))
            }
            Some(Kind::Dir(_)) if declared != 0 => {
                errs.push(format!("'{name}': a folder entry holding {declared} bytes"))
            }
            Some(Kind::Link(l)) if declared != l.target.len() as u64 || declared > MAX_LINK_TARGET => errs
                .push(format!("'{name}': a link of {declared} bytes in the ZIP, {} in the manifest", l.target.len())),
            _ => {}
        }
        let is_link = matches!(kind, Some(Kind::Link(_)));
        let keep = |b: &[u8]| {
            if is_link && link_data.len() as u64 <= MAX_LINK_TARGET {
                link_data.extend_from_slice(b);
            }
            Ok(())
        };
        match stream_entry(&mut entry, declared, control, keep)? {
            Streamed::Failed(why) => errs.push(format!("'{name}': {why}")),
            Streamed::Ok { bytes, blake3 } => {
                match &kind {
                    Some(Kind::File(w)) if w.blake3 != blake3 => {
                        errs.push(format!("'{name}': BLAKE3 differs from the manifest"))
                    }
                    Some(Kind::Link(l)) if link_data != l.target.as_bytes() => {
                        errs.push(format!("'{name}': link target differs from the manifest"))
                    }
                    _ => {}
                }
                control.advance(0, bytes);
            }
        }
        control.advance(1, 0);
        let path = match kind {
            Some(Kind::Dir(p)) => p.to_string(),
            _ => name,
        };
        if path != MANIFEST_NAME {
            paths.push((path.clone(), is_link));
        }
        seen.insert(path);
    }
    let links: HashSet<&str> = paths.iter().filter(|p| p.1).map(|p| p.0.as_str()).collect();
    let mut kinds_of: std::collections::BTreeMap<&str, u32> = Default::default();
    for (path, _) in &paths {
        *kinds_of.entry(path.as_str()).or_default() += 1;
        // The first ancestor that is a link: restore would not pass through it.
        let through = path.match_indices('/').map(|(at, _)| &path[..at]).find(|a| links.contains(a));
        if let Some(link) = through {
            errs.push(format!("'{path}': under '{link}', which the archive holds as a symbolic link"));
        }
    }
    // A folder entry `a/` and a file or link `a` (exact duplicates are reported above).
    for (path, n) in kinds_of {
        if n > 1 && !dups.contains(path) {
            errs.push(format!("'{path}': both a folder and a file or link"));
        }
    }
    for path in
        manifest.files.iter().map(|m| &m.path).chain(&manifest.dirs).chain(manifest.links.iter().map(|l| &l.path))
    {
        if !seen.contains(path) {
            errs.push(format!("'{path}': in the manifest but missing from the archive"));
        }
    }
    if let Some(source) = &opts.source {
        let selection = crate::select::select(source, &crate::select::SelectOptions::default(), control)?;
        let files = selection.files.iter().map(|f| f.rel.as_str());
        let others =
            selection.dirs.iter().map(|d| d.rel.as_str()).chain(selection.links.iter().map(|l| l.rel.as_str()));
        let listed: Vec<&str> = files.chain(others).collect();
        let mut changes = compare_with_source(&manifest, source, &listed, control)?;
        changes.truncate(MAX_ERRORS);
        errs.into_report(&mut rep);
        rep.source_changes = Some(changes);
        return Ok(rep);
    }
    errs.into_report(&mut rep);
    Ok(rep)
}

/// Each manifest file against `source` (size, then BLAKE3), and the files
/// `listed` in the source's selection that the manifest lacks.
pub(super) fn compare_with_source(
    manifest: &Manifest,
    source: &Path,
    listed: &[&str],
    control: &Control,
) -> Result<Vec<String>> {
    use rayon::prelude::*;
    let mut out: Vec<String> = manifest
        .files
        .par_iter()
        .map(|m| -> Result<Option<String>> {
            control.check()?;
            let p = source.join(m.path.split('/').collect::<PathBuf>());
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => return Ok(Some(format!("'{}': not a file in the source", m.path))),
                Err(_) => return Ok(Some(format!("'{}': missing from the source", m.path))),
            };
            if meta.len() != m.size {
                return Ok(Some(format!(
                    "'{}': differs from the source ({} bytes there, {} here)",
                    m.path,
                    meta.len(),
                    m.size
                )));
            }
            let mut h = blake3::Hasher::new();
            h.update_reader(File::open(&p).map_err(|e| Error::io("open", &p, e))?)
                .map_err(|e| Error::io("read", &p, e))?;
            Ok((h.finalize().to_hex().as_str() != m.blake3).then(|| format!("'{}': differs from the source", m.path)))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let on_disk = |path: &str| std::fs::symlink_metadata(source.join(path.split('/').collect::<PathBuf>()));
    for d in &manifest.dirs {
        match on_disk(d) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => out.push(format!("'{d}/': not a folder in the source")),
            Err(_) => out.push(format!("'{d}/': missing from the source")),
        }
    }
    for l in &manifest.links {
        let p = source.join(l.path.split('/').collect::<PathBuf>());
        match on_disk(&l.path) {
            Ok(m) if m.file_type().is_symlink() => {
                let now = std::fs::read_link(&p).ok().and_then(crate::select::link_target_text);
                if now.as_deref() != Some(l.target.as_str()) {
                    out.push(format!("'{}': a link to another target in the source", l.path));
                }
            }
            Ok(_) => out.push(format!("'{}': not a symbolic link in the source", l.path)),
            Err(_) => out.push(format!("'{}': missing from the source", l.path)),
        }
    }
    let files = manifest.files.iter().map(|m| m.path.as_str());
    let others = manifest.dirs.iter().map(String::as_str).chain(manifest.links.iter().map(|l| l.path.as_str()));
    let known: HashSet<&str> = files.chain(others).collect();
    out.extend(
        listed.iter().filter(|r| !known.contains(**r)).map(|r| format!("'{r}': in the source but not in the archive")),
    );
    Ok(out)
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
/// A folder with nothing in it is the path `name/`; a link counts as
/// modified when its target changed (its size is the target's length).
pub fn compare_manifests(old: &Manifest, new: &Manifest) -> Vec<Comparison> {
    let before = entries_of(old);
    let after = entries_of(new);
    let mut out: Vec<Comparison> = Vec::new();
    for (path, n) in &after {
        match before.get(path) {
            None => out.push(Comparison {
                path: path.to_string(),
                change: Change::Added,
                old_size: None,
                new_size: Some(n.0),
            }),
            Some(o) if o != n => out.push(Comparison {
                path: path.to_string(),
                change: Change::Modified,
                old_size: Some(o.0),
                new_size: Some(n.0),
            }),
            Some(_) => {}
        }
    }
    for (path, o) in &before {
        if !after.contains_key(path) {
            out.push(Comparison {
                path: path.to_string(),
                change: Change::Removed,
                old_size: Some(o.0),
                new_size: None,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every entry of `m` by path: its size, what it is, and what its content
/// is (a file's BLAKE3, a link's target, nothing for a folder).
fn entries_of(m: &Manifest) -> HashMap<std::borrow::Cow<'_, str>, (u64, char, &str)> {
    use std::borrow::Cow;
    let files = m.files.iter().map(|f| (Cow::Borrowed(f.path.as_str()), (f.size, 'f', f.blake3.as_str())));
    let dirs = m.dirs.iter().map(|d| (Cow::Owned(format!("{d}/")), (0, 'd', "")));
    let links =
        m.links.iter().map(|l| (Cow::Borrowed(l.path.as_str()), (l.target.len() as u64, 'l', l.target.as_str())));
    files.chain(dirs).chain(links).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::ManifestEntry;

    fn m(files: &[(&str, u64, &str)]) -> Manifest {
        Manifest {
            dirs: vec![],
            links: vec![],
            format: MANIFEST_FORMAT.into(),
            tool_version: "t".into(),
            repo: "r".into(),
            fingerprint: "f".into(),
            file_count: files.len() as u64,
            total_bytes: files.iter().map(|f| f.1).sum(),
            files: files
                .iter()
                .map(|(p, s, h)| ManifestEntry { path: p.to_string(), size: *s, blake3: h.to_string(), mtime_ns: 0 })
                .collect(),
            origin: None,
        }
    }

    #[test]
    fn compare_manifests_sorted_by_path() {
        let old = m(&[("b", 1, "x"), ("a", 1, "x"), ("c", 2, "y"), ("d", 3, "z")]);
        let new = m(&[("a", 1, "x"), ("c", 2, "Y"), ("d", 4, "z"), ("e", 5, "w")]);
        let got: Vec<(String, Change)> =
            compare_manifests(&old, &new).into_iter().map(|c| (c.path, c.change)).collect();
        assert_eq!(
            got,
            [
                ("b".to_string(), Change::Removed),
                ("c".to_string(), Change::Modified),
                ("d".to_string(), Change::Modified),
                ("e".to_string(), Change::Added)
            ]
        );
        assert!(compare_manifests(&old, &old).is_empty());
    }

    #[test]
    fn source_comparison_reports_missing_extra_and_different() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("s")).unwrap();
        std::fs::write(dir.path().join("s/same"), b"same").unwrap();
        std::fs::write(dir.path().join("s/edited"), b"new!").unwrap();
        std::fs::write(dir.path().join("grown"), b"longer").unwrap();
        let h = |b: &[u8]| blake3::hash(b).to_hex().to_string();
        let man =
            m(&[("s/same", 4, &h(b"same")), ("s/edited", 4, &h(b"old!")), ("grown", 4, &h(b"long")), ("gone", 1, "x")]);
        let errs = compare_with_source(&man, dir.path(), &["s/same", "new"], &Control::default()).unwrap();
        let has = |p: &str, w: &str| errs.iter().any(|e| e.contains(p) && e.contains(w));
        assert!(has("'s/edited'", "differs"), "{errs:?}");
        assert!(has("'grown'", "differs"), "{errs:?}");
        assert!(has("'gone'", "missing from the source"), "{errs:?}");
        assert!(has("'new'", "not in the archive"), "{errs:?}");
        assert_eq!(errs.len(), 4, "{errs:?}");
    }
}
