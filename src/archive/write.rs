use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;

use crate::fingerprint::HashedFile;
use crate::progress::{Control, Phase};
use crate::{Error, ErrorKind, Result};

use super::format::{
    local_header_bytes, needs_zip64, wants_alignment, EntryMeta, ZipOut, ALIGN, METHOD_DEFLATE, METHOD_STORED,
    METHOD_ZSTD, S_IFDIR, S_IFLNK, ZIP64_STREAM_THRESHOLD,
};
use super::previous::{PrevEntry, Previous, CHUNK};
use super::{ManifestJson, ManifestOf, MANIFEST_NAME};
use crate::fanout::Fanout;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Deflate: opens everywhere (Explorer, unzip, Expand-Archive).
    #[default]
    Deflate,
    Zstd,
    Store,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveOptions {
    pub compression: Compression,
    /// Compression level; None = the method's default.
    pub level: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveStats {
    pub archive_bytes: u64,
    pub entries_stored: u64,
    pub entries_compressed: u64,
    /// Entries reused from the previous archive without recompression: its
    /// compressed bytes copied raw, or, for a stored entry, the file's own
    /// bytes checked against its CRC.
    pub entries_reused: u64,
    /// Bytes of the archive cloned from the previous backup instead of
    /// written (block cloning, see [`crate::fanout::reflink`]).
    #[serde(default)]
    pub bytes_cloned: u64,
    /// Per file (same order), the BLAKE3 learned for files given without
    /// one; empty when every file had its hash.
    #[serde(skip)]
    pub hashes_learned: Vec<String>,
}

/// Files above this size are streamed by the writer, never held in memory.
const LARGE: u64 = 8 << 20;
/// Entries stored as they are (by name, or reused raw from the previous
/// archive) above this size are streamed by the writer too: nothing to
/// compress, so nothing gained by holding them.
const STREAM_STORED: u64 = 1 << 20;
/// Bytes of input the look-ahead may hold (compressed on the pool, not yet
/// written). With per-worker scratch buffers and streamed large files, this
/// bounds the writer's memory to a few tens of MiB for any tree.
const WINDOW_BYTES: u64 = 32 << 20;
/// Of which entries reused raw from the previous archive may hold this much.
const REUSE_WINDOW_BYTES: u64 = 8 << 20;
/// Per-worker scratch buffers above this capacity are released after use.
const KEEP_SCRATCH: usize = 1 << 20;
/// Entries the look-ahead may hold.
const WINDOW_ENTRIES: usize = 4096;

/// Extensions whose content is already compressed: stored without trying.
const STORE_EXTENSIONS: &[&str] = &[
    "pack", "zip", "gz", "tgz", "xz", "txz", "zst", "bz2", "tbz2", "lz", "lz4", "lzma", "7z", "rar", "cab", "jar",
    "war", "ear", "whl", "egg", "nupkg", "vsix", "apk", "aar", "ipa", "deb", "rpm", "dmg", "png", "jpg", "jpeg", "gif",
    "webp", "avif", "heic", "heif", "jxl", "mp3", "mp4", "m4a", "m4v", "aac", "ogg", "opus", "flac", "mkv", "avi",
    "mov", "webm", "wmv", "pdf", "woff", "woff2", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "br", "sz",
    "parquet",
];

fn store_by_name(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => STORE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}

/// How entries are compressed, resolved once from the options.
#[derive(Debug, Clone, Copy)]
struct Policy {
    method: u16,
    level: i32,
    /// Files above this size are streamed ([`LARGE`]; smaller in tests).
    large: u64,
}

impl Policy {
    fn new(opts: &ArchiveOptions) -> Result<Policy> {
        Ok(match opts.compression {
            Compression::Store => Policy { method: METHOD_STORED, level: 0, large: LARGE },
            Compression::Deflate => match opts.level {
                Some(0) => Policy { method: METHOD_STORED, level: 0, large: LARGE },
                Some(l) if !(1..=12).contains(&l) => {
                    return Err(Error::invalid(format!("level: deflate takes 0..=12, not {l}")))
                }
                l => Policy { method: METHOD_DEFLATE, level: l.unwrap_or(6), large: LARGE },
            },
            Compression::Zstd => match opts.level {
                Some(l) if !(1..=22).contains(&l) => {
                    return Err(Error::invalid(format!("level: zstd takes 1..=22, not {l}")))
                }
                l => Policy { method: METHOD_ZSTD, level: l.unwrap_or(3), large: LARGE },
            },
        })
    }

    /// Stored without trying to compress: nothing to gain.
    fn stores_outright(&self, rel: &str, size: u64) -> bool {
        self.method == METHOD_STORED || size == 0 || store_by_name(rel)
    }

    /// Compress `data`; None when it saves less than 2 % (store it instead).
    fn compress(&self, data: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.compress_into(data, &mut out)?.map(|n| {
            out.truncate(n);
            out
        }))
    }

    /// Compress `data` into `out` (grown as needed, never shrunk, so a reused
    /// buffer is not zeroed again); the compressed length, or None when it
    /// saves less than 2 %.
    fn compress_into(&self, data: &[u8], out: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let n = match self.method {
            METHOD_DEFLATE => {
                thread_local! {
                    static DEFLATERS: std::cell::RefCell<Vec<(i32, libdeflater::Compressor)>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                DEFLATERS.with(|c| -> io::Result<usize> {
                    let mut cache = c.borrow_mut();
                    let i = match cache.iter().position(|(l, _)| *l == self.level) {
                        Some(i) => i,
                        None => {
                            let lvl = libdeflater::CompressionLvl::new(self.level)
                                .map_err(|_| io::Error::other("bad deflate level"))?;
                            cache.push((self.level, libdeflater::Compressor::new(lvl)));
                            cache.len() - 1
                        }
                    };
                    let comp = &mut cache[i].1;
                    let bound = comp.deflate_compress_bound(data.len());
                    if out.len() < bound {
                        out.resize(bound, 0);
                    }
                    comp.deflate_compress(data, &mut out[..bound]).map_err(io::Error::other)
                })?
            }
            METHOD_ZSTD => {
                let bound = zstd::zstd_safe::compress_bound(data.len());
                if out.len() < bound {
                    out.resize(bound, 0);
                }
                zstd::bulk::compress_to_buffer(data, &mut out[..bound], self.level)?
            }
            _ => return Ok(None),
        };
        let worth = (n as u64) < data.len() as u64 - data.len() as u64 / 50;
        Ok(worth.then_some(n))
    }
}

/// One entry ready to be appended: what goes after its local header.
struct Prepared {
    method: u16,
    crc: u32,
    data: Vec<u8>,
    mode: u32,
    reused: bool,
    /// The file's BLAKE3 when it was given without one.
    learned: Option<String>,
}

/// Append one entry whose bytes were prepared in memory (compressed or reused).
fn write_prepared<W: Write>(zip: &mut ZipOut<W>, f: &HashedFile, p: &Prepared) -> std::io::Result<()> {
    let meta = EntryMeta {
        name: f.file.rel.clone(),
        method: p.method,
        crc: p.crc,
        compressed: p.data.len() as u64,
        size: f.file.size,
        mtime: mtime_secs(f.file.mtime_ns),
        mode: p.mode,
    };
    zip.entry(&meta, &p.data, wants_alignment(&f.file.rel, f.file.size))
}

fn changed(path: &Path) -> Error {
    Error::new(ErrorKind::SourceChanged, format!("'{}' changed during backup", path.display()))
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o100755
    } else {
        0o100644
    }
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o100644
}

