//! What backups exist. A file is one of ours only when its name matches
//! `<repo>_backup_<yyyy-MM-dd_HH-mm-ss>.zip` (or, for a later backup within
//! the same second, `..._<n>.zip`) AND it holds our manifest; nothing else in
//! a folder is ever read as a backup or touched.
//!
//! Rules:
//! - Names are matched exactly: the repository name is a known prefix, the
//!   stamp has a fixed shape, and the only suffix is `.zip` (so
//!   `.zip.partial` and other repositories' backups never match, even when a
//!   repository name itself contains `_backup_`).
//! - Listing never fails on a file it does not understand: such files are
//!   left out, never modified.
//! - A backup belongs to the source its manifest (and comment) names: two
//!   repositories with one folder name share a folder, never a history. A
//!   backup made before 0.2 names no source: it is listed for every source
//!   of that name, marked so, and never chosen or deleted for one.
//! - Backups are ordered by the UTC time they record, never by the local
//!   time in their names (a time-zone change or the end of daylight saving
//!   turns the clock back); one that records none (before 0.2) by its name's
//!   time read in the current time zone.

use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

use crate::{Error, Result};

/// Between the repository name and the stamp.
const INFIX: &str = "_backup_";
/// The only extension of a finished backup.
const EXTENSION: &str = ".zip";

/// `<repo>_backup_<yyyy-MM-dd_HH-mm-ss>.zip`. Pure. Sub-seconds are dropped;
/// years before 0 (never seen in practice) get a leading `-`.
pub fn backup_file_name(repo: &str, at: DateTime) -> String {
    nth_backup_file_name(repo, at, 1)
}

/// The most backups of one repository named within one second.
const MAX_PER_SECOND: u32 = 999;

/// The name of the `n`th backup of `repo` made within the second `at`: the
/// first has the original shape, a later one (the content changed again
/// within that second) `..._<n>.zip`, so it never collides with the first.
/// Pure.
fn nth_backup_file_name(repo: &str, at: DateTime, n: u32) -> String {
    let year = at.year();
    let sign = if year < 0 { "-" } else { "" };
    let nth = if n > 1 { format!("_{n}") } else { String::new() };
    format!(
        "{repo}{INFIX}{sign}{:04}-{:02}-{:02}_{:02}-{:02}-{:02}{nth}{EXTENSION}",
        year.unsigned_abs(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The name for a new backup of `repo` made at `at`, given the names already
/// in its folders: the original shape when that second has no backup yet,
/// else the number after the highest one of that second. Never a lower one
/// (freed by retention, say): a person reading the folder sees them in the
/// order they were made. When the second is full, the original shape
/// (placing it then fails, naming the file; nothing is overwritten). Pure.
pub fn next_backup_name<'a>(repo: &str, at: DateTime, existing: impl IntoIterator<Item = &'a str>) -> String {
    next_backup(repo, at, existing).file_name()
}

/// A new backup's name, as [`next_backup_name`], that can step on to the
/// next free one when another machine takes it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBackupName {
    repo: String,
    at: DateTime,
    n: u32,
}

impl NewBackupName {
    pub fn file_name(&self) -> String {
        nth_backup_file_name(&self.repo, self.at, self.n)
    }

    /// The next name of the same second, or None when the second is full.
    pub fn following(&self) -> Option<NewBackupName> {
        (self.n < MAX_PER_SECOND).then(|| NewBackupName { n: self.n + 1, ..self.clone() })
    }
}

/// [`next_backup_name`] as a [`NewBackupName`]. Pure.
pub fn next_backup<'a>(repo: &str, at: DateTime, existing: impl IntoIterator<Item = &'a str>) -> NewBackupName {
    let (second, _) = second_and_n(at);
    let highest = existing
        .into_iter()
        .filter_map(|name| parse_backup_name(name, repo))
        .map(second_and_n)
        .filter(|(s, _)| *s == second)
        .map(|(_, n)| n)
        .max();
    let n = match highest {
        Some(n) if n < MAX_PER_SECOND => n + 1,
        _ => 1,
    };
    NewBackupName { repo: repo.to_string(), at: second, n }
}

/// A parsed backup time as (its second, its number within that second).
fn second_and_n(t: DateTime) -> (DateTime, u32) {
    let n = (t.subsec_nanosecond() / NANOS_PER_TICK).max(1) as u32;
    (t.with().subsec_nanosecond(0).build().unwrap_or(t), n)
}

/// One reading of a per-repository folder: each entry's name (UTF-8 names
/// only; no backup has another) and whether it is a plain file. A run reads
/// each destination's folder once and takes from it its new backup's name,
/// the partial files to tidy, the newest backup and the storage summary: on
/// a network share each listing is round trips.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    dir: PathBuf,
    entries: Vec<ListedEntry>,
}

