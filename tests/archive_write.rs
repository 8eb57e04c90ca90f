//! Writing archives: determinism, external tools, round trips, stored vs
//! deflated, raw reuse, change detection, ZIP64 by entry count.

mod archive_util;

use std::path::Path;
use std::process::Command;

use archive_util::*;
use backup_repo::archive::{
    read_manifest, restore, verify, write_archive, ArchiveOptions, Compression, RestoreOptions, VerifyOptions,
    MANIFEST_NAME,
};
use backup_repo::progress::Control;
use backup_repo::ErrorKind;

fn build(root: &Path, out: &Path, opts: &ArchiveOptions, prev: Option<&Path>) -> backup_repo::archive::ArchiveStats {
    let files = hashed_tree(root);
    let manifest = manifest_for(&files);
    write_archive(out, &manifest, opts, prev, &Control::default()).unwrap()
}

fn methods(zip: &Path) -> std::collections::BTreeMap<String, zip::CompressionMethod> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let e = z.by_index_raw(i).unwrap();
            (e.name().unwrap().to_string(), e.compression())
        })
        .collect()
}

#[test]
fn same_tree_gives_byte_identical_archives_that_every_tool_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let (a, b) = (tmp.path().join("a.zip"), tmp.path().join("b.zip"));
    let stats = build(&root, &a, &ArchiveOptions::default(), None);
    build(&root, &b, &ArchiveOptions::default(), None);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(stats.archive_bytes, std::fs::metadata(&a).unwrap().len());
    assert_eq!(stats.entries_reused, 0);
    external_tools_accept(&a);

    // The manifest is the last entry; the comment names tool and fingerprint.
    let mut z = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
    assert_eq!(z.name_for_index(z.len() - 1).unwrap().unwrap(), MANIFEST_NAME);
    let m = read_manifest(&a).unwrap();
    let comment = String::from_utf8(z.comment().to_vec()).unwrap();
    assert_eq!(comment, format!("backup-repo {} {}", m.tool_version, m.fingerprint));
    let e = z.by_name("ünïcode/日本.txt").unwrap();
    assert_eq!(e.unix_mode(), Some(0o100644));
    drop(e);
    #[cfg(unix)]
    assert_eq!(z.by_name("scripts/run.sh").unwrap().unix_mode(), Some(0o100755));

    let rep = verify(&a, &VerifyOptions::default(), &Control::default()).unwrap();
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.entries_checked as usize, z.len());
}

#[test]
fn stored_vs_deflated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let out = tmp.path().join("a.zip");
    let stats = build(&root, &out, &ArchiveOptions::default(), None);
    let m = methods(&out);
    use zip::CompressionMethod::{Deflated, Stored};
    assert_eq!(m["src/main.rs"], Deflated);
    assert_eq!(m["ünïcode/日本.txt"], Deflated);
    assert_eq!(m["data/random.bin"], Stored, "noise does not compress");
    assert_eq!(m[".git/objects/pack/pack-abc.pack"], Stored, "by extension");
    assert_eq!(m["img/logo.png"], Stored, "by extension, even if compressible");
    assert_eq!(m["empty.txt"], Stored);
    assert_eq!(stats.entries_stored + stats.entries_compressed, hashed_tree(&root).len() as u64);

    let store = tmp.path().join("s.zip");
    build(&root, &store, &ArchiveOptions { compression: Compression::Store, level: None }, None);
    assert!(methods(&store).values().all(|m| *m == Stored));
    external_tools_accept(&store);
}

