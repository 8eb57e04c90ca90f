using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>The message shape for -WebhookFormat. Auto: from each URL's host (hooks.slack.com: Slack, ...).</summary>
    public enum WebhookFormat { Auto, Slack, Teams, Discord, Json }

    /// <summary>How one webhook message went. Never holds the real URL: <see cref="DisplayUrl"/> is redacted.</summary>
    public sealed class WebhookDelivery
    {
        public string DisplayUrl { get; set; } = "";
        public string Format { get; set; } = "";
        public string Event { get; set; } = "";
        public bool Delivered { get; set; }
        public int StatusCode { get; set; }
        public int Attempts { get; set; }
        public TimeSpan Elapsed { get; set; }
        /// <summary>Why it was not delivered: an HTTP status, a timeout or a connection error; never a URL.</summary>
        public string? Error { get; set; }

        public override string ToString() => Delivered
            ? $"{DisplayUrl} ({Format}, {Event}): HTTP {StatusCode}"
            : $"{DisplayUrl} ({Format}, {Event}): {Error}";
    }

    /// <summary>
    /// Webhooks: the engine decides which messages a run produces and what
    /// they say (br_notify_payloads, src/notify); this class delivers them
    /// with HttpClient (https included; the module's one network stack, the
    /// Pushgateway push uses the same client) under the retry policy that
    /// lives here: a per-attempt timeout, retries after 0.5 s, 1 s, ... (x2,
    /// at most 8 s) on connection errors, timeouts, 5xx, 408 and 429, never
    /// on other 4xx. One deadline bounds all deliveries of a run. Every error
    /// text goes through the engine's redaction rule (Lib.Redact).
    /// </summary>
    internal static class Webhooks
    {
        internal static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
        internal const int DefaultRetries = 2;
        private static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(500);
        private const int BackoffFactor = 2;
        private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(8);

        /// <summary>Waits before retry 1..n: 0.5 s, 1 s, 2 s, ... capped at 8 s.</summary>
        internal static TimeSpan[] RetryDelays(int retries)
        {
            var delays = new TimeSpan[Math.Max(retries, 0)];
            TimeSpan d = BaseDelay;
            for (int i = 0; i < delays.Length; i++)
            {
                delays[i] = d < MaxDelay ? d : MaxDelay;
                d = TimeSpan.FromTicks(Math.Min(d.Ticks * BackoffFactor, MaxDelay.Ticks));
            }
            return delays;
        }

        /// <summary>5xx, 408 and 429 may succeed later; other statuses will not.</summary>
        internal static bool IsRetryable(int status) => (status >= 500 && status <= 599) || status == 429 || status == 408;

        /// <summary>Slack for the work around the attempts (building requests, scheduling), so the last attempt can time out on its own.</summary>
        private static readonly TimeSpan BudgetGrace = TimeSpan.FromSeconds(1);

        /// <summary>The most a run's deliveries take: every attempt timing out, plus the waits (and a second of slack).</summary>
        internal static TimeSpan Budget(TimeSpan timeout, int retries) =>
            TimeSpan.FromTicks(timeout.Ticks * (retries + 1)) + RetryDelays(retries).Aggregate(TimeSpan.Zero, (a, b) => a + b) + BudgetGrace;

        /// <summary>The module's one HttpClient (webhooks and the Pushgateway): no redirects, no cookies, OS proxy and certificate store.</summary>
        internal static readonly Lazy<HttpClient> Client = new Lazy<HttpClient>(() =>
        {
            var handler = new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                UseCookies = false,
            };
            var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
            client.DefaultRequestHeaders.UserAgent.ParseAdd("BackupRepo/" + typeof(Webhooks).Assembly.GetName().Version?.ToString(3));
            return client;
        });

        /// <summary>One message from br_notify_payloads.</summary>
        internal sealed class Notification
        {
            public int UrlIndex { get; set; }
            public string DisplayUrl { get; set; } = "";
            public string Format { get; set; } = "";
            public string Event { get; set; } = "";
            public string Body { get; set; } = "";
        }

        /// <summary>The messages for <paramref name="reportJson"/> (a BackupReport) to each URL. Throws BackupRepoException (no URL in it).</summary>
        internal static List<Notification> Payloads(string reportJson, IReadOnlyList<string> urls, WebhookFormat format)
        {
            var options = new JsonObject
            {
                ["urls"] = new JsonArray(urls.Select(u => (JsonNode?)u).ToArray()),
                ["format"] = format == WebhookFormat.Auto ? null : format.ToString().ToLowerInvariant(),
            };
            BrStatus status = Lib.br_notify_payloads(Lib.Utf8(reportJson), Lib.Utf8(options.ToJsonString()), out IntPtr result);
            string json = Lib.Check(status, result);
            return JsonSerializer.Deserialize<List<Notification>>(json, ReportJson.Options) ?? new List<Notification>();
        }

        /// <summary>
        /// A BackupReport for a run that ended without one (not a repository,
        /// an I/O error, ...), so the failure is still announced.
        /// </summary>
        internal static string FailedReportJson(string repo, string source, string message, DateTimeOffset started, TimeSpan duration)
        {
            var timings = new JsonObject
            {
                ["select_seconds"] = 0.0, ["hash_seconds"] = 0.0, ["compress_seconds"] = 0.0,
                ["place_seconds"] = 0.0, ["verify_seconds"] = 0.0, ["prune_seconds"] = 0.0,
            };
            var report = new JsonObject
            {
                ["tool_version"] = Lib.Version(),
                ["repo"] = repo,
                ["source"] = source,
                ["status"] = "failed",
                ["timestamp"] = started.LocalDateTime.ToString("yyyy-MM-dd_HH-mm-ss", System.Globalization.CultureInfo.InvariantCulture),
                ["started_utc"] = started.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["archive_name"] = "",
                ["fingerprint"] = "",
                ["file_count"] = 0,
                ["source_bytes"] = 0,
                ["archive_bytes"] = 0,
                ["duration_seconds"] = duration.TotalSeconds,
                ["timings"] = timings,
                ["files_hashed"] = 0,
                ["files_cached"] = 0,
                ["entries_reused"] = 0,
                ["destinations"] = new JsonArray(),
                ["excluded"] = new JsonArray(),
                ["skipped_paths"] = new JsonArray(),
                ["verification"] = new JsonArray(),
                ["retention"] = new JsonArray(),
                ["warnings"] = new JsonArray(message),
            };
            return report.ToJsonString();
        }

        /// <summary>
        /// Deliver every message: URLs in parallel, each URL's messages in
        /// order. Everything ends within <see cref="Budget"/> (or when
        /// <paramref name="cancel"/> fires); what is left then is reported as not delivered.
        /// </summary>
        internal static IReadOnlyList<WebhookDelivery> SendAll(IReadOnlyList<string> urls, IReadOnlyList<Notification> notifications,
            TimeSpan timeout, int retries, CancellationToken cancel)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            deadline.CancelAfter(Budget(timeout, retries));
            var perUrl = notifications.GroupBy(n => n.UrlIndex).Select(g => Task.Run(async () =>
            {
                var done = new List<WebhookDelivery>();
                foreach (Notification n in g)
                {
                    done.Add(await SendOneAsync(urls[n.UrlIndex], n, timeout, retries, deadline.Token).ConfigureAwait(false));
                }
                return done;
            })).ToArray();
            Task.WaitAll(perUrl);
            return perUrl.SelectMany(t => t.Result).ToList();
        }

        private static async Task<WebhookDelivery> SendOneAsync(string url, Notification n, TimeSpan timeout, int retries, CancellationToken deadline)
        {
            var d = new WebhookDelivery { DisplayUrl = n.DisplayUrl, Format = n.Format, Event = n.Event };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TimeSpan[] delays = RetryDelays(retries);
            if (!TryTarget(url, out Uri? target, out AuthenticationHeaderValue? auth, out string? why))
            {
                d.Error = why;
                return d;
            }
            while (true)
            {
                d.Attempts++;
                (bool ok, bool retryable, int status, string error) = await AttemptAsync(target!, auth, n.Body, timeout, deadline).ConfigureAwait(false);
                d.StatusCode = status;
                if (ok)
                {
                    d.Delivered = true;
                    d.Error = null;
                    break;
                }
                // Out of time: say what the attempts before met, if anything. A server's
                // reason phrase is outside text: redacted like everything shown.
                d.Error = d.Error != null && deadline.IsCancellationRequested ? d.Error + "; then the webhook time budget ran out" : Lib.Redact(url, error);
                if (!retryable || d.Attempts > delays.Length || deadline.IsCancellationRequested) break;
                try
                {
                    await Task.Delay(delays[d.Attempts - 1], deadline).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            d.Elapsed = clock.Elapsed;
            return d;
        }

        /// <summary>The URL to request (user:pass@ moved into a Basic Authorization header).</summary>
        internal static bool TryTarget(string url, out Uri? target, out AuthenticationHeaderValue? auth, out string? why)
        {
            target = null;
            auth = null;
            why = null;
            if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                why = "not an http:// or https:// URL";
                return false;
            }
            if (uri.UserInfo.Length > 0)
            {
                auth = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(uri.UserInfo))));
                uri = new UriBuilder(uri) { UserName = "", Password = "" }.Uri;
            }
            target = uri;
            return true;
        }

        /// <summary>One POST. The error text is built here from status codes and error kinds, so it never carries the URL.</summary>
        private static async Task<(bool Ok, bool Retryable, int Status, string Error)> AttemptAsync(Uri target, AuthenticationHeaderValue? auth,
            string body, TimeSpan timeout, CancellationToken deadline)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline);
            attempt.CancelAfter(timeout);
            using var request = new HttpRequestMessage(HttpMethod.Post, target)
            {
                Content = new StringContent(body, new UTF8Encoding(false), "application/json"),
            };
            if (auth != null) request.Headers.Authorization = auth;
            try
            {
                using HttpResponseMessage response = await Client.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attempt.Token).ConfigureAwait(false);
                int status = (int)response.StatusCode;
                if (status >= 200 && status < 300) return (true, false, status, "");
                string reason = string.IsNullOrEmpty(response.ReasonPhrase) ? "" : " " + response.ReasonPhrase;
                return (false, IsRetryable(status), status, $"HTTP {status}{reason}");
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                return (false, false, 0, "stopped: the webhook time budget was used up or the command was stopped");
            }
            catch (OperationCanceledException)
            {
                return (false, true, 0, $"no response within {timeout.TotalSeconds:0.###} s");
            }
            catch (HttpRequestException e)
            {
                return (false, true, 0, Describe(e));
            }
        }

        internal static string Describe(HttpRequestException e)
        {
            for (Exception? x = e; x != null; x = x.InnerException)
            {
                if (x is SocketException s) return $"connection failed ({s.SocketErrorCode})";
                if (x is System.Security.Authentication.AuthenticationException) return "TLS handshake failed";
            }
            return e.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => "host name not resolved",
                HttpRequestError.ConnectionError => "connection failed",
                HttpRequestError.SecureConnectionError => "TLS handshake failed",
                HttpRequestError.ResponseEnded => "the server closed the connection",
                _ => "request failed (" + e.HttpRequestError + ")",
            };
        }
    }
}
