//! BLAKE3 of every selected file and one tree fingerprint over the sorted
//! (path, hash) pairs. A per-source stat cache (size, mtime, file id -> hash)
//! lets an unchanged repository cost a directory walk, not a re-read.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::progress::{Control, Phase};
use crate::select::{SelectedDir, SelectedFile, SelectedLink};
use crate::{Error, Result};

/// A selected file with its content hash (lower-case hex BLAKE3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashedFile {
    #[serde(flatten)]
    pub file: SelectedFile,
    pub blake3: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashStats {
    /// Files whose content was read and hashed.
    pub files_read: u64,
    pub bytes_read: u64,
    /// Files whose hash came from the stat cache (no read).
    pub files_cached: u64,
}

/// The tree fingerprint: BLAKE3 over each `rel \0 hash \n`, in the given
/// (sorted) order. Pure; hex.
pub fn tree_fingerprint(files: &[(&str, &str)]) -> String {
    tree_fingerprint_of_pairs(files.iter().copied())
}

/// The tree fingerprint of `hashed` (in their order).
pub fn fingerprint_of(hashed: &[HashedFile]) -> String {
    tree_fingerprint_of_pairs(hashed.iter().map(|h| (h.file.rel.as_str(), h.blake3.as_str())))
}

/// [`tree_fingerprint`] of (path, hash) pairs as they come.
pub(crate) fn tree_fingerprint_of_pairs<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fingerprint_with_others(files, &[], &[])
}

/// The fingerprint of a whole selection: its files (`hashed`), then its
/// folders with nothing in them and its links, so a new empty folder or a
/// link's new target makes the backup "changed".
pub fn fingerprint_of_tree(hashed: &[HashedFile], dirs: &[SelectedDir], links: &[SelectedLink]) -> String {
    fingerprint_with_others(hashed.iter().map(|h| (h.file.rel.as_str(), h.blake3.as_str())), dirs, links)
}

