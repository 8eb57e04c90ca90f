//! The metrics log and Prometheus exposition, without external services
//! (except `promtool check metrics`, when installed).

mod monitoring_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use backup_repo::backup::RunStatus;
use backup_repo::destinations::DestinationStatus;
use backup_repo::metrics::{self, Record, Status};
use monitoring_support::*;

fn now() -> jiff::Timestamp {
    "2026-03-10T12:00:00Z".parse().unwrap()
}

#[test]
fn record_keys_and_status_mapping() {
    let t: jiff::Timestamp = "2026-03-10T10:00:00.5+01:00".parse().unwrap();
    for (run, want) in [
        (RunStatus::Created, "success"),
        (RunStatus::Skipped, "skipped"),
        (RunStatus::Partial, "partial"),
        (RunStatus::Failed, "failed"),
    ] {
        let r = Record::from_report(&report(
            "repo",
            run,
            t,
            3 * 1024 * 1024,
            vec![dest("desktop", DestinationStatus::Created, 1, 2)],
        ));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], want);
    }
    let rep = report(
        "repo",
        RunStatus::Partial,
        t,
        5 * 1024 * 1024 + 1234,
        vec![
            dest("desktop", DestinationStatus::Created, 10, 20),
            dest("n-drive", DestinationStatus::Skipped, 10, 20),
            dest("onedrive", DestinationStatus::Failed, 10, 20),
        ],
    );
    let r = Record::from_report(&rep);
    let line = r.to_line();
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    // The original's nine keys first, names unchanged.
    assert_eq!(
        &keys[..9],
        [
            "timestamp", "repo", "status", "locations_created", "locations_skipped", "size_mb", "duration_seconds",
            "file_count", "duplicate_detected"
        ]
    );
    for k in [
        "schema_version", "tool_version", "fingerprint", "source_bytes", "archive_bytes", "timings", "destinations",
        "files_hashed", "files_cached",
    ] {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(v["timestamp"], "2026-03-10T09:00:00.5Z", "UTC");
    assert_eq!(
        (v["locations_created"].as_u64(), v["locations_skipped"].as_u64(), v["locations_failed"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(v["size_mb"], 5.0);
    assert_eq!(v["duplicate_detected"], true);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["timings"]["hash_seconds"], 1.1);
    assert_eq!(v["destinations"][2]["status"], "failed");
    assert_eq!(v["destinations"][2]["reason"], "no space left on device");
    assert_eq!(v["destinations"][0]["free_bytes"], 10);
    let back: Record = serde_json::from_str(&line).unwrap();
    assert_eq!(back, r);
}

#[test]
fn reads_lines_written_by_the_original_script() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("backup-old.jsonl");
    std::fs::write(
        &p,
        "\u{feff}{\"timestamp\":\"2025-01-02T03:04:05.1234567Z\",\"repo\":\"old\",\"status\":\"success\",\"locations_created\":3,\"locations_skipped\":0,\"size_mb\":12.5,\"duration_seconds\":40.1,\"file_count\":900,\"duplicate_detected\":false}\r\n",
    )
    .unwrap();
    let recs = metrics::read_log(&p).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].status, Status::Success);
    assert_eq!(recs[0].archive_size(), (12.5 * 1048576.0) as u64);
    assert!(recs[0].time().is_some());
    let text = metrics::render_prometheus(&recs, now());
    assert!(text.contains("backup_repo_archive_bytes{repo=\"old\"} 13107200\n"), "{text}");
}

#[test]
fn concurrent_appends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("backup-conc.jsonl");
    let base = Record::from_report(&report(
        "conc",
        RunStatus::Created,
        now(),
        1024,
        (0..12)
            .map(|i| dest(&format!("destination-{i}-{}", "x".repeat(200)), DestinationStatus::Created, 1, 2))
            .collect(),
    ));
    assert!(base.to_line().len() > 4096, "lines longer than a pipe buffer");
    std::thread::scope(|s| {
        for t in 0..8 {
            let (path, base) = (&path, &base);
            s.spawn(move || {
                for i in 0..200 {
                    let mut r = base.clone();
                    r.file_count = t * 1000 + i;
                    metrics::append(path, &r).unwrap();
                }
            });
        }
    });
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1600);
    let mut seen = std::collections::HashSet::new();
    for l in lines {
        let r: Record = serde_json::from_str(l).expect("every line parses");
        assert!(seen.insert(r.file_count));
    }
    let c = metrics::read_log_counted(&path).unwrap();
    assert_eq!((c.records.len(), c.unparsable), (1600, 0));
}

