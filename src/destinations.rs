//! Fan-out: the one archive written into every destination at once, as it
//! is produced (each by its own thread, see [`crate::fanout`]). Each copy is
//! written as `<name>.partial`, flushed and renamed, so a crash, a kill or a
//! full disk never leaves a file that looks like a backup. A failure in one
//! destination never stops the others.
//!
//! Rules:
//! - Free space is checked before a byte is written, against the expected
//!   size when one is known (the previous backup's); a disk that fills while
//!   writing fails that destination with the same "not enough space".
//! - A `.partial` is created with `create_new` and removed on any error or
//!   cancel (a drop guard); a partial we did not create is never removed here.
//! - The final name is never overwritten: an existing backup fails the
//!   destination instead.
//! - Progress: the bytes are the archive writer's; `files_done` grows by one
//!   per destination named; the caller enters `Phase::Placing` to finish.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::fanout::Fanout;

use crate::progress::Control;
use crate::{Error, ErrorKind, Result};

/// Suffix of a copy being written. Only names shaped like our backups plus
/// this suffix are ever cleaned up.
pub const PARTIAL_SUFFIX: &str = ".partial";

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

/// One destination's copy: where it goes, or why it cannot.
struct Slot {
    dir: PathBuf,
    state: Result<Opened>,
}

struct Opened {
    partial: PathBuf,
    final_path: PathBuf,
    guard: PartialGuard,
}

/// The copies of one backup, written at once into every destination as the
/// archive is produced (see [`crate::fanout`]): `archive::write_archive_to`
/// writes into [`Placement::sink`], then [`Placement::finish`] flushes and
/// names each copy. Dropped unfinished (error, cancel), it removes every
/// partial it created.
pub struct Placement {
    // Declared first so its files are closed before the guards remove them
    // (Windows cannot delete an open file).
    sink: Fanout,
    slots: Vec<Slot>,
}

/// Start a copy of the backup `file_name` in every dir: create the folder,
/// check its free space against `expected` bytes (when known), create
/// `<file_name>.partial` (never someone else's, never over a backup). A dir
/// that fails here fails alone; [`Placement::finish`] reports it.
pub fn open(dirs: &[PathBuf], file_name: &str, expected: Option<u64>) -> Placement {
    let mut targets = Vec::new();
    let slots = dirs
        .iter()
        .map(|dir| {
            let state =
                check_file_name(file_name).and_then(|()| open_one(dir, file_name, expected)).map(|(target, opened)| {
                    targets.push(target);
                    opened
                });
            Slot { dir: dir.clone(), state }
        })
        .collect();
    Placement { sink: Fanout::new(targets), slots }
}

