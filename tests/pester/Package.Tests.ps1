# Packaging: scripts/package makes BackupRepo/<version>/ and a .nupkg; the
# .nupkg is published to a local file repository and installed with
# PSResourceGet into a fresh, empty module path in a new pwsh that has neither
# the checkout nor cargo: Import-Module BackupRepo; Backup-Repo must work there.
#
# $env:BACKUP_REPO_PACKAGE, when set, is an existing scripts/package output
# folder (the release workflow's package) to test instead of packaging here.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $script:PkgHome = Join-Path $TestHome 'package'
    $null = New-Item -ItemType Directory -Force -Path $PkgHome
    $script:Rid = "linux-$([Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant())"
    if ($IsWindows) { $script:Rid = $Rid -replace '^linux', 'win' } elseif ($IsMacOS) { $script:Rid = $Rid -replace '^linux', 'osx' }
    $script:LibName = $IsWindows ? 'backup_repo.dll' : $IsMacOS ? 'libbackup_repo.dylib' : 'libbackup_repo.so'

    $cargo = Get-Content -Raw -LiteralPath (Join-Path $RepoRoot 'Cargo.toml')
    $script:CargoVersion = [regex]::Match($cargo, '(?ms)^\[package\].*?^version\s*=\s*"([^"]+)"').Groups[1].Value
    $script:ModuleVersion = ($CargoVersion -split '[-+]')[0]

    if ($env:BACKUP_REPO_PACKAGE) {
        $script:Out = $env:BACKUP_REPO_PACKAGE
        $script:PackageLog = "(prebuilt package $Out)"
        $script:PackageExit = 0
    } else {
        # --no-build: the suite runs after scripts/build; packaging is under test here, not compiling.
        $script:Out = Join-Path $PkgHome 'out'
        $script:PackageLog = (& bash (Join-Path $RepoRoot 'scripts/package') --no-build --out $Out 2>&1) -join "`n"
        $script:PackageExit = $LASTEXITCODE
    }
    $script:Packaged = Join-Path $Out "BackupRepo/$ModuleVersion"
    $script:Nupkg = Get-ChildItem -LiteralPath $Out -Filter 'BackupRepo.*.nupkg' -ErrorAction SilentlyContinue | Select-Object -First 1

    # A local file repository under a unique name; unregistered in AfterAll.
    Import-Module Microsoft.PowerShell.PSResourceGet
    $script:Feed = Join-Path $PkgHome 'feed'
    $null = New-Item -ItemType Directory -Force -Path $Feed
    $script:RepoName = 'BackupRepoTest-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    Register-PSResourceRepository -Name $RepoName -Uri $Feed -Trusted

    function Invoke-Isolated {
        <# A new pwsh with a fresh HOME and module path: only the given module folder
           and $PSHOME/Modules, no cargo, no target dir, no library override, and the
           working directory outside the checkout. #>
        param([string]$Command, [string]$HomeDir)
        $modules = Join-Path $HomeDir '.local/share/powershell/Modules'
        $null = New-Item -ItemType Directory -Force -Path $modules
        $sep = [IO.Path]::PathSeparator
        $path = ($env:PATH -split $sep | Where-Object { $_ -and $_ -notmatch 'cargo|rustup|[\\/]target([\\/]|$)' }) -join $sep
        $envs = @{
            HOME                = $HomeDir
            XDG_DATA_HOME       = Join-Path $HomeDir '.local/share'
            XDG_CONFIG_HOME     = Join-Path $HomeDir '.config'
            XDG_CACHE_HOME      = Join-Path $HomeDir '.cache'
            PSModulePath        = $modules + $sep + (Join-Path $PSHOME 'Modules')
            PATH                = $path
            CARGO_TARGET_DIR    = $null
            CARGO_HOME          = $null
            RUSTUP_HOME         = $null
            BACKUP_REPO_LIBRARY = $null
        }
        Invoke-Pwsh -Command $Command -WorkingDirectory $HomeDir -Environment $envs
    }
}

AfterAll {
    if ($RepoName) { Unregister-PSResourceRepository -Name $RepoName -ErrorAction SilentlyContinue }
    Remove-TestHome
}

