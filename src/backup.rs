//! One backup run, planned then carried out: select, fingerprint, decide per
//! destination (unchanged -> skip), build the archive once, place it
//! everywhere, then optionally verify and prune. A dry run stops after the
//! plan and writes nothing anywhere (it reads the stat cache, never writes it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::archive::{self, ArchiveOptions, ManifestOf, VerifyOptions};
use crate::config;
use crate::destinations::{self, DestinationReport, DestinationStatus};
use crate::fingerprint::{self, HashedFile};
use crate::metrics::{self, Record};
use crate::progress::{Control, Phase};
use crate::report::run_status;
pub use crate::report::{BackupReport, PrunedBackup, RuleCount, RunStatus, Timings};
use crate::retention::Policy;
use crate::select::{self, Excluded, SelectOptions, Skipped};
use crate::{catalog, Error, ErrorKind, Result};

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
    /// Kept for callers that set it: every excluded path is always in the
    /// report now (with a per-rule summary in `excluded_rules`).
    pub report_excluded: bool,
    /// When `source` is inside a repository rather than its root, back up
    /// the repository root above it (the nearest folder with a marker, as
    /// git finds its root). False: `source` must be the root (the drop-in,
    /// as the original script).
    pub find_root: bool,
    /// With no `metrics_log`, append the run's record to the default one:
    /// `$BACKUP_REPO_METRICS_DIR`, else the config file's
    /// `metrics_log_dir`, else the platform's, file `backup-<repo>.jsonl`.
    pub default_metrics_log: bool,
    /// Where the stat cache lives; default config::default_cache_dir().
    pub cache_dir: Option<PathBuf>,
    /// "Now" as local civil time (tests); default the clock.
    pub now: Option<jiff::civil::DateTime>,
    /// "Now" as an instant (tests of clock and time-zone changes); wins
    /// over `now`. Default the clock.
    pub now_utc: Option<jiff::Timestamp>,
    /// The time zone of the local time in the backup's name: an IANA name
    /// (`Europe/Berlin`) or a POSIX TZ string (`CET-1CEST,M3.5.0,M10.5.0/3`).
    /// Default the system's (which honours `TZ`).
    pub time_zone: Option<String>,
    /// The machine's name as recorded in the backup and its source's
    /// identity; default the OS's. For tests that play two machines, and
    /// for a machine that was renamed.
    pub host_name: Option<String>,
    /// The config file: its destinations and disk warning apply when the
    /// options leave them out, its exclude and include globs always (before
    /// the options' own). Default the one `BACKUP_REPO_CONFIG` names, else
    /// the platform's.
    pub config_path: Option<PathBuf>,
    /// Verify every archive written.
    pub verify: bool,
    /// Retention applied to each destination after a successful run.
    pub retention: Option<Policy>,
    /// Warn when a destination's usage is above this percentage (default 90).
    pub disk_warning_percent: Option<f64>,
    /// Append the run's record to this metrics log (JSONL); None: don't.
    pub metrics_log: Option<PathBuf>,
    /// After logging, write the log's Prometheus metrics to this textfile
    /// (node_exporter's textfile collector). Needs `metrics_log`. (The
    /// Pushgateway push is the module's: `br_metrics_push_payloads`.)
    pub prometheus_textfile: Option<PathBuf>,
}

/// The metrics log a run appends to: `metrics_log`, else with
/// `default_metrics_log` the default one (see [`BackupOptions`]); never for
/// a dry run.
fn metrics_log_of(opts: &BackupOptions) -> Option<PathBuf> {
    if opts.dry_run {
        return None;
    }
    if let Some(log) = &opts.metrics_log {
        return Some(log.clone());
    }
    if !opts.default_metrics_log {
        return None;
    }
    let source = find_source(&opts.source, opts.find_root).map(|(s, _)| s).unwrap_or_else(|_| opts.source.clone());
    let repo = repo_name(opts, &source).ok()?;
    let config = match &opts.config_path {
        Some(p) => config::load(p),
        None => config::load_current(),
    };
    let dir = config::metrics_dir_of(&config.unwrap_or_default())?;
    Some(metrics::log_path(&dir, &repo))
}

/// Run (or, with `dry_run`, plan) one backup; a real run, failed or not, is
/// recorded in the metrics log when one is set. Problems with metrics become
/// warnings: monitoring never fails a backup.
pub fn run(opts: &BackupOptions, control: &Control) -> Result<BackupReport> {
    let clock = Instant::now();
    let started_utc = jiff::Timestamp::now();
    let result = run_unlogged(opts, control, clock, started_utc);
    let Some(log) = metrics_log_of(opts) else {
        return result;
    };
    let log = log.as_path();
    match result {
        Ok(mut report) => {
            let warnings = record_metrics(opts, log, &Record::from_report(&report));
            if !warnings.iter().any(|w| w.starts_with("metrics log not written")) {
                report.metrics_log = Some(log.display().to_string());
            }
            report.warnings.extend(warnings);
            Ok(report)
        }
        Err(err) => {
            let repo = opts
                .repo_name
                .clone()
                .or_else(|| opts.source.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            let record = Record::failed(&repo, started_utc, clock.elapsed().as_secs_f64(), &err.message);
            record_metrics(opts, log, &record);
            Err(err)
        }
    }
}

/// Append the record, then refresh the textfile when asked.
fn record_metrics(opts: &BackupOptions, log: &Path, record: &Record) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(e) = metrics::append(log, record) {
        warnings.push(format!("metrics log not written: {}", e.message));
        return warnings;
    }
    let Some(path) = &opts.prometheus_textfile else {
        return warnings;
    };
    let text = match metrics::read_log(log) {
        Ok(records) => metrics::render_prometheus(&records, jiff::Timestamp::now()),
        Err(e) => {
            warnings.push(format!("metrics log not readable: {}", e.message));
            return warnings;
        }
    };
    if let Err(e) = metrics::write_textfile(path, &text) {
        warnings.push(format!("Prometheus textfile not written: {}", e.message));
    }
    warnings
}

