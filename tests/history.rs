//! History, statistics, retention on demand and compare, on backups made by
//! `backup::run` with fixed clocks (issue 4).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use backup_repo::archive::{self, Change, VerifyOptions};
use backup_repo::backup::{BackupOptions, RunStatus};
use backup_repo::compare;
use backup_repo::history::{self, FileCategory, HistoryOptions};
use backup_repo::progress::Control;
use backup_repo::prune::{self, RetentionOptions};
use backup_repo::retention::Policy;
use backup_repo::select::SelectOptions;
use backup_repo::ErrorKind;
use common::*;

fn at(s: &str) -> jiff::civil::DateTime {
    s.parse().unwrap()
}

/// One run at `now`, forced unless `force` is false.
fn run_at(base: &BackupOptions, now: &str, force: bool) -> backup_repo::backup::BackupReport {
    let mut o = base.clone();
    o.now = Some(at(now));
    o.force = force;
    run(&o)
}

struct Fixture {
    _t: tempfile::TempDir,
    src: PathBuf,
    dests: Vec<PathBuf>,
    logs: PathBuf,
    base: BackupOptions,
}

fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let logs = t.path().join("metrics");
    let mut base = options(&src, &dests, &t.path().join("cache"));
    base.metrics_log = Some(logs.join("backup-demo.jsonl"));
    Fixture { src, dests, logs, base, _t: t }
}

fn hopts(f: &Fixture) -> HistoryOptions {
    HistoryOptions { destinations: f.dests.clone(), metrics_log_dir: Some(f.logs.clone()), ..Default::default() }
}

#[test]
fn list_and_summary_of_several_backups() {
    let f = fixture();
    run_at(&f.base, "2026-01-01T10:00:00", false);
    run_at(&f.base, "2026-01-03T10:00:00", true);
    // Unchanged and not forced: skipped everywhere (a duplicate in the log).
    assert_eq!(run_at(&f.base, "2026-01-05T10:00:00", false).status, RunStatus::Skipped);
    write(&f.src, "src/extra.rs", "fn main() {}\n");
    age_files(&f.src);
    run_at(&f.base, "2026-01-11T10:00:00", false);
    // Not ours, in every shape: never listed.
    fs::write(f.dests[0].join("demo/demo_backup_2026-01-20_00-00-00.zip"), b"not a zip").unwrap();
    fs::write(f.dests[0].join("demo/notes.txt"), b"x").unwrap();
    fs::create_dir_all(f.dests[0].join("junk")).unwrap();
    fs::write(f.dests[0].join("junk/file.zip"), b"x").unwrap();

    let list = history::list(&hopts(&f)).unwrap();
    assert_eq!(list.len(), 6, "{list:#?}");
    let created: Vec<String> = list.iter().map(|e| e.created.to_string()).collect();
    assert_eq!(
        created,
        [
            "2026-01-01T10:00:00", "2026-01-01T10:00:00", "2026-01-03T10:00:00", "2026-01-03T10:00:00",
            "2026-01-11T10:00:00", "2026-01-11T10:00:00"
        ]
    );
    let e = &list[0];
    assert_eq!((e.repository.as_str(), e.destination.as_str()), ("demo", "d1"));
    assert_eq!(e.destination_path, f.dests[0]);
    assert_eq!(e.path, f.dests[0].join("demo/demo_backup_2026-01-01_10-00-00.zip"));
    assert_eq!(e.bytes, fs::metadata(&e.path).unwrap().len());
    assert_eq!(e.file_count, 9);
    assert_eq!(e.tool_version, backup_repo::VERSION);
    assert_eq!(list[4].file_count, 10);
    assert_ne!(list[4].fingerprint, e.fingerprint);

    // One repository by name gives the same; an unknown one nothing.
    let only = history::list(&HistoryOptions { repo: Some("demo".into()), ..hopts(&f) }).unwrap();
    assert_eq!(only, list);
    assert!(history::list(&HistoryOptions { repo: Some("nope".into()), ..hopts(&f) }).unwrap().is_empty());

    let now = at("2026-01-12T00:00:00");
    let sums = history::summary(&hopts(&f), now).unwrap();
    assert_eq!(sums.len(), 2);
    let s = &sums[0];
    let mine: Vec<_> = list.iter().filter(|e| e.destination_path == f.dests[0]).collect();
    assert_eq!((s.repository.as_str(), s.destination.as_str(), s.count), ("demo", "d1", 3));
    assert_eq!(s.folder, f.dests[0].join("demo"));
    assert_eq!(s.oldest, Some(at("2026-01-01T10:00:00")));
    assert_eq!(s.newest, Some(at("2026-01-11T10:00:00")));
    assert_eq!(s.total_bytes, mine.iter().map(|e| e.bytes).sum::<u64>());
    assert_eq!(s.average_bytes, s.total_bytes / 3);
    let source: u64 = mine.iter().map(|e| e.total_bytes).sum();
    assert_eq!(s.source_bytes, source);
    assert!((s.compression_ratio.unwrap() - s.total_bytes as f64 / source as f64).abs() < 1e-12);
    assert_eq!(s.frequency.span_days, 10.0);
    assert!((s.frequency.per_day.unwrap() - 0.3).abs() < 1e-9 && (s.frequency.per_week.unwrap() - 2.1).abs() < 1e-9);
    assert_eq!((s.frequency.last_7_days, s.frequency.last_30_days), (1, 3));
    let d = s.duplicates.as_ref().expect("the metrics log exists");
    assert_eq!((d.runs, d.skipped_unchanged, d.created, d.failed), (4, 1, 3, 0));
    assert_eq!(d.duplicate_rate, 0.25);
    // The newest backup's files by category (sizes from the manifest).
    let ft = |c: FileCategory| s.file_types.iter().find(|x| x.category == c).map(|x| (x.files, x.bytes));
    assert_eq!(ft(FileCategory::Git), Some((2, 40_000 + 21)));
    assert_eq!(ft(FileCategory::Python), Some((4, 3000 + 8 + 6 + 6)));
    assert_eq!(ft(FileCategory::Rust), Some((1, 13)));
    assert_eq!(ft(FileCategory::Docs), Some((2, 8)));
    assert_eq!(ft(FileCategory::Config), Some((1, 19)));
    assert_eq!(s.file_types.iter().map(|x| x.files).sum::<u64>(), 10);
    assert_eq!(s.file_types[0].category, FileCategory::Git, "largest first");

    // Without a metrics log there are no duplicate statistics.
    let no_log = HistoryOptions { metrics_log_dir: Some(f.dests[0].join("none")), ..hopts(&f) };
    assert!(history::summary(&no_log, now).unwrap().iter().all(|s| s.duplicates.is_none()));
}

