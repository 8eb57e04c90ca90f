//! Hostile and damaged archives: verify reports, restore refuses, and nothing
//! is ever written outside the target.

mod archive_util;

use std::path::{Path, PathBuf};

use archive_util::*;
use backup_repo::archive::{
    restore, verify, write_archive, ArchiveOptions, Compression, Manifest, ManifestEntry, ManifestLink, RestoreOptions,
    VerifyOptions, MANIFEST_FORMAT, MANIFEST_NAME,
};
use backup_repo::progress::Control;

struct Raw {
    name: Vec<u8>,
    method: u16,
    data: Vec<u8>,
    crc: u32,
    size: u32,
    mode: u32,
    /// "Made by" host: 3 Unix, 0 MS-DOS.
    host: u16,
}

fn stored(name: &str, content: &[u8]) -> Raw {
    Raw {
        name: name.as_bytes().to_vec(),
        method: 0,
        data: content.to_vec(),
        crc: crc32fast::hash(content),
        size: content.len() as u32,
        mode: 0o100644,
        host: 3,
    }
}

/// A ZIP built byte by byte, so it can say anything.
fn build_zip(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let off = out.len() as u32;
        let common = |b: &mut Vec<u8>| {
            b.extend_from_slice(&20u16.to_le_bytes());
            b.extend_from_slice(&0x0800u16.to_le_bytes());
            b.extend_from_slice(&e.method.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&0x21u16.to_le_bytes());
            b.extend_from_slice(&e.crc.to_le_bytes());
            b.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            b.extend_from_slice(&e.size.to_le_bytes());
            b.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x04034b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
        cd.extend_from_slice(&0x02014b50u32.to_le_bytes());
        cd.extend_from_slice(&((e.host << 8) | 20).to_le_bytes());
        common(&mut cd);
        cd.extend_from_slice(&[0; 6]);
        cd.extend_from_slice(&(e.mode << 16).to_le_bytes());
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(&e.name);
    }
    let cd_start = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x06054b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A manifest entry claiming `content` at `path`.
fn listed(path: &str, content: &[u8]) -> ManifestEntry {
    ManifestEntry {
        path: path.to_string(),
        size: content.len() as u64,
        blake3: blake3::hash(content).to_hex().to_string(),
        mtime_ns: 1_600_000_000_000_000_000,
    }
}

/// `entries` plus "ok.txt" plus a manifest listing `claims` and ok.txt.
fn hostile(entries: Vec<Raw>, claims: Vec<ManifestEntry>) -> Vec<u8> {
    hostile_with(entries, claims, vec![], vec![])
}

/// [`hostile`] whose manifest also lists folders and links.
fn hostile_with(entries: Vec<Raw>, claims: Vec<ManifestEntry>, dirs: Vec<&str>, links: Vec<(&str, &str)>) -> Vec<u8> {
    let mut files = claims;
    files.push(listed("ok.txt", b"fine\n"));
    let manifest = Manifest {
        dirs: dirs.into_iter().map(String::from).collect(),
        links: links
            .into_iter()
            .map(|(path, target)| ManifestLink { path: path.into(), target: target.into(), mtime_ns: 0 })
            .collect(),
        format: MANIFEST_FORMAT.into(),
        tool_version: "test".into(),
        repo: "r".into(),
        fingerprint: "f".into(),
        file_count: files.len() as u64,
        total_bytes: files.iter().map(|f| f.size).sum(),
        files,
        origin: None,
    };
    let mut all = entries;
    all.push(stored("ok.txt", b"fine\n"));
    all.push(stored(MANIFEST_NAME, &serde_json::to_vec(&manifest).unwrap()));
    build_zip(&all)
}

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    zip: PathBuf,
    target: PathBuf,
}

fn case(bytes: &[u8]) -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    let zip = dir.join("a.zip");
    std::fs::write(&zip, bytes).unwrap();
    let target = dir.join("target");
    Case { dir, zip, target, _tmp: tmp }
}

impl Case {
    /// Nothing but the archive and the target beside it; nothing escaped.
    fn nothing_outside(&self) {
        let mut names: Vec<_> =
            std::fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert!(names == ["a.zip", "target"] || names == ["a.zip"], "{names:?}");
        assert!(!self._tmp.path().join("evil").exists());
        assert!(!self._tmp.path().join("x").exists());
    }

    /// Files under the target, relative, sorted.
    fn restored(&self) -> Vec<String> {
        let files = if self.target.exists() { hashed_tree(&self.target) } else { vec![] };
        files.into_iter().map(|f| f.file.rel).collect()
    }