/// What a run works with, resolved before anything is read from the source
/// or a destination: the source and its identity, when (and in which time
/// zone) the backup is made, the destinations and why any cannot be used,
/// and the selection rules (the config file's, then the run's own).
struct RunPlan {
    source: PathBuf,
    /// The folder given, when the source was found above it (`find_root`).
    walked_up: Option<PathBuf>,
    repo: String,
    host: String,
    identity: crate::identity::SourceIdentity,
    run_id: crate::identity::RunId,
    zone: jiff::tz::TimeZone,
    now_utc: jiff::Timestamp,
    /// `now_utc` as local time in `zone`: the time in the backup's name.
    now: jiff::civil::DateTime,
    roots: Vec<PathBuf>,
    /// Each root's display name, distinct among them.
    names: Vec<String>,
    warn_at: f64,
    select_opts: SelectOptions,
    cache_dir: Option<PathBuf>,
    /// Per root: why it cannot be used at all (not reachable, inside the source).
    refused: Vec<Option<String>>,
}

/// Resolve `opts` into a [`RunPlan`] (reads the config file at most once).
fn plan_run(opts: &BackupOptions, started_utc: jiff::Timestamp) -> Result<RunPlan> {
    let (source, walked_up) = find_source(&opts.source, opts.find_root)?;
    let repo = repo_name(opts, &source)?;
    let host = opts.host_name.clone().unwrap_or_else(crate::identity::host_name);
    let identity = crate::identity::SourceIdentity::new(&host, &source);
    let run_id = crate::identity::RunId::new(&host);
    let zone = time_zone(opts.time_zone.as_deref())?;
    let now_utc = match (opts.now_utc, opts.now) {
        (Some(t), _) => t,
        (None, Some(civil)) => zone.to_ambiguous_timestamp(civil).compatible().unwrap_or(started_utc),
        (None, None) => started_utc,
    };
    let now = opts.now.filter(|_| opts.now_utc.is_none()).unwrap_or_else(|| zone.to_datetime(now_utc));
    // The config file is read at most once, and only when an option leaves
    // something to it.
    let config_file = std::cell::OnceCell::new();
    let config = || {
        config_file.get_or_init(|| match &opts.config_path {
            Some(path) => config::load(path),
            None => config::load_current(),
        })
    };
    let roots = config::destination_roots_with(&opts.destinations, || match config() {
        Ok(c) => Ok(c.clone()),
        Err(e) => Err(Error::new(e.kind, e.message.clone())),
    })?;
    // Two destinations with the same folder name are named by their paths.
    let names = crate::naming::destination_names(&roots);
    let warn_at = opts
        .disk_warning_percent
        .or_else(|| config().as_ref().ok().and_then(|c| c.disk_warning_percent))
        .unwrap_or(DEFAULT_DISK_WARNING_PERCENT);
    // The config file's exclude and include globs apply to every run, before
    // the run's own (a malformed file has already failed the run above when
    // it named the destinations; otherwise it is read here).
    let select_opts = match config() {
        Ok(c) if !(c.exclude.is_empty() && c.include.is_empty()) => SelectOptions {
            exclude: c.exclude.iter().chain(&opts.select.exclude).cloned().collect(),
            include: c.include.iter().chain(&opts.select.include).cloned().collect(),
            ..opts.select.clone()
        },
        Ok(_) => opts.select.clone(),
        Err(e) => return Err(Error::new(e.kind, e.message.clone())),
    };
    let cache_dir = opts.cache_dir.clone().or_else(config::default_cache_dir);
    // Why a destination cannot be used at all, before anything is read or
    // written there: not reachable, or inside the source.
    let refused: Vec<Option<String>> =
        roots.iter().map(|root| unusable_destination(root, &root.join(&repo), &source)).collect();
    Ok(RunPlan {
        source,
        walked_up,
        repo,
        host,
        identity,
        run_id,
        zone,
        now_utc,
        now,
        roots,
        names,
        warn_at,
        select_opts,
        cache_dir,
        refused,
    })
}

