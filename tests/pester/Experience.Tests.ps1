# Issue 22: pipelines PowerShell users expect, and output that says what
# happened (pruned backups, distinct names, per-rule exclusions, numbers,
# -WhatIf answering as the real run, the default metrics log, the drop-in).

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function New-Backups {
        param([string]$Repo, [string]$Dest, [int]$Count)
        for ($i = 0; $i -lt $Count; $i++) { $null = Backup-Repo -Path $Repo -Destination $Dest -Force }
    }
}

AfterAll { Remove-TestHome }

Describe 'Pipelines' {
    It 'Get-RepoBackup | Remove-RepoBackup -KeepLast applies the rule within the piped backups only' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 4
        $all = @(Get-RepoBackup -Path $repo -Destination $dest)
        $all.Count | Should -Be 4
        # The two oldest piped: -KeepLast 1 among them deletes the oldest, nothing else.
        $gone = @($all[0..1] | Remove-RepoBackup -KeepLast 1 -Confirm:$false -PassThru)
        $gone.Path | Should -Be $all[0].Path
        @(Get-RepoBackup -Path $repo -Destination $dest).Path | Should -Be $all[1..3].Path
    }

    It 'piped backups with -Repository are refused with a clear error' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 1
        $null = Get-RepoBackup -Path $repo -Destination $dest |
            Remove-RepoBackup -KeepLast 1 -Repository other -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        "$err" | Should -Match 'cannot be combined'
    }

    It 'Remove-RepoBackup outside a repository needs -Repository (or -Repository *)' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 2
        Push-Location $TestHome
        try {
            { Remove-RepoBackup -Destination $dest -KeepLast 1 -WhatIf -ErrorAction Stop } |
                Should -Throw -ErrorId 'BackupRepo.RepositoryRequired,BackupRepo.Commands.RemoveRepoBackupCommand'
            $r = Invoke-Pwsh -Command "Import-Module '$ModuleManifest'; Remove-RepoBackup -Repository * -Destination '$dest' -KeepLast 1 -WhatIf" -WorkingDirectory $TestHome
            $r.StdOut | Should -Match 'What if: Performing the operation "Delete backup'
        } finally { Pop-Location }
    }

    It 'Backup-Repo | Test-RepoBackup tests the archives the run placed' {
        $repo = New-TestRepo; $d1 = New-TestDestination; $d2 = New-TestDestination
        $t = @(Backup-Repo -Path $repo -Destination $d1, $d2 | Test-RepoBackup -ErrorAction Stop)
        $t.Count | Should -Be 2
        $t.Ok | Should -Be @($true, $true)
        $t.Archive | ForEach-Object { $_ | Should -Match '_backup_.*\.zip$' }
    }

    It 'Backup-Repo | Restore-RepoBackup restores the archive the run placed' {
        $repo = New-TestRepo; $dest = New-TestDestination
        $target = Join-Path $TestHome ('restored-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $r = Backup-Repo -Path $repo -Destination $dest | Restore-RepoBackup -Destination $target -ErrorAction Stop
        $r.FilesRestored | Should -BeGreaterThan 0
        Get-Content -LiteralPath (Join-Path $target 'README.md') -Raw | Should -Match 'A test repository'
    }

    It '-Destination completes folders after the configured destinations' {
        $dest = New-TestDestination -Name 'complete-me-here'
        $line = "Backup-Repo -Destination $(Join-Path $TestHome 'complete-me')"
        $m = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches
        $m.CompletionText | Should -Contain $dest
    }

    It 'Export-RepoBackupReport returns what Get-Item returns' {
        $out = Join-Path $TestHome 'report-getitem.html'
        $f = Export-RepoBackupReport -Path $out -MetricsLogDirectory (New-TestDestination) -WarningAction SilentlyContinue
        $f.PSProvider.Name | Should -Be 'FileSystem'
        $f.PSParentPath | Should -Not -BeNullOrEmpty
        $f.FullName | Should -Be (Get-Item -LiteralPath $out).FullName
        ($f | Format-Table | Out-String -Width 300) | Should -Match 'report-getitem\.html'
    }
}