thread_local! {
    /// Per-worker scratch: the file's bytes and the compressor's output.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Fill `buf` as far as `file` allows; the bytes read.
fn read_full(mut file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read, hash and compress one file that fits in memory (on a pool thread).
/// The file is read into the worker's reused scratch buffer (no fresh pages
/// to fault in and zero per file); only the result is copied out.
fn prepare(f: &HashedFile, policy: Policy, reuse: Option<(&Previous, &PrevEntry)>) -> Result<Prepared> {
    let path = &f.file.path;
    // A stored entry is the file's bytes: read from the file and checked
    // against the previous entry's CRC (see `write_reused`).
    let stored_crc = reuse.and_then(|(_, e)| (e.method == METHOD_STORED).then_some(e.crc));
    if let Some((p, e)) = reuse.filter(|_| stored_crc.is_none()) {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
        if meta.len() != f.file.size {
            return Err(changed(path));
        }
        let fetched = SCRATCH.with(|scratch| {
            let out = &mut scratch.borrow_mut().1;
            let data = p.fetch(e, &f.file.rel, out);
            if out.capacity() > KEEP_SCRATCH {
                *out = Vec::new();
            }
            data
        });
        if let Some(data) = fetched {
            return Ok(Prepared {
                method: e.method,
                crc: e.crc,
                data,
                mode: file_mode(&meta),
                reused: true,
                learned: None,
            });
        }
    }
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mode = file_mode(&file.metadata().map_err(|e| Error::io("read", path, e))?);
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (input, output) = &mut *scratch;
        let size = f.file.size as usize;
        // One byte more than expected: a file that grew is caught.
        if input.len() < size + 1 {
            input.resize(size + 1, 0);
        }
        let result = (|| {
            let n = read_full(&file, &mut input[..size + 1]).map_err(|e| Error::io("read", path, e))?;
            let data = &input[..n];
            if n != size {
                return Err(changed(path));
            }
            if let Some(crc) = stored_crc {
                if crc32fast::hash(data) != crc {
                    return Err(changed(path));
                }
                return Ok(Prepared {
                    method: METHOD_STORED,
                    crc,
                    data: data.to_vec(),
                    mode,
                    reused: true,
                    learned: None,
                });
            }
            let learned = learn_or_check(f, blake3::hash(data))?;
            let crc = crc32fast::hash(data);
            if !policy.stores_outright(&f.file.rel, f.file.size) {
                if let Some(c) = policy.compress_into(data, output).map_err(|e| Error::io("compress", path, e))? {
                    let data = output[..c].to_vec();
                    return Ok(Prepared { method: policy.method, crc, data, mode, reused: false, learned });
                }
            }
            Ok(Prepared { method: METHOD_STORED, crc, data: data.to_vec(), mode, reused: false, learned })
        })();
        if input.capacity() > KEEP_SCRATCH {
            *input = Vec::new();
        }
        if output.capacity() > KEEP_SCRATCH {
            *output = Vec::new();
        }
        result
    })
}

