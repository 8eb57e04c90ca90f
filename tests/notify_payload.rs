//! Webhook formats, events and URL redaction, as the C ABI's caller sees them.

#[path = "support/report.rs"]
mod support;

use backup_repo::notify::{detect_format, events_for, notifications, payload, redact_url, Event, WebhookFormat};
use rstest::rstest;
use serde_json::Value;
use support::{created, dest, partial_with_warning, report};

#[rstest]
#[case("https://hooks.slack.com/services/T000/B000/XXXX", WebhookFormat::Slack)]
#[case("HTTPS://HOOKS.SLACK.COM/services/T000/B000/XXXX", WebhookFormat::Slack)]
#[case("https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", WebhookFormat::Teams)]
#[case(
    "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x",
    WebhookFormat::Teams
)]
#[case("https://outlook.office.com/webhook/abc", WebhookFormat::Teams)]
#[case("https://discord.com/api/webhooks/123/token", WebhookFormat::Discord)]
#[case("https://discordapp.com/api/webhooks/123/token", WebhookFormat::Discord)]
#[case("https://discord.com/api/v10/webhooks/123/token", WebhookFormat::Discord)]
#[case("https://discord.com/channels/123", WebhookFormat::Json)]
#[case("https://example.com/hook", WebhookFormat::Json)]
#[case("http://127.0.0.1:8080/", WebhookFormat::Json)]
#[case("https://hooks.slack.com@evil.example/services/x", WebhookFormat::Json)]
#[case("https://hooks.slack.com.evil.example/services/x", WebhookFormat::Json)]
#[case("https://webhook.office.com/x", WebhookFormat::Json)]
#[case("https://evilwebhook.office.com/x", WebhookFormat::Json)]
#[case("not a url", WebhookFormat::Json)]
fn detect_format_table(#[case] url: &str, #[case] expected: WebhookFormat) {
    assert_eq!(detect_format(url), expected, "{url}");
}

#[rstest]
#[case("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/…")]
#[case("https://discord.com/api/webhooks/123/tok", "https://discord.com/api/webhooks/…")]
#[case("https://x.webhook.office.com/webhookb2/g@g/IncomingWebhook/i/g", "https://x.webhook.office.com/webhookb2/…")]
#[case(
    "https://prod-1.logic.azure.com:443/workflows/abc/triggers?sig=s3cr3t",
    "https://prod-1.logic.azure.com:443/workflows/…"
)]
#[case("https://user:pa55@example.com/hook?token=abc#frag", "https://example.com/…")]
#[case("http://127.0.0.1:8080/", "http://127.0.0.1:8080/")]
#[case("http://127.0.0.1:8080", "http://127.0.0.1:8080")]
#[case("https://example.com/api?key=s3cr3t", "https://example.com/api?…")]
#[case("https://example.com?key=s3cr3t", "https://example.com?…")]
#[case("http://[::1]:9000/secret", "http://[::1]:9000/…")]
#[case("hooks.slack.com/services/T/B/X", "(invalid URL)")]
fn redact_url_table(#[case] url: &str, #[case] expected: &str) {
    assert_eq!(redact_url(url), expected);
}

#[rstest]
#[case("created", vec![dest("a", "created", None, None)], vec![Event::Success])]
#[case("skipped", vec![dest("a", "skipped", None, None)], vec![Event::Duplicate])]
#[case("failed", vec![dest("a", "failed", Some("denied"), None)], vec![Event::Failure])]
#[case("partial", vec![dest("a", "created", None, None), dest("b", "failed", Some("x"), None)], vec![Event::Failure])]
#[case("created", vec![dest("a", "created", None, Some("95 % used"))], vec![Event::Success, Event::DiskSpaceWarning])]
#[case("skipped", vec![dest("a", "skipped", None, Some("95 % used"))], vec![Event::Duplicate, Event::DiskSpaceWarning])]
#[case("failed", vec![dest("a", "failed", Some("full"), Some("99 % used"))], vec![Event::Failure, Event::DiskSpaceWarning])]
#[case("planned", vec![dest("a", "would_create", None, Some("95 % used"))], vec![])]
fn events_for_table(#[case] status: &str, #[case] dests: Vec<Value>, #[case] expected: Vec<Event>) {
    assert_eq!(events_for(&report(status, dests)), expected);
}

