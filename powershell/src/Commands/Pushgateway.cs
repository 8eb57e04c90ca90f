using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>
    /// The Pushgateway push: the engine builds what is sent (br_metrics_push_payloads:
    /// one body per repository and its grouping path /metrics/job/&lt;job&gt;/repo/&lt;repo&gt;),
    /// this class PUTs it with the module's HttpClient (http and https, the OS proxy and
    /// certificate store). A user:pass@ in the URL becomes Basic authentication; every
    /// message goes through the engine's redaction rule (Lib.Redact).
    /// </summary>
    internal static class Pushgateway
    {
        /// <summary>The job Backup-Repo pushes to.</summary>
        internal const string DefaultJob = "backup_repo";

        /// <summary>The limit of one PUT (connect, send, answer).</summary>
        internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

        /// <summary>One request from br_metrics_push_payloads.</summary>
        internal sealed class Payload
        {
            public string Repo { get; set; } = "";
            public string Path { get; set; } = "";
            public string ContentType { get; set; } = "";
            public string Body { get; set; } = "";
        }

        /// <summary>The push of one log file or of every log in a folder. Throws BackupRepoException (NotFound for a missing path).</summary>
        internal static List<Payload> Payloads(string logPathOrDir, string job)
        {
            string json = Lib.Check(Lib.br_metrics_push_payloads(Lib.Utf8(logPathOrDir), Lib.Utf8(job), out IntPtr result), result);
            return JsonSerializer.Deserialize<List<Payload>>(json, ReportJson.Options) ?? new List<Payload>();
        }

        /// <summary>
        /// PUT each payload to <paramref name="url"/> (its path, query and fragment: the base;
        /// each payload's path is appended), in order, stopping at the first failure.
        /// Returns the repositories pushed; throws BackupRepoException (Io, or InvalidArgument for
        /// a URL that is not http:// or https://) whose message shows the URL redacted.
        /// </summary>
        internal static List<string> Push(string url, IReadOnlyList<Payload> payloads, CancellationToken cancel)
        {
            string shown = Lib.Redact(url);
            if (!Webhooks.TryTarget(url, out Uri? target, out AuthenticationHeaderValue? auth, out _))
            {
                throw new BackupRepoException(BrStatus.InvalidArgument, $"'{shown}': not an http:// or https:// URL");
            }
            string baseUrl = target!.GetLeftPart(UriPartial.Path).TrimEnd('/');
            var pushed = new List<string>();
            foreach (Payload p in payloads)
            {
                string? error = PutOne(new Uri(baseUrl + p.Path), auth, p, cancel);
                if (error != null)
                {
                    throw new BackupRepoException(BrStatus.Io, Lib.Redact(url, error.Replace("{url}", shown)));
                }
                pushed.Add(p.Repo);
            }
            return pushed;
        }

        /// <summary>One PUT; null when the Pushgateway took it, else why not (with {url} where the URL goes).</summary>
        private static string? PutOne(Uri target, AuthenticationHeaderValue? auth, Payload p, CancellationToken cancel)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            attempt.CancelAfter(Timeout);
            using var request = new HttpRequestMessage(HttpMethod.Put, target)
            {
                Content = new StringContent(p.Body, new UTF8Encoding(false)),
            };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(p.ContentType);
            if (auth != null) request.Headers.Authorization = auth;
            try
            {
                using HttpResponseMessage response = Webhooks.Client.Value.Send(request, HttpCompletionOption.ResponseHeadersRead, attempt.Token);
                int status = (int)response.StatusCode;
                if (status >= 200 && status < 300) return null;
                string body = "";
                try
                {
                    using var reader = new StreamReader(response.Content.ReadAsStream(attempt.Token), Encoding.UTF8);
                    var buffer = new char[300];
                    body = new string(buffer, 0, reader.ReadBlock(buffer, 0, buffer.Length)).Trim();
                }
                catch (Exception e) when (e is IOException || e is HttpRequestException || e is OperationCanceledException)
                {
                    // The status says enough.
                }
                string reason = string.IsNullOrEmpty(response.ReasonPhrase) ? "" : " " + response.ReasonPhrase;
                return $"the Pushgateway at '{{url}}' answered {status}{reason}{(body.Length == 0 ? "" : ": " + body)}";
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return "cannot push metrics to the Pushgateway at '{url}': stopped";
            }
            catch (OperationCanceledException)
            {
                return $"cannot push metrics to the Pushgateway at '{{url}}': no response within {Timeout.TotalSeconds:0} s";
            }
            catch (HttpRequestException e)
            {
                return $"cannot push metrics to the Pushgateway at '{{url}}': {Webhooks.Describe(e)}";
            }
        }
    }
}
