//! Retention carried out: planned per per-repository folder with the pure
//! [`crate::retention::plan`], per source, over our backups only (from
//! [`crate::catalog`]), then applied. Used after a run (`-KeepLast`) and on
//! demand (`Remove-RepoBackup`).
//!
//! Rules:
//! - Only our backups are candidates, so applying a plan can never delete
//!   anything else; two repositories that share a folder name never prune
//!   each other. A backup made before 0.2 names no source and is always kept
//!   (delete it by path).
//! - Backups are ordered by the UTC time they record, never by the local
//!   time in their names.

use std::path::{Path, PathBuf};

use jiff::civil::DateTime;

use crate::history::{by_source, comparable, repo_folders, source_filter, HistoryOptions, RepoFolder};
pub use crate::report::RetentionReport;
use crate::retention::{self, Candidate, Decision, Policy};
use crate::{catalog, Error, Result};

/// What `Remove-RepoBackup` takes; the JSON of `br_retention_plan` / `_apply`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionOptions {
    /// As [`HistoryOptions::destinations`].
    pub destinations: Vec<PathBuf>,
    /// As [`HistoryOptions::repo`].
    pub repo: Option<String>,
    pub policy: Policy,
    /// "Now" as local civil time (tests); default the clock.
    pub now: Option<DateTime>,
    /// As [`HistoryOptions::source`]: only this source's backups are
    /// candidates. None: the policy applies to each source on its own.
    pub source: Option<PathBuf>,
    /// Backups given one by one (`Get-RepoBackup | Remove-RepoBackup`):
    /// the policy applies within exactly these, per folder and source, and
    /// no other backup is a candidate. Each must be a backup of ours; not
    /// to be combined with `destinations` or `repo`.
    pub archives: Vec<PathBuf>,
}

/// The plan for one per-repository folder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetentionPlan {
    /// The per-repository folder.
    pub destination: String,
    pub destination_name: String,
    pub repository: String,
    /// Newest first; `keep: false` would be deleted.
    pub decisions: Vec<Decision>,
}

/// Reason of a backup made before 0.2: it names no source, so no source's
/// policy may delete it.
pub const REASON_SOURCE_UNKNOWN: &str = "made before 0.2 (source unknown): delete it by path";

/// Reason of the backup a run has just made, should the clock have been set
/// back since an older one (it is kept whatever the rules say).
pub const REASON_THIS_RUN: &str = "made by this run";

/// What to prune in one per-repository folder.
#[derive(Debug, Clone, Copy)]
pub struct PruneScope<'a> {
    pub dir: &'a Path,
    pub repo: &'a str,
    /// Only this source's backups; None: each source on its own.
    pub source_id: Option<&'a str>,
    /// A backup never deleted (the one the run has just made).
    pub keep: Option<&'a Path>,
    /// Only these backups are candidates (backups piped to
    /// `Remove-RepoBackup`); None: every backup in `dir`.
    pub only: Option<&'a [PathBuf]>,
    /// A backup of `source_id` a run would make at this time (a dry run's
    /// plan): it counts as the newest, and is not in the decisions.
    pub planned: Option<jiff::Timestamp>,
}

/// The id of the backup a dry run would make, in a plan (never shown).
const PLANNED_ID: &str = "\0planned";

/// Decisions for our backups in `scope`, newest first. Each source's backups
/// are planned on their own; those of other sources (when `source_id` is
/// given) are not candidates at all, and those made before 0.2 are kept.
/// Backups are ordered by their UTC times: the civil times the rules see are
/// those times at `now`'s UTC offset, so a time-zone change or the end of
/// daylight saving never reorders them.
pub fn plan_dir(scope: PruneScope<'_>, policy: &Policy, now: jiff::Timestamp) -> Result<Vec<Decision>> {
    let offset = jiff::tz::TimeZone::system().to_offset(now);
    let at_offset = |t: jiff::Timestamp| offset.to_datetime(t);
    let backups = catalog::list_backups(scope.dir, scope.repo)?
        .into_iter()
        .filter(|b| scope.source_id.is_none_or(|id| b.source_id().is_none_or(|s| s == id)))
        .filter(|b| scope.only.is_none_or(|only| only.iter().any(|p| same_file(p, &b.path))))
        .collect::<Vec<_>>();
    let mut decisions = Vec::new();
    for group in by_source(backups) {
        let planned_here =
            scope.planned.filter(|_| scope.source_id.is_some() && group[0].source_id() == scope.source_id);
        // Strictly increasing in the catalog's order (UTC time, then the
        // name's), so backups recorded in one instant (`now` fixed by a test,
        // a clock stepped back) still have one newest: the last named.
        let mut last: Option<DateTime> = None;
        let mut in_order = |t: jiff::Timestamp| {
            let after = last.and_then(|l| l.checked_add(jiff::Span::new().nanoseconds(1)).ok());
            let created = after.map_or(at_offset(t), |after| at_offset(t).max(after));
            last = Some(created);
            created
        };
        let mut candidates: Vec<Candidate> = group
            .iter()
            .map(|b| Candidate {
                id: b.path.display().to_string(),
                created: in_order(b.created_utc),
                ours: true,
                kept_because: b.origin.is_none().then(|| REASON_SOURCE_UNKNOWN.to_string()),
            })
            .collect();
        if let Some(t) = planned_here {
            candidates.push(Candidate {
                id: PLANNED_ID.to_string(),
                created: in_order(t),
                ours: true,
                kept_because: None,
            });
        }
        let named: std::collections::HashMap<String, DateTime> =
            group.iter().map(|b| (b.path.display().to_string(), b.created)).collect();
        for mut d in retention::plan(&candidates, policy, at_offset(now))?.into_iter().filter(|d| d.id != PLANNED_ID) {
            // Ordered by the time the plan saw; shown with the time in its
            // name, as every listing shows it.
            let order = d.created;
            if let Some(&created) = named.get(&d.id) {
                d.created = created;
            }
            if !d.keep && scope.keep.is_some_and(|k| Path::new(&d.id) == k) {
                d.keep = true;
                d.reasons = vec![REASON_THIS_RUN.to_string()];
            }
            decisions.push((order, d));
        }
    }
    decisions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    Ok(decisions.into_iter().map(|(_, d)| d).collect())
}

