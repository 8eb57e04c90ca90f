using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>Back up one or more repositories to every destination (Backup-Repo).</summary>
    [Cmdlet(VerbsData.Backup, "Repo", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(BackupResult))]
    public sealed class BackupRepoCommand : BackupRepoCmdlet
    {
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "PSPath")]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        [Parameter(Position = 1)]
        [ArgumentCompleter(typeof(DestinationCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Destination { get; set; }

        [Parameter] public SwitchParameter IncludeBuild { get; set; }

        [Parameter] [ValidateNotNull] public string[]? Exclude { get; set; }

        [Parameter] [ValidateNotNull] public string[]? Include { get; set; }

        [Parameter] public SwitchParameter RespectGitIgnore { get; set; }

        [Parameter] public CompressionMethod Compression { get; set; } = CompressionMethod.Deflate;

        /// <summary>Back up even when nothing changed since the last backup.</summary>
        [Parameter] public SwitchParameter Force { get; set; }

        /// <summary>After a successful run keep the newest N backups per destination.</summary>
        [Parameter] [ValidateRange(1, int.MaxValue)] public int KeepLast { get; set; }

        [Parameter] public SwitchParameter Verify { get; set; }

        [Parameter] [ValidateNotNullOrEmpty] public string? ConfigPath { get; set; }

        /// <summary>Append the run's record to this metrics log (JSON lines); default the drop-in's log for the repository.</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? MetricsLog { get; set; }

        /// <summary>Do not append the run's record to the default metrics log.</summary>
        [Parameter] public SwitchParameter NoMetricsLog { get; set; }

        /// <summary>After the run, rewrite this Prometheus textfile (node_exporter's textfile collector) from the metrics log.</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? PrometheusTextfile { get; set; }

        /// <summary>After the run, push the repository's metrics to this Pushgateway (http://host:9091 or https://).</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? PushgatewayUrl { get; set; }

        /// <summary>Announce the run to these webhooks (Slack, Teams, Discord or plain JSON); default: the config file's "webhooks".</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string[]? WebhookUrl { get; set; }

        /// <summary>The message shape; Auto picks it from each URL's host.</summary>
        [Parameter] public WebhookFormat WebhookFormat { get; set; } = WebhookFormat.Auto;

        /// <summary>Per-attempt webhook timeout; with 2 retries a run waits at most 3 x this + 1.5 s for its webhooks.</summary>
        [Parameter] [ValidateRange(1, 300)] public int WebhookTimeoutSec { get; set; } = (int)Webhooks.DefaultTimeout.TotalSeconds;

        /// <summary>Warn when a destination's disk is fuller than this (percent used; default 90, or the config file's).</summary>
        [Parameter] [ValidateRange(0.0, 100.0)] public double DiskWarningPercent { get; set; }

        private EngineConfig _config = new EngineConfig();
        /// <summary>The metrics log of the run in progress (null: none, or a dry run); -PushgatewayUrl pushes it.</summary>
        private string? _metricsLog;
        private List<string> _destinations = new List<string>();

        protected override void BeginProcessing()
        {
            string? configPath = ConfigPath != null ? GetUnresolvedProviderPathFromPSPath(ConfigPath) : null;
            if (configPath != null && !File.Exists(configPath))
            {
                ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"The config file {configPath} does not exist.", configPath),
                    "BackupRepo.ConfigNotFound", ErrorCategory.ObjectNotFound, ConfigPath));
            }
            base.BeginProcessing(); // the native library, after the arguments are known good
            try
            {
                // The engine reads and resolves the config file (relative destinations,
                // excludes, the disk warning); the module takes only the webhooks and
                // the metrics folder from it, for what it does itself.
                _config = EngineConfig.Read(configPath);
            }
            catch (BackupRepoException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "BackupRepo.InvalidConfig", ErrorCategory.InvalidData, configPath));
            }
            // -Destination is relative to the current location; the config file's are the
            // engine's to resolve (relative to the file's folder).
            foreach (string d in Destination ?? Array.Empty<string>())
            {
                _destinations.Add(GetUnresolvedProviderPathFromPSPath(d));
            }
        }

        protected override void ProcessRecord()
        {
            foreach (string input in Path ?? new[] { SessionState.Path.CurrentFileSystemLocation.ProviderPath })
            {
                if (CancelRequested) return;
                foreach (string repo in ResolveFileSystemPaths(input, PathKind.Repository, "back up"))
                {
                    if (CancelRequested) return;
                    BackupOne(repo);
                }
            }
        }


        private bool DebugOn => MyInvocation.BoundParameters.TryGetValue("Debug", out object? v)
            ? ((SwitchParameter)v).IsPresent
            : LanguagePrimitives.TryConvertTo(GetVariableValue("DebugPreference"), out ActionPreference pref) && pref != ActionPreference.SilentlyContinue && pref != ActionPreference.Ignore;

        private bool WhatIfOn => MyInvocation.BoundParameters.TryGetValue("WhatIf", out object? v)
            ? ((SwitchParameter)v).IsPresent
            : GetVariableValue("WhatIfPreference") is bool b ? b : GetVariableValue("WhatIfPreference") is SwitchParameter s && s.IsPresent;

        /// <summary>The options JSON (src/backup.rs BackupOptions); only keys that differ from the defaults.</summary>
        private string OptionsJson(string repo, bool dryRun)
        {
            // A folder inside a repository backs up the repository (the engine finds its root).
            var o = new Dictionary<string, object?> { ["source"] = repo, ["find_root"] = true };
            if (_destinations.Count > 0) o["destinations"] = _destinations.ToArray();
            if (_config.Path != null) o["config_path"] = _config.Path;
            if (IncludeBuild) o["include_build"] = true;
            // The config file's exclude and include globs are applied by the engine.
            var exclude = Exclude ?? Array.Empty<string>();
            if (exclude.Length > 0) o["exclude"] = exclude;
            var include = Include ?? Array.Empty<string>();
            if (include.Length > 0) o["include"] = include;
            if (RespectGitIgnore) o["respect_gitignore"] = true;
            if (Compression != CompressionMethod.Deflate) o["compression"] = Compression.ToString().ToLowerInvariant();
            if (dryRun) o["dry_run"] = true;
            if (Force) o["force"] = true;
            if (Verify) o["verify"] = true;
            if (KeepLast > 0) o["retention"] = new Dictionary<string, object?> { ["keep_last"] = KeepLast };
            if (MyInvocation.BoundParameters.ContainsKey(nameof(DiskWarningPercent))) o["disk_warning_percent"] = DiskWarningPercent;
            // Every real run is logged (the engine picks the default log: $env:BACKUP_REPO_METRICS_DIR,
            // the config file's metrics_log_dir, else the platform's) unless -NoMetricsLog; the
            // textfile and the push are rendered from the log, so they always get one.
            if (MetricsLog != null) o["metrics_log"] = GetUnresolvedProviderPathFromPSPath(MetricsLog);
            else if (!NoMetricsLog || PrometheusTextfile != null || PushgatewayUrl != null) o["default_metrics_log"] = true;
            // A run that fails as a whole returns no report naming its log: the push then
            // reads the one it would be (-MetricsLog, else the default folder's).
            string logName = $"backup-{System.IO.Path.GetFileName(repo.TrimEnd('/', '\\'))}.jsonl";
            _metricsLog = dryRun ? null
                : MetricsLog != null ? GetUnresolvedProviderPathFromPSPath(MetricsLog)
                : o.ContainsKey("default_metrics_log") && _config.MetricsDir is string dir ? System.IO.Path.Combine(dir, logName)
                : null;
            if (!dryRun)
            {
                if (PrometheusTextfile != null) o["prometheus_textfile"] = GetUnresolvedProviderPathFromPSPath(PrometheusTextfile);
            }
            return PlainJson.Serialize(o);
        }

        private void BackupOne(string repo)
        {
            string name = System.IO.Path.GetFileName(repo.TrimEnd(System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar));
            if (name.Length == 0) name = repo;
            string where = _destinations.Count switch
            {
                0 => "the default destinations",
                1 => "1 destination",
                int n => $"{n} destinations",
            };
            bool dryRun = WhatIfOn;
            if (!dryRun && !ShouldProcess(repo, $"Back up to {where}")) return;

            string json;
            DateTimeOffset started = DateTimeOffset.UtcNow;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                byte[] options = Lib.Options(OptionsJson(repo, dryRun));
                json = RunWithProgress($"Backup-Repo {name}", (BrProgressFn cb, out IntPtr result) => Lib.br_backup(options, cb, IntPtr.Zero, out result));
            }
            catch (BackupRepoException e) when (e.Status == BrStatus.Cancelled && (CancelRequested || Stopping))
            {
                // Ctrl+C: the engine removed its partial files. The stopping pipeline takes
                // no output, so the host is told directly.
                TellHost($"Backup of {name} cancelled; nothing was written.");
                return;
            }
            catch (BackupRepoException e)
            {
                (string id, ErrorCategory category) = e.ErrorInfo();
                WriteError(new ErrorRecord(ParameterWords.Reword(e), id, category, repo));
                if (!dryRun)
                {
                    if (Push() is string pushFailed) WriteWarning(pushFailed);
                    Notify(Webhooks.FailedReportJson(name, repo, e.Message, started, clock.Elapsed));
                }
                return;
            }
            catch (PipelineStoppedException)
            {
                throw;
            }

            BackupResult result = ReportJson.ToResult(json);
            if (result.Repository.Length == 0) result.Repository = name;
            if (result.Path.Length == 0) result.Path = repo;
            if (CancelRequested || Stopping)
            {
                // Ctrl+C came after the backups were placed (during -Verify or
                // -KeepLast): too late to undo them. The stopping pipeline takes
                // no output, so the host is told directly what stands.
                TellHostWhatStands(result);
                return;
            }
            // The engine names the log it wrote (its default one, or -MetricsLog).
            if (result.MetricsLog != null) _metricsLog = result.MetricsLog;
            if (!dryRun && Push() is string pushWarning) result.Warnings = result.Warnings.Append(pushWarning).ToArray();
            Report(result, dryRun);
            if (!dryRun) result.Webhooks = Notify(json);
            WriteObject(result);
        }

        private void TellHost(string message)
        {
            try
            {
                Host.UI.WriteWarningLine(message);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A host without a UI.
            }
        }

        private void TellHostWhatStands(BackupResult result)
        {
            string[] made = result.Destinations
                .Where(d => d.Status == DestinationStatus.Created && d.ArchivePath != null)
                .Select(d => d.ArchivePath!).ToArray();
            try
            {
                foreach (string w in RunWarnings(result)) Host.UI.WriteWarningLine(w);
                foreach (BackupDestination d in result.Destinations.Where(d => d.Warning != null))
                    Host.UI.WriteWarningLine(DestinationWarning(d));
                if (made.Length > 0)
                    Host.UI.WriteWarningLine($"Stopped after the backups of {result.Repository} were placed; they stand: {string.Join(", ", made)}");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A host without a UI: the metrics log still records the run.
            }
        }

        /// <summary>
        /// -PushgatewayUrl: push the run's metrics log (job backup_repo, grouped by repo) with the
        /// module's HttpClient. Monitoring never fails a backup: null when pushed (or nothing to
        /// push), else the warning to show, the URL redacted.
        /// </summary>
        private string? Push()
        {
            if (PushgatewayUrl == null || _metricsLog == null || CancelRequested) return null;
            try
            {
                List<string> pushed = Pushgateway.Push(PushgatewayUrl, Pushgateway.Payloads(_metricsLog, Pushgateway.DefaultJob), CancelToken);
                WriteVerbose($"Pushed the metrics of {string.Join(", ", pushed)} to the Pushgateway at {Lib.Redact(PushgatewayUrl)}");
                return null;
            }
            catch (BackupRepoException e)
            {
                return $"push to the Pushgateway failed: {e.Message}";
            }
        }

        /// <summary>-WebhookUrl, else the config file's webhooks.</summary>
        private IReadOnlyList<string> WebhookUrls() =>
            (IReadOnlyList<string>?)WebhookUrl ?? _config.Config.Webhooks ?? (IReadOnlyList<string>)Array.Empty<string>();

        /// <summary>
        /// Send the run's webhook messages. A webhook never fails the backup: problems
        /// are warnings naming the redacted URL, and the whole thing is bounded by
        /// the timeout x attempts (plus the waits between them).
        /// </summary>
        private WebhookDelivery[] Notify(string reportJson)
        {
            IReadOnlyList<string> urls = WebhookUrls();
            if (urls.Count == 0 || CancelRequested) return Array.Empty<WebhookDelivery>();
            List<Webhooks.Notification> messages;
            try
            {
                messages = Webhooks.Payloads(reportJson, urls, WebhookFormat);
            }
            catch (BackupRepoException e)
            {
                // The engine's message names a URL by position only, never by its text.
                WriteWarning($"Webhooks not sent: {e.Message}");
                return Array.Empty<WebhookDelivery>();
            }
            if (messages.Count == 0) return Array.Empty<WebhookDelivery>();
            IReadOnlyList<WebhookDelivery> sent = Webhooks.SendAll(urls, messages,
                TimeSpan.FromSeconds(WebhookTimeoutSec), Webhooks.DefaultRetries, CancelToken);
            foreach (WebhookDelivery d in sent)
            {
                if (d.Delivered)
                {
                    WriteVerbose(string.Format(CultureInfo.InvariantCulture, "Webhook {0} ({1}, {2}): HTTP {3} after {4} attempt{5}, {6:0.00} s",
                        d.DisplayUrl, d.Format, d.Event, d.StatusCode, d.Attempts, d.Attempts == 1 ? "" : "s", d.Elapsed.TotalSeconds));
                }
                else if (!CancelRequested)
                {
                    WriteWarning($"Webhook {d.DisplayUrl} ({d.Format}, {d.Event}) not delivered after {d.Attempts} attempt{(d.Attempts == 1 ? "" : "s")}: {d.Error}");
                }
            }
            return sent.ToArray();
        }

        /// <summary>
        /// The run's warnings but a destination's own (its disk-space warning is also in
        /// the run's): those are shown once, with the destination, by <see cref="DestinationWarning"/>.
        /// </summary>
        private static IEnumerable<string> RunWarnings(BackupResult r)
        {
            var perDestination = new HashSet<string>(r.Destinations.Where(d => d.Warning != null).Select(d => d.Warning!));
            return r.Warnings.Where(w => !perDestination.Contains(w));
        }

        private static string DestinationWarning(BackupDestination d) => $"{d.Name} ({d.Path}): {d.Warning}";

        private void Report(BackupResult r, bool dryRun)
        {
            // Per rule with a count; each path at -Debug (and always in the result's Excluded).
            foreach (ExclusionRule rule in r.ExcludedRules)
                WriteVerbose($"Excluded {rule.Count} path{(rule.Count == 1 ? "" : "s")} (rule: {rule.Rule})");
            if (DebugOn) foreach (ExcludedPath x in r.Excluded) WriteDebug($"Excluded {x.Path} (rule: {x.Rule})");
            foreach (SkippedPath s in r.SkippedPaths) WriteVerbose($"Skipped {s.Path}: {s.Reason}");
            foreach (ExcludedPath k in r.KeptTracked) WriteVerbose($"Kept {k.Path}: tracked by git (rule: {k.Rule})");
            foreach (string note in r.Notes) WriteVerbose(note);
            foreach (KeyValuePair<string, double> step in r.Timings.Steps().Where(s => r.Steps.Contains(s.Key)))
            {
                WriteVerbose(string.Format(CultureInfo.InvariantCulture, "Step {0}: {1:0.000} s", step.Key, step.Value));
            }
            WriteVerbose(string.Format(CultureInfo.InvariantCulture, "{0}: {1} files, {2} hashed, {3} from the stat cache, {4:0.000} s in all",
                r.Repository, r.FileCount, r.FilesHashed, r.FilesCached, r.Duration.TotalSeconds));
            WriteVerbose($"{r.Repository}: {r.LinksStored} symbolic links stored as links, {r.FoldersStored} empty folders stored");
            if (r.LinkedGitDir != null)
            {
                WriteVerbose($"{r.Repository}: .git is a file pointing to {r.LinkedGitDir} (a linked worktree): the repository's objects live in the main repository, not in this backup");
            }
            foreach (string w in RunWarnings(r)) WriteWarning(w);
            foreach (BackupDestination d in r.Destinations)
            {
                if (d.Warning != null) WriteWarning(DestinationWarning(d));
                if (d.Status == DestinationStatus.Failed)
                {
                    var e = new IOException($"Backup of {r.Repository} to {d.Name} ({d.Path}) failed: {d.Reason ?? "unknown reason"}");
                    WriteError(new ErrorRecord(e, "BackupRepo.DestinationFailed", ErrorCategory.WriteError, d));
                }
            }
            foreach (VerificationResult v in r.Verification.Where(v => !v.Ok))
            {
                WriteError(new ErrorRecord(new InvalidDataException($"Verification of {v.Archive} failed: {v.FirstError}"),
                    "BackupRepo.VerificationFailed", ErrorCategory.InvalidResult, v));
            }
            foreach (BackupDestination d in r.Destinations.Where(d => d.Status == DestinationStatus.Created && d.ArchivePath != null))
                WriteVerbose($"Wrote {d.ArchivePath}");
            if (!dryRun) foreach (PrunedBackup p in r.Pruned) WriteVerbose($"Pruned {p.Path} ({string.Join(", ", p.Reasons)})");
            foreach (RetentionResult t in r.Retention)
            {
                foreach (string err in t.Errors) WriteWarning($"Retention in {t.Destination}: {err}");
            }
            if (dryRun)
            {
                var lines = new List<string>
                {
                    string.Format(CultureInfo.InvariantCulture, "What if: back up {0} ({1}): {2:N0} files, {3}", r.Repository, r.Path, r.FileCount, Format.Size(r.SourceBytes)),
                };
                foreach (BackupDestination d in r.Destinations)
                {
                    string what = d.Status switch
                    {
                        DestinationStatus.WouldSkip => "would skip (unchanged)",
                        DestinationStatus.WouldCreate => $"would create {System.IO.Path.Combine(d.Path, r.ArchiveName)}",
                        DestinationStatus.Failed => $"would fail: {d.Reason}",
                        _ => d.Status.ToString(),
                    };
                    lines.Add($"  {d.Name} ({d.Path}): {what}");
                    foreach (PrunedBackup p in r.Pruned.Where(p => p.Destination == d.Name))
                        lines.Add($"    would prune {p.Path} ({string.Join(", ", p.Reasons)})");
                }
                string summary = string.Join(Environment.NewLine, lines);
                WriteInformation(new HostInformationMessage { Message = summary }, new[] { "PSHOST", "BackupRepo.Plan" });
            }
        }
    }
}
