//! The previous backup, for raw reuse of unchanged entries: which of its
//! entries hold a current file's content (same path, size and BLAKE3 in its
//! manifest), and where their compressed bytes are.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fingerprint::HashedFile;

use super::format::{METHOD_DEFLATE, METHOD_STORED, METHOD_ZSTD};
use super::raw::{self, u16_at, u32_at};
use super::{ManifestEntry, MANIFEST_FORMAT, MANIFEST_NAME};

/// Streaming chunk for large files (read from a previous backup or the source).
pub(super) const CHUNK: usize = 4 << 20;

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
pub(super) struct PrevEntry {
    pub header: u64,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
}

/// The previous archive, for raw reuse of unchanged entries.
pub(super) struct Previous {
    pub file: File,
    len: u64,
    /// Per current file (same index): its entry in the previous archive,
    /// when that holds the same content and may be reused.
    entries: Vec<Option<PrevEntry>>,
}

impl Previous {
    /// None when `path` is not one of ours, is unreadable, or has nothing to
    /// reuse: reuse is an optimisation, never a reason to fail. `fits` says
    /// whether an entry (name, method, size) is what a fresh build would
    /// write, so reusing it changes no byte of the result.
    ///
    /// The central directory and the manifest are read in streams and only
    /// matches are kept, so a changed run of a 100k-file tree holds a few
    /// bytes per file here, not the old archive's index and manifest.
    pub fn open(path: &Path, files: &[HashedFile], fits: impl Fn(&str, u16, u64) -> bool) -> Option<Previous> {
        let index: HashMap<&str, usize> = files.iter().enumerate().map(|(i, f)| (f.file.rel.as_str(), i)).collect();
        let mut entries: Vec<Option<PrevEntry>> = vec![None; files.len()];
        let (mut manifest, mut duplicate) = (None, false);
        raw::each_central_entry(path, |c| {
            let Ok(name) = std::str::from_utf8(c.name) else { return };
            let e =
                PrevEntry { header: c.header, method: c.method, crc: c.crc, compressed: c.compressed, size: c.size };
            if name == MANIFEST_NAME {
                duplicate |= manifest.replace(e).is_some();
                return;
            }
            let Some(&i) = index.get(name) else { return };
            // A name twice is a smuggled payload, not ours: reuse nothing.
            duplicate |= entries[i].is_some();
            let encrypted = c.flags & 1 != 0;
            if !encrypted && fits(name, c.method, c.size) {
                entries[i] = Some(e);
            }
        })
        .ok()?;
        if duplicate || !entries.iter().any(Option::is_some) {
            return None;
        }
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut prev = Previous { file, len, entries };
        let same = prev.same_content(&manifest?, files, &index)?;
        for (e, same) in prev.entries.iter_mut().zip(same) {
            if !same {
                *e = None;
            }
        }
        prev.entries.iter().any(Option::is_some).then_some(prev)
    }

    /// The reusable entry for current file `i`.
    pub fn entry(&self, i: usize) -> Option<&PrevEntry> {
        self.entries.get(i)?.as_ref()
    }

    /// Per current file: whether the manifest at `m` records the same path,
    /// size and BLAKE3. Streams the manifest through its decoder; None when
    /// it is not ours or fails its size or CRC.
    fn same_content(&self, m: &PrevEntry, files: &[HashedFile], index: &HashMap<&str, usize>) -> Option<Vec<bool>> {
        const MAX_MANIFEST: u64 = 1 << 30;
        let (start, _) = self.locate(m, MANIFEST_NAME)?;
        if m.size > MAX_MANIFEST {
            return None;
        }
        let decoded = Checked { inner: self.decoder(m, start).ok()??, crc: crc32fast::Hasher::new(), size: 0 };
        let mut reader = io::BufReader::with_capacity(64 << 10, decoded.take(m.size + 1));
        let mut same = vec![false; files.len()];
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        let ours = serde::de::Deserializer::deserialize_map(
            &mut de,
            ManifestMatch(FileMatches { files, index, same: &mut same }),
        )
        .ok()?;
        de.end().ok()?;
        let checked = reader.into_inner().into_inner();
        (ours && checked.size == m.size && checked.crc.finalize() == m.crc).then_some(same)
    }

