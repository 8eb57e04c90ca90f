use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;

use crate::fingerprint::HashedFile;
use crate::progress::{Control, Phase};
use crate::{Error, ErrorKind, Result};

use super::format::{EntryMeta, ZipOut, METHOD_DEFLATE, METHOD_STORED, METHOD_ZSTD, ZIP64_STREAM_THRESHOLD};
use super::{Manifest, MANIFEST_NAME};

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
    /// Entries copied raw from the previous archive (no recompression).
    pub entries_reused: u64,
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
/// Per-worker scratch buffers above this capacity are released after use.
const KEEP_SCRATCH: usize = 1 << 20;
/// Entries the look-ahead may hold.
const WINDOW_ENTRIES: usize = 4096;
/// Streaming chunk for large files.
const CHUNK: usize = 4 << 20;

/// Extensions whose content is already compressed: stored without trying.
const STORE_EXTENSIONS: &[&str] = &[
    "pack", "zip", "gz", "tgz", "xz", "txz", "zst", "bz2", "tbz2", "lz", "lz4", "lzma", "7z", "rar", "cab", "jar",
    "war", "ear", "whl", "egg", "nupkg", "vsix", "apk", "aar", "ipa", "deb", "rpm", "dmg", "png", "jpg", "jpeg",
    "gif", "webp", "avif", "heic", "heif", "jxl", "mp3", "mp4", "m4a", "m4v", "aac", "ogg", "opus", "flac",
    "mkv", "avi", "mov", "webm", "wmv", "pdf", "woff", "woff2", "docx", "xlsx", "pptx", "odt", "ods", "odp",
    "epub", "br", "sz", "parquet",
];

fn store_by_name(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            STORE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
        }
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
    zip.entry(&meta, &p.data)
}

fn changed(path: &Path) -> Error {
    Error::new(ErrorKind::Io, format!("'{}' changed during backup", path.display()))
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

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut off: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, off) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                off += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An entry of the previous archive that holds the same content as a current file.
#[derive(Debug, Clone, Copy)]
struct PrevEntry {
    header: u64,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
}

/// The previous archive, for raw reuse of unchanged entries.
struct Previous {
    file: File,
    len: u64,
    entries: HashMap<String, PrevEntry>,
}

impl Previous {
    /// None when `path` is not one of ours, or unreadable: reuse is an
    /// optimisation, never a reason to fail.
    fn open(path: &Path, files: &[HashedFile], policy: Policy) -> Option<Previous> {
        let manifest = super::read_manifest(path).ok()?;
        let current: HashMap<&str, (u64, &str)> =
            files.iter().map(|f| (f.file.rel.as_str(), (f.file.size, f.blake3.as_str()))).collect();
        let same: std::collections::HashSet<&str> = manifest
            .files
            .iter()
            .filter(|m| current.get(m.path.as_str()) == Some(&(m.size, m.blake3.as_str())))
            .map(|m| m.path.as_str())
            .collect();
        let zip = zip::ZipArchive::new(io::BufReader::new(File::open(path).ok()?)).ok()?;
        if zip.has_duplicate_names() {
            return None;
        }
        let mut entries = HashMap::new();
        for i in 0..zip.len() {
            let Ok(e) = zip.by_index_data(i) else { continue };
            let Ok(name) = e.name() else { continue };
            if !same.contains(name.as_ref()) || e.encrypted() {
                continue;
            }
            let method: u16 = match e.compression() {
                zip::CompressionMethod::Stored => METHOD_STORED,
                zip::CompressionMethod::Deflated => METHOD_DEFLATE,
                zip::CompressionMethod::Zstd => METHOD_ZSTD,
                _ => continue,
            };
            // Reuse only what a fresh build would produce with this policy.
            let fits = method == policy.method
                || (method == METHOD_STORED && policy.stores_outright(&name, e.size()));
            if !fits {
                continue;
            }
            entries.insert(
                name.into_owned(),
                PrevEntry {
                    header: e.header_start(),
                    method,
                    crc: e.crc32(),
                    compressed: e.compressed_size(),
                    size: e.size(),
                },
            );
        }
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        Some(Previous { file, len, entries })
    }