/// The tree fingerprint of (path, hash) file pairs, then `dirs` as
/// `rel/ \0 dir` and `links` as `rel \0 link:<BLAKE3 of the target>`: a
/// file's hash is 64 hex digits and its name never ends in `/`, so no folder
/// or link reads as a file. Without folders and links it is the files'
/// fingerprint alone, as it was before they were kept.
pub(crate) fn fingerprint_with_others<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    dirs: &[SelectedDir],
    links: &[SelectedLink],
) -> String {
    let mut h = blake3::Hasher::new();
    let mut pair = |rel: &str, tail: &[u8], hash: &[u8]| {
        h.update(rel.as_bytes());
        h.update(tail);
        h.update(b"\0");
        h.update(hash);
        h.update(b"\n");
    };
    for (rel, hash) in files {
        pair(rel, b"", hash.as_bytes());
    }
    for d in dirs {
        pair(&d.rel, b"/", b"dir");
    }
    for l in links {
        let target = blake3::hash(l.target.as_bytes());
        pair(&l.rel, b"", format!("link:{}", target.to_hex()).as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// A BLAKE3 digest as we write it: 64 hex digits.
pub(crate) fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where the stat cache of `source` lives under `cache_dir`:
/// `<cache_dir>/statcache/<first 32 hex of BLAKE3(canonical source path)>.json`.
pub fn stat_cache_path(cache_dir: &Path, source: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let hex = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
    cache_dir.join("statcache").join(format!("{}.json", &hex[..32]))
}

/// Files at least this big are hashed in big chunks on all cores (never mmap'd).
const MMAP_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Read buffer for smaller files (one per rayon worker, reused).
const BUF_SIZE: usize = 256 * 1024;
/// Bump when the cache format or its meaning changes: old caches are ignored.
const CACHE_VERSION: u32 = 1;

/// Racy-clean margin. A file whose mtime is this close to (or after) the
/// moment hashing started is not stored in the cache: a later write that
/// lands in the same timestamp tick (2 s on FAT, coarse kernel clocks
/// elsewhere) could change its content without changing size or mtime, and
/// the cache would then vouch for stale content. Such files are simply read
/// again next time (as git does with its "racily clean" index entries).
const RACY_MARGIN: Duration = Duration::from_secs(2);

/// The cache file. Its strings borrow from the bytes read (or from the
/// files written): a 71k-file cache is read and written without a string
/// allocation per file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CacheFile<'a> {
    version: u32,
    #[serde(borrow)]
    entries: Vec<CacheEntry<'a>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CacheEntry<'a> {
    #[serde(borrow)]
    rel: Cow<'a, str>,
    size: u64,
    mtime_ns: i128,
    file_id: Option<u64>,
    #[serde(borrow)]
    blake3: Cow<'a, str>,
}

/// The cache file's bytes (empty when there is none or it cannot be read).
fn read_cache(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The cache in `bytes`, sorted by rel; anything malformed counts as no
/// cache (it is only an optimisation).
fn parse_cache(bytes: &[u8]) -> Vec<CacheEntry<'_>> {
    match serde_json::from_slice::<CacheFile>(bytes) {
        Ok(c) if c.version == CACHE_VERSION => {
            // (A hash that is not a digest is never trusted: see hash_or_look_up.)
            let mut entries = c.entries;
            // Written in selection order, which is sorted: usually a no-op.
            if !entries.is_sorted_by(|a, b| a.rel < b.rel) {
                entries.sort_by(|a, b| a.rel.cmp(&b.rel));
                entries.dedup_by(|a, b| a.rel == b.rel);
            }
            entries
        }
        _ => Vec::new(),
    }
}

/// The cache entry for each file (same order), by one merge of two sorted
/// lists: no hashing of paths, no per-file lookup. Entries are moved out.
fn match_cache<'a>(files: &[SelectedFile], cache: Vec<CacheEntry<'a>>) -> Vec<Option<CacheEntry<'a>>> {
    let mut out: Vec<Option<CacheEntry>> = Vec::with_capacity(files.len());
    let sorted = files.is_sorted_by(|a, b| a.rel < b.rel);
    if !sorted {
        // Not expected (selection is sorted); fall back to a map.
        let mut map: HashMap<String, CacheEntry> = cache.into_iter().map(|e| (e.rel.to_string(), e)).collect();
        out.extend(files.iter().map(|f| map.remove(&f.rel)));
        return out;
    }
    let mut cache = cache.into_iter().peekable();
    for f in files {
        while cache.next_if(|e| *e.rel < *f.rel).is_some() {}
        out.push(cache.next_if(|e| *e.rel == *f.rel));
    }
    out
}

/// How [`hash_files_with`] uses the stat cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read it, and write it back when anything changed.
    ReadWrite,
    /// Read it, never write it (dry runs: they write nothing anywhere).
    ReadOnly,
}

/// Write the cache atomically: a temp file in the same folder, then rename.
/// Best effort: a cache that cannot be written costs a re-read next time,
/// never a failed backup. Not flushed to the disk: after a crash a torn cache
/// fails to parse and is ignored (a re-read), and an older one still only
/// vouches for the stat it recorded, so a flush would buy nothing but its
/// wait, paid by every backup that hashed a file.
fn store_cache(path: &Path, cache: &CacheFile<'_>) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        serde_json::to_writer(&mut w, cache)?;
        w.flush()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Chunk for files above [`MMAP_THRESHOLD`] (hashed on all cores per chunk).
const LARGE_CHUNK: usize = 8 << 20;

/// Fill `buf` as far as the file allows; the bytes read (0 at the end).
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read and hash one file; returns the hex hash and the bytes read.
fn hash_one(file: &SelectedFile, buf: &mut [u8]) -> std::io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut f = std::fs::File::open(&file.path)?;
    if file.size >= MMAP_THRESHOLD {
        // Read, not mmap: a file truncated by another process while mapped
        // kills this process with SIGBUS. Big chunks keep rayon's
        // multi-threaded hashing worthwhile.
        let mut big = vec![0u8; LARGE_CHUNK];
        loop {
            let n = read_full(&mut f, &mut big)?;
            if n == 0 {
                break;
            }
            hasher.update_rayon(&big[..n]);
        }
        return Ok((hasher.finalize().to_hex().to_string(), hasher.count()));
    }
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), total))
}

/// Hash `files` in parallel, using and then updating the stat cache at
/// `cache` (None: no cache). The cache is written atomically; a corrupt or
/// missing cache is ignored, never fatal. Checks `control` for cancel.
pub fn hash_files(
    files: &[SelectedFile],
    cache: Option<&Path>,
    control: &Control,
) -> Result<(Vec<HashedFile>, HashStats)> {
    hash_files_with(files, cache, CacheMode::ReadWrite, control)
}

