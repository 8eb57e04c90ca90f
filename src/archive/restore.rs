use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::progress::{Control, Phase};
use crate::select::Skipped;
use crate::{Error, Result};

use super::entry::{classify, Expected, Kind, MAX_LINK_TARGET};
use super::format::HOST_UNIX;
use super::read::{stream_entry, Streamed};
use super::{read_manifest, ManifestLink, MANIFEST_NAME};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreOptions {
    /// Replace existing files in the target instead of refusing.
    pub overwrite: bool,
    /// Check what a restore would refuse at once (an archive that is not
    /// ours, a target that is a file or not empty) and write nothing: a
    /// dry run answers as the real run would.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RestoreReport {
    pub archive: String,
    pub target: String,
    pub files_restored: u64,
    pub bytes_restored: u64,
    /// Symbolic links recreated (as links, never followed).
    #[serde(default)]
    pub links_restored: u64,
    /// Folders with nothing in them recreated.
    #[serde(default)]
    pub dirs_restored: u64,
    /// Entries not written, each with the reason (zip-slip, absolute path,
    /// a path through a link, hash mismatch, exists ...).
    pub refused: Vec<crate::select::Skipped>,
}

/// Create the folders above `rel` inside `target`, refusing to pass through
/// anything that is not a real folder (a symlink could lead outside).
fn make_parents(target: &Path, parts: &[&str]) -> std::result::Result<(), String> {
    let mut p = target.to_path_buf();
    for part in parts {
        p.push(part);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("'{}' exists and is not a folder", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(format!("cannot create folder '{}': {e}", p.display())),
            },
            Err(e) => return Err(format!("cannot inspect '{}': {e}", p.display())),
        }
    }
    Ok(())
}

/// A fresh partial file next to `dest`: `<name>.partial`, or, when that
/// name would be too long for the file system (a name near 255 bytes), a
/// short hidden one derived from it.
fn create_partial(dest: &Path) -> std::io::Result<(PathBuf, File)> {
    let name_len = dest.file_name().map_or(0, |n| n.len());
    if name_len + ".partial99".len() <= 255 {
        return create_partial_from(dest.as_os_str().to_owned());
    }
    let short = format!(".restore-{}", &blake3::hash(dest.as_os_str().as_encoded_bytes()).to_hex()[..16]);
    create_partial_from(dest.with_file_name(short).into_os_string())
}

