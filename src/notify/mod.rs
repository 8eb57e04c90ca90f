//! Webhook notifications (Slack, Microsoft Teams, Discord, plain JSON) built
//! from a run's [`BackupReport`].
//!
//! Everything here is pure: the engine decides *which* messages a run
//! produces ([`events_for`], [`notifications`]) and *what* they say
//! ([`payload`]). It sends nothing: every network delivery (webhooks and the
//! Pushgateway push) is the PowerShell module's, with .NET's HttpClient (TLS,
//! proxies, the OS certificate store) and the retry policy in `Webhooks.cs`.
//!
//! Webhook URLs are secrets. Anything shown to a user, a log or an error uses
//! the one redaction rule, [`redact_url`] and [`redact_text`] (the module
//! calls them through `br_redact`); [`Notification`] refers to its URL by
//! index so the JSON that crosses the C ABI never carries one.

mod payload;
mod url;

use std::fmt;
use std::str::FromStr;

use crate::destinations::DestinationStatus;
use crate::report::{BackupReport, RunStatus};
use crate::{Error, Result};

pub use payload::payload;
pub use url::{redact_text, redact_url};

/// The message shape a webhook endpoint expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    Slack,
    Teams,
    Discord,
    Json,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 4] =
        [WebhookFormat::Slack, WebhookFormat::Teams, WebhookFormat::Discord, WebhookFormat::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Json => "json",
        }
    }
}

impl fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookFormat {
    type Err = Error;

    /// `slack`, `teams`, `discord` or `json`, any case, surrounding blanks ignored.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        WebhookFormat::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(t)).ok_or_else(|| {
            Error::invalid(format!("unknown webhook format '{s}': expected slack, teams, discord or json"))
        })
    }
}

/// The format a URL's host implies: `hooks.slack.com` → Slack;
/// `*.webhook.office.com`, `*.logic.azure.com`, `outlook.office.com`,
/// `*.api.powerplatform.com` (Teams Workflows) → Teams; `discord.com` /
/// `discordapp.com` (and their `ptb.`/`canary.` hosts) with a path under
/// `/api/webhooks/` → Discord; anything else, including unparseable URLs → Json.
/// Only the real host counts: `https://hooks.slack.com@evil.example/` is Json.
pub fn detect_format(url: &str) -> WebhookFormat {
    let Some(p) = url::UrlParts::parse(url) else {
        return WebhookFormat::Json;
    };
    let host = p.host_lower();
    let under = |suffix: &str| {
        host.len() > suffix.len() && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.')
    };
    if host == "hooks.slack.com" {
        WebhookFormat::Slack
    } else if under("webhook.office.com")
        || under("logic.azure.com")
        || host == "outlook.office.com"
        || host == "outlook.office365.com"
        || under("api.powerplatform.com")
    {
        WebhookFormat::Teams
    } else if matches!(host.as_str(), "discord.com" | "discordapp.com" | "ptb.discord.com" | "canary.discord.com")
        && is_discord_webhook_path(p.path)
    {
        WebhookFormat::Discord
    } else {
        WebhookFormat::Json
    }
}

/// `/api/webhooks/…` or `/api/v10/webhooks/…`.
fn is_discord_webhook_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else {
        return false;
    };
    let rest = match rest.split_once('/') {
        Some((v, r)) if v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit()) => r,
        _ => rest,
    };
    rest.starts_with("webhooks/")
}

