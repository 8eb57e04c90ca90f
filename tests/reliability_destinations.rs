//! Destinations that cannot take a backup: a full disk (refused up front, or
//! filling mid-write), a path under a regular file, a read-only mount, a
//! drive that is not there. Each fails alone with a reason naming it; the
//! others get a good backup; the run is Partial; nothing partial remains.

mod common;
mod reliability_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use backup_repo::backup::{BackupReport, RunStatus};
use backup_repo::destinations::DestinationStatus;
use backup_repo::ErrorKind;
use reliability_support::*;

/// A repository whose archive is about `mib` MiB (incompressible).
fn repo(parent: &Path, mib: usize) -> PathBuf {
    let root = parent.join("fullrepo");
    let mut noise = vec![0u8; mib << 20];
    blake3::Hasher::new().update(b"full").finalize_xof().fill(&mut noise);
    common::write(&root, "data/noise.bin", noise);
    common::write(&root, "src/lib.rs", "pub fn f() {}\n");
    common::write(&root, "pyproject.toml", "[project]\n");
    common::age_files(&root);
    root
}

fn dest<'a>(r: &'a BackupReport, root: &Path) -> &'a backup_repo::destinations::DestinationReport {
    r.destinations.iter().find(|d| Path::new(&d.root) == root).expect("destination in report")
}

/// The good destinations got a verified backup; the bad one holds nothing of ours.
fn check_partial_run(r: &BackupReport, good: &[PathBuf], bad: &Path) {
    assert_eq!(r.status, RunStatus::Partial, "{r:#?}");
    for g in good {
        let d = dest(r, g);
        assert_eq!(d.status, DestinationStatus::Created, "{d:?}");
        assert_eq!(assert_only_good_backups(Path::new(&d.path)), 1);
    }
    let d = dest(r, bad);
    assert_eq!(d.status, DestinationStatus::Failed);
    let reason = d.reason.as_deref().unwrap();
    assert!(reason.contains(&bad.display().to_string()), "reason must name the destination: {reason}");
    let leftovers: Vec<_> =
        names(&bad.join("fullrepo")).into_iter().filter(|n| n.starts_with("fullrepo_backup_")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A first backup's size is not known before it is written: a disk too
/// small for it fills while writing, and that destination fails with "not
/// enough space", its partial removed.
#[test]
fn first_archive_larger_than_the_disk_fails_while_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 6);
    let small = tmp.path().join("small");
    let Some(_m) = mount_tmpfs(&small, "size=4m") else {
        return;
    };
    let good = tmp.path().join("good");
    let cache = tmp.path().join("cache");
    let r = common::run(&common::options(&src, &[good.clone(), small.clone()], &cache));
    check_partial_run(&r, &[good], &small);
    let reason = dest(&r, &small).reason.clone().unwrap();
    assert!(reason.starts_with("not enough space in "), "{reason}");
    assert!(reason.contains("no space left on device"), "{reason}");
    assert_no_leftovers(&[small.join("fullrepo")], &cache);
}

/// Once there is a backup, its size is the expected size: a disk with less
/// free space is refused before a byte is written.
#[test]
fn archive_larger_than_the_disk_is_refused_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 6);
    let good = tmp.path().join("good");
    let cache = tmp.path().join("cache");
    common::run(&common::options(&src, std::slice::from_ref(&good), &cache));
    let small = tmp.path().join("small");
    let Some(_m) = mount_tmpfs(&small, "size=4m") else {
        return;
    };
    let mut o = common::options(&src, &[good.clone(), small.clone()], &cache);
    o.force = true;
    o.now = Some("2026-11-25T11:00:00".parse().unwrap());
    let r = common::run(&o);
    assert_eq!(r.status, RunStatus::Partial, "{r:#?}");
    assert_eq!(dest(&r, &good).status, DestinationStatus::Created);
    assert_eq!(assert_only_good_backups(&good.join("fullrepo")), 2);
    assert_eq!(dest(&r, &small).status, DestinationStatus::Failed);
    let reason = dest(&r, &small).reason.clone().unwrap();
    assert!(reason.starts_with("not enough space in "), "{reason}");
    assert!(reason.contains("need 6.0 MB"), "{reason}");
    assert!(names(&small.join("fullrepo")).is_empty(), "nothing written");
}

/// Free space passes the check, but the file system runs out of inodes: the
/// copy cannot even be created. A "no space" failure, not a crash.
#[test]
fn no_inodes_left_fails_with_no_space() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 1);
    let ino = tmp.path().join("ino");
    let Some(_m) = mount_tmpfs(&ino, "size=64m,nr_inodes=16") else {
        return;
    };
    std::fs::create_dir(ino.join("fullrepo")).unwrap();
    for i in 0.. {
        if std::fs::write(ino.join(format!("filler{i}")), b"").is_err() {
            break;
        }
    }
    let good = tmp.path().join("good");
    let cache = tmp.path().join("cache");
    let r = common::run(&common::options(&src, &[good.clone(), ino.clone()], &cache));
    check_partial_run(&r, &[good], &ino);
    let reason = dest(&r, &ino).reason.clone().unwrap();
    assert!(reason.contains("no space left on device"), "{reason}");
}

