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
//! - A copy being written is `<name>.<run id>.partial`: created with
//!   `create_new` and removed on any error or cancel (a drop guard). Another
//!   run's partial is removed only when that run is provably abandoned (see
//!   [`crate::identity::run_is_abandoned`]); a file named like the partials
//!   of before 0.2 (`<name>.partial`, no run id) is never removed.
//! - The final name is never overwritten: when another machine took it
//!   first, the copy takes the next free name of that second.
//! - One run per source at a time in each destination, across machines: a
//!   lock file there names the run ([`DestinationLock`]).
//! - Progress: the bytes are the archive writer's; `files_done` grows by one
//!   per destination named; the caller enters `Phase::Placing` to finish.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::catalog::NewBackupName;
use crate::fanout::Fanout;
use crate::identity::RunId;

use crate::progress::Control;
use crate::{Error, ErrorKind, Result};

/// Suffix of a copy being written, after the run id. Only names shaped like
/// our backups plus a run id and this suffix are ever cleaned up.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// `<backup name>.<run id>.partial`.
pub fn partial_name(file_name: &str, run: &RunId) -> String {
    format!("{file_name}.{run}{PARTIAL_SUFFIX}")
}

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
    name: NewBackupName,
    guard: PartialGuard,
    /// A copy not written by the fan-out but cloned whole from the copy of
    /// the slot at this index once that is written (same file system): the
    /// copy's open (empty) file.
    follows: Option<(usize, File)>,
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
    /// What `-Verbose` says about block cloning (where it was not used, and why).
    notes: Vec<String>,
}

/// Start a copy of the backup `name` in every dir: create the folder, check
/// its free space against `expected` bytes (when known), create
/// `<name>.<run>.partial` (never someone else's, never over a backup). A
/// dir that fails here fails alone; [`Placement::finish`] reports it.
///
/// Block cloning, where the file system offers it (see
/// [`crate::fanout::reflink`]); every failure falls back to writing:
/// - `previous[i]` (when given) is dir `i`'s copy of the backup the writer
///   reuses entries from: unchanged stretches are cloned from it instead
///   of written, when every written copy has one that clones.
/// - A dir on the same file system (and mount) as an earlier one gets no
///   stream of its own: its copy is cloned whole from that one's once
///   written (`FICLONE`), so three destinations on one disk cost one.
pub fn open(
    dirs: &[PathBuf],
    name: &NewBackupName,
    run: &RunId,
    expected: Option<u64>,
    previous: &[Option<PathBuf>],
) -> Placement {
    let mut targets: Vec<crate::fanout::Target> = Vec::new();
    let mut notes = Vec::new();
    // Destinations where cloning was tried and failed, with why (said once).
    let mut not_cloned: Vec<String> = Vec::new();
    // Per device: the first slot opened there, and its target's index.
    let mut leaders: Vec<(u64, usize, usize)> = Vec::new();
    let file_name = name.file_name();
    let slots = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let state = check_file_name(&file_name).and_then(|()| open_one(dir, name, run, expected)).map(
                |(mut target, mut opened)| {
                    let dev = device_of(dir);
                    let leader = dev.and_then(|d| leaders.iter().find(|l| l.0 == d).copied());
                    if let Some((_, slot, t)) = leader {
                        match crate::fanout::reflink::clone_file(targets[t].file(), target.file()) {
                            Ok(()) => {
                                notes.push(format!(
                                    "'{}' is cloned whole from '{}' (same file system: shared blocks)",
                                    dir.display(),
                                    dirs[slot].display()
                                ));
                                opened.follows = Some((slot, target.into_file()));
                                return opened;
                            }
                            Err(e) => not_cloned.push(format!("'{}' ({e})", dir.display())),
                        }
                    }
                    if let Some(prev) = previous.get(i).and_then(Option::as_ref) {
                        let cloning = File::open(prev).and_then(|f| target.clone_from(f));
                        if let Err(e) = cloning {
                            let said = format!("'{}'", dir.display());
                            if !not_cloned.iter().any(|n| n.starts_with(&said)) {
                                not_cloned.push(format!("{said} ({e})"));
                            }
                        }
                    }
                    if let (Some(d), None) = (dev, leader) {
                        leaders.push((d, i, targets.len()));
                    }
                    targets.push(target);
                    opened
                },
            );
            Slot { dir: dir.clone(), state }
        })
        .collect();
    if !not_cloned.is_empty() {
        notes.push(format!("block cloning not available, written instead: {}", not_cloned.join(", ")));
    }
    Placement { sink: Fanout::new(targets), slots, notes }
}