#[derive(Debug, Clone)]
struct ListedEntry {
    name: String,
    is_file: bool,
    /// The size of a plain `.zip` file (a backup's candidate), where it could
    /// be read: part of the listing on Windows, one `fstatat` elsewhere.
    zip_bytes: Option<u64>,
}

impl Listing {
    /// The entries of `dir`; none when it does not exist. An error naming
    /// the folder when it cannot be read.
    pub fn try_read(dir: &Path) -> Result<Listing> {
        #[cfg(test)]
        tests::LISTINGS_READ.with(|n| n.set(n.get() + 1));
        let mut listing = Listing { dir: dir.to_path_buf(), entries: Vec::new() };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            // Symlinks and folders are never backups, whatever their name.
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            let zip_bytes =
                (is_file && name.ends_with(EXTENSION)).then(|| entry.metadata().ok().map(|m| m.len())).flatten();
            listing.entries.push(ListedEntry { name, is_file, zip_bytes });
        }
        Ok(listing)
    }

    /// [`Listing::try_read`], with nothing listed when the folder cannot be
    /// read (writing into it will then say why).
    pub fn read(dir: &Path) -> Listing {
        Listing::try_read(dir).unwrap_or_else(|_| Listing { dir: dir.to_path_buf(), entries: Vec::new() })
    }

    /// The folder listed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every entry's name: what a new backup's name must not collide with.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The plain files' names.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter(|e| e.is_file).map(|e| e.name.as_str())
    }

    /// The plain files named like backups of `repo`, with their times, oldest
    /// first (ties by name).
    fn ours(&self, repo: &str) -> Vec<(DateTime, &ListedEntry)> {
        let mut found: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.is_file)
            .filter_map(|e| parse_backup_name(&e.name, repo).map(|created| (created, e)))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        found
    }

    /// The plain files named like backups of `repo`, oldest first, with their
    /// sizes: by name and size only (no archive is opened), for storage
    /// statistics. Whatever is read as a backup, verified or deleted goes
    /// through [`list_backups`], which checks the manifest. Files whose size
    /// could not be read are left out.
    pub fn backups(&self, repo: &str) -> Vec<(DateTime, PathBuf, u64)> {
        self.ours(repo)
            .into_iter()
            .filter_map(|(created, e)| Some((created, self.dir.join(&e.name), e.zip_bytes?)))
            .collect()
    }

    /// The plain files named like backups of `repo`, each with the stamp
    /// its archive comment carries (one read at the end of each file; no
    /// archive is checked): what a run needs to tell sources apart and find
    /// one's newest backup. Name order, oldest first.
    pub fn stamped(&self, repo: &str) -> Vec<Stamped> {
        self.ours(repo)
            .into_iter()
            .map(|(created, e)| {
                let path = self.dir.join(&e.name);
                let stamp = crate::archive::comment_stamp(&path);
                Stamped { created, path, bytes: e.zip_bytes, stamp }
            })
            .collect()
    }
}

/// A file named like a backup, with the stamp of its archive comment.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The local time in its name.
    pub created: DateTime,
    pub path: PathBuf,
    pub bytes: Option<u64>,
    pub stamp: Option<crate::archive::CommentStamp>,
}

impl Stamped {
    /// Whether its comment says it is a backup of source `source_id`.
    pub fn is_of(&self, source_id: &str) -> bool {
        self.stamp.as_ref().and_then(|s| s.source_id.as_deref()) == Some(source_id)
    }
}

/// The newest backup of source `source_id` among `stamped` and its
/// fingerprint, or None when there is none. Newest by the UTC time its
/// comment records; the first, from the newest down, whose central directory
/// is whole and ends with our manifest (see
/// [`crate::archive::comment_fingerprint`]), else whose manifest names the
/// source. An unchanged repository so costs one end record per backup and
/// one directory, however large the manifest.
pub fn newest_of_source(stamped: &[Stamped], repo: &str, source_id: &str) -> Option<(PathBuf, String)> {
    let mut mine: Vec<(jiff::Timestamp, DateTime, &Stamped)> = stamped
        .iter()
        .filter(|s| s.is_of(source_id))
        .filter_map(|s| Some((s.stamp.as_ref()?.created_utc?, s.created, s)))
        .collect();
    mine.sort_by_key(|m| std::cmp::Reverse((m.0, m.1)));
    mine.into_iter().find_map(|(_, created, s)| match crate::archive::comment_fingerprint(&s.path) {
        Some(full) if full.source_id.as_deref() == Some(source_id) => Some((s.path.clone(), full.fingerprint)),
        _ => {
            let dir = s.path.parent()?;
            entry_for(dir, repo, created, s.path.clone(), s.bytes?)
                .filter(|e| e.source_id() == Some(source_id))
                .map(|e| (e.path, e.fingerprint))
        }
    })
}

