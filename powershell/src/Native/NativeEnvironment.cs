using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace BackupRepo.Native
{
    /// <summary>
    /// On Linux and macOS, .NET keeps its own copy of the environment:
    /// <c>$env:X = ...</c> in PowerShell is invisible to native code, which reads
    /// the C runtime's <c>environ</c>. The engine reads its settings from the
    /// environment (BACKUP_REPO_CONFIG, BACKUP_REPO_DESTINATIONS, and the XDG
    /// folders through which it finds config, cache and data directories), so
    /// before each engine call the variables it reads are copied into the C
    /// environment: the engine sees what the PowerShell session sees. Windows
    /// has one environment block; nothing to do there.
    /// </summary>
    internal static class NativeEnvironment
    {
        /// <summary>Every variable with one of these prefixes is copied, and unset natively when unset in .NET.</summary>
        private static readonly string[] Prefixes = { "BACKUP_REPO_", "XDG_" };

        /// <summary>Exact names also copied.</summary>
        private static readonly string[] Names = { "HOME", "OneDrive", "TZ" };

        /// <summary>Names this class may have to unset (it set them, or they are the engine's own).</summary>
        private static readonly HashSet<string> Known = new HashSet<string>(StringComparer.Ordinal)
        {
            "BACKUP_REPO_CONFIG", "BACKUP_REPO_DESTINATIONS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
        };

        private static readonly object Gate = new object();
        private static bool _resolved;
        private static IntPtr _setenv, _unsetenv, _getenv;

        internal static void Sync()
        {
            if (OperatingSystem.IsWindows()) return;
            lock (Gate)
            {
                if (!Resolve()) return;
                var wanted = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
                {
                    string name = (string)e.Key;
                    if (Matches(name)) wanted[name] = (string?)e.Value ?? "";
                }
                foreach (KeyValuePair<string, string> kv in wanted)
                {
                    Known.Add(kv.Key);
                    if (Get(kv.Key) != kv.Value) Set(kv.Key, kv.Value);
                }
                foreach (string name in Known)
                {
                    if (!wanted.ContainsKey(name) && Get(name) != null) Unset(name);
                }
            }
        }

        private static bool Matches(string name)
        {
            foreach (string p in Prefixes) if (name.StartsWith(p, StringComparison.Ordinal)) return true;
            return Array.IndexOf(Names, name) >= 0;
        }

        private static bool Resolve()
        {
            if (_resolved) return _setenv != IntPtr.Zero;
            _resolved = true;
            // libc is already loaded into the process: look the functions up in the global scope.
            IntPtr main = NativeLibrary.GetMainProgramHandle();
            if (!NativeLibrary.TryGetExport(main, "setenv", out _setenv) ||
                !NativeLibrary.TryGetExport(main, "unsetenv", out _unsetenv) ||
                !NativeLibrary.TryGetExport(main, "getenv", out _getenv))
            {
                _setenv = IntPtr.Zero;
                return false;
            }
            return true;
        }

        private static unsafe string? Get(string name)
        {
            fixed (byte* n = Lib.Utf8(name))
            {
                IntPtr v = ((delegate* unmanaged[Cdecl]<byte*, IntPtr>)_getenv)(n);
                return v == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(v);
            }
        }

        private static unsafe void Set(string name, string value)
        {
            fixed (byte* n = Lib.Utf8(name))
            fixed (byte* v = Lib.Utf8(value))
            {
                _ = ((delegate* unmanaged[Cdecl]<byte*, byte*, int, int>)_setenv)(n, v, 1);
            }
        }

        private static unsafe void Unset(string name)
        {
            fixed (byte* n = Lib.Utf8(name))
            {
                _ = ((delegate* unmanaged[Cdecl]<byte*, int>)_unsetenv)(n);
            }
        }
    }
}