#[test]
fn round_trip_restores_identical_bytes_times_and_modes() {
    for compression in [Compression::Deflate, Compression::Zstd, Compression::Store] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        sample_tree(&root);
        let out = tmp.path().join("a.zip");
        build(&root, &out, &ArchiveOptions { compression, level: None }, None);
        assert!(verify(&out, &VerifyOptions::default(), &Control::default()).unwrap().ok);
        let target = tmp.path().join("restored");
        let rep = restore(&out, &target, &RestoreOptions::default(), &Control::default()).unwrap();
        assert!(rep.refused.is_empty(), "{:?}", rep.refused);
        let before = hashed_tree(&root);
        let after = hashed_tree(&target);
        assert_eq!(rep.files_restored as usize, before.len());
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!((&b.file.rel, &b.blake3, b.file.size), (&a.file.rel, &a.blake3, a.file.size));
            assert_eq!(b.file.mtime_ns, a.file.mtime_ns, "{}", b.file.rel);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(target.join("scripts/run.sh")).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111);
        }
        // A second restore into the same, now non-empty, target is refused...
        assert!(restore(&out, &target, &RestoreOptions::default(), &Control::default()).is_err());
        // ...unless overwrite, which replaces every file.
        let rep =
            restore(&out, &target, &RestoreOptions { overwrite: true, ..Default::default() }, &Control::default())
                .unwrap();
        assert_eq!(rep.files_restored as usize, before.len());
        assert!(rep.refused.is_empty());
    }
}

#[test]
fn raw_reuse_gives_the_same_bytes_as_a_fresh_build() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let first = tmp.path().join("first.zip");
    build(&root, &first, &ArchiveOptions::default(), None);
    write(&root, "src/main.rs", &text(150_000));
    write(&root, "src/new.rs", b"pub fn new() {}\n");
    let fresh = tmp.path().join("fresh.zip");
    let reused = tmp.path().join("reused.zip");
    let s1 = build(&root, &fresh, &ArchiveOptions::default(), None);
    let s2 = build(&root, &reused, &ArchiveOptions::default(), Some(&first));
    assert_eq!(s1.entries_reused, 0);
    assert!(s2.entries_reused > 0, "{s2:?}");
    assert_eq!(std::fs::read(&fresh).unwrap(), std::fs::read(&reused).unwrap());

    // Something that is not one of ours as `previous` is ignored.
    std::fs::write(tmp.path().join("junk.zip"), b"not a zip").unwrap();
    let s3 = build(&root, &tmp.path().join("c.zip"), &ArchiveOptions::default(), Some(&tmp.path().join("junk.zip")));
    assert_eq!(s3.entries_reused, 0);

    // A corrupted previous entry is not reused: the result is still right.
    let mut bytes = std::fs::read(&first).unwrap();
    let mut z = zip::ZipArchive::new(std::fs::File::open(&first).unwrap()).unwrap();
    let start = z.by_name("ünïcode/日本.txt").unwrap().data_start().unwrap() as usize;
    bytes[start + 3] ^= 0x55;
    let broken = tmp.path().join("broken.zip");
    std::fs::write(&broken, &bytes).unwrap();
    let again = tmp.path().join("again.zip");
    build(&root, &again, &ArchiveOptions::default(), Some(&broken));
    assert_eq!(std::fs::read(&fresh).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn a_file_changed_since_hashing_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let files = hashed_tree(&root);
    let manifest = manifest_for(&files);
    // Same size, different content.
    let victim = files.iter().find(|f| f.file.rel == "src/main.rs").unwrap();
    let mut data = std::fs::read(&victim.file.path).unwrap();
    data[10] ^= 1;
    std::fs::write(&victim.file.path, &data).unwrap();
    let out = tmp.path().join("a.zip");
    let err = write_archive(&out, &manifest, &ArchiveOptions::default(), None, &Control::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::SourceChanged);
    assert!(err.message.contains("changed during backup") && err.message.contains("main.rs"), "{}", err.message);
    // Grown.
    data.extend_from_slice(b"more");
    std::fs::write(&victim.file.path, &data).unwrap();
    let err = write_archive(&out, &manifest, &ArchiveOptions::default(), None, &Control::default()).unwrap_err();
    assert!(err.message.contains("changed during backup"), "{}", err.message);
}

#[test]
fn cancel_stops_the_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let files = hashed_tree(&root);
    let c = Control::default();
    c.cancel();
    let err = write_archive(&tmp.path().join("a.zip"), &manifest_for(&files), &ArchiveOptions::default(), None, &c)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
}