    /// Where the entry's compressed bytes start, and whether its local header
    /// has a ZIP64 field; None when the local header does not agree with the
    /// central directory (name, method, CRC, sizes) or the data would run past
    /// the end of the file.
    ///
    /// That the content is the current file's is taken from the archive's
    /// manifest (ours: path, size and BLAKE3 match), so it is not re-hashed
    /// with BLAKE3; the callers still decode it once and check the CRC-32, so
    /// bit rot in an old backup is never copied into a new one.
    fn locate(&self, e: &PrevEntry, rel: &str) -> Option<(u64, bool)> {
        let mut h = [0u8; 30];
        read_exact_at(&self.file, &mut h, e.header).ok()?;
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if h[..4] != [0x50, 0x4b, 0x03, 0x04] || u16_at(8) != e.method || u32_at(14) != e.crc {
            return None;
        }
        let name_len = u16_at(26) as usize;
        let extra_len = u16_at(28) as usize;
        if name_len != rel.len() {
            return None;
        }
        let mut rest = vec![0u8; name_len + extra_len];
        read_exact_at(&self.file, &mut rest, e.header + 30).ok()?;
        if &rest[..name_len] != rel.as_bytes() {
            return None;
        }
        let (c32, s32) = (u32_at(18), u32_at(22));
        let mut zip64 = false;
        if c32 == u32::MAX && s32 == u32::MAX {
            // The ZIP64 field: id 1, then size and compressed size.
            let mut extra = &rest[name_len..];
            let mut sizes = None;
            while extra.len() >= 4 {
                let id = u16::from_le_bytes([extra[0], extra[1]]);
                let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
                let body = extra.get(4..4 + len)?;
                if id == 1 && len >= 16 {
                    let size = u64::from_le_bytes(body[..8].try_into().ok()?);
                    let comp = u64::from_le_bytes(body[8..16].try_into().ok()?);
                    sizes = Some((comp, size));
                }
                extra = &extra[4 + len..];
            }
            let (comp, size) = sizes?;
            if (comp, size) != (e.compressed, e.size) {
                return None;
            }
            zip64 = true;
        } else if (c32 as u64, s32 as u64) != (e.compressed, e.size) {
            return None;
        }
        let start = e.header + 30 + (name_len + extra_len) as u64;
        (start.checked_add(e.compressed)? <= self.len).then_some((start, zip64))
    }

    /// The entry's compressed bytes (small entries, on a pool thread), once
    /// they decode to `size` bytes with the recorded CRC; `scratch` holds the
    /// decoded bytes.
    fn fetch(&self, e: &PrevEntry, rel: &str, scratch: &mut Vec<u8>) -> Option<Vec<u8>> {
        let (start, _) = self.locate(e, rel)?;
        let mut data = vec![0u8; e.compressed as usize];
        read_exact_at(&self.file, &mut data, start).ok()?;
        let size = e.size as usize;
        let plain: &[u8] = match e.method {
            METHOD_STORED => &data,
            METHOD_DEFLATE => {
                if scratch.len() < size {
                    scratch.resize(size, 0);
                }
                let n = libdeflater::Decompressor::new().deflate_decompress(&data, &mut scratch[..size]).ok()?;
                &scratch[..n]
            }
            METHOD_ZSTD => {
                if scratch.len() < size {
                    scratch.resize(size, 0);
                }
                let n = zstd::bulk::decompress_to_buffer(&data, &mut scratch[..size]).ok()?;
                &scratch[..n]
            }
            _ => return None,
        };
        (plain.len() == size && crc32fast::hash(plain) == e.crc).then_some(data)
    }

