using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text.Json;

namespace BackupRepo
{
    /// <summary>
    /// The config file (src/config.rs Config): JSON with optional keys destinations,
    /// exclude, include, webhooks, metrics_log_dir, disk_warning_percent.
    /// </summary>
    internal sealed class BackupConfig
    {
        public List<string>? Destinations { get; set; }
        public List<string>? Exclude { get; set; }
        public List<string>? Include { get; set; }
        public List<string>? Webhooks { get; set; }
        public string? MetricsLogDir { get; set; }
        public double? DiskWarningPercent { get; set; }

        internal const string PathVariable = "BACKUP_REPO_CONFIG";

        /// <summary>$env:BACKUP_REPO_CONFIG, else the engine's default (dirs::config_dir()/backup-repo/config.json).</summary>
        internal static string? DefaultPath()
        {
            string? env = Environment.GetEnvironmentVariable(PathVariable);
            if (!string.IsNullOrEmpty(env)) return env;
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            string? dir;
            if (OperatingSystem.IsWindows())
            {
                dir = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
            }
            else if (OperatingSystem.IsMacOS())
            {
                dir = System.IO.Path.Combine(home, "Library", "Application Support");
            }
            else
            {
                string? xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
                dir = !string.IsNullOrEmpty(xdg) && System.IO.Path.IsPathRooted(xdg) ? xdg : System.IO.Path.Combine(home, ".config");
            }
            return string.IsNullOrEmpty(dir) ? null : System.IO.Path.Combine(dir, "backup-repo", "config.json");
        }

        /// <summary>A missing file is the empty config; a malformed one throws, naming the file.</summary>
        internal static BackupConfig Load(string? path)
        {
            if (string.IsNullOrEmpty(path) || !File.Exists(path)) return new BackupConfig();
            try
            {
                var options = new JsonSerializerOptions(ReportJson.Options)
                {
                    UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
                    ReadCommentHandling = JsonCommentHandling.Skip,
                    AllowTrailingCommas = true,
                };
                return JsonSerializer.Deserialize<BackupConfig>(File.ReadAllText(path), options) ?? new BackupConfig();
            }
            catch (JsonException e)
            {
                throw new BackupRepoException(Native.BrStatus.InvalidJson, $"The config file {path} is not valid: {e.Message}", e);
            }
        }

        /// <summary>For completion: never throws.</summary>
        internal static BackupConfig TryLoad(string? path)
        {
            try { return Load(path); }
            catch (Exception) { return new BackupConfig(); }
        }
    }

    /// <summary>Completes -Destination from the config file's destinations.</summary>
    public sealed class DestinationCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string? path = fakeBoundParameters?["ConfigPath"] as string ?? BackupConfig.DefaultPath();
            string word = (wordToComplete ?? "").Trim('\'', '"');
            foreach (string dest in BackupConfig.TryLoad(path).Destinations ?? new List<string>())
            {
                if (!dest.StartsWith(word, StringComparison.OrdinalIgnoreCase)) continue;
                string text = dest.IndexOfAny(new[] { ' ', '\'', '$', '`', ';', '(', ')', '{', '}', ',', '&', '@', '#' }) >= 0
                    ? "'" + dest.Replace("'", "''") + "'"
                    : dest;
                yield return new CompletionResult(text, dest, CompletionResultType.ParameterValue, "Configured destination: " + dest);
            }
            // Then folders, as PowerShell completes a path.
            foreach (CompletionResult c in DestinationPaths.Complete(wordToComplete)) yield return c;
        }
    }
}