/// The header of file `f` (on disk: `meta`) whose compressed bytes are the
/// previous archive's entry `e`, reused or cloned as they are.
fn reused_meta(f: &HashedFile, e: &PrevEntry, meta: &std::fs::Metadata) -> EntryMeta {
    EntryMeta {
        name: f.file.rel.clone(),
        method: e.method,
        crc: e.crc,
        compressed: e.compressed,
        size: f.file.size,
        mtime: mtime_secs(f.file.mtime_ns),
        mode: file_mode(meta),
    }
}

/// Copy an entry of the previous archive raw into the archive, streamed. Ok(false) when the entry cannot be
/// reused after all (nothing written then).
fn write_reused(
    zip: &mut Out<'_>,
    f: &HashedFile,
    prev: &Previous,
    e: &PrevEntry,
    out: &Path,
    buf: &mut Vec<u8>,
) -> Result<bool> {
    let path = &f.file.path;
    let io_out = |e| Error::io("write", out, e);
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if meta.len() != f.file.size {
        return Err(changed(path));
    }
    let Some((start, zip64)) = prev.locate(e, &f.file.rel) else { return Ok(false) };
    let from_source = e.method == METHOD_STORED;
    if !from_source && !prev.content_ok(e, start, buf) {
        return Ok(false);
    }
    let entry = reused_meta(f, e, &meta);
    zip.local_header(&entry, zip64, wants_alignment(&f.file.rel, f.file.size)).map_err(io_out)?;
    if from_source {
        // A stored entry's bytes are the file's own: read them from the
        // file, which is on the drive being backed up and often cached,
        // rather than back from the destination (the cold read that bounded
        // a changed run). Its CRC must match the previous entry's, whose
        // content the manifest vouches for.
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut crc = crc32fast::Hasher::new();
        let copied = zip.inner().copy_inspecting(&file, 0, e.size, |bytes| crc.update(bytes));
        if let Err(err) = copied {
            return Err(match err.kind() {
                _ if !zip.inner().any_alive() => io_out(err),
                io::ErrorKind::UnexpectedEof => changed(path),
                _ => Error::io("read", path, err),
            });
        }
        if crc.finalize() != e.crc || file.metadata().map(|m| m.len()).ok() != Some(e.size) {
            return Err(changed(path));
        }
        zip.add_offset(e.compressed);
        return Ok(true);
    }
    zip.inner().copy_from(&prev.file, start, e.compressed).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => {
            Error::new(ErrorKind::Io, "the previous backup changed while its entries were reused".to_string())
        }
        _ => io_out(err),
    })?;
    zip.add_offset(e.compressed);
    Ok(true)
}

/// A stretch of the new archive from `new_at` (its end is the writer's
/// offset) that is the previous archive's bytes from `old_at`, at the same
/// place in a block (`new_at` and `old_at` congruent modulo [`ALIGN`]), not
/// yet handed to the sink.
struct CloneRun {
    new_at: u64,
    old_at: u64,
}

/// Account an unchanged entry of the previous backup as cloned when its
/// bytes can be: its header is the one this writer makes and it follows the
/// previous entry of the stretch there (the stretch goes on), or the
/// header or the data sit at the same place in a block as there (a new
/// stretch starts). Nothing is read but the old header: the manifest vouches
/// for the content (same path, size, BLAKE3), as for any reused entry, and
/// `-Verify` reads the result. False when the entry must be written.
/// `in_memory`: the entry is one a fresh build keeps in memory (its
/// header's ZIP64 field follows its sizes), not streamed (as the previous
/// header).
#[allow(clippy::too_many_arguments)]
fn clone_entry(
    zip: &mut Out<'_>,
    f: &HashedFile,
    prev: &Previous,
    e: &PrevEntry,
    in_memory: bool,
    run: &mut Option<CloneRun>,
    cloned: &mut u64,
    out: &Path,
) -> Result<bool> {
    let path = &f.file.path;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if meta.len() != f.file.size {
        return Err(changed(path));
    }
    let Some((start, old_zip64, old_header)) = prev.local(e, &f.file.rel) else { return Ok(false) };
    let entry = reused_meta(f, e, &meta);
    let zip64 = if in_memory { needs_zip64(&entry) } else { old_zip64 };
    let align = wants_alignment(&f.file.rel, f.file.size);
    let at = zip.offset();
    let header = local_header_bytes(&entry, zip64, align, at);
    let same_header = header == old_header;
    let goes_on = run.as_ref().is_some_and(|r| r.old_at + (at - r.new_at) == e.header);
    if same_header && goes_on {
        zip.skip_entry(&entry, zip64, header.len() as u64);
        return Ok(true);
    }
    let data_at = at + header.len() as u64;
    if same_header && at % ALIGN == e.header % ALIGN {
        *cloned += flush_run(zip, run, Some(prev), out)?;
        *run = Some(CloneRun { new_at: at, old_at: e.header });
        zip.skip_entry(&entry, zip64, header.len() as u64);
        return Ok(true);
    }
    if data_at % ALIGN == start % ALIGN {
        *cloned += flush_run(zip, run, Some(prev), out)?;
        zip.local_header(&entry, zip64, align).map_err(|e| Error::io("write", out, e))?;
        *run = Some(CloneRun { new_at: data_at, old_at: start });
        zip.add_offset(e.compressed);
        return Ok(true);
    }
    Ok(false)
}

