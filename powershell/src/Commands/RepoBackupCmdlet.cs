using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// Shared by the cmdlets that work on existing backups (Get-, Remove-, Test-,
    /// Restore-, Compare-RepoBackup): path resolution, which repositories and
    /// destinations a call is about, and engine errors as ErrorRecords.
    /// </summary>
    public abstract class RepoBackupCmdlet : BackupRepoCmdlet
    {
        /// <summary>Whether <paramref name="folder"/> is a repository root, by the engine's rule (br_repository_root).</summary>
        internal static bool IsRepository(string folder) => RepositoryRoot(folder, findRoot: false) != null;

        /// <summary>
        /// The repository root <paramref name="folder"/> is (or, with <paramref name="findRoot"/>, is in),
        /// as the engine decides; null when there is none.
        /// </summary>
        internal static string? RepositoryRoot(string folder, bool findRoot)
        {
            var o = new System.Text.Json.Nodes.JsonObject { ["path"] = folder, ["find_root"] = findRoot };
            byte[] options = Lib.Options(o.ToJsonString());
            try
            {
                string json = Lib.Call((out IntPtr r) => Lib.br_repository_root(options, out r));
                using var doc = System.Text.Json.JsonDocument.Parse(json);
                return doc.RootElement.GetProperty("root").GetString();
            }
            catch (BackupRepoException)
            {
                return null;
            }
        }

        internal static string LeafName(string folder)
        {
            string name = Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
            return name.Length == 0 ? folder : name;
        }

        private protected string CurrentFolder => SessionState.Path.CurrentFileSystemLocation.ProviderPath;

        /// <summary>
        /// The repositories a call is about: -Repository, else the leaf name of
        /// -Path (a repository folder), else the current folder's when it is a
        /// repository, else null (every repository found).
        /// </summary>
        private protected List<string?> Repositories(string[]? repository, string? path)
        {
            if (repository != null && repository.Length > 0) return repository.Select(r => (string?)r).ToList();
            if (path != null) return new List<string?> { LeafName(GetUnresolvedProviderPathFromPSPath(path)) };
            string here = CurrentFolder;
            return new List<string?> { IsRepository(here) ? LeafName(here) : null };
        }

        /// <summary>Destination roots as provider paths; null: the engine's defaults (config file, then platform).</summary>
        private protected JsonArray? Destinations(string[]? destination) =>
            destination == null || destination.Length == 0
                ? null
                : new JsonArray(destination.Select(d => (JsonNode?)GetUnresolvedProviderPathFromPSPath(d)).ToArray());

        /// <summary>The history options JSON (src/history.rs HistoryOptions).</summary>
        private protected static string HistoryOptions(JsonArray? destinations, string? repo, string? metricsLogDir = null, string? source = null)
        {
            var o = new JsonObject();
            if (destinations != null) o["destinations"] = destinations.DeepClone();
            if (repo != null) o["repo"] = repo;
            if (metricsLogDir != null) o["metrics_log_dir"] = metricsLogDir;
            if (source != null) o["source"] = source;
            return o.ToJsonString();
        }

        /// <summary>Every backup of <paramref name="repo"/> (null: all) in the destinations, oldest first per repository.</summary>
        private protected static List<BackupInfo> ListBackups(JsonArray? destinations, string? repo, string? source = null)
        {
            byte[] options = Lib.Options(HistoryOptions(destinations, repo, source: source));
            return HistoryJson.Backups(Lib.Call((out IntPtr r) => Lib.br_history_list(options, out r)));
        }

        /// <summary>Archive paths for one -Path value (see ResolveFileSystemPaths).</summary>
        private protected IEnumerable<string> ResolveArchives(string input, string verb) =>
            ResolveFileSystemPaths(input, PathKind.Archive, verb);

        /// <summary>An engine failure as a non-terminating error on <paramref name="target"/>.</summary>
        private protected void WriteEngineError(BackupRepoException e, object target)
        {
            (string id, ErrorCategory category) = e.ErrorInfo();
            WriteError(new ErrorRecord(ParameterWords.Reword(e), id, category, target));
        }

        /// <summary>An engine failure that ends the command.</summary>
        private protected void ThrowEngineError(BackupRepoException e, object? target)
        {
            (string id, ErrorCategory category) = e.ErrorInfo();
            ThrowTerminatingError(new ErrorRecord(ParameterWords.Reword(e), id, category, target));
        }
    }
}

namespace BackupRepo.Commands
{
    /// <summary>
    /// The engine names its options as the C ABI spells them (keep_within); a
    /// PowerShell user typed -KeepWithin. Messages are reworded to name what
    /// the user typed; the status (and so the error id) stays the engine's.
    /// </summary>
    internal static class ParameterWords
    {
        private static readonly (string Engine, string Parameter)[] Words =
        {
            ("keep_within", "-KeepWithin"),
            ("keep_last", "-KeepLast"),
            ("keep_daily", "-KeepDaily"),
            ("keep_weekly", "-KeepWeekly"),
            ("keep_monthly", "-KeepMonthly"),
            ("(use overwrite to", "(use -Force to"),
        };

        internal static string Reword(string message)
        {
            foreach ((string engine, string parameter) in Words)
            {
                message = message.Replace(engine, parameter, StringComparison.Ordinal);
            }
            return message;
        }

        internal static BackupRepoException Reword(BackupRepoException e)
        {
            string message = Reword(e.Message);
            return message == e.Message ? e : new BackupRepoException(e.Status, message, e);
        }
    }
}
