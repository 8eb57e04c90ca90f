//! Who makes a backup, of what: the source's identity, this machine's name,
//! and the id of one run. A backup is attributed by what its manifest
//! records, never by its file name, so two repositories that share a folder
//! name (and a destination folder) never touch each other's backups.
//!
//! Rules:
//! - A source is identified by the host that backs it up plus its canonical
//!   absolute path: the same folder backed up from two machines (a share) is
//!   two sources, and a repository moved to another folder is a new source
//!   (its older backups are kept, never pruned on a guess).
//! - A run id names the host, the process and a random part, so its
//!   temporary files and locks say who made them and whether that run can
//!   still be alive.

use std::path::Path;

/// The identity of one source folder on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIdentity {
    /// Short stable key: 16 hex digits of BLAKE3 over host and path.
    pub id: String,
    /// The canonical absolute path as text.
    pub path: String,
    /// The host that backs it up.
    pub host: String,
}

impl SourceIdentity {
    /// The identity of `canonical_source` backed up from `host`. Pure.
    pub fn new(host: &str, canonical_source: &Path) -> SourceIdentity {
        let path = canonical_source.display().to_string();
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"backup-repo source v1\0");
        hasher.update(host.to_lowercase().as_bytes());
        hasher.update(b"\0");
        hasher.update(path.as_bytes());
        let id = hasher.finalize().to_hex()[..16].to_string();
        SourceIdentity { id, path, host: host.to_string() }
    }
}

/// Whether `id` has the shape of a source id (16 lowercase hex digits).
pub fn is_source_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// This machine's name as the OS reports it (`COMPUTERNAME` on Windows),
/// or `localhost` when it cannot be read.
pub fn host_name() -> String {
    system_host_name().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".to_string())
}

#[cfg(unix)]
fn system_host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(not(unix))]
fn system_host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// A host name made safe for a file name: letters, digits, `.` and `-`
/// kept, everything else `_`, at most 63 characters. Pure.
pub fn file_safe_host(host: &str) -> String {
    let safe: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .take(63)
        .collect();
    if safe.is_empty() {
        "host".to_string()
    } else {
        safe
    }
}

/// The id of one run: `<host>~<pid>~<8 hex>`, safe in a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId {
    pub host: String,
    pub pid: u32,
    pub nonce: String,
}

/// Separates a run id's parts (never in a file-safe host name).
const RUN_ID_SEPARATOR: char = '~';

impl RunId {
    /// A new id for this process on `host`.
    pub fn new(host: &str) -> RunId {
        let pid = std::process::id();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&pid.to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.update(&nanos.to_le_bytes());
        hasher.update(host.as_bytes());
        // Two runs of one process within a nanosecond still differ.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        hasher.update(&COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
        RunId { host: file_safe_host(host), pid, nonce: hasher.finalize().to_hex()[..8].to_string() }
    }

    /// Parse the text form; None when it is not one. Pure.
    pub fn parse(text: &str) -> Option<RunId> {
        let mut parts = text.rsplitn(3, RUN_ID_SEPARATOR);
        let nonce = parts.next()?;
        let pid = parts.next()?;
        let host = parts.next()?;
        let hex = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let host_ok = !host.is_empty() && file_safe_host(host) == host;
        let pid_ok = !pid.is_empty() && pid.len() <= 10 && pid.bytes().all(|b| b.is_ascii_digit());
        if !(hex(nonce) && host_ok && pid_ok) {
            return None;
        }
        Some(RunId { host: host.to_string(), pid: pid.parse().ok()?, nonce: nonce.to_string() })
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{RUN_ID_SEPARATOR}{}{RUN_ID_SEPARATOR}{}", self.host, self.pid, self.nonce)
    }
}

/// Whether process `pid` on this machine is certainly gone. False when
/// unknown (another OS, no permission): a run is presumed alive unless
/// proved dead.
pub fn process_is_gone(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// A run is provably abandoned when it ran on this host and its process is
/// gone, or when what it left has not changed for [`ABANDONED_AFTER`].
pub fn run_is_abandoned(run: &RunId, this_host: &str, last_change: Option<std::time::SystemTime>) -> bool {
    if run.host == file_safe_host(this_host) && run.pid != std::process::id() && process_is_gone(run.pid) {
        return true;
    }
    last_change
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > ABANDONED_AFTER)
}

/// How long a lock or temporary file of another machine's run may go
/// unchanged before it counts as abandoned. A backup writes its archive
/// continuously and holds its lock for the run; none lasts a day.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_source_is_its_host_and_path() {
        let a = SourceIdentity::new("pc1", Path::new("/src/one/app"));
        let b = SourceIdentity::new("pc1", Path::new("/src/two/app"));
        let c = SourceIdentity::new("pc2", Path::new("/src/one/app"));
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a, SourceIdentity::new("pc1", Path::new("/src/one/app")));
        // Host names are case-insensitive (DNS, NetBIOS).
        assert_eq!(a.id, SourceIdentity::new("PC1", Path::new("/src/one/app")).id);
        assert!(is_source_id(&a.id));
        assert!(!is_source_id("xyz") && !is_source_id(&"A".repeat(16)));
    }

    #[test]
    fn this_process_is_alive_and_an_exited_one_is_gone() {
        assert!(!process_is_gone(std::process::id()));
        let mut child = std::process::Command::new(if cfg!(windows) { "cmd" } else { "true" })
            .args(if cfg!(windows) { &["/C", "exit"][..] } else { &[][..] })
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait().unwrap();
        if cfg!(unix) {
            assert!(process_is_gone(pid));
        }
    }

    #[test]
    fn abandoned_only_when_proved() {
        let host = "pc1";
        let mut run = RunId::new(host);
        let now = Some(std::time::SystemTime::now());
        // This process: alive.
        assert!(!run_is_abandoned(&run, host, now));
        // Another host, recent: presumed alive; a day old: abandoned.
        run.host = "pc2".into();
        run.pid = u32::MAX - 1;
        assert!(!run_is_abandoned(&run, host, now));
        let old = std::time::SystemTime::now() - ABANDONED_AFTER - std::time::Duration::from_secs(60);
        assert!(run_is_abandoned(&run, host, Some(old)));
        assert!(!run_is_abandoned(&run, host, None));
    }

    proptest! {
        #[test]
        fn run_ids_parse_back(host in "\\PC{0,20}") {
            let run = RunId::new(&host);
            prop_assert_eq!(RunId::parse(&run.to_string()), Some(run.clone()));
            prop_assert!(!run.to_string().contains(['/', '\\', ':', ' ']));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = RunId::parse(&text);
        }
    }
}
