//! Fan-out: the one archive placed in every destination concurrently. Each
//! copy is written as `<name>.partial`, flushed and renamed, so a crash, a
//! kill or a full disk never leaves a file that looks like a backup. A
//! failure in one destination never stops the others.
//!
//! Rules:
//! - Free space is checked before a byte is written.
//! - A `.partial` is created with `create_new` and removed on any error or
//!   cancel (a drop guard); a partial we did not create is never removed here.
//! - The final name is never overwritten: an existing backup fails the
//!   destination instead.
//! - Progress: `bytes_done` grows by the bytes written to every destination
//!   (so the caller's total is `archive size x destinations`) and
//!   `files_done` by one per finished destination; the caller enters
//!   `Phase::Placing`.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
#[cfg(test)]
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::{Error, ErrorKind, Result};

/// Suffix of a copy being written. Only names shaped like our backups plus
/// this suffix are ever cleaned up.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Bytes copied between two cancellation checks (user-space copy, tests).
#[cfg(test)]
const CHUNK: usize = 1 << 20;

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
    /// Our backups of this repository kept there after the run.
    #[serde(default)]
    pub backups: Option<u64>,
    /// Their total size in bytes.
    #[serde(default)]
    pub backups_bytes: Option<u64>,
    /// The oldest one's time, UTC RFC 3339.
    #[serde(default)]
    pub oldest_backup: Option<String>,
}

/// (free, total) bytes of the file system holding `path` (or its nearest
/// existing ancestor); None when unknown. "Free" is what an unprivileged
/// user may still write.
pub fn free_space(path: &Path) -> Option<(u64, u64)> {
    let existing = path.ancestors().find(|p| p.as_os_str().is_empty() || p.exists())?;
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    let stats = fs4::statvfs(existing).ok()?;
    Some((stats.available_space(), stats.total_space()))
}


/// Removes the partial file on drop unless disarmed.
struct PartialGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Copy `from` into `to` in chunks, checking for cancel before each and
/// reporting bytes. Returns the bytes copied, None when cancelled.
///
/// `std::io::copy` between two files is done in the kernel on Linux
/// (`copy_file_range`: no user-space buffer, reflink where the file system
/// has it; `sendfile`/buffer fallbacks elsewhere), so a chunk of
/// [`COPY_CHUNK`] costs no more than one big copy yet keeps cancel responsive.
fn copy_file_chunks(from: &File, to: &mut File, control: &Control) -> std::io::Result<Option<u64>> {
    let mut total = 0u64;
    loop {
        if control.is_cancelled() {
            return Ok(None);
        }
        let n = std::io::copy(&mut from.take(COPY_CHUNK), to)?;
        if n == 0 {
            return Ok(Some(total));
        }
        total += n;
        control.advance(0, n);
    }
}

/// Bytes copied in the kernel between two cancellation checks.
const COPY_CHUNK: u64 = 64 << 20;

/// Copy `from` into `to` in chunks through a user-space buffer, checking for
/// cancel before each (tests: any reader/writer).
#[cfg(test)]
fn copy_chunks(mut from: impl Read, mut to: impl Write, control: &Control) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        if control.is_cancelled() {
            return Ok(None);
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(Some(total)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
        control.advance(0, n as u64);
    }
}

/// Rename that never replaces an existing file. On Unix a hard link is an
/// atomic "create if absent"; where links are unsupported (FAT, some shares)
/// and elsewhere, an existence check precedes the rename (runs on one
/// repository are serialised by its lock, so the window is not contended).
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.symlink_metadata().is_ok() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a file with this name already exists"));
    }
    #[cfg(unix)]
    match fs::hard_link(from, to) {
        Ok(()) => {
            // The partial name goes; if that fails, the guard retries.
            let _ = fs::remove_file(from);
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a file with this name already exists"))
        }
        Err(_) => {}
    }
    fs::rename(from, to)
}

