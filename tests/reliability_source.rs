//! The source misbehaving: files that change, vanish or appear during the
//! run, and every kind of odd entry a file system can hold. An archive never
//! holds content that does not match its manifest; every path on disk ends
//! up in the manifest, in `excluded` or in `skipped_paths`; nothing hangs.

mod common;
mod reliability_support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use backup_repo::archive;
use backup_repo::backup::{BackupOptions, BackupReport, RunStatus};
use backup_repo::progress::{Control, Phase, Snapshot};
use reliability_support::*;

#[test]
fn child() {
    child_main();
}

/// Files first in sort order that take a while to compress, then `z/big.bin`
/// (streamed: read by the writer only when it gets there), then `zz.txt`.
fn repo(parent: &Path) -> PathBuf {
    let root = parent.join("liverepo");
    for i in 0..40 {
        common::write(&root, &format!("a/f{i:02}.txt"), format!("text {i} compresses\n").repeat(4000));
    }
    let big = std::fs::File::create_new({
        std::fs::create_dir_all(root.join("z")).unwrap();
        root.join("z/big.bin")
    })
    .unwrap();
    big.set_len((64 << 20) + 4096).unwrap(); // sparse, above the streaming threshold
                                             // Written just before z/big.bin and slow to stream (tens of ms even in
                                             // release): a change made while the writer is on it reliably lands before
                                             // z/big.bin is opened, however busy the machine (the tests run in parallel).
    let spacer = std::fs::File::create_new({
        std::fs::create_dir_all(root.join("y")).unwrap();
        root.join("y/spacer.bin")
    })
    .unwrap();
    spacer.set_len(128 << 20).unwrap();
    common::write(&root, "zz.txt", "last file\n");
    common::write(&root, "pyproject.toml", "[project]\n");
    common::age_files(&root);
    root
}

fn options(src: &Path, base: &Path) -> BackupOptions {
    let mut o = common::options(src, &[base.join("d1"), base.join("d2")], &base.join("cache"));
    o.archive.compression = archive::Compression::Store;
    o
}

/// Run with `mutate` called once, the first time the run enters `phase`.
fn run_mutating(
    o: &BackupOptions,
    when: impl Fn(&Snapshot) -> bool,
    mutate: impl FnOnce(),
) -> backup_repo::Result<BackupReport> {
    let control = Control::default();
    std::thread::scope(|s| {
        let h = s.spawn(|| backup_repo::backup::run(o, &control));
        let mut mutate = Some(mutate);
        while !h.is_finished() {
            if when(&control.snapshot()) {
                if let Some(m) = mutate.take() {
                    m();
                }
            }
            std::hint::spin_loop();
        }
        assert!(mutate.is_none(), "the run never reached the point of the change");
        h.join().unwrap()
    })
}

/// Every archive the run produced verifies and matches the source now.
fn check_archives(r: &BackupReport, src: &Path, scratch: &Path) {
    let paths = created_paths(r);
    assert!(!paths.is_empty());
    for p in paths {
        assert_only_good_backups(p.parent().unwrap());
        assert_round_trip(&p, src, scratch);
    }
}

fn changed_once(mutate: impl FnOnce(&Path)) -> (BackupReport, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path());
    let o = options(&src, tmp.path());
    let on_spacer = |s: &Snapshot| s.phase == Phase::Compressing && s.current == "y/spacer.bin";
    let r = run_mutating(&o, on_spacer, || mutate(&src)).expect("retried run succeeds");
    assert_eq!(r.status, RunStatus::Created);
    assert!(
        r.warnings.iter().any(|w| w.contains("changed during the backup") && w.contains("z/big.bin")),
        "{:?}",
        r.warnings
    );
    check_archives(&r, &src, tmp.path());
    (r, src, tmp)
}

