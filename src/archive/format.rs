//! The ZIP format, written directly: local headers (sizes known up front, no
//! data descriptors), the central directory, ZIP64 records when needed. Every
//! field is derived from the entry's content and metadata, never from the
//! clock, so the same input gives the same bytes.

use std::io::{self, Write};

pub const METHOD_STORED: u16 = 0;
pub const METHOD_DEFLATE: u16 = 8;
pub const METHOD_ZSTD: u16 = 93;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_ZIP64_EOCD: u32 = 0x0606_4b50;
const SIG_ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// General purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// "Version made by": the host system (high byte) and spec 6.3. The host
/// tells readers how to read names and attributes: on a Unix host a `\` is
/// a character of the name and the Unix mode is in the external attributes.
/// Windows writes MS-DOS (0), as .NET's `ZipFile` does there.
const MADE_BY: u16 = (HOST << 8) | 63;
/// The "made by" host of this build: Unix (3), or MS-DOS (0) on Windows.
const HOST: u16 = if cfg!(windows) { 0 } else { HOST_UNIX };
pub const HOST_UNIX: u16 = 3;
/// File type bits of a Unix mode: folder and symbolic link.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;
/// MS-DOS "directory" attribute, in the external attributes' low byte.
const DOS_DIRECTORY: u32 = 0x10;
const U32_MAX: u64 = 0xFFFF_FFFF;
/// Above this uncompressed size a streamed entry gets a ZIP64 local header up
/// front (its compressed size is unknown until written and may grow a little).
pub const ZIP64_STREAM_THRESHOLD: u64 = 0xF000_0000;

/// File system block that aligned entries start their data on: the block
/// size of XFS, Btrfs, ext4 and APFS, and ReFS's default cluster (a ReFS
/// volume formatted with 64 KiB clusters would need 64 KiB; see README).
pub const ALIGN: u64 = 4096;
/// Files of at least this size (uncompressed) get their data aligned.
pub const ALIGN_MIN_SIZE: u64 = 64 << 10;
/// Of the smaller files, those whose name hashes to 0 modulo this are
/// aligned too (about one in 32): points where a copy-on-write destination
/// realigns with the previous backup after a changed file, so one change
/// costs a few blocks instead of everything up to the next large file. By
/// name, so the points do not move when other files change.
pub const ALIGN_EVERY: u32 = 32;
/// Extra-field id of the alignment padding: Android's zipalign's
/// (`0xD935`: a 2-byte alignment, then zeros). Readers skip ids they do
/// not know; only local headers carry it (as zipalign does).
pub const EXTRA_ALIGNMENT: u16 = 0xD935;

/// Whether a file entry (name, uncompressed size) gets its data aligned to
/// [`ALIGN`]. A pure function of both: the same tree gives the same layout,
/// reused entries and fresh ones alike. Part of the archive format: changing
/// it moves every alignment point (the next changed backup clones nothing).
pub fn wants_alignment(name: &str, size: u64) -> bool {
    size >= ALIGN_MIN_SIZE || (size > 0 && fnv1a(name.as_bytes()).is_multiple_of(ALIGN_EVERY))
}

/// 32-bit FNV-1a: small, fixed forever, no dependency.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// Bytes of the alignment extra field (id, length, body) that put data
/// which would start at `data_at` on an [`ALIGN`] boundary: 0 when it is
/// already there, else at least the field's 6 bytes.
pub fn alignment_padding(data_at: u64) -> u64 {
    match (ALIGN - data_at % ALIGN) % ALIGN {
        0 => 0,
        p if p < 6 => p + ALIGN,
        p => p,
    }
}

/// Per-entry metadata fixed before the data is written.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    pub name: String,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    /// Seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// Unix mode including the file type bits (0o100644 ...).
    pub mode: u32,
}

impl EntryMeta {
    /// "Version made by": a link is a Unix entry on every host (as Info-ZIP
    /// and the zip crate write them), since only a Unix mode can say "link".
    fn made_by(&self) -> u16 {
        if self.mode & S_IFMT == S_IFLNK {
            (HOST_UNIX << 8) | (MADE_BY & 0xFF)
        } else {
            MADE_BY
        }
    }

    /// The Unix mode in the high 16 bits; a folder also sets the MS-DOS
    /// directory bit, as Info-ZIP does, for readers that look only there.
    fn external_attributes(&self) -> u32 {
        let dos = if self.mode & S_IFMT == S_IFDIR { DOS_DIRECTORY } else { 0 };
        (self.mode << 16) | dos
    }
}

