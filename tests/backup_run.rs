//! End to end through `backup::run`: what issue "one real backup" promises.

mod common;

use std::fs;
use std::process::Command;

use backup_repo::backup::RunStatus;
use backup_repo::destinations::DestinationStatus;
use backup_repo::progress::Control;
use backup_repo::ErrorKind;
use common::*;

#[test]
fn first_run_creates_everywhere_and_second_run_skips_without_reading() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1"), t.path().join("d2"), t.path().join("d3")];
    let opts = options(&src, &dests, &t.path().join("cache"));

    let first = run(&opts);
    assert_eq!(first.status, RunStatus::Created);
    assert!(first.destinations.iter().all(|d| d.status == DestinationStatus::Created));
    assert_eq!(first.archive_name, "demo_backup_2026-11-25_10-00-00.zip");
    for d in &dests {
        assert_eq!(listing(&d.join("demo")), vec!["demo_backup_2026-11-25_10-00-00.zip"]);
    }

    // The skip decision reads the fingerprint from the archive comment.
    let archive = dests[0].join("demo").join(&first.archive_name);
    assert_eq!(
        backup_repo::archive::comment_fingerprint(&archive).map(|s| s.fingerprint),
        Some(first.fingerprint.clone())
    );

    let mut again = opts.clone();
    again.now = Some("2026-11-25T11:00:00".parse().unwrap());
    let second = run(&again);
    assert_eq!(second.status, RunStatus::Skipped);
    assert_eq!(second.fingerprint, first.fingerprint);
    // The stat cache answered for every file: nothing was read.
    assert_eq!((second.files_hashed, second.files_cached), (0, first.file_count));
    for d in &dests {
        assert_eq!(listing(&d.join("demo")).len(), 1, "nothing new written");
    }
}

#[test]
fn archive_passes_unzip_and_holds_exactly_the_selected_files() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let report = run(&options(&src, &[t.path().join("d")], &t.path().join("cache")));
    let zip = report.destinations[0].archive_path.clone().unwrap();

    let test = Command::new("unzip").args(["-t", "-q", &zip]).output().expect("unzip installed");
    assert!(test.status.success(), "unzip -t: {}", String::from_utf8_lossy(&test.stdout));

    let out = t.path().join("extracted");
    // In a C locale unzip writes non-ASCII names as #Uxxxx; the test must not
    // depend on the caller's locale (CI may run without LANG).
    let x = Command::new("unzip").env("LC_ALL", "C.UTF-8").args(["-q", &zip, "-d"]).arg(&out).output().unwrap();
    assert!(x.status.success());
    let mut got = listing(&out);
    got.retain(|p| !p.starts_with(".backup-repo"));
    let expected = vec![
        ".git/HEAD",
        ".git/objects/pack/pack-1.pack",
        "analysis_utils.py",
        "docs/ünïcode 日本.md",
        "empty.txt",
        "environment.py",
        "pyproject.toml",
        "rebuild.py",
        "src/main.py",
    ];
    assert_eq!(got, expected);
    for rel in &expected {
        assert_eq!(fs::read(out.join(rel)).unwrap(), fs::read(src.join(rel)).unwrap(), "{rel}");
    }
}

#[test]
fn two_backups_of_the_same_tree_are_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let a = run(&options(&src, &[t.path().join("a")], &t.path().join("cache-a")));
    let b = run(&options(&src, &[t.path().join("b")], &t.path().join("cache-b")));
    let bytes =
        |r: &backup_repo::backup::BackupReport| fs::read(r.destinations[0].archive_path.as_ref().unwrap()).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
}