/// Hand the stretch of `run` to the sink: its whole blocks cloned from the
/// previous backup, its partial first and last block copied from it. The
/// bytes cloned.
fn flush_run(zip: &mut Out<'_>, run: &mut Option<CloneRun>, prev: Option<&Previous>, out: &Path) -> Result<u64> {
    let (Some(r), Some(prev)) = (run.take(), prev) else { return Ok(0) };
    let end = zip.offset();
    let head_end = r.new_at.next_multiple_of(ALIGN).min(end);
    let tail_at = (end - end % ALIGN).max(head_end);
    let old = |n: u64| r.old_at + (n - r.new_at);
    let sink = zip.inner();
    debug_assert_eq!(sink.position(), r.new_at);
    let io_err = |err: io::Error| match err.kind() {
        io::ErrorKind::UnexpectedEof => {
            Error::new(ErrorKind::Io, "the previous backup changed while its entries were reused".to_string())
        }
        _ => Error::io("write", out, err),
    };
    sink.copy_from(&prev.file, old(r.new_at), head_end - r.new_at).map_err(io_err)?;
    sink.clone_range(old(head_end), tail_at - head_end).map_err(io_err)?;
    sink.copy_from(&prev.file, old(tail_at), end - tail_at).map_err(io_err)?;
    Ok(tail_at - head_end)
}