    /// Decode the entry at `start` in a stream and check its size and CRC
    /// (large entries, on the writer thread, before they are copied).
    fn content_ok(&self, e: &PrevEntry, start: u64, buf: &mut Vec<u8>) -> bool {
        let mut check = || -> io::Result<bool> {
            let mut src = &self.file;
            io::Seek::seek(&mut src, io::SeekFrom::Start(start))?;
            let raw = io::BufReader::with_capacity(1 << 20, src.take(e.compressed));
            let mut reader: Box<dyn Read> = match e.method {
                METHOD_STORED => Box::new(raw),
                METHOD_DEFLATE => Box::new(flate2::bufread::DeflateDecoder::new(raw)),
                METHOD_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
                _ => return Ok(false),
            };
            if buf.len() < CHUNK {
                buf.resize(CHUNK, 0);
            }
            let (mut crc, mut total) = (crc32fast::Hasher::new(), 0u64);
            loop {
                let n = match reader.read(&mut buf[..CHUNK]) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(err),
                };
                crc.update(&buf[..n]);
                total += n as u64;
                if total > e.size {
                    return Ok(false);
                }
            }
            Ok(total == e.size && crc.finalize() == e.crc)
        };
        check().unwrap_or(false)
    }
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
fn prepare(f: &HashedFile, policy: Policy, prev: Option<&Previous>) -> Result<Prepared> {
    let path = &f.file.path;
    if let Some(p) = prev {
        if let Some(e) = p.entries.get(&f.file.rel) {
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
                return Ok(Prepared { method: e.method, crc: e.crc, data, mode: file_mode(&meta), reused: true });
            }
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
            if n != size || blake3::hash(data).to_hex().as_str() != f.blake3 {
                return Err(changed(path));
            }
            let crc = crc32fast::hash(data);
            if !policy.stores_outright(&f.file.rel, f.file.size) {
                if let Some(c) = policy.compress_into(data, output).map_err(|e| Error::io("compress", path, e))? {
                    return Ok(Prepared { method: policy.method, crc, data: output[..c].to_vec(), mode, reused: false });
                }
            }
            Ok(Prepared { method: METHOD_STORED, crc, data: data.to_vec(), mode, reused: false })
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

/// Copy an entry of the previous archive raw into the archive, streamed
/// (in the kernel where it can be). Ok(false) when the entry cannot be
/// reused after all (nothing written then).
fn write_reused(
    zip: &mut Out,
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
    if !prev.content_ok(e, start, buf) {
        return Ok(false);
    }
    let entry = EntryMeta {
        name: f.file.rel.clone(),
        method: e.method,
        crc: e.crc,
        compressed: e.compressed,
        size: f.file.size,
        mtime: mtime_secs(f.file.mtime_ns),
        mode: file_mode(&meta),
    };
    zip.local_header(&entry, zip64).map_err(io_out)?;
    let w = zip.inner();
    w.flush().map_err(io_out)?;
    let mut src = &prev.file;
    io::Seek::seek(&mut src, io::SeekFrom::Start(start)).map_err(|err| Error::io("read", out, err))?;
    let n = io::copy(&mut src.take(e.compressed), w.get_mut()).map_err(io_out)?;
    if n != e.compressed {
        return Err(Error::new(ErrorKind::Io, "the previous backup changed while its entries were reused".to_string()));
    }
    zip.add_offset(n);
    Ok(true)
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

type Out = ZipOut<BufWriter<File>>;

/// Stream one large file into the archive: one read, hashed, CRC'd and
/// compressed chunk by chunk; the header is patched with CRC and size after.
fn write_large(
    zip: &mut Out,
    f: &HashedFile,
    policy: Policy,
    control: &Control,
    out: &Path,
    buf: &mut Vec<u8>,
) -> Result<u16> {
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
    let header = zip.local_header(&meta, f.file.size >= ZIP64_STREAM_THRESHOLD).map_err(io_out)?;
    let mut hasher = blake3::Hasher::new();
    let mut crc = crc32fast::Hasher::new();
    let mut total = 0u64;
    let mut sink = Counting { w: zip.inner(), n: 0 };
    {
        enum Enc<'a, 'b> {
            Store(&'b mut Counting<'a, BufWriter<File>>),
            Deflate(flate2::write::DeflateEncoder<&'b mut Counting<'a, BufWriter<File>>>),
            Zstd(zstd::stream::write::Encoder<'static, &'b mut Counting<'a, BufWriter<File>>>),
        }
        let mut enc = match method {
            METHOD_DEFLATE => Enc::Deflate(flate2::write::DeflateEncoder::new(
                &mut sink,
                flate2::Compression::new(policy.level.clamp(1, 9) as u32),
            )),
            METHOD_ZSTD => Enc::Zstd(zstd::stream::write::Encoder::new(&mut sink, policy.level).map_err(io_out)?),
            _ => Enc::Store(&mut sink),
        };
        while len > 0 {
            control.check()?;
            let chunk = &buf[..len];
            hasher.update(chunk);
            crc.update(chunk);
            total += len as u64;
            if total > f.file.size {
                return Err(changed(path));
            }
            match &mut enc {
                Enc::Store(w) => w.write_all(chunk),
                Enc::Deflate(w) => w.write_all(chunk),
                Enc::Zstd(w) => w.write_all(chunk),
            }
            .map_err(io_out)?;
            control.advance(0, len as u64);
            len = read_chunk(&file, buf)?;
        }
        match enc {
            Enc::Store(_) => {}
            Enc::Deflate(w) => {
                w.finish().map_err(io_out)?;
            }
            Enc::Zstd(w) => {
                w.finish().map_err(io_out)?;
            }
        }
    }
    let compressed = sink.n;
    if total != f.file.size || hasher.finalize().to_hex().as_str() != f.blake3 {
        return Err(changed(path));
    }
    zip.add_offset(compressed);
    zip.patch_streamed(header, crc.finalize(), compressed).map_err(io_out)?;
    Ok(method)
}

/// Write the archive of `files` (plus `manifest` as the last entry) to `out`,
/// which the caller owns (a temporary name: placement flushes and renames
/// the copies it makes of it). When
/// `previous` is an archive of ours, entries whose BLAKE3 is unchanged are
/// copied raw from it. Checks `control` for cancel between entries.
pub fn write_archive(
    out: &Path,
    files: &[HashedFile],
    manifest: &Manifest,
    opts: &ArchiveOptions,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    write_with(out, files, manifest, Policy::new(opts)?, previous, control)
}

fn write_with(
    out: &Path,
    files: &[HashedFile],
    manifest: &Manifest,
    policy: Policy,
    previous: Option<&Path>,
    control: &Control,
) -> Result<ArchiveStats> {
    let total_bytes: u64 = files.iter().map(|f| f.file.size).sum();
    control.begin(Phase::Compressing, files.len() as u64, total_bytes);
    let prev = previous.and_then(|p| Previous::open(p, files, policy));
    let prev = prev.as_ref().filter(|p| !p.entries.is_empty());

    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(|e| Error::io("create", out, e))?;
    let mut zip = ZipOut::new(BufWriter::with_capacity(1 << 20, file));
    let mut stats = ArchiveStats::default();
    let stop = AtomicBool::new(false);
    // Which entries the writer streams itself (reused raw or read in chunks)
    // instead of having them prepared in memory on the pool.
    let reuse_of = |i: usize| prev.and_then(|p| p.entries.get(&files[i].file.rel));
    let streamed: Vec<bool> = (0..files.len())
        .map(|i| {
            let f = &files[i].file;
            match reuse_of(i) {
                Some(e) => e.compressed > STREAM_STORED,
                None => f.size > policy.large || (f.size > STREAM_STORED && policy.stores_outright(&f.rel, f.size)),
            }
        })
        .collect();
    let is_large = |i: usize| streamed[i];
    let cost = |i: usize| if is_large(i) { 0 } else { files[i].file.size + 512 };
    let mut chunk_buf = Vec::new();

    let result = rayon::in_place_scope_fifo(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<(usize, Result<Prepared>)>();
        let mut ready: HashMap<usize, Result<Prepared>> = HashMap::new();
        let mut next = 0usize;
        let mut inflight = 0u64;
        let on_pool = rayon::current_thread_index().is_some();
        for i in 0..files.len() {
            while next < files.len() && next - i < WINDOW_ENTRIES && (next == i || inflight + cost(next) <= WINDOW_BYTES) {
                if !is_large(next) {
                    let tx = tx.clone();
                    let (f, stop) = (&files[next], &stop);
                    let idx = next;
                    scope.spawn_fifo(move |_| {
                        let r = if stop.load(Relaxed) {
                            Err(Error::cancelled())
                        } else {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(f, policy, prev)))
                                .unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, format!("'{}': compression failed", f.file.path.display()))))
                        };
                        let _ = tx.send((idx, r));
                    });
                    inflight += cost(next);
                }
                next += 1;
            }
            let f = &files[i];
            let fail = |e: Error| {
                stop.store(true, Relaxed);
                e
            };
            control.check().map_err(fail)?;
            control.set_current(&f.file.rel);
            let method = if is_large(i) {
                let reused = match (prev, reuse_of(i)) {
                    (Some(p), Some(e)) => write_reused(&mut zip, f, p, e, out, &mut chunk_buf).map_err(fail)?.then_some(e.method),
                    _ => None,
                };
                match reused {
                    Some(m) => {
                        stats.entries_reused += 1;
                        control.advance(0, f.file.size);
                        m
                    }
                    // Not reusable after all: built as a fresh run would.
                    None if f.file.size <= policy.large && reuse_of(i).is_some() => {
                        let p = prepare(f, policy, None).map_err(fail)?;
                        write_prepared(&mut zip, f, &p).map_err(|e| fail(Error::io("write", out, e)))?;
                        control.advance(0, f.file.size);
                        p.method
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
                p.method
            };
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
    control.check()?;

    // The manifest, last: deterministic time (the newest file's), plain mode.
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialize the manifest: {e}")))?;
    let newest = files.iter().map(|f| f.file.mtime_ns).max().unwrap_or(0);
    let (method, data) = match policy.compress(&json).map_err(|e| Error::io("compress", out, e))? {
        Some(c) => (policy.method, c),
        None => (METHOD_STORED, json.clone()),
    };
    let meta = EntryMeta {
        name: MANIFEST_NAME.to_string(),
        method,
        crc: crc32fast::hash(&json),
        compressed: data.len() as u64,
        size: json.len() as u64,
        mtime: mtime_secs(newest),
        mode: 0o100644,
    };
    zip.entry(&meta, &data).map_err(|e| Error::io("write", out, e))?;
    let comment = super::archive_comment(manifest);
    let (w, len) = zip.finish(comment.as_bytes()).map_err(|e| Error::io("write", out, e))?;
    // Not flushed to disk here: the temporary is only ever read back or
    // linked, and placement flushes each copy before naming it (the linked
    // one included), so an fsync here would be a second, serial flush.
    w.into_inner().map_err(|e| Error::io("write", out, e.into_error()))?;
    stats.archive_bytes = len;
    Ok(stats)
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

    /// Files above the threshold are streamed (here a tiny threshold): same
    /// bytes per method choice, valid CRC/size after patching, verify passes.
    #[test]
    fn streamed_entries_are_valid() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let text = b"streamed text line, compressible\n".repeat(400);
        let mut noise = vec![0u8; 20_000];
        blake3::Hasher::new().update(b"seed").finalize_xof().fill(&mut noise);
        for (rel, data) in [("a.txt", &text), ("b.bin", &noise), ("c.txt", &b"small".to_vec())] {
            let path = dir.path().join(rel);
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
        let manifest = Manifest {
            format: super::super::MANIFEST_FORMAT.into(),
            tool_version: "t".into(),
            repo: "r".into(),
            fingerprint: "f".into(),
            file_count: 3,
            total_bytes: files.iter().map(|f| f.file.size).sum(),
            files: files
                .iter()
                .map(|f| super::super::ManifestEntry {
                    path: f.file.rel.clone(),
                    size: f.file.size,
                    blake3: f.blake3.clone(),
                    mtime_ns: f.file.mtime_ns,
                })
                .collect(),
        };
        for opts in [ArchiveOptions::default(), ArchiveOptions { compression: Compression::Zstd, level: None }] {
            let policy = Policy { large: 1000, ..Policy::new(&opts).unwrap() };
            let out = dir.path().join("s.zip");
            let stats = write_with(&out, &files, &manifest, policy, None, &Control::default()).unwrap();
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
            let err = write_with(&out, &changed_files, &manifest, policy, None, &Control::default()).unwrap_err();
            assert!(err.message.contains("changed during backup"));
        }
    }
}