fn run_unlogged(
    opts: &BackupOptions,
    control: &Control,
    clock: Instant,
    started_utc: jiff::Timestamp,
) -> Result<BackupReport> {
    let RunPlan {
        source,
        walked_up,
        repo,
        host,
        identity,
        run_id,
        zone,
        now_utc,
        now,
        roots,
        names,
        warn_at,
        select_opts,
        cache_dir,
        refused,
    } = plan_run(opts, started_utc)?;
    // One run per repository at a time; a dry run writes nothing, so needs no lock.
    let _lock = match (&cache_dir, opts.dry_run) {
        (Some(dir), false) => Some(RepoLock::acquire(dir, &source, &repo)?),
        _ => None,
    };
    // Each destination this run writes to (a backup, retention) is held for
    // it, against another run of this source on this machine or another:
    // taken when the run first writes there, so an unchanged run writes
    // nothing at all, released when the run ends.
    let mut held = DestinationLocks { source: &identity, run: &run_id, started: started_utc, locks: Vec::new() };
    control.begin(Phase::Starting, 0, 0);
    // A file that changes or vanishes between selection and archiving fails
    // the attempt; the run starts over once from a fresh selection, and fails
    // naming the files when the source changes again.
    let mut changed_before: Vec<String> = Vec::new();
    let mut attempt = 0u32;
    let (mut report, mut destinations, (listings, stamped)) = loop {
        attempt += 1;
        let mut timings = Timings::default();

        let step = Instant::now();
        control.begin(Phase::Selecting, 0, 0);
        let select::Selection { files: selected, excluded, skipped, kept_tracked, notes, dirs, links } =
            select::select(&source, &select_opts, control)?;
        timings.select_seconds = step.elapsed().as_secs_f64();

        // Each destination's folder, listed once: the new name, the stale
        // partials and the newest backup below, the storage summary at the end.
        let listings: Vec<catalog::Listing> = roots
            .iter()
            .zip(&refused)
            .map(|(root, why)| match why {
                None => catalog::Listing::read(&root.join(&repo)),
                Some(_) => catalog::Listing::default(),
            })
            .collect();
        // A backup made within the same second as the last one (the content
        // changed again) gets the next `_<n>` name of that second.
        let new_name = catalog::next_backup(&repo, now, listings.iter().flat_map(catalog::Listing::names));
        let archive_name = new_name.file_name();
        if !opts.dry_run {
            // Leftovers of a killed run never look like backups; tidy them now.
            for listing in &listings {
                destinations::clean_stale_partials(listing, &repo, &host);
            }
        }
        // Each destination's backups with their stamps, and the newest of
        // this source, read once: it decides "unchanged" and is where the
        // archive reuses compressed entries from.
        let stamped: Vec<Vec<catalog::Stamped>> = listings.iter().map(|l| l.stamped(&repo)).collect();
        let newest: Vec<Option<(PathBuf, String)>> =
            stamped.iter().map(|s| catalog::newest_of_source(s, &repo, &identity.id)).collect();
        let plan = |fingerprint: &str| -> Vec<DestinationReport> {
            roots
                .iter()
                .zip(&newest)
                .zip(&refused)
                .zip(&names)
                .map(|(((root, newest), why), name)| {
                    let mut d = plan_destination(root, &repo, fingerprint, newest.as_ref(), opts, warn_at);
                    d.name = name.clone();
                    if let Some(why) = why {
                        (d.status, d.reason, d.warning) = (DestinationStatus::Failed, Some(why.clone()), None);
                    }
                    d
                })
                .collect()
        };
        // No backup of this repository anywhere yet: every reachable
        // destination gets an archive whatever the fingerprint, so files are
        // hashed as they are compressed (read once instead of twice), and the
        // fingerprint is known once the archive is written.
        let first_backup = (!opts.dry_run && newest.iter().all(Option::is_none))
            .then(|| plan(""))
            .filter(|planned| planned.iter().any(|d| d.status == DestinationStatus::WouldCreate));

        let step = Instant::now();
        let hashing_started = std::time::SystemTime::now();
        // A dry run reads the stat cache but never writes it (it writes nothing).
        let cache_file = cache_dir.as_ref().map(|dir| fingerprint::stat_cache_path(dir, &source));
        // A file the last attempt found changed is read again, never taken
        // from the cache: its size and time may not have moved (an edit
        // that kept them), and the cache would vouch for the old content.
        if let Some(cache) = cache_file.as_deref().filter(|_| !changed_before.is_empty()) {
            fingerprint::forget_cached(cache, &changed_before);
        }
        let cache_mode =
            if opts.dry_run { fingerprint::CacheMode::ReadOnly } else { fingerprint::CacheMode::ReadWrite };
        let hashes = match first_backup {
            Some(_) => fingerprint::cached_hashes_of(&selected, cache_file.as_deref(), control),
            None => fingerprint::hashes_of(&selected, cache_file.as_deref(), cache_mode, control),
        };
        let (hashes, hash_stats) = match hashes {
            Err(e) if is_source_change(&e, &source) => {
                changed_before.extend(source_changed_error(&selected, &e, attempt)?);
                continue;
            }
            r => r?,
        };
        // The hashed files take the selection's entries (moved, not copied:
        // for a large tree a copy is a good part of the run's time and memory).
        let mut hashed = fingerprint::with_hashes(selected, hashes);
        let fingerprint = match first_backup {
            Some(_) if hashed.iter().any(|h| h.blake3.is_empty()) => String::new(),
            _ => fingerprint::fingerprint_of_tree(&hashed, &dirs, &links),
        };
        timings.hash_seconds = step.elapsed().as_secs_f64();
        let mut destinations = first_backup.unwrap_or_else(|| plan(&fingerprint));
        let previous = newest.iter().flatten().next().map(|(path, _)| path.as_path());

        let mut report = BackupReport {
            tool_version: crate::VERSION.to_string(),
            repo: repo.clone(),
            source: source.display().to_string(),
            status: RunStatus::Planned,
            timestamp: now.strftime("%Y-%m-%d_%H-%M-%S").to_string(),
            source_id: identity.id.clone(),
            host: host.clone(),
            started_utc: now_utc.to_string(),
            archive_name: archive_name.clone(),
            fingerprint: fingerprint.clone(),
            file_count: hashed.len() as u64,
            source_bytes: hashed.iter().map(|h| h.file.size).sum(),
            archive_bytes: 0,
            duration_seconds: 0.0,
            timings,
            files_hashed: hash_stats.files_read,
            files_cached: hash_stats.files_cached,
            entries_reused: 0,
            bytes_cloned: 0,
            destinations: Vec::new(),
            excluded_rules: rule_counts(&excluded),
            excluded,
            pruned: Vec::new(),
            steps: Vec::new(),
            metrics_log: None,
            skipped_paths: skipped,
            verification: Vec::new(),
            retention: Vec::new(),
            warnings: Vec::new(),
            kept_tracked,
            notes,
            links_stored: links.len() as u64,
            dirs_stored: dirs.len() as u64,
            linked_git_dir: linked_git_dir(&source),
        };

        if !opts.dry_run {
            let mut to_create: Vec<usize> = Vec::new();
            for (i, d) in destinations.iter_mut().enumerate() {
                if d.status != DestinationStatus::WouldCreate {
                    continue;
                }
                match held.take(&d.path) {
                    Ok(()) => to_create.push(i),
                    Err(why) => (d.status, d.reason) = (DestinationStatus::Failed, Some(why)),
                }
            }
            if !to_create.is_empty() {
                let origin = archive::Origin {
                    source_id: identity.id.clone(),
                    source_path: identity.path.clone(),
                    host: host.clone(),
                    created_utc: now_utc,
                    created_local: now_utc.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                };
                let tree = Tree { files: &hashed, dirs: &dirs, links: &links };
                // Each destination's copy of the backup entries are reused
                // from (same name and size: the same run wrote them), which
                // unchanged stretches are cloned from there.
                let clone_sources = to_create
                    .iter()
                    .map(|&i| {
                        let (path, _) = newest[i].as_ref()?;
                        let prev = previous?;
                        let same = path.file_name() == prev.file_name()
                            && std::fs::metadata(path).ok()?.len() == std::fs::metadata(prev).ok()?.len();
                        same.then(|| path.clone())
                    })
                    .collect();
                let placing = Placing { name: &new_name, run: &run_id, origin, clone_sources };
                let built = build_and_place(
                    opts, control, &mut report, &mut destinations, &to_create, tree, previous, &placing,
                );
                let learned = match built {
                    Err(e) if is_source_change(&e, &source) => {
                        changed_before.extend(source_changed_error(hashed.iter().map(|h| &h.file), &e, attempt)?);
                        continue;
                    }
                    r => r?,
                };
                if !learned.is_empty() {
                    // A first backup: the writer hashed what the cache did not know.
                    for (h, hash) in hashed.iter_mut().zip(learned) {
                        if !hash.is_empty() {
                            h.blake3 = hash;
                            report.files_hashed += 1;
                        }
                    }
                    report.fingerprint = fingerprint::fingerprint_of_tree(&hashed, &dirs, &links);
                    if let Some(cache) = &cache_file {
                        fingerprint::save_hashes(cache, &hashed, hashing_started);
                    }
                }
            }
        }
        break (report, destinations, (listings, stamped));
    };
    let ended = RunEnd { source: &source, repo: &repo, source_id: &identity.id, now_utc, walked_up };
    finish_run(
        opts,
        control,
        &ended,
        &mut report,
        &mut destinations,
        &mut held,
        changed_before,
        (&listings, &stamped),
    )?;
    drop(held);
    report.status = run_status(&destinations, opts.dry_run);
    report.warnings.extend(destinations.iter().filter_map(|d| d.warning.clone()));
    report.destinations = destinations;
    report.duration_seconds = clock.elapsed().as_secs_f64();
    report.steps = steps_run(&report.timings);
    control.begin(Phase::Done, 0, 0);
    Ok(report)
}