#[test]
fn more_than_65535_entries_use_zip64() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write(&root, "one.txt", b"same small content\n");
    let one = hashed_one(&root, "one.txt");
    // Many entry names backed by one file on disk: cheap to set up.
    let mut files: Vec<_> = (0..70_000)
        .map(|i| {
            let mut f = one.clone();
            f.file.rel = format!("d{:02}/f{i:06}.txt", i % 97);
            f
        })
        .collect();
    files.sort_by(|a, b| a.file.rel.cmp(&b.file.rel));
    let out = tmp.path().join("many.zip");
    let stats =
        write_archive(&out, &manifest_for(&files), &ArchiveOptions::default(), None, &Control::default()).unwrap();
    assert_eq!(stats.entries_stored + stats.entries_compressed, 70_000);
    let z = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(z.len(), 70_001);
    external_tools_accept(&out);
    let rep = verify(&out, &VerifyOptions::default(), &Control::default()).unwrap();
    assert!(rep.ok, "{:?}", rep.first_error);
    assert_eq!(rep.entries_checked, 70_001);
}

/// A sparse file over 4 GiB: ZIP64 sizes and offsets. Slow (reads and
/// compresses 4.5 GiB), so run on demand: `cargo test --test archive_write -- --ignored`.
#[test]
#[ignore]
fn a_file_over_4_gib_uses_zip64() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let big = root.join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((4u64 << 30) + (512 << 20)).unwrap();
    drop(f);
    write(&root, "z-after.txt", b"after the big one\n");
    let out = tmp.path().join("big.zip");
    build(&root, &out, &ArchiveOptions::default(), None);
    external_tools_accept(&out);
    let rep = verify(&out, &VerifyOptions::default(), &Control::default()).unwrap();
    assert!(rep.ok, "{:?}", rep.first_error);
}

/// Entries big enough to be streamed (a stored pack, a deflated file whose
/// compressed bytes exceed 1 MiB) are reused raw too, and give the same bytes
/// as a fresh build. A corrupted deflated one in the previous archive is
/// caught by its CRC and built afresh, never copied; a stored one's bytes are
/// read from the file itself, so corruption there never reaches the new
/// archive and the entry is still reused.
#[test]
fn streamed_raw_reuse_gives_the_same_bytes_and_skips_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    let mut noise = vec![0u8; 3 << 20];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    write(&root, ".git/objects/pack/pack-big.pack", &noise[..2 << 20]);
    let hex: Vec<u8> = noise.iter().flat_map(|b| format!("{b:02x}").into_bytes()).take(3 << 20).collect();
    write(&root, "data/hex.txt", &hex);
    let first = tmp.path().join("first.zip");
    build(&root, &first, &ArchiveOptions::default(), None);
    write(&root, "src/new.rs", b"pub fn new() {}\n");
    let fresh = tmp.path().join("fresh.zip");
    build(&root, &fresh, &ArchiveOptions::default(), None);
    let reused = tmp.path().join("reused.zip");
    let s = build(&root, &reused, &ArchiveOptions::default(), Some(&first));
    let m = methods(&first);
    assert_eq!(m["data/hex.txt"], zip::CompressionMethod::Deflated);
    assert_eq!(m[".git/objects/pack/pack-big.pack"], zip::CompressionMethod::Stored);
    // Every entry but the new file, less those stored because deflate did not pay.
    let stored_not_worth = (m.values().filter(|&&c| c == zip::CompressionMethod::Stored).count()) as u64;
    assert!(s.entries_reused + 1 >= hashed_tree(&root).len() as u64 - stored_not_worth, "{s:?}");
    assert_eq!(std::fs::read(&fresh).unwrap(), std::fs::read(&reused).unwrap());

    for (name, read_from_source) in [("data/hex.txt", false), (".git/objects/pack/pack-big.pack", true)] {
        let mut bytes = std::fs::read(&first).unwrap();
        let mut z = zip::ZipArchive::new(std::fs::File::open(&first).unwrap()).unwrap();
        let start = z.by_name(name).unwrap().data_start().unwrap() as usize;
        bytes[start + 1000] ^= 0x55;
        let broken = tmp.path().join("broken.zip");
        std::fs::write(&broken, &bytes).unwrap();
        let again = tmp.path().join("again.zip");
        let s2 = build(&root, &again, &ArchiveOptions::default(), Some(&broken));
        let lost = if read_from_source { 0 } else { 1 };
        assert_eq!(s2.entries_reused, s.entries_reused - lost, "{name}");
        assert_eq!(std::fs::read(&fresh).unwrap(), std::fs::read(&again).unwrap(), "{name}");
    }
}