fn mtime_secs(mtime_ns: i128) -> i64 {
    mtime_ns.div_euclid(1_000_000_000).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Counts bytes written through it.
struct Counting<'a, W: Write> {
    w: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

type Out<'a> = ZipOut<&'a mut Fanout>;

/// Stream one large file into the archive: one read, hashed, CRC'd and
/// compressed chunk by chunk; the header is patched with CRC and size after.
fn write_large(
    zip: &mut Out<'_>,
    f: &HashedFile,
    policy: Policy,
    control: &Control,
    out: &Path,
    buf: &mut Vec<u8>,
) -> Result<(u16, Option<String>)> {
    let path = &f.file.path;
    let io_out = |e| Error::io("write", out, e);
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mode = file_mode(&file.metadata().map_err(|e| Error::io("read", path, e))?);
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let buf = &mut buf[..CHUNK];
    let read_chunk = |file: &File, buf: &mut [u8]| read_full(file, buf).map_err(|e| Error::io("read", path, e));
    let mut len = read_chunk(&file, buf)?;
    let method = if policy.stores_outright(&f.file.rel, f.file.size) {
        METHOD_STORED
    } else if policy.compress(&buf[..len]).map_err(|e| Error::io("compress", path, e))?.is_some() {
        policy.method
    } else {
        METHOD_STORED
    };
    let meta = EntryMeta {
        name: f.file.rel.clone(),
        method,
        crc: 0,
        compressed: 0,
        size: f.file.size,
        mtime: mtime_secs(f.file.mtime_ns),
        mode,
    };
    let header = zip
        .local_header(&meta, f.file.size >= ZIP64_STREAM_THRESHOLD, wants_alignment(&f.file.rel, f.file.size))
        .map_err(io_out)?;
    let mut hasher = blake3::Hasher::new();
    let mut crc = crc32fast::Hasher::new();
    let mut total = 0u64;
    let mut sink = Counting { w: zip.inner(), n: 0 };
    let mut enc = Encoder::new(&mut sink, method, policy.level).map_err(io_out)?;
    while len > 0 {
        control.check()?;
        let chunk = &buf[..len];
        hasher.update(chunk);
        crc.update(chunk);
        total += len as u64;
        if total > f.file.size {
            return Err(changed(path));
        }
        enc.write_all(chunk).map_err(io_out)?;
        control.advance(0, len as u64);
        len = read_chunk(&file, buf)?;
    }
    enc.finish().map_err(io_out)?;
    let compressed = sink.n;
    if total != f.file.size {
        return Err(changed(path));
    }
    let learned = learn_or_check(f, hasher.finalize())?;
    zip.add_offset(compressed);
    zip.patch_streamed(header, crc.finalize(), compressed).map_err(io_out)?;
    Ok((method, learned))
}

/// The hash of what was read of `f`: checked against its BLAKE3 (a
/// mismatch means it changed since hashing), or learned when it had none.
fn learn_or_check(f: &HashedFile, read: blake3::Hash) -> Result<Option<String>> {
    let hex = read.to_hex();
    match f.blake3.as_str() {
        "" => Ok(Some(hex.to_string())),
        known if known == hex.as_str() => Ok(None),
        _ => Err(changed(&f.file.path)),
    }
}

/// Write the archive of `manifest.files` (plus the manifest as the last
/// entry) to the file `out`, replacing it, and flush it to its disk. When
/// `previous` is an archive of ours, entries whose BLAKE3 is unchanged are
/// copied raw from it. Checks `control` for cancel between entries.
pub fn write_archive(
    out: &Path,
    manifest: &ManifestOf,
    opts: &ArchiveOptions,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    write_file(out, manifest, Policy::new(opts)?, previous, control)
}

fn write_file(
    out: &Path,
    manifest: &ManifestOf,
    policy: Policy,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    let mut target = crate::fanout::open(out, false).map_err(|e| Error::io("create", out, e))?;
    if let Some(prev) = previous {
        // Unchanged stretches cloned from it where the file system can.
        let _ = File::open(prev).and_then(|f| target.clone_from(f));
    }
    let mut sink = Fanout::new(vec![target]);
    let stats = write_with(&mut sink, out, manifest, policy, previous, control)?;
    for done in sink.finish() {
        done.map_err(|e| Error::io("write", out, e))?;
    }
    Ok(stats)
}

/// [`write_archive`] into `sink` (every destination at once); `out` names
/// it in errors. The caller finishes the sink; an error here may come from
/// the sink having no file left to write.
pub fn write_archive_to(
    sink: &mut Fanout,
    out: &Path,
    manifest: &ManifestOf,
    opts: &ArchiveOptions,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    write_with(sink, out, manifest, Policy::new(opts)?, previous, control)
}

fn write_with(
    sink: &mut Fanout,
    out: &Path,
    manifest: &ManifestOf,
    policy: Policy,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    let files = manifest.files;
    let total_bytes: u64 = files.iter().map(|f| f.file.size).sum();
    control.begin(Phase::Compressing, files.len() as u64, total_bytes);
    // Reuse only what a fresh build would produce with this policy.
    let fits = |name: &str, method: u16, size: u64| {
        method == policy.method || (method == METHOD_STORED && policy.stores_outright(name, size))
    };
    let prev = previous.and_then(|p| Previous::open(p, files, fits));
    let prev = prev.as_ref();
    // Unchanged entries are cloned from the previous backup where every
    // destination can (see `clone_entry`): left to the writer, never read.
    let cloning = prev.is_some() && sink.can_clone();

    let mut zip = ZipOut::new(sink);
    let mut stats = ArchiveStats::default();
    let stop = AtomicBool::new(false);
    // Which entries the writer streams itself (reused raw or read in chunks)
    // instead of having them prepared in memory on the pool.
    let reuse_of = |i: usize| prev.and_then(|p| Some((p, p.entry(i)?)));
    let streamed: Vec<bool> = (0..files.len())
        .map(|i| {
            let f = &files[i].file;
            match reuse_of(i) {
                Some((_, e)) => e.compressed > STREAM_STORED,
                None => f.size > policy.large || (f.size > STREAM_STORED && policy.stores_outright(&f.rel, f.size)),
            }
        })
        .collect();
    let is_large = |i: usize| streamed[i] || (cloning && reuse_of(i).is_some());
    let mut run: Option<CloneRun> = None;
    let cost = |i: usize| match (is_large(i), reuse_of(i)) {
        (true, _) => 0,
        // Only its compressed bytes are held, and preparing it (a read and a
        // decode to check the CRC) is quick: it needs far less look-ahead.
        // Without this a changed run, whose writer waits on the disk, keeps
        // the whole window full (29 MiB of a 2 GB tree's peak).
        (false, Some((_, e))) => (e.compressed + 512) * (WINDOW_BYTES / REUSE_WINDOW_BYTES),
        (false, None) => files[i].file.size + 512,
    };
    let mut chunk_buf = Vec::new();
    // Hashes of files given without one, by index (allocated on the first).
    let mut hashes_learned: Vec<String> = Vec::new();
    // With every hash known the manifest does not depend on the entries: it
    // is encoded on the pool once the last entry is handed out, beside the
    // writer's tail, instead of after it (a changed run of 17k files: 55 ms).
    let hashes_known = files.iter().all(|f| !f.blake3.is_empty());
    let early_manifest: std::sync::Mutex<Option<io::Result<(u16, Encoded)>>> = std::sync::Mutex::new(None);
    // Folders and links go between the files, so every entry is in name order.
    let mut others = other_entries(manifest).into_iter().peekable();

    let result = rayon::in_place_scope_fifo(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<(usize, Result<Prepared>)>();
        let mut ready: HashMap<usize, Result<Prepared>> = HashMap::new();
        let mut next = 0usize;
        let mut inflight = 0u64;
        let on_pool = rayon::current_thread_index().is_some();
        let mut manifest_started = false;
        for i in 0..files.len() {
            while next < files.len()
                && next - i < WINDOW_ENTRIES
                && (next == i || inflight + cost(next) <= WINDOW_BYTES)
            {
                if !is_large(next) {
                    let tx = tx.clone();
                    let (f, stop) = (&files[next], &stop);
                    let idx = next;
                    scope.spawn_fifo(move |_| {
                        let r = if stop.load(Relaxed) {
                            Err(Error::cancelled())
                        } else {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(f, policy, reuse_of(idx))))
                                .unwrap_or_else(|_| {
                                    Err(Error::new(
                                        ErrorKind::Io,
                                        format!("'{}': compression failed", f.file.path.display()),
                                    ))
                                })
                        };
                        let _ = tx.send((idx, r));
                    });
                    inflight += cost(next);
                }
                next += 1;
            }
            if hashes_known && !manifest_started && next == files.len() {
                manifest_started = true;
                let (early, stop) = (&early_manifest, &stop);
                scope.spawn_fifo(move |_| {
                    if !stop.load(Relaxed) {
                        let json = ManifestJson { of: manifest, fingerprint: &manifest.fingerprint, learned: &[] };
                        let encoded = encode_manifest(&json, policy);
                        *early.lock().unwrap_or_else(|e| e.into_inner()) = Some(encoded);
                    }
                });
            }
            let f = &files[i];
            let fail = |e: Error| {
                stop.store(true, Relaxed);
                e
            };
            while let Some(o) = others.next_if(|o| o.name.as_str() < f.file.rel.as_str()) {
                stats.bytes_cloned += flush_run(&mut zip, &mut run, prev, out).map_err(fail)?;
                write_other(&mut zip, &o).map_err(|e| fail(Error::io("write", out, e)))?;
            }
            control.check().map_err(fail)?;
            control.set_current(&f.file.rel);
            let cloned = match reuse_of(i).filter(|_| cloning) {
                Some((p, e)) => clone_entry(&mut zip, f, p, e, !streamed[i], &mut run, &mut stats.bytes_cloned, out)
                    .map_err(fail)?,
                None => false,
            };
            if !cloned {
                stats.bytes_cloned += flush_run(&mut zip, &mut run, prev, out).map_err(fail)?;
            }
            let (method, learned) = if cloned {
                let e = reuse_of(i).expect("cloned entries are reused").1;
                stats.entries_reused += 1;
                control.advance(0, f.file.size);
                (e.method, None)
            } else if is_large(i) {
                let reused = match reuse_of(i) {
                    Some((p, e)) => {
                        write_reused(&mut zip, f, p, e, out, &mut chunk_buf).map_err(fail)?.then_some(e.method)
                    }
                    None => None,
                };
                match reused {
                    Some(m) => {
                        stats.entries_reused += 1;
                        control.advance(0, f.file.size);
                        (m, None)
                    }
                    // Not reusable after all: built as a fresh run would.
                    None if f.file.size <= policy.large && reuse_of(i).is_some() => {
                        let p = prepare(f, policy, None).map_err(fail)?;
                        write_prepared(&mut zip, f, &p).map_err(|e| fail(Error::io("write", out, e)))?;
                        control.advance(0, f.file.size);
                        (p.method, p.learned)
                    }
                    None => write_large(&mut zip, f, policy, control, out, &mut chunk_buf).map_err(fail)?,
                }
            } else {
                let p = loop {
                    if let Some(r) = ready.remove(&i) {
                        break r;
                    }
                    let got = if on_pool {
                        // Never block a pool thread: help with the work instead.
                        match rx.try_recv() {
                            Ok(x) => Some(x),
                            Err(_) => {
                                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                                    rx.recv_timeout(std::time::Duration::from_millis(1)).ok()
                                } else {
                                    None
                                }
                            }
                        }
                    } else {
                        rx.recv().ok()
                    };
                    if let Some((j, r)) = got {
                        ready.insert(j, r);
                    }
                };
                inflight -= cost(i);
                let p = p.map_err(fail)?;
                write_prepared(&mut zip, f, &p).map_err(|e| fail(Error::io("write", out, e)))?;
                stats.entries_reused += p.reused as u64;
                control.advance(0, f.file.size);
                (p.method, p.learned)
            };
            if let Some(hash) = learned {
                if hashes_learned.is_empty() {
                    hashes_learned.resize(files.len(), String::new());
                }
                hashes_learned[i] = hash;
            }
            if method == METHOD_STORED {
                stats.entries_stored += 1;
            } else {
                stats.entries_compressed += 1;
            }
            control.advance(1, 0);
        }
        Ok(())
    });
    result?;
    stats.bytes_cloned += flush_run(&mut zip, &mut run, prev, out)?;
    for o in others {
        write_other(&mut zip, &o).map_err(|e| Error::io("write", out, e))?;
    }
    control.check()?;

    // The manifest, last: deterministic time (the newest file's), plain mode.
    let newest = files.iter().map(|f| f.file.mtime_ns).max().unwrap_or(0);
    let mut json = ManifestJson { of: manifest, fingerprint: &manifest.fingerprint, learned: &hashes_learned };
    let learned_fingerprint = (!hashes_learned.is_empty()).then(|| {
        let json = &json;
        crate::fingerprint::fingerprint_with_others(
            files.iter().enumerate().map(|(i, f)| (f.file.rel.as_str(), json.blake3(i))),
            manifest.dirs,
            manifest.links,
        )
    });
    if let Some(fingerprint) = &learned_fingerprint {
        json.fingerprint = fingerprint;
    }
    let early = early_manifest.into_inner().unwrap_or_else(|e| e.into_inner());
    let (method, encoded) = early
        .unwrap_or_else(|| encode_manifest(&json, policy))
        .map_err(|e| Error::io("write the manifest of", out, e))?;
    let meta = EntryMeta {
        name: MANIFEST_NAME.to_string(),
        method,
        crc: encoded.crc,
        compressed: encoded.data.len() as u64,
        size: encoded.size,
        mtime: mtime_secs(newest),
        mode: 0o100644,
    };
    let data = encoded.data;
    zip.entry(&meta, &data, false).map_err(|e| Error::io("write", out, e))?;
    let comment = super::archive_comment(json.fingerprint, manifest.origin.as_ref());
    let (_, len) = zip.finish(comment.as_bytes()).map_err(|e| Error::io("write", out, e))?;
    stats.archive_bytes = len;
    stats.hashes_learned = hashes_learned;
    Ok(stats)
}

