//! The backups that exist across destinations and their statistics. Everything is read from names, central directories
//! and manifests ([`catalog`]): a history of 1,000 backups never opens 1,000
//! whole archives.
//!
//! Rules:
//! - A destination root holds one folder per repository; a folder counts as
//!   a repository's when it holds a file named `<folder>_backup_<stamp>.zip`.
//!   Files are ours only with our manifest (as in [`catalog`]).
//! - Retention (planned and carried out in [`crate::prune`]) reads the same
//!   catalog, per source.
//! - Everything is ordered by the UTC time a backup records, never by the
//!   local time in its name.

use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

use crate::archive::{self, Manifest};
use crate::catalog::{self, BackupEntry};
use crate::destinations::DestinationStatus;
use crate::metrics::{self, Record};
use crate::{config, Error, Result};

/// What to look at; the JSON `br_history_list` / `br_history_summary` take.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryOptions {
    /// Destination roots. Empty: the config file's, else the platform
    /// defaults (as a backup run resolves them).
    pub destinations: Vec<PathBuf>,
    /// One repository; None: every repository found in each destination.
    pub repo: Option<String>,
    /// Where the metrics logs are (duplicate statistics); default the
    /// config file's, else the platform's.
    pub metrics_log_dir: Option<PathBuf>,
    /// "Now" as local civil time (tests); default the clock. Used by the
    /// summary's recent counts only.
    pub now: Option<DateTime>,
    /// Only the backups of this source folder (as a run identifies it on
    /// this host; see [`crate::identity`]) and those made before 0.2, which
    /// name no source; None: every source.
    pub source: Option<PathBuf>,
}

/// One backup as `Get-RepoBackup` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    pub repository: String,
    /// The destination root's display name (`desktop`, `n-drive`, or the folder's name).
    pub destination: String,
    /// The destination root.
    pub destination_path: PathBuf,
    /// The archive.
    pub path: PathBuf,
    /// Local time from the file name.
    pub created: DateTime,
    /// When it was made (recorded since 0.2); what the history is ordered by.
    pub created_utc: jiff::Timestamp,
    /// Archive size.
    pub bytes: u64,
    pub file_count: u64,
    /// Size of the backed-up files (source bytes).
    pub total_bytes: u64,
    pub fingerprint: String,
    pub tool_version: String,
    /// The folder backed up; None for a backup made before 0.2 (unknown).
    pub source: Option<String>,
    /// The machine that made it; None before 0.2.
    pub host: Option<String>,
    /// The source's id; None before 0.2.
    pub source_id: Option<String>,
}

/// The repository name that means every repository (`-Repository *`).
pub const EVERY_REPOSITORY: &str = "*";

/// One (destination, repository) folder found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RepoFolder {
    pub root: PathBuf,
    pub repo: String,
    /// The root's name, distinct among the roots listed ([`crate::naming`]).
    pub name: String,
}

impl RepoFolder {
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.repo)
    }
}

/// The folders to read: `repo` in every root, or every repository folder found.
pub(crate) fn repo_folders(opts: &HistoryOptions) -> Result<Vec<RepoFolder>> {
    let roots = config::destination_roots(&opts.destinations)?;
    let names = crate::naming::destination_names(&roots);
    let mut out = Vec::new();
    for (root, name) in roots.into_iter().zip(names) {
        // "*" is every repository, as no name is (what a user types to mean it).
        match opts.repo.as_deref().filter(|r| *r != EVERY_REPOSITORY) {
            Some(repo) => out.push(RepoFolder { root, repo: repo.to_string(), name }),
            None => {
                for repo in repos_in(&root)? {
                    out.push(RepoFolder { root: root.clone(), repo, name: name.clone() });
                }
            }
        }
    }
    Ok(out)
}