/// A stored entry is reused by reading the file (the previous archive's copy
/// is never read): a file whose bytes differ from what its unchanged hash
/// says, streamed or held in memory, is caught by the previous entry's CRC
/// and named, never written with a CRC it does not have.
#[test]
fn a_stored_file_differing_from_its_previous_entry_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    write(&root, ".git/objects/pack/pack-big.pack", &noise(2 << 20, 7));
    let files = hashed_tree(&root);
    let first = tmp.path().join("first.zip");
    write_archive(&first, &manifest_for(&files), &ArchiveOptions::default(), None, &Control::default()).unwrap();
    for rel in [".git/objects/pack/pack-big.pack", ".git/objects/pack/pack-abc.pack"] {
        let victim = files.iter().find(|f| f.file.rel == rel).unwrap();
        let pristine = std::fs::read(&victim.file.path).unwrap();
        let mut data = pristine.clone();
        data[1000] ^= 1;
        std::fs::write(&victim.file.path, &data).unwrap();
        let out = tmp.path().join("next.zip");
        // The old hashes: as a stat cache that missed the change would give.
        let err =
            write_archive(&out, &manifest_for(&files), &ArchiveOptions::default(), Some(&first), &Control::default())
                .unwrap_err();
        assert_eq!(err.kind, ErrorKind::SourceChanged);
        assert!(err.message.contains("changed during backup") && err.message.contains(rel), "{}", err.message);
        std::fs::write(&victim.file.path, &pristine).unwrap();
    }
    let out = tmp.path().join("ok.zip");
    let s = write_archive(&out, &manifest_for(&files), &ArchiveOptions::default(), Some(&first), &Control::default())
        .unwrap();
    assert!(s.entries_reused >= 2, "{s:?}");
    assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&out).unwrap());
}

/// A tree with empty folders and links, selected and written as a backup does.
#[cfg(unix)]
fn build_with_links_and_folders(root: &Path, out: &Path) {
    use backup_repo::select::{select, SelectOptions};
    let sel = select(root, &SelectOptions::default(), &Control::default()).unwrap();
    let (files, _) = backup_repo::fingerprint::hash_files(&sel.files, None, &Control::default()).unwrap();
    let manifest = backup_repo::archive::ManifestOf {
        repo: "repo".into(),
        fingerprint: backup_repo::fingerprint::fingerprint_of_tree(&files, &sel.dirs, &sel.links),
        files: &files,
        dirs: &sel.dirs,
        links: &sel.links,
        origin: None,
    };
    write_archive(out, &manifest, &ArchiveOptions::default(), None, &Control::default()).unwrap();
}

