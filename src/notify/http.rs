//! The retry policy every sender uses, and a minimal HTTP/1.1 POST client for
//! plain `http://` webhooks (std `TcpStream` only: the crate has no TLS, so
//! `https://` is sent by the PowerShell module with HttpClient, following
//! [`retry_delays`] and [`is_retryable_status`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::url::{redact_url, scrub, UrlParts};
use crate::{Error, ErrorKind, Result};

/// Per-attempt limit (connect + send + response headers).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts after the first.
pub const DEFAULT_RETRIES: u32 = 2;
/// Wait before the first retry; each later wait is multiplied by
/// [`RETRY_BACKOFF_FACTOR`], capped at [`RETRY_MAX_DELAY`].
pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(500);
pub const RETRY_BACKOFF_FACTOR: u32 = 2;
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(8);

/// The waits before retry 1, 2, … `retries`: 0.5 s, 1 s, 2 s, … capped at
/// 8 s. `retry_delays(2)` = [0.5 s, 1 s].
pub fn retry_delays(retries: u32) -> Vec<Duration> {
    let mut delays = Vec::with_capacity(retries as usize);
    let mut d = RETRY_BASE_DELAY;
    for _ in 0..retries {
        delays.push(d.min(RETRY_MAX_DELAY));
        d = d.saturating_mul(RETRY_BACKOFF_FACTOR).min(RETRY_MAX_DELAY);
    }
    delays
}

/// Whether a response status is worth another attempt: 5xx, 429 (too many
/// requests) and 408 (request timeout). Other 4xx mean the request itself
/// is wrong (bad token, bad payload) and retrying cannot help.
pub fn is_retryable_status(status: u16) -> bool {
    (500..=599).contains(&status) || status == 429 || status == 408
}

/// A delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOutcome {
    /// The 2xx status of the final attempt.
    pub status: u16,
    /// Attempts made, the successful one included (1 = first try).
    pub attempts: u32,
    pub elapsed: Duration,
}

/// A [`SendOutcome`] as JSON (what `br_notify_send` returns).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendResult {
    pub status: u16,
    pub attempts: u32,
    pub elapsed_seconds: f64,
}

impl From<SendOutcome> for SendResult {
    fn from(o: SendOutcome) -> SendResult {
        SendResult { status: o.status, attempts: o.attempts, elapsed_seconds: o.elapsed.as_secs_f64() }
    }
}

/// Why one attempt failed, and whether another may succeed.
struct AttemptError {
    message: String,
    retryable: bool,
}

/// POST `body` as `application/json` to a plain `http://` `url`, waiting at
/// most `timeout` per attempt and retrying up to `retries` times (waits from
/// [`retry_delays`]) on connection errors, timeouts and retryable statuses.
/// A `user:pass@` in the URL is sent as Basic authentication. Worst case it
/// returns after about `timeout × (retries + 1) + Σ delays` (DNS resolution
/// is not bounded by `timeout`; use IP addresses or a local resolver).
///
/// Errors name the URL only in its redacted form; an `https://` URL is an
/// error: those are sent by the PowerShell module.
pub fn send_http(url: &str, body: &str, timeout: Duration, retries: u32) -> Result<SendOutcome> {
    let shown = redact_url(url);
    let parts =
        UrlParts::parse(url).ok_or_else(|| Error::invalid(format!("webhook URL {shown} is not an absolute URL")))?;
    match parts.scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(Error::invalid(format!(
                "webhook {shown}: https webhooks are sent by the PowerShell module (the engine has no TLS)"
            )))
        }
        other => {
            return Err(Error::invalid(format!(
                "webhook {shown}: unsupported scheme '{other}' (expected http or https)"
            )))
        }
    }
    let timeout = if timeout.is_zero() { DEFAULT_TIMEOUT } else { timeout };
    let request = build_request(&parts, body);
    let delays = retry_delays(retries);
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let err = match attempt(&parts, &request, timeout) {
            Ok(status) if (200..300).contains(&status) => {
                return Ok(SendOutcome { status, attempts, elapsed: started.elapsed() });
            }
            Ok(status) => AttemptError { message: format!("HTTP {status}"), retryable: is_retryable_status(status) },
            Err(e) => e,
        };
        let retry_in = delays.get(attempts as usize - 1).filter(|_| err.retryable);
        match retry_in {
            Some(d) => std::thread::sleep(*d),
            None => {
                let tries = if attempts == 1 { "1 attempt".to_string() } else { format!("{attempts} attempts") };
                let msg = format!("webhook {shown} failed after {tries}: {}", err.message);
                return Err(Error::new(ErrorKind::Io, scrub(&msg, url)));
            }
        }
    }
}