/// Sub-folders of `root` that hold at least one file named like a backup of
/// the folder's own name; sorted. A missing root has none.
pub fn repos_in(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", root, e)),
    };
    let mut repos = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(files) = std::fs::read_dir(entry.path()) else { continue };
        let has_backup = files
            .flatten()
            .any(|f| f.file_name().to_str().is_some_and(|n| catalog::parse_backup_name(n, &name).is_some()));
        if has_backup {
            repos.push(name);
        }
    }
    repos.sort();
    Ok(repos)
}

fn history_entry(folder: &RepoFolder, b: BackupEntry) -> HistoryEntry {
    let origin = b.origin;
    HistoryEntry {
        repository: b.repo,
        destination: folder.name.clone(),
        destination_path: folder.root.clone(),
        path: b.path,
        created: b.created,
        created_utc: b.created_utc,
        bytes: b.bytes,
        file_count: b.file_count,
        total_bytes: b.total_bytes,
        fingerprint: b.fingerprint,
        tool_version: b.tool_version,
        source: origin.as_ref().map(|o| o.source_path.clone()),
        host: origin.as_ref().map(|o| o.host.clone()),
        source_id: origin.map(|o| o.source_id),
    }
}

/// The id of `source` as a run on this host records it; None: no filter.
pub(crate) fn source_filter(source: Option<&Path>) -> Result<Option<String>> {
    let Some(source) = source else { return Ok(None) };
    let canonical = dunce::canonicalize(source).map_err(|e| Error::io("open source folder", source, e))?;
    Ok(Some(crate::identity::SourceIdentity::new(&crate::identity::host_name(), &canonical).id))
}

/// The backups of `folder`: when `source_id` is given, that source's and
/// those made before 0.2 (which name none, so may be its).
fn backups_in(folder: &RepoFolder, source_id: Option<&str>) -> Result<Vec<BackupEntry>> {
    let mut backups = catalog::list_backups(&folder.dir(), &folder.repo)?;
    if let Some(id) = source_id {
        backups.retain(|b| b.source_id().is_none_or(|s| s == id));
    }
    Ok(backups)
}

/// Every backup of ours, sorted by repository, then time (UTC), then
/// destination (in the order given).
pub fn list(opts: &HistoryOptions) -> Result<Vec<HistoryEntry>> {
    let source_id = source_filter(opts.source.as_deref())?;
    let mut out = Vec::new();
    for (order, folder) in repo_folders(opts)?.iter().enumerate() {
        for b in backups_in(folder, source_id.as_deref())? {
            out.push((order, history_entry(folder, b)));
        }
    }
    out.sort_by(|(oa, a), (ob, b)| {
        (&a.repository, a.created_utc, a.created, oa).cmp(&(&b.repository, b.created_utc, b.created, ob))
    });
    Ok(out.into_iter().map(|(_, e)| e).collect())
}

// ---------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------

/// How often backups were made.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Frequency {
    /// Days from the oldest to the newest backup.
    pub span_days: f64,
    /// Backups per day over the span; None when the backups span less than
    /// a day (12 backups in 4 minutes say nothing about a day, let alone a
    /// week: no extrapolation).
    pub per_day: Option<f64>,
    pub per_week: Option<f64>,
    /// Backups created in the 7 / 30 days before `now`.
    pub last_7_days: u64,
    pub last_30_days: u64,
}

/// Duplicate detection, from the metrics log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DuplicateStats {
    /// Runs that reached this destination.
    pub runs: u64,
    /// Of those, runs skipped because nothing had changed.
    pub skipped_unchanged: u64,
    pub created: u64,
    pub failed: u64,
    /// `skipped_unchanged / runs` (0 when no runs).
    pub duplicate_rate: f64,
}

/// What kind of file a path is, for the breakdown of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileCategory {
    Python,
    JavaScript,
    Rust,
    CCpp,
    DotNet,
    PowerShell,
    Shell,
    Config,
    Docs,
    Data,
    Images,
    Archives,
    Git,
    Other,
}

