//! send_http against real servers on 127.0.0.1: a tiny_http server that
//! records every request and answers from a script, a listener that never
//! answers, and a closed port.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use backup_repo::notify::{send_http, DEFAULT_RETRIES};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    url: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: String,
}

/// A server answering each request with the next status of `script` (the
/// last one repeats). Returns its base URL and the requests it received.
fn scripted_server(script: Vec<u16>) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for (i, mut req) in server.incoming_requests().enumerate() {
            let mut body = String::new();
            req.as_reader().read_to_string(&mut body).unwrap();
            let header =
                |name: &'static str| req.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.to_string());
            log.lock().unwrap().push(Recorded {
                method: req.method().to_string(),
                url: req.url().to_string(),
                content_type: header("Content-Type"),
                authorization: header("Authorization"),
                body,
            });
            let status = *script.get(i).or(script.last()).unwrap();
            let _ = req.respond(tiny_http::Response::from_string("ok").with_status_code(status));
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

const BODY: &str = r#"{"text":"✅ BackupRepo: my-repo backed up"}"#;

#[test]
fn body_arrives_as_json_post() {
    let (base, seen) = scripted_server(vec![200]);
    let url = format!("{base}/hooks/T0SECRET?token=abc123");
    let out = send_http(&url, BODY, Duration::from_secs(5), DEFAULT_RETRIES).unwrap();
    assert_eq!((out.status, out.attempts), (200, 1));
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, "/hooks/T0SECRET?token=abc123");
    assert!(r.content_type.as_deref().unwrap().starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["text"], "✅ BackupRepo: my-repo backed up");
    assert!(r.authorization.is_none());
}

#[test]
fn userinfo_becomes_basic_auth() {
    let (base, seen) = scripted_server(vec![204]);
    let url = base.replace("http://", "http://bot:s3cret@") + "/x";
    assert_eq!(send_http(&url, "{}", Duration::from_secs(5), 0).unwrap().status, 204);
    assert_eq!(seen.lock().unwrap()[0].authorization.as_deref(), Some("Basic Ym90OnMzY3JldA=="));
}

#[test]
fn server_error_then_success_is_retried() {
    let (base, seen) = scripted_server(vec![500, 200]);
    let started = Instant::now();
    let out = send_http(&format!("{base}/hook"), BODY, Duration::from_secs(5), 2).unwrap();
    assert_eq!((out.status, out.attempts), (200, 2));
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(450), "waited the first backoff");
    assert!(seen.lock().unwrap().iter().all(|r| r.body == BODY));
}

#[test]
fn too_many_requests_is_retried_until_attempts_run_out() {
    let (base, seen) = scripted_server(vec![429]);
    let err = send_http(&format!("{base}/LIMITSECRET"), BODY, Duration::from_secs(5), 1).unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(err.message.contains("after 2 attempts: HTTP 429"), "{}", err.message);
    assert!(!err.message.contains("LIMITSECRET"), "{}", err.message);
}

#[test]
fn client_errors_are_not_retried() {
    let (base, seen) = scripted_server(vec![404, 200]);
    let url = format!("{base}/services/T0/B0/NOTFOUNDSECRET");
    let err = send_http(&url, BODY, Duration::from_secs(5), 2).unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(err.message.contains("HTTP 404") && err.message.contains("after 1 attempt:"), "{}", err.message);
    assert!(err.message.contains(&format!("{base}/services/…")), "{}", err.message);
    assert!(!err.message.contains("NOTFOUNDSECRET"));
}

#[test]
fn a_server_that_never_answers_times_out_within_the_budget() {
    // Accepted by the kernel's backlog, never read, never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hook/SILENTSECRET");
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = send_http(&url, BODY, timeout, 2).unwrap_err();
    let took = started.elapsed();
    // 3 attempts × 0.3 s + waits 0.5 s + 1 s = 2.4 s.
    assert!(took >= Duration::from_millis(2300), "{took:?}");
    assert!(took < Duration::from_millis(3400), "{took:?}");
    assert!(
        err.message.contains("timed out after 0.3 s") && err.message.contains("after 3 attempts"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("SILENTSECRET"), "{}", err.message);
    drop(silent);
}

#[test]
fn a_server_that_accepts_and_stalls_mid_response_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-"); // never finishes the head
            held.push(s);
        }
    });
    let started = Instant::now();
    let err = send_http(&format!("http://127.0.0.1:{port}/"), BODY, Duration::from_millis(300), 0).unwrap_err();
    // Far below "never": a loaded machine may be slow, the 300 ms timeout still ends it.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(err.message.contains("timed out"), "{}", err.message);
}

#[test]
fn connection_refused_fails_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let url = format!("http://admin:PASSWORDSECRET@127.0.0.1:{port}/hook?key=KEYSECRET");
    let started = Instant::now();
    let err = send_http(&url, BODY, Duration::from_secs(5), 0).unwrap_err();
    // Refused at once, not after the 5 s timeout (with room for a loaded machine).
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(err.message.contains("cannot connect"), "{}", err.message);
    for secret in ["PASSWORDSECRET", "KEYSECRET", "admin"] {
        assert!(!err.message.contains(secret), "{}", err.message);
    }
    assert!(err.message.contains(&format!("http://127.0.0.1:{port}/…")), "{}", err.message);
}

#[test]
fn connection_refused_is_retried_with_backoff() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let err = send_http(&format!("http://127.0.0.1:{port}/"), BODY, Duration::from_secs(5), 2).unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1450) && took < Duration::from_millis(2500), "{took:?}");
    assert!(err.message.contains("after 3 attempts"), "{}", err.message);
}