    /// A reader of the entry's decoded bytes (its compressed bytes at
    /// `start`); None for a method we do not write.
    fn decoder(&self, e: &PrevEntry, start: u64) -> io::Result<Option<Box<dyn Read + '_>>> {
        let mut src = &self.file;
        io::Seek::seek(&mut src, io::SeekFrom::Start(start))?;
        let raw = io::BufReader::with_capacity(1 << 20, src.take(e.compressed));
        Ok(Some(match e.method {
            METHOD_STORED => Box::new(raw),
            METHOD_DEFLATE => Box::new(flate2::bufread::DeflateDecoder::new(raw)),
            METHOD_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
            _ => return Ok(None),
        }))
    }

    /// Where the entry's compressed bytes start, and whether its local header
    /// has a ZIP64 field; None when the local header does not agree with the
    /// central directory (name, method, CRC, sizes) or the data would run past
    /// the end of the file.
    ///
    /// That the content is the current file's is taken from the archive's
    /// manifest (ours: path, size and BLAKE3 match), so it is not re-hashed
    /// with BLAKE3; the callers still decode it once and check the CRC-32, so
    /// bit rot in an old backup is never copied into a new one (a stored
    /// entry is not read here at all: its bytes are copied from the file and
    /// checked against this CRC).
    pub fn locate(&self, e: &PrevEntry, rel: &str) -> Option<(u64, bool)> {
        let mut h = [0u8; 30];
        read_exact_at(&self.file, &mut h, e.header).ok()?;
        if h[..4] != [0x50, 0x4b, 0x03, 0x04] || u16_at(&h, 8) != e.method || u32_at(&h, 14) != e.crc {
            return None;
        }
        let name_len = u16_at(&h, 26) as usize;
        let extra_len = u16_at(&h, 28) as usize;
        if name_len != rel.len() {
            return None;
        }
        let mut rest = vec![0u8; name_len + extra_len];
        read_exact_at(&self.file, &mut rest, e.header + 30).ok()?;
        if &rest[..name_len] != rel.as_bytes() {
            return None;
        }
        let (mut comp, mut size) = (u32_at(&h, 18) as u64, u32_at(&h, 22) as u64);
        // Ours: both sizes in the ZIP64 field, or neither.
        let zip64 = comp == u32::MAX as u64 && size == u32::MAX as u64;
        if zip64 && raw::widen_zip64(&rest[name_len..], &mut [&mut size, &mut comp]) != Some(2) {
            return None;
        }
        if (comp, size) != (e.compressed, e.size) {
            return None;
        }
        let start = e.header + 30 + (name_len + extra_len) as u64;
        (start.checked_add(e.compressed)? <= self.len).then_some((start, zip64))
    }

    /// [`Self::locate`], with the entry's local header as it is on disk.
    pub fn local(&self, e: &PrevEntry, rel: &str) -> Option<(u64, bool, Vec<u8>)> {
        let (start, zip64) = self.locate(e, rel)?;
        let mut header = vec![0u8; (start - e.header) as usize];
        read_exact_at(&self.file, &mut header, e.header).ok()?;
        Some((start, zip64, header))
    }

    /// The entry's compressed bytes (small entries, on a pool thread), once
    /// they decode to `size` bytes with the recorded CRC; `scratch` holds the
    /// decoded bytes.
    pub fn fetch(&self, e: &PrevEntry, rel: &str, scratch: &mut Vec<u8>) -> Option<Vec<u8>> {
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
    pub fn content_ok(&self, e: &PrevEntry, start: u64, buf: &mut Vec<u8>) -> bool {
        let mut check = || -> io::Result<bool> {
            let Some(mut reader) = self.decoder(e, start)? else { return Ok(false) };
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

/// Counts and checksums what is read through it.
struct Checked<R> {
    inner: R,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Walks a manifest's JSON without keeping it: marks each current file whose
/// path, size and BLAKE3 it records. Yields whether the format is ours.
struct ManifestMatch<'a, 'b>(FileMatches<'a, 'b>);

impl<'de> Visitor<'de> for ManifestMatch<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a BackupRepo manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<bool, A::Error> {
        let (mut ours, mut files) = (false, Some(self.0));
        while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
            match key.as_ref() {
                "format" => ours = map.next_value::<String>()? == MANIFEST_FORMAT,
                "files" => match files.take() {
                    Some(seed) => map.next_value_seed(seed)?,
                    None => return Err(serde::de::Error::duplicate_field("files")),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ours)
    }
}

/// The manifest's `files`, one entry at a time.
struct FileMatches<'a, 'b> {
    files: &'a [HashedFile],
    index: &'a HashMap<&'a str, usize>,
    same: &'b mut [bool],
}

impl<'de> DeserializeSeed<'de> for FileMatches<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FileMatches<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the manifest's files")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(m) = seq.next_element::<ManifestEntry>()? {
            if let Some(&i) = self.index.get(m.path.as_str()) {
                let f = &self.files[i];
                self.same[i] = f.file.size == m.size && f.blake3 == m.blake3;
            }
        }
        Ok(())
    }
}