struct Central {
    meta: EntryMeta,
    offset: u64,
    local_zip64: bool,
}

/// Counts what goes through, so offsets are known without asking the OS.
pub struct ZipOut<W: Write> {
    w: W,
    offset: u64,
    central: Vec<Central>,
}

/// DOS (time, date) of a Unix time, in UTC, clamped to 1980..=2107.
pub fn dos_datetime(secs: i64) -> (u16, u16) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    if y > 2107 {
        return ((23 << 11) | (59 << 5) | 29, ((127) << 9) | (12 << 5) | 31);
    }
    let (h, mi, s) = (rem / 3600, (rem / 60) % 60, rem % 60);
    let time = ((h as u16) << 11) | ((mi as u16) << 5) | ((s / 2) as u16);
    let date = (((y - 1980) as u16) << 9) | ((m as u16) << 5) | d as u16;
    (time, date)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn version_needed(method: u16, zip64: bool) -> u16 {
    match (method, zip64) {
        (METHOD_ZSTD, _) => 63,
        (_, true) => 45,
        _ => 20,
    }
}

/// The extended-timestamp extra field (0x5455) with the modification time,
/// when it fits the field's signed 32 bits.
fn push_ut(buf: &mut Vec<u8>, mtime: i64) {
    if let Ok(t) = i32::try_from(mtime) {
        buf.extend_from_slice(&0x5455u16.to_le_bytes());
        buf.extend_from_slice(&5u16.to_le_bytes());
        buf.push(1);
        buf.extend_from_slice(&t.to_le_bytes());
    }
}

impl<W: Write> ZipOut<W> {
    pub fn new(w: W) -> Self {
        ZipOut { w, offset: 0, central: Vec::new() }
    }

    pub fn write_raw(&mut self, data: &[u8]) -> io::Result<()> {
        self.w.write_all(data)?;
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far: the next header's offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Write a local header; `zip64` puts both sizes in a ZIP64 extra field
    /// (required when either may reach 4 GiB), `align` pads its extra field
    /// so the data starts on an [`ALIGN`] boundary. Returns the header's offset.
    pub fn local_header(&mut self, meta: &EntryMeta, zip64: bool, align: bool) -> io::Result<u64> {
        let start = self.offset;
        let h = local_header_bytes(meta, zip64, align, start);
        self.write_raw(&h)?;
        self.central.push(Central { meta: meta.clone(), offset: start, local_zip64: zip64 });
        Ok(start)
    }

    /// Record an entry whose local header and data (`header_len` +
    /// `meta.compressed` bytes, as [`local_header_bytes`] makes the header)
    /// went into the output by other means (cloned from the previous backup).
    pub fn skip_entry(&mut self, meta: &EntryMeta, zip64: bool, header_len: u64) {
        self.central.push(Central { meta: meta.clone(), offset: self.offset, local_zip64: zip64 });
        self.offset += header_len + meta.compressed;
    }
}

/// The local header of `meta` written at offset `start` (see
/// [`ZipOut::local_header`]).
pub fn local_header_bytes(meta: &EntryMeta, zip64: bool, align: bool, start: u64) -> Vec<u8> {
    let (time, date) = dos_datetime(meta.mtime);
    let mut extra = Vec::with_capacity(29);
    if zip64 {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&meta.size.to_le_bytes());
        extra.extend_from_slice(&meta.compressed.to_le_bytes());
    }
    push_ut(&mut extra, meta.mtime);
    let name = meta.name.as_bytes();
    if align {
        let pad = alignment_padding(start + 30 + (name.len() + extra.len()) as u64) as usize;
        if pad > 0 {
            extra.extend_from_slice(&EXTRA_ALIGNMENT.to_le_bytes());
            extra.extend_from_slice(&((pad - 4) as u16).to_le_bytes());
            extra.extend_from_slice(&(ALIGN as u16).to_le_bytes());
            extra.resize(extra.len() + pad - 6, 0);
        }
    }
    let mut h = Vec::with_capacity(30 + name.len() + extra.len());
    h.extend_from_slice(&SIG_LOCAL.to_le_bytes());
    h.extend_from_slice(&version_needed(meta.method, zip64).to_le_bytes());
    h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
    h.extend_from_slice(&meta.method.to_le_bytes());
    h.extend_from_slice(&time.to_le_bytes());
    h.extend_from_slice(&date.to_le_bytes());
    h.extend_from_slice(&meta.crc.to_le_bytes());
    let (c32, s32) = if zip64 { (U32_MAX as u32, U32_MAX as u32) } else { (meta.compressed as u32, meta.size as u32) };
    h.extend_from_slice(&c32.to_le_bytes());
    h.extend_from_slice(&s32.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    h.extend_from_slice(name);
    h.extend_from_slice(&extra);
    h
}

/// Whether an entry whose sizes are known up front needs a ZIP64 local header.
pub fn needs_zip64(meta: &EntryMeta) -> bool {
    meta.size >= U32_MAX || meta.compressed >= U32_MAX
}

impl<W: Write> ZipOut<W> {
    /// A whole entry whose data is in memory.
    pub fn entry(&mut self, meta: &EntryMeta, data: &[u8], align: bool) -> io::Result<()> {
        debug_assert_eq!(data.len() as u64, meta.compressed);
        self.local_header(meta, needs_zip64(meta), align)?;
        self.write_raw(data)
    }