#[test]
fn grown_between_hashing_and_compressing_is_rebuilt() {
    let (r, src, _t) = changed_once(|src| {
        let f = std::fs::OpenOptions::new().append(true).open(src.join("z/big.bin")).unwrap();
        std::io::Write::write_all(&mut &f, b"grown").unwrap();
    });
    let m = archive::read_manifest(&created_paths(&r)[0]).unwrap();
    let big = m.files.iter().find(|f| f.path == "z/big.bin").unwrap();
    assert_eq!(big.size, std::fs::metadata(src.join("z/big.bin")).unwrap().len());
    assert_eq!(big.size, (64 << 20) + 4096 + 5);
}

#[test]
fn truncated_between_hashing_and_compressing_is_rebuilt() {
    let (r, _src, _t) = changed_once(|src| {
        std::fs::OpenOptions::new().write(true).open(src.join("z/big.bin")).unwrap().set_len(100).unwrap();
    });
    let m = archive::read_manifest(&created_paths(&r)[0]).unwrap();
    assert_eq!(m.files.iter().find(|f| f.path == "z/big.bin").unwrap().size, 100);
}

#[test]
fn deleted_between_hashing_and_compressing_is_reported_skipped() {
    let (r, _src, _t) = changed_once(|src| std::fs::remove_file(src.join("z/big.bin")).unwrap());
    let m = archive::read_manifest(&created_paths(&r)[0]).unwrap();
    assert!(!m.files.iter().any(|f| f.path == "z/big.bin"));
    let s = r.skipped_paths.iter().find(|s| s.path == "z/big.bin").expect("reported in skipped_paths");
    assert!(s.reason.contains("deleted during the backup"), "{s:?}");
}

/// A file created after selection is simply not in this backup (a snapshot
/// taken at selection), and the archive is consistent.
#[test]
fn added_during_the_backup_waits_for_the_next_one() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path());
    let o = options(&src, tmp.path());
    let r = run_mutating(&o, |s| s.phase == Phase::Compressing, || common::write(&src, "new.txt", "new")).unwrap();
    assert_eq!(r.status, RunStatus::Created);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let m = archive::read_manifest(&created_paths(&r)[0]).unwrap();
    assert!(!m.files.iter().any(|f| f.path == "new.txt"));
    check_archives(&r, &src, tmp.path());
    let next = BackupOptions { now: Some("2026-11-25T11:00:00".parse().unwrap()), ..o };
    let r2 = common::run(&next);
    let m2 = archive::read_manifest(&created_paths(&r2)[0]).unwrap();
    assert!(m2.files.iter().any(|f| f.path == "new.txt"));
}

/// A file that keeps changing: retried once, then the run fails naming it,
/// and nothing (no archive, no partial, no temp file) is left anywhere.
#[test]
fn a_file_that_keeps_changing_fails_the_run_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path());
    let o = options(&src, tmp.path());
    let control = Control::default();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let err = std::thread::scope(|s| {
        let h = s.spawn(|| backup_repo::backup::run(&o, &control));
        s.spawn(|| {
            // Wait for the first build, then keep appending until the run ends.
            while control.snapshot().phase != Phase::Compressing && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            let f = std::fs::OpenOptions::new().append(true).open(src.join("z/big.bin")).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::io::Write::write_all(&mut &f, b"more").unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let r = h.join().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    })
    .expect_err("a file changing throughout must fail the run");
    assert!(err.message.contains("kept changing"), "{}", err.message);
    assert!(err.message.contains("'z/big.bin'"), "{}", err.message);
    assert!(!err.message.contains("a/f"), "only the changed file is named: {}", err.message);
    let dirs = [tmp.path().join("d1/liverepo"), tmp.path().join("d2/liverepo")];
    for d in &dirs {
        assert!(names(d).is_empty(), "{:?}", names(d));
    }
    assert_no_leftovers(&dirs, &tmp.path().join("cache"));
}

/// A file deleted between selection and hashing is reported as skipped and
/// the run goes on (a file that is gone cannot be backed up, but is never
/// dropped silently).
#[test]
fn deleted_after_selection_is_skipped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("gone");
    for i in 0..3000 {
        common::write(&src, &format!("a/{i:04}.txt"), format!("{i}").repeat(2000));
    }
    common::write(&src, "zzz.txt", "vanishing");
    common::write(&src, "pyproject.toml", "[project]\n");
    let o = common::options(&src, &[tmp.path().join("d")], &tmp.path().join("cache"));
    // Deleted before it is read: by the hashing pass, or (a first backup
    // hashes as it compresses) by the writer, which reaches zzz.txt last.
    let r = run_mutating(
        &o,
        |s| matches!(s.phase, Phase::Hashing | Phase::Compressing),
        || std::fs::remove_file(src.join("zzz.txt")).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, RunStatus::Created);
    let s = r.skipped_paths.iter().find(|s| s.path == "zzz.txt").expect("reported");
    assert!(s.reason.contains("deleted during the backup"), "{s:?}");
    assert_eq!(r.file_count, 3001);
    check_archives(&r, &src, tmp.path());
}

