//! Concurrency and volume: two runs on one repository (one is refused as
//! Busy, clearly; no interleaved archives or metric lines), two repositories
//! into one destination (both succeed); many small files; and, behind
//! RELIABILITY_SLOW, a 5 GiB sparse file and a ZIP64 archive over 4 GiB.

mod common;
mod reliability_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_repo::backup::{BackupOptions, RunStatus};
use backup_repo::ErrorKind;
use reliability_support::*;

#[test]
fn child() {
    child_main();
}

fn busy_repo(parent: &Path, name: &str, files: usize) -> PathBuf {
    let root = parent.join(name);
    for i in 0..files {
        common::write(&root, &format!("src/{:02}/f{i}.txt", i % 50), format!("{name} file {i}\n").repeat(300));
    }
    common::write(&root, "pyproject.toml", "[project]\n");
    common::age_files(&root);
    root
}

#[test]
fn two_runs_on_one_repository_one_is_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let src = busy_repo(tmp.path(), "same", 3000);
    let dest = tmp.path().join("d");
    let mut o = common::options(&src, std::slice::from_ref(&dest), &tmp.path().join("cache"));
    o.metrics_log = Some(tmp.path().join("metrics.jsonl"));
    let mut first = spawn_child(&o, &tmp.path().join("first.json"));
    // A first backup has no hashing pass of its own (it hashes while it
    // compresses), so wait for the phase it spends its time in.
    assert!(first.wait_phase("compressing", Duration::from_secs(60)));
    let second = BackupOptions { now: Some("2026-11-25T10:00:01".parse().unwrap()), ..o.clone() };
    let err = backup_repo::backup::run(&second, &backup_repo::progress::Control::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Busy);
    assert!(err.message.contains("another backup of 'same'") && err.message.contains("is running"), "{}", err.message);
    let v = first.finish(Duration::from_secs(120));
    assert_eq!(v["status"], "created", "{v}");
    // One archive, whole; two metric lines (created + failed), each valid JSON.
    assert_eq!(assert_only_good_backups(&dest.join("same")), 1);
    let log = std::fs::read_to_string(tmp.path().join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).expect("a whole JSON line")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    let mut statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, ["failed", "success"]); // the metrics log keeps the original vocabulary
}

#[test]
fn two_repositories_into_one_destination_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("shared");
    let log = tmp.path().join("metrics.jsonl");
    let runs: Vec<_> = ["alpha", "beta"]
        .iter()
        .map(|name| {
            let src = busy_repo(tmp.path(), name, 1500);
            let mut o = common::options(&src, std::slice::from_ref(&dest), &tmp.path().join("cache"));
            o.metrics_log = Some(log.clone());
            spawn_child(&o, &tmp.path().join(format!("{name}.json")))
        })
        .collect();
    for r in runs {
        let v = r.finish(Duration::from_secs(120));
        assert_eq!(v["status"], "created", "{v}");
    }
    for name in ["alpha", "beta"] {
        assert_eq!(assert_only_good_backups(&dest.join(name)), 1);
        let m = backup_repo::archive::read_manifest(
            &dest.join(name).join(format!("{name}_backup_2026-11-25_10-00-00.zip")),
        )
        .unwrap();
        assert_eq!(m.repo, name);
        assert!(m.files.iter().all(|f| f.path == "pyproject.toml" || f.path.starts_with("src/")));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count(), 2, "{text}");
}

fn many_files(n: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("many");
    for i in 0..n {
        common::write(&src, &format!("d{:03}/f{i:06}.txt", i % 500), format!("{i}\n"));
    }
    common::write(&src, "pyproject.toml", "[project]\n");
    common::age_files(&src);
    let dest = tmp.path().join("d");
    let o = common::options(&src, std::slice::from_ref(&dest), &tmp.path().join("cache"));
    let v = spawn_child(&o, &tmp.path().join("out.json")).finish(Duration::from_secs(600));
    assert_eq!(v["status"], "created", "{v}");
    assert_eq!(v["file_count"], n as u64 + 1);
    let archive = PathBuf::from(v["destinations"][0]["archive_path"].as_str().unwrap());
    assert_eq!(assert_only_good_backups(archive.parent().unwrap()), 1);
    assert_eq!(assert_round_trip(&archive, &src, tmp.path()), n + 1);
    // Unchanged: answered by the stat cache, skipped.
    let again = common::run(&BackupOptions { now: Some("2026-11-25T11:00:00".parse().unwrap()), ..o });
    assert_eq!((again.status, again.files_hashed), (RunStatus::Skipped, 0));
}

#[test]
fn twenty_thousand_small_files() {
    many_files(if slow() { 100_000 } else { 20_000 });
}

/// A 5 GiB sparse file: hashed, archived (the archive is over 4 GiB, so
/// ZIP64), verified, restored byte for byte. Slow: RELIABILITY_SLOW=1.
#[test]
#[ignore = "slow: 5 GiB; run by scripts/fault-test"]
fn five_gib_sparse_file_and_zip64_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("huge");
    std::fs::create_dir_all(&src).unwrap();
    common::write(&src, "pyproject.toml", "[project]\n");
    let f = std::fs::File::create(src.join("sparse.pack")).unwrap(); // .pack: stored, not deflated
    f.set_len(5 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"head", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"tail", (5 << 30) - 4).unwrap();
    drop(f);
    common::age_files(&src);
    let dest = tmp.path().join("d");
    let o = common::options(&src, std::slice::from_ref(&dest), &tmp.path().join("cache"));
    let v = spawn_child(&o, &tmp.path().join("out.json")).finish(Duration::from_secs(900));
    assert_eq!(v["status"], "created", "{v}");
    assert!(v["archive_bytes"].as_u64().unwrap() > 4 << 30, "ZIP64 territory: {}", v["archive_bytes"]);
    let archive = PathBuf::from(v["destinations"][0]["archive_path"].as_str().unwrap());
    assert_eq!(assert_only_good_backups(archive.parent().unwrap()), 1);
    // Restore and compare by hash (not by reading 5 GiB twice into memory).
    let target = tmp.path().join("restored");
    backup_repo::archive::restore(&archive, &target, &Default::default(), &backup_repo::progress::Control::default())
        .unwrap();
    let restored = std::fs::metadata(target.join("sparse.pack")).unwrap().len();
    assert_eq!(restored, 5 << 30);
    let hash = |p: &Path| {
        let mut h = blake3::Hasher::new();
        h.update_reader(std::fs::File::open(p).unwrap()).unwrap();
        h.finalize()
    };
    assert_eq!(hash(&target.join("sparse.pack")), hash(&src.join("sparse.pack")));
    let _ = std::fs::remove_file(&archive);
}
