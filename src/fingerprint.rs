//! BLAKE3 of every selected file and one tree fingerprint over the sorted
//! (path, hash) pairs. A per-source stat cache (size, mtime, file id -> hash)
//! lets an unchanged repository cost a directory walk, not a re-read.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::progress::{Control, Phase};
use crate::select::SelectedFile;
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
    let mut h = blake3::Hasher::new();
    for (rel, hash) in files {
        h.update(rel.as_bytes());
        h.update(b"\0");
        h.update(hash.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// Where the stat cache of `source` lives under `cache_dir`:
/// `<cache_dir>/statcache/<first 32 hex of BLAKE3(canonical source path)>.json`.
pub fn stat_cache_path(cache_dir: &Path, source: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let hex = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
    cache_dir.join("statcache").join(format!("{}.json", &hex[..32]))
}

/// Files at least this big are hashed with blake3's multi-threaded mmap path.
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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<CacheEntry>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    rel: String,
    size: u64,
    mtime_ns: i128,
    file_id: Option<u64>,
    blake3: String,
}

/// The cache at `path`, keyed by rel; anything unreadable or malformed
/// counts as no cache (it is only an optimisation).
fn load_cache(path: &Path) -> HashMap<String, CacheEntry> {
    let Ok(bytes) = std::fs::read(path) else { return HashMap::new() };
    match serde_json::from_slice::<CacheFile>(&bytes) {
        Ok(c) if c.version == CACHE_VERSION => c
            .entries
            .into_iter()
            .filter(|e| e.blake3.len() == 64 && e.blake3.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|e| (e.rel.clone(), e))
            .collect(),
        _ => HashMap::new(),
    }
}

/// Write the cache atomically: a temp file in the same folder, then rename.
/// Best effort: a cache that cannot be written costs a re-read next time,
/// never a failed backup.
fn store_cache(path: &Path, cache: &CacheFile) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        serde_json::to_writer(&mut w, cache)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Read and hash one file; returns the hex hash and the bytes read.
fn hash_one(file: &SelectedFile, buf: &mut [u8]) -> std::io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    if file.size >= MMAP_THRESHOLD {
        hasher.update_mmap_rayon(&file.path)?;
        return Ok((hasher.finalize().to_hex().to_string(), hasher.count()));
    }
    let mut f = std::fs::File::open(&file.path)?;
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
    let old = cache.map(load_cache).unwrap_or_default();
    let started = SystemTime::now();
    let total_bytes = files.iter().map(|f| f.size).sum();
    control.begin(Phase::Hashing, files.len() as u64, total_bytes);

    // Per file: the hash and, when it was read, how many bytes.
    let results: Vec<(String, Option<u64>)> = files
        .par_iter()
        .enumerate()
        .map_init(
            || vec![0u8; BUF_SIZE],
            |buf, (i, f)| -> Result<(String, Option<u64>)> {
                control.check()?;
                if let Some(e) = old.get(&f.rel) {
                    if e.size == f.size && e.mtime_ns == f.mtime_ns && e.file_id == f.file_id {
                        control.advance(1, f.size);
                        return Ok((e.blake3.clone(), None));
                    }
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
    for (_, read) in &results {
        match read {
            Some(n) => {
                stats.files_read += 1;
                stats.bytes_read += n;
            }
            None => stats.files_cached += 1,
        }
    }

    if let Some(path) = cache {
        let racy_from = started
            .checked_sub(RACY_MARGIN)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(i128::MIN, |d| d.as_nanos() as i128);
        let entries = files
            .iter()
            .zip(&results)
            .filter(|(f, _)| f.mtime_ns < racy_from)
            .map(|(f, (hash, _))| CacheEntry {
                rel: f.rel.clone(),
                size: f.size,
                mtime_ns: f.mtime_ns,
                file_id: f.file_id,
                blake3: hash.clone(),
            })
            .collect();
        // Best effort, see store_cache.
        let _ = store_cache(path, &CacheFile { version: CACHE_VERSION, entries });
    }

    let hashed = files
        .iter()
        .zip(results)
        .map(|(f, (blake3, _))| HashedFile { file: f.clone(), blake3 })
        .collect();
    Ok((hashed, stats))
}