/// What the end of a run needs to know of it.
struct RunEnd<'a> {
    source: &'a Path,
    repo: &'a str,
    source_id: &'a str,
    now_utc: jiff::Timestamp,
    walked_up: Option<PathBuf>,
}

/// After the backup is placed: say what changed under the run, verify,
/// prune (this source's backups, where the run holds the destination), list
/// what was pruned, and summarise what each destination now holds.
#[allow(clippy::too_many_arguments)]
fn finish_run(
    opts: &BackupOptions,
    control: &Control,
    ended: &RunEnd<'_>,
    report: &mut BackupReport,
    destinations: &mut [DestinationReport],
    held: &mut DestinationLocks<'_>,
    mut changed_before: Vec<String>,
    (listings, stamped): (&[catalog::Listing], &[Vec<catalog::Stamped>]),
) -> Result<()> {
    if !changed_before.is_empty() {
        changed_before.sort();
        changed_before.dedup();
        report.warnings.push(format!(
            "source changed during the backup ({}); the backup was made again from a fresh selection",
            quoted_list(&changed_before)
        ));
        for rel in &changed_before {
            let gone = std::fs::symlink_metadata(ended.source.join(rel)).is_err();
            if gone && !report.skipped_paths.iter().any(|s| &s.path == rel) {
                report.skipped_paths.push(Skipped { path: rel.clone(), reason: "deleted during the backup".into() });
            }
        }
        report.skipped_paths.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.reason.cmp(&b.reason)));
    }

    if !opts.dry_run {
        for d in destinations.iter_mut() {
            if d.status == DestinationStatus::WouldSkip {
                d.status = DestinationStatus::Skipped;
            }
        }
        if opts.verify {
            verify_created(control, report, destinations)?;
        }
        if let Some(policy) = opts.retention.as_ref().filter(|p| !p.is_empty()) {
            // Only where this run holds the destination (or can take it now).
            let mut prunable = destinations.to_vec();
            for d in prunable.iter_mut().filter(|d| d.status == DestinationStatus::Skipped) {
                if let Err(why) = held.take(&d.path) {
                    report.warnings.push(format!("retention skipped in '{}': {why}", d.path));
                    d.status = DestinationStatus::Failed;
                }
            }
            let scope = PruneOf { source_id: ended.source_id, now: ended.now_utc };
            prune_destinations(policy, scope, control, report, &prunable)?;
        }
    }
    if let Some(policy) = opts.retention.as_ref().filter(|p| !p.is_empty()) {
        report.pruned = pruned(policy, report, destinations, ended.source_id, ended.now_utc, opts.dry_run);
    }
    if let Some(given) = &ended.walked_up {
        report.notes.insert(
            0,
            format!(
                "'{}' is inside the repository '{}': backing up the repository",
                given.display(),
                ended.source.display()
            ),
        );
    }

    if !opts.dry_run {
        let pruned = report.retention.iter().any(|r| !r.deleted.is_empty());
        for ((d, listing), stamped) in destinations.iter_mut().zip(listings).zip(stamped) {
            if d.status == DestinationStatus::Failed {
                continue;
            }
            // The folder as the run found it, unless the run changed it.
            let fresh = (d.status == DestinationStatus::Created || pruned)
                .then(|| catalog::Listing::read(listing.dir()).stamped(ended.repo));
            summarize_kept(d, fresh.as_deref().unwrap_or(stamped), ended.source_id);
        }
    }
    Ok(())
}

/// An error meaning the source changed under the run: a file changed (the
/// writer's check) or vanished (not found below the source).
fn is_source_change(e: &Error, source: &Path) -> bool {
    e.kind == ErrorKind::SourceChanged
        || (e.kind == ErrorKind::NotFound && e.message.contains(&format!("'{}", source.join("").display())))
}

/// Files of the selection that changed since it was made (gone, other size
/// or mtime) or that `err` names. On the first attempt: those files (retry);
/// on the second: the error naming them.
fn source_changed_error<'a>(
    files: impl IntoIterator<Item = &'a select::SelectedFile>,
    err: &Error,
    attempt: u32,
) -> Result<Vec<String>> {
    let rels: Vec<String> = files
        .into_iter()
        .filter(|f| {
            err.message.contains(&format!("'{}'", f.path.display()))
                || match std::fs::symlink_metadata(&f.path) {
                    Err(_) => true,
                    Ok(m) => m.len() != f.size || mtime_ns(&m) != Some(f.mtime_ns),
                }
        })
        .map(|f| f.rel.clone())
        .collect();
    if attempt == 1 {
        return Ok(rels);
    }
    let what = if rels.is_empty() { err.message.clone() } else { quoted_list(&rels) };
    Err(Error::new(
        ErrorKind::Io,
        format!("the source kept changing during the backup (tried twice), no backup made: {what}"),
    ))
}

fn mtime_ns(m: &std::fs::Metadata) -> Option<i128> {
    let t = m.modified().ok()?;
    Some(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    })
}

fn quoted_list(rels: &[String]) -> String {
    rels.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(", ")
}

/// For a destination below a mount point that is not there (`/mnt/<drive>`,
/// `/media/<drive>`, `/run/media/<user>/<drive>`, `/Volumes/<drive>`), that
/// mount point. It is never created: the backup would land on the system
/// disk instead of the drive.
fn missing_mount_point(root: &Path) -> Option<PathBuf> {
    if !cfg!(unix) {
        return None;
    }
    for (base, depth) in [("/mnt", 1), ("/media", 1), ("/Volumes", 1), ("/run/media", 2)] {
        let Ok(rest) = root.strip_prefix(base) else { continue };
        let parts: Vec<_> = rest.components().collect();
        if parts.len() < depth {
            continue;
        }
        let mount: PathBuf = Path::new(base).join(parts[..depth].iter().collect::<PathBuf>());
        if std::fs::symlink_metadata(&mount).is_err() {
            return Some(mount);
        }
    }
    None
}

