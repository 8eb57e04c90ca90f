using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;

namespace BackupRepo.Native
{
    /// <summary>
    /// Registers the DllImport resolver when the module is imported. The library
    /// itself is loaded on first use, once per process, so that importing the
    /// module, Get-Help and Get-Command work even where no library is installed;
    /// the first cmdlet that needs it gets a clear error naming every path tried.
    /// </summary>
    public sealed class OnModuleImport : IModuleAssemblyInitializer
    {
        public void OnImport() => LibraryLoader.Register();
    }

    internal static class LibraryLoader
    {
        /// <summary>Full path of the library to load, overriding every other place.</summary>
        internal const string OverrideVariable = "BACKUP_REPO_LIBRARY";

        private static readonly object Gate = new object();
        private static bool _registered;
        private static IntPtr _handle;
        private static string? _loadedFrom;
        private static BackupRepoLibraryException? _failure;

        internal static string? LoadedFrom => _loadedFrom;

        internal static void Register()
        {
            lock (Gate)
            {
                if (_registered) return;
                _registered = true;
                try
                {
                    NativeLibrary.SetDllImportResolver(typeof(LibraryLoader).Assembly, Resolve);
                }
                catch (InvalidOperationException)
                {
                    // Already set for this assembly (the module was removed and imported again
                    // in the same process): the first registration stays in effect.
                }
            }
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (name != Lib.Name) return IntPtr.Zero;
            // Never throw from a resolver: a missing library surfaces from EnsureLoaded.
            try { return EnsureLoaded(); }
            catch (BackupRepoLibraryException) { return IntPtr.Zero; }
        }

        /// <summary>The runtime identifier the packaged library lives under: win-x64, linux-arm64, ...</summary>
        internal static string Rid
        {
            get
            {
                string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : OperatingSystem.IsLinux() ? "linux" : "unknown";
                string arch = RuntimeInformation.ProcessArchitecture switch
                {
                    Architecture.X64 => "x64",
                    Architecture.Arm64 => "arm64",
                    Architecture.X86 => "x86",
                    Architecture.Arm => "arm",
                    var other => other.ToString().ToLowerInvariant(),
                };
                return os + "-" + arch;
            }
        }

        internal static string FileName =>
            OperatingSystem.IsWindows() ? "backup_repo.dll" : OperatingSystem.IsMacOS() ? "libbackup_repo.dylib" : "libbackup_repo.so";

        /// <summary>The module folder: the assembly lives in &lt;module&gt;/bin/.</summary>
        internal static string ModuleFolder
        {
            get
            {
                string asmDir = Path.GetDirectoryName(typeof(LibraryLoader).Assembly.Location) ?? ".";
                return string.Equals(Path.GetFileName(asmDir), "bin", StringComparison.OrdinalIgnoreCase)
                    ? Path.GetDirectoryName(asmDir) ?? asmDir
                    : asmDir;
            }
        }

        /// <summary>Where the library is looked for, in order (the override alone when it is set).</summary>
        internal static List<string> Candidates()
        {
            var list = new List<string>();
            string? over = Environment.GetEnvironmentVariable(OverrideVariable);
            if (!string.IsNullOrEmpty(over))
            {
                list.Add(Path.GetFullPath(over));
                return list;
            }
            string module = ModuleFolder;
            list.Add(Path.Combine(module, "bin", Rid, FileName));
            // A checkout: <repo>/target/release next to powershell/BackupRepo, or any parent.
            for (DirectoryInfo? d = new DirectoryInfo(module); d != null; d = d.Parent)
            {
                list.Add(Path.Combine(d.FullName, "target", "release", FileName));
            }
            string? cargoTarget = Environment.GetEnvironmentVariable("CARGO_TARGET_DIR");
            if (!string.IsNullOrEmpty(cargoTarget))
            {
                list.Add(Path.Combine(Path.GetFullPath(cargoTarget), "release", FileName));
            }
            return list;
        }

        /// <summary>Load the library once per process and check its version; throws a clear error otherwise.</summary>
        internal static IntPtr EnsureLoaded()
        {
            lock (Gate)
            {
                if (_handle != IntPtr.Zero) return _handle;
                if (_failure != null) throw _failure;

                var tried = new List<string>();
                foreach (string path in Candidates())
                {
                    if (!File.Exists(path))
                    {
                        tried.Add(path + " (not found)");
                        continue;
                    }
                    try
                    {
                        IntPtr h = NativeLibrary.Load(path);
                        CheckVersion(h, path);
                        _handle = h;
                        _loadedFrom = path;
                        return h;
                    }
                    catch (BackupRepoLibraryException e)
                    {
                        _failure = e;
                        throw;
                    }
                    catch (Exception e) when (e is DllNotFoundException || e is BadImageFormatException || e is EntryPointNotFoundException)
                    {
                        tried.Add(path + " (" + e.Message.Trim() + ")");
                    }
                }
                // Not cached: building the library and retrying in the same session works.
                bool overridden = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(OverrideVariable));
                string msg =
                    $"The BackupRepo native library ({FileName}) for {Rid} could not be loaded. Paths tried:{Environment.NewLine}  " +
                    string.Join(Environment.NewLine + "  ", tried) + Environment.NewLine +
                    (overridden
                        ? $"Fix ${OverrideVariable}: it must be the full path of the library for {Rid}, or unset it."
                        : $"To fix: in a checkout, run scripts/build (cargo build --release) so target/release/{FileName} exists; " +
                          $"otherwise install the BackupRepo package built for {Rid} (it ships bin/{Rid}/{FileName}), " +
                          $"or set ${OverrideVariable} to the library's full path.");
                throw new BackupRepoLibraryException(msg);
            }
        }

        private static void CheckVersion(IntPtr handle, string path)
        {
            if (!NativeLibrary.TryGetExport(handle, "br_version", out IntPtr fn))
            {
                throw new BackupRepoLibraryException($"{path} is not the BackupRepo engine: it has no br_version export. Rebuild it with scripts/build.");
            }
            string version;
            unsafe
            {
                version = Lib.StaticString(((delegate* unmanaged[Cdecl]<IntPtr>)fn)());
            }
            Version mine = typeof(LibraryLoader).Assembly.GetName().Version ?? new Version(0, 0);
            if (!TryParse(version, out int major, out int minor) || !Compatible(mine, major, minor))
            {
                throw new BackupRepoLibraryException(
                    $"The BackupRepo native library at {path} is version '{version}', but this module ({mine.ToString(3)}) needs " +
                    (mine.Major == 0 ? $"{mine.Major}.{mine.Minor}.x" : $"{mine.Major}.x") +
                    $". Rebuild the library from the same checkout (scripts/build) or install matching versions of the module and library.");
            }
        }

        /// <summary>Same major; while the major is 0, the minor is the compatibility line (semver).</summary>
        internal static bool Compatible(Version mine, int major, int minor) =>
            major == mine.Major && (mine.Major != 0 || minor == mine.Minor);

        private static bool TryParse(string version, out int major, out int minor)
        {
            major = minor = -1;
            string[] parts = version.Trim().Split('.', '-', '+');
            return parts.Length >= 2 && int.TryParse(parts[0], out major) && int.TryParse(parts[1], out minor);
        }
    }
}