/// The time encoded in a backup file name of `repo`, or None when the name is
/// not ours. Pure. The `n`th backup of a second is `n` ticks of 100 ns past
/// it, so that everything ordering backups by time (here, and .NET's
/// `DateTime`, whose unit is that tick) puts it after the earlier ones.
pub fn parse_backup_name(file_name: &str, repo: &str) -> Option<DateTime> {
    let stamp = file_name.strip_prefix(repo)?.strip_prefix(INFIX)?.strip_suffix(EXTENSION)?;
    let (stamp, n) = match stamp.len().checked_sub(STAMP_LEN + usize::from(stamp.starts_with('-'))) {
        Some(0) => (stamp, 0),
        Some(extra) => {
            // At a byte index: a name with a multi-byte character there is not ours.
            let (stamp, nth) = stamp.split_at_checked(stamp.len() - extra)?;
            (stamp, parse_nth(nth)?)
        }
        None => return None,
    };
    parse_stamp(stamp)?.with().subsec_nanosecond(n as i32 * NANOS_PER_TICK).build().ok()
}

/// `_<n>` with 2 <= n <= MAX_PER_SECOND, digits only, no leading zero.
fn parse_nth(suffix: &str) -> Option<u32> {
    let digits = suffix.strip_prefix('_')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|n| (2..=MAX_PER_SECOND).contains(n))
}

/// .NET's `DateTime` unit.
const NANOS_PER_TICK: i32 = 100;

/// Length of `yyyy-MM-dd_HH-mm-ss`.
const STAMP_LEN: usize = 19;

/// `yyyy-MM-dd_HH-mm-ss` (optionally `-` before the year), digits exactly
/// where they belong, and a real calendar date.
fn parse_stamp(stamp: &str) -> Option<DateTime> {
    let (negative, s) = match stamp.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, stamp),
    };
    let b = s.as_bytes();
    // yyyy-MM-dd_HH-mm-ss
    const SHAPE: &[u8; STAMP_LEN] = b"dddd-dd-dd_dd-dd-dd";
    if b.len() != SHAPE.len() {
        return None;
    }
    for (&c, &want) in b.iter().zip(SHAPE.iter()) {
        let ok = if want == b'd' { c.is_ascii_digit() } else { c == want };
        if !ok {
            return None;
        }
    }
    let num = |from: usize, to: usize| -> i32 { s[from..to].parse::<i32>().unwrap_or(-1) };
    let mut year = num(0, 4);
    if negative {
        year = -year;
    }
    DateTime::new(
        i16::try_from(year).ok()?,
        num(5, 7) as i8,
        num(8, 10) as i8,
        num(11, 13) as i8,
        num(14, 16) as i8,
        num(17, 19) as i8,
        0,
    )
    .ok()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackupEntry {
    pub repo: String,
    /// The per-repository folder the backup is in.
    pub destination: String,
    pub path: PathBuf,
    /// Local time from the file name, `yyyy-MM-ddTHH:mm:ss` (plus `n` ticks
    /// of 100 ns for the `n`th backup within that second).
    pub created: DateTime,
    /// When it was made: recorded (since 0.2), else the name's time read in
    /// the current time zone. What backups are ordered by.
    pub created_utc: jiff::Timestamp,
    pub bytes: u64,
    pub file_count: u64,
    pub total_bytes: u64,
    pub fingerprint: String,
    pub tool_version: String,
    /// Source, host and time; None for a backup made before 0.2.
    pub origin: Option<crate::archive::Origin>,
}

impl BackupEntry {
    /// The id of the source it is a backup of; None before 0.2.
    pub fn source_id(&self) -> Option<&str> {
        self.origin.as_ref().map(|o| o.source_id.as_str())
    }
}

/// A backup's time for ordering: recorded, else its name's time read in the
/// current time zone (the earlier of two readings in a repeated hour).
pub fn utc_of(origin: Option<&crate::archive::Origin>, created: DateTime) -> jiff::Timestamp {
    origin.map(|o| o.created_utc).unwrap_or_else(|| {
        jiff::tz::TimeZone::system().to_ambiguous_timestamp(created).compatible().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    })
}

/// The entry for one named-like-ours file of `bytes` (its size from the
/// listing), or None when it is not ours (no readable manifest, or a manifest
/// for another repository).
fn entry_for(dir: &Path, repo: &str, created: DateTime, path: PathBuf, bytes: u64) -> Option<BackupEntry> {
    let manifest = crate::archive::read_manifest(&path).ok()?;
    if manifest.repo != repo {
        return None;
    }
    Some(BackupEntry {
        repo: manifest.repo,
        destination: dir.display().to_string(),
        path,
        created,
        created_utc: utc_of(manifest.origin.as_ref(), created),
        bytes,
        file_count: manifest.file_count,
        total_bytes: manifest.total_bytes,
        fingerprint: manifest.fingerprint,
        tool_version: manifest.tool_version,
        origin: manifest.origin,
    })
}