/// Why backups cannot go to `root` (into its folder `dir`) at all, or None:
/// its drive is not mounted, or the folder lies inside the source (each backup would then hold every
/// earlier one, and all would be lost with the repository).
fn unusable_destination(root: &Path, dir: &Path, source: &Path) -> Option<String> {
    if let Some(mount) = missing_mount_point(root) {
        return Some(format!(
            "destination '{}' is not reachable: '{}' does not exist (drive or share not mounted?)",
            root.display(),
            mount.display()
        ));
    }
    let resolved = resolved_path(dir);
    resolved.starts_with(source).then(|| {
        format!(
            "destination '{}' is inside the source '{}': each backup would hold the earlier ones and all would be \
             lost with the repository; choose a folder outside it",
            root.display(),
            source.display()
        )
    })
}

/// `path` made absolute, with `.`/`..` and links resolved as far as it
/// exists (the rest appended as written): comparable with a canonical path.
fn resolved_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(canonical) = dunce::canonicalize(existing) {
            let mut out = canonical;
            for part in rest.iter().rev() {
                match *part {
                    p if p == ".." => {
                        out.pop();
                    }
                    p if p == "." => {}
                    p => out.push(p),
                }
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            // `..` at the end: step over it and its parent.
            (Some(parent), None) => {
                rest.push(std::ffi::OsStr::new(".."));
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// The time zone named by the `time_zone` option (IANA name or POSIX TZ
/// string), else the system's.
fn time_zone(name: Option<&str>) -> Result<jiff::tz::TimeZone> {
    let Some(name) = name else { return Ok(jiff::tz::TimeZone::system()) };
    jiff::tz::TimeZone::get(name).or_else(|_| jiff::tz::TimeZone::posix(name)).map_err(|e| {
        Error::invalid(format!("time_zone: '{name}' is neither a time zone name nor a POSIX TZ string ({e})"))
    })
}

/// Default usage percentage above which a destination gets a disk-space warning.
pub const DEFAULT_DISK_WARNING_PERCENT: f64 = 90.0;

/// `excluded` counted per rule, most first, then by rule.
fn rule_counts(excluded: &[Excluded]) -> Vec<RuleCount> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for x in excluded {
        *counts.entry(x.rule.as_str()).or_default() += 1;
    }
    let mut out: Vec<RuleCount> =
        counts.into_iter().map(|(rule, count)| RuleCount { rule: rule.to_string(), count }).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
    out
}

/// The steps that ran: a step that did not run has no time at all.
fn steps_run(t: &Timings) -> Vec<String> {
    let all = [
        ("select", t.select_seconds),
        ("hash", t.hash_seconds),
        ("compress", t.compress_seconds),
        ("place", t.place_seconds),
        ("verify", t.verify_seconds),
        ("prune", t.prune_seconds),
    ];
    all.iter()
        .filter(|(name, secs)| *secs > 0.0 || matches!(*name, "select" | "hash"))
        .map(|(n, _)| n.to_string())
        .collect()
}

/// What retention deleted (a real run, from its reports) or would delete (a
/// dry run: planned in each destination as if the new backup were there).
fn pruned(
    policy: &Policy,
    report: &BackupReport,
    destinations: &[DestinationReport],
    source_id: &str,
    now: jiff::Timestamp,
    dry_run: bool,
) -> Vec<PrunedBackup> {
    let mut out = Vec::new();
    for d in destinations {
        let decisions = if dry_run {
            if !matches!(d.status, DestinationStatus::WouldCreate | DestinationStatus::WouldSkip) {
                continue;
            }
            let scope = crate::prune::PruneScope {
                dir: Path::new(&d.path),
                repo: &report.repo,
                source_id: Some(source_id),
                keep: None,
                only: None,
                planned: (d.status == DestinationStatus::WouldCreate).then_some(now),
            };
            match crate::prune::plan_dir(scope, policy, now) {
                Ok(plan) => plan.into_iter().filter(|x| !x.keep).collect(),
                Err(_) => continue,
            }
        } else {
            let Some(r) = report.retention.iter().find(|r| r.destination == d.path) else { continue };
            r.decisions.iter().filter(|x| !x.keep && r.deleted.contains(&x.id)).cloned().collect::<Vec<_>>()
        };
        for x in decisions {
            out.push(PrunedBackup { destination: d.name.clone(), path: x.id, created: x.created, reasons: x.reasons });
        }
    }
    out
}

/// The folder to back up and, when it is not `source` itself, `source`:
/// with `find_root`, the nearest folder at or above `source` that is a
/// repository root; else `source`, which must be one.
fn find_source(source: &Path, find_root: bool) -> Result<(PathBuf, Option<PathBuf>)> {
    match check_source(source) {
        Err(e) if find_root && e.kind == ErrorKind::NotARepository => {
            let start = dunce_canonical(source);
            for dir in start.ancestors().skip(1) {
                if REPO_MARKERS.iter().any(|m| dir.join(m).exists()) {
                    return Ok((dir.to_path_buf(), Some(start.clone())));
                }
            }
            Err(Error::new(
                ErrorKind::NotARepository,
                format!(
                    "'{}' is not in a repository (neither it nor a folder above it has {})",
                    source.display(),
                    REPO_MARKERS.join(", ")
                ),
            ))
        }
        r => r.map(|s| (s, None)),
    }
}

/// What `br_repository_root` takes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootQuery {
    /// The folder asked about.
    pub path: PathBuf,
    /// Walk up to the nearest repository root, as git does; else `path`
    /// itself must be one (the old script's rule, docs/COMPATIBILITY.md).
    pub find_root: bool,
}

/// The repository a folder is (or, with `find_root`, is in), for front ends:
/// the one rule for what a repository is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepositoryRoot {
    pub root: PathBuf,
    /// Its name: the folder's name, what its backups are filed under.
    pub name: String,
}

/// The repository root `query` names; `NotARepository` (naming the folder
/// and what a repository holds) when there is none.
pub fn repository_root(query: &RootQuery) -> Result<RepositoryRoot> {
    let (root, _) = find_source(&query.path, query.find_root)?;
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| root.display().to_string());
    Ok(RepositoryRoot { root, name })
}