impl FileCategory {
    /// For display.
    pub fn label(self) -> &'static str {
        match self {
            FileCategory::Python => "Python",
            FileCategory::JavaScript => "JavaScript/TypeScript",
            FileCategory::Rust => "Rust",
            FileCategory::CCpp => "C/C++",
            FileCategory::DotNet => "C#/.NET",
            FileCategory::PowerShell => "PowerShell",
            FileCategory::Shell => "Shell",
            FileCategory::Config => "Config",
            FileCategory::Docs => "Docs",
            FileCategory::Data => "Data",
            FileCategory::Images => "Images",
            FileCategory::Archives => "Archives",
            FileCategory::Git => "Git",
            FileCategory::Other => "Other",
        }
    }
}

/// Extensions per category, checked in this order (so `.ps1xml` is
/// PowerShell and `.csproj` .NET before either could be anything else).
const EXTENSIONS: &[(FileCategory, &[&str])] = &[
    (FileCategory::Python, &["py", "pyi", "ipynb", "pyx", "pyw"]),
    (FileCategory::JavaScript, &["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx", "vue", "svelte"]),
    (FileCategory::Rust, &["rs"]),
    (FileCategory::CCpp, &["c", "h", "cc", "cpp", "cxx", "hpp", "hh", "hxx", "inl"]),
    (
        FileCategory::DotNet,
        &["cs", "csx", "csproj", "sln", "fs", "fsproj", "vb", "vbproj", "props", "targets", "resx", "razor", "xaml"],
    ),
    (FileCategory::PowerShell, &["ps1", "psm1", "psd1", "ps1xml"]),
    (FileCategory::Shell, &["sh", "bash", "zsh", "fish", "ksh", "bat", "cmd"]),
    (
        FileCategory::Config,
        &[
            "json", "jsonc", "yaml", "yml", "toml", "ini", "cfg", "conf", "xml", "env", "properties", "lock",
            "editorconfig",
        ],
    ),
    (FileCategory::Docs, &["md", "markdown", "rst", "txt", "adoc", "asciidoc"]),
    (
        FileCategory::Data,
        &[
            "csv", "tsv", "jsonl", "ndjson", "parquet", "feather", "arrow", "avro", "sqlite", "sqlite3", "db", "h5",
            "hdf5", "npy", "npz", "pkl", "pickle", "xls", "xlsx",
        ],
    ),
    (FileCategory::Images, &["png", "jpg", "jpeg", "gif", "svg", "bmp", "ico", "webp", "tif", "tiff"]),
    (FileCategory::Archives, &["zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "whl", "jar", "nupkg"]),
];

/// The category of a `/`-separated relative path. Pure.
///
/// `.git/…` (at any depth: submodules) is Git; `.env` and `.env.*` are
/// Config, like the other dot-files that configure tools (`.gitignore`,
/// `.editorconfig`…); otherwise the extension decides, ignoring case.
pub fn categorize(path: &str) -> FileCategory {
    if path.starts_with(".git/") || path.contains("/.git/") {
        return FileCategory::Git;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if lower == ".env" || lower.starts_with(".env.") {
        return FileCategory::Config;
    }
    let ext = match lower.rsplit_once('.') {
        Some(("", _)) => {
            // A dot-file with no other dot (`.gitignore`): tool configuration.
            return FileCategory::Config;
        }
        Some((_, ext)) => ext,
        None => return FileCategory::Other,
    };
    EXTENSIONS.iter().find(|(_, exts)| exts.contains(&ext)).map(|(c, _)| *c).unwrap_or(FileCategory::Other)
}

/// Files and bytes of one category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileTypeStat {
    pub category: FileCategory,
    pub label: String,
    pub files: u64,
    pub bytes: u64,
}

/// The breakdown of a manifest by category, largest (bytes) first, then by
/// category; categories with no file are left out. Pure.
pub fn file_types(manifest: &Manifest) -> Vec<FileTypeStat> {
    let mut by: std::collections::BTreeMap<FileCategory, (u64, u64)> = Default::default();
    for f in &manifest.files {
        let e = by.entry(categorize(&f.path)).or_default();
        e.0 += 1;
        e.1 += f.size;
    }
    let mut out: Vec<FileTypeStat> = by
        .into_iter()
        .map(|(category, (files, bytes))| FileTypeStat { category, label: category.label().to_string(), files, bytes })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.category.cmp(&b.category)));
    out
}