#[test]
fn read_log_skips_and_counts_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("backup-torn.jsonl");
    let r = Record::from_report(&report("torn", RunStatus::Created, now(), 1, vec![]));
    metrics::append(&p, &r).unwrap();
    metrics::append(&p, &r).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(&r.to_line().as_bytes()[..40]).unwrap();
    drop(f);
    let c = metrics::read_log_counted(&p).unwrap();
    assert_eq!((c.records.len(), c.unparsable), (2, 1));
    assert_eq!(metrics::read_log(&dir.path().join("missing.jsonl")).unwrap(), vec![]);
}

fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED promtool check metrics: promtool not installed (scripts/setup installs it)");
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && msg.trim().is_empty(), "promtool check metrics:\n{msg}\n---\n{text}");
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}

#[test]
fn renders_valid_exposition() {
    let recs = synthetic_records(now());
    let text = metrics::render_prometheus(&recs, now());
    promtool_check(&text);
    let n = now().as_second() as f64;
    assert_eq!(sample(&text, "backup_repo_last_status{repo=\"beta\",status=\"failed\"}"), Some(1.0));
    assert_eq!(sample(&text, "backup_repo_last_status{repo=\"beta\",status=\"success\"}"), Some(0.0));
    assert_eq!(sample(&text, "backup_repo_last_status{repo=\"gamma\",status=\"skipped\"}"), Some(1.0));
    assert_eq!(sample(&text, "backup_repo_last_success_timestamp_seconds{repo=\"beta\"}"), Some(n - 3.0 * 86400.0));
    assert_eq!(sample(&text, "backup_repo_last_created_timestamp_seconds{repo=\"gamma\"}"), Some(n - 30.0 * 86400.0));
    assert_eq!(sample(&text, "backup_repo_runs_total{repo=\"gamma\",status=\"skipped\"}"), Some(29.0));
    assert_eq!(sample(&text, "backup_repo_runs_total{repo=\"beta\",status=\"failed\"}"), Some(2.0));
    assert_eq!(sample(&text, "backup_repo_duplicates_total{repo=\"gamma\"}"), Some(29.0));
    assert_eq!(sample(&text, "backup_repo_recent_runs{repo=\"gamma\",status=\"skipped\",window=\"7d\"}"), Some(7.0));
    assert_eq!(sample(&text, "backup_repo_archive_bytes{repo=\"gamma\"}"), Some(12.0 * 1048576.0));
    assert_eq!(sample(&text, "backup_repo_step_duration_seconds{repo=\"alpha\",step=\"compress\"}"), Some(2.5));
    assert_eq!(
        sample(&text, "backup_repo_destination_free_bytes{repo=\"beta\",destination=\"usb\"}"),
        Some(5.0 * GIB as f64)
    );
    assert_eq!(
        sample(&text, "backup_repo_destination_last_status{repo=\"alpha\",destination=\"nas\",status=\"created\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "backup_repo_destination_backups{repo=\"alpha\",destination=\"desktop\"}"), Some(10.0));
    // Escaping: backslash, quote; UTF-8 kept.
    assert!(
        text.contains(
            "backup_repo_destination_backups{repo=\"my repo ü \\\"q\\\"\",destination=\"desk top\\\\1\"} 3\n"
        ),
        "{text}"
    );
    // Each family's HELP/TYPE once, before its samples.
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut uniq = types.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(types.len(), uniq.len());
    assert!(text.contains("# TYPE backup_repo_runs_total counter\n"));
    // Empty input renders nothing (still valid).
    assert_eq!(metrics::render_prometheus(&[], now()), "");
}

#[test]
fn textfile_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("collector").join("backup_repo.prom");
    metrics::write_textfile(&p, "a 1\n").unwrap();
    metrics::write_textfile(&p, "a 2\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
    let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("backup_repo.prom")], "no temporary file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
    }
}