fn create_partial_from(base: std::ffi::OsString) -> std::io::Result<(PathBuf, File)> {
    for n in 0..100 {
        let mut name = base.clone();
        name.push(if n == 0 { ".partial".to_string() } else { format!(".partial{n}") });
        let p = PathBuf::from(name);
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free partial name"))
}

fn file_time(mtime_ns: i128) -> filetime::FileTime {
    let secs = mtime_ns.div_euclid(1_000_000_000).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    filetime::FileTime::from_unix_time(secs, mtime_ns.rem_euclid(1_000_000_000) as u32)
}

/// Extract `archive` into `target` (empty or new), verifying BLAKE3 as it
/// goes and restoring file times. Never writes outside `target`.
pub fn restore(archive: &Path, target: &Path, opts: &RestoreOptions, control: &Control) -> Result<RestoreReport> {
    let manifest = read_manifest(archive)?;
    let file = File::open(archive).map_err(|e| Error::io("open", archive, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::bad_archive(archive, format_args!("not a ZIP archive ({e})")))?;
    match fs::symlink_metadata(target) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::invalid(format!("target '{}' exists and is not a folder", target.display())))
        }
        Ok(_) => {
            let mut entries = fs::read_dir(target).map_err(|e| Error::io("list", target, e))?;
            if !opts.overwrite && entries.next().is_some() {
                return Err(Error::invalid(format!(
                    "target '{}' is not empty (use overwrite to restore into it)",
                    target.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.dry_run => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(|e| Error::io("create", target, e))?
        }
        Err(e) => return Err(Error::io("inspect", target, e)),
    }
    if opts.dry_run {
        return Ok(RestoreReport {
            archive: archive.display().to_string(),
            target: target.display().to_string(),
            ..Default::default()
        });
    }
    let dups: BTreeSet<String> = if zip.has_duplicate_names() {
        super::raw::duplicate_names(archive)
            .map_err(|e| Error::bad_archive(archive, format_args!("duplicate names, unreadable directory ({e})")))?
    } else {
        BTreeSet::new()
    };
    let expected = Expected::of(&manifest);
    let mut report = RestoreReport {
        archive: archive.display().to_string(),
        target: target.display().to_string(),
        ..Default::default()
    };
    let mut refused: Vec<Skipped> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    control.begin(Phase::Restoring, manifest.file_count, manifest.total_bytes);
    for i in 0..zip.len() {
        control.check()?;
        let label = zip.name_for_index(i).and_then(|n| n.ok()).map(|n| n.into_owned());
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                let path = label.unwrap_or_else(|| format!("entry #{i}"));
                refused.push(Skipped { path, reason: format!("unreadable entry ({e})") });
                continue;
            }
        };
        let Ok(name) = std::str::from_utf8(entry.name_raw()).map(str::to_owned) else {
            let path = String::from_utf8_lossy(entry.name_raw()).into_owned();
            refused.push(Skipped { path, reason: "name is not UTF-8".into() });
            continue;
        };
        if name == MANIFEST_NAME {
            continue;
        }
        let mut no = |reason: String| refused.push(Skipped { path: name.clone(), reason });
        if dups.contains(&name) {
            no("duplicate entry name".into());
            continue;
        }
        let unix_host = entry.system() as u16 == HOST_UNIX;
        let want = match classify(&name, unix_host, entry.unix_mode(), &expected) {
            Ok(Kind::File(want)) => want,
            Ok(Kind::Dir(path)) => {
                let parts: Vec<&str> = path.split('/').collect();
                match make_parents(target, &parts) {
                    Ok(()) => {
                        seen.insert(path.to_string());
                        report.dirs_restored += 1;
                    }
                    Err(why) => no(why),
                }
                continue;
            }
            Ok(Kind::Link(link)) => {
                match restore_link(&mut entry, link, target, opts, control)? {
                    None => {
                        seen.insert(link.path.clone());
                        report.links_restored += 1;
                    }
                    Some(why) => no(why),
                }
                continue;
            }
            Err(why) => {
                no(why);
                continue;
            }
        };
        if want.size != entry.size() {
            no(format!("{} bytes in the ZIP, {} in the manifest", entry.size(), want.size));
            continue;
        }
        let parts: Vec<&str> = name.split('/').collect();
        if let Err(why) = make_parents(target, &parts[..parts.len() - 1]) {
            no(why);
            continue;
        }
        let dest: PathBuf = parts.iter().fold(target.to_path_buf(), |p, c| p.join(c));
        if let Some(why) = occupied(&dest, opts) {
            no(why);
            continue;
        }
        control.set_current(&name);
        let (partial, out) = create_partial(&dest).map_err(|e| Error::io("create", &dest, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, out);
        let streamed = stream_entry(&mut entry, want.size, control, |b| w.write_all(b));
        let outcome = match streamed {
            Err(e) => Err(e),
            Ok(Streamed::Failed(why)) => Ok(Some(why)),
            Ok(Streamed::Ok { blake3, .. }) if blake3 != want.blake3 => {
                Ok(Some("BLAKE3 differs from the manifest".to_string()))
            }
            Ok(Streamed::Ok { .. }) => {
                let mode = entry.unix_mode();
                finish_file(w, want.mtime_ns, mode).map(|()| None).map_err(|e| Error::io("write", &partial, e))
            }
        };
        match outcome {
            Ok(None) => {
                if let Err(e) = fs::rename(&partial, &dest) {
                    let _ = fs::remove_file(&partial);
                    return Err(Error::io("rename", &dest, e));
                }
                seen.insert(name.clone());
                report.files_restored += 1;
                report.bytes_restored += want.size;
                control.advance(1, want.size);
            }
            Ok(Some(why)) => {
                let _ = fs::remove_file(&partial);
                no(why);
            }
            Err(e) => {
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        }
    }
    let listed =
        manifest.files.iter().map(|m| &m.path).chain(&manifest.dirs).chain(manifest.links.iter().map(|l| &l.path));
    for path in listed {
        if !seen.contains(path) && !refused.iter().any(|r| r.path == *path || r.path.strip_suffix('/') == Some(path)) {
            refused.push(Skipped { path: path.clone(), reason: "in the manifest but missing from the archive".into() });
        }
    }
    report.refused = refused;
    Ok(report)
}

/// Why `dest` cannot take an entry, if it cannot: it exists (and may be
/// replaced only with `overwrite`), or it is a folder (never replaced).
fn occupied(dest: &Path, opts: &RestoreOptions) -> Option<String> {
    match fs::symlink_metadata(dest) {
        Ok(_) if !opts.overwrite => Some("already exists in the target".into()),
        Ok(m) if m.is_dir() => Some("a folder of that name exists in the target".into()),
        _ => None,
    }
}

/// Recreate the link entry `entry` (recorded as `link`) inside `target`:
/// its data must be the recorded target; it is made as a link and never
/// followed, whatever it points to. Some(reason) when it is not restored.
fn restore_link(
    entry: &mut zip::read::ZipFile<'_, BufReader<File>>,
    link: &ManifestLink,
    target: &Path,
    opts: &RestoreOptions,
    control: &Control,
) -> Result<Option<String>> {
    let declared = entry.size();
    if declared != link.target.len() as u64 || declared > MAX_LINK_TARGET {
        return Ok(Some(format!("a link of {declared} bytes in the ZIP, {} in the manifest", link.target.len())));
    }
    let mut data = Vec::with_capacity(declared as usize);
    match stream_entry(entry, declared, control, |b| {
        data.extend_from_slice(b);
        Ok(())
    })? {
        Streamed::Failed(why) => return Ok(Some(why)),
        Streamed::Ok { .. } if data != link.target.as_bytes() => {
            return Ok(Some("link target differs from the manifest".into()))
        }
        Streamed::Ok { .. } => {}
    }
    if link.target.is_empty() || link.target.contains('\0') {
        return Ok(Some("not a link target".into()));
    }
    let parts: Vec<&str> = link.path.split('/').collect();
    if let Err(why) = make_parents(target, &parts[..parts.len() - 1]) {
        return Ok(Some(why));
    }
    let dest: PathBuf = parts.iter().fold(target.to_path_buf(), |p, c| p.join(c));
    if let Some(why) = occupied(&dest, opts) {
        return Ok(Some(why));
    }
    // Made beside it and renamed over it, as a file is: an existing file or
    // link of that name (with overwrite) is replaced, never written through.
    let base = dest.as_os_str().to_owned();
    for n in 0..100 {
        let mut name = base.clone();
        name.push(if n == 0 { ".partial".to_string() } else { format!(".partial{n}") });
        let partial = PathBuf::from(name);
        match make_link(&link.target, &partial) {
            Ok(()) => {
                if let Err(e) = fs::rename(&partial, &dest) {
                    let _ = fs::remove_file(&partial);
                    return Err(Error::io("rename", &dest, e));
                }
                let t = file_time(link.mtime_ns);
                // Best effort: a link's time is not its content.
                let _ = filetime::set_symlink_file_times(&dest, t, t);
                return Ok(None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Ok(Some(format!("cannot create a symbolic link here ({e})"))),
        }
    }
    Ok(Some("no free name beside it to create the link".into()))
}

/// Create a symbolic link at `at` holding `target` (never resolved).
#[cfg(unix)]
fn make_link(target: &str, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// Windows needs to know a folder link from a file link; a process without
/// the right to make links gets an error, which refuses this entry only.
#[cfg(windows)]
fn make_link(target: &str, at: &Path) -> std::io::Result<()> {
    let target = target.replace('/', "\\");
    let resolved = at.parent().map(|p| p.join(&target));
    if resolved.is_some_and(|p| p.is_dir()) {
        std::os::windows::fs::symlink_dir(&target, at)
    } else {
        std::os::windows::fs::symlink_file(&target, at)
    }
}

#[cfg(not(any(unix, windows)))]
fn make_link(_target: &str, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no symbolic links on this system"))
}

/// Flush, set the modification time and the exec bit on the open partial file.
fn finish_file(w: BufWriter<File>, mtime_ns: i128, mode: Option<u32>) -> std::io::Result<()> {
    let f = w.into_inner().map_err(|e| e.into_error())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perm = if mode.is_some_and(|m| m & 0o111 != 0) { 0o755 } else { 0o644 };
        f.set_permissions(fs::Permissions::from_mode(perm))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    filetime::set_file_handle_times(&f, None, Some(file_time(mtime_ns)))?;
    Ok(())
}