/// The caller's format when given (parsed as [`WebhookFormat::from_str`]),
/// else the one the URL implies.
pub fn resolve_format(url: &str, format_override: Option<&str>) -> Result<WebhookFormat> {
    match format_override.map(str::trim).filter(|s| !s.is_empty()) {
        Some(f) => f.parse(),
        None => Ok(detect_format(url)),
    }
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// At least one archive created, none failed.
    Success,
    /// Some or every destination failed.
    Failure,
    /// Unchanged since the last backup: nothing written.
    Duplicate,
    /// A destination is fuller than the warning threshold.
    DiskSpaceWarning,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Success => "success",
            Event::Failure => "failure",
            Event::Duplicate => "duplicate",
            Event::DiskSpaceWarning => "disk_space_warning",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The messages a run produces, in order: its outcome (created → Success,
/// failed/partial → Failure, skipped → Duplicate; a dry run → none), then one
/// DiskSpaceWarning when any destination carries a `warning`.
pub fn events_for(report: &BackupReport) -> Vec<Event> {
    let mut events = Vec::new();
    match report.status {
        RunStatus::Created => events.push(Event::Success),
        RunStatus::Failed | RunStatus::Partial => events.push(Event::Failure),
        RunStatus::Skipped => events.push(Event::Duplicate),
        RunStatus::Planned => {}
    }
    let dry_run = report.status == RunStatus::Planned
        || report
            .destinations
            .iter()
            .any(|d| matches!(d.status, DestinationStatus::WouldCreate | DestinationStatus::WouldSkip));
    if !dry_run && report.destinations.iter().any(|d| d.warning.is_some()) {
        events.push(Event::DiskSpaceWarning);
    }
    events
}

/// One message to send: to the `url_index`-th URL the caller gave, in
/// `format`, with `body` (serialized [`payload`]). Carries the redacted URL
/// for display only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    pub url_index: usize,
    pub display_url: String,
    pub format: WebhookFormat,
    pub event: Event,
    pub body: String,
}

/// Every message a run produces for every URL: for each URL (format from
/// `format_override` or its host), one per [`events_for`] event. An unknown
/// `format_override` is an error naming the value; an unparseable URL is an
/// error naming its position (never its text).
pub fn notifications(
    report: &BackupReport,
    urls: &[String],
    format_override: Option<&str>,
) -> Result<Vec<Notification>> {
    let events = events_for(report);
    let mut out = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if url::UrlParts::parse(url).is_none() {
            return Err(Error::invalid(format!("webhook URL #{} is not an absolute URL (scheme://host/...)", i + 1)));
        }
        let format = resolve_format(url, format_override)?;
        for &event in &events {
            out.push(Notification {
                url_index: i,
                display_url: redact_url(url),
                format,
                event,
                body: payload(format, event, report).to_string(),
            });
        }
    }
    Ok(out)
}

/// Where and how to notify; the JSON `br_notify_payloads` takes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyOptions {
    pub urls: Vec<String>,
    /// `slack`, `teams`, `discord` or `json`; None: from each URL's host.
    pub format: Option<String>,
}

/// [`notifications`] with its options as one value.
pub fn notifications_for(report: &BackupReport, opts: &NotifyOptions) -> Result<Vec<Notification>> {
    notifications(report, &opts.urls, opts.format.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parse_is_case_insensitive_and_names_bad_values() {
        assert_eq!("Slack".parse::<WebhookFormat>().unwrap(), WebhookFormat::Slack);
        assert_eq!(" TEAMS ".parse::<WebhookFormat>().unwrap(), WebhookFormat::Teams);
        assert_eq!("discord".parse::<WebhookFormat>().unwrap(), WebhookFormat::Discord);
        assert_eq!("JSON".parse::<WebhookFormat>().unwrap(), WebhookFormat::Json);
        let err = "mattermost".parse::<WebhookFormat>().unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidArgument);
        assert!(
            err.message.contains("'mattermost'") && err.message.contains("slack, teams, discord or json"),
            "{}",
            err.message
        );
    }

    #[test]
    fn override_wins_over_host() {
        let url = "https://hooks.slack.com/services/a/b/c";
        assert_eq!(resolve_format(url, None).unwrap(), WebhookFormat::Slack);
        assert_eq!(resolve_format(url, Some("json")).unwrap(), WebhookFormat::Json);
        assert_eq!(resolve_format(url, Some("")).unwrap(), WebhookFormat::Slack);
        assert!(resolve_format(url, Some("xml")).is_err());
    }
}
