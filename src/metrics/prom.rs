//! Prometheus exposition rendered from metrics records, and the atomic
//! textfile for node_exporter's textfile collector.
//!
//! The families and their samples are decided here; the text is written by
//! the official `prometheus-client` crate (names, `# HELP`/`# TYPE`, label
//! and help escaping, number formatting) in the text format 0.0.4, the one
//! format that Prometheus, the Pushgateway (it parses every push body as
//! 0.0.4) and node_exporter's textfile collector (0.0.4 only) all read with
//! the metric types kept. OpenMetrics would lose the counters' type in the
//! last two: they read `# TYPE backup_repo_runs counter` and then the sample
//! `backup_repo_runs_total` as a different, untyped family.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{read_log_dir, Record, Status};
use crate::destinations::DestinationStatus;
use crate::{Error, Result};

/// Windows of `backup_repo_recent_runs`, (label, seconds).
const WINDOWS: [(&str, i64); 3] = [("1d", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];

/// One metric family: its full exposed name (counters end in `_total`),
/// type, help and samples in the order they are shown.
#[derive(Debug)]
struct Family {
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        let kind = if kind == "counter" { MetricType::Counter } else { MetricType::Gauge };
        debug_assert!(kind != MetricType::Counter || name.ends_with("_total"), "{name}");
        Family { name, kind, help, samples: Vec::new() }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
}

/// The families of one rendering, in order, as a `prometheus-client`
/// collector (families without samples are left out).
#[derive(Debug)]
struct Exposition(Vec<Family>);

/// `v` as an integer when it is one (counts, bytes, whole seconds: printed
/// `3`, not `3.0`), else None.
fn as_integer(v: f64) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        for f in self.0.iter().filter(|f| !f.samples.is_empty()) {
            // The crate adds `_total` to a counter's name.
            let name = match f.kind {
                MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(f.name),
                _ => f.name,
            };
            let mut family = encoder.encode_descriptor(name, f.help, None, f.kind)?;
            for (labels, v) in &f.samples {
                let mut metric = family.encode_family(labels)?;
                match (f.kind, as_integer(*v)) {
                    (MetricType::Counter, Some(n)) if n >= 0 => {
                        metric.encode_counter::<NoLabelSet, u64, f64>(&(n as u64), None)?
                    }
                    (MetricType::Counter, _) => metric.encode_counter::<NoLabelSet, f64, f64>(v, None)?,
                    (_, Some(n)) => metric.encode_gauge(&n)?,
                    (_, None) => metric.encode_gauge(v)?,
                }
            }
        }
        Ok(())
    }
}

/// The text format 0.0.4 of `families`.
fn encode(families: Vec<Family>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition(families)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("writing to a String never fails");
    out
}

fn secs(t: jiff::Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

fn dest_status_str(s: DestinationStatus) -> &'static str {
    match s {
        DestinationStatus::Created | DestinationStatus::WouldCreate => "created",
        DestinationStatus::Skipped | DestinationStatus::WouldSkip => "skipped",
        DestinationStatus::Failed => "failed",
    }
}

/// The metrics of every repository found in `records` (any order; several
/// repositories may be mixed), as Prometheus text exposition. Values come
/// from the newest record (by `timestamp`) unless the name says otherwise;
/// counters count over all records; `backup_repo_recent_runs` counts the
/// records in the last 1d/7d/30d before `now`. Records with an unparsable
/// timestamp are ignored.
pub fn render_prometheus(records: &[Record], now: jiff::Timestamp) -> String {
    encode(families(records, now))
}