/// The source must be an existing folder that looks like a repository root,
/// as the original script demands.
fn check_source(source: &Path) -> Result<PathBuf> {
    if source.as_os_str().is_empty() {
        return Err(Error::invalid("option 'source' is required"));
    }
    let meta = std::fs::metadata(source).map_err(|e| Error::io("open source folder", source, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!("source '{}' is not a folder", source.display())));
    }
    if !REPO_MARKERS.iter().any(|m| source.join(m).exists()) {
        return Err(Error::new(
            ErrorKind::NotARepository,
            format!("'{}' is not a repository root (it has no {})", source.display(), REPO_MARKERS.join(", ")),
        ));
    }
    Ok(dunce_canonical(source))
}

/// What makes a folder a repository root (docs/COMPATIBILITY.md).
pub const REPO_MARKERS: &[&str] = &[".git", "pyproject.toml", "package.json"];

/// Canonical path without Windows' verbatim prefix, which would leak into
/// reports and names; falls back to the path as given.
fn dunce_canonical(path: &Path) -> PathBuf {
    dunce::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn repo_name(opts: &BackupOptions, source: &Path) -> Result<String> {
    let name = match &opts.repo_name {
        Some(n) => n.clone(),
        None => source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::invalid(format!("cannot name the repository at '{}'", source.display())))?,
    };
    let bad = |c: char| matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control();
    if name.is_empty() || name == "." || name == ".." || name.chars().any(bad) {
        return Err(Error::invalid(format!("repository name '{name}' cannot be used in a file name")));
    }
    Ok(name)
}

/// Decide one destination before anything is written: unchanged (its newest
/// backup has this fingerprint) or to be created; read its free space.
fn plan_destination(
    root: &Path,
    repo: &str,
    fingerprint: &str,
    newest: Option<&(PathBuf, String)>,
    opts: &BackupOptions,
    warn_at: f64,
) -> DestinationReport {
    let dir = root.join(repo);
    let newest = newest.filter(|_| !opts.force);
    let (status, archive_path) = match newest {
        Some((path, fp)) if fp == fingerprint => (DestinationStatus::WouldSkip, Some(path.display().to_string())),
        _ => (DestinationStatus::WouldCreate, None),
    };
    let space = destinations::free_space(&dir);
    let warning = space.and_then(|(free, total)| disk_warning(root, free, total, warn_at));
    DestinationReport {
        name: config::destination_display_name(root),
        root: root.display().to_string(),
        path: dir.display().to_string(),
        status,
        reason: (status == DestinationStatus::WouldSkip).then(|| "unchanged since the newest backup".to_string()),
        archive_path,
        free_bytes: space.map(|s| s.0),
        total_bytes: space.map(|s| s.1),
        warning,
        backups: None,
        backups_bytes: None,
        oldest_backup: None,
    }
}

/// What this destination now holds of this source (storage metrics). By
/// name, size and comment only: reading every backup's manifest on every run
/// would make an unchanged run cost as much as the history grows.
fn summarize_kept(d: &mut DestinationReport, stamped: &[catalog::Stamped], source_id: &str) {
    let mut mine: Vec<(jiff::Timestamp, u64)> = stamped
        .iter()
        .filter(|s| s.is_of(source_id))
        .filter_map(|s| Some((s.stamp.as_ref()?.created_utc?, s.bytes?)))
        .collect();
    mine.sort();
    d.backups = Some(mine.len() as u64);
    d.backups_bytes = Some(mine.iter().map(|b| b.1).sum());
    d.oldest_backup = mine.first().map(|b| b.0.to_string());
}

fn disk_warning(root: &Path, free: u64, total: u64, warn_at: f64) -> Option<String> {
    if total == 0 {
        return None;
    }
    let used = 100.0 * (total.saturating_sub(free)) as f64 / total as f64;
    (used > warn_at)
        .then(|| format!("destination '{}' is {used:.1} % full (warning above {warn_at} %)", root.display()))
}

/// What the archive holds: the hashed files, the folders with nothing in
/// them and the links.
#[derive(Clone, Copy)]
struct Tree<'a> {
    files: &'a [HashedFile],
    dirs: &'a [select::SelectedDir],
    links: &'a [select::SelectedLink],
}

/// The folder a `.git` file (`gitdir: <path>`) at the root of `source`
/// points to, resolved against the source; None when `.git` is a folder.
fn linked_git_dir(source: &Path) -> Option<String> {
    let dot_git = source.join(".git");
    if !std::fs::symlink_metadata(&dot_git).ok()?.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    Some(source.join(target).display().to_string())
}

/// What a new backup is called, by which run, and what it records of itself.
struct Placing<'a> {
    name: &'a catalog::NewBackupName,
    run: &'a crate::identity::RunId,
    origin: archive::Origin,
    /// Per destination to create (same order): its copy of `previous`, to
    /// clone unchanged stretches from.
    clone_sources: Vec<Option<PathBuf>>,
}

