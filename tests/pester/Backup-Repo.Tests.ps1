# Backup-Repo against the real engine: destinations, skip when unchanged,
# -WhatIf, -Verbose, progress, cancellation, pipeline input, typed output and
# errors. Needs the native library (scripts/build).

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function New-Runner {
        <# A separate PowerShell instance with the module, to read its progress stream or stop it. #>
        param([hashtable]$Parameters)
        # One statement only: stopping a multi-statement invocation adds a PipelineStopped error of its own.
        $iss = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $iss.ImportPSModule($ModuleManifest)
        $iss.Variables.Add([System.Management.Automation.Runspaces.SessionStateVariableEntry]::new('ProgressPreference', 'Continue', ''))
        $ps = [PowerShell]::Create($iss)
        $null = $ps.AddCommand('Backup-Repo')
        foreach ($k in $Parameters.Keys) { $null = $ps.AddParameter($k, $Parameters[$k]) }
        $ps
    }

    function Stop-RunnerAt {
        <# Start $Runner and stop it once its progress reaches step -Phase (or it ends):
           $true when it was still running, $false when it had completed. #>
        param($Runner, [string]$Phase)
        $async = $Runner.BeginInvoke()
        $sw = [Diagnostics.Stopwatch]::StartNew()
        while (-not ($Runner.Streams.Progress | Where-Object { $_.ActivityId -eq 2 -and $_.Activity -eq $Phase }) -and
               -not $async.IsCompleted -and $sw.Elapsed.TotalSeconds -lt 60) {
            Start-Sleep -Milliseconds 5
        }
        $Runner.Stop()
        $Runner.InvocationStateInfo.State -ne 'Completed'
    }
}

AfterAll { Remove-TestHome }

