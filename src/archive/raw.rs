//! A minimal reader of the central directory's raw entry names, in order and
//! with repeats: the zip crate keys entries by name, so duplicates (a classic
//! way to smuggle a second payload past a checker) are only visible here.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const MAX_CD: u64 = 1 << 30;

pub(super) fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
pub(super) fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Where the central directory is, from the end records.
pub(super) struct End {
    cd_start: u64,
    cd_size: u64,
    entries: u64,
    comment: Vec<u8>,
}

fn end_record(f: &mut File) -> io::Result<End> {
    let len = f.metadata()?.len();
    let tail_len = len.min(22 + 0xFFFF + 20);
    let tail_start = len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(tail_start))?;
    f.read_exact(&mut tail)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no end of central directory"))?;
    let comment_len = u16_at(&tail, eocd + 20) as usize;
    let comment =
        tail.get(eocd + 22..eocd + 22 + comment_len).ok_or_else(|| bad("truncated archive comment"))?.to_vec();
    let mut end = End {
        cd_start: u32_at(&tail, eocd + 16) as u64,
        cd_size: u32_at(&tail, eocd + 12) as u64,
        entries: u16_at(&tail, eocd + 10) as u64,
        comment,
    };
    if eocd >= 20 && tail[eocd - 20..eocd - 16] == [0x50, 0x4b, 0x06, 0x07] {
        let z64 = u64_at(&tail, eocd - 12);
        let mut rec = [0u8; 56];
        f.seek(SeekFrom::Start(z64))?;
        f.read_exact(&mut rec)?;
        if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
            return Err(bad("bad ZIP64 end record"));
        }
        end.entries = u64_at(&rec, 32);
        end.cd_size = u64_at(&rec, 40);
        end.cd_start = u64_at(&rec, 48);
    }
    if end.cd_size > MAX_CD || end.cd_start.checked_add(end.cd_size).is_none_or(|e| e > len) {
        return Err(bad("central directory out of bounds"));
    }
    Ok(end)
}

/// One central-directory record, sizes and offset with their ZIP64 values.
pub(super) struct CentralEntry<'a> {
    pub name: &'a [u8],
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    /// Offset of the entry's local header.
    pub header: u64,
}

/// Call `each` with every central-directory record, in directory order, read
/// in a stream (a 100k-entry directory is never held whole); returns the end
/// records. Stops at the first bytes that are not a record.
pub(super) fn each_central_entry(path: &Path, mut each: impl FnMut(&CentralEntry)) -> io::Result<End> {
    let mut f = File::open(path)?;
    let end = end_record(&mut f)?;
    f.seek(SeekFrom::Start(end.cd_start))?;
    let mut cd = BufReader::with_capacity(64 << 10, f.take(end.cd_size));
    let (mut fixed, mut rest) = ([0u8; 46], Vec::new());
    while cd.read_exact(&mut fixed).is_ok() && fixed[..4] == [0x50, 0x4b, 0x01, 0x02] {
        let (n, e, c) = (u16_at(&fixed, 28) as usize, u16_at(&fixed, 30) as usize, u16_at(&fixed, 32) as usize);
        rest.resize(n + e + c, 0);
        cd.read_exact(&mut rest).map_err(|_| bad("truncated central directory"))?;
        let mut entry = CentralEntry {
            name: &rest[..n],
            flags: u16_at(&fixed, 8),
            method: u16_at(&fixed, 10),
            crc: u32_at(&fixed, 16),
            compressed: u32_at(&fixed, 20) as u64,
            size: u32_at(&fixed, 24) as u64,
            header: u32_at(&fixed, 42) as u64,
        };
        widen_zip64(&rest[n..n + e], &mut [&mut entry.size, &mut entry.compressed, &mut entry.header]);
        each(&entry);
    }
    Ok(end)
}

/// Widen `values`, given in the order the ZIP64 extra field (id 1) stores
/// them (size, compressed size, header offset), from that field in `extra`:
/// each one saturated at 0xFFFFFFFF takes the field's next 8 bytes. The
/// number widened; None when a field runs past the end of `extra`.
pub(super) fn widen_zip64(mut extra: &[u8], values: &mut [&mut u64]) -> Option<usize> {
    let mut widened = 0;
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        let mut body = extra.get(4..4 + len)?;
        if id == 1 {
            for v in values.iter_mut() {
                if **v == u32::MAX as u64 && body.len() >= 8 {
                    **v = u64_at(body, 0);
                    body = &body[8..];
                    widened += 1;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    Some(widened)
}

/// Call `name` with each central-directory entry name, in directory order;
/// returns the end records.
fn each_central_name(path: &Path, mut name: impl FnMut(&[u8])) -> io::Result<End> {
    each_central_entry(path, |e| name(e.name))
}

/// Every central-directory entry name, in directory order.
pub fn central_names(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    each_central_name(path, |n| names.push(n.to_vec()))?;
    Ok(names)
}

/// What our writer records in the archive comment: the tree fingerprint
/// and, since 0.2, the source and the UTC time of the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentStamp {
    pub fingerprint: String,
    /// None in backups made before 0.2.
    pub source_id: Option<String>,
    pub created_utc: Option<jiff::Timestamp>,
}

/// Parse `backup-repo <version> <fingerprint> [<source id> <created UTC>]`.
fn parse_comment(comment: &[u8]) -> Option<CommentStamp> {
    let comment = std::str::from_utf8(comment).ok()?;
    let words: Vec<&str> = comment.split(' ').collect();
    let (tool, fingerprint) = (*words.first()?, *words.get(2)?);
    if tool != super::COMMENT_TOOL || !crate::fingerprint::is_hex_digest(fingerprint) {
        return None;
    }
    let (source_id, created_utc) = match words[3..] {
        [] => (None, None),
        [id, at] if crate::identity::is_source_id(id) => (Some(id.to_string()), Some(at.parse().ok()?)),
        _ => return None,
    };
    Some(CommentStamp { fingerprint: fingerprint.to_string(), source_id, created_utc })
}

/// The archive comment's stamp from the end record alone (one read at the
/// end of the file): cheap enough to read for every backup in a folder when
/// looking for one source's newest. Not a check of the archive.
pub fn comment_stamp(path: &Path) -> Option<CommentStamp> {
    let mut f = File::open(path).ok()?;
    parse_comment(&end_record(&mut f).ok()?.comment)
}

/// The stamp our writer records in the archive comment, from the end records
/// and the central directory alone: deciding "unchanged" then costs no
/// manifest (whose size grows with the repository). None unless the comment
/// has our shape and the directory is whole and ends with the manifest, as
/// ours do.
pub fn comment_fingerprint(path: &Path) -> Option<CommentStamp> {
    // Counted, and the last one kept: no copy of every name.
    let (mut count, mut last) = (0u64, Vec::new());
    let end = each_central_name(path, |n| {
        count += 1;
        last.clear();
        last.extend_from_slice(n);
    })
    .ok()?;
    let whole = count == end.entries && last == super::MANIFEST_NAME.as_bytes();
    parse_comment(&end.comment).filter(|_| whole)
}

/// Names that occur more than once.
pub fn duplicate_names(path: &Path) -> io::Result<std::collections::BTreeSet<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut dups = std::collections::BTreeSet::new();
    for n in central_names(path)? {
        let s = String::from_utf8_lossy(&n).into_owned();
        if !seen.insert(s.clone()) {
            dups.insert(s);
        }
    }
    Ok(dups)
}
