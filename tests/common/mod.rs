//! Shared fixtures for integration tests: small repositories on disk.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use backup_repo::backup::{BackupOptions, BackupReport};
use backup_repo::progress::Control;

pub fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A repository with a `.git`, source, a unicode name, an empty file, and the
/// original script's exclusion traps (`node_modules`, `environment.py` ...).
pub fn sample_repo(parent: &Path, name: &str) -> PathBuf {
    let root = parent.join(name);
    write(&root, ".git/HEAD", "ref: refs/heads/main\n");
    write(&root, ".git/objects/pack/pack-1.pack", pseudo_random(40_000, 7));
    write(&root, "src/main.py", "print('hello')\n".repeat(200));
    write(&root, "environment.py", "ENV = 1\n");
    write(&root, "rebuild.py", "x = 2\n");
    write(&root, "analysis_utils.py", "y = 3\n");
    write(&root, "docs/ünïcode 日本.md", "# title\n");
    write(&root, "empty.txt", "");
    write(&root, "node_modules/lib/index.js", "module.exports = 1\n");
    write(&root, "env/bin/python", "#!/bin/sh\n");
    write(&root, "build/out.o", "obj");
    write(&root, "app.log", "log line\n");
    write(&root, "pyproject.toml", "[project]\nname='x'\n");
    age_files(&root);
    root
}

/// One instant per test process, so ageing a tree twice gives every file the
/// same mtime both times: were it "now - 1 h" at each call, a call in the next
/// second would change every unchanged file's mtime and the stat cache would
/// (rightly) read them all again.
fn an_hour_ago() -> filetime::FileTime {
    static PAST: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let secs = *PAST.get_or_init(|| filetime::FileTime::now().unix_seconds() - 3600);
    filetime::FileTime::from_unix_time(secs, 0)
}

/// Set every file's mtime an hour back: the stat cache rightly distrusts
/// files modified within the last seconds (see fingerprint's racy-clean rule).
pub fn age_files(root: &Path) {
    let past = an_hour_ago();
    for rel in listing(root) {
        filetime::set_file_mtime(root.join(rel), past).unwrap();
    }
}

pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn options(source: &Path, dests: &[PathBuf], cache: &Path) -> BackupOptions {
    BackupOptions {
        source: source.to_path_buf(),
        destinations: dests.to_vec(),
        cache_dir: Some(cache.to_path_buf()),
        now: Some("2026-11-25T10:00:00".parse().unwrap()),
        ..Default::default()
    }
}

pub fn run(opts: &BackupOptions) -> BackupReport {
    backup_repo::backup::run(opts, &Control::default()).expect("backup run")
}

/// Every file below `dir`, relative, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `age_files` for trees whose names are not all UTF-8 (or that hold
/// symlinks and special files): only regular files are touched.
pub fn age_files_lossy(root: &Path) {
    let past = an_hour_ago();
    fn walk(dir: &Path, past: filetime::FileTime) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&e.path(), past);
            } else if ft.is_file() {
                filetime::set_file_mtime(e.path(), past).unwrap();
            }
        }
    }
    walk(root, past);
}
