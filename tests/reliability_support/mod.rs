//! Shared helpers of the reliability suite (tests/reliability_*.rs): a child
//! process that runs one backup (so it can be SIGKILLed), archive checks, and
//! the invariants every case asserts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backup_repo::archive::{self, VerifyOptions};
use backup_repo::backup::{BackupOptions, BackupReport};
use backup_repo::progress::Control;

pub const CHILD_ENV: &str = "RELIABILITY_CHILD_OPTIONS";
pub const CHILD_OUT_ENV: &str = "RELIABILITY_CHILD_OUT";

/// Body of the `child` test every file that spawns children declares: when
/// the env var is set, run one backup, print phase changes to stderr
/// (`PHASE hashing`), write the report (or error) JSON to the out file.
pub fn child_main() {
    let Ok(json) = std::env::var(CHILD_ENV) else { return };
    let out = std::env::var(CHILD_OUT_ENV).expect("out path");
    let opts: BackupOptions = serde_json::from_str(&json).expect("options");
    let control = Control::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = String::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let p = serde_json::to_string(&control.snapshot().phase).unwrap().replace('"', "");
                if p != last {
                    eprintln!("PHASE {p}");
                    last = p;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let r = backup_repo::backup::run(&opts, &control);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    let text = match result {
        Ok(r) => serde_json::to_string(&r).unwrap(),
        Err(e) => serde_json::json!({"error": {"kind": e.kind, "message": e.message}}).to_string(),
    };
    std::fs::write(out, text).unwrap();
}

/// A running child backup; stderr phase lines are read on a thread.
pub struct ChildRun {
    pub child: Child,
    pub out: PathBuf,
    phases: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

pub fn spawn_child(opts: &BackupOptions, out: &Path) -> ChildRun {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, serde_json::to_string(opts).unwrap())
        .env(CHILD_OUT_ENV, out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(p) = line.strip_prefix("PHASE ") {
                let _ = tx.send(p.to_string());
            }
        }
    });
    ChildRun { child, out: out.to_path_buf(), phases: rx, seen: Vec::new() }
}

impl ChildRun {
    /// Wait until the child reports `phase` (true) or exits first (false).
    pub fn wait_phase(&mut self, phase: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            match self.phases.recv_timeout(Duration::from_millis(5)) {
                Ok(p) => {
                    let hit = p == phase;
                    self.seen.push(p);
                    if hit {
                        return true;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => return false,
            }
        }
        panic!("child never reached phase {phase} in {timeout:?} (saw {:?})", self.seen);
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    /// Wait for a normal exit (with a timeout: never a hang) and parse the output.
    pub fn finish(mut self, timeout: Duration) -> serde_json::Value {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "child died: {status:?}");
                break;
            }
            if Instant::now() > end {
                self.kill9();
                panic!("child hung for {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        serde_json::from_slice(&std::fs::read(&self.out).unwrap()).unwrap()
    }
}

/// Every file in `dir` (not recursive), names sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The invariant: every file in `dir` named like a backup is a complete,
/// verified archive with a readable manifest. Returns how many there are.
pub fn assert_only_good_backups(dir: &Path) -> usize {
    let mut n = 0;
    for name in names(dir) {
        if name.ends_with(".zip") {
            let path = dir.join(&name);
            let m = archive::read_manifest(&path).unwrap_or_else(|e| panic!("{name}: no valid manifest: {e}"));
            assert_eq!(m.file_count as usize, m.files.len());
            let v = archive::verify(&path, &VerifyOptions::default(), &Control::default()).unwrap();
            assert!(v.ok, "{name} does not verify: {v:?}");
            n += 1;
        }
    }
    n
}

/// Nothing half-done: no `.partial` in `dir`, no temporary archive in the cache.
pub fn assert_no_leftovers(dests: &[PathBuf], cache: &Path) {
    for d in dests {
        let partials: Vec<_> = names(d).into_iter().filter(|n| n.ends_with(".partial")).collect();
        assert!(partials.is_empty(), "{}: {partials:?}", d.display());
    }
    let temps: Vec<_> = names(&cache.join("tmp")).into_iter().filter(|n| n.ends_with(".zip.tmp")).collect();
    assert!(temps.is_empty(), "temporary archives left: {temps:?}");
}

/// Restore `archive` and compare every manifest file byte for byte with `source`.
pub fn assert_round_trip(archive_path: &Path, source: &Path, scratch: &Path) -> usize {
    let target = scratch.join(format!("restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&target);
    let rep = archive::restore(archive_path, &target, &Default::default(), &Control::default()).expect("restore");
    assert!(rep.refused.is_empty(), "{:?}", rep.refused);
    let m = archive::read_manifest(archive_path).unwrap();
    for f in &m.files {
        let a = std::fs::read(target.join(&f.path)).unwrap_or_else(|e| panic!("restored {}: {e}", f.path));
        let b = std::fs::read(source.join(&f.path)).unwrap();
        assert!(a == b, "{} differs after restore", f.path);
        assert_eq!(blake3::hash(&a).to_hex().as_str(), f.blake3);
    }
    for l in &m.links {
        let a = std::fs::read_link(target.join(&l.path)).unwrap_or_else(|e| panic!("restored link {}: {e}", l.path));
        assert_eq!(a, std::fs::read_link(source.join(&l.path)).unwrap(), "{}", l.path);
    }
    for d in &m.dirs {
        assert!(std::fs::symlink_metadata(target.join(d)).unwrap().is_dir(), "{d}");
    }
    assert_eq!((rep.links_restored, rep.dirs_restored), (m.links.len() as u64, m.dirs.len() as u64));
    let n = m.files.len() + m.links.len();
    std::fs::remove_dir_all(&target).unwrap();
    n
}

/// The fingerprint of `source` computed from scratch (dry run, no cache).
pub fn fresh_fingerprint(opts: &BackupOptions) -> String {
    let o = BackupOptions { dry_run: true, cache_dir: None, ..opts.clone() };
    backup_repo::backup::run(&o, &Control::default()).unwrap().fingerprint
}

pub fn created_paths(r: &BackupReport) -> Vec<PathBuf> {
    r.destinations.iter().filter_map(|d| d.archive_path.as_ref().map(PathBuf::from)).collect()
}

/// `mount -t tmpfs` at `dir` (created); None (with a note) when not permitted.
pub fn mount_tmpfs(dir: &Path, opts: &str) -> Option<Mount> {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "-o", opts, "tmpfs"]).arg(dir).status().ok()?;
    if st.success() {
        Some(Mount(dir.to_path_buf()))
    } else {
        eprintln!("NOTE: cannot mount tmpfs at {} (not root?): case skipped", dir.display());
        None
    }
}

/// Unmounted on drop (lazy, so a failing test never leaves it busy).
pub struct Mount(pub PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

pub fn slow() -> bool {
    std::env::var_os("RELIABILITY_SLOW").is_some()
}
