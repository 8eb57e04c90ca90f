# The module as a whole: manifest, import in a fresh session, approved verbs,
# help, argument completion and the native library's loading errors. None of
# these need a working engine.

BeforeDiscovery {
    # -ForEach data is computed at discovery: the module must be loaded by then.
    Import-Module (Join-Path $PSScriptRoot '../../powershell/BackupRepo/BackupRepo.psd1') -Force
    $script:ExportedCommands = @(Get-Command -Module BackupRepo)
    if ($ExportedCommands.Count -eq 0) { throw 'BackupRepo exports no command' }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
}

AfterAll { Remove-TestHome }

Describe 'The BackupRepo module' {
    It 'has a valid manifest: version from Cargo.toml, PowerShell 7.4+, explicit exports' {
        $m = Test-ModuleManifest -Path $ModuleManifest
        $cargo = Get-Content -Raw (Join-Path $RepoRoot 'Cargo.toml')
        $cargoVersion = [regex]::Match($cargo, '(?m)^version\s*=\s*"([^"]+)"').Groups[1].Value
        $m.Version.ToString(3) | Should -Be $cargoVersion
        $m.PowerShellVersion | Should -Be ([version]'7.4')
        $m.CompatiblePSEditions | Should -Contain 'Core'
        $data = Import-PowerShellDataFile -Path $ModuleManifest
        $data.CmdletsToExport | Should -Not -BeNullOrEmpty
        $data.CmdletsToExport | ForEach-Object { $_ | Should -Not -Match '\*' }
        $data.FormatsToProcess | Should -Contain 'BackupRepo.Format.ps1xml'
        $data.PrivateData.PSData.Tags | Should -Not -BeNullOrEmpty
        $data.PrivateData.PSData.ProjectUri | Should -Not -BeNullOrEmpty
    }

    It 'the assembly version matches the manifest' {
        $asm = [BackupRepo.BackupResult].Assembly.GetName().Version
        $asm.ToString(3) | Should -Be (Test-ModuleManifest -Path $ModuleManifest).Version.ToString(3)
    }

    It 'imports in a fresh pwsh and exports exactly the manifest''s cmdlets' {
        $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest' -ErrorAction Stop; (Get-Command -Module BackupRepo | Sort-Object Name).Name -join ','"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdErr | Should -BeNullOrEmpty
        $expected = ((Import-PowerShellDataFile -Path $ModuleManifest).CmdletsToExport | Sort-Object) -join ','
        $r.StdOut.Trim() | Should -Be $expected
    }

    It 'imports even where no native library can be found (the error comes at first use)' {
        $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest' -ErrorAction Stop; 'imported'" -Environment @{ BACKUP_REPO_LIBRARY = '/nonexistent/libbackup_repo.so' }
        $r.ExitCode | Should -Be 0
        $r.StdOut | Should -Match 'imported'
    }

    It 'uses only approved verbs (<_.Name>)' -ForEach $ExportedCommands {
        (Get-Verb).Verb | Should -Contain $_.Verb
    }

    It 'exports at least Backup-Repo, a binary cmdlet with ShouldProcess and an OutputType' {
        $c = Get-Command Backup-Repo
        $c.CommandType | Should -Be 'Cmdlet'
        $c.Parameters.Keys | Should -Contain 'WhatIf'
        $c.Parameters.Keys | Should -Contain 'Confirm'
        $c.OutputType.Type | Should -Contain ([BackupRepo.BackupResult])
    }
}