/// `Get-RepoBackup -Summary`: one per (destination, repository).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DestinationSummary {
    pub repository: String,
    pub destination: String,
    pub destination_path: PathBuf,
    /// The per-repository folder.
    pub folder: PathBuf,
    /// The folder backed up: one summary per source in a shared folder.
    /// None for the backups made before 0.2 (source unknown).
    pub source: Option<String>,
    /// The machine that made them; None before 0.2.
    pub host: Option<String>,
    pub count: u64,
    pub oldest: Option<DateTime>,
    pub newest: Option<DateTime>,
    pub newest_path: Option<PathBuf>,
    /// Archive bytes, all backups.
    pub total_bytes: u64,
    pub average_bytes: u64,
    /// Source bytes, all backups.
    pub source_bytes: u64,
    /// Archive bytes / source bytes (below 1 is a gain); None without source bytes.
    pub compression_ratio: Option<f64>,
    pub frequency: Frequency,
    /// None when the repository has no metrics log.
    pub duplicates: Option<DuplicateStats>,
    /// The newest backup's files by category.
    pub file_types: Vec<FileTypeStat>,
}

/// Per-destination statistics from the backups' names, sizes and manifests,
/// plus duplicate statistics from the metrics log.
pub fn summary(opts: &HistoryOptions, now: DateTime) -> Result<Vec<DestinationSummary>> {
    let log_dir = config::metrics_dir(opts.metrics_log_dir.as_deref());
    let source_id = source_filter(opts.source.as_deref())?;
    let mut out = Vec::new();
    for folder in repo_folders(opts)? {
        let dir = folder.dir();
        let log = log_dir.as_ref().map(|d| metrics::log_path(d, &folder.repo)).filter(|p| p.is_file());
        let records = match log {
            Some(p) => Some(metrics::read_log(&p)?),
            None => None,
        };
        let backups = backups_in(&folder, source_id.as_deref())?;
        let groups = by_source(backups);
        // A folder with no backup still has its (empty) summary.
        let groups = if groups.is_empty() { vec![Vec::new()] } else { groups };
        for backups in groups {
            // The newest manifest is read once more: the listing keeps only its header.
            let file_types = match backups.last() {
                Some(b) => archive::read_manifest(&b.path).map(|m| file_types(&m)).unwrap_or_default(),
                None => Vec::new(),
            };
            // The runs of this source (and those that name none, which cannot be told apart).
            let source = backups.first().and_then(|b| b.source_id());
            let duplicates = records.as_ref().map(|records| {
                let mine: Vec<Record> = records
                    .iter()
                    .filter(|r| r.source_id.is_empty() || source.is_none_or(|s| s == r.source_id))
                    .cloned()
                    .collect();
                duplicate_stats(&mine, &dir)
            });
            out.push(summarize(&folder, &backups, now, duplicates, file_types));
        }
    }
    Ok(out)
}

/// `backups` (oldest first) split by source, each oldest first; the
/// sources in order of their newest backup, those made before 0.2 last.
pub(crate) fn by_source(backups: Vec<BackupEntry>) -> Vec<Vec<BackupEntry>> {
    let mut groups: Vec<Vec<BackupEntry>> = Vec::new();
    for b in backups {
        match groups.iter_mut().find(|g| g[0].source_id() == b.source_id()) {
            Some(g) => g.push(b),
            None => groups.push(vec![b]),
        }
    }
    groups.sort_by_key(|g| (g[0].origin.is_none(), std::cmp::Reverse(g.last().map(|b| b.created_utc))));
    groups
}

