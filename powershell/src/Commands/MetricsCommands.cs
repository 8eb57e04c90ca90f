using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Text.Json;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>Where the metrics logs (backup-&lt;repo&gt;.jsonl) live.</summary>
    internal static class MetricsPaths
    {
        /// <summary>
        /// The engine's metrics folder (br_config_read): $env:BACKUP_REPO_METRICS_DIR, else
        /// the config file's metrics_log_dir, else %APPDATA%\backup-metrics on Windows,
        /// $XDG_DATA_HOME/backup-repo/metrics elsewhere. Null when none can be found.
        /// </summary>
        internal static string? DefaultDirectory()
        {
            try
            {
                return EngineConfig.Read(null).MetricsDir;
            }
            catch (Exception)
            {
                // No engine (it failed to load) or a malformed config file: the caller
                // goes on without a metrics log, and the engine call it makes next says why.
                return null;
            }
        }
    }

    /// <summary>A running /metrics endpoint (Start-RepoBackupExporter).</summary>
    public sealed class Exporter : IDisposable
    {
        private readonly ExporterHandle _handle;

        internal Exporter(ExporterHandle handle, string url, string logDirectory)
        {
            _handle = handle;
            Url = url;
            LogDirectory = logDirectory;
            Uri u = new Uri(url);
            Address = u.IsDefaultPort ? u.Host : $"{u.Host}:{u.Port}";
            Port = u.Port;
            StartTime = DateTime.Now;
        }

        /// <summary>http://address:port/metrics: what Prometheus scrapes.</summary>
        public string Url { get; }
        public string Address { get; }
        public int Port { get; }
        public string LogDirectory { get; }
        public DateTime StartTime { get; }
        public bool Running => !_handle.IsClosed;

        /// <summary>Stop serving and release the port (also what Stop-RepoBackupExporter does).</summary>
        public void Stop()
        {
            _handle.Dispose();
            ExporterRegistry.Forget(this);
        }

        public void Dispose() => Stop();

        public override string ToString() => Url;
    }

    /// <summary>Exporters still running when the module is removed are stopped then.</summary>
    public sealed class ExporterRegistry : IModuleAssemblyCleanup
    {
        private static readonly object Gate = new object();
        private static readonly List<Exporter> Running = new List<Exporter>();

        internal static void Add(Exporter e)
        {
            lock (Gate) Running.Add(e);
        }

        internal static void Forget(Exporter e)
        {
            lock (Gate) Running.Remove(e);
        }

        public void OnRemove(PSModuleInfo psModuleInfo)
        {
            Exporter[] all;
            lock (Gate) all = Running.ToArray();
            foreach (Exporter e in all) e.Stop();
        }
    }
}

namespace BackupRepo.Commands
{
    /// <summary>Base of the metrics cmdlets: -MetricsLogDirectory, defaulting to the module's metrics folder.</summary>
    public abstract class MetricsCmdlet : BackupRepoCmdlet
    {
        /// <summary>The folder of backup-&lt;repo&gt;.jsonl metrics logs; default: the one Backup-Repo and the drop-in write.</summary>
        [Parameter]
        [Alias("LogDirectory")]
        [ValidateNotNullOrEmpty]
        public string? MetricsLogDirectory { get; set; }

        private protected string ResolveLogDirectory()
        {
            if (MetricsLogDirectory != null) return GetUnresolvedProviderPathFromPSPath(MetricsLogDirectory);
            string? dir = MetricsPaths.DefaultDirectory();
            if (dir == null)
            {
                ThrowTerminatingError(new ErrorRecord(new PSArgumentException("This platform has no default metrics folder: give -MetricsLogDirectory."),
                    "BackupRepo.NoMetricsDirectory", ErrorCategory.InvalidArgument, null));
            }
            return dir!;
        }
    }

    /// <summary>Serve the metrics logs as Prometheus text on http://address/metrics (Start-RepoBackupExporter).</summary>
    [Cmdlet(VerbsLifecycle.Start, "RepoBackupExporter")]
    [OutputType(typeof(Exporter))]
    public sealed class StartRepoBackupExporterCommand : MetricsCmdlet
    {
        public const string DefaultAddress = "127.0.0.1:9184";