#[test]
fn every_repository_folder_is_found() {
    let f = fixture();
    run_at(&f.base, "2026-02-01T00:00:00", false);
    let other = sample_repo(f._t.path(), "other");
    let mut o = options(&other, &f.dests[..1], &f._t.path().join("cache"));
    o.now = Some(at("2026-01-15T00:00:00"));
    run(&o);
    let list = history::list(&hopts(&f)).unwrap();
    let got: Vec<(&str, &str)> = list.iter().map(|e| (e.repository.as_str(), e.destination.as_str())).collect();
    assert_eq!(got, [("demo", "d1"), ("demo", "d2"), ("other", "d1")]);
    assert_eq!(history::repos_in(&f.dests[0]).unwrap(), ["demo", "other"]);
    assert!(history::repos_in(&f._t.path().join("missing")).unwrap().is_empty());
}

#[test]
fn listing_reads_only_the_central_directory_and_manifest() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "big");
    // Incompressible, so the archive is mostly this file's data.
    write(&src, "data/blob.bin", pseudo_random(32 << 20, 3));
    age_files(&src);
    let dest = t.path().join("d");
    let report = run(&options(&src, std::slice::from_ref(&dest), &t.path().join("cache")));
    let zip = PathBuf::from(report.destinations[0].archive_path.clone().unwrap());
    let len = fs::metadata(&zip).unwrap().len();
    assert!(len > 28 << 20);

    // Destroy the data region (the blob's bytes), keep the manifest entry and
    // the central directory (both at the end).
    let mut bytes = fs::read(&zip).unwrap();
    let from = (1 << 20) as usize;
    let to = (len - (4 << 20)) as usize;
    bytes[from..to].fill(0xAB);
    fs::write(&zip, &bytes).unwrap();
    let v = archive::verify(&zip, &VerifyOptions::default(), &Control::default()).unwrap();
    assert!(!v.ok, "the data really is damaged");

    let opts =
        HistoryOptions { destinations: vec![dest], metrics_log_dir: Some(t.path().join("m")), ..Default::default() };
    // The data region is damaged: listing succeeds only because it never reads it.
    let list = history::list(&opts).unwrap();
    let sums = history::summary(&opts, at("2026-12-01T00:00:00")).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].total_bytes, report.source_bytes);
    assert_eq!(sums[0].count, 1);
    assert!(sums[0].file_types.iter().any(|x| x.category == FileCategory::Other && x.bytes == 32 << 20));
}