Describe 'Help' {
    It 'Get-Help <_.Name> -Full has a synopsis, a description, parameter help and examples' -ForEach $ExportedCommands {
        $help = Get-Help $_.Name -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match '^\s*Backup-Repo\s*\['   # not the auto-generated syntax stub
        $help.description | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterOrEqual 3
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        foreach ($p in $_.Parameters.Keys | Where-Object { $_ -notin $common }) {
            $ph = $help.parameters.parameter | Where-Object name -eq $p
            $ph | Should -Not -BeNullOrEmpty -Because "parameter -$p needs help"
            ($ph.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "parameter -$p needs a description"
        }
    }

    It 'Get-Help Backup-Repo -Examples shows the pipeline example' {
        (Get-Help Backup-Repo -Examples | Out-String) | Should -Match 'Get-ChildItem ~/src -Directory \| Backup-Repo'
    }

    It 'has about_BackupRepo' {
        (Get-Help about_BackupRepo | Out-String) | Should -Match 'Expand-Archive'
    }
}

Describe 'Argument completion' {
    It 'completes -Destination from the config file' {
        $cfg = Join-Path $TestHome 'completion-config.json'
        @{ destinations = @('/backups/alpha', '/mnt/nas two/beta') } | ConvertTo-Json | Set-Content -LiteralPath $cfg
        $old = $env:BACKUP_REPO_CONFIG
        try {
            $env:BACKUP_REPO_CONFIG = $cfg
            $line = 'Backup-Repo -Destination '
            $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $r.CompletionMatches.CompletionText | Should -Contain '/backups/alpha'
            $r.CompletionMatches.CompletionText | Should -Contain "'/mnt/nas two/beta'"
            $line = 'Backup-Repo -Destination /mnt'
            $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $r.CompletionMatches.CompletionText | Should -Be @("'/mnt/nas two/beta'")
        } finally {
            $env:BACKUP_REPO_CONFIG = $old
        }
    }
}

Describe 'Native library loading' {
    BeforeAll {
        $script:LoadScript = {
            param($Manifest, $Repo)
            Import-Module $Manifest -ErrorAction Stop
            try {
                Backup-Repo -Path $Repo -Destination ([IO.Path]::GetTempPath()) -WhatIf -ErrorAction Stop | Out-Null
                'NO ERROR'
            } catch {
                "ID=$($_.FullyQualifiedErrorId)"
                "MSG=$($_.Exception.Message)"
            }
        }
        $script:Rid = "linux-$([Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant())"
        if ($IsWindows) { $script:Rid = $Rid -replace '^linux', 'win' } elseif ($IsMacOS) { $script:Rid = $Rid -replace '^linux', 'osx' }
        function Invoke-Load([hashtable]$Environment, [string]$Manifest = $ModuleManifest) {
            $cmd = "& { $LoadScript } '$Manifest' '$TestHome'"
            Invoke-Pwsh -Command $cmd -Environment $Environment
        }
    }

    It 'names the override and the RID when $env:BACKUP_REPO_LIBRARY points nowhere' {
        $r = Invoke-Load @{ BACKUP_REPO_LIBRARY = '/nonexistent/libbackup_repo.so' }
        $r.StdOut | Should -Match 'ID=BackupRepo.LibraryNotLoaded'
        $r.StdOut | Should -Match ([regex]::Escape('/nonexistent/libbackup_repo.so'))
        $r.StdOut | Should -Match $Rid
        $r.StdOut | Should -Match 'BACKUP_REPO_LIBRARY'
    }

    It 'lists every path tried and how to fix it when nothing is found' -Skip:$IsWindows {
        # A copy of the module far from any checkout, with no cargo target dir.
        $copy = Join-Path $TestHome 'installed/BackupRepo'
        $null = New-Item -ItemType Directory -Force -Path $copy
        Copy-Item -Recurse -Force -Path (Join-Path $ModuleDir '*') -Destination $copy
        Get-ChildItem -LiteralPath (Join-Path $copy 'bin') -Directory -ErrorAction SilentlyContinue | Remove-Item -Recurse -Force
        $r = Invoke-Load @{ BACKUP_REPO_LIBRARY = $null; CARGO_TARGET_DIR = $null } (Join-Path $copy 'BackupRepo.psd1')
        $r.StdOut | Should -Match 'ID=BackupRepo.LibraryNotLoaded'
        $r.StdOut | Should -Match ([regex]::Escape((Join-Path $copy "bin/$Rid/")))
        $r.StdOut | Should -Match ([regex]::Escape('target/release/'))
        $r.StdOut | Should -Match 'scripts/build'
        $r.StdOut | Should -Match "package built for $Rid"
    }

    It 'refuses a library that is not the engine' -Skip:(-not $IsLinux) {
        $other = Get-ChildItem /lib, /usr/lib -Recurse -Filter 'libz.so.1' -ErrorAction SilentlyContinue | Select-Object -First 1
        if (-not $other) { Set-ItResult -Skipped -Because 'no libz.so.1 to try'; return }
        $r = Invoke-Load @{ BACKUP_REPO_LIBRARY = $other.FullName }
        $r.StdOut | Should -Match 'ID=BackupRepo.LibraryNotLoaded'
        $r.StdOut | Should -Match 'no br_version export'
    }

    It 'refuses a library of another major version' -Skip:(-not $IsLinux -or -not (Get-Command cc -ErrorAction SilentlyContinue)) {
        $src = Join-Path $TestHome 'fake.c'
        $lib = Join-Path $TestHome 'libfake_backup_repo.so'
        Set-Content -LiteralPath $src -Value 'const char *br_version(void) { return "9.0.0"; }'
        & cc -shared -fPIC -o $lib $src
        $LASTEXITCODE | Should -Be 0
        $r = Invoke-Load @{ BACKUP_REPO_LIBRARY = $lib }
        $r.StdOut | Should -Match 'ID=BackupRepo.LibraryNotLoaded'
        $r.StdOut | Should -Match "version '9.0.0'"
        $r.StdOut | Should -Match 'needs 0\.1\.x'
    }
}