    fn refused_with(&self, name: &str, why: &str) {
        let rep = restore(&self.zip, &self.target, &RestoreOptions::default(), &Control::default()).unwrap();
        let r = rep.refused.iter().find(|r| r.path == name).unwrap_or_else(|| panic!("{name} not refused: {rep:?}"));
        assert!(r.reason.contains(why), "{name}: {}", r.reason);
        assert_eq!(self.restored(), ["ok.txt"], "only the good file is written");
        self.nothing_outside();
    }

    fn verify_fails(&self, why: &str) {
        let rep = verify(&self.zip, &VerifyOptions::default(), &Control::default()).unwrap();
        assert!(!rep.ok);
        let first = rep.first_error.clone().unwrap();
        assert!(rep.errors.iter().any(|e| e.contains(why)), "want '{why}' in {:?}", rep.errors);
        assert_eq!(first, rep.errors[0]);
    }
}

#[test]
fn zip_slip_names_are_refused() {
    let abs = format!("/tmp/backup-repo-hostile-{}/x", std::process::id());
    for (name, why) in [
        ("../evil", ".."),
        ("a/../../evil", ".."),
        (abs.as_str(), "absolute"),
        ("C:\\x", "drive letter"),
        ("C:/x", "drive letter"),
        ("..\\x", "backslash"),
        ("a//b", "empty path component"),
    ] {
        // Made on MS-DOS/Windows, where a backslash would be a separator.
        let c = case(&hostile(vec![Raw { host: 0, ..stored(name, b"pwned") }], vec![listed(name, b"pwned")]));
        c.refused_with(name, why);
        c.verify_fails(why);
        assert!(!Path::new(&abs).exists());
    }
}

/// A name that is legal where the archive was made (Unix) comes back under
/// that name on Unix: the backslash is a character, never a separator.
#[cfg(unix)]
#[test]
fn a_unix_name_with_a_backslash_is_restored_under_that_name() {
    for name in ["back\\slash.txt", "..\\x", "d\\..\\..\\e"] {
        let c = case(&hostile(vec![stored(name, b"fine")], vec![listed(name, b"fine")]));
        let rep = restore(&c.zip, &c.target, &RestoreOptions::default(), &Control::default()).unwrap();
        assert!(rep.refused.is_empty(), "{rep:?}");
        assert_eq!(std::fs::read(c.target.join(name)).unwrap(), b"fine");
        let mut restored: Vec<String> =
            std::fs::read_dir(&c.target).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        restored.sort();
        let mut want = vec![name.to_string(), "ok.txt".to_string()];
        want.sort();
        assert_eq!(restored, want, "one file each, at the top");
        assert!(verify(&c.zip, &VerifyOptions::default(), &Control::default()).unwrap().ok);
        c.nothing_outside();
    }
}

#[test]
fn symlink_entries_are_refused() {
    let mut link = stored("link", b"/etc/passwd");
    link.mode = 0o120777;
    let c = case(&hostile(vec![link], vec![listed("link", b"/etc/passwd")]));
    c.refused_with("link", "symbolic link");
}

fn link(name: &str, target: &str) -> Raw {
    Raw { mode: 0o120777, ..stored(name, target.as_bytes()) }
}

fn folder(name: &str) -> Raw {
    Raw { mode: 0o040755, ..stored(name, b"") }
}

/// A link the manifest records, then an entry under it: restore makes the
/// link (as a link, never followed) and refuses to write through it; verify
/// names that entry.
#[cfg(unix)]
#[test]
fn an_entry_under_a_link_is_refused_and_verify_says_so() {
    let outside = format!("/tmp/backup-repo-hostile-link-{}", std::process::id());
    for target in [outside.as_str(), "../../evil", "sub"] {
        let c = case(&hostile_with(
            vec![link("esc", target), stored("esc/passwd", b"pwned")],
            vec![listed("esc/passwd", b"pwned")],
            vec![],
            vec![("esc", target)],
        ));
        c.verify_fails("'esc/passwd': under 'esc', which the archive holds as a symbolic link");
        let rep = restore(&c.zip, &c.target, &RestoreOptions::default(), &Control::default()).unwrap();
        assert_eq!(rep.links_restored, 1, "{rep:?}");
        let r = rep.refused.iter().find(|r| r.path == "esc/passwd").expect("refused");
        assert!(r.reason.contains("not a folder"), "{}", r.reason);
        assert_eq!(std::fs::read_link(c.target.join("esc")).unwrap(), Path::new(target));
        assert!(!Path::new(&outside).exists());
        c.nothing_outside();
    }
}

