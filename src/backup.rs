//! One backup run, planned then carried out: select, fingerprint, decide per
//! destination (unchanged -> skip), build the archive once, place it
//! everywhere, then optionally verify and prune. A dry run stops after the
//! plan and writes nothing anywhere (not even the stat cache).

use std::path::PathBuf;

use crate::archive::{ArchiveOptions, VerifyReport};
use crate::destinations::DestinationReport;
use crate::progress::Control;
use crate::retention::{Decision, Policy};
use crate::select::{Excluded, SelectOptions, Skipped};
use crate::Result;

/// Everything a run can be told; the JSON the C ABI takes. Unknown keys are
/// an error (a typo must not silently change what is backed up).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupOptions {
    /// The repository folder (required).
    pub source: PathBuf,
    /// Destination roots; each gets a `<repo>` sub-folder. Empty: the
    /// config file's, else the platform defaults (config::default_destinations).
    pub destinations: Vec<PathBuf>,
    /// Defaults to the source folder's name.
    pub repo_name: Option<String>,
    #[serde(flatten)]
    pub select: SelectOptions,
    #[serde(flatten)]
    pub archive: ArchiveOptions,
    /// Plan only: write nothing anywhere.
    pub dry_run: bool,
    /// Back up even when unchanged.
    pub force: bool,
    /// Include every excluded path with its rule in the report.
    pub report_excluded: bool,
    /// Where the stat cache lives; default config::default_cache_dir().
    pub cache_dir: Option<PathBuf>,
    /// "Now" as local civil time (tests); default the clock.
    pub now: Option<jiff::civil::DateTime>,
    /// Verify every archive written.
    pub verify: bool,
    /// Retention applied to each destination after a successful run.
    pub retention: Option<Policy>,
    /// Warn when a destination's usage is above this percentage (default 90).
    pub disk_warning_percent: Option<f64>,
    /// Append the run's record to this metrics log (JSONL); None: don't.
    pub metrics_log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// At least one archive created and none failed.
    Created,
    /// Every destination unchanged.
    Skipped,
    /// Some created or skipped, some failed.
    Partial,
    /// Nothing placed anywhere.
    Failed,
    /// Dry run.
    Planned,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub select_seconds: f64,
    pub hash_seconds: f64,
    pub compress_seconds: f64,
    pub place_seconds: f64,
    pub verify_seconds: f64,
    pub prune_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetentionReport {
    pub destination: String,
    pub decisions: Vec<Decision>,
    /// Paths actually deleted.
    pub deleted: Vec<String>,
    pub errors: Vec<String>,
}

/// The result of one run; the JSON the C ABI returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackupReport {
    pub tool_version: String,
    pub repo: String,
    pub source: String,
    pub status: RunStatus,
    /// The stamp in the archive name, `yyyy-MM-dd_HH-mm-ss` (local).
    pub timestamp: String,
    /// When the run started, UTC, RFC 3339.
    pub started_utc: String,
    pub archive_name: String,
    pub fingerprint: String,
    pub file_count: u64,
    pub source_bytes: u64,
    /// Size of the archive built (0 when none was built).
    pub archive_bytes: u64,
    pub duration_seconds: f64,
    pub timings: Timings,
    /// Files read and hashed vs. answered by the stat cache.
    pub files_hashed: u64,
    pub files_cached: u64,
    /// Entries reused raw from the previous archive.
    pub entries_reused: u64,
    pub destinations: Vec<DestinationReport>,
    /// Filled when `report_excluded`.
    pub excluded: Vec<Excluded>,
    pub skipped_paths: Vec<Skipped>,
    pub verification: Vec<VerifyReport>,
    pub retention: Vec<RetentionReport>,
    pub warnings: Vec<String>,
}

/// Run (or, with `dry_run`, plan) one backup.
pub fn run(_opts: &BackupOptions, _control: &Control) -> Result<BackupReport> {
    todo!("backup: run")
}