/// [`hash_files`] with a choice of cache mode. With `ReadWrite` the cache is
/// rewritten only when it would change (a file read, or entries to drop):
/// an unchanged repository costs no write and no fsync.
pub fn hash_files_with(
    files: &[SelectedFile],
    cache: Option<&Path>,
    mode: CacheMode,
    control: &Control,
) -> Result<(Vec<HashedFile>, HashStats)> {
    let (hashes, stats) = hashes_of(files, cache, mode, control)?;
    Ok((with_hashes(files.to_vec(), hashes), stats))
}

/// [`hash_files_with`] giving the hashes alone, in the order of `files`:
/// [`with_hashes`] then pairs them with the files without a copy.
pub fn hashes_of(
    files: &[SelectedFile],
    cache: Option<&Path>,
    mode: CacheMode,
    control: &Control,
) -> Result<(Vec<String>, HashStats)> {
    let started = SystemTime::now();
    let (hashes, stats, cache_len) = hash_or_look_up(files, cache, true, control)?;
    // Every file answered by the cache and nothing to drop: the cache would
    // be written back as it is. (A cached file is never racy: it was stored
    // at least RACY_MARGIN before an earlier run started.)
    let unchanged = stats.files_read == 0 && cache_len == files.len();
    if let Some(path) = cache.filter(|_| mode == CacheMode::ReadWrite && !unchanged) {
        save_pairs(path, files.iter().zip(hashes.iter().map(String::as_str)), started);
    }
    Ok((hashes, stats))
}

/// The stat cache's hashes for `files`, in their order, reading no file:
/// files it does not answer get an empty hash, for the archive writer to
/// compute as it reads them to compress (a first backup then reads each file
/// once). Pair them with [`with_hashes`]; record the completed list with
/// [`save_hashes`].
pub fn cached_hashes_of(
    files: &[SelectedFile],
    cache: Option<&Path>,
    control: &Control,
) -> Result<(Vec<String>, HashStats)> {
    hash_or_look_up(files, cache, false, control).map(|(hashes, stats, _)| (hashes, stats))
}

/// Each file with its hash (same order): the files are moved, not copied.
pub fn with_hashes(files: Vec<SelectedFile>, hashes: Vec<String>) -> Vec<HashedFile> {
    debug_assert_eq!(files.len(), hashes.len());
    files.into_iter().zip(hashes).map(|(file, blake3)| HashedFile { file, blake3 }).collect()
}

/// Per file: the cache's hash when its size, mtime and id still match, else
/// the file read and hashed (`read`) or an empty hash. Also the number of
/// entries the cache had.
fn hash_or_look_up(
    files: &[SelectedFile],
    cache: Option<&Path>,
    read: bool,
    control: &Control,
) -> Result<(Vec<String>, HashStats, usize)> {
    let bytes = cache.map(read_cache).unwrap_or_default();
    let old = parse_cache(&bytes);
    let cache_len = old.len();
    let old = match_cache(files, old);
    let total_bytes = files.iter().map(|f| f.size).sum();
    control.begin(Phase::Hashing, files.len() as u64, total_bytes);

    // Per file: the hash and, when it was read, how many bytes.
    let results: Vec<(String, Option<u64>)> = files
        .par_iter()
        .zip(old.into_par_iter())
        .enumerate()
        .map_init(
            || if read { vec![0u8; BUF_SIZE] } else { Vec::new() },
            |buf, (i, (f, old))| -> Result<(String, Option<u64>)> {
                control.check()?;
                if let Some(e) = old {
                    if e.size == f.size
                        && e.mtime_ns == f.mtime_ns
                        && e.file_id == f.file_id
                        && is_hex_digest(&e.blake3)
                    {
                        control.advance(1, f.size);
                        return Ok((e.blake3.into_owned(), None));
                    }
                }
                if !read {
                    return Ok((String::new(), None));
                }
                if i % 64 == 0 || f.size >= MMAP_THRESHOLD {
                    control.set_current(&f.rel);
                }
                let (hash, n) = hash_one(f, buf).map_err(|e| Error::io("read", &f.path, e))?;
                control.advance(1, f.size);
                Ok((hash, Some(n)))
            },
        )
        .collect::<Result<_>>()?;
    control.check()?;

    let mut stats = HashStats::default();
    for (hash, read) in &results {
        match read {
            Some(n) => {
                stats.files_read += 1;
                stats.bytes_read += n;
            }
            None if !hash.is_empty() => stats.files_cached += 1,
            None => {}
        }
    }
    Ok((results.into_iter().map(|(hash, _)| hash).collect(), stats, cache_len))
}