/// The families of [`render_prometheus`].
fn families(records: &[Record], now: jiff::Timestamp) -> Vec<Family> {
    let mut by_repo: BTreeMap<&str, Vec<(jiff::Timestamp, &Record)>> = BTreeMap::new();
    for r in records {
        if let Some(t) = r.time() {
            by_repo.entry(r.repo.as_str()).or_default().push((t, r));
        }
    }
    for runs in by_repo.values_mut() {
        runs.sort_by_key(|(t, _)| *t); // stable: log order among equal times
    }

    let mut first_run = Family::new(
        "backup_repo_first_run_timestamp_seconds",
        "gauge",
        "Start time of the oldest run in the metrics log, Unix seconds.",
    );
    let mut created_total = Family::new(
        "backup_repo_archives_created_total",
        "counter",
        "Runs that wrote a new archive (to one destination or more).",
    );
    let mut created_bytes_total = Family::new("backup_repo_created_archive_bytes_total", "counter", "Sum of the sizes of the archives created, bytes (divide by backup_repo_archives_created_total for the average).");
    let mut last_run = Family::new(
        "backup_repo_last_run_timestamp_seconds",
        "gauge",
        "Start time of the newest run (any status), Unix seconds.",
    );
    let mut last_success = Family::new(
        "backup_repo_last_success_timestamp_seconds",
        "gauge",
        "Start time of the newest run that left the repository backed up and current (status success or skipped), Unix seconds.",
    );
    let mut last_created = Family::new(
        "backup_repo_last_created_timestamp_seconds",
        "gauge",
        "Start time of the newest run that wrote a new archive, Unix seconds.",
    );
    let mut last_status = Family::new(
        "backup_repo_last_status",
        "gauge",
        "1 for the status of the newest run (success, skipped, partial, failed), 0 for the others.",
    );
    let mut runs_total =
        Family::new("backup_repo_runs_total", "counter", "Runs recorded in the metrics log, by status.");
    let mut duplicates_total = Family::new(
        "backup_repo_duplicates_total",
        "counter",
        "Runs that found the content unchanged in at least one destination.",
    );
    let mut recent = Family::new(
        "backup_repo_recent_runs",
        "gauge",
        "Runs recorded in the metrics log within the window (1d, 7d, 30d) before the metrics were rendered, by status.",
    );
    let mut archive_bytes =
        Family::new("backup_repo_archive_bytes", "gauge", "Size of the newest archive created, bytes.");
    let mut source_bytes = Family::new(
        "backup_repo_source_bytes",
        "gauge",
        "Size of the files selected for backup in the newest run, bytes.",
    );
    let mut files = Family::new("backup_repo_files", "gauge", "Files selected for backup in the newest run.");
    let mut duration = Family::new("backup_repo_duration_seconds", "gauge", "Duration of the newest run, seconds.");
    let mut steps =
        Family::new("backup_repo_step_duration_seconds", "gauge", "Duration of each step of the newest run, seconds.");
    let mut dest_free = Family::new(
        "backup_repo_destination_free_bytes",
        "gauge",
        "Free space on the file system of the destination, bytes, as of the newest run that reported it.",
    );
    let mut dest_size = Family::new(
        "backup_repo_destination_size_bytes",
        "gauge",
        "Total size of the file system of the destination, bytes.",
    );
    let mut dest_status = Family::new(
        "backup_repo_destination_last_status",
        "gauge",
        "1 for the destination's status in the newest run that used it (created, skipped, failed), 0 for the others.",
    );
    let mut dest_last_created = Family::new(
        "backup_repo_destination_last_created_timestamp_seconds",
        "gauge",
        "Start time of the newest run that created an archive in the destination, Unix seconds.",
    );
    let mut dest_backups =
        Family::new("backup_repo_destination_backups", "gauge", "Backups of the repository kept in the destination.");
    let mut dest_backups_bytes = Family::new(
        "backup_repo_destination_backups_bytes",
        "gauge",
        "Total size of the backups of the repository kept in the destination, bytes.",
    );
    let mut dest_oldest = Family::new(
        "backup_repo_destination_oldest_backup_timestamp_seconds",
        "gauge",
        "Time of the oldest backup of the repository kept in the destination, Unix seconds.",
    );

    for (repo, runs) in &by_repo {
        let l = |_: ()| vec![("repo", repo.to_string())];
        let (t_last, last) = runs.last().copied().expect("non-empty group");
        last_run.add(l(()), secs(t_last));
        first_run.add(l(()), secs(runs[0].0));
        let created: Vec<&Record> = runs.iter().map(|(_, r)| *r).filter(|r| r.created_archive()).collect();
        created_total.add(l(()), created.len() as f64);
        created_bytes_total.add(l(()), created.iter().map(|r| r.archive_size() as f64).sum());
        if let Some((t, _)) = runs.iter().rev().find(|(_, r)| r.status.is_ok()) {
            last_success.add(l(()), secs(*t));
        }
        let newest_created = runs.iter().rev().find(|(_, r)| r.created_archive());
        if let Some((t, r)) = newest_created {
            last_created.add(l(()), secs(*t));
            archive_bytes.add(l(()), r.archive_size() as f64);
        }
        for s in Status::ALL {
            let v = if last.status == s { 1.0 } else { 0.0 };
            last_status.add(vec![("repo", repo.to_string()), ("status", s.as_str().into())], v);
        }
        for s in Status::ALL {
            let n = runs.iter().filter(|(_, r)| r.status == s).count();
            runs_total.add(vec![("repo", repo.to_string()), ("status", s.as_str().into())], n as f64);
        }
        duplicates_total.add(l(()), runs.iter().filter(|(_, r)| r.duplicate_detected).count() as f64);
        for (w, span) in WINDOWS {
            let since = now.as_second() - span;
            for s in Status::ALL {
                let n = runs.iter().filter(|(t, r)| r.status == s && t.as_second() > since && *t <= now).count();
                recent.add(
                    vec![("repo", repo.to_string()), ("status", s.as_str().into()), ("window", w.into())],
                    n as f64,
                );
            }
        }
        // Size and counts: the newest run that selected files (a run that
        // failed early knows none).
        if let Some((_, r)) = runs.iter().rev().find(|(_, r)| r.file_count > 0 || r.source_bytes > 0) {
            if r.source_bytes > 0 {
                source_bytes.add(l(()), r.source_bytes as f64);
            }
            files.add(l(()), r.file_count as f64);
        }
        duration.add(l(()), last.duration_seconds);
        if let Some((_, r)) = runs.iter().rev().find(|(_, r)| r.schema_version >= 1 && r.error.is_none()) {
            for (step, v) in r.timings.steps() {
                steps.add(vec![("repo", repo.to_string()), ("step", step.into())], v);
            }
        }

        // Per destination: the newest record that mentions it.
        let mut names: Vec<&str> =
            runs.iter().flat_map(|(_, r)| r.destinations.iter().map(|d| d.name.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let dl = || vec![("repo", repo.to_string()), ("destination", name.to_string())];
            let mentions = || {
                runs.iter().rev().filter_map(|(t, r)| r.destinations.iter().find(|d| d.name == name).map(|d| (*t, d)))
            };
            if let Some((_, d)) = mentions().next() {
                let st = dest_status_str(d.status);
                for s in ["created", "skipped", "failed"] {
                    let mut labels = dl();
                    labels.push(("status", s.into()));
                    dest_status.add(labels, if s == st { 1.0 } else { 0.0 });
                }
            }
            if let Some((_, d)) = mentions().find(|(_, d)| d.free_bytes.is_some() && d.total_bytes.is_some()) {
                dest_free.add(dl(), d.free_bytes.unwrap_or(0) as f64);
                dest_size.add(dl(), d.total_bytes.unwrap_or(0) as f64);
            }
            if let Some((t, _)) = mentions().find(|(_, d)| d.status == DestinationStatus::Created) {
                dest_last_created.add(dl(), secs(t));
            }
            if let Some((_, d)) = mentions().find(|(_, d)| d.backups.is_some()) {
                dest_backups.add(dl(), d.backups.unwrap_or(0) as f64);
                if let Some(b) = d.backups_bytes {
                    dest_backups_bytes.add(dl(), b as f64);
                }
                if let Some(t) = d.oldest_backup.as_deref().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
                    dest_oldest.add(dl(), secs(t));
                }
            }
        }
    }

    vec![
        first_run, last_run, last_success, last_created, last_status, runs_total, created_total, created_bytes_total,
        duplicates_total, recent, archive_bytes, source_bytes, files, duration, steps, dest_free, dest_size,
        dest_status, dest_last_created, dest_backups, dest_backups_bytes, dest_oldest,
    ]
}

/// [`render_prometheus`] of every `backup-*.jsonl` in `dir`, plus
/// `backup_repo_log_unparsable_lines` (lines skipped while reading).
pub fn render_log_dir(dir: &Path, now: jiff::Timestamp) -> Result<String> {
    let logs = read_log_dir(dir)?;
    let mut all = families(&logs.records, now);
    let mut f = Family::new(
        "backup_repo_log_unparsable_lines",
        "gauge",
        "Lines of the metrics logs that could not be parsed and were skipped.",
    );
    f.add(Vec::new(), logs.unparsable as f64);
    all.push(f);
    Ok(encode(all))
}

/// Write `text` to `path` atomically (a temporary file in the same folder,
/// flushed, then renamed over `path`), readable by other users (0644 on Unix)
/// so node_exporter's textfile collector can read it. The folder is created.
pub fn write_textfile(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the textfile folder", dir, e))?;
    // A leading dot and a non-.prom suffix: the collector ignores it meanwhile.
    let mut tmp = tempfile::Builder::new()
        .prefix(".backup-repo-")
        .suffix(".prom.tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| Error::io("write", tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io("flush", tmp.path(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}