/// The device (file system) of `dir`, where the OS says.
fn device_of(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir).ok().map(|m| m.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

fn open_one(
    dir: &Path,
    name: &NewBackupName,
    run: &RunId,
    expected: Option<u64>,
) -> Result<(crate::fanout::Target, Opened)> {
    let file_name = name.file_name();
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
    let partial = dir.join(partial_name(&file_name, run));
    let target = crate::fanout::open(&partial, true).map_err(|e| Error::io("create", &partial, e))?;
    let guard = PartialGuard { path: partial.clone(), armed: true };
    Ok((target, Opened { partial, name: name.clone(), guard, follows: None }))
}

/// Give the written copy `partial` the name `name` or, when another run
/// (another machine on a share) has taken it meanwhile, the next free name
/// of that second. Never replaces a file.
fn place_as(partial: &Path, dir: &Path, name: &NewBackupName) -> Result<PathBuf> {
    let mut name = name.clone();
    loop {
        let final_path = dir.join(name.file_name());
        match rename_no_replace(partial, &final_path) {
            Ok(()) => return Ok(final_path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match name.following() {
                Some(next) => name = next,
                None => return Err(Error::io("create", &final_path, e)),
            },
            Err(e) => return Err(Error::io("create", &final_path, e)),
        }
    }
}

impl Placement {
    /// Where the archive is written.
    pub fn sink(&mut self) -> &mut Fanout {
        &mut self.sink
    }

    /// What `-Verbose` should say about block cloning: where it was not
    /// used and why (each once). Complete after the archive is written.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        for (path, why) in self.sink.clone_failures() {
            notes.push(format!("block cloning failed in '{}' ({why}): the rest was copied", path.display()));
        }
        notes
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
        let Placement { sink, slots, .. } = self;
        let mut written = sink.finish().into_iter();
        let cancelled = control.is_cancelled();
        // The written copies, kept open for the copies cloned from them.
        let mut files: Vec<Option<File>> = Vec::new();
        slots
            .into_iter()
            .map(|slot| {
                files.push(None);
                let mut opened = slot.state?;
                let file = match opened.follows.take() {
                    Some((leader, copy)) => clone_whole(files[leader].as_ref(), copy),
                    None => written.next().expect("one result per written destination"),
                };
                let placed = file.map_err(|e| write_error(&slot.dir, &opened.partial, e)).and_then(|file| {
                    if let Some(kept) = files.last_mut() {
                        *kept = Some(file);
                    }
                    if cancelled {
                        return Err(cancelled_in(&slot.dir));
                    }
                    place_as(&opened.partial, &slot.dir, &opened.name)
                });
                let Opened { mut guard, .. } = opened;
                let final_path = placed?;
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

/// The copy `copy` (empty, open) made from the written copy `from` of the
/// same file system: cloned whole, else copied; flushed to its disk.
fn clone_whole(from: Option<&File>, copy: File) -> std::io::Result<File> {
    let from = from.ok_or_else(|| std::io::Error::other("the copy it is cloned from could not be written"))?;
    if crate::fanout::reflink::clone_file(from, &copy).is_err() {
        copy.set_len(0)?;
        let (mut src, mut dst) = (from, &copy);
        std::io::Seek::seek(&mut src, std::io::SeekFrom::Start(0))?;
        std::io::Seek::seek(&mut dst, std::io::SeekFrom::Start(0))?;
        std::io::copy(&mut src, &mut dst)?;
    }
    copy.sync_all()?;
    Ok(copy)
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

/// Remove the partial copies of `repo`'s backups that runs provably
/// abandoned (killed, crashed): `<repo>_backup_<stamp>.zip.<run id>.partial`
/// whose run was on `host` and whose process is gone, or which has not
/// changed for [`crate::identity::ABANDONED_AFTER`]. Returns what was
/// removed. Touches nothing else: not a live run's partial (another machine's
/// on a share), not a file without a run id.
pub fn clean_stale_partials(listing: &crate::catalog::Listing, repo: &str, host: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for name in listing.file_names() {
        let Some(run) = abandoned_partial_run(name, repo) else { continue };
        let path = listing.dir().join(name);
        let changed = fs::symlink_metadata(&path).and_then(|m| m.modified()).ok();
        if crate::identity::run_is_abandoned(&run, host, changed) && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// The run id of a partial copy of one of `repo`'s backups, or None when
/// `name` is not one. Pure.
fn abandoned_partial_run(name: &str, repo: &str) -> Option<RunId> {
    let rest = name.strip_suffix(PARTIAL_SUFFIX)?;
    let (backup_name, run) = rest.rsplit_once('.').filter(|(b, _)| b.ends_with(".zip"))?;
    crate::catalog::parse_backup_name(backup_name, repo)?;
    RunId::parse(run)
}

/// One run's hold on a source's backups in one destination folder, across
/// machines: the file `.backup-repo-<source id>.lock` there, created
/// atomically (`create_new`), naming the run, its host, process and start.
/// Removed when dropped, if it is still ours. A lock left by a run that is
/// provably abandoned is taken over.
pub struct DestinationLock {
    path: PathBuf,
    run: String,
}

/// What a lock file says.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct LockRecord {
    run_id: String,
    host: String,
    pid: u32,
    started_utc: String,
    source: String,
}

/// A lock's file name for source `source_id`.
pub fn lock_file_name(source_id: &str) -> String {
    format!(".backup-repo-{source_id}.lock")
}

impl DestinationLock {
    /// Take the lock of `source` in `dir` (created when missing) for `run`.
    /// Busy, naming the holder, when a live run has it.
    pub fn acquire(
        dir: &Path,
        source: &crate::identity::SourceIdentity,
        run: &RunId,
        started_utc: jiff::Timestamp,
    ) -> Result<DestinationLock> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
        let path = dir.join(lock_file_name(&source.id));
        let record = LockRecord {
            run_id: run.to_string(),
            host: source.host.clone(),
            pid: run.pid,
            started_utc: started_utc.to_string(),
            source: source.path.clone(),
        };
        let text = serde_json::to_vec_pretty(&record).unwrap_or_default();
        // Twice at most: once more after taking over an abandoned lock.
        for _ in 0..2 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, &text).map_err(|e| Error::io("write", &path, e))?;
                    let _ = f.sync_all();
                    return Ok(DestinationLock { path, run: record.run_id });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = fs::read(&path).ok().and_then(|b| serde_json::from_slice::<LockRecord>(&b).ok());
                    let changed = fs::symlink_metadata(&path).and_then(|m| m.modified()).ok();
                    let abandoned = match held.as_ref().and_then(|h| RunId::parse(&h.run_id)) {
                        Some(holder) => crate::identity::run_is_abandoned(&holder, &source.host, changed),
                        // Being written, or not ours to read: only its age tells.
                        None => crate::identity::run_is_abandoned(&RunId::new(""), "", changed),
                    };
                    if !abandoned {
                        return Err(busy(dir, held.as_ref()));
                    }
                    take_over(&path, run, held.as_ref())?;
                }
                Err(e) => return Err(Error::io("create", &path, e)),
            }
        }
        Err(busy(dir, None))
    }
}

/// Move an abandoned lock out of the way: renamed to a name of this run's
/// first, so that of two runs taking it over at once only one removes it.
fn take_over(path: &Path, run: &RunId, judged: Option<&LockRecord>) -> Result<()> {
    let aside =
        path.with_file_name(format!("{}.{run}.abandoned", path.file_name().unwrap_or_default().to_string_lossy()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        // Another run took it over first; try again.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("take over", path, e)),
    }
    let moved = fs::read(&aside).ok().and_then(|b| serde_json::from_slice::<LockRecord>(&b).ok());
    if moved.as_ref() == judged {
        let _ = fs::remove_file(&aside);
        return Ok(());
    }
    // What we moved is a newer run's lock: put it back, never over one.
    let _ = rename_no_replace(&aside, path);
    Err(busy(path.parent().unwrap_or(path), moved.as_ref()))
}

fn busy(dir: &Path, held: Option<&LockRecord>) -> Error {
    let who = match held {
        Some(h) => format!("host '{}', process {}, since {}", h.host, h.pid, h.started_utc),
        None => "a run that is starting".to_string(),
    };
    Error::new(ErrorKind::Busy, format!("another backup of this source is running in '{}' ({who})", dir.display()))
}

impl Drop for DestinationLock {
    fn drop(&mut self) {
        let still_ours = fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<LockRecord>(&b).ok())
            .is_some_and(|h| h.run_id == self.run);
        if still_ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut p = open(dirs, &new_name(name), &RunId::new("pc"), expected, &[]);
        std::io::Write::write_all(p.sink(), data).unwrap_or_else(|_| assert!(!p.sink().any_alive()));
        p.finish(control)
    }

    /// The new-backup name `name` (a name of a backup of `repo`).
    fn new_name(name: &str) -> NewBackupName {
        let at = crate::catalog::parse_backup_name(name, "repo").expect("a backup name of repo");
        crate::catalog::next_backup("repo", at, [])
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
        // Another machine on a share took the name meanwhile (and then _2):
        // the copy takes the next free name of that second.
        let second = NAME.replace(".zip", "_2.zip");
        fs::write(d.join(&second), b"theirs").unwrap();
        let got = place(&bytes(10), std::slice::from_ref(&d), NAME, None, &Control::default());
        let third = NAME.replace(".zip", "_3.zip");
        assert_eq!(got[0].as_ref().unwrap(), &d.join(&third));
        assert_eq!(fs::read(d.join(NAME)).unwrap(), b"precious");
        assert_eq!(fs::read(d.join(&second)).unwrap(), b"theirs");
        assert_eq!(names(&d), vec![NAME.to_string(), second, third]);
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
        assert_eq!(got[0].as_ref().unwrap(), &d.join(NAME));
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
        let run = RunId::new("pc");
        let mut p = open(&dirs, &new_name(NAME), &run, None, &[]);
        std::io::Write::write_all(p.sink(), &bytes(5 << 20)).unwrap();
        assert_eq!(names(&dirs[1]), vec![partial_name(NAME, &run)]);
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

    #[test]
    fn cleans_only_partials_of_runs_proved_abandoned() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let host = "pc1";
        let run = |host: &str, pid: u32| RunId { host: host.into(), pid, nonce: "0123abcd".into() };
        // A process of this host that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let abandoned = [
            partial_name("repo_backup_2024-06-15_12-00-00.zip", &run(host, dead)),
            partial_name("repo_backup_2023-01-01_00-00-00_2.zip", &run(host, dead)),
        ];
        let keep = [
            // A live run of this host (this process), and another machine's.
            partial_name("repo_backup_2024-06-15_12-00-00.zip", &run(host, std::process::id())),
            partial_name("repo_backup_2024-06-15_12-00-01.zip", &run("pc2", dead)),
            // Before run ids, or a user's file named like one: never ours to remove.
            "repo_backup_2024-06-15_12-00-00.zip.partial".into(),
            "other.zip.partial".into(),
            "notes.txt".into(),
            "repo_backup_bad.zip.x~1~0123abcd.partial".into(),
            "repo_backup_2024-06-15_12-00-00.zip".into(),
            partial_name("other_backup_2024-06-15_12-00-00.zip", &run(host, dead)),
            format!("{}.partial", partial_name("repo_backup_2024-06-15_12-00-00.zip", &run(host, dead))),
        ];
        for n in abandoned.iter().chain(keep.iter()) {
            fs::write(d.join(n), b"x").unwrap();
        }
        let folder = partial_name("repo_backup_2022-01-01_00-00-00.zip", &run(host, dead));
        fs::create_dir(d.join(&folder)).unwrap();
        let removed = clean_stale_partials(&crate::catalog::Listing::read(d), "repo", host);
        let mut want: Vec<PathBuf> = abandoned.iter().map(|n| d.join(n)).collect();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = keep.to_vec();
        left.push(folder);
        left.sort();
        assert_eq!(names(d), left);

        // Another machine's partial is abandoned once it has not changed for a day.
        let other = d.join(&keep[1]);
        let old = filetime::FileTime::from_system_time(
            std::time::SystemTime::now() - crate::identity::ABANDONED_AFTER - std::time::Duration::from_secs(60),
        );
        filetime::set_file_mtime(&other, old).unwrap();
        assert_eq!(clean_stale_partials(&crate::catalog::Listing::read(d), "repo", host), vec![other]);
        assert!(clean_stale_partials(&crate::catalog::Listing::read(&d.join("missing")), "repo", host).is_empty());
    }

    fn source(path: &str, host: &str) -> crate::identity::SourceIdentity {
        crate::identity::SourceIdentity::new(host, Path::new(path))
    }

    #[test]
    fn a_destination_lock_is_held_by_one_run_and_taken_over_only_when_abandoned() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("repo");
        let now = jiff::Timestamp::now();
        let src = source("/src/app", "pc1");
        let first = DestinationLock::acquire(&d, &src, &RunId::new("pc1"), now).unwrap();
        let lock_file = d.join(lock_file_name(&src.id));
        let held: LockRecord = serde_json::from_slice(&fs::read(&lock_file).unwrap()).unwrap();
        assert_eq!((held.host.as_str(), held.pid, held.source.as_str()), ("pc1", std::process::id(), "/src/app"));
        // A second run of the same source: busy, naming the holder.
        let e = DestinationLock::acquire(&d, &src, &RunId::new("pc1"), now).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Busy);
        assert!(e.message.contains("host 'pc1'") && e.message.contains(&std::process::id().to_string()), "{e}");
        // Another source sharing the folder has its own lock.
        let other = DestinationLock::acquire(&d, &source("/src/two/app", "pc1"), &RunId::new("pc1"), now).unwrap();
        drop(first);
        assert!(!lock_file.exists(), "released when dropped");
        drop(other);

        // A lock left by a killed run of this host is taken over.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = RunId { host: "pc1".into(), pid: child.id(), nonce: "0123abcd".into() };
        child.wait().unwrap();
        let left = LockRecord {
            run_id: dead.to_string(),
            host: "pc1".into(),
            pid: dead.pid,
            started_utc: now.to_string(),
            source: "/src/app".into(),
        };
        fs::write(&lock_file, serde_json::to_vec(&left).unwrap()).unwrap();
        let taken = DestinationLock::acquire(&d, &src, &RunId::new("pc1"), now).unwrap();
        drop(taken);
        // The same lock seen from another machine: presumed alive until a day old.
        fs::write(&lock_file, serde_json::to_vec(&left).unwrap()).unwrap();
        let pc2 = crate::identity::SourceIdentity { host: "pc2".into(), ..src.clone() };
        assert_eq!(DestinationLock::acquire(&d, &pc2, &RunId::new("pc2"), now).err().unwrap().kind, ErrorKind::Busy);
        let old = filetime::FileTime::from_system_time(
            std::time::SystemTime::now() - crate::identity::ABANDONED_AFTER - std::time::Duration::from_secs(60),
        );
        filetime::set_file_mtime(&lock_file, old).unwrap();
        drop(DestinationLock::acquire(&d, &pc2, &RunId::new("pc2"), now).unwrap());
        assert_eq!(names(&d), Vec::<String>::new(), "nothing left behind");
    }
}
