//! Message bodies per format. Every string that comes from the run (repo
//! name, reasons, paths) is escaped for the target's markup and truncated to
//! the target's limits; no message ever contains a webhook URL.

use serde_json::{json, Value};

use super::{Event, WebhookFormat};
use crate::destinations::{DestinationReport, DestinationStatus};
use crate::report::{BackupReport, RunStatus};

/// Discord embed colours per event (0xRRGGBB).
pub const DISCORD_COLOR_SUCCESS: u32 = 0x2E_CC_71; // green
pub const DISCORD_COLOR_FAILURE: u32 = 0xE7_4C_3C; // red
pub const DISCORD_COLOR_DUPLICATE: u32 = 0x95_A5_A6; // grey
pub const DISCORD_COLOR_WARNING: u32 = 0xE6_7E_22; // orange

/// The body to POST for `event` about `report` in `format`.
pub fn payload(format: WebhookFormat, event: Event, report: &BackupReport) -> Value {
    let s = Summary::new(event, report);
    match format {
        WebhookFormat::Slack => slack(&s),
        WebhookFormat::Teams => teams(&s),
        WebhookFormat::Discord => discord(&s),
        WebhookFormat::Json => plain(&s),
    }
}

/// The facts every format shows, as plain text.
struct Summary<'a> {
    event: Event,
    report: &'a BackupReport,
    /// One line: "✅ BackupRepo: repo backed up to 2 of 3 destinations (12.3 MB, 4.2 s)".
    headline: String,
    /// (label, value) pairs.
    facts: Vec<(&'static str, String)>,
    /// One line per destination.
    destinations: Vec<(String, String)>,
}

impl<'a> Summary<'a> {
    fn new(event: Event, r: &'a BackupReport) -> Self {
        let total = r.destinations.len();
        let count = |st: DestinationStatus| r.destinations.iter().filter(|d| d.status == st).count();
        let (created, skipped, failed) =
            (count(DestinationStatus::Created), count(DestinationStatus::Skipped), count(DestinationStatus::Failed));
        let size = crate::units::human_bytes(r.archive_bytes);
        let took = format_duration(r.duration_seconds);
        let repo = one_line(&r.repo, 200);
        let headline = match event {
            Event::Success => {
                format!("✅ BackupRepo: {repo} backed up to {created} of {total} destination{} ({size}, {took})", plural(total))
            }
            Event::Failure if failed > 0 => {
                let first = r.destinations.iter().find(|d| d.status == DestinationStatus::Failed);
                let why = first
                    .map(|d| format!(": {}: {}", d.name, one_line(d.reason.as_deref().unwrap_or("no reason given"), 200)))
                    .unwrap_or_default();
                format!("❌ BackupRepo: {repo} backup failed at {failed} of {total} destination{}{why}", plural(total))
            }
            Event::Failure => {
                let why = r.warnings.first().map(|w| format!(": {}", one_line(w, 200))).unwrap_or_default();
                format!("❌ BackupRepo: {repo} backup failed{why}")
            }
            Event::Duplicate => format!(
                "⏭️ BackupRepo: {repo} unchanged since the last backup, skipped at {skipped} of {total} destination{} ({took})",
                plural(total)
            ),
            Event::DiskSpaceWarning => {
                let warned: Vec<String> = r
                    .destinations
                    .iter()
                    .filter_map(|d| d.warning.as_ref().map(|w| format!("{}: {}", d.name, one_line(w, 200))))
                    .collect();
                format!("⚠️ BackupRepo: low disk space ({repo}): {}", warned.join("; "))
            }
        };
        let mut facts = vec![
            ("Repository", r.repo.clone()),
            ("Status", status_str(r.status).to_string()),
            ("Destinations", format!("{created} created, {skipped} unchanged, {failed} failed of {total}")),
            ("Archive size", size),
            ("Files", r.file_count.to_string()),
            ("Duration", took),
        ];
        if !r.fingerprint.is_empty() {
            facts.push(("Fingerprint", r.fingerprint.chars().take(16).collect()));
        }
        if !r.started_utc.is_empty() {
            facts.push(("Started (UTC)", r.started_utc.clone()));
        }
        let destinations = r.destinations.iter().map(|d| (d.name.clone(), destination_line(d))).collect();
        Summary { event, report: r, headline: truncate(&headline, 1000), facts, destinations }
    }

    fn footer(&self) -> String {
        format!("BackupRepo {}", self.report.tool_version)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn status_str(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Created => "created",
        RunStatus::Skipped => "skipped",
        RunStatus::Partial => "partial",
        RunStatus::Failed => "failed",
        RunStatus::Planned => "planned",
    }
}

fn dest_status_str(s: DestinationStatus) -> &'static str {
    match s {
        DestinationStatus::Created => "created",
        DestinationStatus::Skipped => "skipped",
        DestinationStatus::Failed => "failed",
        DestinationStatus::WouldCreate => "would_create",
        DestinationStatus::WouldSkip => "would_skip",
    }
}

