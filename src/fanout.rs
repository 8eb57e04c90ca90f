//! One byte stream written to several files at once, each by its own thread,
//! while the stream is still being produced: the disks work while the CPU
//! compresses, instead of copying a finished archive afterwards.
//!
//! - The producer fills fixed, page-aligned blocks; a full block is handed to
//!   every file's thread (shared, never copied) and recycled once all have
//!   written it. At most [`BLOCKS`] exist, so memory is bounded.
//! - Where the OS allows it (Linux `O_DIRECT`), a file is written past the page
//!   cache: the block goes to the disk by DMA, with no copy into cache pages
//!   and no dirty backlog left for the final flush (and a backup does not
//!   evict the user's working set). A file system that refuses it is written
//!   through the cache instead.
//! - Bytes already handed off can still be changed with [`Fanout::patch`]
//!   (a ZIP header's CRC and size, known once its entry is written).
//! - A failing file stops alone: its error is kept for [`Fanout::finish`] and
//!   the others go on. Writing fails only once every file has failed.
//! - A stretch of the stream that is already on disk in a file of the same
//!   file system (the previous backup) can be cloned from it instead of
//!   written ([`Fanout::clone_range`], see [`reflink`]): every file was
//!   given its own copy of that backup ([`Target::clone_from`]); a file
//!   whose clone fails copies the stretch from that copy instead.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// Alignment of direct I/O buffers, offsets and lengths (a page; a multiple
/// of every logical block size in use).
const ALIGN: usize = 4096;
/// One hand-off to the writing threads.
const BLOCK: usize = 1 << 20;
/// Blocks in existence at once: one being filled, the rest being written.
const BLOCKS: usize = 4;
/// How far ahead of a copy its source is asked to be read.
const READ_AHEAD: u64 = 16 << 20;

/// A [`BLOCK`]-sized, [`ALIGN`]-aligned buffer (a view into a slightly larger
/// allocation: no unsafe code, and a `Vec`'s buffer never moves).
struct Block {
    raw: Vec<u8>,
    at: usize,
}

impl Block {
    fn new(len: usize) -> Block {
        let raw = vec![0u8; len + ALIGN];
        let at = raw.as_ptr().align_offset(ALIGN);
        Block { raw, at }
    }
    fn bytes(&self) -> &[u8] {
        &self.raw[self.at..self.raw.len() - ALIGN + self.at]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        let end = self.raw.len() - ALIGN + self.at;
        &mut self.raw[self.at..end]
    }
}

enum Job {
    /// `block[..len]` belongs at `at`.
    Write { block: Arc<Block>, at: u64, len: usize },
    /// Replace bytes already written.
    Patch { at: u64, bytes: Vec<u8> },
    /// The stream is `len` bytes long: trim the direct-I/O padding, flush.
    Finish { len: u64 },
    /// `len` bytes at `at` are the target's clone source's at `src_at`
    /// (all three multiples of [`ALIGN`]).
    Clone { at: u64, src_at: u64, len: u64 },
}

/// A file to write the stream into, opened by [`open`].
pub struct Target {
    file: File,
    path: PathBuf,
    direct: bool,
    /// The file stretches of the stream are cloned from, and whether
    /// cloning still works (after a failure the stretches are copied).
    clone_src: Option<File>,
    cloning: bool,
}

impl Target {
    /// Whether the file bypasses the page cache.
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// Let stretches of the stream be cloned from `src` (the previous
    /// backup, whose bytes the writer reuses): tried once on its first
    /// block, so a file system without block cloning (or another one)
    /// says so now, before the writer counts on it. The reason when not.
    pub fn clone_from(&mut self, src: File) -> io::Result<()> {
        let len = src.metadata()?.len();
        if len < ALIGN as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the previous backup is smaller than a block"));
        }
        reflink::clone_range(&src, 0, &self.file, 0, ALIGN as u64)?;
        self.file.set_len(0)?;
        self.clone_src = Some(src);
        self.cloning = true;
        Ok(())
    }

    /// Whether stretches may be cloned into this file.
    pub fn clones(&self) -> bool {
        self.clone_src.is_some()
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The open file, no longer a target.
    pub fn into_file(self) -> File {
        self.file
    }
}

