//! Shared by the monitoring tests: BackupReports built by hand (until the
//! engine runs end to end) and the metrics records of a small fleet of
//! repositories designed so that every alert rule and dashboard panel has
//! data. `BACKUP_REPO_MONITORING_SOURCE=real` switches `fleet_records` to
//! real backup runs (see `real_records`).
#![allow(dead_code)]

use backup_repo::backup::{BackupReport, RunStatus, Timings};
use backup_repo::destinations::{DestinationReport, DestinationStatus};
use backup_repo::metrics::{Record, Status};

pub const GIB: u64 = 1024 * 1024 * 1024;

pub fn dest(name: &str, status: DestinationStatus, free: u64, total: u64) -> DestinationReport {
    DestinationReport {
        name: name.to_string(),
        root: format!("/backups/{name}"),
        path: format!("/backups/{name}/repo"),
        status,
        reason: match status {
            DestinationStatus::Failed => Some("no space left on device".into()),
            DestinationStatus::Skipped => Some("unchanged".into()),
            _ => None,
        },
        archive_path: None,
        free_bytes: Some(free),
        total_bytes: Some(total),
        warning: None,
        backups: None,
        backups_bytes: None,
        oldest_backup: None,
    }
}

pub fn report(
    repo: &str,
    status: RunStatus,
    started: jiff::Timestamp,
    archive_bytes: u64,
    dests: Vec<DestinationReport>,
) -> BackupReport {
    BackupReport {
        tool_version: backup_repo::VERSION.to_string(),
        repo: repo.to_string(),
        source: format!("/src/{repo}"),
        status,
        timestamp: started.strftime("%Y-%m-%d_%H-%M-%S").to_string(),
        source_id: "0123456789abcdef".to_string(),
        host: "pc".to_string(),
        started_utc: started.to_string(),
        archive_name: format!("{repo}_backup_{}.zip", started.strftime("%Y-%m-%d_%H-%M-%S")),
        fingerprint: format!("{:064x}", archive_bytes),
        file_count: 1200,
        source_bytes: 150 * 1024 * 1024,
        archive_bytes,
        duration_seconds: 4.25,
        timings: Timings {
            select_seconds: 0.2,
            hash_seconds: 1.1,
            compress_seconds: 2.5,
            place_seconds: 0.4,
            verify_seconds: 0.05,
            prune_seconds: 0.0,
        },
        files_hashed: 30,
        files_cached: 1170,
        entries_reused: 1100,
        bytes_cloned: 0,
        destinations: dests,
        excluded: vec![],
        skipped_paths: vec![],
        kept_tracked: vec![],
        verification: vec![],
        retention: vec![],
        warnings: vec![],
        notes: vec![],
        links_stored: 0,
        dirs_stored: 0,
        linked_git_dir: None,
        excluded_rules: vec![],
        pruned: vec![],
        steps: vec![],
        metrics_log: None,
    }
}

fn ago(now: jiff::Timestamp, hours: i64) -> jiff::Timestamp {
    now - jiff::SignedDuration::from_hours(hours)
}

/// Adds what the catalogue would know (backups kept per destination).
fn with_inventory(mut r: Record, oldest: jiff::Timestamp, count: u64) -> Record {
    let size = r.archive_size().max(1);
    for d in &mut r.destinations {
        d.backups = Some(count);
        d.backups_bytes = Some(count * size);
        d.oldest_backup = Some(oldest.to_string());
    }
    r
}

