//! Block cloning on real copy-on-write file systems: loop-mounted XFS
//! (`mkfs.xfs -m reflink=1`) and Btrfs images, and ext4 (no cloning) for the
//! fallback. Needs root, loop devices and the mkfs tools (`scripts/setup`
//! installs xfsprogs and btrfs-progs); each test says why it skips where
//! they are missing. Mounts are always unmounted and removed (drop guard).
//!
//! What is checked, per file system: a first backup to three folders uses
//! at most 1.05 times one archive's blocks (the second and third are cloned
//! whole from the first); a changed run (one small file) adds at most 5 % of
//! the archive in used blocks for all three, its archive shares extents
//! with the previous one (`filefrag -v`), is byte for byte what a fresh
//! build makes, and verifies (CRC and BLAKE3 read from disk).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use backup_repo::backup::{BackupOptions, RunStatus};
use backup_repo::destinations::DestinationStatus;
use common::*;

/// A loop-mounted file system image; unmounted and removed when dropped.
struct Mounted {
    dir: tempfile::TempDir,
    mount: PathBuf,
}

impl Mounted {
    /// Make and mount a `size_mib` image of `kind` ("xfs", "btrfs", "ext4");
    /// Err(why) when this machine cannot.
    fn new(kind: &str, size_mib: u64) -> Result<Mounted, String> {
        if !cfg!(target_os = "linux") {
            return Err("not Linux".into());
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root (loop mounts need it)".into());
        }
        let (mkfs, args): (&str, &[&str]) = match kind {
            "xfs" => ("mkfs.xfs", &["-q", "-f", "-m", "reflink=1"]),
            "btrfs" => ("mkfs.btrfs", &["-q", "-f"]),
            _ => ("mkfs.ext4", &["-q", "-F"]),
        };
        let dir = tempfile::Builder::new().prefix("reflink-test").tempdir_in("/var/tmp").map_err(|e| e.to_string())?;
        let image = dir.path().join(format!("{kind}.img"));
        let mount = dir.path().join("mnt");
        fs::create_dir(&mount).map_err(|e| e.to_string())?;
        fs::File::create(&image).and_then(|f| f.set_len(size_mib << 20)).map_err(|e| e.to_string())?;
        let made = Command::new(mkfs).args(args).arg(&image).output();
        match made {
            Err(e) => return Err(format!("{mkfs} not found ({e}): install it (scripts/setup)")),
            Ok(o) if !o.status.success() => {
                return Err(format!("{mkfs} failed: {}", String::from_utf8_lossy(&o.stderr).trim()))
            }
            Ok(_) => {}
        }
        let m = Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&mount).output();
        match m {
            Ok(o) if o.status.success() => Ok(Mounted { dir, mount }),
            Ok(o) => Err(format!("no loop mount: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Err(format!("no mount command: {e}")),
        }
    }

    /// Blocks in use, in bytes (statvfs), after flushing everything.
    fn used(&self) -> u64 {
        let f = fs::File::open(&self.mount).unwrap();
        // SAFETY: syncfs on an open descriptor.
        unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) };
        let s = fs4::statvfs(&self.mount).unwrap();
        s.total_space() - s.free_space()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        // Busy (a file still open): detach lazily so the loop device goes.
        if fs::read_dir(&self.mount).is_ok_and(|mut d| d.next().is_some()) {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
        let _ = &self.dir; // removed with the image by TempDir's drop
    }
}

/// The file system, or a message saying why the test is skipped.
fn mounted(kind: &str) -> Option<Mounted> {
    match Mounted::new(kind, 512) {
        Ok(m) => Some(m),
        Err(why) => {
            eprintln!("SKIPPED: {kind} loop mount unavailable: {why}");
            None
        }
    }
}

/// A repository shaped like a real one, scaled down: a 24 MB git pack
/// (stored), 20 larger sources (deflated, aligned) and 600 small ones.
fn corpus(root: &Path) -> PathBuf {
    let src = root.join("repo");
    let put = |rel: &str, data: &[u8]| {
        let p = src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    put(".git/HEAD", b"ref: refs/heads/main\n");
    put(".git/objects/pack/pack-1.pack", &noise(24 << 20, 7));
    put(".git/objects/pack/pack-1.idx", &noise(300_000, 8));
    for i in 0..20 {
        put(&format!("src/big/m{i:02}.rs"), &text_seeded(100_000 + i * 3_000, i as u64));
    }
    for i in 0..600 {
        put(&format!("src/small/d{}/f{i:03}.rs", i % 12), &text_seeded(1_000 + (i * 97) % 15_000, 1000 + i as u64));
    }
    src
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; n];
    blake3::Hasher::new().update(&seed.to_le_bytes()).finalize_xof().fill(&mut out);
    out
}

/// Compressible text that differs per seed.
fn text_seeded(n: usize, seed: u64) -> Vec<u8> {
    let words = ["fn", "let", "match", "impl", "backup", "archive", "clone", "block", "=>", "{", "}", ";\n"];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(n);
    out
}

/// Bytes of `file`'s extents that `filefrag -v` flags as shared.
fn shared_bytes(file: &Path) -> Option<u64> {
    let o = Command::new("filefrag").arg("-v").arg("-b4096").arg(file).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut shared = 0;
    for line in text.lines().filter(|l| l.contains("shared")) {
        // " ext: logical_offset: physical_offset: length: expected: flags:"
        let fields: Vec<&str> = line.split(':').map(str::trim).collect();
        if let Some(len) = fields.get(3).and_then(|l| l.parse::<u64>().ok()) {
            shared += len * 4096;
        }
    }
    Some(shared)
}