#[test]
fn links_and_folders_must_be_what_the_manifest_records() {
    // A link whose target is not the manifest's.
    let c = case(&hostile_with(vec![link("l", "/etc/shadow")], vec![], vec![], vec![("l", "/etc/hostname")]));
    c.verify_fails("'l': a link of 11 bytes in the ZIP, 13 in the manifest");
    c.refused_with("l", "in the manifest");
    let c = case(&hostile_with(vec![link("l", "/etc/passw")], vec![], vec![], vec![("l", "/etc/hosts")]));
    c.verify_fails("link target differs from the manifest");
    c.refused_with("l", "link target differs");
    // A link or folder the manifest does not list.
    let c = case(&hostile_with(vec![link("l", "x")], vec![], vec![], vec![]));
    c.verify_fails("'l': symbolic link not in the manifest");
    c.refused_with("l", "symbolic link not in the manifest");
    let c = case(&hostile_with(vec![folder("d/")], vec![], vec![], vec![]));
    c.verify_fails("'d/': folder not in the manifest");
    c.refused_with("d/", "folder not in the manifest");
    // A folder with data, and unsafe folder names.
    let c = case(&hostile_with(vec![Raw { mode: 0o040755, ..stored("d/", b"data") }], vec![], vec!["d"], vec![]));
    c.verify_fails("a folder entry holding 4 bytes");
    for (name, why) in [("../up/", ".."), ("/abs/", "absolute")] {
        let c = case(&hostile_with(vec![folder(name)], vec![], vec![name.trim_end_matches('/')], vec![]));
        c.verify_fails(why);
        c.refused_with(name, why);
    }
    // A folder `a/` and a file `a`: restore can make only one.
    let c = case(&hostile_with(vec![folder("a/"), stored("a", b"x")], vec![listed("a", b"x")], vec!["a"], vec![]));
    c.verify_fails("'a': both a folder and a file or link");
    // Listed but missing.
    let c = case(&hostile_with(vec![], vec![], vec!["gone"], vec![("l", "x")]));
    c.verify_fails("'gone': in the manifest but missing");
    c.verify_fails("'l': in the manifest but missing");
}

/// With overwrite, a link replaces a file or link of its name in the
/// target (renamed over it): whatever the old link pointed to is untouched.
#[cfg(unix)]
#[test]
fn a_restored_link_replaces_never_writes_through() {
    let tmp = tempfile::tempdir().unwrap();
    let c = case(&hostile_with(vec![link("l", "ok.txt"), folder("e/")], vec![], vec!["e"], vec![("l", "ok.txt")]));
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::fs::create_dir_all(&c.target).unwrap();
    std::os::unix::fs::symlink(&victim, c.target.join("l")).unwrap();
    let rep =
        restore(&c.zip, &c.target, &RestoreOptions { overwrite: true, ..Default::default() }, &Control::default())
            .unwrap();
    assert!(rep.refused.is_empty(), "{rep:?}");
    assert_eq!((rep.files_restored, rep.links_restored, rep.dirs_restored), (1, 1, 1));
    assert_eq!(std::fs::read_link(c.target.join("l")).unwrap(), Path::new("ok.txt"));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(c.target.join("e").is_dir());
    // Without overwrite, an existing name is refused.
    let again =
        restore(&c.zip, &c.target, &RestoreOptions { overwrite: false, ..Default::default() }, &Control::default());
    assert!(again.is_err(), "the target is not empty");
}

#[test]
fn entries_not_in_the_manifest_are_refused_and_reported() {
    let c = case(&hostile(vec![stored("extra.txt", b"smuggled")], vec![]));
    c.refused_with("extra.txt", "not in the manifest");
    c.verify_fails("not in the manifest");
}

#[test]
fn entries_missing_from_the_archive_are_reported() {
    let c = case(&hostile(vec![], vec![listed("gone.txt", b"gone")]));
    c.verify_fails("missing from the archive");
    let rep = restore(&c.zip, &c.target, &RestoreOptions::default(), &Control::default()).unwrap();
    assert!(rep.refused.iter().any(|r| r.path == "gone.txt"));
}

#[test]
fn duplicate_names_are_refused() {
    let c = case(&hostile(
        vec![stored("dup.txt", b"first"), stored("dup.txt", b"second")],
        vec![listed("dup.txt", b"second")],
    ));
    c.verify_fails("duplicate");
    c.refused_with("dup.txt", "duplicate");
}