#[test]
fn push_payloads_one_group_per_repository() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("metrics");
    for r in synthetic_records(now()) {
        metrics::append(&metrics::log_path(&logs, &r.repo), &r).unwrap();
    }
    std::fs::write(logs.join("backup-empty.jsonl"), "").unwrap();
    let all = metrics::push_payloads(&logs, "backup_repo", now()).unwrap();
    let mut repos: Vec<&str> = all.iter().map(|p| p.repo.as_str()).collect();
    repos.sort_unstable();
    assert!(!repos.contains(&"empty"), "an empty log pushes nothing");
    for p in &all {
        assert_eq!(p.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert!(p.path.starts_with("/metrics/job/backup_repo/repo"), "{}", p.path);
        promtool_check(&p.body);
        // Only this repository's series: a push replaces its own group only.
        for line in p.body.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.contains(&format!("repo=\"{}\"", p.repo.replace('\\', "\\\\").replace('"', "\\\""))),
                "{line}"
            );
        }
    }
    let alpha = all.iter().find(|p| p.repo == "alpha").unwrap();
    assert_eq!(alpha.path, "/metrics/job/backup_repo/repo/alpha");
    let spaced = all.iter().find(|p| p.repo.contains(' ')).unwrap();
    assert!(spaced.path.starts_with("/metrics/job/backup_repo/repo@base64/"), "{}", spaced.path);

    // One file, another job; a missing path is NotFound; an empty job is refused.
    let one = metrics::push_payloads(&metrics::log_path(&logs, "alpha"), "nightly", now()).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].path, "/metrics/job/nightly/repo/alpha");
    assert_eq!(one[0].body, alpha.body);
    let e = metrics::push_payloads(&dir.path().join("nope"), "backup_repo", now()).unwrap_err();
    assert_eq!(e.kind, backup_repo::ErrorKind::NotFound);
    assert!(metrics::push_payloads(&logs, "", now()).is_err());
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn exporter_serves_every_log_rereading_per_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let n = jiff::Timestamp::now();
    for r in synthetic_records(n) {
        metrics::append(&metrics::log_path(dir.path(), &r.repo), &r).unwrap();
    }
    std::fs::write(dir.path().join("backup-broken.jsonl"), "{not json\n").unwrap();
    std::fs::write(dir.path().join("other.jsonl"), "{not json\n").unwrap();
    let exp = metrics::serve("127.0.0.1:0", dir.path()).unwrap();
    let resp = http_get(exp.addr(), "/metrics");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("text/plain; version=0.0.4"));
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    promtool_check(body);
    for repo in ["alpha", "beta", "gamma"] {
        assert!(body.contains(&format!("backup_repo_last_run_timestamp_seconds{{repo=\"{repo}\"}}")), "{body}");
    }
    assert!(body.contains("backup_repo_log_unparsable_lines 1\n"), "{body}");
    // A new run shows up on the next scrape.
    let r = Record::from_report(&report("delta", RunStatus::Created, n, 1, vec![]));
    metrics::append(&metrics::log_path(dir.path(), "delta"), &r).unwrap();
    assert!(http_get(exp.addr(), "/metrics").contains("repo=\"delta\""));
    assert!(http_get(exp.addr(), "/nope").starts_with("HTTP/1.1 404"));
    let addr = exp.addr();
    exp.stop();
    assert!(TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_err(), "stopped");
}

// ---- JSON Schemas: a small, honest checker of what the schemas say ----