/// Folder and link entries keep the archive deterministic, in name order,
/// and readable by every tool installed here: `unzip` and 7-Zip extract the
/// link as a link and the empty folders as folders; Python's zipfile (which
/// knows no links) extracts the link as a small file holding its target.
#[cfg(unix)]
#[test]
fn folders_and_links_open_in_every_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write(&root, "a/file.txt", b"hello\n");
    write(&root, "z.txt", b"last\n");
    std::fs::create_dir_all(root.join(".git/refs/tags")).unwrap();
    std::fs::create_dir_all(root.join("a/empty")).unwrap();
    std::os::unix::fs::symlink("file.txt", root.join("a/link")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("a-escaping")).unwrap();
    let (a, b) = (tmp.path().join("a.zip"), tmp.path().join("b.zip"));
    build_with_links_and_folders(&root, &a);
    build_with_links_and_folders(&root, &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let mut z = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
    let names: Vec<String> = (0..z.len()).map(|i| z.name_for_index(i).unwrap().unwrap().to_string()).collect();
    assert_eq!(
        names,
        [".git/refs/tags/", "a-escaping", "a/empty/", "a/file.txt", "a/link", "z.txt", MANIFEST_NAME],
        "name order, the manifest last"
    );
    assert!(z.by_name("a/link").unwrap().is_symlink());
    assert!(z.by_name("a/empty/").unwrap().is_dir());
    drop(z);
    assert!(verify(&a, &VerifyOptions::default(), &Control::default()).unwrap().ok);
    external_tools_accept(&a);

    let is_link_to = |p: &Path, to: &str| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
            && std::fs::read_link(p).unwrap() == Path::new(to)
    };
    if Command::new("unzip").arg("-v").output().is_ok() {
        let out = tmp.path().join("unzip");
        run_ok(Command::new("unzip").arg("-q").arg(&a).arg("-d").arg(&out));
        assert!(is_link_to(&out.join("a/link"), "file.txt"), "unzip makes a link");
        assert!(is_link_to(&out.join("a-escaping"), "../../outside"));
        assert!(out.join("a/empty").is_dir() && out.join(".git/refs/tags").is_dir());
        assert!(!tmp.path().join("outside").exists());
    }
    if let Some(sz) = seven_zip() {
        let out = tmp.path().join("7z");
        let o = Command::new(sz).arg("x").arg("-y").arg(format!("-o{}", out.display())).arg(&a).output().unwrap();
        let said = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        // 7-Zip leaves out, by its own rule, a link leading outside the
        // folder (its -snld switch makes it); everything else is extracted.
        assert!(
            o.status.success()
                || (said.contains("Sub items Errors: 1")
                    && said.contains("Dangerous link path was ignored : a-escaping")),
            "{said}"
        );
        assert!(is_link_to(&out.join("a/link"), "file.txt"), "7-Zip makes a link");
        assert!(out.join("a/empty").is_dir() && out.join(".git/refs/tags").is_dir());
    }
    if Command::new("python3").arg("-V").output().is_ok() {
        let out = tmp.path().join("py");
        run_ok(
            Command::new("python3")
                .arg("-c")
                .arg("import sys,zipfile\nzipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])")
                .arg(&a)
                .arg(&out),
        );
        assert_eq!(std::fs::read(out.join("a/link")).unwrap(), b"file.txt", "a file holding the target");
        assert!(out.join("a/empty").is_dir() && out.join(".git/refs/tags").is_dir());
    }
}

/// Files of 64 KiB and more (and about one small file in 32, by name) start
/// their data on a 4 KiB boundary, padded in the local header's extra field
/// (zipalign's id 0xD935): deterministic, and every reader opens it.
#[test]
fn large_entries_start_their_data_on_a_block_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    sample_tree(&root);
    for i in 0..200 {
        write(&root, &format!("small/f{i:03}.txt"), &text(500 + i * 37));
    }
    let (a, b) = (tmp.path().join("a.zip"), tmp.path().join("b.zip"));
    build(&root, &a, &ArchiveOptions::default(), None);
    build(&root, &b, &ArchiveOptions { compression: Compression::Store, level: None }, None);
    for zip_path in [&a, &b] {
        let mut z = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
        let (mut aligned, mut small_aligned) = (0, 0);
        for i in 0..z.len() {
            let e = z.by_index_raw(i).unwrap();
            let name = e.name().unwrap().to_string();
            if name == MANIFEST_NAME || e.size() == 0 {
                continue;
            }
            let start = e.data_start().unwrap();
            if e.size() >= 64 << 10 {
                assert_eq!(start % 4096, 0, "{name} starts its data at {start}");
            }
            if start.is_multiple_of(4096) {
                aligned += 1;
                small_aligned += (e.size() < 64 << 10) as usize;
            }
        }
        assert!(aligned >= 3 && small_aligned >= 2, "{aligned} aligned, {small_aligned} of them small");
        external_tools_accept(zip_path);
        let rep = verify(zip_path, &VerifyOptions::default(), &Control::default()).unwrap();
        assert!(rep.ok, "{rep:?}");
    }
    build(&root, &tmp.path().join("a2.zip"), &ArchiveOptions::default(), None);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(tmp.path().join("a2.zip")).unwrap());
}