/// Plan and carry out retention in one per-repository folder. A file that
/// cannot be deleted is an error in the report; the others still go.
pub fn prune_dir(scope: PruneScope<'_>, policy: &Policy, now: jiff::Timestamp) -> Result<RetentionReport> {
    let decisions = plan_dir(scope, policy, now)?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for d in decisions.iter().filter(|d| !d.keep) {
        match std::fs::remove_file(&d.id) {
            Ok(()) => deleted.push(d.id.clone()),
            Err(e) => errors.push(Error::io("delete", Path::new(&d.id), e).message),
        }
    }
    Ok(RetentionReport { destination: scope.dir.display().to_string(), decisions, deleted, errors })
}

fn retention_folders(opts: &RetentionOptions) -> Result<Vec<RepoFolder>> {
    if !opts.archives.is_empty() {
        return archive_folders(opts);
    }
    repo_folders(&HistoryOptions {
        destinations: opts.destinations.clone(),
        repo: opts.repo.clone(),
        ..Default::default()
    })
}

/// The folders of the backups given by path, in the order first given;
/// each path must be one of our backups.
fn archive_folders(opts: &RetentionOptions) -> Result<Vec<RepoFolder>> {
    if !opts.destinations.is_empty() || opts.repo.is_some() {
        return Err(Error::invalid(
            "backups given one by one (piped) cannot be combined with a repository or destinations: \
             give either the backups or the repository and destinations",
        ));
    }
    let mut folders: Vec<RepoFolder> = Vec::new();
    for path in &opts.archives {
        let not_ours = || Error::invalid(format!("'{}' is not a backup made by BackupRepo", path.display()));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).ok_or_else(not_ours)?;
        let repo = dir.file_name().and_then(|n| n.to_str()).ok_or_else(not_ours)?.to_string();
        let root = dir.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
        if !catalog::list_backups(dir, &repo)?.iter().any(|b| same_file(&b.path, path)) {
            return Err(not_ours());
        }
        if !folders.iter().any(|f| f.dir() == dir) {
            folders.push(RepoFolder { root, repo, name: String::new() });
        }
    }
    let roots: Vec<PathBuf> = folders.iter().map(|f| f.root.clone()).collect();
    for (f, name) in folders.iter_mut().zip(crate::naming::destination_names(&roots)) {
        f.name = name;
    }
    Ok(folders)
}

/// Two spellings of one file (canonical when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || comparable(a) == comparable(b)
}

/// `now` (local civil time, tests) as an instant, else the clock's.
fn now_utc(now: Option<DateTime>) -> jiff::Timestamp {
    match now {
        Some(civil) => catalog::utc_of(None, civil),
        None => jiff::Timestamp::now(),
    }
}

/// `f` for every folder `opts` names, with its scope and "now".
fn each_folder<T>(
    opts: &RetentionOptions,
    mut f: impl FnMut(PruneScope<'_>, &RepoFolder, jiff::Timestamp) -> Result<T>,
) -> Result<Vec<T>> {
    let now = now_utc(opts.now);
    let source_id = source_filter(opts.source.as_deref())?;
    let only = (!opts.archives.is_empty()).then_some(opts.archives.as_slice());
    retention_folders(opts)?
        .iter()
        .map(|folder| {
            let dir = folder.dir();
            let scope = PruneScope {
                dir: &dir,
                repo: &folder.repo,
                source_id: source_id.as_deref(),
                keep: None,
                only,
                planned: None,
            };
            f(scope, folder, now)
        })
        .collect()
}

/// The dry plan in every folder (what `-WhatIf` shows). Writes nothing.
pub fn plan_retention(opts: &RetentionOptions) -> Result<Vec<RetentionPlan>> {
    each_folder(opts, |scope, folder, now| {
        Ok(RetentionPlan {
            destination: scope.dir.display().to_string(),
            destination_name: folder.name.clone(),
            repository: folder.repo.clone(),
            decisions: plan_dir(scope, &opts.policy, now)?,
        })
    })
}

/// Apply the plan in every folder. Refuses an empty policy: on demand,
/// "no rule" is a mistake, not a request to keep everything.
pub fn apply_retention(opts: &RetentionOptions) -> Result<Vec<RetentionReport>> {
    if opts.policy.is_empty() {
        return Err(Error::invalid(
            "no retention rule given (keep_last, keep_within, keep_daily, keep_weekly or keep_monthly)",
        ));
    }
    each_folder(opts, |scope, _, now| prune_dir(scope, &opts.policy, now))
}
