# Get-RepoBackup: one object per backup of ours, -Summary per destination,
# foreign files ignored, the current folder's repository by default.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'history.ps1')
    $script:repo = New-FixedRepo
    $script:repoName = Split-Path -Leaf $repo
    $script:dests = @(New-TestDestination; New-TestDestination)
    $script:archives = @(New-BackupSeries -Repo $repo -Destination $dests -Count 3)
    $script:foreign = @(Add-ForeignFile -Folder (Join-Path $dests[0] $repoName) -RepoName $repoName)
    # A second repository in the same destinations.
    $script:other = New-FixedRepo
    $null = Backup-Repo -Path $other -Destination $dests
}

AfterAll { Remove-TestHome }

Describe 'Get-RepoBackup' {
    It 'lists one BackupInfo per backup of ours, with its details' {
        $list = @(Get-RepoBackup -Repository $repoName -Destination $dests)
        $list.Count | Should -Be 6
        $list | ForEach-Object { $_ | Should -BeOfType ([BackupRepo.BackupInfo]) }
        @($list.Path | Sort-Object) | Should -Be @($archives | Sort-Object)
        foreach ($b in $list) {
            $b.Repository | Should -Be $repoName
            $b.Destination | Should -BeIn ($dests | ForEach-Object { Split-Path -Leaf $_ })
            $b.DestinationPath | Should -BeIn $dests
            $b.Bytes | Should -Be (Get-Item -LiteralPath $b.Path).Length
            $b.FileCount | Should -BeGreaterOrEqual 8
            $b.TotalBytes | Should -BeGreaterThan 0
            $b.Fingerprint | Should -Match '^[0-9a-f]{64}$'
            $b.ToolVersion | Should -Not -BeNullOrEmpty
            $b.Created | Should -BeOfType ([datetime])
            $b.Created.ToString('yyyy-MM-dd_HH-mm-ss') | Should -Be ((Split-Path -Leaf $b.Path) -replace '^.*_backup_(.*)\.zip$', '$1')
        }
    }

    It 'ignores non-backup files and foreign zips named like ours' {
        $paths = (Get-RepoBackup -Repository $repoName -Destination $dests).Path
        foreach ($f in $foreign) { $paths | Should -Not -Contain $f }
        foreach ($f in $foreign) { $f | Should -Exist }
    }

    It 'lists every repository when none is given (outside a repository)' {
        Push-Location $TestHome
        try { $all = @(Get-RepoBackup -Destination $dests) } finally { Pop-Location }
        @($all.Repository | Sort-Object -Unique) | Should -Be @($repoName, (Split-Path -Leaf $other) | Sort-Object)
        $all.Count | Should -Be 8
    }

    It 'defaults to the current folder''s repository' {
        Push-Location $repo
        try { $here = @(Get-RepoBackup -Destination $dests) } finally { Pop-Location }
        $here.Count | Should -Be 6
        $here.Repository | Sort-Object -Unique | Should -Be $repoName
    }

    It '-Path takes the repository name from a folder' {
        @(Get-RepoBackup -Path $other -Destination $dests).Count | Should -Be 2
    }

    It 'finds nothing (and no error) in an empty destination' {
        $r = @(Get-RepoBackup -Repository $repoName -Destination (New-TestDestination) -ErrorVariable err)
        $r.Count | Should -Be 0
        $err | Should -BeNullOrEmpty
    }

    It '-Summary gives count, oldest, newest, sizes, ratio, frequency and file types per destination' {
        $s = @(Get-RepoBackup -Repository $repoName -Destination $dests -Summary)
        $s.Count | Should -Be 2
        foreach ($x in $s) {
            $x | Should -BeOfType ([BackupRepo.BackupSummary])
            $x.Count | Should -Be 3
            $mine = @($archives | Where-Object { $_.StartsWith($x.DestinationPath) })
            $x.Oldest | Should -BeLessThan $x.Newest
            $x.NewestPath | Should -Be ($mine | Sort-Object | Select-Object -Last 1)
            $x.TotalBytes | Should -Be (($mine | ForEach-Object { (Get-Item -LiteralPath $_).Length } | Measure-Object -Sum).Sum)
            $x.AverageBytes | Should -Be ([math]::Floor($x.TotalBytes / 3))
            $x.CompressionRatio | Should -BeGreaterThan 0
            $x.Frequency.PerDay | Should -BeNullOrEmpty -Because 'backups within a day give no rate'
            $x.Frequency.Last7Days | Should -Be 3
            ($x.FileTypes | Where-Object Label -eq 'Python').Files | Should -BeGreaterOrEqual 2
            ($x.FileTypes | Where-Object Label -eq 'Git').Files | Should -BeGreaterOrEqual 3
        }
    }

    It '-Summary reads duplicate statistics from the metrics log' {
        $r2 = New-FixedRepo
        $d = New-TestDestination
        $log = Join-Path $TestHome ('metrics-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $null = New-Item -ItemType Directory -Force -Path $log
        $file = Join-Path $log ('backup-{0}.jsonl' -f (Split-Path -Leaf $r2))
        $null = Backup-Repo -Path $r2 -Destination $d -MetricsLog $file
        $null = Backup-Repo -Path $r2 -Destination $d -MetricsLog $file   # unchanged: skipped
        $null = Backup-Repo -Path $r2 -Destination $d -MetricsLog $file
        $s = Get-RepoBackup -Path $r2 -Destination $d -Summary -MetricsLogDirectory $log
        @($s).Count | Should -Be 1
        $s.Duplicates.Runs | Should -Be 3
        $s.Duplicates.SkippedUnchanged | Should -Be 2
        $s.Duplicates.Created | Should -Be 1
        $s.Duplicates.DuplicateRate | Should -BeGreaterThan 0.6
    }

    It 'has default table views for both result types' {
        (Get-RepoBackup -Repository $repoName -Destination $dests | Format-Table | Out-String) | Should -Match 'Repository\s+Destination\s+Created'
        (Get-RepoBackup -Repository $repoName -Destination $dests -Summary | Format-Table | Out-String) | Should -Match 'Count'
        $fmt = Get-FormatData -TypeName BackupRepo.BackupInfo, BackupRepo.BackupSummary
        @($fmt).Count | Should -Be 2
    }

    It 'completes -Repository from the destinations' {
        $line = "Get-RepoBackup -Destination '$($dests[0])' -Repository $($repoName.Substring(0, 6))"
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Contain $repoName
    }
}