fn summarize(
    folder: &RepoFolder,
    backups: &[BackupEntry],
    now: DateTime,
    duplicates: Option<DuplicateStats>,
    file_types: Vec<FileTypeStat>,
) -> DestinationSummary {
    let count = backups.len() as u64;
    let total_bytes: u64 = backups.iter().map(|b| b.bytes).sum();
    let source_bytes: u64 = backups.iter().map(|b| b.total_bytes).sum();
    DestinationSummary {
        repository: folder.repo.clone(),
        destination: folder.name.clone(),
        destination_path: folder.root.clone(),
        folder: folder.dir(),
        source: backups.first().and_then(|b| b.origin.as_ref()).map(|o| o.source_path.clone()),
        host: backups.first().and_then(|b| b.origin.as_ref()).map(|o| o.host.clone()),
        count,
        oldest: backups.first().map(|b| b.created),
        newest: backups.last().map(|b| b.created),
        newest_path: backups.last().map(|b| b.path.clone()),
        total_bytes,
        average_bytes: total_bytes.checked_div(count).unwrap_or(0),
        source_bytes,
        compression_ratio: (source_bytes > 0).then(|| total_bytes as f64 / source_bytes as f64),
        frequency: frequency(&backups.iter().map(|b| b.created).collect::<Vec<_>>(), now),
        duplicates,
        file_types,
    }
}

/// Frequency of backups made at `times` (oldest first). Pure.
pub fn frequency(times: &[DateTime], now: DateTime) -> Frequency {
    let (Some(&oldest), Some(&newest)) = (times.first(), times.last()) else {
        return Frequency::default();
    };
    let seconds = |a: DateTime, b: DateTime| b.duration_since(a).as_secs_f64();
    let span_days = seconds(oldest, newest) / 86_400.0;
    let per_day = (span_days >= 1.0).then(|| times.len() as f64 / span_days);
    let within = |days: i64| {
        let cutoff = now.checked_sub(jiff::Span::new().days(days)).unwrap_or(DateTime::MIN);
        times.iter().filter(|&&t| t >= cutoff && t <= now).count() as u64
    };
    Frequency {
        span_days,
        per_day,
        per_week: per_day.map(|d| d * 7.0),
        last_7_days: within(7),
        last_30_days: within(30),
    }
}

/// Runs in `records` that reached the per-repository folder `dir`, by
/// outcome there. Records without destinations (the original script's)
/// count by their run status. Pure.
pub fn duplicate_stats(records: &[Record], dir: &Path) -> DuplicateStats {
    let key = comparable(dir);
    let mut s = DuplicateStats::default();
    for r in records {
        let outcome = if r.destinations.is_empty() {
            Some(match r.status {
                metrics::Status::Skipped => DestinationStatus::Skipped,
                metrics::Status::Failed => DestinationStatus::Failed,
                _ => DestinationStatus::Created,
            })
        } else {
            r.destinations.iter().find(|d| comparable(Path::new(&d.path)) == key).map(|d| d.status)
        };
        match outcome {
            Some(DestinationStatus::Skipped | DestinationStatus::WouldSkip) => s.skipped_unchanged += 1,
            Some(DestinationStatus::Created | DestinationStatus::WouldCreate) => s.created += 1,
            Some(DestinationStatus::Failed) => s.failed += 1,
            None => continue,
        }
        s.runs += 1;
    }
    s.duplicate_rate = if s.runs == 0 { 0.0 } else { s.skipped_unchanged as f64 / s.runs as f64 };
    s
}