/// A folder or link entry: its bytes (none, or the link's target) are in
/// the manifest already, so it is written as it comes, stored.
struct Other<'a> {
    /// The entry name: a folder's ends in `/`.
    name: String,
    mode: u32,
    data: &'a [u8],
    mtime_ns: i128,
}

/// The folder and link entries of `manifest`, in name order.
fn other_entries<'a>(manifest: &'a ManifestOf) -> Vec<Other<'a>> {
    let dirs = manifest.dirs.iter().map(|d| Other {
        name: format!("{}/", d.rel),
        mode: S_IFDIR | 0o755,
        data: b"",
        mtime_ns: d.mtime_ns,
    });
    // A link's mode is lrwxrwxrwx, as `ls` shows it and Info-ZIP stores it.
    let links = manifest.links.iter().map(|l| Other {
        name: l.rel.clone(),
        mode: S_IFLNK | 0o777,
        data: l.target.as_bytes(),
        mtime_ns: l.mtime_ns,
    });
    let mut all: Vec<Other> = dirs.chain(links).collect();
    all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    all
}

fn write_other<W: Write>(zip: &mut ZipOut<W>, o: &Other) -> io::Result<()> {
    let meta = EntryMeta {
        name: o.name.clone(),
        method: METHOD_STORED,
        crc: crc32fast::hash(o.data),
        compressed: o.data.len() as u64,
        size: o.data.len() as u64,
        mtime: mtime_secs(o.mtime_ns),
        mode: o.mode,
    };
    zip.entry(&meta, o.data, false)
}