fn open_one(dir: &Path, file_name: &str, expected: Option<u64>) -> Result<(crate::fanout::Target, Opened)> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    if let (Some(need), Some((free, _))) = (expected, free_space(dir)) {
        if free < need {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "not enough space in '{}': need {} ({need} bytes), have {} ({free} bytes)",
                    dir.display(),
                    crate::units::human_bytes(need),
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
    let target = crate::fanout::open(&partial, true).map_err(|e| Error::io("create", &partial, e))?;
    let guard = PartialGuard { path: partial.clone(), armed: true };
    Ok((target, Opened { partial, final_path, guard }))
}

impl Placement {
    /// Where the archive is written.
    pub fn sink(&mut self) -> &mut Fanout {
        &mut self.sink
    }

    /// Whether any destination can still take the backup.
    pub fn any_open(&self) -> bool {
        self.slots.iter().any(|s| s.state.is_ok())
    }

    /// Flush every copy to its disk and give it its final name (never over
    /// an existing file). One result per dir, in order. Cancel is looked at
    /// once, when every copy is written: then either no destination gets the
    /// backup or every one that can does, never some of them.
    pub fn finish(self, control: &Control) -> Vec<Result<PathBuf>> {
        let Placement { sink, slots } = self;
        let mut written = sink.finish().into_iter();
        let cancelled = control.is_cancelled();
        slots
            .into_iter()
            .map(|slot| {
                let opened = slot.state?;
                let file = written.next().expect("one result per opened destination");
                let placed = file.map_err(|e| write_error(&slot.dir, &opened.partial, e)).and_then(|file| {
                    drop(file);
                    if cancelled {
                        return Err(cancelled_in(&slot.dir));
                    }
                    rename_no_replace(&opened.partial, &opened.final_path)
                        .map_err(|e| Error::io("create", &opened.final_path, e))
                });
                let Opened { final_path, mut guard, .. } = opened;
                placed?;
                guard.armed = false;
                #[cfg(unix)]
                if let Ok(d) = File::open(&slot.dir) {
                    let _ = d.sync_all();
                }
                control.advance(1, 0);
                Ok(final_path)
            })
            .collect()
    }
}

/// A write that failed; a full disk says so in the words of the up-front check.
fn write_error(dir: &Path, partial: &Path, e: std::io::Error) -> Error {
    let err = Error::io("write", partial, e);
    if err.kind == ErrorKind::NoSpace {
        return Error::new(ErrorKind::NoSpace, format!("not enough space in '{}': {}", dir.display(), err.message));
    }
    err
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

/// Remove `<repo>_backup_*.zip.partial` leftovers of a killed run in `dir`;
/// returns what was removed. Touches nothing else.
pub fn clean_stale_partials(listing: &crate::catalog::Listing, repo: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for name in listing.file_names() {
        let Some(backup_name) = name.strip_suffix(PARTIAL_SUFFIX) else { continue };
        if crate::catalog::parse_backup_name(backup_name, repo).is_none() {
            continue;
        }
        let path = listing.dir().join(name);
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

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Write `data` as the backup `name` into every dir, the way a run does.
    fn place(
        data: &[u8],
        dirs: &[PathBuf],
        name: &str,
        expected: Option<u64>,
        control: &Control,
    ) -> Vec<Result<PathBuf>> {
        let mut p = open(dirs, name, expected);
        std::io::Write::write_all(p.sink(), data).unwrap_or_else(|_| assert!(!p.sink().any_alive()));
        p.finish(control)
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
        let data = bytes(3 * (2 << 20) + 17);
        let dirs = vec![tmp.path().join("a/repo"), tmp.path().join("b/deep/repo")];
        let control = Control::default();
        let got = place(&data, &dirs, NAME, None, &control);
        for (r, d) in got.iter().zip(&dirs) {
            let p = r.as_ref().unwrap();
            assert_eq!(p, &d.join(NAME));
            assert_eq!(fs::read(p).unwrap(), data);
            assert_eq!(names(d), vec![NAME.to_string()]);
        }
        assert_eq!(control.snapshot().files_done, 2);
    }

    /// Every copy is its own file, with the permissions a new file gets.
    #[cfg(unix)]
    #[test]
    fn copies_are_independent_files() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let got = place(&bytes(1000), &dirs, NAME, None, &Control::default());
        let (a, b) = (got[0].as_ref().unwrap(), got[1].as_ref().unwrap());
        let (ma, mb) = (fs::metadata(a).unwrap(), fs::metadata(b).unwrap());
        assert_ne!(mb.ino(), ma.ino());
        assert_eq!(ma.nlink(), 1);
        let fresh = tmp.path().join("fresh");
        fs::write(&fresh, b"").unwrap();
        assert_eq!(ma.mode(), fs::metadata(&fresh).unwrap().mode());
        assert_eq!(ma.mode(), mb.mode());
    }

    #[test]
    fn bad_destinations_fail_alone() {
        let tmp = tempfile::tempdir().unwrap();
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
        let got = place(&bytes(1000), &dirs, NAME, None, &Control::default());
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
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join(NAME), b"precious").unwrap();
        let got = place(&bytes(10), std::slice::from_ref(&d), NAME, None, &Control::default());
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
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        let partial = d.join(format!("{NAME}{PARTIAL_SUFFIX}"));
        fs::write(&partial, b"someone else's").unwrap();
        let got = place(&bytes(10), std::slice::from_ref(&d), NAME, None, &Control::default());
        assert!(got[0].is_err());
        assert_eq!(fs::read(&partial).unwrap(), b"someone else's");
    }

    #[test]
    fn cancel_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let control = Control::default();
        control.cancel();
        let got = place(&bytes(5 << 20), &dirs, NAME, None, &control);
        for (r, d) in got.iter().zip(&dirs) {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Cancelled);
            assert!(e.message.contains(&d.display().to_string()));
            assert!(names(d).is_empty(), "{:?}", names(d));
        }
    }

    /// Dropped unfinished (an error or a cancel while writing): every
    /// partial goes, nothing else does.
    #[test]
    fn abandoned_placement_removes_its_partials() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        fs::create_dir(&dirs[0]).unwrap();
        fs::write(dirs[0].join("mine.txt"), b"x").unwrap();
        let mut p = open(&dirs, NAME, None);
        std::io::Write::write_all(p.sink(), &bytes(5 << 20)).unwrap();
        assert_eq!(names(&dirs[1]), vec![format!("{NAME}{PARTIAL_SUFFIX}")]);
        drop(p);
        assert_eq!(names(&dirs[0]), vec!["mine.txt".to_string()]);
        assert!(names(&dirs[1]).is_empty());
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
        let d = tmp.path().join("d");
        let got =
            place(b"small", std::slice::from_ref(&d), NAME, Some(free.saturating_add(1 << 30)), &Control::default());
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
        let got = place(&bytes(10), &[tmp.path().join("d")], name, None, &Control::default());
        assert_eq!(got[0].as_ref().unwrap_err().kind, ErrorKind::InvalidArgument);
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
        let removed = clean_stale_partials(&crate::catalog::Listing::read(d), "repo");
        let mut want: Vec<PathBuf> = ours.iter().map(|n| d.join(n)).collect();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
        left.push("repo_backup_2022-01-01_00-00-00.zip.partial".into());
        left.sort();
        assert_eq!(names(d), left);
        assert!(clean_stale_partials(&crate::catalog::Listing::read(&d.join("missing")), "repo").is_empty());
    }

    #[test]
    fn human_sizes() {}
}
