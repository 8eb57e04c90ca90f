using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>The config file's content (src/config.rs Config), as the engine read it.</summary>
    internal sealed class BackupConfig
    {
        public List<string>? Destinations { get; set; }
        public List<string>? Exclude { get; set; }
        public List<string>? Include { get; set; }
        public List<string>? Webhooks { get; set; }
        public string? MetricsLogDir { get; set; }
        public double? DiskWarningPercent { get; set; }
    }

    /// <summary>A destination root with its display name.</summary>
    internal sealed class NamedDestination
    {
        public string Name { get; set; } = "";
        public string Path { get; set; } = "";
    }

    /// <summary>
    /// The config file and what depends on it (src/config.rs ConfigView), read and
    /// resolved by the engine (br_config_read): one parser, one set of rules for every
    /// layer, with the session's environment passed explicitly.
    /// </summary>
    internal sealed class EngineConfig
    {
        /// <summary>The file read (it may not exist).</summary>
        public string? Path { get; set; }
        public bool Exists { get; set; }
        public BackupConfig Config { get; set; } = new BackupConfig();
        /// <summary>What a run without -Destination uses.</summary>
        public List<NamedDestination> Destinations { get; set; } = new List<NamedDestination>();
        public string? CacheDir { get; set; }
        /// <summary>$env:BACKUP_REPO_METRICS_DIR, else the config file's metrics_log_dir, else the platform's.</summary>
        public string? MetricsDir { get; set; }

        /// <summary>Read <paramref name="configPath"/> (null: the current config file). Throws BackupRepoException naming the file, line and key.</summary>
        internal static EngineConfig Read(string? configPath)
        {
            var o = new JsonObject();
            if (configPath != null) o["config_path"] = configPath;
            byte[] options = Lib.Options(o.ToJsonString());
            string json = Lib.Call((out IntPtr r) => Lib.br_config_read(options, out r));
            // Read from the DOM by hand: the serializer's mapping costs tens of ms of JIT
            // in a fresh session, and every Backup-Repo (and the drop-in) reads this.
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement v = doc.RootElement;
            JsonElement c = v.GetProperty("config");
            return new EngineConfig
            {
                Path = Str(v, "path"),
                Exists = v.TryGetProperty("exists", out JsonElement e) && e.ValueKind == JsonValueKind.True,
                CacheDir = Str(v, "cache_dir"),
                MetricsDir = Str(v, "metrics_dir"),
                Destinations = v.GetProperty("destinations").EnumerateArray()
                    .Select(d => new NamedDestination { Name = Str(d, "name") ?? "", Path = Str(d, "path") ?? "" }).ToList(),
                Config = new BackupConfig
                {
                    Destinations = Strs(c, "destinations"),
                    Exclude = Strs(c, "exclude"),
                    Include = Strs(c, "include"),
                    Webhooks = Strs(c, "webhooks"),
                    MetricsLogDir = Str(c, "metrics_log_dir"),
                    DiskWarningPercent = c.TryGetProperty("disk_warning_percent", out JsonElement p) && p.ValueKind == JsonValueKind.Number ? p.GetDouble() : null,
                },
            };
        }

        private static string? Str(JsonElement o, string name) =>
            o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private static List<string>? Strs(JsonElement o, string name) =>
            o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Array
                ? v.EnumerateArray().Select(x => x.GetString() ?? "").ToList()
                : null;

        /// <summary>For completion: never throws.</summary>
        internal static EngineConfig? TryRead(string? configPath)
        {
            try { return Read(configPath); }
            catch (Exception) { return null; }
        }
    }

    /// <summary>Completes -Destination from the destinations a run would use (the config file's, else the defaults).</summary>
    public sealed class DestinationCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string? path = fakeBoundParameters?["ConfigPath"] as string;
            string word = (wordToComplete ?? "").Trim('\'', '"');
            foreach (NamedDestination dest in EngineConfig.TryRead(path)?.Destinations ?? new List<NamedDestination>())
            {
                if (!dest.Path.StartsWith(word, StringComparison.OrdinalIgnoreCase)) continue;
                string text = dest.Path.IndexOfAny(new[] { ' ', '\'', '$', '`', ';', '(', ')', '{', '}', ',', '&', '@', '#' }) >= 0
                    ? "'" + dest.Path.Replace("'", "''") + "'"
                    : dest.Path;
                yield return new CompletionResult(text, dest.Path, CompletionResultType.ParameterValue, $"Configured destination ({dest.Name}): {dest.Path}");
            }
            // Then folders, as PowerShell completes a path.
            foreach (CompletionResult c in DestinationPaths.Complete(wordToComplete)) yield return c;
        }
    }
}