fn build_request(p: &UrlParts, body: &str) -> Vec<u8> {
    let target = match (p.path.is_empty(), p.query) {
        (true, None) => "/".to_string(),
        (true, Some(q)) => format!("/?{q}"),
        (false, None) => p.path.to_string(),
        (false, Some(q)) => format!("{}?{q}", p.path),
    };
    let host = match p.port {
        Some(port) => format!("{}:{port}", p.host),
        None => p.host.to_string(),
    };
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: BackupRepo/{}\r\nContent-Type: application/json; charset=utf-8\r\nAccept: */*\r\nContent-Length: {}\r\nConnection: close\r\n",
        crate::VERSION,
        body.len()
    );
    if let Some(userinfo) = p.userinfo {
        head.push_str(&format!("Authorization: Basic {}\r\n", base64(userinfo.as_bytes())));
    }
    head.push_str("\r\n");
    let mut req = head.into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

fn io_error(what: &str, e: &std::io::Error, timeout: Duration) -> AttemptError {
    let message = match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("timed out after {:.1} s ({what})", timeout.as_secs_f64())
        }
        _ => format!("cannot {what}: {e}"),
    };
    AttemptError { message, retryable: true }
}

fn timed_out(what: &str, timeout: Duration) -> AttemptError {
    AttemptError { message: format!("timed out after {:.1} s ({what})", timeout.as_secs_f64()), retryable: true }
}

/// One connect + request + response-head read; returns the final status.
fn attempt(p: &UrlParts, request: &[u8], timeout: Duration) -> std::result::Result<u16, AttemptError> {
    let deadline = Instant::now() + timeout;
    let remaining = || deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let port: u16 = match p.port {
        Some(s) => s.parse().map_err(|_| AttemptError { message: "invalid port".into(), retryable: false })?,
        None => 80,
    };
    let host = p.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| io_error("resolve the host", &e, timeout))?.collect();
    let mut last = AttemptError { message: "the host has no address".into(), retryable: true };
    let mut stream = None;
    for addr in addrs {
        let Some(left) = remaining() else {
            return Err(timed_out("connect", timeout));
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = io_error("connect", &e, timeout),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    let left = remaining().ok_or_else(|| timed_out("send", timeout))?;
    stream.set_write_timeout(Some(left)).map_err(|e| io_error("send", &e, timeout))?;
    stream.write_all(request).and_then(|_| stream.flush()).map_err(|e| io_error("send the request", &e, timeout))?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Skip interim 1xx responses; return the first final status.
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let status = parse_status(&buf[..end])?;
            if (100..200).contains(&status) {
                buf.drain(..end + 4);
                continue;
            }
            return Ok(status);
        }
        if buf.len() > 64 * 1024 {
            return Err(AttemptError { message: "response headers too long".into(), retryable: false });
        }
        let left = remaining().ok_or_else(|| timed_out("waiting for the response", timeout))?;
        stream.set_read_timeout(Some(left)).map_err(|e| io_error("read the response", &e, timeout))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(AttemptError {
                    message: "the server closed the connection without a complete response".into(),
                    retryable: true,
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("read the response", &e, timeout)),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status(head: &[u8]) -> std::result::Result<u16, AttemptError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut it = line.split_whitespace();
    let (Some(version), Some(code)) = (it.next(), it.next()) else {
        return Err(AttemptError { message: "malformed HTTP response".into(), retryable: false });
    };
    match code.parse::<u16>() {
        Ok(c) if version.starts_with("HTTP/") && (100..600).contains(&c) => Ok(c),
        _ => Err(AttemptError { message: "malformed HTTP response".into(), retryable: false }),
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap() {
        assert_eq!(retry_delays(0), Vec::<Duration>::new());
        assert_eq!(retry_delays(2), vec![Duration::from_millis(500), Duration::from_secs(1)]);
        let long = retry_delays(8);
        assert_eq!(long[4], Duration::from_secs(8));
        assert_eq!(long[7], RETRY_MAX_DELAY);
    }

    #[test]
    fn retryable_statuses() {
        for s in [500, 502, 503, 504, 429, 408] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 410, 413] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content").ok(), Some(204));
        assert!(parse_status(b"garbage").is_err());
    }

    #[test]
    fn request_has_target_host_and_length() {
        let p = UrlParts::parse("http://u:p@127.0.0.1:81/hook?x=1").unwrap();
        let req = String::from_utf8(build_request(&p, "{}")).unwrap();
        assert!(req.starts_with("POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:81\r\n"), "{req}");
        assert!(
            req.contains("Content-Length: 2\r\n")
                && req.contains("Authorization: Basic dTpw\r\n")
                && req.ends_with("\r\n\r\n{}")
        );
    }

    #[test]
    fn https_and_other_schemes_are_refused_without_secrets() {
        let e = send_http("https://hooks.slack.com/services/T1/B2/SECRETTOKEN", "{}", DEFAULT_TIMEOUT, 0).unwrap_err();
        assert!(e.message.contains("https webhooks are sent by the PowerShell module"), "{}", e.message);
        assert!(!e.message.contains("SECRETTOKEN"));
        let e = send_http("ftp://x/SECRETTOKEN", "{}", DEFAULT_TIMEOUT, 0).unwrap_err();
        assert!(e.message.contains("unsupported scheme") && !e.message.contains("SECRETTOKEN"), "{}", e.message);
    }
}