#[test]
fn an_unwritable_destination_fails_alone() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    fs::write(t.path().join("a-file"), "not a folder").unwrap();
    let dests = vec![t.path().join("ok1"), t.path().join("a-file/sub"), t.path().join("ok2")];
    let report = run(&options(&src, &dests, &t.path().join("cache")));
    assert_eq!(report.status, RunStatus::Partial);
    let st: Vec<_> = report.destinations.iter().map(|d| d.status).collect();
    assert_eq!(st, [DestinationStatus::Created, DestinationStatus::Failed, DestinationStatus::Created]);
    let reason = report.destinations[1].reason.as_deref().unwrap();
    assert!(reason.contains("a-file"), "reason names the destination: {reason}");
}

#[test]
fn a_cancelled_run_leaves_nothing_that_looks_like_a_backup() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    for i in 0..200 {
        write(&src, &format!("bulk/f{i}.bin"), pseudo_random(20_000, i));
    }
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let opts = options(&src, &dests, &t.path().join("cache"));
    let control = Control::default();
    std::thread::scope(|s| {
        let worker = s.spawn(|| backup_repo::backup::run(&opts, &control));
        // Cancel as soon as compression starts.
        while control.snapshot().phase < backup_repo::progress::Phase::Compressing && !worker.is_finished() {
            std::thread::yield_now();
        }
        control.cancel();
        let err = worker.join().unwrap().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Cancelled);
    });
    for d in &dests {
        assert!(listing(d).is_empty(), "left behind in {}: {:?}", d.display(), listing(d));
    }
    assert!(listing(&t.path().join("cache/tmp")).is_empty(), "temporary archive removed");
}

#[test]
fn dry_run_writes_nothing_anywhere() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let mut opts = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    opts.dry_run = true;
    let before = listing(t.path());
    let report = run(&opts);
    assert_eq!(report.status, RunStatus::Planned);
    assert_eq!(report.destinations[0].status, DestinationStatus::WouldCreate);
    assert_eq!(listing(t.path()), before);
}

#[test]
fn bad_sources_are_named_in_the_error() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nope");
    let err =
        backup_repo::backup::run(&options(&missing, &[t.path().join("d")], t.path()), &Control::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("nope"));

    let plain = t.path().join("plain");
    fs::create_dir(&plain).unwrap();
    let err =
        backup_repo::backup::run(&options(&plain, &[t.path().join("d")], t.path()), &Control::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotARepository);
    assert!(err.message.contains("plain") && err.message.contains(".git"));
}

#[test]
fn keep_last_prunes_only_our_archives() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let d = t.path().join("d");
    fs::create_dir_all(d.join("demo")).unwrap();
    fs::write(d.join("demo/demo_backup_2020-01-01_00-00-00.zip"), "not ours").unwrap();
    fs::write(d.join("demo/notes.txt"), "mine").unwrap();
    let mut opts = options(&src, std::slice::from_ref(&d), &t.path().join("cache"));
    opts.force = true;
    for hour in 10..14 {
        opts.now = Some(format!("2026-11-25T{hour}:00:00").parse().unwrap());
        run(&opts);
    }
    opts.retention = Some(backup_repo::retention::Policy { keep_last: Some(2), ..Default::default() });
    opts.now = Some("2026-11-25T15:00:00".parse().unwrap());
    let report = run(&opts);
    assert_eq!(report.retention[0].deleted.len(), 3);
    assert_eq!(
        listing(&d.join("demo")),
        vec![
            "demo_backup_2020-01-01_00-00-00.zip",
            "demo_backup_2026-11-25_13-00-00.zip",
            "demo_backup_2026-11-25_15-00-00.zip",
            "notes.txt",
        ]
    );
}