/// An entry's bytes as written, with the CRC-32 and length of what they encode.
struct Encoded {
    data: Vec<u8>,
    crc: u32,
    size: u64,
}

/// Where an entry's bytes go: compressed as they arrive, or kept as they are.
enum Encoder<W: Write> {
    Stored(W),
    Deflate(flate2::write::DeflateEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    fn new(w: W, method: u16, level: i32) -> io::Result<Encoder<W>> {
        Ok(match method {
            // libdeflate's levels run to 12, zlib's to 9.
            METHOD_DEFLATE => Encoder::Deflate(flate2::write::DeflateEncoder::new(
                w,
                flate2::Compression::new(level.clamp(1, 9) as u32),
            )),
            METHOD_ZSTD => Encoder::Zstd(zstd::stream::write::Encoder::new(w, level)?),
            _ => Encoder::Stored(w),
        })
    }

    /// Ends the stream; the sink.
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Stored(w) => Ok(w),
            Encoder::Deflate(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Stored(w) => w.write(buf),
            Encoder::Deflate(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts and checksums what passes through to `inner`.
struct Tally<W> {
    inner: W,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The manifest's JSON, encoded with `method` while it is serialized: for a
/// tree of 100k files the text is ~20 MB, and holding it whole beside a
/// compression buffer was a backup's peak memory.
fn encode_json(manifest: &ManifestJson, method: u16, level: i32) -> io::Result<Encoded> {
    let mut w = BufWriter::with_capacity(
        64 << 10,
        Tally { inner: Encoder::new(Vec::new(), method, level)?, crc: crc32fast::Hasher::new(), size: 0 },
    );
    serde_json::to_writer_pretty(&mut w, manifest).map_err(io::Error::other)?;
    let tally = w.into_inner().map_err(|e| e.into_error())?;
    Ok(Encoded { data: tally.inner.finish()?, crc: tally.crc.finalize(), size: tally.size })
}

/// The manifest entry: compressed with the policy's method, or stored when
/// that saves less than 2 % (as any other entry).
fn encode_manifest(manifest: &ManifestJson, policy: Policy) -> io::Result<(u16, Encoded)> {
    let compressed = encode_json(manifest, policy.method, policy.level)?;
    if policy.method == METHOD_STORED || compressed.data.len() as u64 >= compressed.size - compressed.size / 50 {
        let stored = if policy.method == METHOD_STORED { compressed } else { encode_json(manifest, METHOD_STORED, 0)? };
        return Ok((METHOD_STORED, stored));
    }
    Ok((policy.method, compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_list_matches_extensions_not_names() {
        assert!(store_by_name(".git/objects/pack/pack-1.pack"));
        assert!(store_by_name("a/b.PNG"));
        assert!(!store_by_name("a/b.rs"));
        assert!(!store_by_name("a/.zip"));
        assert!(!store_by_name("zip"));
    }

    #[test]
    fn policy_levels() {
        let p = Policy::new(&ArchiveOptions::default()).unwrap();
        assert_eq!((p.method, p.level), (METHOD_DEFLATE, 6));
        assert!(Policy::new(&ArchiveOptions { compression: Compression::Deflate, level: Some(13) }).is_err());
        let z = Policy::new(&ArchiveOptions { compression: Compression::Zstd, level: None }).unwrap();
        assert_eq!(z.method, METHOD_ZSTD);
        let text = b"hello hello hello hello hello hello hello hello".repeat(20);
        assert!(p.compress(&text).unwrap().is_some());
        let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let _ = p.compress(&random).unwrap();
    }

    /// A text file above the tests' streaming threshold, an incompressible
    /// one, and a small one, written in `dir`, with their hashes.
    fn three_files(dir: &Path) -> Vec<HashedFile> {
        let mut files = Vec::new();
        let text = b"streamed text line, compressible\n".repeat(400);
        let mut noise = vec![0u8; 20_000];
        blake3::Hasher::new().update(b"seed").finalize_xof().fill(&mut noise);
        for (rel, data) in [("a.txt", &text), ("b.bin", &noise), ("c.txt", &b"small".to_vec())] {
            let path = dir.join(rel);
            std::fs::write(&path, data).unwrap();
            files.push(HashedFile {
                file: crate::select::SelectedFile {
                    rel: rel.into(),
                    path,
                    size: data.len() as u64,
                    mtime_ns: 1_700_000_000_000_000_000,
                    file_id: None,
                },
                blake3: blake3::hash(data).to_hex().to_string(),
            });
        }
        files
    }

    /// Files above the threshold are streamed (here a tiny threshold): same
    /// bytes per method choice, valid CRC/size after patching, verify passes.
    #[test]
    fn streamed_entries_are_valid() {
        let dir = tempfile::tempdir().unwrap();
        let files = three_files(dir.path());
        let manifest = ManifestOf {
            repo: "r".into(),
            fingerprint: "f".into(),
            files: &files,
            dirs: &[],
            links: &[],
            origin: None,
        };
        for opts in [ArchiveOptions::default(), ArchiveOptions { compression: Compression::Zstd, level: None }] {
            let policy = Policy { large: 1000, ..Policy::new(&opts).unwrap() };
            let out = dir.path().join("s.zip");
            let stats = write_file(&out, &manifest, policy, None, &Control::default()).unwrap();
            assert_eq!((stats.entries_compressed, stats.entries_stored), (1, 2));
            let rep = super::super::verify(&out, &Default::default(), &Control::default()).unwrap();
            assert!(rep.ok, "{rep:?}");
            if opts.compression == Compression::Deflate {
                let st = std::process::Command::new("unzip").arg("-tq").arg(&out).status();
                assert!(st.map(|s| s.success()).unwrap_or(true));
            }
            // A streamed file that changed is caught too.
            let mut changed_files = files.clone();
            changed_files[0].blake3 = blake3::hash(b"other").to_hex().to_string();
            let changed = ManifestOf {
                repo: "r".into(),
                fingerprint: "f".into(),
                files: &changed_files,
                dirs: &[],
                links: &[],
                origin: None,
            };
            let err = write_file(&out, &changed, policy, None, &Control::default()).unwrap_err();
            assert!(err.message.contains("changed during backup"));
        }
    }

    /// Files given without a hash (a first backup) are hashed as they are
    /// read to compress, streamed or not: the writer reports the hashes, and
    /// the manifest and comment record them and their fingerprint; the
    /// archive is the one a build with the hashes known makes.
    #[test]
    fn hashes_of_files_given_without_one_are_learned() {
        let dir = tempfile::tempdir().unwrap();
        let known = three_files(dir.path());
        let mut unknown = known.clone();
        unknown[0].blake3.clear();
        unknown[2].blake3.clear();
        let fingerprint = crate::fingerprint::fingerprint_of(&known);
        let policy = Policy { large: 1000, ..Policy::new(&ArchiveOptions::default()).unwrap() };

        let with = dir.path().join("known.zip");
        let of = ManifestOf {
            repo: "r".into(),
            fingerprint: fingerprint.clone(),
            files: &known,
            dirs: &[],
            links: &[],
            origin: None,
        };
        let stats = write_file(&with, &of, policy, None, &Control::default()).unwrap();
        assert!(stats.hashes_learned.is_empty());

        let without = dir.path().join("learned.zip");
        let of = ManifestOf {
            repo: "r".into(),
            fingerprint: String::new(),
            files: &unknown,
            dirs: &[],
            links: &[],
            origin: None,
        };
        let stats = write_file(&without, &of, policy, None, &Control::default()).unwrap();
        assert_eq!(stats.hashes_learned, [known[0].blake3.as_str(), "", known[2].blake3.as_str()]);
        assert_eq!(std::fs::read(&without).unwrap(), std::fs::read(&with).unwrap());
        assert_eq!(super::super::comment_fingerprint(&without).map(|s| s.fingerprint), Some(fingerprint.clone()));
        assert_eq!(super::super::read_manifest(&without).unwrap().fingerprint, fingerprint);
    }
}