/// Place one copy; the error names the destination.
///
/// With `link`, the archive (complete and flushed by its writer) is first
/// hard-linked as the `.partial` – no copy at all when the archive's
/// temporary file is on the destination's file system; any failure to link
/// falls back to the copy.
fn place_one(archive: &Path, size: u64, dir: &Path, file_name: &str, link: bool, control: &Control) -> Result<PathBuf> {
    control.check().map_err(|_| cancelled_in(dir))?;
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    if let Some((free, _)) = free_space(dir) {
        if free < size {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "not enough space in '{}': need {} ({size} bytes), have {} ({free} bytes)",
                    dir.display(),
                    crate::units::human_bytes(size),
                    crate::units::human_bytes(free)
                ),
            ));
        }
    }
    let final_path = dir.join(file_name);
    if final_path.symlink_metadata().is_ok() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("cannot create '{}': a backup with this name already exists", final_path.display()),
        ));
    }
    let partial = dir.join(format!("{file_name}{PARTIAL_SUFFIX}"));
    let source = File::open(archive).map_err(|e| Error::io("open", archive, e))?;
    // Declared before the file so the file is closed before the guard
    // removes it (Windows cannot delete an open file).
    let mut guard = PartialGuard { path: partial.clone(), armed: false };
    let linked = link && link_partial(archive, &partial);
    let out = if linked {
        guard.armed = true;
        let out = OpenOptions::new().write(true).open(&partial).map_err(|e| Error::io("open", &partial, e))?;
        let len = out.metadata().map_err(|e| Error::io("read", &partial, e))?.len();
        if len != size {
            return Err(Error::new(
                ErrorKind::Io,
                format!("'{}' changed while placing: {len} of {size} bytes", archive.display()),
            ));
        }
        control.advance(0, size);
        out
    } else {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| Error::io("create", &partial, e))?;
        guard.armed = true;
        let copied = copy_file_chunks(&source, &mut out, control).map_err(|e| Error::io("write", &partial, e))?;
        let Some(copied) = copied else { return Err(cancelled_in(dir)) };
        if copied != size {
            return Err(Error::new(
                ErrorKind::Io,
                format!("'{}' changed while copying: {copied} of {size} bytes", archive.display()),
            ));
        }
        out
    };
    drop(source);
    control.check().map_err(|_| cancelled_in(dir))?;
    out.sync_all().map_err(|e| Error::io("flush", &partial, e))?;
    drop(out);
    control.check().map_err(|_| cancelled_in(dir))?;
    rename_no_replace(&partial, &final_path).map_err(|e| Error::io("create", &final_path, e))?;
    guard.armed = false;
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    control.advance(1, 0);
    Ok(final_path)
}

/// Make `partial` a hard link to `archive`, with the permissions a copy
/// would get (the umask's default for a new file, not the temporary's 0600):
/// a file is created with `create_new` first (so someone else's partial is
/// never touched), its mode noted, then replaced by the link. False, with
/// nothing left behind, when any step fails (the caller copies instead).
fn link_partial(archive: &Path, partial: &Path) -> bool {
    let Ok(probe) = OpenOptions::new().write(true).create_new(true).open(partial) else { return false };
    let perms = probe.metadata().map(|m| m.permissions());
    drop(probe);
    let _ = fs::remove_file(partial);
    let Ok(perms) = perms else { return false };
    // Fails when the name exists again, like `create_new`.
    if fs::hard_link(archive, partial).is_err() {
        return false;
    }
    if fs::set_permissions(partial, perms).is_err() {
        let _ = fs::remove_file(partial);
        return false;
    }
    true
}

fn cancelled_in(dir: &Path) -> Error {
    Error::new(ErrorKind::Cancelled, format!("cancelled while placing in '{}'", dir.display()))
}

/// A plain file name: no separators, not `.`/`..`, not empty.
fn check_file_name(file_name: &str) -> Result<()> {
    let plain = !file_name.is_empty()
        && file_name != "."
        && file_name != ".."
        && !file_name.contains(['/', '\\', '\0'])
        && Path::new(file_name).file_name() == Some(std::ffi::OsStr::new(file_name));
    if plain {
        Ok(())
    } else {
        Err(Error::invalid(format!("file_name: '{file_name}' is not a plain file name")))
    }
}

/// Copy `archive` to `<dir>/<file_name>` for every dir, concurrently, via
/// `.partial` + flush + rename; creates missing dirs. One destination on the
/// archive's file system gets it by hard link (the caller's archive must be
/// complete, flushed and never modified again: a temporary it removes). One result per dir, in
/// order. On cancel, every partial is removed.
pub fn place(archive: &Path, dirs: &[PathBuf], file_name: &str, control: &Control) -> Vec<Result<PathBuf>> {
    let size = check_file_name(file_name)
        .and_then(|()| fs::metadata(archive).map_err(|e| Error::io("read", archive, e)))
        .map(|m| m.len());
    let size = match size {
        Ok(size) => size,
        Err(e) => return dirs.iter().map(|_| Err(Error::new(e.kind, e.message.clone()))).collect(),
    };
    let link = link_target(archive, dirs);
    std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| s.spawn(move || place_one(archive, size, dir, file_name, link == Some(i), control)))
            .collect();
        handles
            .into_iter()
            .zip(dirs)
            .map(|(h, dir)| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(ErrorKind::Io, format!("placing in '{}' failed unexpectedly", dir.display())))
                })
            })
            .collect()
    })
}

