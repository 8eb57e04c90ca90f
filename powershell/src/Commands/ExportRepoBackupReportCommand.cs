using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// A self-contained HTML report of the metrics logs (Export-RepoBackupReport):
    /// archive sizes over time, runs by status, duplicate rate, storage per
    /// destination and the recent runs. Inline CSS, script and SVG; no network.
    /// </summary>
    [Cmdlet(VerbsData.Export, "RepoBackupReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(FileInfo))]
    public sealed class ExportRepoBackupReportCommand : MetricsCmdlet
    {
        /// <summary>The .html file to write (replaced when it exists).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>Only these repositories (wildcards allowed); default: every log in the folder.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? Repository { get; set; }

        /// <summary>Only runs newer than this.</summary>
        [Parameter]
        public DateTime Since { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string Title { get; set; } = "BackupRepo report";

        protected override void EndProcessing()
        {
            string dir = ResolveLogDirectory();
            string path = GetUnresolvedProviderPathFromPSPath(Path!);
            var patterns = (Repository ?? new[] { "*" }).Select(p => new WildcardPattern(p, WildcardOptions.IgnoreCase)).ToArray();
            var records = new JsonArray();
            int bad = 0;
            DateTimeOffset? since = MyInvocation.BoundParameters.ContainsKey(nameof(Since)) ? new DateTimeOffset(Since) : null;
            IEnumerable<string> logs = Directory.Exists(dir)
                ? Directory.EnumerateFiles(dir, "backup-*.jsonl").OrderBy(f => f, StringComparer.Ordinal)
                : Enumerable.Empty<string>();
            int files = 0;
            foreach (string log in logs)
            {
                files++;
                foreach (string line in ReadLines(log))
                {
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    JsonObject? record;
                    try
                    {
                        record = JsonNode.Parse(line) as JsonObject;
                    }
                    catch (JsonException)
                    {
                        record = null;
                    }
                    string? repo = record?["repo"] is JsonValue rv && rv.TryGetValue(out string? r) ? r : null;
                    string? stamp = record?["timestamp"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : null;
                    if (record == null || repo == null || stamp == null)
                    {
                        bad++;
                        continue;
                    }
                    if (!patterns.Any(p => p.IsMatch(repo))) continue;
                    if (since != null && DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset when)
                        && when < since) continue;
                    records.Add(record);
                }
            }
            if (bad > 0) WriteWarning($"Skipped {bad} line{(bad == 1 ? "" : "s")} of the metrics logs in {dir} that are not run records.");
            if (files == 0) WriteWarning($"No metrics log (backup-*.jsonl) in {dir}: the report has no runs. Back up with -MetricsLog, or give -MetricsLogDirectory.");
            WriteVerbose($"{records.Count} runs from {files} logs in {dir}");

            string html = Render(records, dir);
            if (!ShouldProcess(path, $"Write an HTML report of {records.Count} runs")) return;
            try
            {
                string? parent = System.IO.Path.GetDirectoryName(path);
                if (!string.IsNullOrEmpty(parent)) Directory.CreateDirectory(parent);
                string temp = path + ".partial";
                File.WriteAllText(temp, html, new UTF8Encoding(false));
                File.Move(temp, path, overwrite: true);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                ThrowTerminatingError(new ErrorRecord(e, "BackupRepo.IOError", ErrorCategory.WriteError, path));
            }
            // What Get-Item returns (PSPath, PSParentPath, Mode ...), so it formats as a file listing.
            WriteObject(InvokeProvider.Item.Get(new[] { path }, force: true, literalPath: true), enumerateCollection: true);
        }

        /// <summary>Lines of a log that another run may be appending to.</summary>
        private static IEnumerable<string> ReadLines(string file)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            string? line;
            while ((line = reader.ReadLine()) != null) yield return line;
        }

        private string Render(JsonArray records, string dir)
        {
            string template;
            using (Stream? s = typeof(ExportRepoBackupReportCommand).Assembly.GetManifestResourceStream("BackupRepo.report.html"))
            {
                if (s == null) throw new InvalidOperationException("The report template is missing from the assembly.");
                using var reader = new StreamReader(s, Encoding.UTF8);
                template = reader.ReadToEnd();
            }
            // The default encoder escapes <, > and & as \u003C..., so the JSON cannot end the script element.
            string data = records.ToJsonString();
            var values = new Dictionary<string, string>
            {
                ["DATA"] = data,
                ["TITLE"] = WebUtility.HtmlEncode(Title),
                ["GENERATED"] = WebUtility.HtmlEncode(DateTime.Now.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)),
                ["SOURCE"] = WebUtility.HtmlEncode(dir),
                ["VERSION"] = WebUtility.HtmlEncode(Lib.Version()),
            };
            // One pass, so a value that happens to contain a placeholder is left alone.
            return System.Text.RegularExpressions.Regex.Replace(template, "__(DATA|TITLE|GENERATED|SOURCE|VERSION)__", m => values[m.Groups[1].Value]);
        }
    }
}