#[test]
fn backups_of_changed_content_within_one_second_each_get_a_name() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let opts = options(&src, &dests, &t.path().join("cache"));
    // The second destination already holds a file with the first name, not ours.
    fs::create_dir_all(dests[1].join("demo")).unwrap();
    fs::write(dests[1].join("demo/demo_backup_2026-11-25_10-00-00.zip"), "not ours").unwrap();

    let first = run(&opts);
    assert_eq!(first.status, RunStatus::Created);
    assert_eq!(first.archive_name, "demo_backup_2026-11-25_10-00-00_2.zip", "the next free name of the second");
    write(&src, "src/main.py", "print('changed within the second')\n");
    let second = run(&opts);
    assert_eq!(second.status, RunStatus::Created, "{:?}", second.destinations);
    assert_eq!(second.archive_name, "demo_backup_2026-11-25_10-00-00_3.zip");
    // Unchanged since the newest of that second: skipped, nothing named.
    let third = run(&opts);
    assert_eq!(third.status, RunStatus::Skipped);
    assert_eq!(third.fingerprint, second.fingerprint);
    assert_eq!(
        listing(&dests[1].join("demo")),
        [
            "demo_backup_2026-11-25_10-00-00.zip",
            "demo_backup_2026-11-25_10-00-00_2.zip",
            "demo_backup_2026-11-25_10-00-00_3.zip"
        ]
    );
    assert_eq!(fs::read(dests[1].join("demo/demo_backup_2026-11-25_10-00-00.zip")).unwrap(), b"not ours");

    // Retention keeps the newest of the second, whatever its names sort as.
    let mut prune = opts.clone();
    prune.retention = Some(backup_repo::retention::Policy { keep_last: Some(1), ..Default::default() });
    let report = run(&prune);
    assert_eq!(report.status, RunStatus::Skipped);
    assert_eq!(
        listing(&dests[0].join("demo")),
        ["demo_backup_2026-11-25_10-00-00_3.zip"],
        "kept the newest, removed the older of the same second"
    );

    // The names retention freed are not reused: the next backup of that
    // second sorts after the one kept, so retention keeps it.
    write(&src, "src/main.py", "print('changed again, same second')\n");
    let fourth = run(&prune);
    assert_eq!(fourth.archive_name, "demo_backup_2026-11-25_10-00-00_4.zip");
    assert_eq!(fourth.retention[0].deleted.len(), 1, "{:?}", fourth.retention);
    assert_eq!(listing(&dests[0].join("demo")), ["demo_backup_2026-11-25_10-00-00_4.zip"]);
    assert_eq!(run(&opts).status, RunStatus::Skipped, "the kept backup is the newest content");
}

#[test]
fn every_real_run_appends_one_metrics_line_with_the_original_keys() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let log = t.path().join("metrics/backup-demo.jsonl");
    let mut opts = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    opts.metrics_log = Some(log.clone());
    opts.prometheus_textfile = Some(t.path().join("textfile/backup_repo.prom"));
    run(&opts); // created
    run(&opts); // skipped
    let mut dry = opts.clone();
    dry.dry_run = true;
    run(&dry); // a plan is not logged
    let mut bad = opts.clone();
    bad.source = t.path().join("missing");
    bad.repo_name = Some("demo".into());
    assert!(backup_repo::backup::run(&bad, &Control::default()).is_err());

    let lines: Vec<serde_json::Value> =
        fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["success", "skipped", "failed"]);
    for key in [
        "timestamp", "repo", "status", "locations_created", "locations_skipped", "size_mb", "duration_seconds",
        "file_count", "duplicate_detected",
    ] {
        assert!(lines.iter().all(|l| l.get(key).is_some()), "missing {key}");
    }
    assert_eq!(lines[1]["duplicate_detected"], true);
    let prom = fs::read_to_string(t.path().join("textfile/backup_repo.prom")).unwrap();
    assert!(prom.contains("backup_repo_runs_total{repo=\"demo\",status=\"skipped\"} 1"), "{prom}");
}