fn load_schema(name: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Checks `type` (string or list), `required`, `properties`,
/// `additionalProperties: false`, `items`, `enum`, `const`, `minimum` and
/// local `$ref`s (`#/$defs/...`). Returns every violation with its path.
fn validate(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
    errs: &mut Vec<String>,
) {
    use serde_json::Value;
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r.strip_prefix("#/").unwrap().split('/').fold(root, |s, k| &s[k]);
        assert!(!target.is_null(), "dangling $ref {r}");
        return validate(target, root, v, at, errs);
    }
    let type_ok = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    };
    match schema.get("type") {
        Some(Value::String(t)) if !type_ok(t) => errs.push(format!("{at}: expected {t}, got {v}")),
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap())) => {
            errs.push(format!("{at}: expected one of {ts:?}, got {v}"))
        }
        _ => {}
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} != const {c}"));
        }
    }
    if let (Some(m), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < m {
            errs.push(format!("{at}: {x} < minimum {m}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for k in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !obj.contains_key(k.as_str().unwrap()) {
                errs.push(format!("{at}: missing required key {k}"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, root, val, &format!("{at}.{k}"), errs),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: unexpected key {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(items, root, x, &format!("{at}[{i}]"), errs);
        }
    }
}

fn check(schema: &serde_json::Value, v: &serde_json::Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(schema, schema, v, "$", &mut errs);
    errs
}

#[test]
fn records_match_their_schema() {
    let schema = load_schema("metrics-record.schema.json");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let mut recs = synthetic_records(now());
    recs.push(Record::failed("x", now(), 0.1, "boom"));
    for r in &recs {
        let v = serde_json::to_value(r).unwrap();
        let errs = check(&schema, &v);
        assert!(errs.is_empty(), "{errs:#?}\n{v:#}");
    }
    // The checker is not vacuous: a wrong type, a missing key and a bad enum are caught.
    let mut v = serde_json::to_value(&recs[0]).unwrap();
    v["status"] = "ok".into();
    v["size_mb"] = "12".into();
    v.as_object_mut().unwrap().remove("repo");
    v["destinations"][0]["free_bytes"] = (-1).into();
    let errs = check(&schema, &v);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    // The original script's lines are valid too (schema_version absent = 0).
    let old = serde_json::json!({"timestamp":"2025-01-02T03:04:05.1234567Z","repo":"old","status":"success","locations_created":3,"locations_skipped":0,"size_mb":12.5,"duration_seconds":40.1,"file_count":900,"duplicate_detected":false});
    assert!(check(&schema, &old).is_empty());
}

#[test]
fn result_schema_accepts_the_drop_in_shape() {
    let schema = load_schema("backup-result.schema.json");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let ok = serde_json::json!({
        "schema_version": 1,
        "repo": "repo", "timestamp": "2026-03-10_12-00-00", "status": "partial",
        "created": ["/b/desktop/repo/repo_backup_2026-03-10_12-00-00.zip"], "skipped": ["n-drive"],
        "size_mb": 5.0, "duration_seconds": 4.2, "file_count": 1200,
        "locations": [
            {"name": "desktop", "path": "/b/desktop/repo", "created": true},
            {"name": "n-drive", "path": "/b/n/repo", "created": false},
            {"name": "onedrive", "path": "/b/o/repo", "created": false, "status": "failed", "reason": "no space left on device"}
        ]
    });
    assert!(check(&schema, &ok).is_empty(), "{:#?}", check(&schema, &ok));
    let mut bad = ok.clone();
    bad["locations"][0]["created"] = "yes".into();
    bad["status"] = "created".into();
    bad.as_object_mut().unwrap().remove("file_count");
    assert_eq!(check(&schema, &bad).len(), 3, "{:#?}", check(&schema, &bad));
}

#[test]
fn dashboard_is_importable_and_every_target_has_an_expression() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring/grafana/backup-repo.json");
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    assert!(d["__inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"));
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "repo" && v["includeAll"] == true && v["multi"] == true));
    let mut titles = Vec::new();
    let mut targets = 0;
    for p in d["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            continue;
        }
        titles.push(p["title"].as_str().unwrap().to_string());
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            targets += 1;
            let e = t["expr"].as_str().unwrap();
            assert!(!e.trim().is_empty() && e.contains("$repo"), "{}: {e}", p["title"]);
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}");
        }
    }
    assert!(targets >= 15);
    // The panels the owner asked for (README, Monitoring).
    for want in [
        "Success rate (7 days)",
        "Success rate (30 days)",
        "Backups created (last 24 h)",
        "Backups created (last 7 days)",
        "Duplicate rate (7 days)",
        "Average backup size per repo",
        "Backup frequency (runs per interval)",
        "Size trend",
        "Location status",
        "Last successful backup",
        "Backup storage per location",
        "Oldest backup per location",
        "Projected growth (30 days ahead)",
    ] {
        assert!(titles.iter().any(|t| t == want), "missing panel {want}");
    }
}
