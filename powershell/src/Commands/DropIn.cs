using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;

namespace BackupRepo
{
    /// <summary>
    /// The drop-in script's (backup-repo.ps1) work around its one Backup-Repo (or
    /// Get-RepoBackup -Summary) call: the original's repository check, the call's
    /// parameters, and the text or JSON it prints. The script keeps the original's
    /// switches and the call itself, so -WhatIf, -Verbose, Ctrl+C and progress are
    /// PowerShell's own. Why not script: a fresh pwsh compiles every statement of a
    /// script on its first run and binds every .NET call on its first use, which was
    /// ~0.1 s of an unchanged run; this code is compiled once per method.
    /// </summary>
    public sealed class DropIn
    {
        private const double MiB = DropInSummary.MiB;
        private static readonly string[] HostTag = { "PSHOST" };

        private readonly PSCmdlet _script;
        private readonly bool _json;
        private readonly bool _wholeProcess;
        private readonly DateTime _started = DateTime.Now;

        /// <summary>The repository root: the current folder.</summary>
        public string Root { get; }

        /// <summary>The repository's name: the root folder's name.</summary>
        public string Name { get; }

        /// <summary>-WhatIf: plan only, no metrics line.</summary>
        public bool DryRun { get; }

        private DropIn(PSCmdlet script, string root, bool json, bool dryRun, bool wholeProcess)
        {
            _script = script;
            Root = root;
            Name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(root));
            _json = json;
            DryRun = dryRun;
            _wholeProcess = wholeProcess;
        }

        /// <summary>
        /// The run for the script <paramref name="script"/> (its $PSCmdlet) in its
        /// current folder; null, after the original's message on standard error,
        /// when that folder is not a repository root (.git, pyproject.toml or package.json).
        /// </summary>
        public static DropIn? Start(PSCmdlet script, string outputFormat, bool dryRun, bool wholeProcess)
        {
            string root = script.SessionState.Path.CurrentFileSystemLocation.ProviderPath;
            if (!IsRepositoryRoot(root))
            {
                Console.Error.WriteLine("Must run from repository root");
                return null;
            }
            bool json = string.Equals(outputFormat, "json", StringComparison.OrdinalIgnoreCase);
            return new DropIn(script, root, json, dryRun, wholeProcess);
        }

        /// <summary>
        /// Whether <paramref name="folder"/> is a repository root, by the engine's rule. When
        /// the engine cannot be loaded the answer is unknown: the run goes on, and its first
        /// engine call reports why (once).
        /// </summary>
        private static bool IsRepositoryRoot(string folder)
        {
            try
            {
                return Commands.RepoBackupCmdlet.IsRepository(folder);
            }
            catch (Exception e) when (e is not BackupRepoException)
            {
                return true;
            }
        }

        /// <summary>
        /// The metrics log, backup-&lt;repo&gt;.jsonl in the engine's metrics folder
        /// ($env:BACKUP_REPO_METRICS_DIR, else the config file's, else %APPDATA%\backup-metrics
        /// on Windows as the original, else $XDG_DATA_HOME/backup-repo/metrics).
        /// </summary>
        public string? MetricsLogPath()
        {
            string? dir = MetricsPaths.DefaultDirectory();
            return dir == null ? null : System.IO.Path.Combine(dir, $"backup-{Name}.jsonl");
        }

