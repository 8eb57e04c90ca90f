using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// List the backups BackupRepo made (Get-RepoBackup), or per destination
    /// statistics (-Summary). Only names, central directories and manifests are
    /// read; files that are not our backups are never listed.
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "RepoBackup", DefaultParameterSetName = ListSet)]
    [OutputType(typeof(BackupInfo), ParameterSetName = new[] { ListSet })]
    [OutputType(typeof(BackupSummary), ParameterSetName = new[] { SummarySet })]
    public sealed class GetRepoBackupCommand : RepoBackupCmdlet
    {
        private const string ListSet = "List";
        private const string SummarySet = "Summary";

        /// <summary>Repository names (the folder names backups are filed under).</summary>
        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(RepositoryCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Repository { get; set; }

        [Parameter(Position = 1)]
        [ArgumentCompleter(typeof(DestinationCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Destination { get; set; }

        /// <summary>A repository folder: its name is the repository.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>Only the backups of this repository folder as this machine backs it up (and those made before 0.2, which name no source).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Source { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = SummarySet)]
        public SwitchParameter Summary { get; set; }

        /// <summary>Where the metrics logs are (duplicate statistics); default the config file's, else the platform's.</summary>
        [Parameter(ParameterSetName = SummarySet)]
        [ValidateNotNullOrEmpty]
        public string? MetricsLogDirectory { get; set; }

        protected override void EndProcessing()
        {
            JsonArray? destinations = Destinations(Destination);
            string? metrics = MetricsLogDirectory != null ? GetUnresolvedProviderPathFromPSPath(MetricsLogDirectory) : null;
            string? source = Source != null ? GetUnresolvedProviderPathFromPSPath(Source) : null;
            foreach (string? repo in Repositories(Repository, Path))
            {
                if (CancelRequested) return;
                WriteVerbose(repo == null ? "Listing the backups of every repository" : $"Listing the backups of {repo}");
                try
                {
                    if (Summary)
                    {
                        byte[] options = Lib.Options(HistoryOptions(destinations, repo, metrics, source));
                        foreach (BackupSummary s in HistoryJson.Summaries(Lib.Call((out IntPtr r) => Lib.br_history_summary(options, out r))))
                        {
                            WriteObject(s);
                        }
                    }
                    else
                    {
                        foreach (BackupInfo b in ListBackups(destinations, repo, source)) WriteObject(b);
                    }
                }
                catch (BackupRepoException e)
                {
                    WriteEngineError(e, (object?)repo ?? "all repositories");
                }
            }
        }
    }
}
