using System;
using System.Collections.Specialized;
using System.IO;
using System.Linq;

namespace BackupRepo
{
    /// <summary>
    /// The drop-in script's (backup-repo.ps1) summary of a backup: the original
    /// script's keys and statuses, as an ordered dictionary for PlainJson or the
    /// text output. Built here rather than in the script because every distinct
    /// .NET call and script block in a script is compiled on its first run, and
    /// in a fresh pwsh that was ~50 ms of an unchanged run's ~0.3 s.
    /// </summary>
    public static class DropInSummary
    {
        internal const double MiB = 1024 * 1024;

        /// <summary>
        /// The original's status: planned (-WhatIf); success when an archive was
        /// created; skipped when every destination was unchanged; failed when
        /// nothing was placed anywhere; else partial.
        /// </summary>
        public static string Status(BackupResult result, bool dryRun)
        {
            int created = Count(result, DestinationStatus.Created);
            int skipped = Count(result, DestinationStatus.Skipped);
            if (dryRun) return "planned";
            if (created > 0) return "success";
            if (skipped > 0 && skipped == result.Destinations.Length) return "skipped";
            if (created + skipped == 0) return "failed";
            return "partial";
        }

        /// <summary>The summary object (schema/backup-result.schema.json, schema_version 1).</summary>
        public static OrderedDictionary Of(BackupResult result, bool dryRun, bool verify)
        {
            var summary = new OrderedDictionary
            {
                ["repo"] = result.Repository,
                // The schema's and the original's format: the archive name's stamp, local time.
                ["timestamp"] = result.Timestamp.ToString("yyyy-MM-dd_HH-mm-ss", System.Globalization.CultureInfo.InvariantCulture),
                ["status"] = Status(result, dryRun),
                ["created"] = Names(result, DestinationStatus.Created),
                ["skipped"] = Names(result, DestinationStatus.Skipped),
                ["size_mb"] = MegaBytes(SizeBytes(result)),
                ["duration_seconds"] = Math.Round(result.Duration.TotalSeconds, 2),
                ["file_count"] = result.FileCount,
                ["locations"] = result.Destinations.Select(d => (object)new OrderedDictionary
                {
                    ["name"] = d.Name,
                    ["path"] = string.IsNullOrEmpty(d.ArchivePath) ? d.Path : d.ArchivePath,
                    ["created"] = d.Status == DestinationStatus.Created,
                    // The engine's words (would_create, would_skip), as the schema lists them.
                    ["status"] = d.Status switch
                    {
                        DestinationStatus.WouldCreate => "would_create",
                        DestinationStatus.WouldSkip => "would_skip",
                        _ => d.Status.ToString().ToLowerInvariant(),
                    },
                    ["reason"] = d.Reason,
                }).ToArray(),
                ["original_size_mb"] = MegaBytes(result.SourceBytes),
                // Bumped only on an incompatible change.
                ["schema_version"] = 1,
                ["fingerprint"] = result.Fingerprint,
                ["archive_name"] = result.ArchiveName,
                ["pruned"] = result.Pruned.Select(p => (object)p.Path).ToArray(),
            };
            if (verify)
            {
                summary["verification"] = result.Verification.Select(v => (object)new OrderedDictionary
                {
                    ["archive"] = v.Archive,
                    ["ok"] = v.Ok,
                    ["entries_checked"] = v.EntriesChecked,
                    ["first_error"] = v.FirstError,
                }).ToArray();
            }
            if (dryRun)
            {
                summary["would_create"] = Names(result, DestinationStatus.WouldCreate);
                summary["would_skip"] = Names(result, DestinationStatus.WouldSkip);
            }
            return summary;
        }

        /// <summary>The archive a restore hint names: a created one first, else an unchanged one.</summary>
        public static string? RestoreArchive(BackupResult result) =>
            result.Destinations.Where(d => d.Status == DestinationStatus.Created)
                .Concat(result.Destinations.Where(d => d.Status == DestinationStatus.Skipped))
                .Select(d => d.ArchivePath)
                .FirstOrDefault(p => !string.IsNullOrEmpty(p));

        /// <summary>
        /// The archive's size; for an unchanged run (nothing written) the size of
        /// the backup that already holds this content, as the original reported.
        /// </summary>
        private static double SizeBytes(BackupResult result)
        {
            if (result.ArchiveBytes > 0) return result.ArchiveBytes;
            string? existing = result.Destinations
                .Where(d => d.Status == DestinationStatus.Skipped && !string.IsNullOrEmpty(d.ArchivePath))
                .Select(d => d.ArchivePath)
                .FirstOrDefault(File.Exists);
            return existing == null ? 0 : new FileInfo(existing).Length;
        }

        /// <summary>Bytes as the original's MB figures: MiB, two decimals.</summary>
        internal static double MegaBytes(double bytes) => Math.Round(bytes / MiB, 2);

        private static int Count(BackupResult result, DestinationStatus status) =>
            result.Destinations.Count(d => d.Status == status);

        private static object[] Names(BackupResult result, DestinationStatus status) =>
            result.Destinations.Where(d => d.Status == status).Select(d => (object)d.Name).ToArray();
    }
}