/// Block cloning: a file's blocks shared with another file's on the same
/// file system (copy-on-write), so the copy costs no data blocks and no
/// data I/O. This is the seam for other systems: each is one function
/// here. Linux (XFS, Btrfs, bcachefs, OCFS2): the `FICLONERANGE` and
/// `FICLONE` ioctls. Not built elsewhere yet: Windows ReFS would be
/// `FSCTL_DUPLICATE_EXTENTS_TO_FILE` (ranges aligned to the volume's
/// cluster), macOS APFS `clonefile` (whole files only: the second and third
/// destination, not ranges); there both return `Unsupported` and the
/// caller copies.
pub mod reflink {
    use std::fs::File;
    use std::io;

    /// Share `len` bytes of `src` at `src_at` as `dst`'s bytes at `dst_at`
    /// (offsets and length multiples of the file system's block).
    #[cfg(target_os = "linux")]
    pub fn clone_range(src: &File, src_at: u64, dst: &File, dst_at: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let range = libc::file_clone_range {
            src_fd: src.as_raw_fd() as i64,
            src_offset: src_at,
            src_length: len,
            dest_offset: dst_at,
        };
        // SAFETY: both descriptors are open for the call; the kernel reads
        // `range`, which lives across it.
        let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONERANGE, &range) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Make `dst` (empty) share every block of `src`.
    #[cfg(target_os = "linux")]
    pub fn clone_file(src: &File, dst: &File) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain ioctl on two open descriptors.
        let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn clone_range(_src: &File, _src_at: u64, _dst: &File, _dst_at: u64, _len: u64) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "block cloning is not implemented on this system"))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn clone_file(_src: &File, _dst: &File) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "block cloning is not implemented on this system"))
    }

    /// Whether a failed clone means "not here" (fall back to copying)
    /// rather than a failing disk (full, I/O error).
    pub fn unsupported(e: &io::Error) -> bool {
        !matches!(e.raw_os_error(), Some(libc_enospc::ENOSPC) | Some(libc_enospc::EDQUOT) | Some(libc_enospc::EIO))
    }

    mod libc_enospc {
        pub const ENOSPC: i32 = 28;
        pub const EIO: i32 = 5;
        #[cfg(target_os = "linux")]
        pub const EDQUOT: i32 = 122;
        #[cfg(not(target_os = "linux"))]
        pub const EDQUOT: i32 = 69;
    }
}

/// Open `path` for the stream: created new (`create_new`: never someone
/// else's file) or truncated, past the page cache where possible.
pub fn open(path: &Path, create_new: bool) -> io::Result<Target> {
    open_as(path, create_new, true)
}

impl Target {
    fn new(file: File, path: &Path, direct: bool) -> Target {
        Target { file, path: path.to_path_buf(), direct, clone_src: None, cloning: false }
    }
}

fn open_as(path: &Path, create_new: bool, try_direct: bool) -> io::Result<Target> {
    let options = |direct: bool| {
        let mut o = OpenOptions::new();
        o.write(true).read(true);
        if create_new {
            o.create_new(true);
        } else {
            o.create(true).truncate(true);
        }
        #[cfg(target_os = "linux")]
        if direct {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_DIRECT);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = direct;
        o
    };
    if !try_direct {
        return Ok(Target::new(options(false).open(path)?, path, false));
    }
    match options(true).open(path) {
        Ok(file) => Ok(Target::new(file, path, cfg!(target_os = "linux"))),
        // A file system without direct I/O (tmpfs on older kernels, some
        // network shares): through the cache. `create_new` left nothing.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(Target::new(options(false).open(path)?, path, false)),
        Err(e) => Err(e),
    }
}

struct Shared {
    alive: AtomicUsize,
    first_error: Mutex<Option<(io::ErrorKind, String)>>,
    /// Per file that stopped cloning (and copied instead): its path and why.
    clone_failures: Mutex<Vec<(PathBuf, String)>>,
}