#[test]
fn a_changed_run_reuses_the_previous_backups_compressed_entries() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("demo");
    write(&src, "pyproject.toml", "[project]\nname='demo'\n");
    for i in 0..20 {
        write(&src, &format!("src/mod{i}.py"), format!("def f{i}(x):\n    return x * {i}\n").repeat(100));
    }
    age_files(&src);
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let mut opts = options(&src, &dests, &t.path().join("cache"));
    let first = run(&opts);
    assert_eq!(first.entries_reused, 0);

    write(&src, "src/mod0.py", "print('changed')\n".repeat(100));
    // Out of the stat cache's "too recent to trust" window; the others untouched.
    let past = filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - 600, 0);
    filetime::set_file_mtime(src.join("src/mod0.py"), past).unwrap();
    opts.now = Some("2026-11-25T11:00:00".parse().unwrap());
    let second = run(&opts);
    assert_eq!(second.status, RunStatus::Created);
    assert_eq!(second.files_hashed, 1, "only the changed file is read");
    // Every unchanged compressed entry is copied raw (a tiny file stored
    // because deflate did not pay may be rebuilt instead).
    assert!(second.entries_reused >= 19, "reused {}", second.entries_reused);
}

/// A first backup (none of this repository in any destination) hashes files
/// as it compresses them: one read each. What it records must be what a
/// separate hashing pass gives: the report's fingerprint, the manifest's
/// per-file BLAKE3, the archive comment and the stat cache it leaves.
#[test]
fn a_first_backup_hashes_while_compressing_and_records_the_true_hashes() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    let dests = vec![t.path().join("d1"), t.path().join("d2")];
    let opts = options(&src, &dests, &t.path().join("cache"));
    let dry = backup_repo::backup::BackupOptions { dry_run: true, cache_dir: None, ..opts.clone() };
    let truth = backup_repo::backup::run(&dry, &Control::default()).unwrap();

    let first = run(&opts);
    assert_eq!(first.status, RunStatus::Created);
    assert_eq!(first.fingerprint, truth.fingerprint);
    assert_eq!((first.files_hashed, first.files_cached), (first.file_count, 0));
    let archive = std::path::PathBuf::from(first.destinations[0].archive_path.clone().unwrap());
    assert_eq!(
        backup_repo::archive::comment_fingerprint(&archive).map(|s| s.fingerprint),
        Some(first.fingerprint.clone())
    );
    let manifest = backup_repo::archive::read_manifest(&archive).unwrap();
    assert_eq!(manifest.fingerprint, first.fingerprint);
    for m in &manifest.files {
        let content = fs::read(src.join(&m.path)).unwrap();
        assert_eq!(m.blake3, blake3::hash(&content).to_hex().as_str(), "{}", m.path);
    }

    // The backups gone but the stat cache kept: again a first backup, in
    // which the cache answers for the files it knows and only the changed
    // one is read.
    for d in &dests {
        fs::remove_dir_all(d).unwrap();
    }
    write(&src, "src/main.py", "print('changed')\n".repeat(200));
    age_files(&src);
    let again =
        backup_repo::backup::BackupOptions { now: Some("2026-11-25T11:00:00".parse().unwrap()), ..opts.clone() };
    let second = run(&again);
    assert_eq!(second.status, RunStatus::Created);
    assert_eq!((second.files_hashed, second.files_cached), (1, second.file_count - 1));
    let truth = backup_repo::backup::run(&dry, &Control::default()).unwrap();
    assert_eq!(second.fingerprint, truth.fingerprint);

    // And the cache it wrote serves the next run whole: unchanged, nothing read.
    let third = backup_repo::backup::BackupOptions { now: Some("2026-11-25T12:00:00".parse().unwrap()), ..opts };
    let third = run(&third);
    assert_eq!(third.status, RunStatus::Skipped);
    assert_eq!((third.files_hashed, third.fingerprint.as_str()), (0, truth.fingerprint.as_str()));
}