/// The disk fills while the copy is being written (another writer takes the
/// space after the check): Failed with "no space", the partial removed, the
/// other destination Created. The race is forced by filling the disk from
/// this thread as soon as the copy has started; an attempt where the copy
/// won the race must still be a clean Created.
#[test]
fn disk_filling_mid_write_fails_that_destination_only() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 24);
    let mut mid_write = 0;
    for attempt in 0..6 {
        let fs_dir = tmp.path().join(format!("fill{attempt}"));
        let Some(_m) = mount_tmpfs(&fs_dir, "size=40m") else {
            return;
        };
        let good = tmp.path().join(format!("good{attempt}"));
        let cache = tmp.path().join("cache");
        let mut o = common::options(&src, &[good.clone(), fs_dir.clone()], &cache);
        o.force = true;
        o.archive.compression = backup_repo::archive::Compression::Store;
        let control = backup_repo::progress::Control::default();
        let r = std::thread::scope(|s| {
            let h = s.spawn(|| backup_repo::backup::run(&o, &control));
            // As soon as the copies are under way, take every free byte.
            let partial_dir = fs_dir.join("fullrepo");
            while !h.is_finished() {
                if names(&partial_dir).iter().any(|n| n.ends_with(".partial")) {
                    let f = std::fs::File::create(fs_dir.join("hog")).unwrap();
                    let free = backup_repo::destinations::free_space(&fs_dir).unwrap().0;
                    let _ = rustix_fallocate(&f, free);
                    break;
                }
                std::hint::spin_loop();
            }
            h.join().unwrap().unwrap()
        });
        let d = dest(&r, &fs_dir);
        if d.status == DestinationStatus::Created {
            // The copy won the race: it must be whole.
            assert_eq!(assert_only_good_backups(Path::new(&d.path)), 1);
            continue;
        }
        check_partial_run(&r, &[good], &fs_dir);
        let reason = d.reason.clone().unwrap();
        assert!(reason.contains("no space left on device") || reason.starts_with("not enough space"), "{reason}");
        assert!(!names(&fs_dir.join("fullrepo")).iter().any(|n| n.ends_with(".partial")));
        assert_no_leftovers(&[fs_dir.join("fullrepo")], &cache);
        if reason.contains("no space left on device") {
            mid_write += 1;
            break;
        }
    }
    assert!(mid_write > 0, "never caught the disk filling mid-write");
}

/// Take `len` bytes of a file system quickly (fallocate, else writing zeros).
fn rustix_fallocate(f: &std::fs::File, len: u64) -> std::io::Result<()> {
    let st = Command::new("fallocate")
        .args(["-l", &len.to_string()])
        .arg(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f)))
        .status();
    if st.map(|s| s.success()).unwrap_or(false) {
        return Ok(());
    }
    f.set_len(0)?;
    let zeros = vec![0u8; 1 << 20];
    let mut w = f;
    loop {
        std::io::Write::write_all(&mut w, &zeros)?;
    }
}

fn unreachable_case(bad: PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 1);
    let good = tmp.path().join("good");
    let cache = tmp.path().join("cache");
    let r = common::run(&common::options(&src, &[good.clone(), bad.clone()], &cache));
    check_partial_run(&r, &[good], &bad);
}

#[test]
fn destination_under_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a-file"), b"x").unwrap();
    unreachable_case(tmp.path().join("a-file/backups"));
}

#[test]
fn destination_on_a_missing_drive() {
    unreachable_case(PathBuf::from("/mnt/nonexistent-drive/x"));
}

#[test]
fn destination_on_a_read_only_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let ro = tmp.path().join("ro");
    let Some(m) = mount_tmpfs(&ro, "size=8m") else {
        return;
    };
    // The repo folder exists (as on a share mapped read-only), the mount is ro.
    std::fs::create_dir(ro.join("fullrepo")).unwrap();
    assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(&ro).status().unwrap().success());
    unreachable_case(ro.clone());
    let reason_ok = names(&ro.join("fullrepo")).is_empty();
    assert!(reason_ok);
    drop(m);
}

#[test]
fn read_only_bind_mount_without_the_repo_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let ro = tmp.path().join("robind");
    std::fs::create_dir(&ro).unwrap();
    if !Command::new("mount").args(["--bind", "-o", "ro"]).arg(&real).arg(&ro).status().is_ok_and(|s| s.success()) {
        eprintln!("NOTE: bind mount not permitted: case skipped");
        return;
    }
    let _m = Mount(ro.clone());
    unreachable_case(ro.clone());
    assert!(names(&real).is_empty(), "nothing written through the read-only mount");
}

/// Every destination unusable: the run is Failed (not an error), each named.
#[test]
fn all_destinations_bad_is_a_failed_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo(tmp.path(), 1);
    std::fs::write(tmp.path().join("f"), b"x").unwrap();
    let bad = vec![tmp.path().join("f/x"), PathBuf::from("/mnt/nonexistent-drive/x")];
    let r = common::run(&common::options(&src, &bad, &tmp.path().join("cache")));
    assert_eq!(r.status, RunStatus::Failed);
    for (d, b) in r.destinations.iter().zip(&bad) {
        assert_eq!(d.status, DestinationStatus::Failed);
        assert!(d.reason.as_deref().unwrap().contains(&b.display().to_string()));
    }
    let _ = ErrorKind::NoSpace;
}
