//! Issue 22 ("say what happened"): the engine's answers the module shows.
//! Pruned backups on the result (and the dry run's would-prune), distinct
//! destination names, the repository root found from a subfolder, every
//! exclusion with per-rule counts, the steps that ran, the default metrics
//! log, retention within piped backups, `-Repository *`, verify keeping
//! "intact" apart from "the source changed", and a restore dry run that
//! answers as the real one.

mod common;

use std::fs;

use backup_repo::archive::{self, RestoreOptions, VerifyOptions};
use backup_repo::backup::RunStatus;
use backup_repo::destinations::DestinationStatus;
use backup_repo::history;
use backup_repo::progress::Control;
use backup_repo::prune::{self, RetentionOptions};
use backup_repo::retention::Policy;
use backup_repo::ErrorKind;
use common::*;

fn at(opts: &backup_repo::backup::BackupOptions, when: &str) -> backup_repo::backup::BackupOptions {
    let mut o = opts.clone();
    o.now = Some(when.parse().unwrap());
    o.force = true;
    o
}

#[test]
fn keep_last_lists_what_it_pruned_and_a_dry_run_what_it_would() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1")];
    let opts = options(&src, &dests, &t.path().join("cache"));
    for h in ["08", "09", "10"] {
        run(&at(&opts, &format!("2026-11-25T{h}:00:00")));
    }
    let mut dry = at(&opts, "2026-11-25T11:00:00");
    dry.dry_run = true;
    dry.retention = Some(Policy { keep_last: Some(2), ..Default::default() });
    let plan = run(&dry);
    // The new backup would be the newest: two of the three existing would go.
    let would: Vec<String> = plan.pruned.iter().map(|p| file_name(&p.path)).collect();
    assert_eq!(would, ["demo_backup_2026-11-25_09-00-00.zip", "demo_backup_2026-11-25_08-00-00.zip"]);
    assert_eq!(listing(&dests[0].join("demo")).len(), 3, "a dry run deletes nothing");

    let mut real = dry.clone();
    real.dry_run = false;
    let done = run(&real);
    assert_eq!(done.status, RunStatus::Created);
    let pruned: Vec<String> = done.pruned.iter().map(|p| file_name(&p.path)).collect();
    assert_eq!(pruned, would, "the real run prunes what the dry run said");
    assert!(done.pruned.iter().all(|p| p.destination == "d1" && !p.reasons.is_empty()));
    assert_eq!(listing(&dests[0].join("demo")).len(), 2);
    assert!(done.steps.contains(&"prune".to_string()));
}

fn file_name(p: &str) -> String {
    std::path::Path::new(p).file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn destinations_with_one_folder_name_are_named_by_their_paths() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("a/backups"), t.path().join("b/backups"), t.path().join("c/other")];
    let report = run(&options(&src, &dests, &t.path().join("cache")));
    let names: Vec<&str> = report.destinations.iter().map(|d| d.name.as_str()).collect();
    let a = dests[0].display().to_string();
    let b = dests[1].display().to_string();
    assert_eq!(names, [a.as_str(), b.as_str(), "other"]);
    let listed = history::list(&history::HistoryOptions { destinations: dests.clone(), ..Default::default() }).unwrap();
    let mut shown: Vec<String> = listed.iter().map(|e| e.destination.clone()).collect();
    shown.sort();
    assert_eq!(shown, [a.clone(), b.clone(), "other".to_string()]);
    // The metrics record carries the same names (the Prometheus labels).
    let record = backup_repo::metrics::Record::from_report(&report);
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.contains(&format!("\"{}\"", a.replace('\\', "\\\\"))), "{json}");
}

#[test]
fn a_subfolder_backs_up_its_repository_only_when_asked_to_find_the_root() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let sub = src.join("src");
    let mut opts = options(&sub, &[t.path().join("d")], &t.path().join("cache"));
    let e = backup_repo::backup::run(&opts, &Control::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotARepository, "the drop-in's rule: run from the root");
    opts.find_root = true;
    let report = run(&opts);
    assert_eq!(report.repo, "demo");
    assert_eq!(report.source, fs::canonicalize(&src).unwrap().display().to_string());
    assert!(report.notes[0].contains("is inside the repository"), "{:?}", report.notes);
    // Outside any repository: the error says so.
    let lost = t.path().join("nowhere/deeper");
    fs::create_dir_all(&lost).unwrap();
    opts.source = lost;
    let e = backup_repo::backup::run(&opts, &Control::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotARepository);
    assert!(e.message.contains("not in a repository"), "{}", e.message);
}

#[test]
fn excluded_paths_are_always_reported_with_counts_per_rule_and_steps_that_ran() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    write(&src, "node_modules/other/x.js", "1");
    let opts = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    assert!(!opts.report_excluded);
    let report = run(&opts);
    assert!(!report.excluded.is_empty(), "filled without report_excluded");
    let total: u64 = report.excluded_rules.iter().map(|r| r.count).sum();
    assert_eq!(total as usize, report.excluded.len());
    for r in &report.excluded_rules {
        assert_eq!(r.count as usize, report.excluded.iter().filter(|x| x.rule == r.rule).count(), "{}", r.rule);
    }
    assert!(report.excluded_rules.windows(2).all(|w| w[0].count >= w[1].count), "most first");
    assert_eq!(report.steps, ["select", "hash", "compress", "place"], "no verify, no prune");
    // Unchanged: nothing compressed or placed.
    let again = run(&opts);
    assert_eq!(again.status, RunStatus::Skipped);
    assert_eq!(again.steps, ["select", "hash"]);
}