/// Build the archive once, straight into every destination that needs it
/// (reusing compressed entries from `previous`), then flush and name each copy.
#[allow(clippy::too_many_arguments)]
fn build_and_place(
    opts: &BackupOptions,
    control: &Control,
    report: &mut BackupReport,
    destinations: &mut [DestinationReport],
    to_create: &[usize],
    tree: Tree,
    previous: Option<&Path>,
    placing: &Placing<'_>,
) -> Result<Vec<String>> {
    let dirs: Vec<PathBuf> = to_create.iter().map(|&i| PathBuf::from(&destinations[i].path)).collect();
    // The last backup's size is the best guess of this one's.
    let expected = previous.and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
    let mut placement = destinations::open(&dirs, placing.name, placing.run, expected, &placing.clone_sources);
    let mut stats = archive::ArchiveStats::default();
    if placement.any_open() {
        let manifest = ManifestOf {
            repo: report.repo.clone(),
            fingerprint: report.fingerprint.clone(),
            files: tree.files,
            dirs: tree.dirs,
            links: tree.links,
            origin: Some(placing.origin.clone()),
        };
        let step = Instant::now();
        let out = Path::new(&report.archive_name);
        let written = archive::write_archive_to(placement.sink(), out, &manifest, &opts.archive, previous, control);
        report.timings.compress_seconds = step.elapsed().as_secs_f64();
        match written {
            Ok(s) => stats = s,
            // Every destination failed while writing: each says why below.
            Err(_) if !placement.sink().any_alive() => {}
            Err(e) => return Err(e),
        }
        report.archive_bytes = stats.archive_bytes;
        report.entries_reused = stats.entries_reused;
        report.bytes_cloned = stats.bytes_cloned;
        if stats.bytes_cloned > 0 {
            report.notes.push(format!(
                "{} of {} cloned from the previous backup (copy-on-write: shared blocks, not written)",
                crate::units::human_bytes(stats.bytes_cloned),
                crate::units::human_bytes(stats.archive_bytes)
            ));
        }
    }
    report.notes.extend(placement.notes());

    let step = Instant::now();
    control.begin(Phase::Placing, dirs.len() as u64, 0);
    let results = placement.finish(control);
    report.timings.place_seconds = step.elapsed().as_secs_f64();
    // Cancelled before any rename: nothing was placed. A cancel that came
    // later is too late for placing; the backups made are reported.
    if results.iter().any(|r| matches!(r, Err(e) if e.kind == ErrorKind::Cancelled)) {
        return Err(Error::cancelled());
    }
    for (&i, result) in to_create.iter().zip(results) {
        let d = &mut destinations[i];
        match result {
            Ok(path) => {
                d.status = DestinationStatus::Created;
                d.archive_path = Some(path.display().to_string());
                if let Some((free, total)) = destinations::free_space(&path) {
                    d.free_bytes = Some(free);
                    d.total_bytes = Some(total);
                }
            }
            Err(e) => {
                d.status = DestinationStatus::Failed;
                d.reason = Some(e.message);
            }
        }
    }
    Ok(stats.hashes_learned)
}

/// Verify every archive this run placed. A cancel here is too late to undo
/// the backups, so it only cuts verification short (a warning says so).
fn verify_created(control: &Control, report: &mut BackupReport, destinations: &[DestinationReport]) -> Result<()> {
    let step = Instant::now();
    let placed: Vec<&String> = destinations
        .iter()
        .filter(|d| d.status == DestinationStatus::Created)
        .filter_map(|d| d.archive_path.as_ref())
        .collect();
    for (checked, path) in placed.iter().enumerate() {
        let v = match archive::verify(Path::new(path), &VerifyOptions::default(), control) {
            Err(e) if e.kind == ErrorKind::Cancelled => {
                report.warnings.push(cut_short("verification", checked, placed.len(), "archives verified"));
                break;
            }
            v => v?,
        };
        if !v.ok {
            report.warnings.push(format!(
                "verification failed for '{path}': {}",
                v.first_error.as_deref().unwrap_or("unknown error")
            ));
        }
        report.verification.push(v);
    }
    report.timings.verify_seconds = step.elapsed().as_secs_f64();
    Ok(())
}

/// The destinations a run holds (see [`destinations::DestinationLock`]).
struct DestinationLocks<'a> {
    source: &'a crate::identity::SourceIdentity,
    run: &'a crate::identity::RunId,
    started: jiff::Timestamp,
    /// Per-repository folder -> its lock.
    locks: Vec<(String, destinations::DestinationLock)>,
}

impl DestinationLocks<'_> {
    /// Hold the per-repository folder `dir` for this run (once); why not
    /// when another run holds it.
    fn take(&mut self, dir: &str) -> std::result::Result<(), String> {
        if self.locks.iter().any(|(path, _)| path == dir) {
            return Ok(());
        }
        let lock = destinations::DestinationLock::acquire(Path::new(dir), self.source, self.run, self.started)
            .map_err(|e| e.message)?;
        self.locks.push((dir.to_string(), lock));
        Ok(())
    }
}

/// Whose backups a run prunes, as of when.
#[derive(Clone, Copy)]
struct PruneOf<'a> {
    source_id: &'a str,
    now: jiff::Timestamp,
}

/// Apply retention in every destination that holds a good backup of this
/// run; only this source's archives are candidates, so nothing else is
/// touched, and the backup the run made is never deleted.
fn prune_destinations(
    policy: &Policy,
    of: PruneOf<'_>,
    control: &Control,
    report: &mut BackupReport,
    destinations: &[DestinationReport],
) -> Result<()> {
    let step = Instant::now();
    let keeping: Vec<&DestinationReport> = destinations
        .iter()
        .filter(|d| matches!(d.status, DestinationStatus::Created | DestinationStatus::Skipped))
        .collect();
    control.begin(Phase::Pruning, keeping.len() as u64, 0);
    for d in &keeping {
        if control.is_cancelled() {
            report.warnings.push(cut_short("retention", report.retention.len(), keeping.len(), "destinations pruned"));
            break;
        }
        let scope = crate::prune::PruneScope {
            dir: Path::new(&d.path),
            repo: &report.repo,
            source_id: Some(of.source_id),
            keep: d.archive_path.as_deref().map(Path::new),
            only: None,
            planned: None,
        };
        let entry = crate::prune::prune_dir(scope, policy, of.now)?;
        report.retention.push(entry);
        control.advance(1, 0);
    }
    report.timings.prune_seconds = step.elapsed().as_secs_f64();
    Ok(())
}

/// The warning for a step after placing that a cancel cut short: the
/// backups stand, so the run still succeeds and says what was left undone.
fn cut_short(step: &str, done: usize, of: usize, what: &str) -> String {
    format!("{step} cancelled after the backups were placed ({done} of {of} {what})")
}

/// A short stable key for a source folder (lock and temp-file names).
fn source_key(source: &Path) -> String {
    blake3::hash(source.display().to_string().as_bytes()).to_hex()[..32].to_string()
}

/// An advisory lock per repository, so that two runs on one repository never
/// interleave; released when dropped (and by the OS when a run is killed).
struct RepoLock {
    _file: std::fs::File,
}

impl RepoLock {
    fn acquire(cache_dir: &Path, source: &Path, repo: &str) -> Result<RepoLock> {
        let dir = cache_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
        let path = dir.join(format!("{}.lock", source_key(source)));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // A lock just released can stay held for a moment by a process this
        // one is starting (its copy of the descriptor lives until it runs
        // its program): look again for a short while before saying busy.
        let give_up = Instant::now() + std::time::Duration::from_millis(50);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RepoLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::new(
                        ErrorKind::Busy,
                        format!("another backup of '{repo}' ({}) is running", source.display()),
                    ))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(status: DestinationStatus) -> DestinationReport {
        DestinationReport {
            name: "d".into(),
            root: "/d".into(),
            path: "/d/r".into(),
            status,
            reason: None,
            archive_path: None,
            free_bytes: None,
            total_bytes: None,
            warning: None,
            backups: None,
            backups_bytes: None,
            oldest_backup: None,
        }
    }