#[test]
fn content_not_matching_the_manifest_is_refused() {
    let c = case(&hostile(vec![stored("a.txt", b"evil!")], vec![listed("a.txt", b"good!")]));
    c.verify_fails("BLAKE3");
    c.refused_with("a.txt", "BLAKE3");
    assert!(!c.target.join("a.txt.partial").exists());
}

#[test]
fn wrong_declared_sizes_are_refused() {
    // Declares 20 bytes, holds 11.
    let mut e = stored("a.txt", b"hello world");
    e.size = 20;
    let claim = ManifestEntry { size: 20, ..listed("a.txt", b"hello world") };
    let c = case(&hostile(vec![e], vec![claim]));
    c.verify_fails("a.txt");
    c.refused_with("a.txt", "");
    // Declares 5 bytes, holds 11 (manifest agrees with the content).
    let mut e = stored("b.txt", b"hello world");
    e.size = 5;
    let c = case(&hostile(vec![e], vec![listed("b.txt", b"hello world")]));
    c.verify_fails("b.txt");
    c.refused_with("b.txt", "");
}

#[test]
fn a_compression_bomb_is_stopped_at_its_declared_size() {
    // 1 GiB of zeros as deflate: one sync-flushed 1 MiB block repeated, then
    // an empty final block; declared as 1 KiB.
    let mut c = flate2::Compress::new(flate2::Compression::new(9), false);
    let mut block = Vec::with_capacity(1 << 20);
    c.compress_vec(&vec![0u8; 1 << 20], &mut block, flate2::FlushCompress::Sync).unwrap();
    let mut data = Vec::with_capacity(block.len() * 1024 + 2);
    for _ in 0..1024 {
        data.extend_from_slice(&block);
    }
    data.extend_from_slice(&[0x03, 0x00]);
    let bomb = Raw {
        name: b"bomb.bin".to_vec(),
        method: 8,
        crc: crc32fast::hash(&[0u8; 1024]),
        size: 1024,
        data,
        mode: 0o100644,
        host: 3,
    };
    let c = case(&hostile(vec![bomb], vec![listed("bomb.bin", &[0u8; 1024])]));
    c.verify_fails("bomb.bin");
    c.refused_with("bomb.bin", "");
    assert!(!c.target.join("bomb.bin.partial").exists());
}

fn good_store_archive(dir: &Path) -> (PathBuf, Vec<u8>) {
    let root = dir.join("repo");
    write(&root, "a.txt", &text(5000));
    write(&root, "b.txt", &text(7000));
    let files = hashed_tree(&root);
    let out = dir.join("good.zip");
    let opts = ArchiveOptions { compression: Compression::Store, level: None };
    write_archive(&out, &manifest_for(&files), &opts, None, &Control::default()).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    (out, bytes)
}

#[test]
fn a_crc_mismatch_is_reported_and_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, mut bytes) = good_store_archive(tmp.path());
    let mut z = zip::ZipArchive::new(std::fs::File::open(&good).unwrap()).unwrap();
    let start = z.by_name("b.txt").unwrap().data_start().unwrap() as usize;
    bytes[start + 100] ^= 0x20;
    let c = case(&bytes);
    c.verify_fails("b.txt");
    let rep = restore(&c.zip, &c.target, &RestoreOptions::default(), &Control::default()).unwrap();
    assert_eq!(rep.refused.len(), 1, "{rep:?}");
    assert_eq!(rep.refused[0].path, "b.txt");
    assert_eq!(c.restored(), ["a.txt"]);
    c.nothing_outside();
}

#[test]
fn truncated_and_foreign_files_are_not_ok_but_not_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, bytes) = good_store_archive(tmp.path());
    for broken in [&bytes[..bytes.len() / 2], &bytes[..bytes.len() - 30], b"this is not a zip".as_slice(), b""] {
        let c = case(broken);
        let rep = verify(&c.zip, &VerifyOptions::default(), &Control::default()).unwrap();
        assert!(!rep.ok && rep.first_error.is_some(), "{rep:?}");
        assert!(restore(&c.zip, &c.target, &RestoreOptions::default(), &Control::default()).is_err());
        assert!(c.restored().is_empty());
        c.nothing_outside();
    }
    // Verify never writes to the archive.
    let c = case(&bytes);
    verify(&c.zip, &VerifyOptions::default(), &Control::default()).unwrap();
    assert_eq!(std::fs::read(&c.zip).unwrap(), bytes);
    // An unreadable path is an error, not a report.
    assert!(verify(&tmp.path().join("nope.zip"), &VerifyOptions::default(), &Control::default()).is_err());
}

