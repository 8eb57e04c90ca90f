//! Helpers shared by the archive integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use backup_repo::archive::ManifestOf;
use backup_repo::fingerprint::HashedFile;
use backup_repo::select::SelectedFile;

pub fn mtime_ns(p: &Path) -> i128 {
    let m = std::fs::metadata(p).unwrap().modified().unwrap();
    m.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128
}

pub fn hashed_one(root: &Path, rel: &str) -> HashedFile {
    let path = rel.split('/').fold(root.to_path_buf(), |p, c| p.join(c));
    let data = std::fs::read(&path).unwrap();
    HashedFile {
        file: SelectedFile {
            rel: rel.to_string(),
            size: data.len() as u64,
            mtime_ns: mtime_ns(&path),
            file_id: None,
            path,
        },
        blake3: blake3::hash(&data).to_hex().to_string(),
    }
}

/// Every file under `root`, sorted by relative path, hashed.
pub fn hashed_tree(root: &Path) -> Vec<HashedFile> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), root, out);
            } else if t.is_file() {
                let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
    let mut rels = Vec::new();
    walk(root, root, &mut rels);
    rels.sort();
    rels.iter().map(|r| hashed_one(root, r)).collect()
}

pub fn manifest_for(files: &[HashedFile]) -> ManifestOf<'_> {
    ManifestOf {
        repo: "repo".into(),
        fingerprint: backup_repo::fingerprint::fingerprint_of(files),
        files,
        dirs: &[],
        links: &[],
        origin: None,
    }
}

pub fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = rel.split('/').fold(root.to_path_buf(), |p, c| p.join(c));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

/// Pseudo-random, incompressible bytes (deterministic).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn text(n: usize) -> Vec<u8> {
    let line = b"fn main() { println!(\"hello, backup\"); } // some source text\n";
    line.iter().cycle().take(n).copied().collect()
}

/// A small repository-like tree: .git contents, unicode names, a long path,
/// empty files, text and noise.
pub fn sample_tree(root: &Path) {
    write(root, ".git/HEAD", b"ref: refs/heads/main\n");
    write(root, ".git/config", b"[core]\n\trepositoryformatversion = 0\n");
    write(root, ".git/objects/pack/pack-abc.pack", &noise(300_000, 1));
    write(root, ".git/objects/pack/pack-abc.idx", &noise(5_000, 2));
    write(root, "ünïcode/日本.txt", "こんにちは世界\n".repeat(100).as_bytes());
    let long = format!("{}/{}/file.txt", "d".repeat(120), "e".repeat(90));
    write(root, &long, b"long path\n");
    write(root, "empty.txt", b"");
    write(root, "emptyish/only-empty", b"");
    write(root, "src/main.rs", &text(200_000));
    write(root, "data/random.bin", &noise(100_000, 3));
    write(root, "img/logo.png", &text(10_000));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = write(root, "scripts/run.sh", b"#!/bin/sh\necho hi\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Distinct, sub-second mtimes to check exact restore.
    let mut t = 1_600_000_000i64;
    for f in hashed_tree(root) {
        t += 3601;
        filetime::set_file_mtime(&f.file.path, filetime::FileTime::from_unix_time(t, 123_456_789)).unwrap();
    }
}

/// The 7-Zip binary installed here (7zz or 7z), if any.
pub fn seven_zip() -> Option<&'static str> {
    ["7zz", "7z"].into_iter().find(|b| Command::new(b).arg("i").output().is_ok_and(|o| o.status.success()))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let s = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd:?} failed:\n{s}");
    s
}

/// `unzip -t`, `7z t` and Python's zipfile all accept the archive.
pub fn external_tools_accept(zip: &Path) {
    if Command::new("unzip").arg("-v").output().is_ok() {
        run_ok(Command::new("unzip").arg("-tq").arg(zip));
    }
    if let Some(sz) = seven_zip() {
        let out = run_ok(Command::new(sz).arg("t").arg(zip));
        assert!(out.contains("Everything is Ok"), "{out}");
    }
    if Command::new("python3").arg("-V").output().is_ok() {
        run_ok(
            Command::new("python3")
                .arg("-c")
                .arg("import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nbad=z.testzip()\nassert bad is None, bad")
                .arg(zip),
        );
    }
}