/// A large file truncated and rewritten over and over while the run hashes
/// and archives it: the process never dies (no SIGBUS from a mapping), and
/// the run either fails naming the file or produces a consistent archive.
#[test]
fn truncation_storm_never_crashes_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("storm");
    let body = vec![7u8; 40 << 20];
    common::write(&src, "big.dat", &body);
    common::write(&src, "pyproject.toml", "[project]\n");
    let o = common::options(&src, &[tmp.path().join("d")], &tmp.path().join("cache"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storm = {
        let (stop, path) = (stop.clone(), src.join("big.dat"));
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.set_len(4096).unwrap();
                std::thread::sleep(Duration::from_micros(300));
                f.set_len(40 << 20).unwrap();
                std::thread::sleep(Duration::from_micros(300));
            }
        })
    };
    for i in 0..4 {
        let out = tmp.path().join(format!("out{i}.json"));
        let o =
            BackupOptions { force: true, now: Some(format!("2026-11-25T10:00:0{i}").parse().unwrap()), ..o.clone() };
        let v = spawn_child(&o, &out).finish(Duration::from_secs(120));
        if let Some(e) = v.get("error") {
            assert!(e["message"].as_str().unwrap().contains("big.dat"), "{e}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    storm.join().unwrap();
    assert_only_good_backups(&tmp.path().join("d/storm"));
}

// ---------------------------------------------------------------------------
// Odd entries
// ---------------------------------------------------------------------------

fn mknod(path: &Path, kind: &str, extra: &[&str]) -> bool {
    Command::new("mknod").arg(path).arg(kind).args(extra).status().is_ok_and(|s| s.success())
}

/// Every path below `root` (files and symlinks and specials, not folders),
/// as lossy relative strings.
fn every_leaf(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(rel);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// Builds the zoo: returns the source and the paths expected to be skipped (rel -> reason part).
fn zoo(parent: &Path) -> (PathBuf, Vec<(String, &'static str)>) {
    let root = parent.join("zoo");
    common::write(&root, "pyproject.toml", "[project]\n");
    let mut skipped = Vec::new();
    // Wildcards and other characters that trip PowerShell and shells.
    for name in [
        "[a]", "*", "?", "a*b?c[d]", "-rf", "back`tick", "$dollar", "semi;colon", " lead", "trail ", "quo\"te",
        "new\nline", "tab\tname",
    ] {
        common::write(&root, &format!("wild/{name}"), format!("content of {name}"));
    }
    // NFC and NFD twins side by side.
    common::write(&root, "twins/caf\u{e9}.txt", "NFC");
    common::write(&root, "twins/cafe\u{301}.txt", "NFD");
    // Very long: a name of 255 bytes, and a path of ~4000 bytes.
    common::write(&root, &format!("long/{}", "n".repeat(255)), "long name");
    let mut deep = String::from("deep");
    while deep.len() < 3900 {
        deep.push_str(
            "/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
        );
    }
    common::write(&root, &format!("{deep}/leaf.txt"), "deep leaf");
    // Not valid UTF-8.
    let bad = root.join(OsStr::from_bytes(b"bad-\xff\xfe.txt"));
    std::fs::write(&bad, b"latin1").unwrap();
    skipped.push(("bad-\u{fffd}\u{fffd}.txt".to_string(), "not valid UTF-8"));
    // Links: loop, cycle, broken, to a folder, to a file.
    std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
    std::os::unix::fs::symlink("cyc-b", root.join("cyc-a")).unwrap();
    std::os::unix::fs::symlink("cyc-a", root.join("cyc-b")).unwrap();
    std::os::unix::fs::symlink("no/such/target", root.join("broken")).unwrap();
    std::os::unix::fs::symlink("..", root.join("wild/up")).unwrap();
    std::os::unix::fs::symlink("pyproject.toml", root.join("to-file")).unwrap();
    // (Stored as links, never followed.)
    // Specials.
    assert!(Command::new("mkfifo").arg(root.join("fifo")).status().unwrap().success());
    skipped.push(("fifo".into(), "fifo"));
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    std::mem::forget(_sock);
    skipped.push(("sock".into(), "socket"));
    if mknod(&root.join("chardev"), "c", &["1", "3"]) {
        skipped.push(("chardev".into(), "character device"));
    }
    if mknod(&root.join("blockdev"), "b", &["7", "250"]) {
        skipped.push(("blockdev".into(), "block device"));
    }
    // An excluded folder, for the property.
    common::write(&root, "node_modules/x.js", "x");
    common::age_files_lossy(&root);
    (root, skipped)
}

#[test]
fn every_odd_entry_is_backed_up_or_reported_and_nothing_hangs() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, expect_skipped) = zoo(tmp.path());
    let mut o = common::options(&src, &[tmp.path().join("d")], &tmp.path().join("cache"));
    o.report_excluded = true;
    // In a child with a timeout: a FIFO opened for reading would block forever.
    let out = tmp.path().join("out.json");
    let v = spawn_child(&o, &out).finish(Duration::from_secs(60));
    let r: BackupReport = serde_json::from_value(v).expect("a report, not an error");
    assert_eq!(r.status, RunStatus::Created);
    let archive_path = &created_paths(&r)[0];
    let m = archive::read_manifest(archive_path).unwrap();
    let in_manifest: BTreeSet<String> =
        m.files.iter().map(|f| f.path.clone()).chain(m.links.iter().map(|l| l.path.clone())).collect();
    for l in ["loop", "cyc-a", "cyc-b", "broken", "wild/up", "to-file"] {
        assert!(m.links.iter().any(|x| x.path == l), "link {l} not stored");
    }

    // The property: every leaf on disk is in exactly one of the three lists.
    for leaf in every_leaf(&src) {
        let places = [
            in_manifest.contains(&leaf),
            r.excluded.iter().any(|e| leaf == e.path || leaf.starts_with(&format!("{}/", e.path))),
            r.skipped_paths.iter().any(|s| s.path == leaf),
        ];
        assert_eq!(places.iter().filter(|&&b| b).count(), 1, "{leaf:?}: {places:?}");
    }
    for (path, reason) in &expect_skipped {
        let s = r.skipped_paths.iter().find(|s| &s.path == path).unwrap_or_else(|| panic!("{path} not reported"));
        assert!(s.reason.contains(reason), "{path}: {}", s.reason);
    }
    // Twins both kept, wildcards kept literally, long paths kept.
    for p in ["twins/caf\u{e9}.txt", "twins/cafe\u{301}.txt", "wild/[a]", "wild/*", "wild/?", "wild/new\nline"] {
        assert!(in_manifest.contains(p), "{p:?} missing");
    }
    assert!(in_manifest.iter().any(|p| p.len() > 3900 && p.ends_with("/leaf.txt")));
    // Bytes round-trip through restore.
    assert_eq!(assert_round_trip(archive_path, &src, tmp.path()), in_manifest.len());
    assert_only_good_backups(archive_path.parent().unwrap());
}