/// Four repositories, each exercising alerts:
/// - `alpha`: healthy, daily runs, mostly created, one partial;
/// - `beta`: last run failed, last success 3 days ago, `usb` 95 % full;
/// - `gamma`: unchanged since 30 days, skipped every day since (archival candidate, high duplicate rate);
/// - `my repo ü "q"`: a name that needs escaping and base64 grouping.
pub fn synthetic_records(now: jiff::Timestamp) -> Vec<Record> {
    use DestinationStatus::*;
    let mut out = Vec::new();
    let half = 500 * GIB;
    for day in (0..10).rev() {
        let t = ago(now, day * 24 + 1);
        let (st, nas) = if day == 5 {
            (RunStatus::Partial, Failed)
        } else if day % 3 == 1 {
            (RunStatus::Skipped, Skipped)
        } else {
            (RunStatus::Created, Created)
        };
        let desk = if st == RunStatus::Skipped { Skipped } else { Created };
        let bytes = if st == RunStatus::Skipped { 0 } else { (40 + (10 - day) as u64) * 1024 * 1024 };
        let r = report(
            "alpha",
            st,
            t,
            bytes,
            vec![dest("desktop", desk, half, 2 * half), dest("nas", nas, 3 * half, 4 * half)],
        );
        out.push(with_inventory(Record::from_report(&r), ago(now, 24 * 40), 10 - day as u64));
    }
    for day in (3..8).rev() {
        let t = ago(now, day * 24);
        let r =
            report("beta", RunStatus::Created, t, 300 * 1024 * 1024, vec![dest("usb", Created, 5 * GIB, 100 * GIB)]);
        out.push(with_inventory(Record::from_report(&r), ago(now, 24 * 8), 8 - day as u64));
    }
    let r = report("beta", RunStatus::Failed, ago(now, 1), 0, vec![dest("usb", Failed, 5 * GIB, 100 * GIB)]);
    out.push(with_inventory(Record::from_report(&r), ago(now, 24 * 8), 5));
    out.push(Record::failed("beta", now - jiff::SignedDuration::from_secs(60), 0.3, "Must run from repository root"));
    let first = report(
        "gamma",
        RunStatus::Created,
        ago(now, 24 * 30),
        12 * 1024 * 1024,
        vec![dest("desktop", Created, half, 2 * half)],
    );
    out.push(with_inventory(Record::from_report(&first), ago(now, 24 * 30), 1));
    for day in (0..29).rev() {
        let r = report(
            "gamma",
            RunStatus::Skipped,
            ago(now, day * 24 + 2),
            0,
            vec![dest("desktop", Skipped, half, 2 * half)],
        );
        out.push(with_inventory(Record::from_report(&r), ago(now, 24 * 30), 1));
    }
    for day in (0..3).rev() {
        let r = report(
            "my repo ü \"q\"",
            RunStatus::Created,
            ago(now, day * 24 + 3),
            2 * 1024 * 1024,
            vec![dest("desk top\\1", Created, half, 2 * half)],
        );
        out.push(with_inventory(Record::from_report(&r), ago(now, 24 * 3), 3 - day as u64));
    }
    out
}

/// The statuses the fleet's newest runs end in (for assertions).
pub fn expected_last_status(repo: &str) -> Status {
    match repo {
        "beta" => Status::Failed,
        "gamma" => Status::Skipped,
        _ => Status::Success,
    }
}

/// Records for the live test: synthetic now; with
/// `BACKUP_REPO_MONITORING_SOURCE=real`, from real `backup::run` calls on
/// generated repositories (needs the engine).
pub fn fleet_records(now: jiff::Timestamp, work: &std::path::Path) -> Vec<Record> {
    match std::env::var("BACKUP_REPO_MONITORING_SOURCE").as_deref() {
        Ok("real") => real_records(work),
        _ => synthetic_records(now),
    }
}

/// Real runs: a repository backed up twice (created, then skipped), then
/// changed and backed up again, to two destinations.
pub fn real_records(work: &std::path::Path) -> Vec<Record> {
    use backup_repo::backup::{run, BackupOptions};
    use backup_repo::progress::Control;
    let src = work.join("src").join("real-repo");
    std::fs::create_dir_all(src.join(".git")).unwrap();
    std::fs::write(src.join("README.md"), "hello\n").unwrap();
    let opts = BackupOptions {
        source: src.clone(),
        destinations: vec![work.join("dest-a"), work.join("dest-b")],
        cache_dir: Some(work.join("cache")),
        ..Default::default()
    };
    let mut out = Vec::new();
    for i in 0..3 {
        if i == 2 {
            std::fs::write(src.join("README.md"), "changed\n").unwrap();
        }
        let rep = run(&opts, &Control::default()).expect("backup run");
        out.push(Record::from_report(&rep));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    out
}