#[test]
fn the_default_metrics_log_is_used_when_asked_and_named_in_the_report() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let config = t.path().join("config.json");
    let logs = t.path().join("logs");
    fs::write(&config, format!("{{\"metrics_log_dir\": {}}}", serde_json::to_string(&logs).unwrap())).unwrap();
    let mut opts = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    opts.config_path = Some(config);
    opts.metrics_log = None;
    let report = run(&opts);
    assert!(report.metrics_log.is_none() && !logs.exists(), "not asked: no log");
    opts.default_metrics_log = true;
    opts.force = true;
    opts.now = Some("2026-11-25T10:00:01".parse().unwrap());
    let report = run(&opts);
    let log = logs.join("backup-demo.jsonl");
    assert_eq!(report.metrics_log.as_deref(), Some(log.display().to_string().as_str()));
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 1);
    // A dry run logs nothing.
    opts.dry_run = true;
    assert!(run(&opts).metrics_log.is_none());
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 1);
}

#[test]
fn retention_within_given_backups_and_every_repository_by_star() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1")];
    let opts = options(&src, &dests, &t.path().join("cache"));
    for h in ["08", "09", "10", "11"] {
        run(&at(&opts, &format!("2026-11-25T{h}:00:00")));
    }
    let all = listing(&dests[0].join("demo"));
    let paths: Vec<_> = all.iter().map(|n| dests[0].join("demo").join(n)).collect();
    // The two oldest, piped: keep_last 1 within them deletes the oldest only.
    let piped = RetentionOptions {
        policy: Policy { keep_last: Some(1), ..Default::default() },
        archives: paths[..2].to_vec(),
        ..Default::default()
    };
    let plan = prune::plan_retention(&piped).unwrap();
    let decisions: Vec<(String, bool)> =
        plan.iter().flat_map(|p| &p.decisions).map(|d| (file_name(&d.id), d.keep)).collect();
    assert_eq!(decisions, [(all[1].clone(), true), (all[0].clone(), false)]);
    // Mixed with a repository: refused, saying why.
    let mixed = RetentionOptions { repo: Some("demo".into()), ..piped.clone() };
    let e = prune::plan_retention(&mixed).unwrap_err();
    assert!(e.message.contains("cannot be combined"), "{}", e.message);
    // A file that is not ours: refused, naming it.
    let foreign = t.path().join("d1/demo/notes.zip");
    fs::write(&foreign, "x").unwrap();
    let e = prune::plan_retention(&RetentionOptions { archives: vec![foreign.clone()], ..piped.clone() }).unwrap_err();
    assert!(e.message.contains("notes.zip") && e.message.contains("not a backup"), "{}", e.message);
    // "*" is every repository.
    let star = RetentionOptions {
        destinations: dests.clone(),
        repo: Some("*".into()),
        policy: Policy { keep_last: Some(1), ..Default::default() },
        ..Default::default()
    };
    let plan = prune::plan_retention(&star).unwrap();
    assert_eq!((plan.len(), plan[0].repository.as_str(), plan[0].decisions.len()), (1, "demo", 4));
}

#[test]
fn verify_keeps_an_intact_archive_apart_from_a_changed_source() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let report = run(&options(&src, &[t.path().join("d")], &t.path().join("cache")));
    let zip = std::path::PathBuf::from(report.destinations[0].archive_path.clone().unwrap());
    let same = archive::verify(&zip, &VerifyOptions { source: Some(src.clone()) }, &Control::default()).unwrap();
    assert!(same.ok && same.source_changes == Some(vec![]), "{same:?}");
    write(&src, "environment.py", "ENV = 12345\n");
    let changed = archive::verify(&zip, &VerifyOptions { source: Some(src.clone()) }, &Control::default()).unwrap();
    assert!(changed.ok, "the archive is intact: {:?}", changed.errors);
    assert!(changed.errors.is_empty());
    let changes = changed.source_changes.unwrap();
    assert!(changes.iter().any(|c| c.contains("environment.py")), "{changes:?}");
    let plain = archive::verify(&zip, &VerifyOptions::default(), &Control::default()).unwrap();
    assert_eq!(plain.source_changes, None);
}

#[test]
fn a_restore_dry_run_answers_as_the_real_run_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let report = run(&options(&src, &[t.path().join("d")], &t.path().join("cache")));
    let zip = std::path::PathBuf::from(report.destinations[0].archive_path.clone().unwrap());
    let dry = RestoreOptions { dry_run: true, ..Default::default() };
    let full = t.path().join("full");
    write(&full, "keep.txt", "mine");
    let real = archive::restore(&zip, &full, &RestoreOptions::default(), &Control::default()).unwrap_err();
    let planned = archive::restore(&zip, &full, &dry, &Control::default()).unwrap_err();
    assert_eq!((planned.kind, planned.message.clone()), (real.kind, real.message));
    let fresh = t.path().join("fresh");
    let ok = archive::restore(&zip, &fresh, &dry, &Control::default()).unwrap();
    assert_eq!(ok.files_restored, 0);
    assert!(!fresh.exists(), "a dry run creates nothing");
    assert_eq!(listing(&full), ["keep.txt"]);
    let _ = DestinationStatus::Created;
}