Describe 'Backup-Repo' {
    Context 'to several destinations' {
        BeforeAll {
            $script:repo = New-TestRepo
            $script:dests = @(New-TestDestination; New-TestDestination; New-TestDestination)
            $script:first = Backup-Repo -Path $repo -Destination $dests -ErrorVariable firstErrors
            $script:repoName = Split-Path -Leaf $repo
        }

        It 'creates one archive per destination, in a sub-folder named after the repository' {
            $firstErrors | Should -BeNullOrEmpty
            $first.Status | Should -Be ([BackupRepo.BackupStatus]::Created)
            $first.Destinations.Count | Should -Be 3
            foreach ($d in $first.Destinations) {
                $d.Status | Should -Be 'Created'
                $d.ArchivePath | Should -Exist
                Split-Path -Parent $d.ArchivePath | Should -Be (Join-Path $d.Root $repoName)
                Split-Path -Leaf $d.ArchivePath | Should -Match "^$([regex]::Escape($repoName))_backup_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.zip$"
            }
            $sizes = $first.Destinations | ForEach-Object { (Get-Item $_.ArchivePath).Length } | Sort-Object -Unique
            @($sizes).Count | Should -Be 1 -Because 'the archive is built once and copied'
        }

        It 'keeps .git and environment.py, leaves out node_modules and __pycache__' {
            $entries = Get-ZipEntry $first.Destinations[0].ArchivePath
            $entries | Should -Contain '.git/HEAD'
            $entries | Should -Contain 'environment.py'
            $entries | Should -Contain 'src/main.py'
            $entries | Where-Object { $_ -like 'node_modules/*' } | Should -BeNullOrEmpty
            $entries | Where-Object { $_ -like '*__pycache__*' } | Should -BeNullOrEmpty
            $entries | Where-Object { $_ -match '\\' } | Should -BeNullOrEmpty -Because 'entries use forward slashes'
        }

        It 'fills the result: counts, sizes, ratio, duration, timings' {
            $first.Repository | Should -Be $repoName
            $first.Path | Should -Be $repo
            $first.FileCount | Should -BeGreaterOrEqual 4
            $first.SourceBytes | Should -BeGreaterThan 0
            $first.ArchiveBytes | Should -BeGreaterThan 0
            $first.CompressionRatio | Should -BeGreaterThan 0
            $first.CompressionRatio | Should -BeLessThan 5
            $first.Fingerprint | Should -Not -BeNullOrEmpty
            $first.Duration | Should -BeOfType [timespan]
            $first.Timings | Should -BeOfType [BackupRepo.BackupTimings]
            $first.Timestamp | Should -BeOfType [datetime]
            $first.Timestamp | Should -BeGreaterThan (Get-Date).AddMinutes(-10)
            $first.ArchiveName | Should -Match '_backup_'
        }

        It 'skips every destination when nothing changed, and writes nothing' {
            $before = Get-Listing $dests
            $second = Backup-Repo -Path $repo -Destination $dests
            $second.Status | Should -Be 'Skipped'
            $second.Destinations.Status | Sort-Object -Unique | Should -Be 'Skipped'
            $second.Fingerprint | Should -Be $first.Fingerprint
            Get-Listing $dests | Should -Be $before
        }

        It 'backs up again after a change, and with -Force even without one, within the same second' {
            # No pause: a backup in the same second as the last gets that second's next name (_2, _3).
            Add-Content -LiteralPath (Join-Path $repo 'README.md') -Value 'changed'
            $changed = Backup-Repo -Path $repo -Destination $dests
            $changed.Status | Should -Be 'Created'
            $changed.Fingerprint | Should -Not -Be $first.Fingerprint
            $forced = Backup-Repo -Path $repo -Destination $dests -Force
            $forced.Status | Should -Be 'Created'
            @($first.ArchiveName, $changed.ArchiveName, $forced.ArchiveName) | Sort-Object -Unique | Should -HaveCount 3
            (Get-ChildItem -LiteralPath (Join-Path $dests[0] $repoName) -Filter *.zip).Count | Should -Be 3
            # The newest is the one made last, whatever the names sort as.
            (Get-RepoBackup -Path $repo -Destination $dests[0] | Select-Object -Last 1).Path | Should -Be ($forced.Destinations | Where-Object Root -eq $dests[0]).ArchivePath
        }

        It '-KeepLast keeps only the newest N backups per destination' {
            $r = Backup-Repo -Path $repo -Destination $dests -Force -KeepLast 2
            $r.Status | Should -Be 'Created'
            foreach ($d in $dests) {
                $zips = Get-ChildItem -LiteralPath (Join-Path $d $repoName) -Filter *.zip
                $zips.Count | Should -Be 2
                $zips.FullName | Should -Contain ($r.Destinations | Where-Object Root -eq $d).ArchivePath
            }
        }

        It '-Verify verifies every archive written' {
            $r = Backup-Repo -Path $repo -Destination $dests[0] -Force -Verify -ErrorVariable verr
            $verr | Should -BeNullOrEmpty
            $r.Verification.Count | Should -BeGreaterOrEqual 1
            $r.Verification.Ok | Should -Not -Contain $false
        }
    }

    Context '-WhatIf' {
        It 'writes nothing anywhere and returns the plan' {
            $repo = New-TestRepo
            $dests = @(New-TestDestination; New-TestDestination)
            $watched = @($repo) + $dests + @($env:XDG_CACHE_HOME)
            $before = Get-Listing $watched
            $plan = Backup-Repo -Path $repo -Destination $dests -WhatIf -InformationVariable info
            Get-Listing $watched | Should -Be $before
            $plan.Status | Should -Be 'Planned'
            $plan.FileCount | Should -BeGreaterOrEqual 4
            $plan.SourceBytes | Should -BeGreaterThan 0
            $plan.Destinations.Status | Sort-Object -Unique | Should -Be 'WouldCreate'
            ($info | Out-String) | Should -Match 'would create'
        }

        It 'says which destinations would be skipped as unchanged' {
            $repo = New-TestRepo
            $dests = @(New-TestDestination; New-TestDestination)
            $null = Backup-Repo -Path $repo -Destination $dests[0]
            $plan = Backup-Repo -Path $repo -Destination $dests -WhatIf
            ($plan.Destinations | Where-Object Root -eq $dests[0]).Status | Should -Be 'WouldSkip'
            ($plan.Destinations | Where-Object Root -eq $dests[1]).Status | Should -Be 'WouldCreate'
        }
    }

    Context '-Confirm' {
        It 'asks before backing up (a non-interactive session cannot answer, so nothing is written)' {
            $repo = New-TestRepo
            $d = New-TestDestination
            $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest'; Backup-Repo -Path '$repo' -Destination '$d' -Confirm"
            $r.StdErr | Should -Match 'NonInteractive|prompt'
            Get-ChildItem -LiteralPath $d -Recurse -File | Should -BeNullOrEmpty
        }

        It '-Confirm:$false backs up without asking' {
            $d = New-TestDestination
            (Backup-Repo -Path (New-TestRepo) -Destination $d -Confirm:$false).Status | Should -Be 'Created'
        }
    }

    Context '-Verbose' {
        It 'counts excluded paths per rule (each path at -Debug), and the time of each step' {
            $repo = New-TestRepo
            $verbose = Backup-Repo -Path $repo -Destination (New-TestDestination) -Verbose 4>&1 |
                Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
            $verbose | Should -Contain 'Excluded 1 path (rule: node_modules)'
            $verbose | Should -Contain 'Excluded 1 path (rule: __pycache__)'
            $debug = & { $DebugPreference = 'Continue'; Backup-Repo -Path $repo -Destination (New-TestDestination) 5>&1 } |
                Where-Object { $_ -is [System.Management.Automation.DebugRecord] } | ForEach-Object Message
            $debug | Where-Object { $_ -match '^Excluded src/__pycache__ \(rule: __pycache__\)' } | Should -Not -BeNullOrEmpty
            $verbose | Where-Object { $_ -match 'environment\.py' } | Should -BeNullOrEmpty
            $verbose | Where-Object { $_ -match '^Step hash: [\d.]+ s$' } | Should -Not -BeNullOrEmpty
            $verbose | Where-Object { $_ -match '^Step compress: [\d.]+ s$' } | Should -Not -BeNullOrEmpty
        }

        It 'the result always lists the excluded paths' {
            $repo = New-TestRepo
            (Backup-Repo -Path $repo -Destination (New-TestDestination)).Excluded.Path | Should -Contain 'node_modules'
        }
    }

    Context 'progress and cancellation' {
        BeforeAll {
            $script:bigRepo = New-TestRepo -BulkMB 120
        }

        It 'writes parent and child progress records, and completes them' {
            $ps = New-Runner @{ Path = $bigRepo; Destination = @(New-TestDestination; New-TestDestination) }
            try {
                $out = $ps.Invoke()
                $ps.HadErrors | Should -BeFalse -Because ($ps.Streams.Error | Out-String)
                $out[0].Status | Should -Be 'Created'
                $progress = @($ps.Streams.Progress)
                $progress.Count | Should -BeGreaterThan 0
                $parent = $progress | Where-Object ActivityId -eq 1
                $child = $progress | Where-Object ActivityId -eq 2
                $parent | Should -Not -BeNullOrEmpty
                $parent[0].Activity | Should -Be "Backup-Repo $(Split-Path -Leaf $bigRepo)"
                $child | Should -Not -BeNullOrEmpty
                $child.ParentActivityId | Sort-Object -Unique | Should -Be 1
                $child | Where-Object { $_.PercentComplete -ge 0 -and $_.PercentComplete -le 100 } | Should -Not -BeNullOrEmpty
                ($progress | Where-Object RecordType -eq 'Completed').ActivityId | Sort-Object | Should -Be @(1, 2)
                $progress[-1].RecordType | Should -Be 'Completed'
            } finally {
                $ps.Dispose()
            }
        }

        It 'Stop() (Ctrl+C) cancels the run, stops quietly and leaves no partial files' {
            # A stop can land after the copies were placed (then they must be whole, in every
            # destination): try again. A cancel that does not work lands late every time.
            $late = 0
            foreach ($attempt in 1..3) {
                $dests = @(New-TestDestination; New-TestDestination)
                $ps = New-Runner @{ Path = $bigRepo; Destination = $dests; Force = $true }
                try {
                    # Stop once the archive is being written, so there is something to clean up.
                    if (-not (Stop-RunnerAt $ps -Phase 'Compressing')) {
                        Set-ItResult -Inconclusive -Because 'the backup finished before the first progress record'
                        return
                    }
                    $ps.InvocationStateInfo.State | Should -Be 'Stopped'
                    $ps.Streams.Error | Should -BeNullOrEmpty
                    Get-ChildItem -LiteralPath $dests -Recurse -File -Force -Filter *.partial | Should -BeNullOrEmpty
                    $zips = @(Get-ChildItem -LiteralPath $dests -Recurse -File -Force -Filter *.zip)
                    if (-not $zips) { return }
                    $zips | Should -HaveCount $dests.Count
                    (Test-RepoBackup -Path $zips.FullName).Ok | Should -Not -Contain $false
                    $late++
                } finally {
                    $ps.Dispose()
                }
            }
            $late | Should -Be 0 -Because 'every stop came after the backups were placed: the cancel is not taking effect'
        }

        It 'Stop() during -Verify keeps the placed backups, and the metrics log records them as made' {
            $dests = @(New-TestDestination; New-TestDestination)
            $log = Join-Path $TestHome ('stop-verify-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.jsonl')
            $ps = New-Runner @{ Path = $bigRepo; Destination = $dests; Force = $true; Verify = $true; MetricsLog = $log }
            try {
                if (-not (Stop-RunnerAt $ps -Phase 'Verifying')) {
                    Set-ItResult -Inconclusive -Because 'verification finished before its first progress record'
                    return
                }
                $ps.InvocationStateInfo.State | Should -Be 'Stopped'
                $ps.Streams.Error | Should -BeNullOrEmpty
                $zips = @(Get-ChildItem -LiteralPath $dests -Recurse -File -Force -Filter *.zip)
                $zips | Should -HaveCount $dests.Count
                (Test-RepoBackup -Path $zips.FullName).Ok | Should -Not -Contain $false
                $last = Get-Content -LiteralPath $log | Select-Object -Last 1 | ConvertFrom-Json
                $last.status | Should -Be 'success' -Because 'the backups were made; only their verification was stopped'
                $last.locations_created | Should -Be 2
            } finally {
                $ps.Dispose()
            }
        }
    }

    Context 'pipeline input' {
        It 'backs up every folder piped from Get-ChildItem -Directory' {
            $parent = Join-Path $TestHome ('src-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            $names = 'alpha', 'beta', 'gamma'
            foreach ($n in $names) { $null = New-TestRepo -Parent $parent -Name $n }
            $d = New-TestDestination
            $results = Get-ChildItem -LiteralPath $parent -Directory | Backup-Repo -Destination $d
            $results.Count | Should -Be 3
            $results.Repository | Sort-Object | Should -Be $names
            $results.Status | Sort-Object -Unique | Should -Be 'Created'
            foreach ($n in $names) { Get-ChildItem -LiteralPath (Join-Path $d $n) -Filter *.zip | Should -HaveCount 1 }
        }

        It 'accepts strings and objects with FullName' {
            $d = New-TestDestination
            $a = New-TestRepo
            $b = New-TestRepo
            $results = @($a, [pscustomobject]@{ FullName = $b }) | Backup-Repo -Destination $d
            $results.Path | Should -Be @($a, $b)
        }

        It 'takes folder names with wildcard characters literally' {
            $parent = Join-Path $TestHome ('brackets-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            $null = New-TestRepo -Parent $parent -Name 'repo[1]'
            $null = New-TestRepo -Parent $parent -Name 'repo[2]'
            $results = Get-ChildItem -LiteralPath $parent -Directory | Backup-Repo -Destination (New-TestDestination)
            $results.Repository | Should -Be @('repo[1]', 'repo[2]')
            $results.Status | Sort-Object -Unique | Should -Be 'Created'
        }

        It 'reports a folder that is not a repository and goes on with the next' {
            $parent = Join-Path $TestHome ('mixed-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            $null = New-TestRepo -Parent $parent -Name 'a-repo'
            $null = New-TestRepo -Parent $parent -Name 'b-notes' -NoGit
            $null = New-TestRepo -Parent $parent -Name 'c-repo'
            $results = Get-ChildItem -LiteralPath $parent -Directory | Backup-Repo -Destination (New-TestDestination) -ErrorVariable errs -ErrorAction SilentlyContinue
            $results.Repository | Should -Be @('a-repo', 'c-repo')
            $errs.Count | Should -Be 1
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.NotARepository,*'
            $errs[0].TargetObject | Should -BeLike '*b-notes'
        }
    }

    Context 'typed output' {
        BeforeAll {
            $script:typed = Backup-Repo -Path (New-TestRepo) -Destination @(New-TestDestination; New-TestDestination)
        }

        It 'is a BackupRepo.BackupResult with typed destinations' {
            $typed | Should -BeOfType [BackupRepo.BackupResult]
            $typed.PSObject.TypeNames[0] | Should -Be 'BackupRepo.BackupResult'
            $typed.Destinations[0] | Should -BeOfType [BackupRepo.BackupDestination]
            $typed.Destinations[0].Name | Should -Not -BeNullOrEmpty
            "$($typed.Destinations[0])" | Should -Match ': Created'
        }

        It 'pipes: Where-Object Status -eq Created | Select-Object -ExpandProperty Destinations' {
            $d = $typed | Where-Object Status -eq 'Created' | Select-Object -ExpandProperty Destinations
            $d.Count | Should -Be 2
            $d.ArchivePath | ForEach-Object { $_ | Should -Exist }
        }

        It 'converts to useful JSON with -EnumsAsStrings' {
            $j = $typed | ConvertTo-Json -EnumsAsStrings -Depth 4 | ConvertFrom-Json
            $j.Status | Should -Be 'Created'
            $j.Repository | Should -Be $typed.Repository
            $j.FileCount | Should -Be $typed.FileCount
            $j.DurationSeconds | Should -BeGreaterOrEqual 0
            $j.Destinations[0].Status | Should -Be 'Created'
            $j.Destinations[0].ArchivePath | Should -Be $typed.Destinations[0].ArchivePath
            $j.Timings.HashSeconds | Should -BeGreaterOrEqual 0
        }

        It 'has a readable default table' {
            $text = $typed | Out-String -Width 200
            $text | Should -Match 'Repository\s+Status\s+Files\s+Size\(MiB\)'
            $text | Should -Match ([regex]::Escape($typed.Repository))
            ($typed.Destinations | Out-String -Width 200) | Should -Match 'Name\s+Status'
        }
    }

    Context 'bad input' {
        It 'a missing path is a non-terminating BackupRepo.PathNotFound; the next path is backed up' {
            $good = New-TestRepo
            $missing = Join-Path $TestHome 'does-not-exist'
            $r = Backup-Repo -Path $missing, $good -Destination (New-TestDestination) -ErrorVariable errs -ErrorAction SilentlyContinue
            $errs.Count | Should -Be 1
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.PathNotFound,*'
            $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $errs[0].TargetObject | Should -Be $missing
            $r.Path | Should -Be $good
        }

        It 'a folder that is not a repository is BackupRepo.NotARepository' {
            $notRepo = New-TestRepo -NoGit
            Remove-Item -LiteralPath (Join-Path $notRepo 'package.json') -ErrorAction SilentlyContinue
            $r = Backup-Repo -Path $notRepo -Destination (New-TestDestination) -ErrorVariable errs -ErrorAction SilentlyContinue
            $r | Should -BeNullOrEmpty
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.NotARepository,*'
            $errs[0].Exception.Message | Should -Match 'repositor'
        }

        It 'a file as -Path is BackupRepo.NotARepository' {
            $file = Join-Path $TestHome 'a-file.txt'
            Set-Content -LiteralPath $file -Value x
            $null = Backup-Repo -Path $file -Destination (New-TestDestination) -ErrorVariable errs -ErrorAction SilentlyContinue
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.NotARepository,*'
        }

        It 'a destination that is a file fails alone: BackupRepo.DestinationFailed, the result still comes' {
            $repo = New-TestRepo
            $good = New-TestDestination
            $bad = Join-Path $TestHome ('not-a-folder-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
            Set-Content -LiteralPath $bad -Value 'I am a file'
            $r = Backup-Repo -Path $repo -Destination $good, $bad -ErrorVariable errs -ErrorAction SilentlyContinue
            $r | Should -Not -BeNullOrEmpty
            $r.Status | Should -Be 'Partial'
            ($r.Destinations | Where-Object Root -eq $good).Status | Should -Be 'Created'
            $failed = $r.Destinations | Where-Object Root -eq $bad
            $failed.Status | Should -Be 'Failed'
            $failed.Reason | Should -Not -BeNullOrEmpty
            $errs.Count | Should -Be 1
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'BackupRepo.DestinationFailed,*'
            $errs[0].CategoryInfo.Category | Should -Be 'WriteError'
            $errs[0].TargetObject | Should -BeOfType [BackupRepo.BackupDestination]
            $errs[0].Exception.Message | Should -Match ([regex]::Escape($failed.Name))
            Get-Content -LiteralPath $bad | Should -Be 'I am a file'
        }

        It 'an invalid -Compression value is refused by parameter binding' {
            { Backup-Repo -Path (New-TestRepo) -Destination (New-TestDestination) -Compression Lzma } |
                Should -Throw -ErrorId 'CannotConvertArgumentNoMessage,BackupRepo.Commands.BackupRepoCommand'
        }

        It 'a malformed config file is a terminating BackupRepo.InvalidConfig' {
            $cfg = Join-Path $TestHome 'bad-config.json'
            Set-Content -LiteralPath $cfg -Value '{ "destinations": [ '
            { Backup-Repo -Path (New-TestRepo) -ConfigPath $cfg } | Should -Throw -ErrorId 'BackupRepo.InvalidConfig,BackupRepo.Commands.BackupRepoCommand'
        }
    }

    Context 'default destinations' {
        It 'without -Destination or a config: the data folder''s backup-repo/backups' -Skip:(-not $IsLinux) {
            $r = Backup-Repo -Path (New-TestRepo)
            $r.Destinations.Root | Should -Be (Join-Path $env:XDG_DATA_HOME 'backup-repo/backups')
            $r.Destinations.ArchivePath | Should -Exist
        }

        It '$env:BACKUP_REPO_DESTINATIONS overrides the defaults' {
            $a = New-TestDestination; $b = New-TestDestination
            try {
                $env:BACKUP_REPO_DESTINATIONS = $a + [IO.Path]::PathSeparator + $b
                $r = Backup-Repo -Path (New-TestRepo)
                $r.Destinations.Root | Should -Be @($a, $b)
            } finally {
                $env:BACKUP_REPO_DESTINATIONS = $null
            }
        }
    }

    Context 'config file' {
        It 'takes destinations and excludes from -ConfigPath' {
            $d = New-TestDestination
            $cfg = Join-Path $TestHome 'config-dests.json'
            @{ destinations = @($d); exclude = @('*.md') } | ConvertTo-Json | Set-Content -LiteralPath $cfg
            $r = Backup-Repo -Path (New-TestRepo) -ConfigPath $cfg
            $r.Destinations.Root | Should -Be $d
            Get-ZipEntry $r.Destinations[0].ArchivePath | Where-Object { $_ -like '*.md' } | Should -BeNullOrEmpty
        }
    }
}