    /// Direct access for streaming an entry's data; account with `add_offset`.
    pub fn inner(&mut self) -> &mut W {
        &mut self.w
    }

    pub fn add_offset(&mut self, n: u64) {
        self.offset += n;
    }

    /// Central directory, ZIP64 end records when needed, end record with the
    /// archive comment. Returns the writer and the archive's length.
    pub fn finish(mut self, comment: &[u8]) -> io::Result<(W, u64)> {
        let cd_start = self.offset;
        let central = std::mem::take(&mut self.central);
        let mut buf = Vec::with_capacity(1 << 16);
        for c in &central {
            let m = &c.meta;
            let big_sizes = m.size >= U32_MAX || m.compressed >= U32_MAX;
            let big_offset = c.offset >= U32_MAX;
            let mut extra = Vec::with_capacity(33);
            if big_sizes || big_offset {
                let mut z = Vec::with_capacity(24);
                if big_sizes {
                    z.extend_from_slice(&m.size.to_le_bytes());
                    z.extend_from_slice(&m.compressed.to_le_bytes());
                }
                if big_offset {
                    z.extend_from_slice(&c.offset.to_le_bytes());
                }
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&(z.len() as u16).to_le_bytes());
                extra.extend_from_slice(&z);
            }
            push_ut(&mut extra, m.mtime);
            let (time, date) = dos_datetime(m.mtime);
            let name = m.name.as_bytes();
            buf.extend_from_slice(&SIG_CENTRAL.to_le_bytes());
            buf.extend_from_slice(&m.made_by().to_le_bytes());
            let zip64 = c.local_zip64 || big_sizes || big_offset;
            buf.extend_from_slice(&version_needed(m.method, zip64).to_le_bytes());
            buf.extend_from_slice(&FLAG_UTF8.to_le_bytes());
            buf.extend_from_slice(&m.method.to_le_bytes());
            buf.extend_from_slice(&time.to_le_bytes());
            buf.extend_from_slice(&date.to_le_bytes());
            buf.extend_from_slice(&m.crc.to_le_bytes());
            let (c32, s32) =
                if big_sizes { (U32_MAX as u32, U32_MAX as u32) } else { (m.compressed as u32, m.size as u32) };
            buf.extend_from_slice(&c32.to_le_bytes());
            buf.extend_from_slice(&s32.to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // comment
            buf.extend_from_slice(&0u16.to_le_bytes()); // disk
            buf.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            buf.extend_from_slice(&m.external_attributes().to_le_bytes());
            buf.extend_from_slice(&(c.offset.min(U32_MAX) as u32).to_le_bytes());
            buf.extend_from_slice(name);
            buf.extend_from_slice(&extra);
            if buf.len() >= 1 << 16 {
                self.write_raw(&buf)?;
                buf.clear();
            }
        }
        self.write_raw(&buf)?;
        buf.clear();
        let cd_size = self.offset - cd_start;
        let n = central.len() as u64;
        if n >= 0xFFFF || cd_size >= U32_MAX || cd_start >= U32_MAX {
            let z64 = self.offset;
            buf.extend_from_slice(&SIG_ZIP64_EOCD.to_le_bytes());
            buf.extend_from_slice(&44u64.to_le_bytes());
            buf.extend_from_slice(&MADE_BY.to_le_bytes());
            buf.extend_from_slice(&45u16.to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(&n.to_le_bytes());
            buf.extend_from_slice(&n.to_le_bytes());
            buf.extend_from_slice(&cd_size.to_le_bytes());
            buf.extend_from_slice(&cd_start.to_le_bytes());
            buf.extend_from_slice(&SIG_ZIP64_LOCATOR.to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(&z64.to_le_bytes());
            buf.extend_from_slice(&1u32.to_le_bytes());
        }
        let comment = &comment[..comment.len().min(0xFFFF)];
        let n16 = n.min(0xFFFF) as u16;
        buf.extend_from_slice(&SIG_EOCD.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&n16.to_le_bytes());
        buf.extend_from_slice(&n16.to_le_bytes());
        buf.extend_from_slice(&(cd_size.min(U32_MAX) as u32).to_le_bytes());
        buf.extend_from_slice(&(cd_start.min(U32_MAX) as u32).to_le_bytes());
        buf.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        buf.extend_from_slice(comment);
        self.write_raw(&buf)?;
        self.w.flush()?;
        Ok((self.w, self.offset))
    }
}

/// Overwriting bytes already written (a streamed entry's CRC and size).
pub trait Patch {
    fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()>;
}

impl Patch for crate::fanout::Fanout {
    fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        crate::fanout::Fanout::patch(self, at, bytes)
    }
}

impl<P: Patch> Patch for &mut P {
    fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        (**self).patch(at, bytes)
    }
}

impl<W: Write + Patch> ZipOut<W> {
    /// Fill in CRC and compressed size of a streamed entry whose local header
    /// was written at `header` with placeholders.
    pub fn patch_streamed(&mut self, header: u64, crc: u32, compressed: u64) -> io::Result<()> {
        let c = self.central.last_mut().expect("a streamed entry has a header");
        debug_assert_eq!(c.offset, header);
        c.meta.crc = crc;
        c.meta.compressed = compressed;
        let zip64 = c.local_zip64;
        let name_len = c.meta.name.len() as u64;
        if zip64 {
            // The ZIP64 field is first in the extra: id, len, size, compressed.
            self.w.patch(header + 14, &crc.to_le_bytes())?;
            self.w.patch(header + 30 + name_len + 4 + 8, &compressed.to_le_bytes())?;
        } else {
            let mut crc_and_size = [0u8; 8];
            crc_and_size[..4].copy_from_slice(&crc.to_le_bytes());
            crc_and_size[4..].copy_from_slice(&(compressed as u32).to_le_bytes());
            self.w.patch(header + 14, &crc_and_size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_datetime_of_known_instants() {
        // 2024-02-29 13:45:58 UTC
        let (t, d) = dos_datetime(1_709_214_358);
        assert_eq!((t >> 11, (t >> 5) & 63, (t & 31) * 2), (13, 45, 58));
        assert_eq!(((d >> 9) + 1980, (d >> 5) & 15, d & 31), (2024, 2, 29));
        assert_eq!(dos_datetime(0), (0, 33)); // before 1980: clamped
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn aligned_headers_put_the_data_on_a_block_boundary() {
        let meta = |name: &str, size: u64| EntryMeta {
            name: name.into(),
            method: METHOD_STORED,
            crc: 0,
            compressed: size,
            size,
            mtime: 1_700_000_000,
            mode: 0o100644,
        };
        for start in [0u64, 1, 4090, 4096 - 39, 12_345, 1 << 33] {
            for zip64 in [false, true] {
                let m = meta("dir/name.bin", 1 << 20);
                let h = local_header_bytes(&m, zip64, true, start);
                assert_eq!((start + h.len() as u64) % ALIGN, 0, "start {start}");
                let extra_len = u16::from_le_bytes([h[28], h[29]]) as usize;
                assert_eq!(30 + m.name.len() + extra_len, h.len());
                // Unaligned, no padding field.
                let plain = local_header_bytes(&m, zip64, false, start);
                assert!(plain.len() <= h.len() && h.len() - plain.len() <= ALIGN as usize + 5);
            }
        }
        assert_eq!(alignment_padding(4096), 0);
        assert_eq!(alignment_padding(4093), 4099, "too little room for the field: the next block");
        assert_eq!(alignment_padding(4090), 6);
        assert!(wants_alignment("a", ALIGN_MIN_SIZE) && !wants_alignment("a", 0));
        let small = (0..10_000).filter(|i| wants_alignment(&format!("src/f{i}.rs"), 100)).count();
        assert!((200..450).contains(&small), "about one in 32: {small}");
    }
}
