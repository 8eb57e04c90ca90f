//! The metrics log (one JSON line per repository per run, the original's keys
//! kept) and Prometheus exposition rendered from it.
//!
//! - [`Record`]: one line of `backup-<repo>.jsonl`. The original script's keys
//!   (`timestamp, repo, status, locations_created, locations_skipped, size_mb,
//!   duration_seconds, file_count, duplicate_detected`) keep their names and
//!   meaning so existing Loki/Grafana queries keep working; everything else is
//!   added. `schema/metrics-record.schema.json` documents it (schema_version 1).
//! - [`append`] / [`read_log`]: atomic appends, tolerant reads.
//! - [`render_prometheus`], [`write_textfile`], [`push_payloads`], [`serve`]:
//!   the three ways into Prometheus (textfile collector, Pushgateway,
//!   `/metrics`). The push is built here and sent by the PowerShell module
//!   (the engine has no HTTP client).

mod prom;
mod push;
mod serve;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::destinations::{DestinationReport, DestinationStatus};
use crate::report::{BackupReport, RunStatus, Timings};
use crate::{Error, Result};

pub use prom::{render_log_dir, render_prometheus, write_textfile};
pub use push::{grouping_path, push_payloads, PushPayload, PUSH_CONTENT_TYPE};
pub use serve::{serve, Exporter};

/// Version of the record layout written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// A run's outcome in the original script's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// At least one archive created and nothing failed.
    Success,
    /// Every destination unchanged (duplicate).
    Skipped,
    /// Some destinations failed, others created or skipped.
    Partial,
    /// Nothing placed anywhere (or the run itself failed).
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Success, Status::Skipped, Status::Partial, Status::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Skipped => "skipped",
            Status::Partial => "partial",
            Status::Failed => "failed",
        }
    }

    /// The run left the repository backed up and current (`success` or
    /// `skipped`): what `backup_repo_last_success_timestamp_seconds` tracks.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Success | Status::Skipped)
    }

    /// `None` for a dry run (`Planned`), which is never logged.
    pub fn from_run(s: RunStatus) -> Option<Status> {
        match s {
            RunStatus::Created => Some(Status::Success),
            RunStatus::Skipped => Some(Status::Skipped),
            RunStatus::Partial => Some(Status::Partial),
            RunStatus::Failed => Some(Status::Failed),
            RunStatus::Planned => None,
        }
    }
}

/// One destination's outcome in a run, plus (optionally) what the catalogue
/// knows about the backups kept there.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DestinationRecord {
    pub name: String,
    /// The per-repository folder (`<root>/<repo>`).
    pub path: String,
    /// `created`, `skipped` or `failed`.
    pub status: DestinationStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub free_bytes: Option<u64>,
    #[serde(default)]
    pub total_bytes: Option<u64>,
    /// Number of backups of this repository kept there (after retention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<u64>,
    /// Their total size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_bytes: Option<u64>,
    /// The oldest one's time, UTC RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_backup: Option<String>,
}

impl DestinationRecord {
    pub fn from_report(d: &DestinationReport) -> DestinationRecord {
        let status = match d.status {
            DestinationStatus::WouldCreate => DestinationStatus::Created,
            DestinationStatus::WouldSkip => DestinationStatus::Skipped,
            s => s,
        };
        DestinationRecord {
            name: d.name.clone(),
            path: d.path.clone(),
            status,
            reason: d.reason.clone(),
            free_bytes: d.free_bytes,
            total_bytes: d.total_bytes,
            backups: d.backups,
            backups_bytes: d.backups_bytes,
            oldest_backup: d.oldest_backup.clone(),
        }
    }
}

/// One line of the metrics log. Lines written by the original script (only
/// its nine keys) read back too: every added key has a default.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    // --- the original's keys, names and meaning unchanged ---
    /// When the run started, UTC, ISO 8601 / RFC 3339 (`...Z`).
    pub timestamp: String,
    pub repo: String,
    pub status: Status,
    pub locations_created: u64,
    pub locations_skipped: u64,
    /// Archive size in MiB, 2 decimals (0 when none was built).
    pub size_mb: f64,
    pub duration_seconds: f64,
    pub file_count: u64,
    /// At least one destination already had this content.
    pub duplicate_detected: bool,
    // --- added ---
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub tool_version: String,
    #[serde(default)]
    pub locations_failed: u64,
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default)]
    pub source_bytes: u64,
    #[serde(default)]
    pub archive_bytes: u64,
    #[serde(default)]
    pub timings: Timings,
    #[serde(default)]
    pub destinations: Vec<DestinationRecord>,
    #[serde(default)]
    pub files_hashed: u64,
    #[serde(default)]
    pub files_cached: u64,
    /// Why the run failed, when it failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The source's identity (two repositories with one folder name share
    /// a log; this tells their runs apart). Empty when unknown (a run that
    /// failed before identifying its source, the original's lines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_id: String,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `s` as a UTC RFC 3339 string when it parses, else unchanged.
fn normalize_utc(s: &str) -> String {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => t.to_string(),
        Err(_) => s.to_string(),
    }
}

