//! Never lose a backup: the ordinary situations that used to delete or
//! corrupt backups, each reproduced end to end (two repositories with one
//! folder name, a time-zone change, a destination inside the source, two
//! machines on one share, a tree restored with `unzip`, tracked build files).

mod common;
mod reliability_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use backup_repo::backup::{BackupOptions, RunStatus};
use backup_repo::destinations::DestinationStatus;
use backup_repo::history::{self, HistoryOptions};
use backup_repo::retention::Policy;
use common::*;
use proptest::prelude::*;
use reliability_support::*;

#[test]
fn child() {
    child_main();
}

fn keep_last(n: u32) -> Option<Policy> {
    Some(Policy { keep_last: Some(n), ..Default::default() })
}

fn zips(dir: &Path) -> Vec<String> {
    listing(dir).into_iter().filter(|n| n.ends_with(".zip")).collect()
}

#[test]
fn two_repositories_with_one_folder_name_keep_their_own_backups() {
    let t = tempfile::tempdir().unwrap();
    let one = sample_repo(&t.path().join("one"), "app");
    let two = sample_repo(&t.path().join("two"), "app");
    write(&two, "src/only_in_two.py", "two = 2\n");
    let dests = vec![t.path().join("d")];
    let cache = t.path().join("cache");
    // One metrics log for both: it is named after the repository.
    let log = t.path().join("metrics/backup-app.jsonl");
    let options = |src: &Path, dests: &[PathBuf], cache: &Path| BackupOptions {
        metrics_log: Some(log.clone()),
        ..options(src, dests, cache)
    };
    let first = run(&options(&one, &dests, &cache));
    assert_eq!(first.status, RunStatus::Created);

    // two/app with -KeepLast 1, in the same folder: one/app's only backup stays.
    let mut o2 = options(&two, &dests, &cache);
    o2.now = Some("2026-11-25T11:00:00".parse().unwrap());
    o2.retention = keep_last(1);
    let second = run(&o2);
    assert_eq!(second.status, RunStatus::Created);
    assert_ne!(second.source_id, first.source_id);
    assert!(Path::new(first.destinations[0].archive_path.as_ref().unwrap()).is_file(), "one/app's backup deleted");
    assert_eq!(zips(&dests[0].join("app")).len(), 2);
    assert_eq!(second.destinations[0].backups, Some(1), "storage counts this source's backups only");

    // one/app is unchanged: skipped against its own backup, not two/app's newer one.
    let mut o1 = options(&one, &dests, &cache);
    o1.now = Some("2026-11-25T12:00:00".parse().unwrap());
    o1.retention = keep_last(1);
    let third = run(&o1);
    assert_eq!(third.status, RunStatus::Skipped, "{:?}", third.destinations);
    assert_eq!(zips(&dests[0].join("app")).len(), 2);

    // Every listing tells them apart by their source.
    let hopts = HistoryOptions { destinations: dests.clone(), ..Default::default() };
    let listed = history::list(&hopts).unwrap();
    let mut sources: Vec<_> = listed.iter().map(|e| e.source.clone().unwrap()).collect();
    sources.sort();
    assert_eq!(sources, [one.display().to_string(), two.display().to_string()]);
    let with_log = HistoryOptions { metrics_log_dir: Some(t.path().join("metrics")), ..hopts.clone() };
    let summary = history::summary(&with_log, "2026-11-25T12:00:00".parse().unwrap()).unwrap();
    assert_eq!(summary.len(), 2, "one summary per source");
    assert!(summary.iter().all(|s| s.count == 1));
    // Each source's runs from the shared log: one/app ran twice (once unchanged), two/app once.
    let runs = |src: &Path| {
        let s = summary.iter().find(|s| s.source.as_deref() == Some(&*src.display().to_string())).unwrap();
        let d = s.duplicates.clone().unwrap();
        (d.runs, d.skipped_unchanged)
    };
    assert_eq!(runs(&one), (2, 1));
    assert_eq!(runs(&two), (1, 0));

    // Retention on demand applies per source: nothing of either goes.
    let ropts = backup_repo::prune::RetentionOptions {
        destinations: dests.clone(),
        policy: Policy { keep_last: Some(1), ..Default::default() },
        ..Default::default()
    };
    let applied = backup_repo::prune::apply_retention(&ropts).unwrap();
    assert!(applied.iter().all(|r| r.deleted.is_empty()), "{applied:?}");
    assert_eq!(zips(&dests[0].join("app")).len(), 2);
}