struct Sink {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<io::Result<File>>>,
    clones: bool,
}

/// The writer: `Write` appends to every target; see the module comment.
pub struct Fanout {
    block: Option<Block>,
    fill: usize,
    /// Stream offset of `block[0]`.
    start: u64,
    sent: VecDeque<Arc<Block>>,
    allocated: usize,
    sinks: Vec<Sink>,
    written: mpsc::Receiver<()>,
    shared: Arc<Shared>,
}

impl Fanout {
    /// Start one writing thread per target.
    pub fn new(targets: Vec<Target>) -> Fanout {
        let shared = Arc::new(Shared {
            alive: AtomicUsize::new(targets.len()),
            first_error: Mutex::new(None),
            clone_failures: Mutex::new(Vec::new()),
        });
        let (done, written) = mpsc::channel();
        let sinks = targets
            .into_iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel();
                let (done, shared) = (done.clone(), Arc::clone(&shared));
                let clones = t.clones();
                let thread = std::thread::Builder::new()
                    .name("backup-repo-write".into())
                    .spawn(move || write_target(t, rx, done, shared))
                    .expect("spawn a writing thread");
                Sink { jobs: Some(tx), thread: Some(thread), clones }
            })
            .collect();
        Fanout { block: None, fill: 0, start: 0, sent: VecDeque::new(), allocated: 0, sinks, written, shared }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.start + self.fill as u64
    }

    /// Whether every file has a clone source ([`Target::clone_from`]), so
    /// that [`Self::clone_range`] may be used.
    pub fn can_clone(&self) -> bool {
        !self.sinks.is_empty() && self.sinks.iter().all(|s| s.clones)
    }

    /// Files that could not clone a stretch and copied it instead, with why
    /// (each once).
    pub fn clone_failures(&self) -> Vec<(PathBuf, String)> {
        self.shared.clone_failures.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Append `len` bytes that are each file's clone source's at `src_at`
    /// ([`Self::can_clone`]): the position, `src_at` and `len` are
    /// multiples of [`ALIGN`]. Each file clones them (or copies them from
    /// its source when cloning fails there).
    pub fn clone_range(&mut self, src_at: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let at = self.position();
        let a = ALIGN as u64;
        if !self.can_clone() || !at.is_multiple_of(a) || !src_at.is_multiple_of(a) || !len.is_multiple_of(a) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a clone needs aligned stretches and sources"));
        }
        self.check_alive()?;
        self.hand_off();
        self.send(|| Job::Clone { at, src_at, len });
        self.start += len;
        Ok(())
    }

    /// Whether any target is still being written (none failed yet, or some left).
    pub fn any_alive(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire) > 0
    }

    fn check_alive(&self) -> io::Result<()> {
        if self.shared.alive.load(Ordering::Acquire) > 0 {
            return Ok(());
        }
        let first = self.shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (kind, message) = first.unwrap_or((io::ErrorKind::Other, "no file to write to".into()));
        Err(io::Error::new(kind, message))
    }

    /// A block to fill: a written one when there is one, a new one while
    /// fewer than [`BLOCKS`] exist, else the oldest once every thread is done
    /// with it.
    fn take_block(&mut self) -> Block {
        loop {
            if self.sent.front().is_some_and(|b| Arc::strong_count(b) == 1) {
                let b = self.sent.pop_front().expect("checked");
                return Arc::try_unwrap(b).unwrap_or_else(|_| unreachable!("only the writer holds it"));
            }
            if self.allocated < BLOCKS || self.sent.is_empty() {
                self.allocated += 1;
                return Block::new(BLOCK);
            }
            // Every thread reports each job it is done with.
            if self.written.recv().is_err() {
                // No thread is left to release a block: start a fresh one.
                self.sent.pop_front();
            }
        }
    }

    fn send(&mut self, job: impl Fn() -> Job) {
        for s in &self.sinks {
            if let Some(tx) = &s.jobs {
                let _ = tx.send(job());
            }
        }
    }

    /// Hand the filled part of the current block to every thread.
    fn hand_off(&mut self) {
        let Some(block) = self.block.take() else { return };
        let block = Arc::new(block);
        let (at, len) = (self.start, self.fill);
        self.send(|| Job::Write { block: Arc::clone(&block), at, len });
        self.sent.push_back(block);
        self.start += self.fill as u64;
        self.fill = 0;
    }

    /// Overwrite `bytes` at stream offset `at` (all before [`Self::position`]).
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        let end = at + bytes.len() as u64;
        if end > self.position() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "patch beyond the end of what was written"));
        }
        // The part already handed off goes as a job, the rest into the block.
        let handed = (self.start.saturating_sub(at) as usize).min(bytes.len());
        if handed > 0 {
            let owned = bytes[..handed].to_vec();
            self.send(|| Job::Patch { at, bytes: owned.clone() });
        }
        if handed < bytes.len() {
            let from = (at + handed as u64 - self.start) as usize;
            let block = self.block.as_mut().expect("bytes after start are in the block");
            block.bytes_mut()[from..from + bytes.len() - handed].copy_from_slice(&bytes[handed..]);
        }
        self.check_alive()
    }

    /// Append `len` bytes of `src` read from offset `at`, read straight into
    /// the blocks.
    pub fn copy_from(&mut self, src: &File, at: u64, len: u64) -> io::Result<()> {
        self.copy_inspecting(src, at, len, |_| {})
    }

    /// [`copy_from`](Self::copy_from), showing `inspect` each stretch of
    /// bytes as it is read (to checksum a copy without a second pass).
    pub fn copy_inspecting(
        &mut self,
        src: &File,
        mut at: u64,
        len: u64,
        mut inspect: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let mut left = len;
        let mut asked_until = at;
        while left > 0 {
            self.check_alive()?;
            if asked_until < at + READ_AHEAD / 2 {
                // Keep the source's reads ahead of its writes: the kernel
                // fetches the next stretch while the blocks go out.
                asked_until = (at + READ_AHEAD).min(at + left);
                read_ahead(src, at, asked_until - at);
            }
            if self.block.is_none() {
                self.block = Some(self.take_block());
            }
            let fill = self.fill;
            let room = (BLOCK - fill).min(left.min(usize::MAX as u64) as usize);
            let block = self.block.as_mut().expect("just set");
            let n = read_at(src, &mut block.bytes_mut()[fill..fill + room], at)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended early"));
            }
            inspect(&block.bytes()[fill..fill + n]);
            self.fill += n;
            at += n as u64;
            left -= n as u64;
            if self.fill == BLOCK {
                self.hand_off();
            }
        }
        Ok(())
    }

    /// Write what is left, trim, flush every file to its disk; one result
    /// per target, in order (the file, still open, or why it failed).
    pub fn finish(mut self) -> Vec<io::Result<File>> {
        let len = self.position();
        self.hand_off();
        self.send(|| Job::Finish { len });
        self.join()
    }

    fn join(&mut self) -> Vec<io::Result<File>> {
        for s in &mut self.sinks {
            s.jobs = None;
        }
        self.sinks
            .iter_mut()
            .filter_map(|s| s.thread.take())
            .map(|t| t.join().unwrap_or_else(|_| Err(io::Error::other("the writing thread failed"))))
            .collect()
    }
}

