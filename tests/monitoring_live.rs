//! The monitoring stack against the real tools: records -> metrics log ->
//! (a) node_exporter textfile, (b) Pushgateway push, (c) `/metrics` exporter;
//! a real Prometheus scrapes all three and loads monitoring/alerts.yml; then
//! EVERY PromQL expression of the Grafana dashboard and of the alert rules is
//! run over its HTTP API: a query error fails, and so does an empty result.
//! Every alert is expected to fire for the repository built to trigger it.
//!
//! Runs only with BACKUP_REPO_MONITORING_LIVE=1 (scripts/monitoring-test
//! sets it and fails when this test reports SKIPPED). Needs /usr/bin/prometheus,
//! prometheus-pushgateway and (optional) prometheus-node-exporter.
//! BACKUP_REPO_MONITORING_SOURCE=real takes the records from real backup runs.

mod monitoring_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backup_repo::metrics;
use serde_json::Value;

const JOB: &str = "backup_repo";

/// A child process killed (and reaped) on drop, even when the test panics.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

fn spawn(name: &'static str, bin: &str, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    // Let scripts/monitoring-test kill it even if this process dies hard.
    if let Ok(pidfile) = std::env::var("BACKUP_REPO_MONITORING_PIDFILE") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(pidfile).unwrap();
        writeln!(f, "{}", child.id()).unwrap();
    }
    eprintln!("started {name} (pid {}): {bin} {}", child.id(), args.join(" "));
    Proc { name, child }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GET over HTTP/1.0 (no chunked answers); (status, body).
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"))
}

/// Send the raw HTTP/1.0 `request` to 127.0.0.1:`port`; (status, body).
fn request(port: u16, request: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

/// PUT `body` to the Pushgateway on 127.0.0.1:`port`; (status, body).
fn put(port: u16, path: &str, content_type: &str, body: &str) -> std::io::Result<(u16, String)> {
    request(
        port,
        &format!(
            "PUT {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            eprintln!("ready: {what} ({:.1}s)", start.elapsed().as_secs_f64());
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn query(port: u16, expr: &str) -> Result<Vec<Value>, String> {
    let (code, body) =
        get(port, &format!("/api/v1/query?query={}", percent_encode(expr))).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}: not JSON ({e}): {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {code}: {}: {}", v["errorType"], v["error"]));
    }
    match &v["data"]["result"] {
        Value::Array(a) => Ok(a.clone()),
        // A scalar or string result: one value.
        other => Ok(vec![other.clone()]),
    }
}

/// Grafana's variables as a query of "everything" would expand them.
fn expand_grafana(expr: &str) -> String {
    let e = expr
        .replace("${repo}", ".*")
        .replace("$repo", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    // label_values(metric, label) is Grafana's, not PromQL: the equivalent series query.
    if let Some(inner) = e.trim().strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')) {
        let (metric, label) = inner.rsplit_once(',').expect("label_values(metric, label)");
        return format!("count by ({}) ({})", label.trim(), metric.trim());
    }
    e
}

/// (where, expression) of every panel target and query variable.
fn dashboard_exprs(dash: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((
                        format!(
                            "panel '{}' {}",
                            p["title"].as_str().unwrap_or("?"),
                            t["refId"].as_str().unwrap_or("?")
                        ),
                        e.to_string(),
                    ));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str()).expect("variable query");
            out.push((format!("variable '{}'", v["name"].as_str().unwrap_or("?")), q.to_string()));
        }
    }
    out
}