Describe 'Say what happened' {
    It '-KeepLast puts the pruned backups on the result (default view), -WhatIf lists what would go' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 3
        $before = @(Get-RepoBackup -Path $repo -Destination $dest)
        $plan = Backup-Repo -Path $repo -Destination $dest -Force -KeepLast 2 -WhatIf -InformationVariable info
        $plan.Pruned.Path | Should -Be @($before[1].Path, $before[0].Path)
        ($info | Out-String) | Should -Match ('would prune ' + [regex]::Escape($before[0].Path))
        @(Get-RepoBackup -Path $repo -Destination $dest).Count | Should -Be 3
        $done = Backup-Repo -Path $repo -Destination $dest -Force -KeepLast 2
        $done.Pruned.Path | Should -Be @($before[1].Path, $before[0].Path)
        ($done | Format-Table | Out-String) | Should -Match 'Pruned'
    }

    It 'two destinations with one folder name are named by their paths, in results and listings' {
        $repo = New-TestRepo
        $a = Join-Path $TestHome 'x1/backups'; $b = Join-Path $TestHome 'x2/backups'
        $r = Backup-Repo -Path $repo -Destination $a, $b
        $r.Destinations.Name | Should -Be @($a, $b)
        (Get-RepoBackup -Path $repo -Destination $a, $b).Destination | Sort-Object | Should -Be @($a, $b)
    }

    It 'Backup-Repo from a subfolder backs up the repository root' {
        $repo = New-TestRepo
        $r = Backup-Repo -Path (Join-Path $repo 'src') -Destination (New-TestDestination) -ErrorAction Stop
        $r.Path | Should -Be (Resolve-Path $repo).ProviderPath
        $r.Repository | Should -Be (Split-Path -Leaf $repo)
    }

    It '-Verbose summarises exclusions per rule with counts, names the archives, skips steps that did not run; Excluded is always filled' {
        $repo = New-TestRepo; $dest = New-TestDestination
        $r = Backup-Repo -Path $repo -Destination $dest -Verbose 4>&1
        $result = $r | Where-Object { $_ -is [BackupRepo.BackupResult] }
        $verbose = @($r | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $verbose | Should -Contain 'Excluded 1 path (rule: node_modules)'
        $verbose | Where-Object { $_ -like 'Excluded /*' -or $_ -like 'Excluded node_modules/*' } | Should -BeNullOrEmpty
        $verbose | Should -Contain "Wrote $($result.Destinations[0].ArchivePath)"
        $verbose | Where-Object { $_ -match '^Step (verify|prune)' } | Should -BeNullOrEmpty
        $quiet = Backup-Repo -Path $repo -Destination $dest -Force
        $quiet.Excluded.Path | Should -Contain 'node_modules'
    }

    It 'Remove-RepoBackup names -KeepWithin in its message' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 1
        $null = Remove-RepoBackup -Path $repo -Destination $dest -KeepWithin 'soon' -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue
        "$err" | Should -Match '-KeepWithin'
        "$err" | Should -Not -Match 'keep_within'
    }

    It 'Test-RepoBackup -Source keeps "intact" apart from "the source has changed"' {
        $repo = New-TestRepo; $dest = New-TestDestination
        $zip = (Backup-Repo -Path $repo -Destination $dest).Destinations[0].ArchivePath
        Add-Content -LiteralPath (Join-Path $repo 'README.md') -Value 'more'
        $v = Test-RepoBackup -Path $zip -Source $repo -ErrorVariable err -WarningVariable warn -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $v.Ok | Should -BeTrue
        $err | Should -BeNullOrEmpty
        $v.SourceChanged | Should -BeTrue
        ($v.SourceChanges -join ' ') | Should -Match 'README.md'
        "$warn" | Should -Match 'is intact, but the source'
    }

    It 'Restore-RepoBackup -WhatIf into a non-empty folder gives the real run''s answer' {
        $repo = New-TestRepo; $dest = New-TestDestination
        $zip = (Backup-Repo -Path $repo -Destination $dest).Destinations[0].ArchivePath
        $full = New-TestDestination; Set-Content -LiteralPath (Join-Path $full 'mine.txt') -Value 'x'
        $null = Restore-RepoBackup -Path $zip -Destination $full -WhatIf -ErrorVariable whatIfErr -ErrorAction SilentlyContinue
        $null = Restore-RepoBackup -Path $zip -Destination $full -ErrorVariable realErr -ErrorAction SilentlyContinue
        $whatIfErr[0].FullyQualifiedErrorId | Should -Be $realErr[0].FullyQualifiedErrorId
        "$whatIfErr" | Should -Be "$realErr"
        @(Get-ChildItem -LiteralPath $full).Name | Should -Be 'mine.txt'
        $fresh = Join-Path $TestHome 'fresh-whatif'
        $null = Restore-RepoBackup -Path $zip -Destination $fresh -WhatIf
        Test-Path -LiteralPath $fresh | Should -BeFalse
    }

    It 'a summary of backups made within a day has no per-week rate' {
        $repo = New-TestRepo; $dest = New-TestDestination
        New-Backups -Repo $repo -Dest $dest -Count 3
        $s = Get-RepoBackup -Path $repo -Destination $dest -Summary
        $s.Frequency.PerWeek | Should -BeNullOrEmpty
        ($s | Format-Table | Out-String) | Should -Match 'Total\(MiB\)'
    }
}

