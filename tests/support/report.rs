//! A BackupReport fixture built from JSON, so the tests depend only on the
//! report's serialized shape.

use backup_repo::backup::BackupReport;
use serde_json::{json, Value};

pub fn dest(name: &str, status: &str, reason: Option<&str>, warning: Option<&str>) -> Value {
    json!({
        "name": name, "root": format!("/backups/{name}"), "path": format!("/backups/{name}/my-repo"),
        "status": status, "reason": reason,
        "archive_path": null, "free_bytes": 1000, "total_bytes": 10000, "warning": warning,
    })
}

pub fn report(status: &str, destinations: Vec<Value>) -> BackupReport {
    serde_json::from_value(json!({
        "tool_version": "0.1.0",
        "repo": "my-repo",
        "source": "/home/me/src/my-repo",
        "status": status,
        "timestamp": "2025-03-04_05-06-07",
        "started_utc": "2025-03-04T04:06:07Z",
        "archive_name": "my-repo_backup_2025-03-04_05-06-07.zip",
        "fingerprint": "0123456789abcdef0123456789abcdef",
        "file_count": 1234,
        "source_bytes": 40000000,
        "archive_bytes": 12897484,
        "duration_seconds": 4.23,
        "timings": {"select_seconds": 0.0, "hash_seconds": 0.0, "compress_seconds": 0.0, "place_seconds": 0.0, "verify_seconds": 0.0, "prune_seconds": 0.0},
        "files_hashed": 0, "files_cached": 0, "entries_reused": 0,
        "destinations": destinations,
        "excluded": [], "skipped_paths": [], "verification": [], "retention": [], "warnings": [],
    }))
    .expect("fixture matches BackupReport")
}

/// 2 created, 1 failed (partial) with a disk-space warning on one.
pub fn partial_with_warning() -> BackupReport {
    report(
        "partial",
        vec![
            dest("desktop", "created", None, Some("93.0 % used (threshold 90 %)")),
            dest("n-drive", "failed", Some("no space left: needs 12.3 MB, 1.0 KB free"), None),
            dest("onedrive", "created", None, None),
        ],
    )
}

pub fn created() -> BackupReport {
    report(
        "created",
        vec![
            dest("desktop", "created", None, None),
            dest("n-drive", "created", None, None),
            dest("onedrive", "skipped", None, None),
        ],
    )
}