Describe 'scripts/package' {
    It 'succeeds' {
        $PackageExit | Should -Be 0 -Because $PackageLog
    }

    It 'makes BackupRepo/VERSION/ with the manifest, assembly, help, drop-in and bin/RID/' {
        foreach ($f in 'BackupRepo.psd1', 'BackupRepo.Format.ps1xml', 'bin/BackupRepo.dll', 'en-US/BackupRepo.dll-Help.xml',
            'en-US/about_BackupRepo.help.txt', 'backup-repo.ps1', 'LICENSE', 'CHANGELOG.md', "bin/$Rid/$LibName") {
            Join-Path $Packaged $f | Should -Exist
        }
        # Nothing from the build but the assembly (no pdb, no obj).
        @(Get-ChildItem -LiteralPath (Join-Path $Packaged 'bin') -File).Name | Should -Be @('BackupRepo.dll')
        [Reflection.AssemblyName]::GetAssemblyName((Join-Path $Packaged 'bin/BackupRepo.dll')).Version.ToString(3) | Should -Be $ModuleVersion
    }

    It 'has a manifest that passes Test-ModuleManifest, with the Gallery metadata and Cargo.toml''s version' {
        $manifest = Join-Path $Packaged 'BackupRepo.psd1'
        $m = Test-ModuleManifest -Path $manifest
        $m.Version.ToString(3) | Should -Be $ModuleVersion
        $m.CompatiblePSEditions | Should -Be @('Core')
        $m.PowerShellVersion | Should -Be ([version]'7.4')
        $data = Import-PowerShellDataFile -Path $manifest
        $checkout = Import-PowerShellDataFile -Path $ModuleManifest
        $data.CmdletsToExport | Should -Be $checkout.CmdletsToExport
        $data.FormatsToProcess | Should -Be $checkout.FormatsToProcess
        foreach ($k in 'Description', 'Author', 'CompanyName', 'Copyright') { $data[$k] | Should -Not -BeNullOrEmpty -Because $k }
        $psdata = $data.PrivateData.PSData
        foreach ($t in 'Backup', 'Zip', 'Git', 'Repository', 'BLAKE3', 'Linux', 'Windows', 'MacOS', 'PSEdition_Core') { $psdata.Tags | Should -Contain $t }
        $psdata.ProjectUri | Should -Not -BeNullOrEmpty
        $psdata.LicenseUri | Should -Not -BeNullOrEmpty
        # Release notes: the CHANGELOG section of this version.
        $psdata.ReleaseNotes | Should -Match "^## $([regex]::Escape($CargoVersion))"
        $psdata.ReleaseNotes | Should -Match 'Backup-Repo'
    }

    It 'makes a .nupkg with the module and its native library' {
        $Nupkg | Should -Not -BeNullOrEmpty
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($Nupkg.FullName)
        try {
            $names = $zip.Entries.FullName
            $nuspec = [xml]([IO.StreamReader]::new(($zip.Entries | Where-Object FullName -eq 'BackupRepo.nuspec').Open()).ReadToEnd())
        } finally { $zip.Dispose() }
        $names | Should -Contain 'BackupRepo.psd1'
        $names | Should -Contain 'bin/BackupRepo.dll'
        $names | Should -Contain "bin/$Rid/$LibName"
        $nuspec.package.metadata.id | Should -Be 'BackupRepo'
        $nuspec.package.metadata.version | Should -Be $CargoVersion
        $nuspec.package.metadata.tags | Should -Match 'PSModule'
    }
}