impl Record {
    /// The record of a finished run. A dry run (`Planned`) is never logged
    /// (`backup::run` logs real runs only): it maps to `failed` here only so
    /// the function is total.
    pub fn from_report(r: &BackupReport) -> Record {
        let status = Status::from_run(r.status).unwrap_or(Status::Failed);
        let destinations: Vec<DestinationRecord> = r.destinations.iter().map(DestinationRecord::from_report).collect();
        let count = |s: DestinationStatus| destinations.iter().filter(|d| d.status == s).count() as u64;
        let locations_skipped = count(DestinationStatus::Skipped);
        let t = &r.timings;
        Record {
            timestamp: normalize_utc(&r.started_utc),
            repo: r.repo.clone(),
            status,
            locations_created: count(DestinationStatus::Created),
            locations_skipped,
            size_mb: round2(r.archive_bytes as f64 / (1024.0 * 1024.0)),
            duration_seconds: round3(r.duration_seconds),
            file_count: r.file_count,
            duplicate_detected: locations_skipped > 0,
            schema_version: SCHEMA_VERSION,
            tool_version: r.tool_version.clone(),
            locations_failed: count(DestinationStatus::Failed),
            fingerprint: r.fingerprint.clone(),
            source_bytes: r.source_bytes,
            archive_bytes: r.archive_bytes,
            timings: Timings {
                select_seconds: round3(t.select_seconds),
                hash_seconds: round3(t.hash_seconds),
                compress_seconds: round3(t.compress_seconds),
                place_seconds: round3(t.place_seconds),
                verify_seconds: round3(t.verify_seconds),
                prune_seconds: round3(t.prune_seconds),
            },
            destinations,
            files_hashed: r.files_hashed,
            files_cached: r.files_cached,
            error: None,
            source_id: r.source_id.clone(),
        }
    }

    /// The record of a run that failed before it produced a report (not a
    /// repository, cancelled, ...): status `failed`, the error kept.
    pub fn failed(repo: &str, started: jiff::Timestamp, duration_seconds: f64, error: &str) -> Record {
        Record {
            timestamp: started.to_string(),
            repo: repo.to_string(),
            status: Status::Failed,
            locations_created: 0,
            locations_skipped: 0,
            size_mb: 0.0,
            duration_seconds: round3(duration_seconds),
            file_count: 0,
            duplicate_detected: false,
            schema_version: SCHEMA_VERSION,
            tool_version: crate::VERSION.to_string(),
            locations_failed: 0,
            fingerprint: String::new(),
            source_bytes: 0,
            archive_bytes: 0,
            timings: Timings::default(),
            destinations: Vec::new(),
            files_hashed: 0,
            files_cached: 0,
            error: Some(error.to_string()),
            source_id: String::new(),
        }
    }

    /// `timestamp` parsed; None when malformed.
    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.timestamp.parse().ok()
    }

    /// The archive size in bytes: `archive_bytes`, or from `size_mb` for
    /// records written by the original script.
    pub fn archive_size(&self) -> u64 {
        if self.archive_bytes > 0 {
            self.archive_bytes
        } else {
            (self.size_mb * 1024.0 * 1024.0).round().max(0.0) as u64
        }
    }

    /// An archive was written somewhere in this run.
    pub fn created_archive(&self) -> bool {
        self.locations_created > 0 || (self.status == Status::Success && self.destinations.is_empty())
    }

    /// One compact JSON line, `\n`-terminated.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("a Record always serializes");
        s.push('\n');
        s
    }
}

/// `backup-<repo>.jsonl`, the original's file name.
pub fn log_file_name(repo: &str) -> String {
    format!("backup-{repo}.jsonl")
}

/// `<dir>/backup-<repo>.jsonl`.
pub fn log_path(dir: &Path, repo: &str) -> PathBuf {
    dir.join(log_file_name(repo))
}

/// Append `record` as one line. Parent folders are created. The line goes out
/// in a single `write` on a file opened for append (O_APPEND: concurrent
/// writers never interleave within a line), under an exclusive advisory lock
/// (Windows, and file systems where append is not atomic across processes).
pub fn append(path: &Path, record: &Record) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create the metrics folder", parent, e))?;
    }
    let line = record.to_line();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open the metrics log", path, e))?;
    fs4::FileExt::lock(&file).map_err(|e| Error::io("lock the metrics log", path, e))?;
    let res = (|| {
        let n = file.write(line.as_bytes())?;
        if n < line.len() {
            // A short write on a regular file: finish it (still under the lock).
            file.write_all(&line.as_bytes()[n..])?;
        }
        file.flush()
    })();
    let _ = fs4::FileExt::unlock(&file);
    res.map_err(|e| Error::io("append to the metrics log", path, e))
}

/// What [`read_log_counted`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogContents {
    pub records: Vec<Record>,
    /// Lines that did not parse (a torn last line, hand edits); skipped.
    pub unparsable: usize,
}

/// Every record of a log, in file order; unparsable lines are skipped and
/// counted. A missing file is an empty log.
pub fn read_log_counted(path: &Path) -> Result<LogContents> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogContents::default()),
        Err(e) => return Err(Error::io("open the metrics log", path, e)),
    };
    let mut out = LogContents::default();
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::io("read the metrics log", path, e))?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.records.push(r),
            Err(_) => out.unparsable += 1,
        }
    }
    Ok(out)
}

/// Every record of a log (see [`read_log_counted`]).
pub fn read_log(path: &Path) -> Result<Vec<Record>> {
    read_log_counted(path).map(|c| c.records)
}

/// The `backup-*.jsonl` files of a folder, sorted; a missing folder has none.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list the metrics folder", dir, e)),
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("backup-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Every record of every `backup-*.jsonl` in `dir`.
pub fn read_log_dir(dir: &Path) -> Result<LogContents> {
    let mut all = LogContents::default();
    for f in log_files(dir)? {
        let c = read_log_counted(&f)?;
        all.records.extend(c.records);
        all.unparsable += c.unparsable;
    }
    Ok(all)
}

/// Render `log_dir`'s logs and write them to the textfile `path` atomically
/// (what a scheduled task runs between backups).
pub fn refresh_textfile(log_dir: &Path, path: &Path) -> Result<()> {
    write_textfile(path, &render_log_dir(log_dir, jiff::Timestamp::now())?)
}