        /// <summary>Backup-Repo's parameters (for splatting) from the script's switches.</summary>
        public Hashtable BackupParameters(bool includeBuild, int keepLast, bool verify, string[]? webhookUrl, string[]? destination)
        {
            var p = new Hashtable(StringComparer.OrdinalIgnoreCase)
            {
                ["Path"] = Root,
                // The summary below is the output; Backup-Repo's own -WhatIf plan is not.
                ["InformationAction"] = ActionPreference.Ignore,
            };
            // No -Destination: the engine's defaults (config file, $env:BACKUP_REPO_DESTINATIONS, platform).
            destination = SplitDestinations(destination);
            if (destination is { Length: > 0 }) p["Destination"] = destination;
            if (includeBuild) p["IncludeBuild"] = true;
            if (keepLast > 0) p["KeepLast"] = keepLast;
            if (verify) p["Verify"] = true;
            // Backup-Repo sends the messages (Slack/Teams/Discord from the URL's host, else JSON), with
            // a short timeout and retries; a failed webhook is a warning that shows the URL redacted.
            if (webhookUrl is { Length: > 0 }) p["WebhookUrl"] = webhookUrl;
            if (!DryRun && MetricsLogPath() is string log)
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(log)!);
                p["MetricsLog"] = log;
            }
            // JSON mode keeps standard output for the one JSON object: warnings (a webhook
            // that failed, a full disk) go to standard error, like errors.
            if (_json) p["WarningAction"] = ActionPreference.SilentlyContinue;
            return p;
        }

        /// <summary>Get-RepoBackup's parameters for -List.</summary>
        public Hashtable ListParameters(string[]? destination)
        {
            var p = new Hashtable(StringComparer.OrdinalIgnoreCase)
            {
                ["Summary"] = true,
                ["Repository"] = Name,
                // This repository's backups only: another with the same folder name shares the folder.
                ["Source"] = Root,
            };
            destination = SplitDestinations(destination);
            if (MetricsLogPath() is string log) p["MetricsLogDirectory"] = System.IO.Path.GetDirectoryName(log);
            if (destination is { Length: > 0 }) p["Destination"] = destination;
            return p;
        }

        /// <summary>
        /// Print the backup's outcome (Backup-Repo's <paramref name="output"/>, the
        /// errors and warnings it reported or threw; <paramref name="verify"/>: -Verify
        /// was asked for); returns the exit code: 1 when nothing was placed anywhere, else 0.
        /// </summary>
        public int Finish(object? output, IEnumerable? errors, IEnumerable? warnings, bool verify)
        {
            BackupResult? result = Objects(output).OfType<BackupResult>().FirstOrDefault();
            if (_json)
            {
                foreach (object w in Objects(warnings)) Console.Error.WriteLine($"WARNING: {(w is WarningRecord r ? r.Message : w)}");
            }
            List<string> messages = ErrorMessages(errors);
            PrintErrors(messages);

            if (result == null)
            {
                if (_json)
                {
                    WriteJson(new OrderedDictionary
                    {
                        ["repo"] = Name,
                        ["timestamp"] = _started.ToString("yyyy-MM-dd_HH-mm-ss", CultureInfo.InvariantCulture),
                        ["status"] = "failed",
                        ["created"] = Array.Empty<object>(),
                        ["skipped"] = Array.Empty<object>(),
                        ["size_mb"] = 0,
                        ["duration_seconds"] = Math.Round((DateTime.Now - _started).TotalSeconds, 2),
                        ["file_count"] = 0,
                        ["locations"] = Array.Empty<object>(),
                        ["error"] = messages.Count > 0 ? messages[0] : "",
                        ["schema_version"] = 1,
                    });
                }
                else
                {
                    Say($"Backup of {Name} failed.", ConsoleColor.Red);
                }
                return 1;
            }

            OrderedDictionary summary = DropInSummary.Of(result, DryRun, verify);
            string status = (string)summary["status"]!;
            if (_json)
            {
                WriteJson(summary);
            }
            else if (DryRun)
            {
                SayPlan(result);
            }
            else
            {
                SayOutcome(result, status, verify);
            }
            return status == "failed" ? 1 : 0;
        }

        private void SayPlan(BackupResult result)
        {
            Say(Invariant($"WhatIf: would back up {Name} ({result.FileCount} files, {DropInSummary.MegaBytes(result.SourceBytes)} MB)"), ConsoleColor.Cyan);
            foreach (BackupDestination d in result.Destinations)
            {
                string what = d.Status switch
                {
                    DestinationStatus.WouldCreate => $"would create {System.IO.Path.Combine(d.Path, result.ArchiveName)}",
                    DestinationStatus.WouldSkip => "would skip (unchanged)",
                    _ => $"{d.Status} {d.Reason}",
                };
                Say($"  {d.Name}: {what}");
                foreach (PrunedBackup p in result.Pruned.Where(p => p.Destination == d.Name))
                    Say($"    would prune {p.Path}", ConsoleColor.Yellow);
            }
            Say("Nothing was written.");
        }

        private void SayOutcome(BackupResult result, string status, bool verify)
        {
            Say($"Backup of {Name} ({result.FileCount} files)", ConsoleColor.Cyan);
            foreach (BackupDestination d in result.Destinations)
            {
                switch (d.Status)
                {
                    case DestinationStatus.Created:
                        Say($"  [created] {d.Name}: {d.ArchivePath}", ConsoleColor.Green);
                        break;
                    case DestinationStatus.Skipped:
                        Say($"  [skipped] {d.Name}: unchanged since {System.IO.Path.GetFileName(d.ArchivePath ?? "")}", ConsoleColor.Yellow);
                        break;
                    default:
                        Say($"  [failed]  {d.Name}: {d.Reason}", ConsoleColor.Red);
                        break;
                }
                foreach (PrunedBackup p in result.Pruned.Where(p => p.Destination == d.Name))
                    Say($"  [pruned]  {d.Name}: {p.Path}", ConsoleColor.Yellow);
            }
            if (verify)
            {
                foreach (VerificationResult v in result.Verification)
                {
                    if (v.Ok) Say($"  [verified] {v.Archive} ({v.EntriesChecked} entries)", ConsoleColor.Green);
                    else Say($"  [verify failed] {v.Archive}: {v.FirstError}", ConsoleColor.Red);
                }
            }
            Say();
            Say($"Status: {status}", status switch { "success" => ConsoleColor.Green, "skipped" => ConsoleColor.Yellow, _ => ConsoleColor.Red });
            if (result.ArchiveBytes > 0)
            {
                // One meaning of ratio everywhere (the module's CompressionRatio): archive size over
                // source size. Sizes in MiB (binary), labelled so.
                double ratio = result.SourceBytes > 0 ? (double)result.ArchiveBytes / result.SourceBytes : 1;
                double saved = ((double)result.SourceBytes - result.ArchiveBytes) / MiB;
                Say("Statistics:");
                Say(Current("  Size:          {0:N2} MiB", result.ArchiveBytes / MiB));
                Say(Current("  Original size: {0:N2} MiB", result.SourceBytes / MiB));
                Say(Current("  Ratio:         {0:N1} % of the original size", ratio * 100));
                Say(Math.Round(saved, 2) > 0
                    ? Current("  Space saved:   {0:N2} MiB", saved)
                    : Current("  Space saved:   none (the archive is {0:N2} MiB larger)", Math.Max(0, -saved)));
                Say(Current("  Files:         {0}", result.FileCount));
                Say(Current("  Duration:      {0:N2} s", result.Duration.TotalSeconds));
            }
            string? zip = DropInSummary.RestoreArchive(result);
            if (zip != null)
            {
                string parent = System.IO.Path.GetDirectoryName(System.IO.Path.TrimEndingDirectorySeparator(Root)) ?? "";
                Say();
                Say("To restore:");
                // Single-quoted: nothing in a path ($(...), `, ") runs or expands when pasted.
                Say($"  Expand-Archive -LiteralPath {Quote(zip)} -DestinationPath {Quote(System.IO.Path.Combine(parent, $"{Name}-restored"))}");
            }
        }

        /// <summary>
        /// Print -List (Get-RepoBackup -Summary's <paramref name="output"/>); returns the
        /// exit code: 1 when there were errors and no summary at all, else 0.
        /// </summary>
        public int List(object? output, IEnumerable? errors)
        {
            BackupSummary[] summaries = Objects(output).OfType<BackupSummary>().ToArray();
            foreach (string message in ErrorMessages(errors)) Console.Error.WriteLine($"ERROR: {message}");
            OrderedDictionary[] rows = summaries.Select(ListRow).ToArray();
            if (_json)
            {
                WriteJson(rows);
            }
            else
            {
                SayList(rows);
            }
            return Objects(errors).Any() && summaries.Length == 0 ? 1 : 0;
        }

        /// <summary>One destination's -List row: the JSON object, which the text is also printed from.</summary>
        private static OrderedDictionary ListRow(BackupSummary s) => new OrderedDictionary
        {
            ["name"] = s.Destination,
            ["path"] = s.Folder,
            ["source"] = s.Source,
            ["count"] = s.Count,
            ["oldest"] = Stamp(s.Oldest),
            ["newest"] = Stamp(s.Newest),
            ["total_mb"] = DropInSummary.MegaBytes(s.TotalBytes),
            ["average_mb"] = DropInSummary.MegaBytes(s.AverageBytes),
            ["compression_ratio"] = s.CompressionRatio is double r ? Math.Round(r, 4) : null,
            ["per_day"] = s.Frequency.PerDay is double pd ? Math.Round(pd, 2) : null,
            ["per_week"] = s.Frequency.PerWeek is double pw ? Math.Round(pw, 2) : null,
            ["duplicates"] = s.Duplicates is DuplicateStats d
                ? new OrderedDictionary
                {
                    ["runs"] = d.Runs,
                    ["skipped_unchanged"] = d.SkippedUnchanged,
                    ["created"] = d.Created,
                    ["failed"] = d.Failed,
                    ["duplicate_rate"] = Math.Round(d.DuplicateRate, 4),
                }
                : null,
            ["file_types"] = s.FileTypes
                .Select(t => (object)new OrderedDictionary { ["type"] = t.Label, ["files"] = t.Files, ["mb"] = DropInSummary.MegaBytes(t.Bytes) })
                .ToArray(),
        };

        private void SayList(OrderedDictionary[] rows)
        {
            Say($"Backups of {Name}", ConsoleColor.Cyan);
            foreach (OrderedDictionary r in rows)
            {
                Say();
                Say($"  {r["name"]}: {r["path"]}");
                Say(r["source"] is string source ? $"    Source:   {source}" : "    Source:   unknown (made before 0.2)");
                if ((ulong)r["count"]! == 0)
                {
                    Say("    no backups");
                    continue;
                }
                Say(Invariant($"    Backups:  {r["count"]}"));
                Say($"    Oldest:   {r["oldest"]}");
                Say($"    Newest:   {r["newest"]}");
                Say(Invariant($"    Total:    {r["total_mb"]} MiB"));
                Say(Invariant($"    Average:  {r["average_mb"]} MiB"));
                if (r["compression_ratio"] is double ratio) Say(Current("    Ratio:    {0:P0} of the original size", ratio));
                Say(r["per_day"] is double
                    ? Current("    Frequency: {0:N2} per day, {1:N2} per week", r["per_day"], r["per_week"])
                    : "    Frequency: less than a day of backups (no rate)");
                if (r["duplicates"] is OrderedDictionary d)
                {
                    Say(Current("    Unchanged: {0} of {1} runs skipped as duplicates ({2:P0})", d["skipped_unchanged"], d["runs"], d["duplicate_rate"]));
                }
                var types = (object[])r["file_types"]!;
                if (types.Length > 0)
                {
                    Say("    Newest by type: " + string.Join(", ", types.Take(5).Cast<OrderedDictionary>()
                        .Select(t => Invariant($"{t["type"]} {t["files"]}"))));
                }
            }
        }

        /// <summary>Each error's message, once: errors as text, not as their records.</summary>
        private void PrintErrors(List<string> messages)
        {
            foreach (string message in messages)
            {
                if (_json) Console.Error.WriteLine($"ERROR: {message}");
                else Say($"ERROR: {message}", ConsoleColor.Red);
            }
        }

        /// <summary>
        /// Each error's message, once. -ErrorVariable holds error records and, for a
        /// terminating error, the exception itself, whose text would carry a stack
        /// trace; the script's catch block then adds the same error again.
        /// </summary>
        internal static List<string> ErrorMessages(IEnumerable? errors)
        {
            var messages = new List<string>();
            foreach (object e in Objects(errors))
            {
                string? text = e switch
                {
                    ErrorRecord r => !string.IsNullOrEmpty(r.ErrorDetails?.Message) ? r.ErrorDetails!.Message : r.Exception?.Message,
                    Exception x => x.Message,
                    _ => e.ToString(),
                };
                if (!string.IsNullOrEmpty(text) && !messages.Contains(text)) messages.Add(text);
            }
            return messages;
        }

        /// <summary>
        /// Host text as Write-Host writes it (an information record tagged PSHOST: shown
        /// by the host, redirectable with 6>, silenced by -InformationAction Ignore),
        /// without loading Write-Host's module (Microsoft.PowerShell.Utility, a third
        /// of a run). Nothing in JSON mode, whose standard output is the JSON alone.
        /// </summary>
        private void Say(string text = "", ConsoleColor? color = null)
        {
            if (_json) return;
            var message = new HostInformationMessage { Message = text };
            if (color is ConsoleColor c) message.ForegroundColor = c;
            _script.WriteInformation(message, HostTag);
        }

        /// <summary>
        /// The JSON on standard output. When the script is the whole process and its
        /// output goes to a file or a pipe, written there directly: as pipeline output
        /// it would go through pwsh's formatter, whose first use costs a fresh pwsh
        /// ~0.05 s. To a console (pwsh writes it as Unicode, [Console]::Out in the
        /// console's code page) and in a session it is pipeline output, so
        /// "> backup-result.json" and "$r = &amp; backup-repo.ps1" work as before.
        /// </summary>
        private void WriteJson(object value)
        {
            string text = PlainJson.Serialize(value);
            if (_wholeProcess && Console.IsOutputRedirected) Console.Out.WriteLine(text);
            else _script.WriteObject(text);
        }

        /// <summary>Values out of what a script passed: PowerShell wrappers removed, collections flattened.</summary>
        private static IEnumerable<object> Objects(object? value)
        {
            if (value is PSObject ps) value = ps.BaseObject;
            if (value == null) yield break;
            if (value is IEnumerable many and not string)
            {
                foreach (object? o in many)
                {
                    object? item = o is PSObject p ? p.BaseObject : o;
                    if (item != null) yield return item;
                }
            }
            else
            {
                yield return value;
            }
        }

        /// <summary>A PowerShell single-quoted literal: only ' (and its typographic forms) needs doubling.</summary>
        internal static string Quote(string text)
        {
            var b = new StringBuilder("'");
            foreach (char c in text)
            {
                if (c is '\'' or '\u2018' or '\u2019' or '\u201A' or '\u201B') b.Append(c);
                b.Append(c);
            }
            return b.Append('\'').ToString();
        }

        /// <summary>
        /// -Destination as the user meant it: pwsh -File passes "a,b" as one string (arrays are
        /// PowerShell syntax, not command-line syntax), so a value with commas that is not itself
        /// an existing folder is split at them.
        /// </summary>
        internal static string[]? SplitDestinations(string[]? destination)
        {
            if (destination == null) return null;
            return destination
                .SelectMany(d => d.Contains(',') && !Directory.Exists(d)
                    ? d.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    : new[] { d })
                .ToArray();
        }

        private static string? Stamp(DateTime? at) => at?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

        // As the script printed: "$x" interpolation is culture-invariant, "-f" uses the current culture.
        private static string Invariant(FormattableString text) => FormattableString.Invariant(text);

        private static string Current(string format, params object?[] args) => string.Format(CultureInfo.CurrentCulture, format, args);
    }
}