fn destination_line(d: &DestinationReport) -> String {
    let mut line = match d.status {
        DestinationStatus::Created => "✅ created".to_string(),
        DestinationStatus::Skipped => "⏭️ unchanged".to_string(),
        DestinationStatus::Failed => {
            format!("❌ failed: {}", one_line(d.reason.as_deref().unwrap_or("no reason given"), 300))
        }
        DestinationStatus::WouldCreate => "would create".to_string(),
        DestinationStatus::WouldSkip => "would skip (unchanged)".to_string(),
    };
    if let Some(w) = &d.warning {
        line.push_str(&format!(" (⚠️ {})", one_line(w, 200)));
    }
    line
}

/// `4.2 s`, `3 min 5 s`.
pub(crate) fn format_duration(secs: f64) -> String {
    let secs = if secs.is_finite() && secs > 0.0 { secs } else { 0.0 };
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let whole = secs.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// Control characters (newlines included) become spaces; at most `max` chars.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    truncate(&flat, max)
}

/// At most `max` characters, ending with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Slack mrkdwn: `&`, `<`, `>` are control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Discord markdown: backslash-escape the formatting characters.
fn discord_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\*_~`|>#[]()-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn slack(s: &Summary) -> Value {
    let fields: Vec<Value> = s
        .facts
        .iter()
        .take(10) // Slack's limit per section
        .map(|(k, v)| json!({"type": "mrkdwn", "text": truncate(&format!("*{k}*\n{}", slack_escape(v)), 2000)}))
        .collect();
    let dest_text: Vec<String> = s
        .destinations
        .iter()
        .map(|(name, line)| format!("• *{}*: {}", slack_escape(name), slack_escape(line)))
        .collect();
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&slack_escape(&s.headline), 3000)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if !dest_text.is_empty() {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&dest_text.join("\n"), 3000)}}),
        );
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(&s.footer())}]}));
    json!({ "text": slack_escape(&s.headline), "blocks": blocks })
}

fn teams(s: &Summary) -> Value {
    let color = match s.event {
        Event::Success => "Good",
        Event::Failure => "Attention",
        Event::Duplicate => "Default",
        Event::DiskSpaceWarning => "Warning",
    };
    let facts: Vec<Value> = s.facts.iter().map(|(k, v)| json!({"title": k, "value": v})).collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": s.headline, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if !s.destinations.is_empty() {
        let dests: Vec<Value> = s.destinations.iter().map(|(n, l)| json!({"title": n, "value": l})).collect();
        body.push(
            json!({"type": "TextBlock", "text": "Destinations", "weight": "Bolder", "wrap": true, "spacing": "Medium"}),
        );
        body.push(json!({"type": "FactSet", "facts": dests}));
    }
    body.push(json!({"type": "TextBlock", "text": s.footer(), "isSubtle": true, "size": "Small", "wrap": true}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            }
        }]
    })
}

fn discord(s: &Summary) -> Value {
    let color = match s.event {
        Event::Success => DISCORD_COLOR_SUCCESS,
        Event::Failure => DISCORD_COLOR_FAILURE,
        Event::Duplicate => DISCORD_COLOR_DUPLICATE,
        Event::DiskSpaceWarning => DISCORD_COLOR_WARNING,
    };
    let mut fields: Vec<Value> = s
        .facts
        .iter()
        .map(|(k, v)| json!({"name": k, "value": truncate(&discord_escape(v), 1024), "inline": true}))
        .collect();
    if !s.destinations.is_empty() {
        let lines: Vec<String> =
            s.destinations.iter().map(|(n, l)| format!("**{}**: {}", discord_escape(n), discord_escape(l))).collect();
        fields.push(json!({"name": "Destinations", "value": truncate(&lines.join("\n"), 1024), "inline": false}));
    }
    let mut embed = json!({
        "title": truncate(&format!("BackupRepo: {} ({})", s.report.repo, s.event), 256),
        "description": truncate(&discord_escape(&s.headline), 4096),
        "color": color,
        "fields": fields,
        "footer": {"text": s.footer()},
    });
    if !s.report.started_utc.is_empty() {
        embed["timestamp"] = json!(s.report.started_utc);
    }
    json!({
        "content": truncate(&discord_escape(&s.headline), 2000),
        "username": "BackupRepo",
        // Never ping anyone, whatever a repo name or reason contains.
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
    })
}

fn plain(s: &Summary) -> Value {
    let r = s.report;
    let destinations: Vec<Value> = r
        .destinations
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "path": d.path,
                "status": dest_status_str(d.status),
                "reason": d.reason,
                "warning": d.warning,
                "free_bytes": d.free_bytes,
                "total_bytes": d.total_bytes,
            })
        })
        .collect();
    json!({
        "event": s.event.as_str(),
        "text": s.headline,
        "repo": r.repo,
        "status": status_str(r.status),
        "fingerprint": r.fingerprint,
        "archive_name": r.archive_name,
        "archive_bytes": r.archive_bytes,
        "file_count": r.file_count,
        "duration_seconds": r.duration_seconds,
        "destinations": destinations,
        "timestamp": r.started_utc,
        "tool_version": r.tool_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_durations_read_well() {
        assert_eq!(format_duration(4.23), "4.2 s");
        assert_eq!(format_duration(185.0), "3 min 5 s");
        assert_eq!(format_duration(f64::NAN), "0.0 s");
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(one_line("a\nb\tc", 10), "a b c");
    }

    #[test]
    fn escapes() {
        assert_eq!(slack_escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(discord_escape("my_repo*"), "my\\_repo\\*");
    }
}