/// A path for comparison with the ones a run logged (canonical when it exists).
pub(crate) fn comparable(p: &Path) -> PathBuf {
    dunce::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `now` when given (tests), else the clock's local civil time.
pub fn now_or(now: Option<DateTime>) -> DateTime {
    now.unwrap_or_else(|| jiff::ZonedDateTime::now().datetime())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("src/app.py", FileCategory::Python)]
    #[case("stubs/x.PYI", FileCategory::Python)]
    #[case("nb/analysis.ipynb", FileCategory::Python)]
    #[case("web/index.ts", FileCategory::JavaScript)]
    #[case("web/App.tsx", FileCategory::JavaScript)]
    #[case("lib.mjs", FileCategory::JavaScript)]
    #[case("src/lib.rs", FileCategory::Rust)]
    #[case("a/b.hpp", FileCategory::CCpp)]
    #[case("x.c", FileCategory::CCpp)]
    #[case("App/Program.cs", FileCategory::DotNet)]
    #[case("App/App.csproj", FileCategory::DotNet)]
    #[case("Mod/Mod.psd1", FileCategory::PowerShell)]
    #[case("Mod/Mod.Format.ps1xml", FileCategory::PowerShell)]
    #[case("run.sh", FileCategory::Shell)]
    #[case("build.cmd", FileCategory::Shell)]
    #[case("pyproject.toml", FileCategory::Config)]
    #[case("conf/app.yaml", FileCategory::Config)]
    #[case("package.json", FileCategory::Config)]
    #[case("pom.xml", FileCategory::Config)]
    #[case(".env", FileCategory::Config)]
    #[case("svc/.env.local", FileCategory::Config)]
    #[case("prod.env", FileCategory::Config)]
    #[case(".gitignore", FileCategory::Config)]
    #[case("README.md", FileCategory::Docs)]
    #[case("docs/ünïcode 日本.md", FileCategory::Docs)]
    #[case("LICENSE.txt", FileCategory::Docs)]
    #[case("data/x.csv", FileCategory::Data)]
    #[case("logo.PNG", FileCategory::Images)]
    #[case("vendor/x.tar.gz", FileCategory::Archives)]
    #[case(".git/HEAD", FileCategory::Git)]
    #[case(".git/objects/pack/pack-1.pack", FileCategory::Git)]
    #[case("sub/.git/config", FileCategory::Git)]
    #[case("Makefile", FileCategory::Other)]
    #[case("app.log", FileCategory::Other)]
    #[case("a.git/x.py", FileCategory::Python)]
    fn categories(#[case] path: &str, #[case] want: FileCategory) {
        assert_eq!(categorize(path), want, "{path}");
    }

    #[test]
    fn breakdown_sums_and_sorts_by_bytes() {
        let e = |p: &str, size| archive::ManifestEntry { path: p.into(), size, blake3: String::new(), mtime_ns: 0 };
        let m = Manifest {
            dirs: vec![],
            links: vec![],
            format: archive::MANIFEST_FORMAT.into(),
            tool_version: "t".into(),
            repo: "r".into(),
            fingerprint: "f".into(),
            file_count: 4,
            total_bytes: 0,
            files: vec![e("a.py", 10), e("b.py", 5), e(".git/HEAD", 100), e("README.md", 1)],
            origin: None,
        };
        let got: Vec<(FileCategory, u64, u64)> =
            file_types(&m).into_iter().map(|s| (s.category, s.files, s.bytes)).collect();
        assert_eq!(got, vec![(FileCategory::Git, 1, 100), (FileCategory::Python, 2, 15), (FileCategory::Docs, 1, 1)]);
    }

    fn t(s: &str) -> DateTime {
        s.parse().unwrap()
    }

    #[test]
    fn frequency_over_the_span() {
        let times = [t("2026-01-01T00:00:00"), t("2026-01-02T00:00:00"), t("2026-01-11T00:00:00")];
        let f = frequency(&times, t("2026-01-12T00:00:00"));
        assert_eq!(f.span_days, 10.0);
        assert!((f.per_day.unwrap() - 0.3).abs() < 1e-9 && (f.per_week.unwrap() - 2.1).abs() < 1e-9, "{f:?}");
        assert_eq!((f.last_7_days, f.last_30_days), (1, 3));
        // One backup, or twelve within minutes: no rate (no extrapolation from less than a day).
        assert_eq!(frequency(&times[..1], times[0]).per_day, None);
        let minutes: Vec<DateTime> =
            (0..12).map(|i| t("2026-01-01T00:00:00") + jiff::Span::new().seconds(i * 20)).collect();
        let f = frequency(&minutes, minutes[11]);
        assert_eq!((f.per_day, f.per_week), (None, None));
        assert_eq!(frequency(&[], times[0]), Frequency::default());
    }
}