/// The destination that gets the archive by hard link instead of a copy:
/// the first on the archive's file system (Unix: same device; elsewhere the
/// first destination, tried, with the copy as fallback). Only one: every
/// other destination gets its own, independent copy.
fn link_target(archive: &Path, dirs: &[PathBuf]) -> Option<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let dev = fs::metadata(archive).ok()?.dev();
        dirs.iter().position(|d| {
            d.ancestors().find_map(|a| fs::metadata(a).ok()).is_some_and(|m| m.dev() == dev)
        })
    }
    #[cfg(not(unix))]
    {
        let _ = archive;
        (!dirs.is_empty()).then_some(0)
    }
}

/// Remove `<repo>_backup_*.zip.partial` leftovers of a killed run in `dir`;
/// returns what was removed. Touches nothing else.
pub fn clean_stale_partials(dir: &Path, repo: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(backup_name) = name.strip_suffix(PARTIAL_SUFFIX) else { continue };
        if crate::catalog::parse_backup_name(backup_name, repo).is_none() {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        if fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn archive(dir: &Path, len: usize) -> PathBuf {
        let p = dir.join("src.zip");
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        fs::write(&p, data).unwrap();
        p
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = match fs::read_dir(dir) {
            Ok(rd) => rd.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    const NAME: &str = "repo_backup_2024-06-15_12-00-00.zip";

    #[test]
    fn places_everywhere_and_creates_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 3 * CHUNK + 17);
        let dirs = vec![tmp.path().join("a/repo"), tmp.path().join("b/deep/repo")];
        let control = Control::default();
        let got = place(&src, &dirs, NAME, &control);
        for (r, d) in got.iter().zip(&dirs) {
            let p = r.as_ref().unwrap();
            assert_eq!(p, &d.join(NAME));
            assert_eq!(fs::read(p).unwrap(), fs::read(&src).unwrap());
            assert_eq!(names(d), vec![NAME.to_string()]);
        }
        let s = control.snapshot();
        assert_eq!((s.files_done, s.bytes_done), (2, 2 * (3 * CHUNK as u64 + 17)));
    }

    /// One destination on the archive's file system gets a hard link, the
    /// others a copy; all end up with the same content and mode.
    #[cfg(unix)]
    #[test]
    fn linked_and_copied_destinations_look_the_same() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 1000);
        fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let got = place(&src, &dirs, NAME, &Control::default());
        let (a, b) = (got[0].as_ref().unwrap(), got[1].as_ref().unwrap());
        let (ma, mb) = (fs::metadata(a).unwrap(), fs::metadata(b).unwrap());
        assert_eq!(ma.ino(), fs::metadata(&src).unwrap().ino(), "the first is a link");
        assert_ne!(mb.ino(), ma.ino(), "the second is its own copy");
        assert_eq!(ma.permissions().mode(), mb.permissions().mode());
        assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
        assert_eq!(names(&dirs[0]), vec![NAME.to_string()]);
    }

    #[test]
    fn bad_destinations_fail_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 1000);
        fs::write(tmp.path().join("file.txt"), b"x").unwrap();
        let dirs = vec![
            tmp.path().join("ok1"),
            tmp.path().join("file.txt/sub"),
            // Under a device, or on a volume that does not exist.
            PathBuf::from(if cfg!(windows) {
                r"\\?\BackupRepoNoSuchVolume\sub"
            } else {
                "/dev/null/backup-repo-test/sub"
            }),
            tmp.path().join("ok2"),
        ];
        let got = place(&src, &dirs, NAME, &Control::default());
        assert!(got[0].is_ok() && got[3].is_ok());
        for (i, r) in got.iter().enumerate().skip(1).take(2) {
            let e = r.as_ref().unwrap_err();
            assert!(e.message.contains(&dirs[i].display().to_string()), "{}", e.message);
        }
        assert_eq!(names(&tmp.path().join("ok2")), vec![NAME.to_string()]);
    }

    #[test]
    fn never_overwrites_a_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 10);
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join(NAME), b"precious").unwrap();
        let got = place(&src, std::slice::from_ref(&d), NAME, &Control::default());
        assert!(got[0].as_ref().unwrap_err().message.contains("already exists"));
        assert_eq!(fs::read(d.join(NAME)).unwrap(), b"precious");
        assert_eq!(names(&d), vec![NAME.to_string()]);
    }

    #[test]
    fn rename_refuses_existing_target() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        assert_eq!(rename_no_replace(&a, &b).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        let c = tmp.path().join("c");
        rename_no_replace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"new");
    }

    #[test]
    fn existing_partial_is_not_ours_to_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 10);
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        let partial = d.join(format!("{NAME}{PARTIAL_SUFFIX}"));
        fs::write(&partial, b"someone else's").unwrap();
        let got = place(&src, std::slice::from_ref(&d), NAME, &Control::default());
        assert!(got[0].is_err());
        assert_eq!(fs::read(&partial).unwrap(), b"someone else's");
    }

    #[test]
    fn cancel_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 2 * CHUNK);
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let control = Control::default();
        control.cancel();
        let got = place(&src, &dirs, NAME, &control);
        for (r, d) in got.iter().zip(&dirs) {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Cancelled);
            assert!(e.message.contains(&d.display().to_string()));
            assert!(names(d).is_empty(), "{:?}", names(d));
        }
    }

    /// A reader that cancels the operation after its first chunk.
    struct CancelAfterFirst<'a>(&'a Control, bool);
    impl Read for CancelAfterFirst<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 {
                self.0.cancel();
            }
            self.1 = true;
            buf.fill(7);
            Ok(buf.len())
        }
    }

    #[test]
    fn cancel_mid_copy_stops_between_chunks() {
        let control = Control::default();
        let mut out = Vec::new();
        let got = copy_chunks(CancelAfterFirst(&control, false), &mut out, &control).unwrap();
        assert_eq!(got, None);
        // The second read cancelled; its chunk is written, no third is read.
        assert_eq!(out.len(), 2 * CHUNK);
    }

    #[test]
    fn guard_removes_partial_on_error_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.partial");
        fs::write(&p, b"x").unwrap();
        drop(PartialGuard { path: p.clone(), armed: true });
        assert!(!p.exists());
        fs::write(&p, b"x").unwrap();
        drop(PartialGuard { path: p.clone(), armed: false });
        assert!(p.exists());
    }

    #[test]
    fn not_enough_space_fails_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let (free, _) = free_space(tmp.path()).unwrap();
        // A sparse file larger than the free space: nothing is read or written.
        let src = tmp.path().join("huge.zip");
        let f = File::create(&src).unwrap();
        if f.set_len(free.saturating_add(1 << 30)).is_err() {
            return; // file system without sparse files
        }
        let d = tmp.path().join("d");
        let got = place(&src, std::slice::from_ref(&d), NAME, &Control::default());
        let e = got[0].as_ref().unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoSpace);
        assert!(e.message.contains("not enough space") && e.message.contains("need"), "{}", e.message);
        assert!(names(&d).is_empty());
    }

    #[test]
    fn free_space_walks_up_to_an_existing_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        let (free, total) = free_space(&tmp.path().join("not/yet/there")).unwrap();
        assert!(total > 0 && free <= total);
        assert!(free_space(Path::new("relative/missing")).is_some());
    }

    #[rstest]
    #[case("")]
    #[case("..")]
    #[case("a/b.zip")]
    #[case("a\\b.zip")]
    fn rejects_non_plain_names(#[case] name: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let src = archive(tmp.path(), 10);
        let got = place(&src, &[tmp.path().join("d")], name, &Control::default());
        assert_eq!(got[0].as_ref().unwrap_err().kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn missing_archive_fails_every_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let got = place(
            &tmp.path().join("nope.zip"),
            &[tmp.path().join("a"), tmp.path().join("b")],
            NAME,
            &Control::default(),
        );
        assert!(got.iter().all(|r| r.as_ref().unwrap_err().kind == ErrorKind::NotFound));
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn cleans_only_our_partials() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ours = ["repo_backup_2024-06-15_12-00-00.zip.partial", "repo_backup_2023-01-01_00-00-00.zip.partial"];
        let keep = [
            "other.zip.partial",
            "notes.txt",
            "foo_backup_bad.zip.partial",
            "repo_backup_bad.zip.partial",
            "repo_backup_2024-06-15_12-00-00.zip",
            "other_backup_2024-06-15_12-00-00.zip.partial",
            "repo_backup_2024-06-15_12-00-00.zip.partial.partial",
        ];
        for n in ours.iter().chain(keep.iter()) {
            fs::write(d.join(n), b"x").unwrap();
        }
        fs::create_dir(d.join("repo_backup_2022-01-01_00-00-00.zip.partial")).unwrap();
        let removed = clean_stale_partials(d, "repo");
        let mut want: Vec<PathBuf> = ours.iter().map(|n| d.join(n)).collect();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
        left.push("repo_backup_2022-01-01_00-00-00.zip.partial".into());
        left.sort();
        assert_eq!(names(d), left);
        assert!(clean_stale_partials(&d.join("missing"), "repo").is_empty());
    }

    #[test]
    fn human_sizes() {
    }
}