#[test]
fn retention_plans_and_applies_across_destinations_touching_only_ours() {
    let f = fixture();
    for (i, day) in ["01", "02", "03", "04"].iter().enumerate() {
        run_at(&f.base, &format!("2026-03-{day}T08:00:00"), i > 0);
    }
    let stray = f.dests[1].join("demo/demo_backup_2026-01-01_00-00-00.zip");
    fs::write(&stray, b"named like ours, but not ours").unwrap();
    fs::write(f.dests[1].join("demo/keep.txt"), b"x").unwrap();
    let opts = RetentionOptions {
        destinations: f.dests.clone(),
        repo: None,
        policy: Policy { keep_last: Some(2), ..Default::default() },
        now: Some(at("2026-03-05T00:00:00")),
        source: None,
        archives: Vec::new(),
    };
    let plan = prune::plan_retention(&opts).unwrap();
    assert_eq!(plan.len(), 2);
    for (p, d) in plan.iter().zip(&f.dests) {
        assert_eq!(p.destination, d.join("demo").display().to_string());
        assert_eq!((p.repository.as_str(), p.decisions.len()), ("demo", 4));
        let keep: Vec<bool> = p.decisions.iter().map(|d| d.keep).collect();
        assert_eq!(keep, [true, true, false, false], "newest first");
        assert!(p.decisions[0].reasons.contains(&"newest".to_string()));
    }
    assert_eq!(listing(&f.dests[0]).len(), 4, "a plan deletes nothing");

    let reports = prune::apply_retention(&opts).unwrap();
    assert_eq!(reports.iter().map(|r| r.deleted.len()).sum::<usize>(), 4);
    assert!(reports.iter().all(|r| r.errors.is_empty()));
    assert_eq!(
        listing(&f.dests[0]),
        ["demo/demo_backup_2026-03-03_08-00-00.zip", "demo/demo_backup_2026-03-04_08-00-00.zip"]
    );
    assert_eq!(
        listing(&f.dests[1]),
        [
            "demo/demo_backup_2026-01-01_00-00-00.zip",
            "demo/demo_backup_2026-03-03_08-00-00.zip",
            "demo/demo_backup_2026-03-04_08-00-00.zip",
            "demo/keep.txt"
        ]
    );
    assert_eq!(fs::read(&stray).unwrap(), b"named like ours, but not ours");

    let empty = RetentionOptions { policy: Policy::default(), ..opts };
    assert_eq!(prune::apply_retention(&empty).unwrap_err().kind, ErrorKind::InvalidArgument);
}

fn changes(r: &compare::CompareReport) -> Vec<(String, Change)> {
    r.changes.iter().map(|c| (c.path.clone(), c.change)).collect()
}

#[test]
fn compare_two_backups_and_a_backup_with_its_source() {
    let f = fixture();
    let first = run_at(&f.base, "2026-04-01T00:00:00", false);
    let old = PathBuf::from(first.destinations[0].archive_path.clone().unwrap());
    write(&f.src, "src/new.py", "n = 1\n");
    fs::remove_file(f.src.join("rebuild.py")).unwrap();
    write(&f.src, "src/main.py", "print('changed')\n");
    age_files(&f.src);

    let cache = f._t.path().join("cache");
    let vs_source =
        compare::compare_with_source(&old, &f.src, &SelectOptions::default(), Some(&cache), &Control::default())
            .unwrap();
    let want = vec![
        ("rebuild.py".to_string(), Change::Removed),
        ("src/main.py".to_string(), Change::Modified),
        ("src/new.py".to_string(), Change::Added),
    ];
    assert_eq!(changes(&vs_source), want);
    assert_eq!((vs_source.added, vs_source.removed, vs_source.modified, vs_source.unchanged), (1, 1, 1, 7));
    assert_eq!(vs_source.new, f.src.display().to_string());
    let m = vs_source.changes.iter().find(|c| c.change == Change::Modified).unwrap();
    assert_eq!((m.old_size, m.new_size), (Some(3000), Some(17)));

    let second = run_at(&f.base, "2026-04-02T00:00:00", false);
    let new = PathBuf::from(second.destinations[0].archive_path.clone().unwrap());
    let between = compare::compare_backups(&old, &new).unwrap();
    assert_eq!(changes(&between), want);
    assert_eq!(compare::compare_backups(&new, &new).unwrap().changes, vec![]);

    // The dispatcher, as br_compare calls it.
    let o = compare::CompareOptions { old: Some(old.clone()), new: Some(new.clone()), ..Default::default() };
    assert_eq!(compare::compare(&o, &Control::default()).unwrap(), between);
    let bad = compare::CompareOptions { old: Some(old), source: Some(f.src.clone()), ..Default::default() };
    assert_eq!(compare::compare(&bad, &Control::default()).unwrap_err().kind, ErrorKind::InvalidArgument);
    assert_eq!(compare::compare_backups(Path::new("/nonexistent.zip"), &new).unwrap_err().kind, ErrorKind::NotFound);
}