        /// <summary>host:port to listen on; port 0 picks a free one. Default 127.0.0.1:9184 (loopback only).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Address { get; set; } = DefaultAddress;

        protected override void EndProcessing()
        {
            string dir = ResolveLogDirectory();
            BrStatus status = Lib.br_exporter_start(Lib.Utf8(Address), Lib.Utf8(dir), out ExporterHandle handle);
            try
            {
                Lib.CheckStatus(status);
                string url = Lib.Check(Lib.br_exporter_url(handle, out IntPtr u), u);
                var exporter = new Exporter(handle, url, dir);
                ExporterRegistry.Add(exporter);
                WriteVerbose($"Serving the metrics of {dir} at {url}");
                WriteObject(exporter);
            }
            catch (BackupRepoException e)
            {
                handle.Dispose();
                ThrowTerminatingError(new ErrorRecord(e, "BackupRepo.ExporterNotStarted", ErrorCategory.ResourceUnavailable, Address));
            }
        }
    }

    /// <summary>Stop an exporter and release its port (Stop-RepoBackupExporter).</summary>
    [Cmdlet(VerbsLifecycle.Stop, "RepoBackupExporter", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(void))]
    public sealed class StopRepoBackupExporterCommand : PSCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public Exporter[]? Exporter { get; set; }

        protected override void ProcessRecord()
        {
            foreach (Exporter e in Exporter!)
            {
                if (!e.Running) continue;
                if (ShouldProcess(e.Url, "Stop the metrics exporter")) e.Stop();
            }
        }
    }

    /// <summary>
    /// The metrics logs as Prometheus text: written to a textfile for
    /// node_exporter (-Path), pushed to a Pushgateway (-PushgatewayUrl), or
    /// returned as a string (neither).
    /// </summary>
    [Cmdlet(VerbsData.Export, "RepoBackupMetrics", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = "Text")]
    [OutputType(typeof(string), ParameterSetName = new[] { "Text" })]
    [OutputType(typeof(FileInfo), ParameterSetName = new[] { "Textfile" })]
    public sealed class ExportRepoBackupMetricsCommand : MetricsCmdlet
    {
        /// <summary>The .prom file to (re)write atomically, e.g. /var/lib/node_exporter/textfile_collector/backup_repo.prom.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Textfile")]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>Push every repository's metrics (one group per repo) to this Pushgateway (http:// or https://).</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Push")]
        [ValidateNotNullOrEmpty]
        public string? PushgatewayUrl { get; set; }

        /// <summary>The Pushgateway job; default backup_repo (the job Backup-Repo -PushgatewayUrl uses).</summary>
        [Parameter(ParameterSetName = "Push")]
        [ValidateNotNullOrEmpty]
        public string Job { get; set; } = "backup_repo";

        protected override void EndProcessing()
        {
            string dir = ResolveLogDirectory();
            try
            {
                switch (ParameterSetName)
                {
                    case "Textfile":
                        string path = GetUnresolvedProviderPathFromPSPath(Path!);
                        if (!ShouldProcess(path, $"Write the Prometheus textfile of {dir}")) return;
                        Lib.CheckStatus(Lib.br_metrics_write_textfile(Lib.Utf8(dir), Lib.Utf8(path)));
                        WriteObject(new FileInfo(path));
                        break;
                    case "Push":
                        if (!ShouldProcess("the Pushgateway", $"Push the metrics of {dir} as job {Job}")) return;
                        List<string> pushed = Pushgateway.Push(PushgatewayUrl!, Pushgateway.Payloads(dir, Job), CancelToken);
                        WriteVerbose($"Pushed the metrics of {dir} as job {Job} to {Lib.Redact(PushgatewayUrl!)}: {string.Join(", ", pushed)}");
                        break;
                    default:
                        WriteObject(Lib.Check(Lib.br_metrics_render(Lib.Utf8(dir), out IntPtr text), text));
                        break;
                }
            }
            catch (BackupRepoException e)
            {
                (string id, ErrorCategory category) = e.ErrorInfo();
                ThrowTerminatingError(new ErrorRecord(e, id, category, dir));
            }
        }
    }
}