#[test]
fn existing_files_are_not_overwritten_without_permission() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, _) = good_store_archive(tmp.path());
    let target = tmp.path().join("t");
    write(&target, "a.txt", b"mine");
    assert!(restore(&good, &target, &RestoreOptions::default(), &Control::default()).is_err());
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"mine");
    let rep = restore(&good, &target, &RestoreOptions { overwrite: true, ..Default::default() }, &Control::default())
        .unwrap();
    assert_eq!(rep.files_restored, 2);
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), text(5000));
}

#[cfg(unix)]
#[test]
fn restore_never_follows_a_symlinked_folder_in_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write(&root, "sub/a.txt", b"inside");
    let files = hashed_tree(&root);
    let good = tmp.path().join("g.zip");
    write_archive(&good, &manifest_for(&files), &ArchiveOptions::default(), None, &Control::default()).unwrap();
    let target = tmp.path().join("t");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("sub")).unwrap();
    let rep = restore(&good, &target, &RestoreOptions { overwrite: true, ..Default::default() }, &Control::default())
        .unwrap();
    assert_eq!(rep.files_restored, 0);
    assert!(rep.refused[0].reason.contains("not a folder"), "{:?}", rep.refused);
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
}

/// Raw reuse trusts a previous archive only as far as it checks out: a name
/// twice or a manifest that fails its CRC means nothing is copied from it,
/// and the new archive is what a fresh build makes.
#[test]
fn a_doubtful_previous_archive_is_never_reused_from() {
    const CONTENT: &[u8] = b"current content\n";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write(&root, "dup.txt", CONTENT);
    write(&root, "ok.txt", b"fine\n");
    let files = hashed_tree(&root);
    let store = ArchiveOptions { compression: Compression::Store, level: None };
    let fresh = tmp.path().join("fresh.zip");
    write_archive(&fresh, &manifest_for(&files), &store, None, &Control::default()).unwrap();
    let build_from = |previous: &[u8]| {
        let prev = tmp.path().join("prev.zip");
        std::fs::write(&prev, previous).unwrap();
        let out = tmp.path().join("out.zip");
        let stats = write_archive(&out, &manifest_for(&files), &store, Some(&prev), &Control::default()).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&fresh).unwrap());
        stats.entries_reused
    };

    let sound = hostile(vec![stored("dup.txt", CONTENT)], vec![listed("dup.txt", CONTENT)]);
    assert_eq!(build_from(&sound), 2, "a sound previous archive is reused from");

    let twice = hostile(
        vec![stored("dup.txt", b"evil content!!!\n"), stored("dup.txt", CONTENT)],
        vec![listed("dup.txt", CONTENT)],
    );
    assert_eq!(build_from(&twice), 0, "duplicate names");

    let at = sound.windows(10).position(|w| w == b"\"repo\":\"r\"").expect("manifest text in the archive");
    let mut bad_crc = sound.clone();
    bad_crc[at + 8] = b's';
    assert_eq!(build_from(&bad_crc), 0, "manifest failing its CRC");

    let mut other_hash = sound;
    let hex = blake3::hash(CONTENT).to_hex();
    let at = other_hash.windows(64).position(|w| w == hex.as_bytes()).unwrap();
    other_hash[at] = if other_hash[at] == b'0' { b'1' } else { b'0' };
    // CRC fixed up: only the recorded hash differs, so only ok.txt matches.
    let fixed = fix_manifest_crc(&other_hash);
    assert_eq!(build_from(&fixed), 1, "a file whose recorded BLAKE3 differs");
}

/// `zip` (built by [`build_zip`], manifest last and stored) with the
/// manifest's CRC-32 recomputed in its local and central headers.
fn fix_manifest_crc(zip: &[u8]) -> Vec<u8> {
    let mut z = zip.to_vec();
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let eocd = z.len() - 22;
    let (cd_start, entries) = (u32_at(&z, eocd + 16), u16_at(&z, eocd + 10));
    let mut at = cd_start;
    for _ in 1..entries {
        at += 46 + u16_at(&z, at + 28) + u16_at(&z, at + 30) + u16_at(&z, at + 32);
    }
    let local = u32_at(&z, at + 42);
    let data = local + 30 + u16_at(&z, local + 26) + u16_at(&z, local + 28);
    let crc = crc32fast::hash(&z[data..data + u32_at(&z, local + 18)]).to_le_bytes();
    z[local + 14..local + 18].copy_from_slice(&crc);
    z[at + 16..at + 20].copy_from_slice(&crc);
    z
}