/// A zone whose offset is given: `CEST-2` then `CET-1` as in the report.
fn at_zone(opts: &BackupOptions, utc: &str, zone: &str) -> BackupOptions {
    BackupOptions { now: None, now_utc: Some(utc.parse().unwrap()), time_zone: Some(zone.into()), ..opts.clone() }
}

#[test]
fn after_the_clocks_go_back_keep_last_keeps_the_backup_just_made() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "app");
    let dests = vec![t.path().join("d")];
    let mut base = options(&src, &dests, &t.path().join("cache"));
    base.retention = keep_last(1);
    // 02:30 summer time, then (content changed) 02:10 winter time: later in
    // UTC, earlier by the local time in its name.
    let summer = run(&at_zone(&base, "2026-10-25T00:30:00Z", "CEST-2"));
    assert_eq!(summer.archive_name, "app_backup_2026-10-25_02-30-00.zip");
    write(&src, "src/main.py", "print('after the change of time')\n");
    let winter = run(&at_zone(&base, "2026-10-25T01:10:00Z", "CET-1"));
    assert_eq!(winter.archive_name, "app_backup_2026-10-25_02-10-00.zip");
    assert_eq!(zips(&dests[0].join("app")), ["app_backup_2026-10-25_02-10-00.zip"], "the newest backup was deleted");
    // And it is the newest for the unchanged check too.
    let again = run(&at_zone(&base, "2026-10-25T01:20:00Z", "CET-1"));
    assert_eq!(again.status, RunStatus::Skipped);
    // The same with the zone's own rules (a DST fall-back hour).
    let berlin = "CET-1CEST,M3.5.0,M10.5.0/3";
    write(&src, "src/main.py", "print('third')\n");
    let r = run(&at_zone(&base, "2027-10-31T00:40:00Z", berlin));
    assert_eq!(r.archive_name, "app_backup_2027-10-31_02-40-00.zip");
    write(&src, "src/main.py", "print('fourth')\n");
    let r = run(&at_zone(&base, "2027-10-31T01:05:00Z", berlin));
    assert_eq!(r.archive_name, "app_backup_2027-10-31_02-05-00.zip");
    assert_eq!(zips(&dests[0].join("app")), ["app_backup_2027-10-31_02-05-00.zip"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any sequence of runs under changing time zones (including the
    /// repeated hour and two runs in one second) never lets retention
    /// delete the backup the newest run made.
    #[test]
    fn retention_never_deletes_the_newest_backup_under_changing_time_zones(
        steps in proptest::collection::vec((0i64..7200, prop::sample::select(vec!["CEST-2", "CET-1", "UTC0", "EST5", "JST-9", "CET-1CEST,M3.5.0,M10.5.0/3"]), 1u32..4), 2..6)
    ) {
        let t = tempfile::tempdir().unwrap();
        let src = sample_repo(t.path(), "app");
        let dests = vec![t.path().join("d")];
        let base = options(&src, &dests, &t.path().join("cache"));
        let mut utc: jiff::Timestamp = "2026-10-25T00:00:00Z".parse().unwrap();
        for (i, (advance, zone, keep)) in steps.into_iter().enumerate() {
            // Runs advance in UTC (0 s: two runs in one second).
            utc = utc.checked_add(jiff::SignedDuration::from_secs(advance)).unwrap();
            write(&src, "src/main.py", format!("print({i})\n"));
            let mut o = at_zone(&base, &utc.to_string(), zone);
            o.retention = keep_last(keep);
            let r = run(&o);
            prop_assert_eq!(r.status, RunStatus::Created);
            let made = r.destinations[0].archive_path.clone().unwrap();
            prop_assert!(Path::new(&made).is_file(), "run {} deleted its own backup {}", i, made);
            prop_assert!(zips(&dests[0].join("app")).len() <= keep as usize);
        }
    }
}

#[test]
fn a_destination_inside_the_source_is_refused_in_every_spelling() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "app");
    let cache = t.path().join("cache");
    let outside = t.path().join("outside");
    let spellings: Vec<PathBuf> = vec![
        src.clone(),
        src.join("bk"),
        src.join("bk/../bk2/"),
        t.path().join("app/./bk"),
        src.join(".git/backups"),
        // The parent of the source: `<root>/<repo>` is the source itself.
        t.path().to_path_buf(),
    ];
    for dest in &spellings {
        let r = run(&options(&src, &[dest.clone(), outside.clone()], &cache));
        let d = &r.destinations[0];
        assert_eq!(d.status, DestinationStatus::Failed, "{}", dest.display());
        assert!(d.reason.as_ref().unwrap().contains("inside the source"), "{:?}", d.reason);
        assert_eq!(r.status, RunStatus::Partial);
    }
    // Nothing was written inside the source, and the archive did not grow.
    assert!(!src.join("bk").exists() && !src.join("app").exists() && !src.join(".git/backups").exists());
    let sizes: Vec<u64> =
        zips(&outside.join("app")).iter().map(|n| fs::metadata(outside.join("app").join(n)).unwrap().len()).collect();
    assert_eq!(sizes.len(), 1, "unchanged runs were still created: {sizes:?}");

    // A relative destination in the config file is relative to the file's folder.
    let config = src.join("config.json");
    fs::write(&config, r#"{ "destinations": ["bk", "../outside2"] }"#).unwrap();
    let mut o = options(&src, &[], &cache);
    o.config_path = Some(config.clone());
    let r = run(&o);
    assert_eq!(r.destinations[0].status, DestinationStatus::Failed);
    assert_eq!(r.destinations[0].root, src.join("bk").display().to_string());
    assert_eq!(r.destinations[1].status, DestinationStatus::Created, "{:?}", r.destinations[1]);
    assert!(t.path().join("outside2/app").is_dir());
    // An empty one is an error naming the file.
    fs::write(&config, r#"{ "destinations": [""] }"#).unwrap();
    let e = backup_repo::backup::run(&o, &backup_repo::progress::Control::default()).unwrap_err();
    assert!(e.message.contains(&config.display().to_string()) && e.message.contains("empty"), "{e}");
    // A relative entry in BACKUP_REPO_DESTINATIONS is an error naming it.
    std::env::set_var(backup_repo::config::DESTINATIONS_ENV, "bk");
    let e = backup_repo::config::default_destinations().unwrap_err();
    std::env::remove_var(backup_repo::config::DESTINATIONS_ENV);
    assert!(e.message.contains("BACKUP_REPO_DESTINATIONS") && e.message.contains("'bk'"), "{e}");
}

/// A repository whose backup takes long enough to be killed while writing.
fn slow_repo(parent: &Path) -> PathBuf {
    let root = parent.join("app");
    let big = if cfg!(debug_assertions) { 24 << 20 } else { 96 << 20 };
    let mut noise = vec![0u8; big];
    blake3::Hasher::new().update(parent.as_os_str().as_encoded_bytes()).finalize_xof().fill(&mut noise);
    write(&root, "assets/big.bin", noise);
    for i in 0..200 {
        write(&root, &format!("src/f{i:03}.txt"), format!("line {i}\n").repeat(2000));
    }
    write(&root, "pyproject.toml", "[project]\n");
    age_files(&root);
    root
}

#[test]
fn two_machines_on_one_share_never_destroy_each_other_s_backups() {
    let t = tempfile::tempdir().unwrap();
    let share = t.path().join("share");
    let machine = |name: &str| {
        let src = slow_repo(&t.path().join(name));
        BackupOptions {
            host_name: Some(name.into()),
            ..options(&src, std::slice::from_ref(&share), &t.path().join(format!("cache-{name}")))
        }
    };
    let (a, b) = (machine("pc-a"), machine("pc-b"));
    // A user's file named like a temporary of before: never ours to delete.
    let folder = share.join("app");
    fs::create_dir_all(&folder).unwrap();
    let users = folder.join("app_backup_2026-11-25_10-00-00.zip.partial");
    fs::write(&users, "mine").unwrap();

    // Both at once, in the same second; pc-a is killed while it writes.
    let mut killed = spawn_child(&a, &t.path().join("a.json"));
    let survivor = spawn_child(&b, &t.path().join("b.json"));
    assert!(killed.wait_phase("compressing", Duration::from_secs(120)));
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end && !listing(&folder).iter().any(|n| n.contains("pc-a~")) {
        std::thread::sleep(Duration::from_micros(200));
    }
    killed.kill9();
    let b_report = survivor.finish(Duration::from_secs(300));
    assert_eq!(b_report["status"], "created", "{b_report}");
    let left = listing(&folder);
    assert!(left.iter().any(|n| n.contains(".pc-a~") && n.ends_with(".partial")), "pc-a's partial: {left:?}");
    assert_eq!(fs::read(&users).unwrap(), b"mine");

    // pc-b again: pc-a's leftovers are not provably abandoned from pc-b.
    write(&b.source, "src/f000.txt", "changed on b\n");
    let b2 = run(&BackupOptions { now: Some("2026-11-25T10:05:00".parse().unwrap()), ..b.clone() });
    assert_eq!(b2.status, RunStatus::Created);
    assert!(listing(&folder).iter().any(|n| n.contains(".pc-a~")), "another machine's partial was deleted");

    // pc-a again (its killed process is gone): its partial and lock go, its backup is made.
    let a2 = run(&a);
    assert_eq!(a2.status, RunStatus::Created, "{:?}", a2.destinations);
    assert_eq!(a2.archive_name, "app_backup_2026-11-25_10-00-00_2.zip", "pc-b took the first name of that second");
    let left = listing(&folder);
    assert!(!left.iter().any(|n| n.contains("pc-a~") || n.ends_with(".lock")), "{left:?}");
    assert_eq!(fs::read(&users).unwrap(), b"mine");
    assert_eq!(zips(&folder).len(), 3);
    // Each machine's backups verify, and each source sees only its own.
    for n in zips(&folder) {
        let v = backup_repo::archive::verify(&folder.join(&n), &Default::default(), &Default::default()).unwrap();
        assert!(v.ok, "{n}: {:?}", v.first_error);
    }
}

fn unzip_available() -> bool {
    Command::new("unzip").arg("-v").output().is_ok_and(|o| o.status.success())
}

#[test]
fn a_tree_restored_with_unzip_backs_up_and_verifies() {
    if !unzip_available() {
        eprintln!("skipped: Info-ZIP unzip is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "app");
    let first = run(&options(&src, &[t.path().join("d")], &t.path().join("cache")));
    let restored = t.path().join("restored/app");
    fs::create_dir_all(&restored).unwrap();
    let out = Command::new("unzip")
        .args(["-q", first.destinations[0].archive_path.as_ref().unwrap(), "-d"])
        .arg(&restored)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(restored.join(".backup-repo/manifest.json").is_file());

    let mut o = options(&restored, &[t.path().join("d2")], &t.path().join("cache"));
    o.verify = true;
    o.report_excluded = true;
    let r = run(&o);
    assert_eq!(r.status, RunStatus::Created);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.verification.iter().all(|v| v.ok), "{:?}", r.verification);
    assert!(r.excluded.iter().any(|e| e.path == ".backup-repo" && e.rule == backup_repo::select::OWN_FOLDER_RULE));
    assert_eq!(r.fingerprint, first.fingerprint, "the restored tree is the same tree");
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn files_git_tracks_are_kept_whatever_the_default_rules_say() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("skipped: git is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("app");
    write(&src, ".github/actions/build/action.yml", "runs: build\n");
    write(&src, "docs/analysis/notes.md", "tracked\n");
    write(&src, "app.py", "print(1)\n");
    git(&src, &["init", "-q"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "init"]);
    // Build output git does not track, beside the tracked file.
    write(&src, ".github/actions/build/out.o", "generated\n");
    write(&src, "build/lib.o", "generated\n");

    let mut o = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    o.report_excluded = true;
    let r = run(&o);
    let names = backup_repo::archive::read_manifest(Path::new(r.destinations[0].archive_path.as_ref().unwrap()))
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.path)
        .filter(|p| !p.starts_with(".git/"))
        .collect::<Vec<_>>();
    assert_eq!(names, [".github/actions/build/action.yml", "app.py", "docs/analysis/notes.md"]);
    let kept: Vec<(&str, &str)> = r.kept_tracked.iter().map(|k| (k.path.as_str(), k.rule.as_str())).collect();
    assert_eq!(kept, [(".github/actions/build/action.yml", "build"), ("docs/analysis/notes.md", "analysis")]);
    let excluded: Vec<&str> = r.excluded.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(excluded, [".github/actions/build/out.o", "build"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);

    // An explicit exclude still wins.
    let mut o2 = o.clone();
    o2.select.exclude = vec!["build".into()];
    o2.dry_run = true;
    let r = run(&o2);
    assert!(r.kept_tracked.iter().all(|k| k.rule != "build"), "{:?}", r.kept_tracked);

    // Without git on PATH: today's rules, said once.
    let no_git = Command::new(std::env::current_exe().unwrap())
        .args(["without_git_the_default_rules_apply_and_say_so", "--exact", "--nocapture", "--ignored"])
        .env("NEVER_LOSE_SOURCE", &src)
        .env("PATH", t.path().join("empty-path"))
        .output()
        .unwrap();
    assert!(no_git.status.success(), "{}", String::from_utf8_lossy(&no_git.stdout));
}

/// Run by the test above with an empty PATH.
#[test]
#[ignore = "run by files_git_tracks_are_kept_whatever_the_default_rules_say"]
fn without_git_the_default_rules_apply_and_say_so() {
    let Some(src) = std::env::var_os("NEVER_LOSE_SOURCE") else { return };
    let t = tempfile::tempdir().unwrap();
    let mut o = options(Path::new(&src), &[t.path().join("d")], &t.path().join("cache"));
    o.dry_run = true;
    let r = run(&o);
    assert!(r.kept_tracked.is_empty());
    assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    assert!(r.notes[0].contains("git is not on PATH"), "{:?}", r.notes);
}

#[test]
fn a_destination_another_run_of_this_source_holds_fails_alone_and_an_unchanged_run_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "app");
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let opts = BackupOptions { host_name: Some("pc1".into()), ..options(&src, &dests, &t.path().join("cache")) };
    let first = run(&opts);
    assert_eq!(first.status, RunStatus::Created);
    // An unchanged run leaves no lock (nor anything else) behind, and takes none.
    let before: Vec<_> = dests.iter().map(|d| fs::metadata(d.join("app")).unwrap().modified().unwrap()).collect();
    assert_eq!(run(&opts).status, RunStatus::Skipped);
    let after: Vec<_> = dests.iter().map(|d| fs::metadata(d.join("app")).unwrap().modified().unwrap()).collect();
    assert_eq!(before, after, "an unchanged run wrote into a destination folder");
    assert!(dests.iter().all(|d| zips(&d.join("app")).len() == 1 && listing(&d.join("app")).len() == 1));

    // A live run of this source (this process, another run id) holds d2.
    let lock = dests[1].join("app").join(backup_repo::destinations::lock_file_name(&first.source_id));
    let holder = serde_json::json!({
        "run_id": format!("pc1~{}~0123abcd", std::process::id()),
        "host": "pc1", "pid": std::process::id(), "started_utc": "2026-11-25T09:59:00Z", "source": src.display().to_string(),
    });
    fs::write(&lock, holder.to_string()).unwrap();
    write(&src, "src/main.py", "print('changed')\n");
    let r = run(&BackupOptions { now: Some("2026-11-25T10:01:00".parse().unwrap()), ..opts.clone() });
    assert_eq!(r.status, RunStatus::Partial);
    assert_eq!(r.destinations[0].status, DestinationStatus::Created);
    assert_eq!(r.destinations[1].status, DestinationStatus::Failed);
    let why = r.destinations[1].reason.as_ref().unwrap();
    assert!(why.contains("another backup of this source is running") && why.contains("host 'pc1'"), "{why}");
    assert!(lock.is_file(), "another run's lock was removed");
    assert!(!dests[0].join("app").join(backup_repo::destinations::lock_file_name(&r.source_id)).exists());
}