impl Write for Fanout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_alive()?;
        if buf.is_empty() {
            return Ok(0);
        }
        if self.block.is_none() {
            self.block = Some(self.take_block());
        }
        let n = buf.len().min(BLOCK - self.fill);
        let fill = self.fill;
        self.block.as_mut().expect("just set").bytes_mut()[fill..fill + n].copy_from_slice(&buf[..n]);
        self.fill += n;
        if self.fill == BLOCK {
            self.hand_off();
        }
        Ok(n)
    }

    /// Blocks are handed off when full; the rest goes at [`Fanout::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Fanout {
    /// Unfinished: the threads write what they were given and stop; the
    /// caller removes the files.
    fn drop(&mut self) {
        self.join();
    }
}

/// One target's thread: do every job in order; after a failure, only
/// release the blocks (the producer waits for them) and keep the error.
fn write_target(
    mut t: Target,
    jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<()>,
    shared: Arc<Shared>,
) -> io::Result<File> {
    let mut failed: Option<io::Error> = None;
    for job in jobs {
        if failed.is_none() {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(&mut t, &job, &shared)))
                .unwrap_or_else(|_| Err(io::Error::other("the writing thread failed")));
            if let Err(e) = result {
                let mut first = shared.first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| (e.kind(), e.to_string()));
                drop(first);
                shared.alive.fetch_sub(1, Ordering::AcqRel);
                failed = Some(e);
            }
        }
        drop(job);
        let _ = done.send(());
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(t.file),
    }
}