Describe 'Installed from a local repository' {
    BeforeAll {
        if ((Get-Command Publish-PSResource).Parameters.ContainsKey('NupkgPath')) {
            Publish-PSResource -NupkgPath $Nupkg.FullName -Repository $RepoName
        } else {
            # PSResourceGet 1.0 (pwsh 7.4) cannot publish a .nupkg; a file repository is a folder of them.
            Copy-Item -LiteralPath $Nupkg.FullName -Destination $Feed
        }
        $script:Source = New-TestRepo -Parent $PkgHome -Name 'installed-src'
        $script:Dest = New-TestDestination -Name 'installed-dest'
        $script:Fresh = Join-Path $PkgHome 'fresh-home'
        $null = New-Item -ItemType Directory -Force -Path $Fresh
        $script:Modules = Join-Path $Fresh '.local/share/powershell/Modules'
        $cmd = @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'SilentlyContinue'
Register-PSResourceRepository -Name '$RepoName' -Uri '$Feed' -Trusted
if (`$IsLinux) {
    # HOME and XDG_DATA_HOME point at the fresh folder: CurrentUser is its module path.
    Install-PSResource -Name BackupRepo -Repository '$RepoName' -TrustRepository -Scope CurrentUser -Quiet
} else {
    # CurrentUser is the Documents folder on Windows: install into the fresh path instead.
    Save-PSResource -Name BackupRepo -Repository '$RepoName' -TrustRepository -Path '$Modules' -IncludeXml -Quiet
}
Import-Module BackupRepo
`$m = Get-Module BackupRepo
`$r = Backup-Repo -Path '$Source' -Destination '$Dest'
`$loader = `$m.ImplementingAssembly.GetType('BackupRepo.Native.LibraryLoader')
[pscustomobject]@{
    ModuleBase = `$m.ModuleBase
    Version    = `$m.Version.ToString()
    Library    = `$loader.GetProperty('LoadedFrom', [Reflection.BindingFlags]'NonPublic,Static').GetValue(`$null)
    Status     = "`$(`$r.Status)"
    Archives   = @(`$r.Destinations.ArchivePath)
    Cargo      = [bool](Get-Command cargo -ErrorAction SilentlyContinue)
} | ConvertTo-Json -Compress
"@
        $script:Run = Invoke-Isolated -Command $cmd -HomeDir $Fresh
        $script:Result = try { $Run.StdOut.Trim() -split "`n" | Select-Object -Last 1 | ConvertFrom-Json } catch { $null }
    }

    It 'installs, imports and backs up in a new pwsh without the checkout or cargo' {
        $Run.ExitCode | Should -Be 0 -Because "$($Run.StdOut)`n$($Run.StdErr)"
        $Result | Should -Not -BeNullOrEmpty -Because $Run.StdOut
        $Result.Cargo | Should -BeFalse
        $Result.Status | Should -Be 'Created'
        $Result.Archives.Count | Should -Be 1
        $Result.Archives[0] | Should -Exist
        $Result.Archives[0] | Should -BeLike (Join-Path $Dest '*.zip')
    }

    It 'loaded the module from the fresh module path and the library from its bin/RID/' {
        $Result.Version | Should -Be $ModuleVersion
        $Result.ModuleBase | Should -Be (Join-Path $Modules "BackupRepo/$ModuleVersion")
        $Result.Library | Should -Be (Join-Path $Modules "BackupRepo/$ModuleVersion/bin/$Rid/$LibName")
    }

    It 'installed nothing else into the fresh module path' {
        @(Get-ChildItem -LiteralPath $Modules -Directory).Name | Should -Be @('BackupRepo')
    }
}

Describe 'A package without the library for this platform' {
    It 'names the RID and what to install, not a DllNotFoundException' {
        $homeDir = Join-Path $PkgHome 'no-lib-home'
        $copy = Join-Path $homeDir ".local/share/powershell/Modules/BackupRepo/$ModuleVersion"
        $null = New-Item -ItemType Directory -Force -Path $copy
        Copy-Item -Recurse -Force -Path (Join-Path $Packaged '*') -Destination $copy
        Remove-Item -Recurse -Force -LiteralPath (Join-Path $copy "bin/$Rid")
        $cmd = @"
Import-Module BackupRepo -ErrorAction Stop
try { Backup-Repo -Path '$TestHome' -Destination '$TestHome' -WhatIf -ErrorAction Stop | Out-Null; 'NO ERROR' }
catch { "ID=`$(`$_.FullyQualifiedErrorId)"; "TYPE=`$(`$_.Exception.GetType().FullName)"; "MSG=`$(`$_.Exception.Message)" }
"@
        $r = Invoke-Isolated -Command $cmd -HomeDir $homeDir
        $r.StdOut | Should -Match 'ID=BackupRepo.LibraryNotLoaded'
        $r.StdOut | Should -Not -Match 'TYPE=System.DllNotFoundException'
        $r.StdOut | Should -Match ([regex]::Escape("for $Rid could not be loaded"))
        $r.StdOut | Should -Match ([regex]::Escape((Join-Path $copy "bin/$Rid/$LibName")))
        $r.StdOut | Should -Match ([regex]::Escape("install the BackupRepo package built for $Rid"))
    }
}
