//! A tiny `/metrics` endpoint over the metrics logs of a folder, re-read on
//! every scrape (the logs are small; no state to go stale).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::render_log_dir;
use crate::{Error, ErrorKind, Result};

/// A running exporter; [`Exporter::stop`] (or drop) shuts it down.
pub struct Exporter {
    addr: SocketAddr,
    server: Option<Arc<tiny_http::Server>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Stop serving and wait for the server thread to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(server) = self.server.take() else { return };
        self.stop.store(true, Ordering::SeqCst);
        server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The last reference: tiny_http closes the listener from its own
        // accept thread, shortly after. Wait (bounded) until the port is
        // free, so a restart on the same port right after stop() works.
        drop(server);
        let mut probe = self.addr;
        if probe.ip().is_unspecified() {
            probe.set_ip(if probe.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline
            && std::net::TcpStream::connect_timeout(&probe, Duration::from_millis(100)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serve `GET /metrics` on `addr` (e.g. `127.0.0.1:9842`; port 0 picks a
/// free one): [`render_log_dir`] of `log_dir`'s `backup-*.jsonl`, re-read per
/// scrape. `/` answers a short text page; anything else 404.
pub fn serve(addr: &str, log_dir: impl Into<PathBuf>) -> Result<Exporter> {
    let log_dir = log_dir.into();
    let server = tiny_http::Server::http(addr)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot listen on '{addr}' for /metrics: {e}")))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("'{addr}' is not an IP address")))?;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::Builder::new()
            .name("backup-repo-exporter".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let req = match server.recv_timeout(Duration::from_millis(500)) {
                        Ok(Some(r)) => r,
                        Ok(None) => continue,
                        Err(_) => break,
                    };
                    handle(req, &log_dir);
                }
            })
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start the exporter thread: {e}")))?
    };
    Ok(Exporter { addr: bound, server: Some(server), stop, thread: Some(thread) })
}

fn header(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("static header")
}

fn handle(req: tiny_http::Request, log_dir: &std::path::Path) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let get = matches!(req.method(), tiny_http::Method::Get | tiny_http::Method::Head);
    let resp = match (get, path.as_str()) {
        (true, "/metrics") => match render_log_dir(log_dir, jiff::Timestamp::now()) {
            Ok(text) => tiny_http::Response::from_string(text)
                .with_header(header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")),
            Err(e) => {
                tiny_http::Response::from_string(format!("cannot read the metrics logs: {e}\n")).with_status_code(500)
            }
        },
        (true, "/") => tiny_http::Response::from_string(
            "BackupRepo exporter: metrics of the backup-*.jsonl logs at /metrics\n".to_string(),
        ),
        (false, _) => tiny_http::Response::from_string("method not allowed\n".to_string()).with_status_code(405),
        _ => tiny_http::Response::from_string("not found\n".to_string()).with_status_code(404),
    };
    let _ = req.respond(resp);
}