fn run_job(t: &mut Target, job: &Job, shared: &Shared) -> io::Result<()> {
    match job {
        Job::Clone { at, src_at, len } => {
            let src = t.clone_src.as_ref().ok_or_else(|| io::Error::other("no clone source"))?;
            if t.cloning {
                match reflink::clone_range(src, *src_at, &t.file, *at, *len) {
                    Ok(()) => return Ok(()),
                    Err(e) if reflink::unsupported(&e) => {
                        t.cloning = false;
                        let mut failures = shared.clone_failures.lock().unwrap_or_else(|e| e.into_inner());
                        failures.push((t.path.clone(), e.to_string()));
                    }
                    Err(e) => return Err(e),
                }
            }
            // Copied instead, through an aligned buffer (direct I/O).
            let mut buf = Block::new(BLOCK);
            let mut done = 0u64;
            while done < *len {
                let n = (*len - done).min(BLOCK as u64) as usize;
                read_exact_at(src, &mut buf.bytes_mut()[..n], src_at + done)?;
                write_all_at(&t.file, &buf.bytes()[..n], at + done)?;
                done += n as u64;
            }
            Ok(())
        }
        Job::Write { block, at, len } => {
            let data = &block.bytes()[..*len];
            if t.direct {
                // Direct I/O writes whole blocks: the tail is padded, and
                // trimmed at the end.
                let padded = len.next_multiple_of(ALIGN);
                match write_all_at(&t.file, &block.bytes()[..padded], *at) {
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        // Accepted at open, refused on write (some file
                        // systems): go on through the cache.
                        t.file = OpenOptions::new().write(true).read(true).open(&t.path)?;
                        t.direct = false;
                    }
                    other => return other,
                }
            }
            write_all_at(&t.file, data, *at)
        }
        Job::Patch { at, bytes } if t.direct => {
            // Read-modify-write of the aligned pages holding the bytes.
            let from = at - at % ALIGN as u64;
            let to = (at + bytes.len() as u64).next_multiple_of(ALIGN as u64);
            let mut pages = Block::new((to - from) as usize);
            read_exact_at(&t.file, pages.bytes_mut(), from)?;
            let i = (at - from) as usize;
            pages.bytes_mut()[i..i + bytes.len()].copy_from_slice(bytes);
            write_all_at(&t.file, pages.bytes(), from)
        }
        Job::Patch { at, bytes } => write_all_at(&t.file, bytes, *at),
        Job::Finish { len } => {
            if t.direct {
                t.file.set_len(*len)?;
            }
            t.file.sync_all()
        }
    }
}