#[test]
fn live_prometheus_pushgateway_exporter_dashboard_and_alerts() {
    if std::env::var("BACKUP_REPO_MONITORING_LIVE").as_deref() != Ok("1") {
        println!("SKIPPED live monitoring test: set BACKUP_REPO_MONITORING_LIVE=1 (scripts/monitoring-test does)");
        eprintln!("SKIPPED live monitoring test: set BACKUP_REPO_MONITORING_LIVE=1 (scripts/monitoring-test does)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let real = std::env::var("BACKUP_REPO_MONITORING_SOURCE").as_deref() == Ok("real");

    // 1. Records -> metrics log (one file per repository, as the tool writes them).
    let now = jiff::Timestamp::now();
    let records = monitoring_support::fleet_records(now, w);
    let logs = w.join("metrics");
    for r in &records {
        metrics::append(&metrics::log_path(&logs, &r.repo), r).unwrap();
    }
    let mut repos: Vec<String> = records.iter().map(|r| r.repo.clone()).collect();
    repos.sort();
    repos.dedup();
    eprintln!(
        "{} records of {} repositories ({})",
        records.len(),
        repos.len(),
        if real { "real runs" } else { "synthetic" }
    );

    // 2. (a) the textfile for node_exporter.
    let textdir = w.join("textfile");
    metrics::write_textfile(&textdir.join("backup_repo.prom"), &metrics::render_log_dir(&logs, now).unwrap()).unwrap();

    // 3. (b) a real Pushgateway; one push per repository, grouped by repo.
    let pg_port = free_port();
    let _pg = spawn(
        "pushgateway",
        "prometheus-pushgateway",
        &[
            format!("--web.listen-address=127.0.0.1:{pg_port}"),
            format!("--persistence.file={}", w.join("pg.data").display()),
        ],
        &w.join("pushgateway.log"),
    );
    wait_for("pushgateway", Duration::from_secs(30), || matches!(get(pg_port, "/-/ready"), Ok((200, _))));
    // What the module sends (br_metrics_push_payloads), PUT as its HttpClient does.
    let payloads = metrics::push_payloads(&logs, JOB, now).unwrap();
    assert_eq!(payloads.len(), repos.len());
    for p in &payloads {
        let (code, body) = put(pg_port, &p.path, &p.content_type, &p.body).unwrap();
        assert!((200..300).contains(&code), "push of {} answered {code}: {body}", p.repo);
    }
    let (_, pushed) = get(pg_port, "/metrics").unwrap();
    for repo in &repos {
        assert!(pushed.contains(&format!("repo=\"{}\"", repo.replace('"', "\\\""))), "pushgateway lacks {repo}");
    }
    // The Pushgateway kept the types (it parses push bodies as text 0.0.4).
    for t in ["# TYPE backup_repo_runs_total counter", "# TYPE backup_repo_last_status gauge"] {
        assert!(pushed.contains(t), "pushgateway lacks '{t}'");
    }

    // 4. (c) the /metrics exporter.
    let exporter = metrics::serve("127.0.0.1:0", &logs).unwrap();

    // 5. node_exporter with only the textfile collector, when installed.
    let ne_bin = ["prometheus-node-exporter", "node_exporter"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    let ne_port = free_port();
    let _ne = ne_bin.map(|bin| {
        let p = spawn(
            "node_exporter",
            bin,
            &[
                format!("--web.listen-address=127.0.0.1:{ne_port}"),
                "--collector.disable-defaults".into(),
                "--collector.textfile".into(),
                format!("--collector.textfile.directory={}", textdir.display()),
            ],
            &w.join("node_exporter.log"),
        );
        wait_for(
            "node_exporter",
            Duration::from_secs(30),
            || matches!(get(ne_port, "/metrics"), Ok((200, b)) if b.contains("backup_repo_")),
        );
        // The textfile collector kept the types and saw no parse error.
        let (_, b) = get(ne_port, "/metrics").unwrap();
        assert!(b.contains("# TYPE backup_repo_runs_total counter"), "node_exporter lost the counter type");
        assert!(
            b.lines().any(|l| l == "node_textfile_scrape_error 0"),
            "node_exporter could not read the textfile: {}",
            std::fs::read_to_string(w.join("node_exporter.log")).unwrap_or_default()
        );
        p
    });
    if ne_bin.is_none() {
        println!("NOTE: node_exporter not installed; the textfile is checked with promtool only");
    }

    // 6. A real Prometheus scraping all of them every second, with the alert rules.
    let rules = root.join("monitoring").join("alerts.yml");
    let mut cfg = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{pg_port}']\n  - job_name: backup-repo-exporter\n    static_configs:\n      - targets: ['{exp}']\n",
        rules = rules.display(),
        exp = exporter.addr()
    );
    if ne_bin.is_some() {
        cfg.push_str(&format!("  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n"));
    }
    std::fs::write(w.join("prometheus.yml"), &cfg).unwrap();
    let prom_port = free_port();
    let _prom = spawn(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", w.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", w.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &w.join("prometheus.log"),
    );
    wait_for("prometheus", Duration::from_secs(60), || matches!(get(prom_port, "/-/ready"), Ok((200, _))));
    let jobs = if ne_bin.is_some() { 3 } else { 2 };
    // Three samples per source: enough for increase() and predict_linear().
    wait_for("3 scrapes of every source", Duration::from_secs(60), || {
        query(prom_port, "count by (job) (count_over_time(backup_repo_last_run_timestamp_seconds[5m]) >= 3)")
            .is_ok_and(|r| r.len() == jobs)
    });
    let up = query(prom_port, "up == 1").unwrap();
    assert_eq!(up.len(), jobs, "every target up: {up:?}");
    let by_job = query(prom_port, "count by (job) (backup_repo_last_run_timestamp_seconds)").unwrap();
    for j in by_job {
        assert_eq!(
            j["value"][1].as_str(),
            Some(repos.len().to_string().as_str()),
            "every repository in job {}",
            j["metric"]["job"]
        );
    }

    // 7. Every expression of the dashboard and of the loaded rules.
    let dash: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("monitoring/grafana/backup-repo.json")).unwrap())
            .unwrap();
    let mut exprs: Vec<(String, String, bool)> =
        dashboard_exprs(&dash).into_iter().map(|(w, e)| (w, expand_grafana(&e), true)).collect();
    let (_, rules_body) = get(prom_port, "/api/v1/rules").unwrap();
    let rules_json: Value = serde_json::from_str(&rules_body).unwrap();
    let loaded: Vec<&Value> =
        rules_json["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    let in_file =
        std::fs::read_to_string(&rules).unwrap().lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    assert_eq!(loaded.len(), in_file, "Prometheus loaded every rule of alerts.yml");
    for r in &loaded {
        // Synthetic data is built so that every alert fires; real runs need not.
        exprs.push((format!("alert {}", r["name"].as_str().unwrap()), r["query"].as_str().unwrap().to_string(), !real));
    }
    let (mut passed, mut failed) = (0, Vec::new());
    for (what, e, want_data) in &exprs {
        match query(prom_port, e) {
            Ok(res) if res.is_empty() && *want_data => failed.push(format!("{what}: empty result for {e}")),
            Ok(res) => {
                passed += 1;
                println!("ok   {what}: {} series", res.len());
            }
            Err(err) => failed.push(format!("{what}: query error {err} for {e}")),
        }
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    println!("live queries: {passed} passed, {} failed", failed.len());

    // 8. The alerts Prometheus evaluated itself: each fires for the repository built for it.
    if !real {
        let mut firing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        wait_for("alerts evaluated", Duration::from_secs(30), || {
            firing.clear();
            let (_, b) = get(prom_port, "/api/v1/alerts").unwrap();
            let v: Value = serde_json::from_str(&b).unwrap();
            for a in v["data"]["alerts"].as_array().unwrap() {
                if a["state"] == "firing" {
                    let l = &a["labels"];
                    let who = format!(
                        "{}{}",
                        l["repo"].as_str().unwrap_or(""),
                        l["destination"].as_str().map(|d| format!("/{d}")).unwrap_or_default()
                    );
                    firing.entry(l["alertname"].as_str().unwrap().to_string()).or_default().push(who);
                }
            }
            firing.len() == in_file
        });
        let want = [
            ("BackupRepoFailed", "beta"),
            ("BackupRepoDestinationFailed", "beta/usb"),
            ("BackupRepoNoRecentSuccess", "beta"),
            ("BackupRepoDestinationAlmostFull", "beta/usb"),
            ("BackupRepoUnchangedForWeeks", "gamma"),
            ("BackupRepoHighDuplicateRate", "gamma"),
        ];
        for (alert, who) in want {
            let got = firing.get(alert).cloned().unwrap_or_default();
            assert!(got.iter().all(|g| g == who) && !got.is_empty(), "{alert} fires for {who} only, got {got:?}");
        }
        println!("alerts firing as designed: {firing:?}");
    }
    exporter.stop();
    assert!(failed.is_empty(), "{} expression(s) failed:\n{}", failed.len(), failed.join("\n"));
}