Describe 'The metrics log' {
    It 'every real Backup-Repo run appends to the default log; -NoMetricsLog and -WhatIf do not' {
        $repo = New-TestRepo; $dest = New-TestDestination
        $log = Join-Path $env:BACKUP_REPO_METRICS_DIR "backup-$(Split-Path -Leaf $repo).jsonl"
        $r = Backup-Repo -Path $repo -Destination $dest
        $r.MetricsLog | Should -Be $log
        @(Get-Content -LiteralPath $log).Count | Should -Be 1
        $null = Backup-Repo -Path $repo -Destination $dest -Force -NoMetricsLog
        $null = Backup-Repo -Path $repo -Destination $dest -Force -WhatIf
        @(Get-Content -LiteralPath $log).Count | Should -Be 1
    }
}

Describe 'The drop-in' {
    It 'prints what -KeepLast pruned, a restore hint safe to paste, MiB and one ratio' {
        $parent = New-TestDestination -Name ('we$(x)ird-' + [guid]::NewGuid().ToString('N').Substring(0, 4))
        $repo = New-TestRepo -Parent $parent
        $dest = Join-Path $parent 'dest'
        New-Backups -Repo $repo -Dest $dest -Count 2
        Add-Content -LiteralPath (Join-Path $repo 'README.md') -Value 'changed'
        $r = Invoke-Pwsh -File $DropIn -ArgumentList '-Destination', $dest, '-KeepLast', '1' -WorkingDirectory $repo
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        # A new backup: of the three the new one stays, the two older are pruned.
        ([regex]::Matches($r.StdOut, '\[pruned\]')).Count | Should -Be 2
        $r.StdOut | Should -Match "Expand-Archive -LiteralPath '[^']*we\`$\(x\)ird[^']*\.zip' -DestinationPath '[^']*we\`$\(x\)ird[^']*'"
        # Pasted, the hint runs nothing: the quoted path is the path.
        $hint = ($r.StdOut -split "`n" | Where-Object { $_ -match 'Expand-Archive' }).Trim()
        $tokens = $null; $errs = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($hint, [ref]$tokens, [ref]$errs)
        $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.SubExpressionAst] }, $true) | Should -BeNullOrEmpty
        $r.StdOut | Should -Match 'Size:\s+[\d.,]+ MiB'
        $r.StdOut | Should -Match 'Ratio:\s+[\d.,]+ % of the original size'
        $r.StdOut | Should -Not -Match 'Space saved:\s+-'
    }

    It 'pwsh -File ... -Destination a,b backs up to both' {
        $repo = New-TestRepo
        $a = Join-Path $TestHome ('split-a-' + [guid]::NewGuid().ToString('N').Substring(0, 4))
        $b = Join-Path $TestHome ('split-b-' + [guid]::NewGuid().ToString('N').Substring(0, 4))
        $r = Invoke-Pwsh -File $DropIn -ArgumentList '-Destination', "$a,$b", '-OutputFormat', 'json' -WorkingDirectory $repo
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $j = $r.StdOut | ConvertFrom-Json
        $j.created.Count | Should -Be 2
        Test-Path -LiteralPath "$a,$b" | Should -BeFalse
        $j.timestamp | Should -Match '^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d$'
    }

    It '-WhatIf JSON validates against the project''s schema' {
        $repo = New-TestRepo
        $r = Invoke-Pwsh -File $DropIn -ArgumentList '-Destination', (New-TestDestination), '-OutputFormat', 'json', '-WhatIf' -WorkingDirectory $repo
        $schema = Get-Content -Raw (Join-Path $RepoRoot 'schema/backup-result.schema.json')
        $r.StdOut | Test-Json -Schema $schema | Should -BeTrue
    }
}