/// A stored file edited in place with its size and time kept: the stat cache
/// still vouches for the old bytes, but a stored entry is copied from the
/// file and checked against the previous backup's CRC, so the change is
/// seen; the retry reads that file again instead of trusting the cache, and
/// the backup holds the new bytes (never the old ones, never a failed run).
#[test]
fn a_stored_file_edited_behind_the_stat_cache_is_backed_up_as_it_is() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("demo");
    write(&src, "pyproject.toml", "[project]\nname='demo'\n");
    write(&src, "src/app.py", "print('hi')\n".repeat(50));
    write(&src, "img/logo.png", "old picture bytes ".repeat(100));
    age_files(&src);
    let dests = vec![t.path().join("d1")];
    let mut opts = options(&src, &dests, &t.path().join("cache"));
    run(&opts);

    let logo = src.join("img/logo.png");
    let kept = filetime::FileTime::from_last_modification_time(&fs::metadata(&logo).unwrap());
    let new = "new picture bytes ".repeat(100);
    fs::write(&logo, &new).unwrap();
    filetime::set_file_mtime(&logo, kept).unwrap();
    // Alone it would go unseen (the fingerprint comes from the cache): some
    // other change makes a backup that reuses the picture's entry.
    write(&src, "src/app.py", "print('changed')\n".repeat(50));
    let past = filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - 600, 0);
    filetime::set_file_mtime(src.join("src/app.py"), past).unwrap();
    opts.now = Some("2026-11-25T11:00:00".parse().unwrap());
    let second = run(&opts);
    assert_eq!(second.status, RunStatus::Created);
    assert!(second.warnings.iter().any(|w| w.contains("img/logo.png")), "{:?}", second.warnings);
    let archive = second.destinations[0].archive_path.clone().unwrap();
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut z.by_name("img/logo.png").unwrap(), &mut got).unwrap();
    assert_eq!(got, new);
    let manifest = backup_repo::archive::read_manifest(std::path::Path::new(
        &second.destinations[0].archive_path.clone().unwrap(),
    ))
    .unwrap();
    let entry = manifest.files.iter().find(|m| m.path == "img/logo.png").unwrap();
    assert_eq!(entry.blake3, blake3::hash(new.as_bytes()).to_hex().as_str());
}

/// A new empty folder or a link's new target is a change; the report counts
/// what was stored; a fingerprint with the same folders and links is the
/// same (unchanged runs skip). Compare-RepoBackup sees the folder and link.
#[cfg(unix)]
#[test]
fn empty_folders_and_links_are_part_of_the_backup() {
    let t = tempfile::tempdir().unwrap();
    let src = sample_repo(t.path(), "demo");
    std::os::unix::fs::symlink("src/main.py", src.join("main-link")).unwrap();
    let mut opts = options(&src, &[t.path().join("d")], &t.path().join("cache"));
    let mut at = |hour: u32| {
        opts.now = Some(format!("2026-11-25T{hour:02}:00:00").parse().unwrap());
        run(&opts)
    };
    let first = at(10);
    assert_eq!((first.status, first.links_stored, first.dirs_stored), (RunStatus::Created, 1, 0));
    assert!(first.skipped_paths.is_empty(), "{:?}", first.skipped_paths);
    assert_eq!(at(11).status, RunStatus::Skipped);

    fs::create_dir_all(src.join("new/empty")).unwrap();
    let second = at(12);
    assert_eq!((second.status, second.dirs_stored), (RunStatus::Created, 1));
    assert_ne!(second.fingerprint, first.fingerprint);
    assert_eq!(at(13).status, RunStatus::Skipped);

    fs::remove_file(src.join("main-link")).unwrap();
    std::os::unix::fs::symlink("environment.py", src.join("main-link")).unwrap();
    let third = at(14);
    assert_eq!(third.status, RunStatus::Created);

    let archive = |r: &backup_repo::backup::BackupReport| r.destinations[0].archive_path.clone().unwrap();
    let cmp = backup_repo::compare::compare_backups(archive(&first).as_ref(), archive(&third).as_ref()).unwrap();
    let changes: Vec<(&str, backup_repo::archive::Change)> =
        cmp.changes.iter().map(|c| (c.path.as_str(), c.change)).collect();
    use backup_repo::archive::Change::*;
    assert_eq!(changes, [("main-link", Modified), ("new/empty/", Added)]);
}
