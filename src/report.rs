//! The result of one backup run: what every consumer of a run reads (the C
//! ABI's JSON, the metrics log, notifications). A leaf: it depends on the
//! types it is made of, and nothing here depends on how a run is carried out.

use crate::archive::VerifyReport;
use crate::destinations::{DestinationReport, DestinationStatus};
use crate::retention::Decision;
use crate::select::{Excluded, Skipped};

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

/// Seconds per step of the run (in the report and the metrics log).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Timings {
    pub select_seconds: f64,
    pub hash_seconds: f64,
    pub compress_seconds: f64,
    pub place_seconds: f64,
    pub verify_seconds: f64,
    pub prune_seconds: f64,
}

impl Timings {
    /// (step label, seconds), in run order.
    pub fn steps(&self) -> [(&'static str, f64); 6] {
        [
            ("select", self.select_seconds),
            ("hash", self.hash_seconds),
            ("compress", self.compress_seconds),
            ("place", self.place_seconds),
            ("verify", self.verify_seconds),
            ("prune", self.prune_seconds),
        ]
    }
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
    /// The source's identity (see [`crate::identity`]): what tells its
    /// backups from those of another repository with the same folder name.
    #[serde(default)]
    pub source_id: String,
    /// The machine that made the backup.
    #[serde(default)]
    pub host: String,
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
    /// Bytes of the archive cloned from the previous backup instead of
    /// written (copy-on-write file systems: XFS, Btrfs).
    #[serde(default)]
    pub bytes_cloned: u64,
    pub destinations: Vec<DestinationReport>,
    /// Every path a rule left out, with the rule (always filled).
    pub excluded: Vec<Excluded>,
    /// `excluded` counted per rule, most first (what `-Verbose` shows).
    #[serde(default)]
    pub excluded_rules: Vec<RuleCount>,
    /// The backups retention deleted (a dry run: would delete), each with
    /// its destination and why.
    #[serde(default)]
    pub pruned: Vec<PrunedBackup>,
    /// The steps that ran, in order (`select`, `hash`, `compress`, `place`,
    /// `verify`, `prune`): an unchanged run compresses nothing, a run
    /// without `verify` verifies nothing.
    #[serde(default)]
    pub steps: Vec<String>,
    /// The metrics log the run's record was appended to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_log: Option<String>,
    pub skipped_paths: Vec<Skipped>,
    /// Files a default rule would leave out, kept because git tracks them
    /// (each with that rule).
    #[serde(default)]
    pub kept_tracked: Vec<Excluded>,
    pub verification: Vec<VerifyReport>,
    pub retention: Vec<RetentionReport>,
    pub warnings: Vec<String>,
    /// What `-Verbose` should say about choices the run made (files kept
    /// because git tracks them, git not found).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Symbolic links stored as links (their targets, never followed).
    #[serde(default)]
    pub links_stored: u64,
    /// Folders with nothing selected in them, stored as folder entries.
    #[serde(default)]
    pub dirs_stored: u64,
    /// When the source's `.git` is a file (a linked worktree, or a
    /// submodule checked out on its own), the folder it points to: the
    /// repository's objects and refs live there, not in this backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_git_dir: Option<String>,
}

/// How many paths one rule left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleCount {
    pub rule: String,
    pub count: u64,
}

/// One backup retention deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrunedBackup {
    /// The destination's name (as in `destinations[].name`).
    pub destination: String,
    /// The archive.
    pub path: String,
    /// Local time from its name.
    pub created: jiff::civil::DateTime,
    /// Why it goes.
    pub reasons: Vec<String>,
}

/// What retention did in one per-repository folder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetentionReport {
    pub destination: String,
    pub decisions: Vec<Decision>,
    /// Paths actually deleted.
    pub deleted: Vec<String>,
    pub errors: Vec<String>,
}

/// The run's status from its destinations (the old script's vocabulary, typed; docs/COMPATIBILITY.md).
pub fn run_status(destinations: &[DestinationReport], dry_run: bool) -> RunStatus {
    use DestinationStatus::*;
    if dry_run {
        return RunStatus::Planned;
    }
    let count = |s: DestinationStatus| destinations.iter().filter(|d| d.status == s).count();
    let (created, skipped, failed) = (count(Created), count(Skipped), count(Failed));
    match (created, skipped, failed) {
        (_, _, 0) if created > 0 => RunStatus::Created,
        (0, _, 0) => RunStatus::Skipped,
        (0, 0, _) => RunStatus::Failed,
        _ => RunStatus::Partial,
    }
}