/// Our backups of `repo` in `dir` (a per-repository folder), of every
/// source, oldest first by UTC time (ties by name time). Reads names and
/// manifests only (central directory + one entry). Files with our name shape
/// but no valid manifest are left out (and untouched). A missing folder has
/// none.
pub fn list_backups(dir: &Path, repo: &str) -> Result<Vec<BackupEntry>> {
    let mut found: Vec<BackupEntry> = Listing::try_read(dir)?
        .backups(repo)
        .into_iter()
        .filter_map(|(created, path, bytes)| entry_for(dir, repo, created, path, bytes))
        .collect();
    found.sort_by_key(|b| (b.created_utc, b.created));
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::archive::{Manifest, MANIFEST_FORMAT, MANIFEST_NAME};
    use jiff::civil::date;
    use proptest::prelude::*;
    use rstest::rstest;
    use std::io::Write;

    thread_local! {
        /// Folders listed on this thread, to check how often a run lists.
        pub(crate) static LISTINGS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The source the test archives are backups of.
    pub(crate) const SRC: &str = "0123456789abcdef";

    /// A fingerprint as our comment records it (a hex digest) for a test's
    /// short name of one.
    pub(crate) fn hex(fingerprint: &str) -> String {
        blake3::hash(fingerprint.as_bytes()).to_hex().to_string()
    }

    /// An origin for source `source` at `utc`.
    pub(crate) fn origin(source: &str, utc: jiff::Timestamp) -> crate::archive::Origin {
        crate::archive::Origin {
            source_id: source.into(),
            source_path: format!("/src/{source}"),
            host: "pc".into(),
            created_utc: utc,
            created_local: utc.to_string(),
        }
    }

    /// Writes a ZIP that looks like ours: one data entry and the manifest,
    /// of source [`SRC`] made at the time in its name read as UTC, with our
    /// comment (whose fingerprint is [`hex`] of the manifest's).
    pub(crate) fn write_our_archive(path: &Path, repo: &str, fingerprint: &str) {
        let name = path.file_name().unwrap().to_str().unwrap();
        let utc = parse_backup_name(name, repo)
            .map_or(jiff::Timestamp::UNIX_EPOCH, |t| jiff::tz::Offset::UTC.to_timestamp(t).unwrap());
        write_archive_of(path, repo, fingerprint, Some(origin(SRC, utc)));
    }

    /// [`write_our_archive`] with any origin (None: made before 0.2).
    pub(crate) fn write_archive_of(path: &Path, repo: &str, fingerprint: &str, origin: Option<crate::archive::Origin>) {
        let file = std::fs::File::create(path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("README.md", opts).unwrap();
        zip.write_all(b"hello").unwrap();
        let comment = match &origin {
            Some(o) => format!("backup-repo 0.2.0 {} {} {}", hex(fingerprint), o.source_id, o.created_utc),
            None => format!("backup-repo 0.1.0 {}", hex(fingerprint)),
        };
        let manifest = Manifest {
            dirs: vec![],
            links: vec![],
            format: MANIFEST_FORMAT.to_string(),
            tool_version: crate::VERSION.to_string(),
            repo: repo.to_string(),
            fingerprint: fingerprint.to_string(),
            file_count: 1,
            total_bytes: 5,
            files: Vec::new(),
            origin,
        };
        zip.start_file(MANIFEST_NAME, opts).unwrap();
        zip.write_all(&serde_json::to_vec(&manifest).unwrap()).unwrap();
        zip.set_comment(comment).unwrap();
        zip.finish().unwrap();
    }

    /// The newest backup of [`SRC`] in `d` and its fingerprint.
    fn newest(d: &Path, repo: &str) -> Option<(PathBuf, String)> {
        newest_of_source(&Listing::read(d).stamped(repo), repo, SRC)
    }

    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> DateTime {
        date(y, mo, d).at(h, mi, s, 0)
    }

    #[test]
    fn name_has_the_original_shape() {
        assert_eq!(backup_file_name("myrepo", at(2024, 3, 7, 9, 5, 1)), "myrepo_backup_2024-03-07_09-05-01.zip");
    }

    #[test]
    fn name_drops_subseconds() {
        let t = date(2024, 3, 7).at(9, 5, 1, 999_999_999);
        assert_eq!(backup_file_name("r", t), "r_backup_2024-03-07_09-05-01.zip");
    }

    #[rstest]
    #[case("repo_backup_2024-03-07_09-05-01.zip", "repo", Some(at(2024, 3, 7, 9, 5, 1)))]
    #[case("a_backup_b_backup_2024-03-07_09-05-01.zip", "a_backup_b", Some(at(2024, 3, 7, 9, 5, 1)))]
    #[case("a_backup_b_backup_2024-03-07_09-05-01.zip", "a", None)]
    #[case("a_backup_2024-03-07_09-05-01.zip", "a_backup_b", None)]
    #[case("repo_backup_2024-03-07_09-05-01.zip.partial", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01.ZIP", "repo", None)]
    #[case("other_backup_2024-03-07_09-05-01.zip", "repo", None)]
    #[case("repo2_backup_2024-03-07_09-05-01.zip", "repo", None)]
    #[case("xrepo_backup_2024-03-07_09-05-01.zip", "repo", None)]
    #[case("repo_backup_2024-02-30_09-05-01.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_24-00-00.zip", "repo", None)]
    #[case("repo_backup_2024-3-07_09-05-01.zip", "repo", None)]
    #[case("repo_backup_2024-03-07 09-05-01.zip", "repo", None)]
    #[case("repo_backup_+024-03-07_09-05-01.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01x.zip", "repo", None)]
    #[case("repo_backup_bad.zip", "repo", None)]
    #[case("repo_backup_.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01", "repo", None)]
    #[case("notes.txt", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01.zip", "", None)]
    #[case("repo_backup_٢٠٢٤-03-07_09-05-01.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_2.zip", "repo", Some(date(2024, 3, 7).at(9, 5, 1, 200)))]
    #[case("repo_backup_2024-03-07_09-05-01_999.zip", "repo", Some(date(2024, 3, 7).at(9, 5, 1, 99_900)))]
    #[case("repo_backup_-0012-03-07_09-05-01_3.zip", "repo", Some(date(-12, 3, 7).at(9, 5, 1, 300)))]
    #[case("repo_backup_2024-03-07_09-05-01_1.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_0.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_02.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_1000.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_2x.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_+2.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01-2.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01_2.zip.partial", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-0é.zip", "repo", None)]
    #[case("repo_backup_-2024-03-07_09-05-0é.zip", "repo", None)]
    #[case("repo_backup_2024-03-07_09-05-01é.zip", "repo", None)]
    #[case("repo_backup_é2024-03-07_09-05-01.zip", "repo", None)]
    fn parse_cases(#[case] name: &str, #[case] repo: &str, #[case] want: Option<DateTime>) {
        assert_eq!(parse_backup_name(name, repo), want);
    }

    fn any_datetime() -> impl Strategy<Value = DateTime> {
        (-9999i16..=9999, 1i8..=12, 1i8..=31, 0i8..=23, 0i8..=59, 0i8..=59).prop_map(|(y, mo, d, h, mi, s)| {
            // Clamp the day into the month so every case is a valid date.
            let last = date(y, mo, 1).days_in_month();
            date(y, mo, d.min(last)).at(h, mi, s, 0)
        })
    }

    proptest! {
        #[test]
        fn parse_inverts_name(repo in "[A-Za-z0-9._ -]{1,20}(_backup_[a-z0-9]{0,5})?", t in any_datetime()) {
            prop_assert_eq!(parse_backup_name(&backup_file_name(&repo, t), &repo), Some(t));
        }

        #[test]
        fn the_nth_name_of_a_second_parses_to_n_ticks_past_it(
            repo in "[A-Za-z0-9._ -]{1,20}(_backup_[a-z0-9]{0,5})?",
            t in any_datetime(),
            n in 1u32..=MAX_PER_SECOND,
        ) {
            let parsed = parse_backup_name(&nth_backup_file_name(&repo, t, n), &repo);
            prop_assert_eq!(parsed, Some(t.with().subsec_nanosecond(if n > 1 { n as i32 * NANOS_PER_TICK } else { 0 }).build().unwrap()));
        }

        /// Backups sort by name time, later ones of a second after earlier
        /// ones, and every one of a second before the next second's.
        #[test]
        fn nth_names_order_by_time_then_n(t in any_datetime(), a in 1u32..=MAX_PER_SECOND, b in 1u32..=MAX_PER_SECOND) {
            let time = |n| parse_backup_name(&nth_backup_file_name("r", t, n), "r").unwrap();
            prop_assert_eq!(time(a).cmp(&time(b)), a.cmp(&b));
            if let Ok(next) = t.checked_add(jiff::Span::new().seconds(1)) {
                prop_assert!(time(a) < parse_backup_name(&backup_file_name("r", next), "r").unwrap());
            }
        }

        #[test]
        fn partial_of_a_name_never_parses(repo in "[a-z_]{1,12}", t in any_datetime()) {
            let name = format!("{}.partial", backup_file_name(&repo, t));
            prop_assert_eq!(parse_backup_name(&name, &repo), None);
        }

        #[test]
        fn parse_never_panics(name in "\\PC{0,40}", repo in "\\PC{0,8}") {
            let _ = parse_backup_name(&name, &repo);
        }

        /// Past our prefix, any stamp-sized text (multi-byte characters
        /// included) is parsed or refused, never a panic.
        #[test]
        fn parse_never_panics_on_a_stamp_shaped_name(stamp in "-?[0-9_é€-]{15,26}") {
            let _ = parse_backup_name(&format!("r_backup_{stamp}.zip"), "r");
        }
    }

    #[test]
    fn a_new_name_follows_the_highest_of_its_second() {
        let t = at(2024, 3, 7, 9, 5, 1);
        let next = |names: &[&str]| next_backup_name("r", t, names.iter().copied());
        assert_eq!(next(&[]), "r_backup_2024-03-07_09-05-01.zip");
        // Other seconds, other repositories and other files do not count.
        assert_eq!(
            next(&[
                "r_backup_2024-03-07_09-05-00.zip",
                "r_backup_2024-03-07_09-05-02_5.zip",
                "x_backup_2024-03-07_09-05-01.zip",
                "notes.txt"
            ]),
            "r_backup_2024-03-07_09-05-01.zip"
        );
        assert_eq!(next(&["r_backup_2024-03-07_09-05-01.zip"]), "r_backup_2024-03-07_09-05-01_2.zip");
        // A gap (retention deleted the first and _2) is never filled: the new
        // backup must sort after _3.
        assert_eq!(next(&["r_backup_2024-03-07_09-05-01_3.zip"]), "r_backup_2024-03-07_09-05-01_4.zip");
        assert_eq!(
            next(&["r_backup_2024-03-07_09-05-01_10.zip", "r_backup_2024-03-07_09-05-01_9.zip"]),
            "r_backup_2024-03-07_09-05-01_11.zip"
        );
        // A partial of a killed run is cleaned up before placing; it does not count.
        assert_eq!(next(&["r_backup_2024-03-07_09-05-01.zip.partial"]), "r_backup_2024-03-07_09-05-01.zip");
        // The second is full: the plain name, which placing refuses.
        assert_eq!(next(&["r_backup_2024-03-07_09-05-01_999.zip"]), "r_backup_2024-03-07_09-05-01.zip");
    }

    #[test]
    fn a_listing_has_every_name_marks_the_files_and_is_empty_for_a_missing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.zip"), b"").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let listing = Listing::read(tmp.path());
        let mut names: Vec<_> = listing.names().collect();
        names.sort();
        assert_eq!(names, ["a.zip", "sub"]);
        assert_eq!(listing.file_names().collect::<Vec<_>>(), ["a.zip"]);
        assert_eq!(listing.dir(), tmp.path());
        assert_eq!(Listing::read(&tmp.path().join("missing")).names().count(), 0);
        assert!(Listing::try_read(&tmp.path().join("missing")).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_that_cannot_be_listed_is_an_error_naming_it_or_an_empty_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = Listing::try_read(&file).unwrap_err();
        assert!(err.to_string().contains("plain-file"), "{err}");
        assert_eq!(Listing::read(&file).names().count(), 0);
    }

    #[test]
    fn backups_of_one_second_list_in_the_order_they_were_made() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let t = at(2024, 1, 2, 3, 4, 5);
        // _10 sorts before _2 as text; by time it comes after.
        for (n, fp) in [(10, "fp10"), (1, "fp1"), (2, "fp2")] {
            write_our_archive(&d.join(nth_backup_file_name("repo", t, n)), "repo", fp);
        }
        write_our_archive(&d.join(backup_file_name("repo", at(2024, 1, 2, 3, 4, 4))), "repo", "fp0");
        let fingerprints: Vec<_> = list_backups(d, "repo").unwrap().into_iter().map(|b| b.fingerprint).collect();
        assert_eq!(fingerprints, ["fp0", "fp1", "fp2", "fp10"]);
        assert_eq!(newest(d, "repo").unwrap().1, hex("fp10"));
    }

    #[test]
    fn missing_dir_lists_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(list_backups(&tmp.path().join("nope"), "repo").unwrap().is_empty());
        assert!(newest(&tmp.path().join("nope"), "repo").is_none());
    }

    #[test]
    fn lists_only_ours_oldest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let n1 = backup_file_name("repo", at(2024, 1, 2, 3, 4, 5));
        let n2 = backup_file_name("repo", at(2023, 12, 31, 23, 59, 59));
        let n3 = backup_file_name("repo", at(2024, 6, 1, 0, 0, 0));
        write_our_archive(&d.join(&n1), "repo", "fp1");
        write_our_archive(&d.join(&n2), "repo", "fp2");
        // Our name shape, but not a ZIP / no manifest / another repo's manifest.
        std::fs::write(d.join(&n3), b"not a zip").unwrap();
        let n4 = backup_file_name("repo", at(2024, 6, 2, 0, 0, 0));
        {
            let mut zip = zip::ZipWriter::new(std::fs::File::create(d.join(&n4)).unwrap());
            zip.start_file("a.txt", zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(b"x").unwrap();
            zip.finish().unwrap();
        }
        let n5 = backup_file_name("repo", at(2024, 6, 3, 0, 0, 0));
        write_our_archive(&d.join(&n5), "other", "fp5");
        // Other names, and a folder with our name shape.
        write_our_archive(&d.join("notes.zip"), "repo", "fpx");
        write_our_archive(&d.join(format!("{n1}.partial")), "repo", "fpp");
        std::fs::create_dir(d.join(backup_file_name("repo", at(2025, 1, 1, 0, 0, 0)))).unwrap();

        let before: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        let got = list_backups(d, "repo").unwrap();
        let names: Vec<_> = got.iter().map(|e| e.path.file_name().unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, vec![n2.clone(), n1.clone()]);
        assert_eq!(got[0].fingerprint, "fp2");
        assert_eq!(got[1].created, at(2024, 1, 2, 3, 4, 5));
        assert_eq!(got[1].bytes, std::fs::metadata(d.join(&n1)).unwrap().len());
        assert_eq!((got[1].file_count, got[1].total_bytes), (1, 5));
        assert_eq!(got[1].repo, "repo");
        assert_eq!(got[1].destination, d.display().to_string());
        // Nothing was touched.
        let after: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(before.len(), after.len());
        assert_eq!(std::fs::read(d.join(&n3)).unwrap(), b"not a zip");

        // The newest *of ours*, skipping newer names that are not ours.
        assert_eq!(newest(d, "repo"), Some((d.join(&n1), hex("fp1"))));
        assert_eq!(newest(d, "other"), None);
    }

    /// Like `write_our_archive`, with our archive comment; `manifest_last`
    /// false appends another entry after the manifest.
    fn write_commented(path: &Path, manifest: &[u8], comment: &str, manifest_last: bool) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("README.md", opts).unwrap();
        zip.write_all(b"hello").unwrap();
        zip.start_file(MANIFEST_NAME, opts).unwrap();
        zip.write_all(manifest).unwrap();
        if !manifest_last {
            zip.start_file("late.txt", opts).unwrap();
        }
        zip.set_comment(comment.to_string()).unwrap();
        zip.finish().unwrap();
    }

    fn manifest_json(fingerprint: &str) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            dirs: vec![],
            links: vec![],
            format: MANIFEST_FORMAT.to_string(),
            tool_version: crate::VERSION.to_string(),
            repo: "repo".to_string(),
            fingerprint: fingerprint.to_string(),
            file_count: 1,
            total_bytes: 5,
            files: Vec::new(),
            origin: Some(origin(SRC, "2024-01-02T03:04:05Z".parse().unwrap())),
        })
        .unwrap()
    }

    /// Our comment for source [`SRC`] at 2024-01-02T03:04:05Z.
    fn our_comment(fingerprint: &str) -> String {
        format!("backup-repo 0.2.0 {fingerprint} {SRC} 2024-01-02T03:04:05Z")
    }

    #[test]
    fn newest_fingerprint_comes_from_the_comment_without_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let fp = "ab".repeat(32);
        let n = backup_file_name("repo", at(2024, 1, 2, 3, 4, 5));
        // A manifest that could not be parsed: only the comment can answer.
        write_commented(&d.join(&n), b"{ not json", &our_comment(&fp), true);
        assert_eq!(newest(d, "repo"), Some((d.join(&n), fp)));
    }

    #[test]
    fn a_comment_whose_directory_is_not_ours_falls_back_to_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let n = backup_file_name("repo", at(2024, 1, 2, 3, 4, 5));
        write_commented(&d.join(&n), &manifest_json("from-manifest"), &our_comment(&"cd".repeat(32)), false);
        assert_eq!(newest(d, "repo"), Some((d.join(&n), "from-manifest".to_string())));
    }

    /// Without our stamp a file names no source: never taken for one's
    /// newest backup (a new backup is made instead).
    #[rstest]
    #[case::before_0_2("backup-repo 0.1.0 {fp}")]
    #[case::not_our_tool("zipper 0.1.0 {fp} 0123456789abcdef 2024-01-02T03:04:05Z")]
    #[case::no_version("backup-repo {fp}")]
    #[case::extra_word("backup-repo 0.1.0 {fp} 0123456789abcdef 2024-01-02T03:04:05Z more")]
    #[case::bad_source("backup-repo 0.1.0 {fp} 0123 2024-01-02T03:04:05Z")]
    #[case::bad_time("backup-repo 0.1.0 {fp} 0123456789abcdef yesterday")]
    #[case::short_fingerprint("backup-repo 0.1.0 abc 0123456789abcdef 2024-01-02T03:04:05Z")]
    fn a_comment_without_our_stamp_is_no_source_s_newest(#[case] comment: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let n = backup_file_name("repo", at(2024, 1, 2, 3, 4, 5));
        let comment = comment.replace("{fp}", &"cd".repeat(32));
        write_commented(&d.join(&n), &manifest_json("from-manifest"), &comment, true);
        assert_eq!(newest(d, "repo"), None);
    }

    #[test]
    fn a_truncated_newest_backup_is_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let older = backup_file_name("repo", at(2024, 1, 1, 0, 0, 0));
        let newer = backup_file_name("repo", at(2024, 1, 2, 0, 0, 0));
        let stamp = |fp: String, t: &str| format!("backup-repo 0.2.0 {fp} {SRC} {t}");
        write_commented(&d.join(&older), &manifest_json("old"), &stamp("01".repeat(32), "2024-01-01T00:00:00Z"), true);
        write_commented(&d.join(&newer), &manifest_json("new"), &stamp("02".repeat(32), "2024-01-02T00:00:00Z"), true);
        // Cut inside the central directory: neither the comment nor the
        // manifest can be trusted, so the older backup answers.
        let len = std::fs::metadata(d.join(&newer)).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(d.join(&newer)).unwrap().set_len(len - 120).unwrap();
        assert_eq!(newest(d, "repo"), Some((d.join(&older), "01".repeat(32))));
    }

    #[test]
    fn sources_sharing_a_folder_each_have_their_own_newest_by_utc_time() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let utc = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let other = "fedcba9876543210";
        // Names in local time: after the clocks went back an hour, the
        // newest backup has the earliest name.
        let write = |name: DateTime, source: &str, t: &str, fp: &str| {
            let path = d.join(backup_file_name("app", name));
            write_archive_of(&path, "app", fp, Some(origin(source, utc(t))));
            path
        };
        write(at(2026, 10, 25, 2, 30, 0), SRC, "2026-10-25T00:30:00Z", "summer");
        let winter = write(at(2026, 10, 25, 2, 10, 0), SRC, "2026-10-25T01:10:00Z", "winter");
        let theirs = write(at(2026, 10, 25, 3, 0, 0), other, "2026-10-25T02:00:00Z", "theirs");
        // Made before 0.2: no source, never anyone's newest.
        write_archive_of(&d.join(backup_file_name("app", at(2026, 10, 26, 0, 0, 0))), "app", "legacy", None);

        let stamped = Listing::read(d).stamped("app");
        assert_eq!(newest_of_source(&stamped, "app", SRC), Some((winter, hex("winter"))));
        assert_eq!(newest_of_source(&stamped, "app", other), Some((theirs, hex("theirs"))));
        let listed: Vec<String> = list_backups(d, "app").unwrap().into_iter().map(|b| b.fingerprint).collect();
        assert_eq!(listed, ["summer", "winter", "theirs", "legacy"], "by UTC time; before 0.2 by the name's");
    }

    #[test]
    fn repo_names_containing_backup_stay_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_our_archive(&d.join(backup_file_name("a", at(2024, 1, 1, 0, 0, 0))), "a", "fa");
        write_our_archive(&d.join(backup_file_name("a_backup_b", at(2024, 1, 2, 0, 0, 0))), "a_backup_b", "fb");
        let a = list_backups(d, "a").unwrap();
        let b = list_backups(d, "a_backup_b").unwrap();
        assert_eq!((a.len(), a[0].fingerprint.as_str()), (1, "fa"));
        assert_eq!((b.len(), b[0].fingerprint.as_str()), (1, "fb"));
    }
}

#[cfg(test)]
mod listed_backups_tests {
    use super::*;

    #[test]
    fn names_and_sizes_without_opening_anything() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        // Not ZIPs at all: a listing's backups must not care (it opens nothing).
        std::fs::write(d.join("r_backup_2026-01-02_00-00-00.zip"), b"12345").unwrap();
        std::fs::write(d.join("r_backup_2026-01-01_00-00-00.zip"), b"123").unwrap();
        std::fs::write(d.join("r_backup_2026-01-03_00-00-00.zip.partial"), b"x").unwrap();
        std::fs::write(d.join("other_backup_2026-01-01_00-00-00.zip"), b"x").unwrap();
        std::fs::write(d.join("notes.txt"), b"x").unwrap();
        std::fs::create_dir(d.join("r_backup_2026-01-04_00-00-00.zip")).unwrap();
        let got = Listing::read(d).backups("r");
        let sizes: Vec<u64> = got.iter().map(|b| b.2).collect();
        assert_eq!(sizes, [3, 5], "oldest first, ours by name only");
        assert!(list_backups(d, "r").unwrap().is_empty(), "without a manifest they are not backups");
        assert!(Listing::read(&d.join("missing")).backups("r").is_empty());
    }
}
