//! kill -9 at chosen points of a run (selecting/hashing, compressing,
//! placing): afterwards no destination holds an incomplete file named like a
//! backup, the next run removes the leftovers, the stat cache is not
//! corrupted (the next run's fingerprint equals a cache-less one) and the
//! next run succeeds.

mod common;
mod reliability_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_repo::backup::{BackupOptions, RunStatus};
use backup_repo::destinations::DestinationStatus;
use reliability_support::*;

#[test]
fn child() {
    child_main();
}

/// A repository that takes a noticeable time per phase: many compressible
/// files plus one large incompressible file (the streamed/mmap paths).
fn repo(parent: &Path) -> PathBuf {
    let root = parent.join("crashrepo");
    let (files, big) = if cfg!(debug_assertions) { (150, 12 << 20) } else { (600, 48 << 20) };
    for i in 0..files {
        let body = format!("line {i} of a text file that compresses well enough\n").repeat(1000);
        common::write(&root, &format!("src/m{:03}/f{i:04}.txt", i % 17), body);
    }
    let mut noise = vec![0u8; big];
    blake3::Hasher::new().update(b"noise").finalize_xof().fill(&mut noise);
    common::write(&root, "assets/big.bin", noise);
    common::write(&root, "pyproject.toml", "[project]\n");
    common::age_files(&root);
    root
}

fn opts(src: &Path, base: &Path) -> (BackupOptions, Vec<PathBuf>, PathBuf) {
    let dests = vec![base.join("d1"), base.join("d2")];
    let cache = base.join("cache");
    (common::options(src, &dests, &cache), dests.iter().map(|d| d.join("crashrepo")).collect(), cache)
}

/// Kill the child once it reached `phase` (+ `delay`), then check the
/// aftermath and that the next run repairs everything. With `changed_since`,
/// the killed run follows a backup after which every file grew: it must
/// re-hash them all (a first backup hashes while it compresses instead).
fn kill_at(phase: &str, delay: Duration, until_partial: bool, changed_since: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path());
    let (o, dirs, cache) = opts(&src, tmp.path());
    if changed_since {
        let before = BackupOptions { now: Some("2026-11-25T09:00:00".parse().unwrap()), ..o.clone() };
        assert_eq!(common::run(&before).status, RunStatus::Created);
        for rel in common::listing(&src) {
            let f = std::fs::OpenOptions::new().append(true).open(src.join(rel)).unwrap();
            std::io::Write::write_all(&mut &f, b"grown\n").unwrap();
        }
        common::age_files(&src);
    }
    let fresh = fresh_fingerprint(&o);

    let mut c = spawn_child(&o, &tmp.path().join("out.json"));
    assert!(c.wait_phase(phase, Duration::from_secs(60)), "child ended before {phase}");
    if until_partial {
        // Kill while a copy is being written, if we can catch one.
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < end && !dirs.iter().any(|d| names(d).iter().any(|n| n.ends_with(".partial")))
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    std::thread::sleep(delay);
    c.kill9();
    eprintln!("{phase}: killed after {:?}", c.seen);

    // 1. Nothing that looks like a backup is incomplete.
    for d in &dirs {
        assert_only_good_backups(d);
    }
    if phase == "compressing" {
        // The archive is written into every destination as it is built.
        for d in &dirs {
            let partials: Vec<_> = names(d).into_iter().filter(|n| n.ends_with(".partial")).collect();
            assert_eq!(partials.len(), 1, "the kill left its partial copy in {}: {partials:?}", d.display());
        }
    }

    // 2. The next run succeeds, cleans up, and its fingerprint is the truth.
    let next = BackupOptions { now: Some("2026-11-25T11:00:00".parse().unwrap()), ..o.clone() };
    let r = common::run(&next);
    assert!(matches!(r.status, RunStatus::Created | RunStatus::Skipped), "{r:?}");
    for d in &r.destinations {
        assert!(matches!(d.status, DestinationStatus::Created | DestinationStatus::Skipped), "{d:?}");
    }
    assert_eq!(r.fingerprint, fresh, "stat cache after a kill gave a wrong fingerprint");
    assert_eq!(r.files_hashed + r.files_cached, r.file_count);
    assert_no_leftovers(&dirs, &cache);
    for d in &dirs {
        assert!(assert_only_good_backups(d) >= 1);
    }
    // 3. The cache it wrote serves a third run completely: unchanged, skipped.
    let third = BackupOptions { now: Some("2026-11-25T12:00:00".parse().unwrap()), ..o };
    let r3 = common::run(&third);
    assert_eq!(r3.status, RunStatus::Skipped);
    assert_eq!((r3.files_hashed, r3.fingerprint.as_str()), (0, fresh.as_str()));
}

#[test]
fn kill_while_hashing() {
    kill_at("hashing", Duration::from_millis(30), false, true);
}

#[test]
fn kill_while_compressing() {
    kill_at("compressing", Duration::from_millis(60), false, false);
}

#[test]
fn kill_while_placing() {
    kill_at("placing", Duration::ZERO, true, false);
}

#[test]
fn kill_right_after_placing_started() {
    kill_at("placing", Duration::from_millis(1), false, false);
}

/// A killed run leaves its lock behind in the file system, but not held: the
/// next run is never refused as Busy.
#[test]
fn kill_does_not_leave_the_repository_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path());
    let (o, dirs, cache) = opts(&src, tmp.path());
    let mut c = spawn_child(&o, &tmp.path().join("out.json"));
    // Compressing, not selecting: the child samples its phase every ~1 ms and
    // a release build can select this tree in less; the lock is held
    // throughout, which is what matters here.
    assert!(c.wait_phase("compressing", Duration::from_secs(60)));
    c.kill9();
    let r = common::run(&o);
    assert_eq!(r.status, RunStatus::Created);
    assert_no_leftovers(&dirs, &cache);
}