/// Write `hashed` as the stat cache at `path`, leaving out files modified
/// too close to `started` (when hashing began) to be trusted; see
/// [`RACY_MARGIN`]. Best effort, see store_cache.
pub fn save_hashes(path: &Path, hashed: &[HashedFile], started: SystemTime) {
    save_pairs(path, hashed.iter().map(|h| (&h.file, h.blake3.as_str())), started);
}

/// [`save_hashes`] of (file, hash) pairs; the entries borrow them.
fn save_pairs<'a>(path: &Path, pairs: impl Iterator<Item = (&'a SelectedFile, &'a str)>, started: SystemTime) {
    let racy_from = started
        .checked_sub(RACY_MARGIN)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(i128::MIN, |d| d.as_nanos() as i128);
    let entries = pairs
        .filter(|(f, hash)| f.mtime_ns < racy_from && is_hex_digest(hash))
        .map(|(f, hash)| CacheEntry {
            rel: Cow::Borrowed(&f.rel),
            size: f.size,
            mtime_ns: f.mtime_ns,
            file_id: f.file_id,
            blake3: Cow::Borrowed(hash),
        })
        .collect();
    let _ = store_cache(path, &CacheFile { version: CACHE_VERSION, entries });
}

/// Drop the cache's entries for `rels`: files whose content was seen to
/// differ from what the cache vouched for, so the next hashing reads them.
/// Best effort, like every cache write.
pub fn forget_cached(path: &Path, rels: &[String]) {
    let bytes = read_cache(path);
    let mut entries = parse_cache(&bytes);
    let before = entries.len();
    entries.retain(|e| !rels.iter().any(|r| *r == *e.rel));
    if entries.len() != before {
        let _ = store_cache(path, &CacheFile { version: CACHE_VERSION, entries });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use filetime::FileTime;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn tree_fingerprint_depends_on_paths_hashes_and_order() {
        let base = tree_fingerprint(&[("a", H1), ("b", H2)]);
        assert_eq!(base.len(), 64);
        assert_eq!(base, tree_fingerprint(&[("a", H1), ("b", H2)]));
        for other in [
            tree_fingerprint(&[("a", H1), ("c", H2)]),
            tree_fingerprint(&[("a", H1), ("b", H1)]),
            tree_fingerprint(&[("b", H2), ("a", H1)]),
            tree_fingerprint(&[("a", H1)]),
            // The separators keep the pairs apart: no concatenation collision.
            tree_fingerprint(&[("a\0", H1), ("b", H2)]),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(tree_fingerprint(&[]), blake3::hash(b"").to_hex().to_string());
    }

    #[test]
    fn folders_and_links_count_in_the_fingerprint() {
        let files = [("a", H1)];
        let dir = |rel: &str| SelectedDir { rel: rel.into(), mtime_ns: 1 };
        let link = |rel: &str, target: &str| SelectedLink { rel: rel.into(), target: target.into(), mtime_ns: 1 };
        let base = fingerprint_with_others(files, &[], &[]);
        assert_eq!(base, tree_fingerprint(&files), "nothing but files: as before");
        let with_dir = fingerprint_with_others(files, &[dir("e")], &[]);
        let with_link = fingerprint_with_others(files, &[], &[link("l", "a")]);
        let other_target = fingerprint_with_others(files, &[], &[link("l", "b")]);
        let other_time = fingerprint_with_others(files, &[dir("e")], &[SelectedLink { mtime_ns: 9, ..link("l", "a") }]);
        let all = fingerprint_with_others(files, &[dir("e")], &[link("l", "a")]);
        let distinct: std::collections::HashSet<_> = [&base, &with_dir, &with_link, &other_target, &all].into();
        assert_eq!(distinct.len(), 5);
        assert_eq!(other_time, all, "times are not content");
        // A folder is never a file of the same name.
        assert_ne!(with_dir, fingerprint_with_others([("a", H1), ("e", H2)], &[], &[]));
    }

    #[test]
    fn stat_cache_path_is_per_source_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = stat_cache_path(Path::new("/c"), dir.path());
        let b = stat_cache_path(Path::new("/c"), &dir.path().join("."));
        assert_eq!(a, b, "canonicalized");
        assert!(a.starts_with("/c/statcache"));
        assert_eq!(a.file_name().unwrap().len(), 32 + 5);
        let missing = stat_cache_path(Path::new("/c"), Path::new("/no/such/dir"));
        assert_ne!(a, missing);
    }

    /// Write `rel` under `root` with `body`, set its mtime an hour ago and
    /// return it as selection would.
    fn make(root: &Path, rel: &str, body: &[u8]) -> SelectedFile {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        // Long before any run (so never "too recent to trust"), and the same
        // instant on every call, so a file made twice keeps its stat.
        let old = FileTime::from_unix_time(1_700_000_000, 123_456_789);
        filetime::set_file_mtime(&path, old).unwrap();
        stat(root, rel)
    }

    fn stat(root: &Path, rel: &str) -> SelectedFile {
        let path = root.join(rel);
        let meta = std::fs::metadata(&path).unwrap();
        let mtime = FileTime::from_last_modification_time(&meta);
        #[cfg(unix)]
        let file_id = Some(std::os::unix::fs::MetadataExt::ino(&meta));
        #[cfg(not(unix))]
        let file_id = None;
        SelectedFile {
            rel: rel.to_string(),
            path,
            size: meta.len(),
            mtime_ns: mtime.unix_seconds() as i128 * 1_000_000_000 + mtime.nanoseconds() as i128,
            file_id,
        }
    }

    /// Same size, new content, old mtime put back: only a read can tell.
    fn overwrite_keeping_stat(f: &SelectedFile, body: &[u8]) {
        let meta = std::fs::metadata(&f.path).unwrap();
        assert_eq!(meta.len(), body.len() as u64);
        let mtime = FileTime::from_last_modification_time(&meta);
        std::fs::write(&f.path, body).unwrap();
        filetime::set_file_mtime(&f.path, mtime).unwrap();
    }

    fn hashes(v: &[HashedFile]) -> Vec<&str> {
        v.iter().map(|h| h.blake3.as_str()).collect()
    }

    #[test]
    fn hashes_in_input_order_without_cache() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![make(dir.path(), "b", b"bee"), make(dir.path(), "a/x", b"")];
        let control = Control::default();
        let (out, stats) = hash_files(&files, None, &control).unwrap();
        assert_eq!(hashes(&out), [blake3::hash(b"bee").to_hex().as_str(), blake3::hash(b"").to_hex().as_str()]);
        assert_eq!(out[0].file, files[0]);
        assert_eq!(stats, HashStats { files_read: 2, bytes_read: 3, files_cached: 0 });
        let s = control.snapshot();
        assert_eq!((s.phase, s.files_done, s.files_total, s.bytes_done), (Phase::Hashing, 2, 2, 3));
    }

    #[test]
    fn unchanged_files_come_from_the_cache_without_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let cache = stat_cache_path(&dir.path().join("cache"), &src);
        let files: Vec<_> = (0..20).map(|i| make(&src, &format!("f{i}"), format!("v1-{i:03}").as_bytes())).collect();
        let (first, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!((stats.files_read, stats.files_cached), (20, 0));
        assert!(cache.is_file());

        // New content, same size and mtime: the cached (old) hash comes back,
        // which proves the file was not opened.
        overwrite_keeping_stat(&files[3], b"v2-003");
        assert_eq!(stat(&src, "f3"), files[3]);
        let (second, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!(stats, HashStats { files_read: 0, bytes_read: 0, files_cached: 20 });
        assert_eq!(hashes(&first), hashes(&second));
        assert_eq!(second[3].blake3, blake3::hash(b"v1-003").to_hex().as_str());
    }

    /// A first backup's look-up reads no file: the cache answers what it
    /// knows, the rest stay empty for the archive writer; save_hashes then
    /// records the completed list, so a later run reads nothing.
    #[test]
    fn look_up_reads_nothing_and_save_records_what_the_writer_learned() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let cache = stat_cache_path(&dir.path().join("cache"), &src);
        let files: Vec<_> = ["a", "b", "c"].iter().map(|n| make(&src, n, n.as_bytes())).collect();
        hash_files(&files[..1], Some(&cache), &Control::default()).unwrap();
        // Only a look-up can succeed on a file that is gone.
        std::fs::remove_file(&files[2].path).unwrap();
        let started = SystemTime::now();
        let (got, stats) = cached_hashes_of(&files, Some(&cache), &Control::default()).unwrap();
        let mut got = with_hashes(files.clone(), got);
        assert_eq!(hashes(&got), [blake3::hash(b"a").to_hex().as_str(), "", ""]);
        assert_eq!(stats, HashStats { files_read: 0, bytes_read: 0, files_cached: 1 });

        got[1].blake3 = blake3::hash(b"b").to_hex().to_string();
        save_hashes(&cache, &got, started);
        std::fs::write(&files[2].path, b"c").unwrap();
        let files = [files[0].clone(), files[1].clone(), make(&src, "c", b"c")];
        let (_, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        // The one left without a hash is not in the cache: read again.
        assert_eq!((stats.files_cached, stats.files_read), (2, 1));
    }

    /// An unchanged tree leaves the cache file alone (no rewrite, no fsync);
    /// a read-only run uses the cache but never writes it.
    #[test]
    fn cache_is_written_only_when_it_changes_and_never_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache").join("c.json");
        let mut files: Vec<_> =
            (0..5).map(|i| make(dir.path(), &format!("f{i}"), format!("x{i}").as_bytes())).collect();

        // Read-only without a cache: everything read, nothing written.
        let (_, stats) = hash_files_with(&files, Some(&cache), CacheMode::ReadOnly, &Control::default()).unwrap();
        assert_eq!(stats.files_read, 5);
        assert!(!cache.exists() && !cache.parent().unwrap().exists());

        hash_files(&files, Some(&cache), &Control::default()).unwrap();
        // Mark the file: a rewrite would replace it.
        let marked = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, [&marked[..], b"\n"].concat()).unwrap();
        let (_, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!(stats.files_cached, 5);
        assert_eq!(std::fs::read(&cache).unwrap(), [&marked[..], b"\n"].concat(), "not rewritten");

        // Read-only with a cache: answered from it; a changed file is read, not stored.
        std::fs::write(&files[2].path, b"changed!").unwrap();
        files[2] = stat(dir.path(), "f2");
        let (_, stats) = hash_files_with(&files, Some(&cache), CacheMode::ReadOnly, &Control::default()).unwrap();
        assert_eq!((stats.files_read, stats.files_cached), (1, 4));
        assert_eq!(std::fs::read(&cache).unwrap(), [&marked[..], b"\n"].concat(), "read-only");

        // A file gone: the cache is rewritten without it.
        files.pop();
        hash_files(&files[..2], Some(&cache), &Control::default()).unwrap();
        let bytes = std::fs::read(&cache).unwrap();
        let c: CacheFile = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(c.entries.len(), 2);
    }

    #[test]
    fn cache_entries_are_matched_by_one_merge() {
        let files: Vec<SelectedFile> = ["a", "b/c", "b/d", "e"]
            .iter()
            .map(|r| SelectedFile { rel: r.to_string(), path: PathBuf::from(r), size: 1, mtime_ns: 1, file_id: None })
            .collect();
        let entry =
            |r: &'static str| CacheEntry { rel: r.into(), size: 1, mtime_ns: 1, file_id: None, blake3: H1.into() };
        // Sorted as parse_cache returns it; entries for files gone are skipped.
        let got = match_cache(&files, vec![entry("0"), entry("a"), entry("b/d"), entry("zz")]);
        let got: Vec<Option<&str>> = got.iter().map(|e| e.as_ref().map(|e| &*e.rel)).collect();
        assert_eq!(got, [Some("a"), None, Some("b/d"), None]);
    }

    #[test]
    fn changed_size_mtime_or_id_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache.json");
        let mut files: Vec<_> =
            (0..4).map(|i| make(dir.path(), &format!("f{i}"), format!("old{i}").as_bytes())).collect();
        hash_files(&files, Some(&cache), &Control::default()).unwrap();

        std::fs::write(&files[0].path, b"longer0").unwrap(); // size
        overwrite_keeping_stat(&files[1], b"new1");
        filetime::set_file_mtime(&files[1].path, FileTime::from_unix_time(1_000_000, 0)).unwrap(); // mtime
        files[0] = stat(dir.path(), "f0");
        files[1] = stat(dir.path(), "f1");
        files[2].file_id = Some(files[2].file_id.unwrap_or(0).wrapping_add(1)); // file id
        let (out, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!((stats.files_read, stats.files_cached), (3, 1));
        assert_eq!(stats.bytes_read, 7 + 4 + 4);
        assert_eq!(out[0].blake3, blake3::hash(b"longer0").to_hex().as_str());
        assert_eq!(out[1].blake3, blake3::hash(b"new1").to_hex().as_str());
    }

    #[test]
    fn corrupt_or_foreign_cache_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("statcache").join("x.json");
        let files = vec![make(dir.path(), "a", b"aaa")];
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        for junk in [&b"{not json"[..], b"", b"{\"version\":99,\"entries\":[]}", b"[1,2,3]"] {
            std::fs::write(&cache, junk).unwrap();
            let (out, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
            assert_eq!(stats.files_read, 1);
            assert_eq!(out[0].blake3, blake3::hash(b"aaa").to_hex().as_str());
        }
        // The last run rewrote it: now it serves.
        let (_, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!(stats.files_cached, 1);
        // Only the cache file is left in its folder (the temp file was renamed).
        assert_eq!(std::fs::read_dir(cache.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn cache_keeps_only_current_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c.json");
        let a = make(dir.path(), "a", b"a");
        let b = make(dir.path(), "b", b"b");
        hash_files(&[a.clone(), b], Some(&cache), &Control::default()).unwrap();
        hash_files(std::slice::from_ref(&a), Some(&cache), &Control::default()).unwrap();
        let bytes = std::fs::read(&cache).unwrap();
        let c: CacheFile = serde_json::from_slice(&bytes).unwrap();
        let rels: Vec<&str> = c.entries.iter().map(|e| &*e.rel).collect();
        assert_eq!(rels, ["a"]);
    }

    #[test]
    fn racily_clean_files_are_not_trusted_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c.json");
        let path = dir.path().join("fresh");
        std::fs::write(&path, b"one").unwrap(); // mtime: now
        let fresh = stat(dir.path(), "fresh");
        hash_files(std::slice::from_ref(&fresh), Some(&cache), &Control::default()).unwrap();
        overwrite_keeping_stat(&fresh, b"two");
        let (out, stats) = hash_files(std::slice::from_ref(&fresh), Some(&cache), &Control::default()).unwrap();
        assert_eq!(stats.files_read, 1);
        assert_eq!(out[0].blake3, blake3::hash(b"two").to_hex().as_str());
    }

    #[test]
    fn forgotten_files_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c.json");
        let files = [make(dir.path(), "a", b"one"), make(dir.path(), "b", b"uno")];
        hash_files(&files, Some(&cache), &Control::default()).unwrap();
        overwrite_keeping_stat(&files[0], b"two");
        overwrite_keeping_stat(&files[1], b"dos");
        forget_cached(&cache, &["a".to_string()]);
        let (out, stats) = hash_files(&files, Some(&cache), &Control::default()).unwrap();
        assert_eq!((stats.files_read, stats.files_cached), (1, 1));
        assert_eq!(hashes(&out), [blake3::hash(b"two").to_hex().as_str(), blake3::hash(b"uno").to_hex().as_str()]);
    }

    #[test]
    fn large_files_use_the_mmap_path() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..MMAP_THRESHOLD + 12345).map(|i| (i % 251) as u8).collect();
        let f = make(dir.path(), "big.bin", &body);
        let (out, stats) = hash_files(&[f], None, &Control::default()).unwrap();
        assert_eq!(out[0].blake3, blake3::hash(&body).to_hex().as_str());
        assert_eq!(stats.bytes_read, body.len() as u64);
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = make(dir.path(), "gone", b"x");
        std::fs::remove_file(&f.path).unwrap();
        f.rel = "gone".into();
        let err = hash_files(&[f], None, &Control::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("gone"), "{}", err.message);
    }

    #[test]
    fn cancel_returns_cancelled_and_leaves_the_cache_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c.json");
        let files: Vec<_> = (0..50).map(|i| make(dir.path(), &format!("f{i}"), b"x")).collect();
        let control = Control::default();
        control.cancel();
        let err = hash_files(&files, Some(&cache), &control).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Cancelled);
        assert!(!cache.exists());
    }
}