#[test]
fn success_headline_reads_like_a_sentence() {
    let body = payload(WebhookFormat::Json, Event::Success, &created());
    assert_eq!(body["text"], "✅ BackupRepo: my-repo backed up to 2 of 3 destinations (12.3 MB, 4.2 s)");
}

#[test]
fn slack_payload_has_text_and_blocks_with_fields() {
    let r = partial_with_warning();
    let body = payload(WebhookFormat::Slack, Event::Failure, &r);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("❌ BackupRepo: my-repo backup failed at 1 of 3 destinations: n-drive: no space left"),
        "{text}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let fields = blocks[1]["fields"].as_array().unwrap();
    assert!(!fields.is_empty() && fields.len() <= 10);
    assert!(fields.iter().all(|f| f["type"] == "mrkdwn"));
    assert_eq!(fields[0]["text"], "*Repository*\nmy-repo");
    assert!(fields.iter().any(|f| f["text"] == "*Status*\npartial"));
    let dests = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(
        dests.contains("*n-drive*: ❌ failed: no space left")
            && dests.contains("*desktop*: ✅ created (⚠️ 93.0 % used"),
        "{dests}"
    );
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[test]
fn slack_escapes_markup_from_repo_names() {
    let mut r = created();
    r.repo = "<!channel> & co".into();
    let body = payload(WebhookFormat::Slack, Event::Success, &r);
    let s = body.to_string();
    assert!(!s.contains("<!channel>") && s.contains("&lt;!channel&gt; &amp; co"), "{s}");
}

#[test]
fn teams_payload_is_an_adaptive_card_message() {
    let body = payload(WebhookFormat::Teams, Event::DiskSpaceWarning, &partial_with_warning());
    assert_eq!(body["type"], "message");
    let att = &body["attachments"].as_array().unwrap()[0];
    assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
    let body_items = card["body"].as_array().unwrap();
    assert_eq!(body_items[0]["type"], "TextBlock");
    assert_eq!(body_items[0]["color"], "Warning");
    assert!(body_items[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("⚠️ BackupRepo: low disk space (my-repo): desktop: 93.0 % used"));
    assert_eq!(body_items[1]["type"], "FactSet");
    let facts = body_items[1]["facts"].as_array().unwrap();
    assert!(facts.iter().all(|f| f["title"].is_string() && f["value"].is_string()));
    assert!(facts.iter().any(|f| f["title"] == "Repository" && f["value"] == "my-repo"));
}

#[test]
fn discord_payload_has_content_and_coloured_embed() {
    let cases = [
        (Event::Success, 0x2ECC71, created()),
        (Event::Failure, 0xE74C3C, partial_with_warning()),
        (Event::Duplicate, 0x95A5A6, report("skipped", vec![dest("a", "skipped", None, None)])),
        (Event::DiskSpaceWarning, 0xE67E22, partial_with_warning()),
    ];
    for (event, color, r) in cases {
        let body = payload(WebhookFormat::Discord, event, &r);
        assert!(body["content"].as_str().unwrap().contains("BackupRepo"), "{event}");
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
        let embed = &body["embeds"][0];
        assert_eq!(embed["color"], color, "{event}");
        assert_eq!(embed["timestamp"], "2025-03-04T04:06:07Z");
        let fields = embed["fields"].as_array().unwrap();
        assert!(
            fields.len() <= 25
                && fields.iter().all(|f| f["name"].is_string() && f["value"].as_str().unwrap().len() <= 1024 * 4)
        );
    }
}

#[test]
fn json_payload_is_a_plain_object() {
    let body = payload(WebhookFormat::Json, Event::Failure, &partial_with_warning());
    for key in [
        "event", "repo", "status", "fingerprint", "archive_bytes", "file_count", "duration_seconds", "destinations",
        "timestamp", "tool_version",
    ] {
        assert!(body.get(key).is_some(), "missing {key}");
    }
    assert_eq!(body["event"], "failure");
    assert_eq!(body["repo"], "my-repo");
    assert_eq!(body["status"], "partial");
    assert_eq!(body["archive_bytes"], 12897484);
    assert_eq!(body["file_count"], 1234);
    assert_eq!(body["duration_seconds"], 4.23);
    assert_eq!(body["timestamp"], "2025-03-04T04:06:07Z");
    assert_eq!(body["tool_version"], "0.1.0");
    let d = body["destinations"].as_array().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0]["status"], "created");
    assert_eq!(d[0]["warning"], "93.0 % used (threshold 90 %)");
    assert_eq!(d[1]["status"], "failed");
    assert_eq!(d[1]["reason"], "no space left: needs 12.3 MB, 1.0 KB free");
    assert!(d[2]["reason"].is_null());
}

