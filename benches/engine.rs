//! divan micro-benchmarks of the engine's stages on a generated tree:
//! selection walk, hashing (cold: every file read; cached: the stat cache
//! answers, as for an unchanged repository) and archive write (fresh, and
//! reusing every entry raw from a previous archive).
//!
//! The tree is generated once per process by benches/corpus.py (python3,
//! deterministic) at BENCH_CORPUS_SIZE (default 8M: big enough to show the
//! per-file and per-byte costs, small enough for 2 shared cores), or taken
//! from BENCH_CORPUS (any folder). `cargo bench --bench engine`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use backup_repo::archive::{self, ArchiveOptions, ManifestOf};
use backup_repo::fingerprint::{self, HashedFile};
use backup_repo::progress::Control;
use backup_repo::select::{self, SelectOptions, SelectedFile};

fn main() {
    divan::main();
}

struct Fixture {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    files: Vec<SelectedFile>,
    hashed: Vec<HashedFile>,
    /// A stat cache filled for `files`.
    cache_dir: tempfile::TempDir,
    /// An archive of `hashed`, for the reuse benchmark.
    previous: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (tmp, root) = match std::env::var_os("BENCH_CORPUS") {
            Some(dir) => (None, PathBuf::from(dir)),
            None => {
                let tmp = tempfile::tempdir().expect("temp dir");
                let root = tmp.path().join("corpus");
                let size = std::env::var("BENCH_CORPUS_SIZE").unwrap_or_else(|_| "8M".into());
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpus.py");
                let st = std::process::Command::new("python3")
                    .arg(script)
                    .args(["--size", &size, "--out"])
                    .arg(&root)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("python3 benches/corpus.py");
                assert!(st.success(), "corpus generator failed");
                (Some(tmp), root)
            }
        };
        let control = Control::default();
        let files = select::select(&root, &SelectOptions::default(), &control).expect("select").files;
        let cache_dir = tempfile::tempdir().expect("temp dir");
        let cache = fingerprint::stat_cache_path(cache_dir.path(), &root);
        let (hashed, _) = fingerprint::hash_files(&files, Some(&cache), &control).expect("hash");
        let previous = cache_dir.path().join("previous.zip");
        archive::write_archive(&previous, &manifest(&hashed), &ArchiveOptions::default(), None, &control)
            .expect("write previous");
        Fixture { _tmp: tmp, root, files, hashed, cache_dir, previous }
    })
}

fn manifest(hashed: &[HashedFile]) -> ManifestOf<'_> {
    ManifestOf {
        repo: "bench".into(),
        fingerprint: fingerprint::fingerprint_of(hashed),
        files: hashed,
        dirs: &[],
        links: &[],
        origin: None,
    }
}

fn bytes() -> u64 {
    fixture().files.iter().map(|f| f.size).sum()
}

/// Walk and apply the default rules.
#[divan::bench(sample_count = 10)]
fn select_walk(b: divan::Bencher) {
    let f = fixture();
    b.counter(divan::counter::ItemsCount::new(f.files.len()))
        .bench(|| select::select(&f.root, &SelectOptions::default(), &Control::default()).unwrap());
}

/// Every file read and hashed (no cache).
#[divan::bench(sample_count = 5)]
fn hash_cold(b: divan::Bencher) {
    let f = fixture();
    b.counter(divan::counter::BytesCount::new(bytes()))
        .bench(|| fingerprint::hash_files(&f.files, None, &Control::default()).unwrap());
}

/// The stat cache answers every file (an unchanged repository): the cost is
/// loading the cache and comparing, then writing it back.
#[divan::bench(sample_count = 10)]
fn hash_cached(b: divan::Bencher) {
    let f = fixture();
    let cache = fingerprint::stat_cache_path(f.cache_dir.path(), &f.root);
    b.counter(divan::counter::ItemsCount::new(f.files.len()))
        .bench(|| fingerprint::hash_files(&f.files, Some(&cache), &Control::default()).unwrap());
}

/// A first backup's archive: compress (or store) every entry.
#[divan::bench(sample_count = 5)]
fn archive_write_fresh(b: divan::Bencher) {
    let f = fixture();
    let m = manifest(&f.hashed);
    let out = f.cache_dir.path().join("fresh.zip");
    b.counter(divan::counter::BytesCount::new(bytes()))
        .bench(|| archive::write_archive(&out, &m, &ArchiveOptions::default(), None, &Control::default()).unwrap());
}

/// A one-file-changed backup's archive: every entry reused raw from the previous one.
#[divan::bench(sample_count = 5)]
fn archive_write_reuse(b: divan::Bencher) {
    let f = fixture();
    let m = manifest(&f.hashed);
    let out = f.cache_dir.path().join("reuse.zip");
    b.counter(divan::counter::BytesCount::new(bytes())).bench(|| {
        archive::write_archive(&out, &m, &ArchiveOptions::default(), Some(&f.previous), &Control::default()).unwrap()
    });
}