fn opts(src: &Path, dests: &[PathBuf], cache: &Path, hour: u32) -> BackupOptions {
    let mut o = options(src, dests, cache);
    o.now = Some(format!("2026-11-25T{hour:02}:00:00").parse().unwrap());
    o.verify = true;
    o.disk_warning_percent = Some(100.0);
    o
}

fn cow_file_system(kind: &str) {
    let Some(fs_) = mounted(kind) else { return };
    let t = tempfile::tempdir().unwrap();
    let src = corpus(t.path());
    let cache = t.path().join("cache");
    let dests: Vec<PathBuf> = ["one", "two", "three"].iter().map(|d| fs_.mount.join(d)).collect();

    let before = fs_.used();
    let first = run(&opts(&src, &dests, &cache, 10));
    assert_eq!(first.status, RunStatus::Created, "{first:?}");
    assert!(first.verification.iter().all(|v| v.ok) && first.verification.len() == 3);
    let archive = first.archive_bytes;
    let used_first = fs_.used() - before;
    eprintln!("{kind}: first backup, 3 destinations: {used_first} bytes used for a {archive}-byte archive");
    assert!(
        (used_first as f64) <= 1.05 * archive as f64,
        "{kind}: three destinations use {used_first} bytes, over 1.05 x {archive}: {:?}",
        first.notes
    );
    assert!(first.notes.iter().any(|n| n.contains("cloned whole")), "{:?}", first.notes);

    // One small file changes: the new archives share all but a few blocks.
    fs::write(src.join("src/small/d3/f003.rs"), b"changed\n").unwrap();
    let before = fs_.used();
    let second = run(&opts(&src, &dests, &cache, 11));
    assert_eq!(second.status, RunStatus::Created, "{second:?}");
    assert!(second.destinations.iter().all(|d| d.status == DestinationStatus::Created));
    assert!(second.verification.iter().all(|v| v.ok) && second.verification.len() == 3, "{:?}", second.verification);
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    let used_second = fs_.used() - before;
    let ratio = used_second as f64 / second.archive_bytes as f64;
    eprintln!(
        "{kind}: changed run: {used_second} bytes used for three {}-byte archives ({:.2} %), {} cloned",
        second.archive_bytes,
        100.0 * ratio,
        second.bytes_cloned
    );
    assert!(second.bytes_cloned as f64 >= 0.9 * second.archive_bytes as f64, "{:?}", second.notes);
    assert!(ratio <= 0.05, "{kind}: a changed file cost {used_second} bytes of blocks ({:.2} %)", 100.0 * ratio);

    // Shared extents, as the file system reports them.
    let new = PathBuf::from(second.destinations[0].archive_path.clone().unwrap());
    if let Some(shared) = shared_bytes(&new) {
        assert!(shared as f64 >= 0.9 * second.archive_bytes as f64, "{kind}: filefrag: {shared} bytes shared");
    }

    // Byte for byte what a fresh build (no previous, not cloned) makes.
    let fresh_dir = t.path().join("fresh");
    let mut fresh = opts(&src, std::slice::from_ref(&fresh_dir), &t.path().join("cache2"), 11);
    fresh.verify = false;
    let fresh = run(&fresh);
    let fresh_zip = fresh.destinations[0].archive_path.clone().unwrap();
    for d in &second.destinations {
        let placed = fs::read(d.archive_path.as_ref().unwrap()).unwrap();
        assert!(placed == fs::read(&fresh_zip).unwrap(), "{kind}: {} differs from a fresh build", d.path);
    }
    drop(fs_);
}

#[test]
fn xfs_changed_backup_costs_the_changed_blocks() {
    cow_file_system("xfs");
}

#[test]
fn btrfs_changed_backup_costs_the_changed_blocks() {
    cow_file_system("btrfs");
}

/// Where the file system cannot clone (ext4), every copy is written as
/// before: same archive, verified, and `-Verbose` says why once.
#[test]
fn without_block_cloning_backups_are_written_as_before() {
    let Some(fs_) = mounted("ext4") else { return };
    let t = tempfile::tempdir().unwrap();
    let src = corpus(t.path());
    let cache = t.path().join("cache");
    let dests: Vec<PathBuf> = ["one", "two"].iter().map(|d| fs_.mount.join(d)).collect();
    let first = run(&opts(&src, &dests, &cache, 10));
    assert_eq!(first.status, RunStatus::Created);
    fs::write(src.join("src/small/d3/f003.rs"), b"changed\n").unwrap();
    let second = run(&opts(&src, &dests, &cache, 11));
    assert_eq!(second.status, RunStatus::Created, "{second:?}");
    assert!(second.verification.iter().all(|v| v.ok) && second.verification.len() == 2);
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    assert_eq!(second.bytes_cloned, 0);
    assert!(second.entries_reused > 0);
    let said = second.notes.iter().filter(|n| n.contains("block cloning not available")).count();
    assert_eq!(said, 1, "said once: {:?}", second.notes);
    let a = fs::read(second.destinations[0].archive_path.as_ref().unwrap()).unwrap();
    let b = fs::read(second.destinations[1].archive_path.as_ref().unwrap()).unwrap();
    assert!(a == b);
    drop(fs_);
}