    #[test]
    fn run_status_follows_the_original_vocabulary() {
        use DestinationStatus::*;
        let st = |v: &[DestinationStatus]| run_status(&v.iter().map(|&s| dest(s)).collect::<Vec<_>>(), false);
        assert_eq!(st(&[Created, Created]), RunStatus::Created);
        assert_eq!(st(&[Created, Skipped]), RunStatus::Created);
        assert_eq!(st(&[Skipped, Skipped]), RunStatus::Skipped);
        assert_eq!(st(&[Created, Failed]), RunStatus::Partial);
        assert_eq!(st(&[Skipped, Failed]), RunStatus::Partial);
        assert_eq!(st(&[Failed, Failed]), RunStatus::Failed);
        assert_eq!(run_status(&[dest(WouldCreate)], true), RunStatus::Planned);
    }

    #[test]
    fn disk_warning_only_above_threshold() {
        let root = Path::new("/mnt/x");
        assert!(disk_warning(root, 5, 100, 90.0).unwrap().contains("95.0 %"));
        assert!(disk_warning(root, 20, 100, 90.0).is_none());
        assert!(disk_warning(root, 0, 0, 90.0).is_none());
    }

    #[test]
    fn repo_names_that_cannot_be_file_names_are_refused() {
        let mut o = BackupOptions::default();
        for bad in ["", "..", "a/b", "a:b", "x\ty"] {
            o.repo_name = Some(bad.into());
            assert_eq!(repo_name(&o, Path::new("/x")).unwrap_err().kind, ErrorKind::InvalidArgument, "{bad}");
        }
        o.repo_name = None;
        assert_eq!(repo_name(&o, Path::new("/src/my repo")).unwrap(), "my repo");
    }

    /// Two placed backups of a small tree: the run's report and its options.
    fn placed_twice(t: &Path) -> (BackupReport, BackupOptions) {
        let src = t.join("repo");
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::write(src.join("a.txt"), "hello ".repeat(100)).unwrap();
        let opts = BackupOptions {
            source: src,
            destinations: vec![t.join("d1"), t.join("d2")],
            cache_dir: Some(t.join("cache")),
            now: Some("2026-11-25T10:00:00".parse().unwrap()),
            // The tests compare warnings: none about this machine's disk.
            disk_warning_percent: Some(100.0),
            ..Default::default()
        };
        let report = run(&opts, &Control::default()).unwrap();
        assert_eq!(report.status, RunStatus::Created);
        (report, opts)
    }

    #[test]
    fn an_unchanged_run_lists_each_destination_folder_once() {
        let t = tempfile::tempdir().unwrap();
        let (first, opts) = placed_twice(t.path());
        let dests = &opts.destinations;
        let listed = || crate::catalog::tests::LISTINGS_READ.with(|n| n.get());
        let before = listed();
        let report = run(&opts, &Control::default()).unwrap();
        // The new name, the stale partials, the newest backup and the storage
        // summary all come from one listing per destination.
        assert_eq!(listed() - before, dests.len());
        assert_eq!(report.status, RunStatus::Skipped);
        for (d, f) in report.destinations.iter().zip(&first.destinations) {
            assert_eq!(d.backups, Some(1));
            assert_eq!(d.backups_bytes, f.backups_bytes);
            assert_eq!(d.oldest_backup, f.oldest_backup);
        }
        // A run that creates a backup lists again for the summary, which then counts it.
        std::fs::write(t.path().join("repo/b.txt"), "changed").unwrap();
        let before = listed();
        let report = run(&opts, &Control::default()).unwrap();
        assert_eq!(listed() - before, 2 * dests.len());
        assert!(report.destinations.iter().all(|d| d.backups == Some(2)), "{:?}", report.destinations);
    }

    fn cancelled() -> Control {
        let control = Control::default();
        control.cancel();
        control
    }

    #[test]
    fn a_cancel_during_verification_keeps_the_placed_backups_and_says_so() {
        let t = tempfile::tempdir().unwrap();
        let (mut report, _) = placed_twice(t.path());
        let destinations = std::mem::take(&mut report.destinations);
        verify_created(&cancelled(), &mut report, &destinations).expect("a late cancel is not a failed run");
        assert!(report.verification.is_empty());
        assert_eq!(
            report.warnings,
            ["verification cancelled after the backups were placed (0 of 2 archives verified)"]
        );
        assert!(destinations.iter().all(|d| Path::new(d.archive_path.as_ref().unwrap()).is_file()));

        let mut uncancelled = report.clone();
        uncancelled.warnings.clear();
        verify_created(&Control::default(), &mut uncancelled, &destinations).unwrap();
        assert_eq!(uncancelled.verification.len(), 2);
        assert!(uncancelled.verification.iter().all(|v| v.ok) && uncancelled.warnings.is_empty());
    }

    #[test]
    fn a_cancel_during_retention_prunes_nothing_more_and_says_so() {
        let t = tempfile::tempdir().unwrap();
        let (_, mut opts) = placed_twice(t.path());
        // A newer backup: retention would delete the older one, were it not cancelled.
        std::fs::write(opts.source.join("b.txt"), "changed").unwrap();
        opts.now = Some("2026-11-25T11:00:00".parse().unwrap());
        let mut report = run(&opts, &Control::default()).unwrap();
        let destinations = std::mem::take(&mut report.destinations);
        let older = opts.destinations[0].join("repo/repo_backup_2026-11-25_10-00-00.zip");
        assert!(older.is_file());
        let policy = Policy { keep_last: Some(1), ..Default::default() };
        let source_id = report.source_id.clone();
        let of = PruneOf { source_id: &source_id, now: jiff::Timestamp::now() };
        prune_destinations(&policy, of, &cancelled(), &mut report, &destinations)
            .expect("a late cancel is not a failed run");
        assert!(report.retention.is_empty());
        assert_eq!(report.warnings, ["retention cancelled after the backups were placed (0 of 2 destinations pruned)"]);
        assert!(older.is_file());

        prune_destinations(&policy, of, &Control::default(), &mut report, &destinations).unwrap();
        assert!(!older.exists(), "not cancelled, retention deletes it");
    }
}
