using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>
    /// Completes -Repository with the repository folders found in the
    /// destinations (-Destination when typed, else the engine's defaults): a
    /// folder listing per destination, no archive is opened. Never throws.
    /// </summary>
    public sealed class RepositoryCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string word = (wordToComplete ?? "").Trim('\'', '"');
            var names = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (string root in Roots(fakeBoundParameters))
            {
                try
                {
                    foreach (string dir in Directory.EnumerateDirectories(root))
                    {
                        string name = Path.GetFileName(dir);
                        if (name.StartsWith(word, StringComparison.OrdinalIgnoreCase) &&
                            Directory.EnumerateFiles(dir, name + "_backup_*.zip").Any())
                        {
                            names.Add(name);
                        }
                    }
                }
                catch (Exception)
                {
                    // An unreadable destination offers nothing.
                }
            }
            foreach (string name in names)
            {
                string text = name.IndexOfAny(new[] { ' ', '\'', '$', '`', ';', '(', ')', '{', '}', ',', '&', '@', '#' }) >= 0
                    ? "'" + name.Replace("'", "''") + "'"
                    : name;
                yield return new CompletionResult(text, name, CompletionResultType.ParameterValue, "Repository " + name);
            }
        }

        private static IEnumerable<string> Roots(IDictionary? fakeBoundParameters)
        {
            object? given = fakeBoundParameters?["Destination"];
            if (given is string s) return new[] { s };
            if (given is IEnumerable e) return e.Cast<object>().Select(x => x?.ToString() ?? "").Where(x => x.Length > 0).ToList();
            try
            {
                LibraryLoader.EnsureLoaded();
                return HistoryJson.Destinations(Lib.Call((out IntPtr r) => Lib.br_default_destinations(out r))).Select(d => d.Path).ToList();
            }
            catch (Exception)
            {
                return Array.Empty<string>();
            }
        }
    }
}

namespace BackupRepo
{
    /// <summary>Folder completion for -Destination after the configured destinations.</summary>
    internal static class DestinationPaths
    {
        internal static IEnumerable<CompletionResult> Complete(string? wordToComplete)
        {
            IEnumerable<CompletionResult> results;
            try
            {
                results = CompletionCompleters.CompleteFilename(wordToComplete ?? "")
                    .Where(c => c.ResultType == CompletionResultType.ProviderContainer)
                    .ToList();
            }
            catch (Exception)
            {
                // Completion never throws.
                results = Array.Empty<CompletionResult>();
            }
            return results;
        }
    }
}
