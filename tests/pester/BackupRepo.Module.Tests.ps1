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
            # The configured destination first, then folders as PowerShell completes a path.
            $r.CompletionMatches.CompletionText[0] | Should -Be "'/mnt/nas two/beta'"
        } finally {
            $env:BACKUP_REPO_CONFIG = $old
        }
    }
}

Describe 'The engine report and JSON plumbing' {
    BeforeAll {
        $script:ReportJson = [BackupRepo.BackupResult].Assembly.GetType('BackupRepo.ReportJson')
        function ConvertTo-Result([string]$Json) {
            try {
                $ReportJson.GetMethod('ToResult', [Reflection.BindingFlags]'NonPublic,Static').Invoke($null, [object[]]@($Json))
            } catch [Reflection.TargetInvocationException] {
                throw $_.Exception.InnerException
            }
        }
    }

    It 'maps every key of the engine''s BackupReport onto BackupResult' {
        $json = @{
            tool_version = '9.8.7'; repo = 'demo'; source = '/src/demo'; status = 'partial'
            timestamp = '2026-01-02_03-04-05'; started_utc = '2026-01-02T03:04:05Z'; archive_name = 'demo_backup_2026-01-02_03-04-05.zip'
            fingerprint = 'ab' * 32; file_count = 12; source_bytes = 4000; archive_bytes = 1000; duration_seconds = 1.5
            timings = @{ select_seconds = 0.1; hash_seconds = 0.2; compress_seconds = 0.3; place_seconds = 0.4; verify_seconds = 0.25; prune_seconds = 0.05 }
            files_hashed = 3; files_cached = 9; entries_reused = 8
            destinations = @(
                @{ name = 'a'; root = '/a'; path = '/a/demo'; status = 'created'; reason = $null; archive_path = '/a/demo/x.zip'; free_bytes = [ulong]::MaxValue; total_bytes = 5; warning = 'nearly full'; backups = 3 }
                @{ name = 'b'; root = '/b'; path = '/b/demo'; status = 'would_skip'; reason = 'unchanged' }
            )
            excluded = @(@{ path = 'node_modules'; rule = 'node_modules' })
            skipped_paths = @(@{ path = 'link'; reason = 'symlink' })
            verification = @(@{ archive = '/a/demo/x.zip'; ok = $false; entries_checked = 7; first_error = 'crc'; errors = @('crc', 'size') })
            retention = @(@{ destination = 'a'; decisions = @(@{ id = 'x'; keep = $true }, @{ id = 'y'; keep = $false }); deleted = @('y.zip'); errors = @() })
            warnings = @('w1')
        } | ConvertTo-Json -Depth 6
        $r = ConvertTo-Result $json
        $r.ToolVersion | Should -Be '9.8.7'
        $r.Repository | Should -Be 'demo'
        $r.Path | Should -Be '/src/demo'
        $r.Status | Should -Be ([BackupRepo.BackupStatus]::Partial)
        $r.Timestamp | Should -Be ([datetime]'2026-01-02T03:04:05')
        $r.StartedUtc | Should -Be ([datetimeoffset]'2026-01-02T03:04:05Z')
        $r.ArchiveName | Should -Be 'demo_backup_2026-01-02_03-04-05.zip'
        $r.Fingerprint | Should -Be ('ab' * 32)
        $r.FileCount | Should -Be 12
        $r.SourceBytes | Should -Be 4000
        $r.ArchiveBytes | Should -Be 1000
        $r.CompressionRatio | Should -Be 0.25
        $r.Duration.TotalSeconds | Should -Be 1.5
        $r.Timings.SelectSeconds, $r.Timings.HashSeconds, $r.Timings.CompressSeconds, $r.Timings.PlaceSeconds, $r.Timings.VerifySeconds, $r.Timings.PruneSeconds |
            Should -Be @(0.1, 0.2, 0.3, 0.4, 0.25, 0.05)
        $r.FilesHashed, $r.FilesCached, $r.EntriesReused | Should -Be @(3, 9, 8)
        $r.Destinations.Count | Should -Be 2
        $a, $b = $r.Destinations
        $a.Name, $a.Root, $a.Path, $a.ArchivePath, $a.Warning | Should -Be @('a', '/a', '/a/demo', '/a/demo/x.zip', 'nearly full')
        $a.Status | Should -Be ([BackupRepo.DestinationStatus]::Created)
        $a.Reason | Should -BeNullOrEmpty
        $a.FreeBytes | Should -Be ([ulong]::MaxValue)
        $a.TotalBytes | Should -Be 5
        $b.Status | Should -Be ([BackupRepo.DestinationStatus]::WouldSkip)
        $b.Reason | Should -Be 'unchanged'
        $b.FreeBytes | Should -BeNullOrEmpty
        $r.Excluded[0].Path, $r.Excluded[0].Rule | Should -Be @('node_modules', 'node_modules')
        $r.SkippedPaths[0].Path, $r.SkippedPaths[0].Reason | Should -Be @('link', 'symlink')
        $v = $r.Verification[0]
        $v.Archive, $v.Ok, $v.EntriesChecked, $v.FirstError | Should -Be @('/a/demo/x.zip', $false, 7, 'crc')
        $v.Errors | Should -Be @('crc', 'size')
        $r.Retention[0].Destination | Should -Be 'a'
        $r.Retention[0].Kept | Should -Be @('x')
        $r.Retention[0].Deleted | Should -Be @('y.zip')
        $r.Warnings | Should -Be @('w1')
    }

    It 'keeps defaults for absent keys and names the key of a wrong type or an unknown status' {
        $r = ConvertTo-Result '{"repo":"x"}'
        $r.Repository | Should -Be 'x'
        $r.Destinations | Should -HaveCount 0
        $r.Timings.TotalSeconds | Should -Be 0
        { ConvertTo-Result '{"file_count":"twelve"}' } | Should -Throw -ExpectedMessage "*'file_count'*"
        { ConvertTo-Result '{"destinations":{}}' } | Should -Throw -ExpectedMessage "*'destinations'*"
        { ConvertTo-Result '{"status":"exploded"}' } | Should -Throw -ExpectedMessage "*unknown status 'exploded'*"
        { ConvertTo-Result 'not json' } | Should -Throw -ExpectedMessage '*not valid JSON*'
    }

    It 'PlainJson writes what ConvertTo-Json writes, keys in order, non-ASCII and markup kept' {
        $value = [ordered]@{
            name = 'résumé <b>&"quoted"'; n = 42; big = [ulong]::MaxValue; ratio = 0.125; yes = $true; none = $null
            when = [datetime]::new(2026, 1, 2, 3, 4, 5, [DateTimeKind]::Utc)
            list = @(1, 'two', @(3)); empty = @(); nested = [ordered]@{ z = 1; a = 2 }
            custom = [pscustomobject]@{ p = 'q' }; status = [BackupRepo.BackupStatus]::Skipped
        }
        $text = [BackupRepo.PlainJson]::Serialize($value)
        $text | Should -Match 'résumé <b>&'
        $keys = ([regex]::Matches($text, '(?m)^  "(\w+)"')).ForEach({ $_.Groups[1].Value })
        $keys | Should -Be @($value.Keys)
        $mine = $text | ConvertFrom-Json -AsHashtable
        $theirs = ConvertTo-Json -InputObject $value -Depth 5 -EnumsAsStrings | ConvertFrom-Json -AsHashtable
        foreach ($k in 'name', 'n', 'big', 'ratio', 'yes', 'none', 'list', 'empty') {
            ($mine[$k] | ConvertTo-Json -Compress) | Should -Be ($theirs[$k] | ConvertTo-Json -Compress) -Because $k
        }
        $mine.nested.Keys | Should -Be @('z', 'a')
        $mine.custom.p | Should -Be 'q'
        $mine.status | Should -Be 'Skipped'
        [datetime]::Parse($mine.when, [cultureinfo]::InvariantCulture, 'RoundtripKind') | Should -Be $value.when
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
        $v = [version](Import-PowerShellDataFile $ModuleManifest).ModuleVersion
        $r.StdOut | Should -Match ([regex]::Escape("needs $($v.Major).$($v.Minor).x"))
    }
}