#[test]
fn notifications_carry_no_url_only_its_index_and_redacted_form() {
    let urls = vec![
        "https://hooks.slack.com/services/T0SECRET/B0SECRET/TOKENSECRET".to_string(),
        "http://user:PASSWORD9@127.0.0.1:9/hook?key=QUERYSECRET".to_string(),
    ];
    let r = partial_with_warning();
    let all = notifications(&r, &urls, None).unwrap();
    assert_eq!(all.len(), 4); // 2 urls × (failure + warning)
    assert_eq!((all[0].url_index, all[0].format, all[0].event), (0, WebhookFormat::Slack, Event::Failure));
    assert_eq!((all[3].url_index, all[3].format, all[3].event), (1, WebhookFormat::Json, Event::DiskSpaceWarning));
    let json = serde_json::to_string(&all).unwrap();
    for secret in ["T0SECRET", "B0SECRET", "TOKENSECRET", "PASSWORD9", "QUERYSECRET", "user:"] {
        assert!(!json.contains(secret), "{secret} leaked");
    }
    for n in &all {
        let v: Value = serde_json::from_str(&n.body).unwrap();
        assert!(v.is_object());
    }
    let forced = notifications(&r, &urls, Some("Discord")).unwrap();
    assert!(forced.iter().all(|n| n.format == WebhookFormat::Discord));
    let err = notifications(&r, &urls, Some("pager")).unwrap_err();
    assert!(err.message.contains("'pager'"));
    let err = notifications(&r, &["hooks.slack.com/services/T/B/SECRETX".to_string()], None).unwrap_err();
    assert!(err.message.contains("#1") && !err.message.contains("SECRETX"), "{}", err.message);
}

#[test]
fn long_and_multiline_reasons_stay_within_each_service_limit() {
    let huge = format!("line one\nline two {}", "x".repeat(10_000));
    let dests = (0..30).map(|i| dest(&format!("d{i}"), "failed", Some(&huge), Some(&huge))).collect();
    let r = report("failed", dests);
    let chars = |v: &Value| v.as_str().unwrap().chars().count();
    let d = payload(WebhookFormat::Discord, Event::Failure, &r);
    assert!(chars(&d["content"]) <= 2000);
    assert!(chars(&d["embeds"][0]["description"]) <= 4096);
    assert!(d["embeds"][0]["fields"].as_array().unwrap().iter().all(|f| chars(&f["value"]) <= 1024));
    let s = payload(WebhookFormat::Slack, Event::Failure, &r);
    for b in s["blocks"].as_array().unwrap() {
        if b["text"]["text"].is_string() {
            assert!(chars(&b["text"]["text"]) <= 3000);
        }
    }
    assert!(!chars(&s["text"]).eq(&0) && !s["text"].as_str().unwrap().contains('\n'));
}