/// Ask the OS to start reading `len` bytes of `f` at `at` (a hint: errors
/// and other systems ignore it).
fn read_ahead(f: &File, at: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; no memory is passed.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), at as libc::off_t, len as libc::off_t, libc::POSIX_FADV_WILLNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (f, at, len);
}

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match std::os::unix::fs::FileExt::read_at(f, buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(f, buf, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, at)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(f, buf, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<u8>),
        /// Where (a fraction of what is written) and what.
        Patch(f64, Vec<u8>),
        /// Length of a copy from the source file, at a fraction of it.
        Copy(f64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..300_000).prop_map(Op::Write),
            // A block and a half, so writes end mid-block and cross blocks.
            1 => Just(Op::Write(vec![0x5a; BLOCK + BLOCK / 2 + 3])),
            3 => (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..12)).prop_map(|(w, b)| Op::Patch(w, b)),
            2 => (0.0..1.0f64, 0..3 * BLOCK).prop_map(|(w, n)| Op::Copy(w, n)),
        ]
    }

    /// Apply `ops` to a model and to a fan-out over a direct and a cached
    /// file: both files end up equal to the model.
    fn check(ops: &[Op]) {
        let tmp = tempfile::tempdir().unwrap();
        let source: Vec<u8> = (0..4 * BLOCK).map(|i| (i * 7 % 253) as u8).collect();
        let src_path = tmp.path().join("source");
        std::fs::write(&src_path, &source).unwrap();
        let src = File::open(&src_path).unwrap();
        let paths = [tmp.path().join("direct"), tmp.path().join("cached")];
        let targets = vec![open_as(&paths[0], true, true).unwrap(), open_as(&paths[1], true, false).unwrap()];
        let mut out = Fanout::new(targets);
        let mut model = Vec::new();
        for op in ops {
            match op {
                Op::Write(b) => {
                    out.write_all(b).unwrap();
                    model.extend_from_slice(b);
                }
                Op::Patch(w, b) if model.len() >= b.len() => {
                    let at = ((model.len() - b.len()) as f64 * w) as usize;
                    out.patch(at as u64, b).unwrap();
                    model[at..at + b.len()].copy_from_slice(b);
                }
                Op::Patch(..) => {}
                Op::Copy(w, n) => {
                    let at = ((source.len() - n) as f64 * w) as usize;
                    let mut seen = Vec::new();
                    out.copy_inspecting(&src, at as u64, *n as u64, |b| seen.extend_from_slice(b)).unwrap();
                    assert!(seen == source[at..at + n], "the inspector saw other bytes than were copied");
                    model.extend_from_slice(&source[at..at + n]);
                }
            }
            assert_eq!(out.position(), model.len() as u64);
        }
        for r in out.finish() {
            r.unwrap();
        }
        for p in &paths {
            assert!(std::fs::read(p).unwrap() == model, "{} differs from the model", p.display());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn every_file_gets_exactly_the_stream(ops in prop::collection::vec(op(), 0..24)) {
            check(&ops);
        }
    }

    #[test]
    fn patches_reach_handed_off_blocks_and_the_current_one() {
        // A patch straddling the hand-off point, one far behind, one at the end.
        check(&[
            Op::Write(vec![1; BLOCK - 3]),
            Op::Write(vec![2; 10]),
            Op::Patch((BLOCK - 5) as f64 / (BLOCK + 7 - 8) as f64, vec![9; 8]),
            Op::Patch(0.0, vec![8; 4]),
            Op::Copy(0.5, BLOCK),
            Op::Patch(1.0, vec![7; 3]),
        ]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_bypass_the_cache_where_the_file_system_allows() {
        let tmp = tempfile::tempdir().unwrap();
        // The test machine's disk takes O_DIRECT; /dev/null does not.
        assert!(open(&tmp.path().join("a"), true).unwrap().direct());
        assert!(!open(Path::new("/dev/null"), false).unwrap().direct());
    }

    /// A target that fails (a full disk) stops alone; the others get every
    /// byte; writing fails once none is left.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failing_file_stops_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        let mut out = Fanout::new(vec![open(&good, true).unwrap(), open(Path::new("/dev/full"), false).unwrap()]);
        let data: Vec<u8> = (0..3 * BLOCK + 5).map(|i| i as u8).collect();
        out.write_all(&data).unwrap();
        let got = out.finish();
        assert_eq!(got[1].as_ref().unwrap_err().raw_os_error(), Some(28), "ENOSPC");
        assert!(got[0].is_ok());
        assert!(std::fs::read(&good).unwrap() == data);

        let mut out = Fanout::new(vec![open(Path::new("/dev/full"), false).unwrap()]);
        let mut failed = None;
        for _ in 0..2 * BLOCKS {
            if let Err(e) = out.write_all(&data) {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("writing stops once every file failed");
        assert!(!out.any_alive());
        assert!(e.to_string().contains("No space left"), "{e}");
    }
}
